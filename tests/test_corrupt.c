/*
 * test_corrupt.c - the corruption suite: damaged words in the header, the
 * index, nodes, process slots, the heap's own words and the refs table.
 *
 * What a user relies on: whatever the damage, every call answers an error
 * or a correct result - never a crash, never an assertion, never wrong
 * bytes. States are written with self-checking patterns (testutil.h), so a
 * byte read back from the wrong place or the wrong snapshot names itself,
 * and a damaged arena that still answers 0 must answer the bytes that were
 * committed. hl_arena_check must see every damage that breaks an
 * invariant it documents.
 *
 * Beside test_fault.c (corrupt headers, exhaustion) and the fuzz targets in
 * tests/fuzz/, whose regression inputs the last test here replays.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm.h"
#include "testutil.h"
#include "fault_util.h"

TestSuite(corrupt, .fini = tu_unlink_all, .timeout = 120);

#define STATE_BYTES (3 * 4096 + 100) /* leaves, one inner node, a root */
#define GENS 24

/* ---- helpers -------------------------------------------------------------- */

static uint64_t header_checksum(const struct hl_arena_hdr *h)
{
	return hl_hash64((const char *)h + HL_HDR_CHECKSUMMED_FROM,
			 HL_HDR_CHECKSUMMED_TO - HL_HDR_CHECKSUMMED_FROM, 0);
}

/* Commits `n` states, generation first_gen + i, into ids[i]. */
static void commit_gens(hl_arena *a, hl_id *ids, unsigned n, uint32_t first_gen)
{
	static unsigned char buf[STATE_BYTES];
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	for (unsigned i = 0; i < n; i++) {
		fill_state(s, STATE_BYTES, first_gen + i, buf);
		int rc = hl_commit(s, &ids[i], NULL);
		cr_assert_eq(rc, 0, "commit %u: %s", i, hl_strerror(rc));
	}
	hl_state_free(s);
}

/* Every ids[i] restores to generation first_gen + i's bytes, or answers an
 * error (allowed only when errors_ok): never wrong bytes. Returns how many
 * restored correctly. */
static unsigned verify_gens(hl_arena *a, const hl_id *ids, unsigned n,
			    uint32_t first_gen, bool errors_ok, const char *what)
{
	static unsigned char buf[STATE_BYTES];
	hl_state *s;
	unsigned good = 0;
	cr_assert_eq(hl_state_new(a, &s), 0);
	for (unsigned i = 0; i < n; i++) {
		int rc = hl_restore(s, ids[i]);
		if (rc == 0)
			rc = hl_state_read(s, 0, buf, STATE_BYTES);
		if (rc) {
			cr_assert(errors_ok, "%s: snapshot %u: %s", what, i,
				  hl_strerror(rc));
			continue;
		}
		cr_assert_eq(hl_state_size(s), STATE_BYTES, "%s: snapshot %u size",
			     what, i);
		int64_t bad = tu_pattern_check(buf, 0, STATE_BYTES, first_gen + i);
		cr_assert_eq(bad, -1, "%s: snapshot %u: byte %" PRId64
			     " is not its own (wrong bytes)", what, i, bad);
		good++;
	}
	hl_state_free(s);
	return good;
}

/* hl_arena_check's verdict and message. */
static int check_rc(hl_arena *a, char *msg, size_t len)
{
	msg[0] = '\0';
	return hl_arena_check(a, msg, len);
}

/* ---- the header (issue 8 item 2) ------------------------------------------- */

/* A region's size check multiplied index_buckets by 64 unchecked: 2^58
 * buckets wrapped to 0 bytes, attach accepted it and a restore faulted. */
