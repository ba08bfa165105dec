/*
 * test_state.c - working states: read/write/resize semantics, commit ids and
 * metrics, dedup, zero subtrees, restore without copying, fork.
 */
#include "testutil.h"

#include <sys/mman.h>

#include "workers.h"

TestSuite(state, .fini = tu_unlink_all);

static hl_state *new_state(hl_arena *a, uint64_t size)
{
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	cr_assert_eq(hl_state_resize(s, size), 0);
	return s;
}

static hl_id commit(hl_state *s, hl_commit_info *info)
{
	hl_id id;
	hl_commit_info local;
	int rc = hl_commit(s, &id, info ? info : &local);
	cr_assert_eq(rc, 0, "commit: %s", hl_strerror(rc));
	return id;
}

static void fill(unsigned char *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(i * 31 + seed * 7 + (i >> 8));
}

Test(state, empty_state_is_the_zero_id_and_stores_nothing)
{
	hl_arena *a = tu_arena_new("state", 16 << 20, 4096, NULL);
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	cr_assert_eq(hl_state_size(s), 0);
	hl_commit_info info;
	hl_id id = commit(s, &info);
	cr_assert(hl_id_is_zero(id));
	cr_assert_eq(info.new_nodes, 0);
	cr_assert_eq(hl_restore(s, (hl_id){0, 0}), 0);
	cr_assert_eq(hl_state_size(s), 0);
	hl_state_free(s);
	hl_arena_close(a);
}

Test(state, writes_read_back_across_chunk_boundaries)
{
	hl_arena *a = tu_arena_new("state", 16 << 20, 64, NULL);
	hl_state *s = new_state(a, 1000);
	unsigned char in[700], out[1000];
	fill(in, sizeof in, 1);
	cr_assert_eq(hl_state_write(s, 37, in, sizeof in), 0);
	cr_assert_eq(hl_state_read(s, 0, out, 1000), 0);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(out[i], i >= 37 && i < 737 ? in[i - 37] : 0, "byte %d", i);
	hl_id id = commit(s, NULL);
	memset(out, 0xee, sizeof out);
	cr_assert_eq(hl_restore(s, id), 0);
	cr_assert_eq(hl_state_read(s, 37, out, sizeof in), 0);
	cr_assert_arr_eq(out, in, sizeof in);
	hl_state_free(s);
	hl_arena_close(a);
}

Test(state, out_of_range_access_fails_and_changes_nothing)
{
	hl_arena *a = tu_arena_new("state", 16 << 20, 4096, NULL);
	hl_state *s = new_state(a, 100);
	cr_assert_eq(hl_state_write(s, 10, "abc", 3), 0);
	cr_assert_eq(hl_state_write(s, 98, "xyz", 3), HL_ERANGE);
	cr_assert_eq(hl_state_write(s, UINT64_MAX - 1, "xyz", 3), HL_ERANGE);
	char b[3];
	cr_assert_eq(hl_state_read(s, 98, b, 3), HL_ERANGE);
	cr_assert_eq(hl_state_read(s, 98, b, 2), 0);
	cr_assert_eq(b[0], 0, "the refused write left byte 98 alone");
	cr_assert_eq(hl_state_read(s, 10, b, 3), 0);
	cr_assert_arr_eq(b, "abc", 3);
	cr_assert_eq(hl_state_resize(s, HL_STATE_BYTES_MAX + 1), HL_ERANGE);
	cr_assert_eq(hl_state_size(s), 100);
	const void *p;
	size_t n;
	cr_assert_eq(hl_state_view(s, 100, &p, &n), HL_ERANGE);
	hl_state_free(s);
	hl_arena_close(a);
}

Test(state, shrink_then_grow_reads_zeros_not_the_old_bytes)
{
	hl_arena *a = tu_arena_new("state", 16 << 20, 256, NULL);
	hl_state *s = new_state(a, 4000);
	unsigned char in[4000], out[4000];
	fill(in, sizeof in, 2);
	cr_assert_eq(hl_state_write(s, 0, in, sizeof in), 0);
	hl_id full = commit(s, NULL);
	cr_assert_eq(hl_state_resize(s, 1000), 0); /* mid-chunk */
	cr_assert_eq(hl_state_resize(s, 4000), 0);
	cr_assert_eq(hl_state_read(s, 0, out, sizeof out), 0);
	for (int i = 0; i < 4000; i++)
		cr_assert_eq(out[i], i < 1000 ? in[i] : 0, "byte %d", i);
	hl_id regrown = commit(s, NULL);
	cr_assert_not(hl_id_eq(full, regrown));
	/* the same content built directly has the same id */
	hl_state *t = new_state(a, 4000);
	cr_assert_eq(hl_state_write(t, 0, in, 1000), 0);
	cr_assert(hl_id_eq(commit(t, NULL), regrown));
	hl_state_free(t);
	hl_state_free(s);
	hl_arena_close(a);
}

