/*
 * test_model_directed.c - directed cases of the model test's properties
 * (test_model.c): histories the random walk reaches only by luck.
 *
 *  1. Content addressing (P2): equal content through unequal histories -
 *     growing into zeros, writing zeros over data, shrinking then growing,
 *     trees of different heights over equal bytes - gets the one id, and
 *     hl_diff agrees (P4).
 *  2. The largest state there is: 1 TiB of zeros with one byte set commits
 *     with a handful of nodes, restores and reads back, and diffs as one
 *     run, on the smallest and the default chunk.
 *  3. Regression: shrinking a state with no dirty chunk to a chunk
 *     boundary works like any other shrink.
 *
 * The diff-run collector is model_util.h, shared with test_model.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "helios.h"
#include "testutil.h"
#include "model_util.h"

TestSuite(model_directed, .fini = tu_unlink_all, .timeout = 240);

/* Equal content through unequal histories: growing into zeros, writing
 * zeros over data, and shrinking then growing all give the one id; trees of
 * different heights over equal bytes do too. */
Test(model_directed, equal_content_equal_id_across_histories)
{
	const uint32_t cb = 64;
	hl_arena *a = tu_arena_new("model", 8ull << 20, cb, NULL);
	const uint64_t size = 40ull * cb; /* 40 chunks: height 2, zero runs */
	unsigned char data[64];
	memset(data, 0x5a, sizeof data);
	hl_state *x, *y, *z;
	cr_assert_eq(hl_state_new(a, &x), 0);
	cr_assert_eq(hl_state_new(a, &y), 0);
	cr_assert_eq(hl_state_new(a, &z), 0);
	hl_id ix, iy, iz;

	/* x: grow to size, one byte at the end */
	cr_assert_eq(hl_state_resize(x, size), 0);
	cr_assert_eq(hl_state_write(x, size - 1, data, 1), 0);
	cr_assert_eq(hl_commit(x, &ix, NULL), 0);

	/* y: fill everything with data, then zero it again */
	cr_assert_eq(hl_state_resize(y, size), 0);
	for (uint64_t off = 0; off < size; off += cb)
		cr_assert_eq(hl_state_write(y, off, data, cb), 0);
	hl_id mid;
	cr_assert_eq(hl_commit(y, &mid, NULL), 0);
	unsigned char zero[64] = {0};
	for (uint64_t off = 0; off < size - 1; off += cb)
		cr_assert_eq(hl_state_write(y, off,
					    zero, off + cb <= size - 1 ? cb : size - 1 - off), 0);
	cr_assert_eq(hl_commit(y, &iy, NULL), 0);
	cr_assert(hl_id_eq(ix, iy), "zeroed-over state and grown state differ");

	/* z: big (5000 chunks, height 4), shrunk to 1 byte, grown back */
	cr_assert_eq(hl_state_resize(z, 5000ull * cb), 0);
	for (uint64_t off = 0; off < 5000ull * cb; off += 999 * cb)
		cr_assert_eq(hl_state_write(z, off, data, cb), 0);
	hl_id big;
	cr_assert_eq(hl_commit(z, &big, NULL), 0);
	cr_assert_eq(hl_state_resize(z, 0), 0);
	cr_assert_eq(hl_state_resize(z, size), 0);
	cr_assert_eq(hl_state_write(z, size - 1, data, 1), 0);
	cr_assert_eq(hl_commit(z, &iz, NULL), 0);
	cr_assert(hl_id_eq(ix, iz), "shrunk-and-regrown state differs");

	/* and the diffs agree: x vs big differ wherever big has data */
	struct runs got = {0};
	cr_assert_eq(hl_diff(a, ix, iz, runs_cb, &got), 0);
	cr_assert_eq(got.n, 0);
	cr_assert_eq(hl_diff(a, mid, ix, runs_cb, &got), 0);
	cr_assert_eq(got.n, 1, "one run: [0, size-1)");
	cr_assert(got.v[0][0] == 0 && got.v[0][1] == size - 1);
	free(got.v);

	hl_state_free(x);
	hl_state_free(y);
	hl_state_free(z);
	tu_assert_arena_ok(a, "end");
	hl_arena_close(a);
}

/* The largest state there is: 1 TiB of zeros commits, restores and reads
 * without touching 1 TiB, on both the smallest and the default chunk. */
Test(model_directed, one_tib_of_zeros)
{
	uint32_t chunks[] = {64, 4096};
	for (int c = 0; c < 2; c++) {
		hl_arena *a = tu_arena_new("model", 8ull << 20, chunks[c], NULL);
		hl_state *s;
		cr_assert_eq(hl_state_new(a, &s), 0);
		const uint64_t tib = 1ull << 40;
		cr_assert_eq(hl_state_resize(s, tib), 0);
		unsigned char b = 0x77, out = 1;
		cr_assert_eq(hl_state_write(s, tib - 1, &b, 1), 0);
		hl_id id;
		hl_commit_info info;
		cr_assert_eq(hl_commit(s, &id, &info), 0);
		cr_assert_lt(info.new_nodes, 64u, "%" PRIu64 " nodes for one byte",
			     info.new_nodes);
		cr_assert_eq(hl_restore(s, (hl_id){0, 0}), 0);
		cr_assert_eq(hl_restore(s, id), 0);
		cr_assert_eq(hl_state_size(s), tib);
		cr_assert_eq(hl_state_read(s, tib - 1, &out, 1), 0);
		cr_assert_eq(out, 0x77);
		cr_assert_eq(hl_state_read(s, tib / 2 + 12345, &out, 1), 0);
		cr_assert_eq(out, 0);
		struct runs got = {0};
		cr_assert_eq(hl_diff(a, (hl_id){0, 0}, id, runs_cb, &got), 0);
		cr_assert_eq(got.n, 1);
		cr_assert(got.v[0][0] == 0 && got.v[0][1] == tib);
		free(got.v);
		hl_state_free(s);
		tu_assert_arena_ok(a, "1 TiB");
		hl_arena_close(a);
	}
}

/* Shrinking a state that has no dirty chunk to a chunk boundary (so no
 * tail chunk needs zeroing) must work like any other shrink. Regression:
 * the first random run crashed here, in dirty_drop_from() clearing a dirty
 * table that is not allocated until the first dirty chunk. */
Test(model_directed, shrink_clean_state_to_chunk_boundary)
{
	hl_arena *a = tu_arena_new("model", 4ull << 20, 64, NULL);
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	cr_assert_eq(hl_state_resize(s, 128), 0); /* grow: nothing dirty */
	cr_assert_eq(hl_state_resize(s, 64), 0);  /* shrink on a boundary */
	cr_assert_eq(hl_state_resize(s, 0), 0);
	cr_assert_eq(hl_state_size(s), 0);
	hl_state_free(s);
	hl_arena_close(a);
}