Test(corrupt, header_geometry_products_are_overflow_checked)
{
	const char *name;
	hl_arena *a = arena_small(&name, 4 * MiB, 4096);
	hl_arena *w;
	cr_assert_eq(hl_arena_attach(name, 0, &w), 0);
	struct hl_arena_hdr *h = w->hdr, saved = *h;
	const uint64_t buckets[] = {1ull << 58, 1ull << 59, 1ull << 62, 1ull << 63,
				    1ull << 40};
	for (unsigned i = 0; i < sizeof buckets / sizeof buckets[0]; i++) {
		h->index_buckets = buckets[i];
		h->hdr_checksum = header_checksum(h);
		cr_assert_eq(attach_rc(name, 0), HL_ECORRUPT, "index_buckets 2^%d",
			     __builtin_ctzll(buckets[i]));
		cr_assert_eq(attach_rc(name, HL_RDONLY), HL_ECORRUPT,
			     "index_buckets 2^%d", __builtin_ctzll(buckets[i]));
		*h = saved;
	}
	/* a heap of fewer slabs than one commit needs, and a slab map that
	 * overlaps the heap */
	h->regions[HL_REGION_HEAP].bytes = h->slab_bytes;
	h->hdr_checksum = header_checksum(h);
	cr_assert_eq(attach_rc(name, 0), HL_ECORRUPT, "one-slab heap");
	*h = saved;
	h->regions[HL_REGION_SLABMAP].bytes = h->regions[HL_REGION_HEAP].off -
					      h->regions[HL_REGION_SLABMAP].off +
					      HL_PAGE_BYTES;
	h->hdr_checksum = header_checksum(h);
	cr_assert_eq(attach_rc(name, 0), HL_ECORRUPT, "slab map overlaps the heap");
	*h = saved;
	cr_assert_eq(attach_rc(name, 0), 0, "the restored header attaches");
	hl_arena_close(w);
	hl_arena_close(a);
}

/* ---- the heap's mutable words (issue 8 item 3) ----------------------------- */

/* A free slot's cursor aimed at the start of a carved slab (valid by the
 * slab map: the right class, aligned) made the next owner bump over live
 * leaves: new commits overwrote old snapshots silently. */
Test(corrupt, a_cursor_left_in_a_free_slot_is_not_followed)
{
	const char *name;
	hl_arena *a = arena_small(&name, 16 * MiB, 4096);
	hl_id old[GENS], fresh[GENS];
	hl_arena *b;
	cr_assert_eq(hl_arena_attach(name, 0, &b), 0);
	commit_gens(b, old, GENS, 100);
	uint32_t slot = (uint32_t)hl_arena_slot(b);
	struct hl_slab_cursor leaf = b->slot->slab[b->class_leaf];
	struct hl_slab_cursor inner = b->slot->slab[b->class_inner];
	unsigned cls_leaf = b->class_leaf, cls_inner = b->class_inner;
	cr_assert_neq(leaf.cur, 0);
	hl_arena_close(b);
	/* the freed slot now claims to bump from the start of the slabs that
	 * hold every old snapshot */
	struct hl_slot *s = hl_slot_at(a, slot);
	s->slab[cls_leaf] = (struct hl_slab_cursor){leaf.end - a->hdr->slab_bytes,
						    leaf.end};
	s->slab[cls_inner] = (struct hl_slab_cursor){inner.end - a->hdr->slab_bytes,
						     inner.end};
	cr_assert_eq(hl_arena_attach(name, 0, &b), 0);
	cr_assert_eq((uint32_t)hl_arena_slot(b), slot, "the damaged slot is reused");
	commit_gens(b, fresh, GENS, 500);
	verify_gens(a, old, GENS, 100, false, "old snapshots");
	verify_gens(a, fresh, GENS, 500, false, "new snapshots");
	tu_assert_arena_ok(a, "after adopting a damaged slot");
	hl_arena_close(b);
	hl_arena_close(a);
}

/* Garbage cursors (unaligned, outside the heap, reversed, huge) in a free
 * slot: the next owner commits and releases normally; no assertion, no
 * fault, no runaway walk of a huge "tail" at close. */