Test(state, equal_content_equal_id_whatever_the_write_order)
{
	hl_arena *a = tu_arena_new("state", 32 << 20, 512, NULL);
	unsigned char in[20000];
	fill(in, sizeof in, 3);
	hl_state *x = new_state(a, sizeof in), *y = new_state(a, 10);
	cr_assert_eq(hl_state_write(x, 0, in, sizeof in), 0);
	cr_assert_eq(hl_state_resize(y, sizeof in), 0);
	for (int k = 19; k >= 0; k--) /* backwards, in 1000-byte pieces */
		cr_assert_eq(hl_state_write(y, k * 1000, in + k * 1000, 1000), 0);
	hl_commit_info ix, iy;
	hl_id idx = commit(x, &ix), idy = commit(y, &iy);
	cr_assert(hl_id_eq(idx, idy));
	cr_assert_gt(ix.new_nodes, 0);
	cr_assert_eq(iy.new_nodes, 0, "everything was there already");
	cr_assert_gt(iy.dedup_bytes, sizeof in - 1);
	/* one byte more or one byte different: another id */
	cr_assert_eq(hl_state_resize(y, sizeof in + 1), 0);
	cr_assert_not(hl_id_eq(commit(y, NULL), idx));
	cr_assert_eq(hl_state_resize(y, sizeof in), 0);
	cr_assert(hl_id_eq(commit(y, NULL), idx), "back to the same bytes");
	in[12345] ^= 1;
	cr_assert_eq(hl_state_write(y, 12345, in + 12345, 1), 0);
	cr_assert_not(hl_id_eq(commit(y, NULL), idx));
	hl_state_free(x);
	hl_state_free(y);
	hl_arena_close(a);
}

Test(state, ids_are_content_addresses_across_arenas)
{
	unsigned char in[9000];
	fill(in, sizeof in, 4);
	hl_id ids[2];
	for (int i = 0; i < 2; i++) {
		hl_arena *a = tu_arena_new("state", 16 << 20, 1024, NULL);
		hl_state *s = new_state(a, sizeof in);
		hl_state_write(s, 0, in, sizeof in);
		ids[i] = commit(s, NULL);
		hl_state_free(s);
		hl_arena_close(a);
	}
	cr_assert(hl_id_eq(ids[0], ids[1]));
}

Test(state, unchanged_commit_hashes_nothing)
{
	hl_arena *a = tu_arena_new("state", 16 << 20, 4096, NULL);
	hl_state *s = new_state(a, 1 << 20);
	hl_state_write(s, 5000, "hello", 5);
	hl_id id = commit(s, NULL);
	hl_commit_info info;
	cr_assert(hl_id_eq(commit(s, &info), id));
	cr_assert_eq(info.hashed_bytes, 0);
	cr_assert_eq(info.new_nodes, 0);
	/* rewriting identical bytes dirties a chunk but stores nothing new */
	hl_state_write(s, 5000, "hello", 5);
	cr_assert(hl_id_eq(commit(s, &info), id));
	cr_assert_eq(info.chunks_touched, 1);
	cr_assert_eq(info.new_nodes, 0);
	hl_state_free(s);
	hl_arena_close(a);
}

Test(state, commit_hashes_only_the_dirty_path)
{
	hl_arena *a = tu_arena_new("state", 64 << 20, 4096, NULL);
	hl_state *s = new_state(a, 1 << 20); /* 256 chunks: height 2 */
	unsigned char in[1 << 12];
	for (int k = 0; k < 256; k++) {
		fill(in, sizeof in, (unsigned)k + 10);
		hl_state_write(s, (uint64_t)k << 12, in, sizeof in);
	}
	hl_commit_info info;
	commit(s, &info);
	cr_assert_eq(info.new_nodes, 256 + 16 + 1 + 1, "leaves, inner, top, root");
	hl_state_write(s, 77777, "x", 1);
	commit(s, &info);
	cr_assert_eq(info.chunks_touched, 1);
	cr_assert_eq(info.new_nodes, 4, "one leaf, two inner nodes, one root");
	cr_assert_eq(info.hashed_bytes, 4096 + 2 * 16 * sizeof(hl_id));
	cr_assert_gt(info.ns, 0);
	hl_stats st;
	hl_arena_stats(a, &st);
	cr_assert_eq(st.nodes, 274 + 4);
	cr_assert_eq(hl_index_used(a), st.nodes, "the scan agrees with the counters");
	cr_assert_eq(st.commits, 2);
	tu_assert_arena_ok(a, "after commits");
	hl_state_free(s);
	hl_arena_close(a);
}

