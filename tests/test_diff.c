/*
 * test_diff.c - hl_diff: exact, ordered, coalesced byte runs; different
 * sizes and heights; early stop; unknown ids.
 */
#include "testutil.h"

TestSuite(diff, .fini = tu_unlink_all);

struct runs {
	int n;
	uint64_t off[64], len[64];
	int stop_after; /* 0: never */
};

static int collect(uint64_t off, uint64_t len, void *ctx)
{
	struct runs *r = ctx;
	cr_assert_lt(r->n, 64);
	r->off[r->n] = off;
	r->len[r->n] = len;
	r->n++;
	return r->stop_after && r->n == r->stop_after ? 42 : 0;
}

static hl_id commit_of(hl_arena *a, uint64_t size,
		       void (*edit)(hl_state *s))
{
	hl_state *s;
	hl_state_new(a, &s);
	hl_state_resize(s, size);
	for (uint64_t o = 0; o < size; o += 997)
		hl_state_write(s, o, "base", size - o < 4 ? size - o : 4);
	if (edit)
		edit(s);
	hl_id id;
	cr_assert_eq(hl_commit(s, &id, NULL), 0);
	hl_state_free(s);
	return id;
}

static struct runs diff(hl_arena *a, hl_id x, hl_id y)
{
	struct runs r = {0};
	int rc = hl_diff(a, x, y, collect, &r);
	cr_assert_eq(rc, 0, "diff: %s", hl_strerror(rc));
	return r;
}

static void one_byte(hl_state *s) { hl_state_write(s, 300000, "\x01", 1); }
static void two_chunks(hl_state *s)
{
	hl_state_write(s, 5000, "AB", 2);
	hl_state_write(s, 900000, "C", 1);
}
static void across_boundary(hl_state *s)
{
	hl_state_write(s, 4096 - 3, "XXXXXX", 6); /* chunks 0 and 1 */
}

Test(diff, equal_snapshots_have_no_runs)
{
	hl_arena *a = tu_arena_new("diff", 32 << 20, 4096, NULL);
	hl_id x = commit_of(a, 1 << 20, NULL), y = commit_of(a, 1 << 20, NULL);
	cr_assert(hl_id_eq(x, y));
	cr_assert_eq(diff(a, x, y).n, 0);
	hl_arena_close(a);
}

Test(diff, one_changed_byte_is_one_run_of_one)
{
	hl_arena *a = tu_arena_new("diff", 32 << 20, 4096, NULL);
	hl_id x = commit_of(a, 1 << 20, NULL), y = commit_of(a, 1 << 20, one_byte);
	struct runs r = diff(a, x, y);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.off[0], 300000);
	cr_assert_eq(r.len[0], 1);
	r = diff(a, y, x);
	cr_assert_eq(r.n, 1, "symmetric");
	hl_arena_close(a);
}

Test(diff, runs_come_in_order)
{
	hl_arena *a = tu_arena_new("diff", 32 << 20, 4096, NULL);
	hl_id x = commit_of(a, 1 << 20, NULL), y = commit_of(a, 1 << 20, two_chunks);
	struct runs r = diff(a, x, y);
	/* "AB" over "ba" of a "base" at 4985..: only the bytes that differ */
	cr_assert_eq(r.n, 2);
	cr_assert_eq(r.off[0], 5000);
	cr_assert_eq(r.len[0], 2);
	cr_assert_eq(r.off[1], 900000);
	cr_assert_eq(r.len[1], 1);
	hl_arena_close(a);
}

Test(diff, runs_that_touch_across_chunks_coalesce)
{
	hl_arena *a = tu_arena_new("diff", 32 << 20, 4096, NULL);
	hl_id x = commit_of(a, 20000, NULL), y = commit_of(a, 20000, across_boundary);
	struct runs r = diff(a, x, y);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.off[0], 4093);
	cr_assert_eq(r.len[0], 6);
	hl_arena_close(a);
}

Test(diff, bytes_of_only_one_side_are_a_final_run)
{
	hl_arena *a = tu_arena_new("diff", 32 << 20, 256, NULL);
	hl_id x = commit_of(a, 4000, NULL), y = commit_of(a, 100000, NULL);
	struct runs r = diff(a, x, y);
	/* x's bytes are a prefix of y's except where y's longer pattern
	 * continues: compare with the model of both */
	cr_assert_geq(r.n, 1);
	cr_assert_eq(r.off[r.n - 1] + r.len[r.n - 1], 100000);
	cr_assert_leq(r.off[r.n - 1], 4000);
	/* against the empty state: everything */
	r = diff(a, (hl_id){0, 0}, y);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.off[0], 0);
	cr_assert_eq(r.len[0], 100000);
	hl_arena_close(a);
}

static void tail_byte(hl_state *s) { hl_state_write(s, 4095, "!", 1); }