Test(corrupt, garbage_cursors_are_dropped)
{
	const char *name;
	hl_arena *a = arena_small(&name, 16 * MiB, 4096);
	hl_id old[GENS], fresh[GENS];
	commit_gens(a, old, GENS, 1);
	const struct hl_region *h = hl_region(a, HL_REGION_HEAP);
	const struct hl_slab_cursor bad[] = {
		{h->off + 8, h->off + a->hdr->slab_bytes},
		{1, 2},
		{h->off + h->bytes, h->off},
		{h->off, UINT64_MAX},
		{UINT64_MAX - 31, UINT64_MAX},
		{h->off + 32, h->off + h->bytes + a->hdr->slab_bytes},
	};
	for (unsigned k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		struct hl_slot *s = hl_slot_at(a, 1);
		for (unsigned cls = 0; cls < HL_CLASSES_MAX; cls++)
			s->slab[cls] = bad[k];
		hl_arena *b;
		cr_assert_eq(hl_arena_attach(name, 0, &b), 0);
		cr_assert_eq(hl_arena_slot(b), 1);
		commit_gens(b, fresh, GENS, 1000 + 100 * k);
		hl_arena_close(b);
		verify_gens(a, old, GENS, 1, false, "old snapshots");
		verify_gens(a, fresh, GENS, 1000 + 100 * k, false, "new snapshots");
	}
	tu_assert_arena_ok(a, "after garbage cursors");
	hl_arena_close(a);
}

/* heap_next moved back over carved slabs, or off a slab boundary: a fresh
 * owner's grab must not re-carve a slab that holds snapshots. It may fail
 * (HL_ECORRUPT), never hand out live memory or trip an assertion. */
Test(corrupt, a_damaged_heap_next_is_never_followed)
{
	const char *name;
	hl_arena *a = arena_small(&name, 16 * MiB, 4096);
	hl_id old[GENS], fresh[GENS];
	commit_gens(a, old, GENS, 7);
	struct hl_arena_hdr *hdr = a->hdr;
	uint64_t next = atomic_load(&hdr->heap_next);
	const uint64_t bad[] = {0, hdr->slab_bytes / 2, next - hdr->slab_bytes, next + 32};
	for (unsigned k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		atomic_store(&hdr->heap_next, bad[k]);
		hl_arena *b;
		cr_assert_eq(hl_arena_attach(name, 0, &b), 0);
		hl_state *s;
		static unsigned char buf[STATE_BYTES];
		cr_assert_eq(hl_state_new(b, &s), 0);
		for (unsigned i = 0; i < GENS; i++) {
			fill_state(s, STATE_BYTES, 300 + i, buf);
			int rc = hl_commit(s, &fresh[i], NULL);
			cr_assert(rc == 0 || rc == HL_ECORRUPT,
				  "heap_next %" PRIu64 ": commit: %s", bad[k],
				  hl_strerror(rc));
			if (rc == 0)
				verify_gens(b, &fresh[i], 1, 300 + i, false, "new");
		}
		hl_state_free(s);
		hl_arena_close(b);
		verify_gens(a, old, GENS, 7, false, "old snapshots");
		char msg[256];
		if (bad[k] % hdr->slab_bytes)
			cr_assert_eq(check_rc(a, msg, sizeof msg), HL_ECORRUPT,
				     "heap_next %" PRIu64 " passes the checker", bad[k]);
		atomic_store(&hdr->heap_next, next);
	}
	hl_arena_close(a);
}

/* ---- slots and refs in hl_arena_check (issue 8 item 8) --------------------- */

/* Each damage to the slot table or the refs table is reported by the
 * checker (it skipped both before), and refs answer an error or the right
 * id for it, never a crash. Each damage is undone before the next. */
