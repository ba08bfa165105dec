/*
 * test_index.c - the node index (shm/index.c) against real arenas: insert-
 * if-absent, full-key confirmation, bounded probing and HL_EFULL,
 * tombstones and their emptying, and the consistency checker on corrupted
 * tables. Processes racing on the same keys are test_index_race.c.
 *
 * Keys are made by hand (the index does not care how a hash was computed),
 * so a test can place them in chosen buckets with chosen tags.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"
#include "index_util.h"

TestSuite(index, .fini = teardown);

/* ---- basics -------------------------------------------------------------------- */

Test(index, insert_then_lookup)
{
	enum { N = 300 };
	uint64_t off[N];

	open_arena(0);
	cr_assert_eq(hl_index_capacity(g_a),
		     g_a->hdr->index_buckets * HL_BUCKET_ENTRIES);
	cr_assert_geq(hl_index_capacity(g_a), HL_INDEX_ENTRIES_MIN);
	cr_assert_eq(hl_index_used(g_a), 0);
	for (int i = 0; i < N; i++)
		off[i] = put(key_random(i));
	for (int i = 0; i < N; i++)
		assert_found(key_random(i), off[i]);
	cr_assert_eq(hl_index_used(g_a), N);
	assert_check_ok();
}

Test(index, second_insert_returns_first_offset)
{
	hl_id h = key_random(1);
	uint64_t first, second, third, winner = 0;

	open_arena(0);
	first = put(h);
	second = node_new(h);
	cr_assert_eq(hl_index_insert(g_a, h, second, &winner), 1);
	cr_assert_eq(winner, first, "winner %#" PRIx64 ", first %#" PRIx64,
		     winner, first);
	third = node_new(h);
	winner = 0;
	cr_assert_eq(hl_index_insert(g_a, h, third, &winner), 1);
	cr_assert_eq(winner, first);
	assert_found(h, first);
	cr_assert_eq(hl_index_used(g_a), 1);
	assert_check_ok();
}

Test(index, absent_keys_are_absent)
{
	hl_id h = key_at(5, 0xabcdef, 1);
	hl_id other_salt = key_at(5, 0xabcdef, 2);
	hl_id lo_flip = {.lo = h.lo ^ (1ull << 63), .hi = h.hi};
	hl_id hi_flip = {.lo = h.lo, .hi = h.hi ^ 1};
	hl_id other_tag = key_at(5, 0xabcdee, 1);
	uint64_t off, off2;

	open_arena(0);
	assert_absent(h); /* empty table */
	off = put(h);
	/* same bucket and same tag as h: only the node's full hash tells */
	assert_absent(other_salt);
	assert_absent(lo_flip);
	assert_absent(hi_flip);
	assert_absent(other_tag);
	assert_absent(key_random(9));
	/* and the look-alike is a key of its own, not a duplicate of h */
	off2 = put(hi_flip);
	assert_found(hi_flip, off2);
	assert_found(h, off);
	assert_check_ok();
}

/* Keys overflowing their home bucket go on to the next ones, wrapping from
 * the last bucket to bucket 0, and stay found. */
Test(index, probing_spills_and_wraps)
{
	enum { N = 20 };
	uint64_t last, off[N];

	open_arena(0);
	last = g_a->hdr->index_buckets - 1;
	for (int i = 0; i < N; i++)
		off[i] = put(key_at(last, (uint32_t)i + 1, (uint64_t)i));
	for (int i = 0; i < N; i++)
		assert_found(key_at(last, (uint32_t)i + 1, (uint64_t)i), off[i]);
	for (unsigned s = 0; s < HL_BUCKET_ENTRIES; s++) {
		uint64_t e = atomic_load(raw_entry(0, s));
		cr_assert_eq(e, raw_make(key_at(last, 9 + s, 8 + s), off[8 + s]),
			     "bucket 0 entry %u: %#" PRIx64, s, e);
	}
	cr_assert_eq(hl_index_used(g_a), N);
	assert_check_ok();
}

Test(index, read_only_handle_looks_up_but_never_stores)
{
	hl_arena *ro = NULL;
	hl_id h = key_random(3);
	uint64_t off, got = 0, winner;

	open_arena(0);
	off = put(h);
	cr_assert_eq(hl_arena_attach(g_name, HL_RDONLY, &ro), 0);
	cr_assert_eq(hl_index_lookup(ro, h, &got), 0);
	cr_assert_eq(got, off);
	cr_assert_eq(hl_index_insert(ro, key_random(4), off, &winner),
		     HL_EROFS);
	cr_assert_eq(hl_index_remove(ro, h, off), HL_EROFS);
	hl_arena_close(ro);
	assert_found(h, off);
}