Test(diff, a_change_next_to_the_size_change_coalesces_with_it)
{
	hl_arena *a = tu_arena_new("diff", 32 << 20, 64, NULL);
	hl_id x = commit_of(a, 4096, tail_byte), y = commit_of(a, 8192, NULL);
	struct runs r = diff(a, x, y);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.off[0], 4095);
	cr_assert_eq(r.len[0], 8192 - 4095);
	hl_arena_close(a);
}

Test(diff, trees_of_different_heights)
{
	hl_arena *a = tu_arena_new("diff", 64 << 20, 64, NULL);
	/* 64 B chunks: 1000 B is height 2, 1 MiB height 4 */
	hl_state *s;
	hl_state_new(a, &s);
	hl_state_resize(s, 1 << 20);
	hl_state_write(s, 500, "shared", 6);
	hl_id big;
	hl_commit(s, &big, NULL);
	hl_state_resize(s, 1000);
	hl_id small;
	hl_commit(s, &small, NULL);
	struct runs r = diff(a, small, big);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.off[0], 1000);
	cr_assert_eq(r.len[0], (1 << 20) - 1000);
	hl_state_write(s, 0, "Z", 1);
	hl_id small2;
	hl_commit(s, &small2, NULL);
	r = diff(a, small2, big);
	cr_assert_eq(r.n, 2);
	cr_assert_eq(r.off[0], 0);
	cr_assert_eq(r.len[0], 1);
	hl_state_free(s);
	hl_arena_close(a);
}

Test(diff, a_nonzero_return_stops_the_walk)
{
	hl_arena *a = tu_arena_new("diff", 32 << 20, 4096, NULL);
	hl_id x = commit_of(a, 1 << 20, NULL), y = commit_of(a, 1 << 20, two_chunks);
	struct runs r = {.stop_after = 1};
	cr_assert_eq(hl_diff(a, x, y, collect, &r), 42);
	cr_assert_eq(r.n, 1);
	hl_arena_close(a);
}

Test(diff, unknown_ids_and_bad_arguments)
{
	hl_arena *a = tu_arena_new("diff", 16 << 20, 4096, NULL);
	hl_id x = commit_of(a, 5000, NULL);
	struct runs r = {0};
	cr_assert_eq(hl_diff(a, x, (hl_id){5, 6}, collect, &r), HL_ENOENT);
	cr_assert_eq(hl_diff(a, x, x, NULL, &r), HL_EINVAL);
	cr_assert_eq(hl_diff(NULL, x, x, collect, &r), HL_EINVAL);
	cr_assert_eq(r.n, 0);
	hl_arena_close(a);
}

/* Runs of every length from 1 to 130 bytes, starting anywhere in and
 * around a 64-byte step of the leaf compare, against a byte-by-byte model:
 * each run's first and last byte are exact (a differing byte left out, or
 * an equal one taken in, fails), in 4 KiB chunks (64-byte steps, then
 * words) and in 32-byte chunks (words only). */
static void runs_match_model(uint32_t chunk_bytes)
{
	hl_arena *a = tu_arena_new("diff", 32 << 20, chunk_bytes, NULL);
	enum { SIZE = 3 * 4096 };
	static unsigned char x[SIZE], y[SIZE];
	uint64_t rng = 0x9e3779b97f4a7c15ull ^ chunk_bytes;
	for (size_t i = 0; i < SIZE; i++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		x[i] = (unsigned char)(rng >> 56) | 1; /* never 0: y's runs flip */
	}
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	cr_assert_eq(hl_state_resize(s, SIZE), 0);
	cr_assert_eq(hl_state_write(s, 0, x, SIZE), 0);
	hl_id ix;
	cr_assert_eq(hl_commit(s, &ix, NULL), 0);
	for (uint64_t len = 1; len <= 130; len++) {
		uint64_t off = 4096 - 70 + (len * 37) % 140; /* around 4096 */
		memcpy(y, x, SIZE);
		for (uint64_t k = 0; k < len; k++)
			y[off + k] ^= 0x80; /* every byte of the run differs */
		cr_assert_eq(hl_restore(s, ix), 0);
		cr_assert_eq(hl_state_write(s, off, y + off, len), 0);
		hl_id iy;
		cr_assert_eq(hl_commit(s, &iy, NULL), 0);
		struct runs r = diff(a, ix, iy);
		cr_assert_eq(r.n, 1, "len %llu at %llu: %d runs",
			     (unsigned long long)len, (unsigned long long)off, r.n);
		cr_assert_eq(r.off[0], off, "len %llu: run at %llu, not %llu",
			     (unsigned long long)len, (unsigned long long)r.off[0],
			     (unsigned long long)off);
		cr_assert_eq(r.len[0], len, "at %llu: run of %llu, not %llu",
			     (unsigned long long)off, (unsigned long long)r.len[0],
			     (unsigned long long)len);
	}
	hl_state_free(s);
	hl_arena_close(a);
}

Test(diff, runs_are_exact_at_every_offset_around_a_compare_step)
{
	runs_match_model(4096);
	runs_match_model(32);
}