Test(state, zero_subtrees_are_not_stored)
{
	hl_arena *a = tu_arena_new("state", 16 << 20, 4096, NULL);
	hl_state *s = new_state(a, 1 << 20);
	hl_commit_info info;
	hl_id zeros = commit(s, &info);
	cr_assert_eq(info.new_nodes, 1, "a full zero tree is only its root");
	/* a sparse 1 TiB state with one byte at the end */
	cr_assert_eq(hl_state_resize(s, HL_STATE_BYTES_MAX), 0);
	cr_assert_eq(hl_state_write(s, HL_STATE_BYTES_MAX - 1, "!", 1), 0);
	hl_id sparse = commit(s, &info);
	cr_assert_lt(info.new_nodes, 2 * HL_LEVELS_MAX, "one path, not 2^28 leaves");
	char c;
	cr_assert_eq(hl_restore(s, zeros), 0);
	cr_assert_eq(hl_state_read(s, 123456, &c, 1), 0);
	cr_assert_eq(c, 0);
	cr_assert_eq(hl_restore(s, sparse), 0);
	cr_assert_eq(hl_state_read(s, HL_STATE_BYTES_MAX - 1, &c, 1), 0);
	cr_assert_eq(c, '!');
	cr_assert_eq(hl_state_read(s, 1ull << 39, &c, 1), 0);
	cr_assert_eq(c, 0);
	/* explicitly written zeros give the same id as never-written ones */
	hl_state *t = new_state(a, 1 << 20);
	static unsigned char z[1 << 20];
	hl_state_write(t, 0, z, sizeof z);
	cr_assert(hl_id_eq(commit(t, NULL), zeros));
	tu_assert_arena_ok(a, "sparse");
	hl_state_free(t);
	hl_state_free(s);
	hl_arena_close(a);
}

Test(state, restore_copies_nothing_and_views_share_leaves)
{
	hl_arena *a = tu_arena_new("state", 16 << 20, 4096, NULL);
	hl_state *s = new_state(a, 3 * 4096);
	unsigned char in[3 * 4096];
	fill(in, sizeof in, 5);
	hl_state_write(s, 0, in, sizeof in);
	hl_id id = commit(s, NULL);
	hl_state *t;
	hl_state_new(a, &t);
	cr_assert_eq(hl_restore(t, id), 0);
	cr_assert_eq(hl_state_size(t), sizeof in);
	cr_assert(hl_id_eq(hl_state_base(t), id));
	const void *ps, *pt;
	size_t ns, nt;
	cr_assert_eq(hl_state_view(s, 4096 + 10, &ps, &ns), 0);
	cr_assert_eq(hl_state_view(t, 4096 + 10, &pt, &nt), 0);
	cr_assert_eq(ps, pt, "both read the one shared leaf");
	cr_assert_eq(nt, 4096 - 10);
	cr_assert_geq((uintptr_t)pt, (uintptr_t)a->base);
	cr_assert_lt((uintptr_t)pt, (uintptr_t)a->base + a->bytes, "inside the arena");
	cr_assert_eq(memcmp(pt, in + 4096 + 10, nt), 0);
	cr_assert_eq(t->dirty_count, 0, "no chunk was copied");
	/* the last view is cut at the state's end */
	cr_assert_eq(hl_state_view(t, sizeof in - 5, &pt, &nt), 0);
	cr_assert_eq(nt, 5);
	hl_stats st;
	hl_arena_stats(a, &st);
	cr_assert_eq(st.restores, 1);
	hl_state_free(t);
	hl_state_free(s);
	hl_arena_close(a);
}