/* ---- a full index ----------------------------------------------------------------- */

static void *index_copy(void)
{
	size_t bytes = g_a->hdr->index_buckets * sizeof(struct hl_bucket);
	void *copy = malloc(bytes);

	cr_assert_not_null(copy);
	memcpy(copy, hl_at(g_a, hl_region(g_a, HL_REGION_INDEX)->off), bytes);
	return copy;
}

static bool index_unchanged(const void *copy)
{
	size_t bytes = g_a->hdr->index_buckets * sizeof(struct hl_bucket);
	return memcmp(copy, hl_at(g_a, hl_region(g_a, HL_REGION_INDEX)->off),
		      bytes) == 0;
}

/* One home bucket's window holds HL_INDEX_PROBE_BUCKETS * 8 keys; the next
 * one is refused, nothing changes, and everything stored is still found. */
Test(index, full_window_refuses_and_harms_nothing)
{
	enum { N = HL_INDEX_PROBE_BUCKETS * HL_BUCKET_ENTRIES };
	uint64_t off[N], extra, winner = 0;
	hl_id over = key_at(7, 0x123456, 999999);
	void *copy;

	open_arena(HL_INDEX_ENTRIES_MIN);
	cr_assert_eq(hl_index_capacity(g_a), HL_INDEX_ENTRIES_MIN);
	for (int i = 0; i < N; i++)
		off[i] = put(key_at(7, (uint32_t)mix(i), (uint64_t)i));
	copy = index_copy();
	extra = node_new(over);
	cr_assert_eq(hl_index_insert(g_a, over, extra, &winner), HL_EFULL);
	cr_assert(index_unchanged(copy), "a refused insert changed the index");
	free(copy);
	assert_absent(over);
	for (int i = 0; i < N; i++)
		assert_found(key_at(7, (uint32_t)mix(i), (uint64_t)i), off[i]);
	/* a key already stored is still found by insert-if-absent */
	hl_id last = key_at(7, (uint32_t)mix(N - 1), N - 1);
	cr_assert_eq(hl_index_insert(g_a, last, node_new(last), &winner), 1);
	cr_assert_eq(winner, off[N - 1]);
	/* a key homed outside the full window still goes in */
	put(key_at(7 + HL_INDEX_PROBE_BUCKETS, 1, 1));
	cr_assert_eq(hl_index_used(g_a), N + 1);
	assert_check_ok();
}

/* Random keys into the smallest index until it first answers HL_EFULL;
 * then keep trying: every refusal leaves the table as it was. */
Test(index, random_fill_until_full)
{
	enum { TRIES = 4 * HL_INDEX_ENTRIES_MIN };
	static uint64_t off[TRIES];
	uint64_t winner, n = 0, refused = 0;

	open_arena(HL_INDEX_ENTRIES_MIN);
	for (uint64_t i = 0; i < TRIES; i++) {
		hl_id h = key_random(i);
		void *copy = index_copy();
		uint64_t o = node_new(h);
		int rc = hl_index_insert(g_a, h, o, &winner);

		cr_assert(rc == 0 || rc == HL_EFULL, "insert: %d", rc);
		if (rc == HL_EFULL) {
			cr_assert(index_unchanged(copy));
			refused++;
			off[i] = 0;
		} else {
			off[i] = o;
			n++;
		}
		free(copy);
	}
	cr_assert_gt(refused, 0, "the index never filled");
	/* probing 256 of 1024 entries: it fills well past half */
	cr_assert_gt(n, HL_INDEX_ENTRIES_MIN / 2, "only %" PRIu64 " fit", n);
	cr_assert_leq(n, HL_INDEX_ENTRIES_MIN);
	for (uint64_t i = 0; i < TRIES; i++) {
		if (off[i])
			assert_found(key_random(i), off[i]);
		else
			assert_absent(key_random(i));
	}
	cr_assert_eq(hl_index_used(g_a), n);
	assert_check_ok();
}

/* ---- removal ------------------------------------------------------------------- */