Test(corrupt, the_checker_sees_damaged_slots_and_refs)
{
	const char *name;
	hl_arena *a = arena_small(&name, 16 * MiB, 4096);
	hl_id ids[4];
	commit_gens(a, ids, 4, 40);
	cr_assert_eq(hl_ref_set(a, "alpha", ids[0]), 0);
	cr_assert_eq(hl_ref_set(a, "beta", ids[1]), 0);
	tu_assert_arena_ok(a, "before damage");
	struct hl_ref_slot *t = hl_at(a, hl_region(a, HL_REGION_REFS)->off);
	uint32_t cap = a->hdr->refs_capacity, r = cap;
	/* a named slot with two empty slots after it */
	for (uint32_t p = 0; p < cap && r == cap; p++)
		if (atomic_load(&t[p].name_off) != 0 &&
		    atomic_load(&t[(p + 1) % cap].name_off) == 0 &&
		    atomic_load(&t[(p + 2) % cap].name_off) == 0)
			r = p;
	cr_assert_lt(r, cap);
	struct hl_ref_slot *table_saved = malloc(cap * sizeof *t);
	cr_assert_not_null(table_saved);
	memcpy(table_saved, t, cap * sizeof *t);
	struct hl_ref_slot ref_saved = {atomic_load(&t[r].name_off),
					atomic_load(&t[r].root_off)};
	struct hl_ref_name *nm = hl_at(a, ref_saved.name_off);
	struct hl_ref_name name_saved = *nm;
	struct hl_slot *free_slot = hl_slot_at(a, 3), slot_saved = *free_slot;
	struct hl_slot *mine = a->slot;
	uint32_t mine_state = atomic_load(&mine->state);
	uint64_t leaf_off = 0;
	cr_assert_eq(hl_index_lookup(a, ids[0], &leaf_off), 0);
	const struct hl_root_payload *rp = (const void *)hl_node_at(a, leaf_off)->payload;
	leaf_off = rp->top_off; /* an inner node: a heap object, not a root */
	uint64_t slab_start = a->slot->slab[a->class_leaf].end - a->hdr->slab_bytes;

	for (int m = 0;; m++) {
		const char *what;
		switch (m) {
		case 0: what = "slot state 7"; atomic_store(&free_slot->state, 7); break;
		case 1: what = "free slot LIVE"; atomic_store(&free_slot->state, HL_SLOT_LIVE); break;
		case 2: what = "role 9"; mine->role = 9; break;
		case 3:
			what = "free slot with a cursor";
			free_slot->slab[a->class_leaf] = (struct hl_slab_cursor){
				slab_start, slab_start + a->hdr->slab_bytes};
			break;
		case 4:
			what = "cursor of a class that does not exist";
			free_slot->slab[HL_CLASSES_MAX - 1] =
				(struct hl_slab_cursor){slab_start, slab_start + 4096};
			break;
		case 5: what = "ref name unaligned"; atomic_store(&t[r].name_off, ref_saved.name_off + 8); break;
		case 6: what = "ref name outside the heap"; atomic_store(&t[r].name_off, 4096); break;
		case 7: what = "ref name is a node"; atomic_store(&t[r].name_off, leaf_off); break;
		case 8: what = "ref name length 0"; nm->len = 0; break;
		case 9: what = "ref name length 200"; nm->len = 200; break;
		case 10: what = "ref name hash"; nm->name_hash ^= 1; break;
		case 11: what = "ref root not a root"; atomic_store(&t[r].root_off, leaf_off); break;
		case 12: what = "ref root outside the heap"; atomic_store(&t[r].root_off, 8); break;
		case 13: what = "ref root unaligned"; atomic_store(&t[r].root_off, ref_saved.root_off + 4); break;
		case 14: what = "ref value without a name"; atomic_store(&t[(r + 1) % cap].root_off, ref_saved.root_off); break;
		case 15: /* moved one slot on: an empty slot now precedes it */
			what = "ref past an empty slot";
			atomic_store(&t[r].name_off, 0);
			atomic_store(&t[r].root_off, 0);
			atomic_store(&t[(r + 2) % cap].name_off, ref_saved.name_off);
			atomic_store(&t[(r + 2) % cap].root_off, ref_saved.root_off);
			break;
		default: what = NULL;
		}
		if (!what)
			break;
		char msg[256];
		int rc = check_rc(a, msg, sizeof msg);
		cr_assert_eq(rc, HL_ECORRUPT, "%s: the checker passed it", what);
		cr_assert(strncmp(msg, "slots:", 6) == 0 || strncmp(msg, "refs:", 5) == 0 ||
			  strncmp(msg, "heap:", 5) == 0, "%s: message '%s'", what, msg);
		hl_id got;
		rc = hl_ref_get(a, "alpha", &got);
		cr_assert(rc != 0 || hl_id_eq(got, ids[0]), "%s: alpha: wrong id", what);
		rc = hl_ref_get(a, "beta", &got);
		cr_assert(rc != 0 || hl_id_eq(got, ids[1]), "%s: beta: wrong id", what);
		/* undo */
		*free_slot = slot_saved;
		atomic_store(&mine->state, mine_state);
		mine->role = HL_ROLE_PROCESS;
		*nm = name_saved;
		memcpy(t, table_saved, cap * sizeof *t);
		tu_assert_arena_ok(a, what);
	}
	free(table_saved);
	hl_arena_close(a);
}