/* A write that rewrites a clean chunk whole (to the chunk's end, or the
 * state's) takes none of its old bytes: here they are made unreadable, so
 * a write that copied them first would fault. The ids are still the
 * contents': each equals a fresh state's commit of the same bytes, the
 * short last chunk's tail included (zeros, invariant 1). */
Test(state, a_write_of_whole_chunks_reads_none_of_their_old_bytes)
{
	hl_arena *a = tu_arena_new("state", 16 << 20, 4096, NULL);
	uint64_t size = 2 * 4096 + 100;
	hl_state *s = new_state(a, size);
	unsigned char in[2 * 4096 + 100], out[2 * 4096 + 100];
	fill(in, sizeof in, 3);
	hl_state_write(s, 0, in, sizeof in);
	hl_id base = commit(s, NULL);
	cr_assert_eq(hl_restore(s, base), 0);
	/* the pages where the old leaves of chunks 1 and 2 begin */
	uintptr_t pages[2];
	for (unsigned k = 1; k <= 2; k++) {
		const unsigned char *leaf = hl_tree_leaf(a, &s->base, k);
		cr_assert(leaf && leaf != a->zero_chunk);
		pages[k - 1] = (uintptr_t)leaf & ~(uintptr_t)4095;
	}
	for (unsigned i = 0; i < 2; i++)
		cr_assert_eq(mprotect((void *)pages[i], 4096, PROT_NONE), 0);
	fill(in + 4096, 4096, 8); /* chunk 1, whole */
	cr_assert_eq(hl_state_write(s, 4096, in + 4096, 4096), 0);
	fill(in + 2 * 4096, 100, 9); /* chunk 2, up to the state's end */
	cr_assert_eq(hl_state_write(s, 2 * 4096, in + 2 * 4096, 100), 0);
	for (unsigned i = 0; i < 2; i++)
		cr_assert_eq(mprotect((void *)pages[i], 4096, PROT_READ | PROT_WRITE), 0);
	cr_assert_eq(hl_state_read(s, 0, out, sizeof out), 0);
	cr_assert_eq(memcmp(in, out, sizeof in), 0);
	hl_id id = commit(s, NULL);
	hl_state *fresh = new_state(a, size);
	hl_state_write(fresh, 0, in, sizeof in);
	cr_assert(hl_id_eq(commit(fresh, NULL), id), "not the content's id");
	/* a chunk rewritten whole after a shrink and a grow: zeros past the
	 * end, whatever the recycled buffer held */
	cr_assert_eq(hl_state_resize(s, 4096 + 10), 0);
	cr_assert_eq(hl_state_resize(s, size), 0);
	memset(in + 4096 + 10, 0, sizeof in - 4096 - 10);
	fill(in + 2 * 4096, 50, 11);
	cr_assert_eq(hl_state_resize(s, 2 * 4096 + 50), 0);
	cr_assert_eq(hl_state_write(s, 2 * 4096, in + 2 * 4096, 50), 0);
	hl_state *again = new_state(a, 2 * 4096 + 50);
	hl_state_write(again, 0, in, 2 * 4096 + 50);
	cr_assert(hl_id_eq(commit(s, NULL), commit(again, NULL)));
	hl_state_free(again);
	hl_state_free(fresh);
	hl_state_free(s);
	hl_arena_close(a);
}

/* A write that fails after it took a chunk to rewrite whole leaves no
 * trace (invariant 4): here the base leaf of its last, partly written
 * chunk is damaged, so the write fails there, and the chunk before it,
 * taken whole without its old bytes, must not stay dirty with garbage. */
Test(state, a_failed_write_leaves_no_chunk_it_took_whole)
{
	hl_arena *a = tu_arena_new("state", 16 << 20, 4096, NULL);
	hl_state *s = new_state(a, 3 * 4096);
	unsigned char in[3 * 4096], out[3 * 4096];
	fill(in, sizeof in, 4);
	hl_state_write(s, 0, in, sizeof in);
	hl_id base = commit(s, NULL);
	cr_assert_eq(hl_restore(s, base), 0);
	const unsigned char *leaf = hl_tree_leaf(a, &s->base, 2);
	struct hl_node *n = (struct hl_node *)(uintptr_t)(leaf - sizeof(struct hl_node));
	uint8_t kind = n->kind;
	n->kind = 0x7f; /* no such kind: the leaf reads as damaged */
	unsigned char w[4096 + 10];
	fill(w, sizeof w, 12);
	cr_assert_eq(hl_state_write(s, 4096, w, sizeof w), HL_ECORRUPT);
	n->kind = kind;
	cr_assert_eq(s->dirty_count, 0, "the chunk taken whole stayed dirty");
	cr_assert_eq(hl_state_read(s, 0, out, sizeof out), 0);
	cr_assert_eq(memcmp(in, out, sizeof in), 0, "the failed write changed bytes");
	cr_assert(hl_id_eq(commit(s, NULL), base));
	hl_state_free(s);
	hl_arena_close(a);
}