Test(index, remove_leaves_a_tombstone_that_probes_pass)
{
	hl_id a = key_at(3, 0xa, 1), b = key_at(3, 0xb, 2), c = key_at(3, 0xc, 3);
	uint64_t oa, ob, oc, oa2;

	open_arena(0);
	oa = put(a);
	ob = put(b);
	oc = put(c);
	cr_assert_eq(hl_index_remove(g_a, a, oa), 0);
	cr_assert(HL_ENTRY_IS_TOMB(atomic_load(raw_entry(3, 0))));
	assert_absent(a);
	assert_found(b, ob); /* probing goes on past the tombstone */
	assert_found(c, oc);
	cr_assert_eq(hl_index_remove(g_a, a, oa), HL_ENOENT);
	cr_assert_eq(hl_index_remove(g_a, b, oc), HL_ENOENT); /* wrong node */
	cr_assert_eq(hl_index_remove(g_a, key_random(5), oa), HL_ENOENT);
	assert_found(b, ob);
	cr_assert_eq(hl_index_used(g_a), 2);
	assert_check_ok();

	/* re-inserting a removed key takes a fresh entry, not the tombstone */
	oa2 = put(a);
	cr_assert(HL_ENTRY_IS_TOMB(atomic_load(raw_entry(3, 0))));
	cr_assert_eq(atomic_load(raw_entry(3, 3)), raw_make(a, oa2));
	assert_found(a, oa2);
	cr_assert_eq(hl_index_used(g_a), 3);
	assert_check_ok();
}

/* Tombstones are never reused (that keeps insert-if-absent free of
 * duplicates), so a window of tombstones refuses new keys. */
Test(index, tombstones_are_not_reused)
{
	enum { N = HL_INDEX_PROBE_BUCKETS * HL_BUCKET_ENTRIES };
	uint64_t off[N], winner;
	hl_id h = key_at(11, 0x77, 12345);

	open_arena(HL_INDEX_ENTRIES_MIN);
	for (int i = 0; i < N; i++)
		off[i] = put(key_at(11, (uint32_t)i, (uint64_t)i));
	for (int i = 0; i < N; i++)
		cr_assert_eq(hl_index_remove(g_a, key_at(11, (uint32_t)i,
							 (uint64_t)i), off[i]),
			     0);
	cr_assert_eq(hl_index_used(g_a), 0);
	cr_assert_eq(hl_index_insert(g_a, h, node_new(h), &winner), HL_EFULL);
	for (int i = 0; i < N; i++)
		assert_absent(key_at(11, (uint32_t)i, (uint64_t)i));
	assert_check_ok();
}

/* ---- the checker --------------------------------------------------------------- */

Test(index, check_detects_offset_outside_heap)
{
	hl_id h = key_at(20, 0x42, 1), ghost = key_at(20, 0x43, 2);
	uint64_t off;

	open_arena(0);
	off = put(h);
	uint64_t wrong[] = {
		HL_ENTRY_OFF_MASK,                                /* past the arena */
		2,                                                /* in the header */
		hl_region(g_a, HL_REGION_INDEX)->off / HL_HEAP_ALIGN, /* the index */
		g_a->bytes / HL_HEAP_ALIGN,                       /* just past it */
	};
	for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
		atomic_store(raw_entry(20, 1),
			     (ghost.hi & ~HL_ENTRY_OFF_MASK) | wrong[i]);
		assert_check_fails("heap");
		/* a garbage entry never makes a look-up read outside the heap:
		 * it is just not the key, and keys past it are still found */
		assert_absent(ghost);
		assert_found(h, off);
	}
	atomic_store(raw_entry(20, 1), HL_ENTRY_EMPTY);
	assert_check_ok();
}

Test(index, check_detects_flipped_hash_tag)
{
	hl_id h = key_at(21, 0x424242, 1);
	uint64_t off;
	struct hl_node *n;

	open_arena(0);
	off = put(h);
	n = hl_node_at(g_a, off);
	n->hash.hi ^= 1ull << 60;
	assert_check_fails("tag");
	n->hash.hi ^= 1ull << 60;
	assert_check_ok();
}

Test(index, check_detects_entry_outside_its_window)
{
	hl_id h = key_at(22, 0x99, 1);
	uint64_t off;
	struct hl_node *n;

	open_arena(0);
	off = put(h);
	n = hl_node_at(g_a, off);
	/* home 22 + 64: the entry at bucket 22 lies before its home */
	n->hash.lo += 64;
	assert_check_fails("probe window");
	n->hash.lo -= 64;
	assert_check_ok();
}