/* ---- flipped bits (the review's 6656 header bytes, and beyond) ------------- */

/* Every single-bit flip in the immutable header (and its checksum) is
 * refused at attach: the checksum covers it, the magic and version are
 * checked before it. */
Test(corrupt, every_header_bit_flip_is_refused)
{
	const char *name;
	hl_arena *a = arena_small(&name, 4 * MiB, 4096);
	hl_id ids[4];
	commit_gens(a, ids, 4, 1);
	unsigned char *h = (unsigned char *)a->hdr;
	for (unsigned bit = 0; bit < HL_HDR_CHECKSUMMED_TO * 8 + 64; bit++) {
		h[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		int rc = attach_rc(name, HL_RDONLY);
		cr_assert(rc == HL_ECORRUPT || rc == HL_EVERSION,
			  "header bit %u flipped: attach answered %s", bit,
			  hl_strerror(rc));
		if (bit % 97 == 0)
			cr_assert_neq(attach_rc(name, 0), 0, "bit %u, read-write", bit);
		h[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	}
	cr_assert_eq(attach_rc(name, 0), 0);
	verify_gens(a, ids, 4, 1, false, "after the flips");
	hl_arena_close(a);
}

/* A fresh arena whose free lists hold the tails of a closed process's
 * slabs, with GENS snapshots of generation 10 + i. */
static hl_arena *arena_with_free_lists(const char **name, hl_id *ids)
{
	hl_arena *a = arena_small(name, 4 * MiB, 4096), *b;
	cr_assert_eq(hl_arena_attach(*name, 0, &b), 0);
	commit_gens(b, ids, GENS, 10);
	hl_arena_close(b); /* pushes its slabs' tails */
	return a;
}

/* Commits through a fresh handle with the head of class cls set to top:
 * each commit may fail, none may overwrite an old snapshot. */
static void commit_over_damaged_head(const char *what, uint64_t top_xor,
				     uint64_t top_set, int which)
{
	const char *name;
	hl_id old[GENS], fresh[GENS];
	hl_arena *a = arena_with_free_lists(&name, old), *b;
	unsigned cls = which == 0 ? a->class_leaf : which == 1 ? a->class_inner
							       : a->class_root;
	uint64_t *top = &a->hdr->free_list[cls].head.top;
	cr_assert_neq(*top, 0, "class %u has a free list", cls);
	*top = top_set ? top_set : *top ^ top_xor;
	cr_assert_eq(hl_arena_attach(name, 0, &b), 0);
	static unsigned char buf[STATE_BYTES];
	hl_state *s;
	cr_assert_eq(hl_state_new(b, &s), 0);
	for (unsigned i = 0; i < GENS; i++) {
		fill_state(s, STATE_BYTES, 700 + i, buf);
		int rc = hl_commit(s, &fresh[i], NULL);
		cr_assert(rc == 0 || rc == HL_ECORRUPT, "%s: commit: %s", what,
			  hl_strerror(rc));
		if (rc == 0)
			verify_gens(b, &fresh[i], 1, 700 + i, false, what);
	}
	hl_state_free(s);
	verify_gens(b, old, GENS, 10, false, what);
	hl_arena_close(b);
	hl_arena_close(a);
	tu_unlink_all(); /* one arena per damage: keep the name table small */
}

/* A free-list head damaged to name a live node (a valid object boundary
 * of the right class) made the next allocation overwrite that node: old
 * snapshots read back new bytes. Free objects now carry a mark that live
 * ones never do. Every bit of the three node classes' heads, and heads set
 * to exactly a live leaf, inner node and root. */
Test(corrupt, a_damaged_free_list_head_never_hands_out_a_live_node,
     .timeout = 240)
{
	char what[96];
	for (int which = 0; which < 3; which++)
		for (unsigned bit = 5; bit < 48; bit++) {
			snprintf(what, sizeof what, "class kind %d, top bit %u", which, bit);
			commit_over_damaged_head(what, 1ull << bit, 0, which);
		}
	/* aim each head at a live node of its class */
	const char *name;
	hl_id ids[GENS];
	hl_arena *a = arena_with_free_lists(&name, ids);
	uint64_t root = 0;
	cr_assert_eq(hl_index_lookup(a, ids[0], &root), 0);
	const struct hl_root_payload *rp = (const void *)hl_node_at(a, root)->payload;
	uint64_t inner = rp->top_off;
	uint64_t leaf = *(const uint64_t *)hl_node_at(a, inner)->payload;
	hl_arena_close(a);
	tu_unlink_all();
	commit_over_damaged_head("leaf head at a live leaf", 0, leaf, 0);
	commit_over_damaged_head("inner head at a live inner node", 0, inner, 1);
	commit_over_damaged_head("root head at a live root", 0, root, 2);
}
/* The node offsets of snapshot k's tree: root, top inner node, its
 * children (up to 4: leaves); returns how many. */
static unsigned tree_nodes(hl_arena *a, hl_id id, uint64_t *off)
{
	unsigned n = 0;
	cr_assert_eq(hl_index_lookup(a, id, &off[n]), 0);
	const struct hl_node *root = hl_node_at(a, off[n++]);
	uint64_t inner = ((const struct hl_root_payload *)root->payload)->top_off;
	off[n++] = inner;
	const struct hl_node *in = hl_node_at(a, inner);
	for (unsigned c = 0; c < in->count && c < 4; c++)
		off[n++] = ((const uint64_t *)in->payload)[c];
	return n;
}

/* Restores and reads every snapshot: returns how many read back wrong
 * bytes (errors are allowed and not counted). */
static unsigned wrong_gens(hl_arena *a, const hl_id *ids, unsigned n,
			   uint32_t first_gen)
{
	static unsigned char buf[STATE_BYTES];
	hl_state *s;
	unsigned wrong = 0;
	cr_assert_eq(hl_state_new(a, &s), 0);
	for (unsigned i = 0; i < n; i++)
		if (hl_restore(s, ids[i]) == 0 &&
		    hl_state_read(s, 0, buf, STATE_BYTES) == 0 &&
		    (hl_state_size(s) != STATE_BYTES ||
		     tu_pattern_check(buf, 0, STATE_BYTES, first_gen + i) != -1))
			wrong++;
	hl_state_free(s);
	return wrong;
}

/* Every bit of the index entries naming snapshot roots, and every bit of
 * the node headers of one snapshot's tree (hash, kind, level, count,
 * length, size): each call then answers an error or the right bytes. The
 * index confirms a tag by the node's own hash, and every node is checked
 * for kind and level before it is followed. A node's payload is not
 * rehashed on read (restore is O(1)): a flipped payload bit may read back
 * wrong bytes, and then hl_arena_check must say so. */
Test(corrupt, index_and_node_flips_answer_errors_or_right_bytes,
     .timeout = 240)
{
	const char *name;
	hl_arena *a = arena_small(&name, 8 * MiB, 4096);
	hl_id ids[GENS];
	commit_gens(a, ids, GENS, 200);
	char msg[256], what[96];

	/* index entries: find each root's entry word */
	struct hl_bucket *b = hl_at(a, hl_region(a, HL_REGION_INDEX)->off);
	for (unsigned k = 0; k < GENS; k += 5) {
		uint64_t root;
		cr_assert_eq(hl_index_lookup(a, ids[k], &root), 0);
		_Atomic uint64_t *entry = NULL;
		for (uint64_t i = 0; i < a->hdr->index_buckets && !entry; i++)
			for (unsigned j = 0; j < HL_BUCKET_ENTRIES; j++)
				if ((atomic_load(&b[i].entry[j]) & HL_ENTRY_OFF_MASK) ==
				    root / HL_HEAP_ALIGN)
					entry = &b[i].entry[j];
		cr_assert_not_null(entry);
		uint64_t saved = atomic_load(entry);
		for (unsigned bit = 0; bit < 64; bit++) {
			atomic_store(entry, saved ^ (1ull << bit));
			cr_assert_eq(wrong_gens(a, ids, GENS, 200), 0,
				     "index entry of snapshot %u, bit %u", k, bit);
		}
		atomic_store(entry, saved);
	}

	/* node headers of snapshot 3's tree */
	uint64_t nodes[6];
	unsigned n = tree_nodes(a, ids[3], nodes);
	for (unsigned i = 0; i < n; i++) {
		unsigned char *h = hl_at(a, nodes[i]);
		for (unsigned bit = 0; bit < 32 * 8; bit++) {
			h[bit / 8] ^= (unsigned char)(1u << (bit % 8));
			snprintf(what, sizeof what, "node %u header bit %u", i, bit);
			cr_assert_eq(wrong_gens(a, ids, GENS, 200), 0, "%s", what);
			/* hash, kind, level, length, and a root's size; a
			 * leaf's count and a non-root's aux are never read */
			unsigned byte = bit / 8;
			bool used = byte < 18 || (byte >= 20 && byte < 24) ||
				    (i == 0 && byte >= 24) ||
				    (i == 1 && byte >= 18 && byte < 20);
			if (used)
				cr_assert_eq(check_rc(a, msg, sizeof msg), HL_ECORRUPT,
					     "%s: the checker passed it", what);
			h[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		}
	}
	tu_assert_arena_ok(a, "after header flips");

	/* payload bits: wrong bytes only ever with a checker that sees them */
	struct tu_rng r;
	tu_rng_seed(&r, 8);
	for (unsigned t = 0; t < 256; t++) {
		unsigned i = (unsigned)tu_rng_below(&r, n);
		const struct hl_node *nd = hl_node_at(a, nodes[i]);
		uint64_t bit = tu_rng_below(&r, (uint64_t)nd->payload_bytes * 8);
		unsigned char *p = hl_at(a, nodes[i] + sizeof *nd);
		p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		unsigned wrong = wrong_gens(a, ids, GENS, 200);
		if (wrong)
			cr_assert_eq(check_rc(a, msg, sizeof msg), HL_ECORRUPT,
				     "node %u payload bit %llu: %u wrong snapshots "
				     "and the checker passed", i,
				     (unsigned long long)bit, wrong);
		p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	}
	tu_assert_arena_ok(a, "after payload flips");
	hl_arena_close(a);
}

/* ---- the fuzz corpus and the inputs the fuzzer found ------------------------ */

#include <dirent.h>

#include "fuzz_arena.h"

/* Runs every file of HL_FUZZ_DIR/<kind>/<target> through the fuzz
 * harness: the same code the libFuzzer targets run, here under the normal
 * build (and the sanitizer build). A crash, an assertion or a broken
 * promise (the harness aborts) fails the test. Returns the file count. */
static unsigned replay_dir(const char *kind, const char *target,
			   enum hl_fuzz_target t)
{
	char dir[512], path[1024];
	static uint8_t buf[1 << 20];
	unsigned n = 0;
	snprintf(dir, sizeof dir, "%s/%s/%s", HL_FUZZ_DIR, kind, target);
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		cr_assert_not_null(f, "%s", path);
		size_t len = fread(buf, 1, sizeof buf, f);
		fclose(f);
		hl_fuzz_one(t, buf, len);
		n++;
	}
	closedir(d);
	return n;
}

Test(corrupt, fuzz_corpus_and_regressions_replay_cleanly, .timeout = 300)
{
	cr_assert_eq(hl_fuzz_init(HL_FUZZ_ATTACH), 0);
	unsigned seeds = replay_dir("corpus", "attach", HL_FUZZ_ATTACH) +
			 replay_dir("corpus", "heap", HL_FUZZ_HEAP);
	unsigned found = replay_dir("regressions", "attach", HL_FUZZ_ATTACH) +
			 replay_dir("regressions", "heap", HL_FUZZ_HEAP);
	cr_assert_gt(seeds, 0, "no seed corpus under %s", HL_FUZZ_DIR);
	cr_log_info("replayed %u seeds and %u regression inputs", seeds, found);
	hl_fuzz_fini();
}