/* hl_one_chunk_id hashes what a commit of a one-chunk state would: the
 * same id for every size up to the chunk, whatever the chunk size, for
 * zeros too; and refuses what is not one chunk. */
Test(state, a_one_chunk_id_is_the_id_its_commit_returns)
{
	static const uint32_t chunks[] = {32, 64, 4096};
	for (unsigned c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
		uint32_t cb = chunks[c];
		hl_arena *a = tu_arena_new("state", 16 << 20, cb, NULL);
		const size_t sizes[] = {1, 16, cb - 1, cb};
		unsigned char in[4096];
		for (unsigned k = 0; k < 4; k++) {
			for (unsigned zero = 0; zero < 2; zero++) {
				size_t n = sizes[k];
				fill(in, n, k + 1);
				if (zero)
					memset(in, 0, n);
				hl_state *s = new_state(a, n);
				hl_state_write(s, 0, in, n);
				hl_id want = commit(s, NULL), got;
				cr_assert_eq(hl_one_chunk_id(a, in, n, &got), 0);
				cr_assert(hl_id_eq(got, want), "chunk %u, %zu bytes%s: "
					  "not the commit's id", cb, n, zero ? " of zeros" : "");
				hl_state_free(s);
			}
		}
		hl_id id;
		cr_assert_eq(hl_one_chunk_id(a, in, 0, &id), HL_EINVAL);
		cr_assert_eq(hl_one_chunk_id(a, in, cb + 1, &id), HL_EINVAL);
		hl_arena_close(a);
	}
	hl_arena *big = tu_arena_new("state", 16 << 20, 8192, NULL);
	hl_id id;
	unsigned char b[16] = {1};
	cr_assert_eq(hl_one_chunk_id(big, b, sizeof b, &id), HL_EINVAL,
		     "a chunk past HL_ONE_CHUNK_ID_MAX");
	hl_arena_close(big);
}

Test(state, restore_drops_uncommitted_writes)
{
	hl_arena *a = tu_arena_new("state", 16 << 20, 4096, NULL);
	hl_state *s = new_state(a, 100);
	hl_state_write(s, 0, "base", 4);
	hl_id id = commit(s, NULL);
	hl_state_write(s, 0, "XXXX", 4);
	hl_state_resize(s, 9000);
	cr_assert_eq(hl_restore(s, id), 0);
	char b[4];
	cr_assert_eq(hl_state_size(s), 100);
	hl_state_read(s, 0, b, 4);
	cr_assert_arr_eq(b, "base", 4);
	cr_assert_eq(hl_restore(s, (hl_id){1, 2}), HL_ENOENT);
	cr_assert_eq(hl_state_size(s), 100, "a failed restore changes nothing");
	hl_state_free(s);
	hl_arena_close(a);
}

Test(state, fork_copies_the_dirty_list_and_diverges)
{
	hl_arena *a = tu_arena_new("state", 16 << 20, 1024, NULL);
	hl_state *s = new_state(a, 10000);
	hl_state_write(s, 0, "committed", 9);
	hl_id base = commit(s, NULL);
	hl_state_write(s, 5000, "dirty", 5);
	hl_state *f;
	cr_assert_eq(hl_fork(s, &f), 0);
	cr_assert(hl_id_eq(hl_state_base(f), base));
	cr_assert_eq(f->dirty_count, 1);
	char b[9];
	hl_state_read(f, 5000, b, 5);
	cr_assert_arr_eq(b, "dirty", 5);
	hl_state_write(f, 5000, "FORK!", 5);
	hl_state_read(s, 5000, b, 5);
	cr_assert_arr_eq(b, "dirty", 5, "the parent is untouched");
	hl_id is = commit(s, NULL), iff = commit(f, NULL);
	cr_assert_not(hl_id_eq(is, iff));
	hl_state_free(s);
	hl_state_read(f, 0, b, 9);
	cr_assert_arr_eq(b, "committed", 9);
	hl_state_free(f);
	hl_arena_close(a);
}