Test(index, check_detects_bad_node_kind)
{
	hl_id h = key_at(23, 0x98, 1);
	uint64_t off;
	struct hl_node *n;

	open_arena(0);
	off = put(h);
	n = hl_node_at(g_a, off);
	n->kind = 0;
	assert_check_fails("kind");
	n->kind = 200;
	assert_check_fails("kind");
	n->kind = HL_NODE_ROOT;
	assert_check_ok();
}

Test(index, check_detects_duplicate_key)
{
	hl_id h = key_at(24, 0x97, 1);
	uint64_t first, copy;

	open_arena(0);
	first = put(h);
	put(key_at(24, 0x96, 2));
	copy = node_new(h);
	/* a second entry for h of the same content: a duplicate the collector
	 * and tombstone reuse may leave (index.c invariant 4): allowed */
	atomic_store(raw_entry(24, 2), raw_make(h, copy));
	assert_check_ok();
	/* of other content, as a broken insert would leave it: corruption */
	hl_node_at(g_a, copy)->payload[0] ^= 1;
	assert_check_fails("twice");
	assert_found(h, first);
	atomic_store(raw_entry(24, 2), HL_ENTRY_EMPTY);
	assert_check_ok();
}

/* A tombstone is reused only by an insert whose epoch section entered
 * two epochs after its stamp, which is one past the remover's epoch
 * (index.c, "Reusing tombstones"); outside a section, never. A section
 * older than the stamp finds it young (it read as 2^24 epochs old once). */
Test(index, old_tombstones_are_reused_inside_a_section)
{
	hl_id a = key_at(30, 0x21, 1), b = key_at(30, 0x22, 2);
	uint64_t oa, ob, winner;

	open_arena(0);
	oa = put(a);
	cr_assert_eq(hl_index_remove(g_a, a, oa), 0);
	uint64_t tomb = atomic_load(raw_entry(30, 0));
	cr_assert(HL_ENTRY_IS_TOMB(tomb));
	cr_assert_eq(HL_ENTRY_TOMB_EPOCH(tomb), (hl_epoch_now(g_a) + 1) & 0xffffff);
	/* too young: a section now (older than the stamp) may not take it */
	ob = node_new(b);
	hl_epoch_enter(g_a);
	cr_assert_eq(hl_index_insert(g_a, b, ob, &winner), 0);
	hl_epoch_exit(g_a);
	cr_assert_eq(atomic_load(raw_entry(30, 0)), tomb, "a young tombstone was reused");
	cr_assert_eq(atomic_load(raw_entry(30, 1)), raw_make(b, ob));
	/* a grace period later, one epoch past the stamp: still young */
	cr_assert_eq(hl_epoch_barrier(g_a, 0), 0);
	hl_id b2 = key_at(30, 0x24, 4);
	uint64_t ob2 = node_new(b2);
	hl_epoch_enter(g_a);
	cr_assert_eq(hl_index_insert(g_a, b2, ob2, &winner), 0);
	hl_epoch_exit(g_a);
	cr_assert_eq(atomic_load(raw_entry(30, 0)), tomb, "a young tombstone was reused");
	/* two past it, it is taken, before the EMPTY entries */
	cr_assert_eq(hl_epoch_barrier(g_a, 0), 0);
	hl_id c = key_at(30, 0x23, 3);
	uint64_t oc = node_new(c);
	hl_epoch_enter(g_a);
	cr_assert_eq(hl_index_insert(g_a, c, oc, &winner), 0);
	hl_epoch_exit(g_a);
	cr_assert_eq(atomic_load(raw_entry(30, 0)), raw_make(c, oc),
		     "an old tombstone was not reused");
	assert_found(b, ob);
	assert_found(b2, ob2);
	assert_found(c, oc);
	assert_check_ok();
}

/* ---- emptying tombstones ----------------------------------------------------- */

/* Entry i of bucket b in probe order (hl_index_tomb_tend's numbering). */
static uint64_t pos_of(uint64_t bucket, unsigned s)
{
	return bucket * HL_BUCKET_ENTRIES + s;
}

/* What the sweep does for every tombstone, for entries [first, first+n)
 * walked from the last down; the count changed. */
static unsigned tend(uint64_t first, unsigned n)
{
	unsigned changed = 0;
	uint64_t now = hl_epoch_now(g_a);
	for (unsigned k = n; k-- > 0;) {
		uint64_t i = first + k;
		uint64_t e = atomic_load(raw_entry(i / HL_BUCKET_ENTRIES,
						   (unsigned)(i % HL_BUCKET_ENTRIES)));
		if (HL_ENTRY_IS_TOMB(e))
			changed += (unsigned)hl_index_tomb_tend(g_a, i, e, now);
	}
	return changed;
}

/* A run of tombstones before an EMPTY entry: retired once three epochs
 * have begun since their stamps, emptied (the whole run, in one walk from
 * its end down) by the walk after that; look-ups of absent keys stop at
 * its first entry again (index.c, "Emptying tombstones"). */
Test(index, tombstones_are_retired_then_emptied)
{
	open_arena(0);
	hl_id k[3];
	uint64_t off[3];
	for (unsigned j = 0; j < 3; j++)
		off[j] = put(k[j] = key_at(40, 0x51 + j, j + 1));
	for (unsigned j = 0; j < 3; j++)
		cr_assert_eq(hl_index_remove(g_a, k[j], off[j]), 0);
	uint64_t first = pos_of(40, 0);
	cr_assert_eq(tend(first, 3), 0, "a young tombstone was retired");
	cr_assert_eq(hl_epoch_barrier(g_a, 0), 0); /* stamp + 1 */
	cr_assert_eq(tend(first, 3), 0, "a young tombstone was retired");
	cr_assert_eq(hl_epoch_barrier(g_a, 0), 0); /* stamp + 3 */
	cr_assert_eq(tend(first, 3), 3);
	for (unsigned j = 0; j < 3; j++)
		cr_assert_eq(atomic_load(raw_entry(40, j)), HL_ENTRY_RETIRED);
	assert_check_ok();
	cr_assert_eq(tend(first, 3), 3, "the run was not emptied in one walk");
	for (unsigned j = 0; j < 3; j++) {
		cr_assert_eq(atomic_load(raw_entry(40, j)), HL_ENTRY_EMPTY);
		assert_absent(k[j]);
	}
	assert_check_ok();
}

/* A retired entry before a live one stays (emptying it would hide the
 * live key from its look-ups), and is taken by the next insert, in a
 * section or not (an insert never writes past a retired entry). */
Test(index, a_retired_entry_stays_before_a_live_one_and_is_taken_first)
{
	open_arena(0);
	hl_id a = key_at(41, 0x61, 1), b = key_at(41, 0x62, 2), c = key_at(41, 0x63, 3);
	uint64_t oa = put(a), ob = put(b), winner;
	cr_assert_eq(hl_index_remove(g_a, a, oa), 0);
	cr_assert_eq(hl_epoch_barrier(g_a, 0), 0);
	cr_assert_eq(hl_epoch_barrier(g_a, 0), 0);
	uint64_t first = pos_of(41, 0);
	cr_assert_eq(tend(first, 2), 1);
	cr_assert_eq(atomic_load(raw_entry(41, 0)), HL_ENTRY_RETIRED);
	cr_assert_eq(tend(first, 2), 0, "emptied before a live entry");
	assert_found(b, ob);
	assert_check_ok();
	uint64_t oc = node_new(c);
	cr_assert_eq(hl_index_insert(g_a, c, oc, &winner), 0); /* no section */
	cr_assert_eq(atomic_load(raw_entry(41, 0)), raw_make(c, oc),
		     "an insert passed a retired entry");
	assert_found(b, ob);
	assert_found(c, oc);
	assert_check_ok();
}

/* An entry erased back to EMPTY hides the keys probed past it: look-ups
 * stop there, and a re-insert would duplicate them. */
Test(index, check_detects_unreachable_entry)
{
	hl_id a = key_at(26, 0x11, 1), b = key_at(26, 0x12, 2);
	uint64_t ob;

	open_arena(0);
	put(a);
	ob = put(b);
	atomic_store(raw_entry(26, 0), HL_ENTRY_EMPTY);
	assert_absent(b);
	assert_check_fails("unreachable");
	atomic_store(raw_entry(26, 0), HL_ENTRY_TOMBSTONE);
	assert_found(b, ob);
	assert_check_ok();
}