Test(state, read_only_handles_restore_but_cannot_commit)
{
	const char *name;
	hl_arena *a = tu_arena_new("state", 16 << 20, 4096, &name);
	hl_state *s = new_state(a, 10);
	hl_state_write(s, 0, "0123456789", 10);
	hl_id id = commit(s, NULL);
	hl_arena *r;
	cr_assert_eq(hl_arena_attach(name, HL_RDONLY, &r), 0);
	hl_state *t;
	hl_state_new(r, &t);
	cr_assert_eq(hl_restore(t, id), 0);
	cr_assert_eq(hl_state_write(t, 0, "x", 1), 0, "private writes are fine");
	hl_id out;
	cr_assert_eq(hl_commit(t, &out, NULL), HL_EROFS);
	char b;
	hl_state_read(t, 0, &b, 1);
	cr_assert_eq(b, 'x', "the refused commit kept the state");
	hl_state_free(t);
	hl_arena_close(r);
	hl_state_free(s);
	hl_arena_close(a);
}

Test(state, collision_is_reported_never_shared)
{
	hl_arena *a = tu_arena_new("state", 16 << 20, 4096, NULL);
	hl_state *s = new_state(a, 4096);
	hl_state_write(s, 0, "original", 8);
	commit(s, NULL);
	/* forge a collision: make the stored leaf's bytes differ from what
	 * its hash says, then commit the bytes the hash belongs to */
	const void *p;
	size_t n;
	hl_state_view(s, 0, &p, &n);
	((unsigned char *)p)[100] ^= 0xff;
	hl_state *t = new_state(a, 4096);
	hl_state_write(t, 0, "original", 8);
	hl_id id;
	cr_assert_eq(hl_commit(t, &id, NULL), HL_ECOLLISION);
	char msg[256];
	cr_assert_eq(hl_arena_check(a, msg, sizeof msg), HL_ECORRUPT);
	cr_assert_neq(strstr(msg, "hash mismatch"), NULL, "%s", msg);
	hl_state_free(t);
	hl_state_free(s);
	hl_arena_close(a);
}

/* Commit queues the new nodes it hashes and publishes them in order
 * (commit.c, "Publishing in order"), at most 16; past that it publishes
 * the queue and every later node at once. Around that bound (k leaves
 * and their parents: 15 and a parent fill the queue, 16 and more
 * overflow it, a parent then published at once over queued children)
 * every snapshot
 * reads back, an id does not depend on the path taken (one chunk at a
 * time, or all at once), and the arena checks clean. */
Test(state, commits_around_the_queue_bound_read_back)
{
	hl_arena *a = tu_arena_new("state", 32 << 20, 512, NULL);
	unsigned char in[18 * 512], out[18 * 512];
	for (unsigned k = 13; k <= 18; k++) {
		size_t bytes = (size_t)k * 512;
		fill(in, bytes, k);
		for (unsigned c = 0; c < k; c++) { /* every chunk new content */
			uint64_t tag = (uint64_t)k << 32 | c;
			memcpy(in + c * 512, &tag, sizeof tag);
		}
		hl_state *x = new_state(a, bytes), *y = new_state(a, bytes);
		cr_assert_eq(hl_state_write(x, 0, in, bytes), 0);
		hl_commit_info info;
		hl_id all = commit(x, &info);
		/* the leaves, their parent (two past 16, and theirs), the root */
		unsigned want = k <= 16 ? k + 2 : k + 4;
		cr_assert_eq(info.new_nodes, want, "k %u: %llu new nodes", k,
			     (unsigned long long)info.new_nodes);
		hl_id step = {0, 0};
		for (unsigned c = 0; c < k; c++) { /* one chunk per commit */
			cr_assert_eq(hl_state_write(y, c * 512, in + c * 512, 512), 0);
			step = commit(y, NULL);
		}
		cr_assert(hl_id_eq(all, step), "k %u: the id depends on the path", k);
		cr_assert_eq(hl_restore(y, all), 0);
		memset(out, 0, sizeof out);
		cr_assert_eq(hl_state_read(y, 0, out, bytes), 0);
		cr_assert_eq(memcmp(in, out, bytes), 0, "k %u: read back differs", k);
		hl_state_free(x);
		hl_state_free(y);
	}
	tu_assert_arena_ok(a, "after the commits");
	hl_arena_close(a);
}
