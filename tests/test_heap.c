/*
 * test_heap.c - the shared heap (shm/heap.c) and the NUMA helpers
 * (shm/numa.c), against real arenas.
 *
 * Every object a test allocates is filled with a self-checking pattern: each
 * 8-byte word encodes the object's offset, the word's index and a
 * generation, so an overlap, a double hand-out or a stray write shows up as
 * a wrong word on read-back (heap_util.h). Processes allocating at once
 * are test_heap_mp.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"
#include "heap_util.h"
#include "slabs.h"

TestSuite(heap, .fini = unlink_all);

/* ---- the class table ------------------------------------------------------- */

static void check_layout(uint32_t chunk)
{
	struct hl_arena_hdr hdr;
	memset(&hdr, 0, sizeof hdr);
	hdr.page_bytes = HL_PAGE_BYTES;
	hl_heap_layout(&hdr, chunk);

	uint32_t leaf = (uint32_t)hl_align_up(32 + chunk, HL_HEAP_ALIGN);
	uint32_t inner = (uint32_t)hl_align_up(32 + HL_FANOUT * 8, HL_HEAP_ALIGN);
	uint64_t largest = 0;

	cr_assert_eq(hdr.slab_unit_bytes, HL_SLAB_BYTES_MIN);
	cr_assert(hdr.class_count >= 1 && hdr.class_count <= HL_CLASSES_MAX);
	for (uint32_t i = 0; i < hdr.class_count; i++) {
		uint32_t b = hdr.class_bytes[i];
		/* each class its own slab: 16 objects, a power of two, >= a unit */
		uint64_t slab = hl_pow2_ceil((uint64_t)HL_SLAB_OBJECTS_MIN * b);
		if (slab < HL_SLAB_BYTES_MIN)
			slab = HL_SLAB_BYTES_MIN;
		cr_assert(b > 0 && b % HL_HEAP_ALIGN == 0, "class %u: %u", i, b);
		cr_assert(i == 0 || b > hdr.class_bytes[i - 1],
			  "chunk %u: classes not strictly ascending at %u", chunk, i);
		cr_assert_eq(hdr.class_slab_bytes[i], slab, "chunk %u class %u: slab %u",
			     chunk, i, hdr.class_slab_bytes[i]);
		largest = slab > largest ? slab : largest;
	}
	cr_assert_eq(hdr.slab_bytes, largest, "chunk %u: slab_bytes is the largest",
		     chunk);
	cr_assert_eq(hdr.slab_bytes % HL_PAGE_BYTES, 0);
	for (uint32_t i = hdr.class_count; i < HL_CLASSES_MAX; i++)
		cr_assert_eq(hdr.class_bytes[i], 0);

	/* exact classes for the three node kinds */
	int c = hl_heap_class_of(&hdr, 32 + chunk);
	cr_assert(c >= 0 && hdr.class_bytes[c] == leaf, "chunk %u: leaf class", chunk);
	c = hl_heap_class_of(&hdr, 32 + HL_FANOUT * 8);
	cr_assert(c >= 0 && hdr.class_bytes[c] == inner);
	cr_assert_eq(inner, 160);
	c = hl_heap_class_of(&hdr, 32 + 24);
	cr_assert(c >= 0 && hdr.class_bytes[c] == 64);
	/* generic powers of two, 32 B .. 4 KiB */
	for (uint32_t b = 64; b <= 4096; b *= 2) {
		c = hl_heap_class_of(&hdr, b);
		cr_assert(c >= 0 && hdr.class_bytes[c] == b, "chunk %u: no class %u",
			  chunk, b);
	}
	/* smallest fitting class; nothing past the largest */
	cr_assert_eq(hl_heap_class_of(&hdr, 1), 0);
	uint32_t want[] = {sizeof(struct hl_ref_name), 65};
	for (unsigned k = 0; k < 2; k++) {
		c = hl_heap_class_of(&hdr, want[k]);
		cr_assert(c >= 0 && hdr.class_bytes[c] >= want[k] &&
			  (c == 0 || hdr.class_bytes[c - 1] < want[k]),
			  "chunk %u: %u bytes got class %d", chunk, want[k], c);
	}
	cr_assert_eq(hl_heap_class_of(&hdr, hdr.class_bytes[hdr.class_count - 1] + 1),
		     -1);
}

Test(heap, layout_class_table)
{
	check_layout(64);
	check_layout(4096);
	check_layout(65536);
	check_layout(1u << 20);
}

Test(heap, arena_handle_gets_exact_classes)
{
	static const uint32_t chunks[] = { 64, 4096, 65536 };
	for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
		hl_arena *a = arena_new(32u << 20, chunks[i], NULL);
		const uint32_t *cb = a->hdr->class_bytes;
		cr_assert_eq(cb[a->class_leaf], hl_align_up(32 + chunks[i], HL_HEAP_ALIGN));
		cr_assert_eq(cb[a->class_inner], 160);
		cr_assert_eq(cb[a->class_root], 64);
		cr_assert_eq(a->hdr->regions[HL_REGION_HEAP].off % HL_PAGE_BYTES, 0);
		cr_assert_eq(hl_heap_used(a), 0);
		assert_heap_ok(a);
		hl_arena_close(a);
	}
}

/* ---- allocation ------------------------------------------------------------ */

#define MANY 4000

Test(heap, allocations_are_aligned_distinct_and_writable)
{
	hl_arena *a = arena_new(32u << 20, 4096, NULL);
	static struct obj objs[MANY];
	uint64_t rng = 42;
	size_t n = 0;

	for (; n < MANY; n++) {
		unsigned cls = (unsigned)(rng_next(&rng) % a->hdr->class_count);
		int rc = alloc_obj(a, cls, n, &objs[n]);
		cr_assert_eq(rc, 0, "alloc %zu class %u: %s", n, cls, hl_strerror(rc));
		cr_assert(obj_placed_ok(a, &objs[n]), "object %llu misplaced",
			  (unsigned long long)objs[n].off);
		cr_assert_eq(slab_map_of(a)[slab_index_of(a, objs[n].off)] & 31, cls + 1,
			     "slab map does not record class %u", cls);
	}
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(obj_bad_word(a, &objs[i]), -1, "object %zu overwritten", i);
	long o = objs_overlap(objs, n);
	cr_assert_eq(o, -1, "objects at %llu and %llu overlap",
		     (unsigned long long)objs[o < 0 ? 0 : o].off,
		     (unsigned long long)objs[o < 0 ? 0 : o + 1].off);
	cr_assert_eq(hl_heap_used(a), heap_next(a));
	cr_assert_eq(hl_heap_used(a) % a->hdr->slab_unit_bytes, 0);
	assert_heap_ok(a);
	hl_arena_close(a);
}

Test(heap, free_of_last_bump_rewinds)
{
	hl_arena *a = arena_new(8u << 20, 4096, NULL);
	unsigned cls = a->class_leaf;
	struct obj x, y;

	cr_assert_eq(alloc_obj(a, cls, 1, &x), 0);
	uint64_t cur = a->slot->slab[cls].cur;
	cr_assert_eq(cur, x.off + x.bytes);
	hl_heap_free(a, cls, x.off);
	cr_assert_eq(a->slot->slab[cls].cur, x.off, "cursor not rewound");
	cr_assert_eq(a->hdr->free_list[cls].head.top, 0,
		     "a rewound object must not also be on the free list");
	cr_assert_eq(alloc_obj(a, cls, 2, &y), 0);
	cr_assert_eq(y.off, x.off, "rewound object not handed out again");
	cr_assert_eq(heap_next(a), class_slab(a, cls), "a second slab was taken");
	assert_heap_ok(a);
	hl_arena_close(a);
}

Test(heap, free_list_is_reused_lifo)
{
	hl_arena *a = arena_new(8u << 20, 4096, NULL);
	unsigned cls = a->class_inner;
	struct obj o[4], r;

	for (int i = 0; i < 4; i++)
		cr_assert_eq(alloc_obj(a, cls, (uint64_t)i, &o[i]), 0);
	/* not the last bump: these go on the free list */
	hl_heap_free(a, cls, o[0].off);
	hl_heap_free(a, cls, o[2].off);
	cr_assert_eq(a->slot->slab[cls].cur, o[3].off + o[3].bytes);
	assert_heap_ok(a);

	uint64_t cur = a->slot->slab[cls].cur;
	cr_assert_eq(alloc_obj(a, cls, 10, &r), 0);
	cr_assert_eq(r.off, o[2].off, "free list is not popped first (LIFO)");
	cr_assert_eq(alloc_obj(a, cls, 11, &r), 0);
	cr_assert_eq(r.off, o[0].off);
	cr_assert_eq(a->slot->slab[cls].cur, cur, "cursor moved while the list had objects");
	cr_assert_eq(alloc_obj(a, cls, 12, &r), 0);
	cr_assert_eq(r.off, cur, "empty free list: bump next");
	cr_assert_eq(obj_bad_word(a, &o[1]), -1);
	cr_assert_eq(obj_bad_word(a, &o[3]), -1);
	assert_heap_ok(a);
	hl_arena_close(a);
}

/* The collector's batch: every valid object of the batch goes on the list
 * (in the batch's order, before what was there), one object that is not
 * a valid one of the class is left out, and each comes back exactly once. */
Test(heap, a_batch_goes_on_the_list_in_order_before_the_old_top)
{
	hl_arena *a = arena_new(8u << 20, 4096, NULL);
	unsigned cls = a->class_inner;
	struct obj o[8], r;
	for (int i = 0; i < 8; i++)
		cr_assert_eq(alloc_obj(a, cls, (uint64_t)i, &o[i]), 0);
	hl_heap_free(a, cls, o[0].off); /* the old top */
	uint64_t batch[5] = {o[2].off, o[4].off, o[3].off + 8 /* not an object */,
			     o[6].off, o[5].off};
	hl_heap_free_batch(a, cls, batch, 5);
	assert_heap_ok(a);
	uint64_t want[5] = {o[2].off, o[4].off, o[6].off, o[5].off, o[0].off};
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(alloc_obj(a, cls, 20 + (uint64_t)i, &r), 0);
		cr_assert_eq(r.off, want[i], "pop %d: %#llx, not %#llx", i,
			     (unsigned long long)r.off, (unsigned long long)want[i]);
	}
	uint64_t cur = a->slot->slab[cls].cur;
	cr_assert_eq(alloc_obj(a, cls, 30, &r), 0);
	cr_assert_eq(r.off, cur, "the list held more than the batch and the old top");
	cr_assert_eq(obj_bad_word(a, &o[1]), -1);
	cr_assert_eq(obj_bad_word(a, &o[3]), -1, "an object outside the batch was touched");
	cr_assert_eq(obj_bad_word(a, &o[7]), -1);
	hl_heap_free_batch(a, cls, batch, 0); /* nothing: no change */
	assert_heap_ok(a);
	hl_arena_close(a);
}

Test(heap, object_freed_by_another_handle_is_reused)
{
	const char *name;
	hl_arena *a = arena_new(8u << 20, 4096, &name), *b = NULL;
	unsigned cls = a->class_leaf;
	struct obj x, y;

	cr_assert_eq(hl_arena_attach(name, 0, &b), 0);
	cr_assert_eq(alloc_obj(a, cls, 1, &x), 0);
	hl_heap_free(b, cls, x.off); /* not b's cursor: pushed */
	cr_assert_eq(a->slot->slab[cls].cur, x.off + x.bytes);
	cr_assert_eq(alloc_obj(b, cls, 2, &y), 0);
	cr_assert_eq(y.off, x.off, "another slot's free object not reused");
	cr_assert_eq(heap_next(a), class_slab(a, cls), "b took a slab it did not need");
	assert_heap_ok(a);
	hl_arena_close(b);
	hl_arena_close(a);
}

Test(heap, slab_grab_when_slab_is_used_up)
{
	hl_arena *a = arena_new(8u << 20, 4096, NULL);
	unsigned cls = a->class_leaf;
	uint64_t size = a->hdr->class_bytes[cls], slab = class_slab(a, cls);
	uint64_t per_slab = slab / size;
	struct obj o;

	for (uint64_t i = 0; i < per_slab; i++)
		cr_assert_eq(alloc_obj(a, cls, i, &o), 0);
	cr_assert_eq(heap_next(a), slab);
	cr_assert_eq(alloc_obj(a, cls, 99, &o), 0);
	cr_assert_eq(heap_next(a), 2 * slab, "no new slab after the first filled");
	cr_assert_eq(o.off, a->hdr->regions[HL_REGION_HEAP].off + slab);
	cr_assert_eq(a->slot->slab[cls].end, o.off + slab);
	assert_heap_ok(a);
	hl_arena_close(a);
}

/* ---- a full heap ----------------------------------------------------------- */

/* An arena of `bytes` with the least of everything but its heap, to fill. */
static hl_arena *arena_new_heap_only(uint64_t bytes, uint32_t chunk)
{
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.arena_bytes = bytes;
	cfg.chunk_bytes = chunk;
	cfg.max_processes = 4;
	cfg.refs_capacity = HL_REFS_MIN;
	cfg.index_capacity = HL_INDEX_ENTRIES_MIN;
	return arena_new_cfg(&cfg, NULL);
}

/* 2 MiB, 64-byte chunks: every class's slab is one unit. */
static hl_arena *arena_new_small_heap(void)
{
	return arena_new_heap_only(2u << 20, 64);
}

/* Fills the heap with class cls's objects (objs[0..*n)), to HL_EFULL. */
static void fill_class(hl_arena *a, unsigned cls, struct obj *objs, size_t *n)
{
	int rc = 0;
	*n = 0;
	while (*n < FULL_MAX && (rc = alloc_obj(a, cls, *n, &objs[*n])) == 0)
		(*n)++;
	cr_assert_eq(rc, HL_EFULL, "after %zu objects: %s", *n, hl_strerror(rc));
}

Test(heap, exhausted_heap_reports_full_and_keeps_objects)
{
	hl_arena *a = arena_new_small_heap();
	static struct obj objs[FULL_MAX];
	unsigned big = (unsigned)hl_heap_class_of(a->hdr, 4096);
	unsigned small = a->class_root;
	size_t n = 0;
	int rc = 0;

	/* one object of the small class first, so it owns a slab with room */
	cr_assert_eq(alloc_obj(a, small, 0, &objs[n++]), 0);
	while (n < FULL_MAX && (rc = alloc_obj(a, big, n, &objs[n])) == 0)
		n++;
	cr_assert_eq(rc, HL_EFULL, "after %zu objects: %s", n, hl_strerror(rc));
	uint64_t heap_bytes = a->hdr->regions[HL_REGION_HEAP].bytes;
	/* full: less than one big-class slab is left */
	cr_assert_gt(hl_heap_used(a) + class_slab(a, big), heap_bytes,
		     "full heap reports %llu of %llu",
		     (unsigned long long)hl_heap_used(a),
		     (unsigned long long)heap_bytes);
	uint64_t next = heap_next(a);
	cr_assert_eq(alloc_obj(a, big, 0, &objs[n]), HL_EFULL, "EFULL not sticky");
	cr_assert_eq(heap_next(a), next, "a refused grab moved heap_next again");
	assert_heap_ok(a);

	/* the small class still has room in its slab */
	cr_assert_eq(alloc_obj(a, small, n, &objs[n]), 0);
	n++;
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(obj_bad_word(a, &objs[i]), -1, "object %zu damaged", i);

	/* a freed object makes room again */
	struct obj r;
	hl_heap_free(a, big, objs[1].off);
	cr_assert_eq(alloc_obj(a, big, 7777, &r), 0);
	cr_assert_eq(r.off, objs[1].off);
	objs[1] = r;
	cr_assert_eq(objs_overlap(objs, n), -1);
	assert_heap_ok(a);
	hl_arena_close(a);
}

/* Fills the heap with class x (objs[0..*n)); then class y finds it full
 * and says it starves; then every object of x but the first is freed and
 * the collector's release runs for y. Returns what it moved. */
static uint64_t fill_starve_free_release(hl_arena *a, unsigned x, struct obj *objs,
					 size_t *n, unsigned y)
{
	fill_class(a, x, objs, n);
	struct obj o;
	cr_assert_eq(alloc_obj(a, y, 0, &o), HL_EFULL, "class %u found room in a full heap", y);
	cr_assert(a->hdr->heap_starved & (1u << y), "class %u's starving is not said", y);
	for (size_t i = *n; i-- > 1;)
		hl_heap_free(a, x, objs[i].off);
	return hl_heap_release_slabs(a, 1u << y);
}

/* Slab release (heap.c): slabs whose objects are all free go to the pool
 * and another one-unit class grabs them; objects still held keep theirs;
 * a releaser that died with a class's list taken is given back. */
Test(heap, released_slabs_change_class_and_held_objects_keep_theirs)
{
	hl_arena *a = arena_new_small_heap();
	static struct obj objs[FULL_MAX];
	unsigned x = (unsigned)hl_heap_class_of(a->hdr, 2048);
	unsigned y = (unsigned)hl_heap_class_of(a->hdr, 512);
	cr_assert_eq(class_slab(a, x), a->hdr->slab_unit_bytes);
	cr_assert_eq(class_slab(a, y), a->hdr->slab_unit_bytes);
	size_t n;
	uint64_t released = fill_starve_free_release(a, x, objs, &n, y);
	struct obj o;
	uint64_t per = a->hdr->slab_unit_bytes / hl_class_bytes(a->hdr, x);
	cr_assert_geq(released, 1, "nothing released");
	cr_assert_leq(released * per, n / 2, "more than half of x's free objects went");
	assert_heap_ok(a);
	cr_assert_eq(obj_bad_word(a, &objs[0]), -1, "a held object was disturbed");
	/* y takes the released slabs: as many objects as they hold, distinct */
	size_t got = 0;
	static struct obj ys[FULL_MAX];
	while (got < FULL_MAX && alloc_obj(a, y, got, &ys[got]) == 0)
		got++;
	uint64_t per_y = a->hdr->slab_unit_bytes / hl_class_bytes(a->hdr, y);
	cr_assert_eq(got, released * per_y, "y got %zu objects from %llu slabs", got,
		     (unsigned long long)released);
	cr_assert_eq(objs_overlap(ys, got), -1);
	for (size_t i = 0; i < got; i++)
		cr_assert_eq(obj_bad_word(a, &ys[i]), -1, "y object %zu damaged", i);
	cr_assert_eq(obj_bad_word(a, &objs[0]), -1);
	assert_heap_ok(a);
	/* x keeps the rest of its free objects */
	static struct obj xs[FULL_MAX];
	size_t back = 0;
	while (back < FULL_MAX && alloc_obj(a, x, 1000 + back, &xs[back]) == 0)
		back++;
	cr_assert_eq(back + released * per, n - 1, "x lost objects: %zu back", back);
	/* a releaser that died with x's list taken off (release_class's first
	 * steps, by hand): its successor gives the chain back */
	cr_assert_geq(back, 8);
	for (size_t i = 0; i < 8; i++)
		hl_heap_free(a, x, xs[i].off);
	struct hl_free_head *h = &a->hdr->free_list[x].head;
	uint64_t top = h->top;
	cr_assert_neq(top, 0);
	h->top = 0;
	h->tag++;
	atomic_store(&a->hdr->free_taken[x], top);
	cr_assert_eq(alloc_obj(a, x, 0, &o), HL_EFULL, "the taken chain was reachable");
	hl_heap_return_taken(a);
	cr_assert_eq(atomic_load(&a->hdr->free_taken[x]), 0);
	for (size_t i = 0; i < 8; i++)
		cr_assert_eq(alloc_obj(a, x, 2000 + i, &xs[i]), 0, "object %zu not given back", i);
	cr_assert_eq(alloc_obj(a, x, 0, &o), HL_EFULL);
	assert_heap_ok(a);
	hl_arena_close(a);
}

/* 4 KiB chunks: the leaf class's slabs are two units (4128-byte leaves),
 * so a unit given back alone serves one-unit classes, and leaves need two
 * adjacent ones. */
static hl_arena *arena_new_leaf_heap(void)
{
	hl_arena *a = arena_new_heap_only(4u << 20, 4096);
	cr_assert_eq(class_slab(a, a->class_leaf), 2 * a->hdr->slab_unit_bytes);
	return a;
}

/* A heap carved full of one-unit slabs, all free but one object: the leaf
 * class (two-unit slabs) starves, and the collector's release assembles
 * leaf slabs from the units the other class gave back. Before, slabs of
 * several units were neither released nor assembled: the leaves stayed
 * refused in a heap that was all free. */
Test(heap, leaves_get_slabs_assembled_from_units_another_class_gave_back)
{
	hl_arena *a = arena_new_leaf_heap();
	static struct obj objs[FULL_MAX], leaves[FULL_MAX];
	unsigned x = (unsigned)hl_heap_class_of(a->hdr, 2048), leaf = a->class_leaf;
	cr_assert_eq(class_slab(a, x), a->hdr->slab_unit_bytes);
	size_t n;
	uint64_t moved = fill_starve_free_release(a, x, objs, &n, leaf);
	assert_heap_ok(a);
	cr_assert_eq(obj_bad_word(a, &objs[0]), -1, "a held object was disturbed");
	size_t got = 0;
	while (got < FULL_MAX && alloc_obj(a, leaf, got, &leaves[got]) == 0)
		got++;
	uint64_t per_leaf = class_slab(a, leaf) / hl_class_bytes(a->hdr, leaf);
	cr_assert_gt(got, 0, "no leaf slab was assembled (%llu moved)",
		     (unsigned long long)moved);
	cr_assert_eq(got % per_leaf, 0, "%zu leaves: not whole slabs", got);
	cr_assert_eq(objs_overlap(leaves, got), -1);
	for (size_t i = 0; i < got; i++)
		cr_assert_eq(obj_bad_word(a, &leaves[i]), -1, "leaf %zu damaged", i);
	cr_assert_eq(obj_bad_word(a, &objs[0]), -1);
	/* moved counts x's released slabs and the leaf slabs assembled */
	uint64_t assembled = got / per_leaf;
	cr_assert_gt(moved, assembled, "%llu moved, %llu assembled",
		     (unsigned long long)moved, (unsigned long long)assembled);
	/* x gets everything else back, from its list and the pool's units
	 * the leaves did not take: all but two units a leaf slab */
	uint64_t per_x = a->hdr->slab_unit_bytes / hl_class_bytes(a->hdr, x);
	static struct obj xs[FULL_MAX];
	size_t back = 0;
	while (back < FULL_MAX && alloc_obj(a, x, 1000 + back, &xs[back]) == 0)
		back++;
	cr_assert_eq(back, n - 1 - 2 * assembled * per_x,
		     "x has %zu back, %llu leaf slabs assembled, of %zu", back,
		     (unsigned long long)assembled, n);
	assert_heap_ok(a);
	hl_arena_close(a);
}

/* The other way: a heap of leaf slabs, all free but one leaf; a one-unit
 * class that starves gets each released leaf slab as two slabs of its own. */
Test(heap, released_leaf_slabs_serve_a_one_unit_class_unit_by_unit)
{
	hl_arena *a = arena_new_leaf_heap();
	static struct obj leaves[FULL_MAX], ys[FULL_MAX];
	unsigned leaf = a->class_leaf, y = (unsigned)hl_heap_class_of(a->hdr, 512);
	size_t n;
	fill_class(a, leaf, leaves, &n);
	struct obj o;
	cr_assert_eq(alloc_obj(a, y, 0, &o), HL_EFULL, "y found room in a full heap");
	for (size_t i = n; i-- > 1;)
		hl_heap_free(a, leaf, leaves[i].off);
	uint64_t released = hl_heap_release_slabs(a, 1u << y);
	cr_assert_geq(released, 1, "no leaf slab released");
	assert_heap_ok(a);
	size_t got = 0;
	while (got < FULL_MAX && alloc_obj(a, y, got, &ys[got]) == 0)
		got++;
	uint64_t per_y = a->hdr->slab_unit_bytes / hl_class_bytes(a->hdr, y);
	cr_assert_eq(got, released * 2 * per_y, "y got %zu objects from %llu leaf slabs",
		     got, (unsigned long long)released);
	cr_assert_eq(objs_overlap(ys, got), -1);
	for (size_t i = 0; i < got; i++)
		cr_assert_eq(obj_bad_word(a, &ys[i]), -1, "y object %zu damaged", i);
	cr_assert_eq(obj_bad_word(a, &leaves[0]), -1, "a held leaf was disturbed");
	assert_heap_ok(a);
	hl_arena_close(a);
}

/* An assembler that died with the pool taken off (assemble's first steps,
 * by hand): its successor gives the units back. */
Test(heap, a_pool_taken_by_a_dead_assembler_is_given_back)
{
	hl_arena *a = arena_new_leaf_heap();
	static struct obj leaves[FULL_MAX];
	unsigned leaf = a->class_leaf, y = (unsigned)hl_heap_class_of(a->hdr, 512);
	size_t n;
	fill_class(a, leaf, leaves, &n);
	for (size_t i = n; i-- > 1;)
		hl_heap_free(a, leaf, leaves[i].off);
	uint64_t released = hl_heap_release_slabs(a, 1u << y);
	cr_assert_geq(released, 1);
	struct hl_free_head *h = &a->hdr->free_slabs;
	uint64_t top = h->top;
	cr_assert_neq(top, 0, "nothing in the pool");
	h->top = 0;
	h->tag++;
	atomic_store(&a->hdr->pool_taken, top);
	struct obj o;
	cr_assert_eq(alloc_obj(a, y, 0, &o), HL_EFULL, "the taken pool was reachable");
	hl_heap_return_taken(a);
	cr_assert_eq(atomic_load(&a->hdr->pool_taken), 0);
	cr_assert_eq(alloc_obj(a, y, 0, &o), 0, "the pool was not given back");
	assert_heap_ok(a);
	hl_arena_close(a);
}

/* Frees a random share (per 1000) of held[0..*n). */
static void free_share(hl_arena *a, struct obj *held, size_t *n, unsigned per_mille,
		       uint64_t *rng)
{
	for (size_t i = 0; i < *n;) {
		if (rng_next(rng) % 1000 >= per_mille) {
			i++;
			continue;
		}
		cr_assert_eq(obj_bad_word(a, &held[i]), -1, "held object damaged");
		int c = hl_heap_class_of(a->hdr, held[i].bytes);
		hl_heap_free(a, (unsigned)c, held[i].off);
		held[i] = held[--*n];
	}
}

/* A model run of a shifting mix: rounds that allocate leaves (two-unit
 * slabs) or a random mix of three one-unit classes until the heap refuses
 * (a collector's release with the classes that starved, and a retry, at
 * each refusal), then free a random 99% of everything held (garbage comes in
 * generations: most of a slab dies together). Each round's
 * classes find most of the heap, every object held keeps its bytes, none
 * overlaps another, and the heap's invariants hold after every release.
 * Before slabs of several units moved, the third round's leaves found
 * only what the first round's leaf slabs had kept. */
Test(heap, slabs_move_between_classes_as_the_mix_shifts)
{
	hl_arena *a = arena_new_leaf_heap();
	static struct obj held[FULL_MAX];
	size_t n = 0;
	unsigned small[3] = {(unsigned)hl_heap_class_of(a->hdr, 512),
			     (unsigned)hl_heap_class_of(a->hdr, 2048), a->class_root};
	uint64_t rng = 0x5eed1234abcdull, heap = a->hdr->regions[HL_REGION_HEAP].bytes;
	for (unsigned round = 0; round < 6; round++) {
		bool leaves = round % 2 == 0;
		uint64_t bytes = 0;
		for (unsigned refused = 0; refused < 8 && n < FULL_MAX;) {
			unsigned c = leaves ? a->class_leaf : small[rng_next(&rng) % 3];
			int rc = alloc_obj(a, c, round * 100000 + n, &held[n]);
			if (rc == 0) {
				bytes += held[n++].bytes;
				refused = 0;
				continue;
			}
			cr_assert_eq(rc, HL_EFULL, "%s", hl_strerror(rc));
			refused++;
			uint32_t starved = atomic_exchange(&a->hdr->heap_starved, 0);
			if (starved)
				(void)hl_heap_release_slabs(a, starved);
			assert_heap_ok(a);
		}
		/* a good part of the heap: the last round left a hundredth held,
		 * a release gives at most half a class's free part at a time
		 * (refusals in a row let them add up), and leaves need two
		 * adjacent units, which the small rounds' scattered slabs give
		 * back less and less often (here: 98, 82, 59, 79, 46, 79% of the
		 * heap; without slabs of several units moving, round 1 found
		 * nothing) */
		cr_assert_gt(bytes, heap / 4, "round %u (%s) found %llu of %llu bytes", round,
			     leaves ? "leaves" : "small", (unsigned long long)bytes,
			     (unsigned long long)heap);
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(obj_bad_word(a, &held[i]), -1, "round %u: held %zu", round, i);
		free_share(a, held, &n, 990, &rng);
	}
	cr_assert_eq(objs_overlap(held, n), -1);
	assert_heap_ok(a);
	hl_arena_close(a);
}

Test(heap, heap_used_is_clamped_after_failed_grabs)
{
	hl_arena *a = arena_new(4u << 20, 4096, NULL);
	uint64_t heap_bytes = a->hdr->regions[HL_REGION_HEAP].bytes;

	/* what concurrent failed grabs leave behind */
	atomic_store(&a->hdr->heap_next, heap_bytes + 3 * a->hdr->slab_bytes);
	cr_assert_eq(hl_heap_used(a), heap_bytes);
	uint64_t off;
	cr_assert_eq(hl_heap_alloc(a, a->class_leaf, &off), HL_EFULL);
	assert_heap_ok(a);
	hl_arena_close(a);
}

/* ---- read-only handles ----------------------------------------------------- */

Test(heap, read_only_handle_cannot_allocate)
{
	const char *name;
	hl_arena *a = arena_new(8u << 20, 4096, &name), *ro = NULL;
	uint64_t off = 12345;

	cr_assert_eq(hl_arena_attach(name, HL_RDONLY, &ro), 0);
	cr_assert_eq(hl_heap_alloc(ro, ro->class_leaf, &off), HL_EROFS);
	cr_assert_eq(off, 12345, "output written on failure");
	cr_assert_eq(heap_next(a), 0);
	assert_heap_ok(ro); /* the checker only reads */
	hl_arena_close(ro);
	hl_arena_close(a);
}

/* ---- corruption ------------------------------------------------------------ */

Test(heap, checker_detects_corruption)
{
	const char *name;
	hl_arena *a = arena_new(8u << 20, 4096, &name);
	unsigned cls = a->class_leaf;
	struct hl_slab_cursor *c = &a->slot->slab[cls];
	struct hl_slab_cursor saved;
	struct obj o[3];
	uint16_t *map = slab_map_of(a);
	uint64_t *head = &a->hdr->free_list[cls].head.top;

	for (int i = 0; i < 3; i++)
		cr_assert_eq(alloc_obj(a, cls, (uint64_t)i, &o[i]), 0);
	hl_heap_free(a, cls, o[0].off); /* on the free list */
	assert_heap_ok(a);
	saved = *c;

	c->cur = c->end + HL_HEAP_ALIGN;
	assert_heap_corrupt(a, "cursor past its slab");
	*c = saved;
	c->cur = saved.cur + HL_HEAP_ALIGN;
	assert_heap_corrupt(a, "cursor off an object boundary");
	*c = saved;
	c->end = saved.end + class_slab(a, cls);
	assert_heap_corrupt(a, "cursor end in an unused slab");
	*c = saved;
	hl_slot_at(a, (uint32_t)(a->slot_index + 1) % a->hdr->max_processes)
		->slab[cls] = saved;
	assert_heap_corrupt(a, "two slots in one slab");
	memset(&hl_slot_at(a, (uint32_t)(a->slot_index + 1) % a->hdr->max_processes)
			->slab[cls],
	       0, sizeof saved);
	assert_heap_ok(a);

	uint64_t s = slab_index_of(a, o[0].off), past = heap_next(a) / a->hdr->slab_unit_bytes;
	uint16_t e = map[s];
	map[s] = (uint16_t)(a->hdr->class_count + 1);
	assert_heap_corrupt(a, "bad slab map entry");
	map[s] = e;
	map[s + 1] = (uint16_t)(e + (5u << 5));
	assert_heap_corrupt(a, "a slab's units out of order");
	map[s + 1] = (uint16_t)(e + (1u << 5));
	assert_heap_ok(a);
	map[past] = 1;
	assert_heap_corrupt(a, "slab mapped past heap_next");
	map[past] = 0;
	atomic_fetch_add(&a->hdr->heap_next, HL_HEAP_ALIGN);
	assert_heap_corrupt(a, "heap_next off a slab boundary");
	atomic_fetch_sub(&a->hdr->heap_next, HL_HEAP_ALIGN);
	assert_heap_ok(a);

	uint64_t h = *head;
	_Atomic uint64_t *next = hl_at(a, o[0].off);
	atomic_store(next, o[0].off);
	assert_heap_corrupt(a, "free list cycle");
	atomic_store(next, 0);
	*head = h + HL_HEAP_ALIGN;
	assert_heap_corrupt(a, "free entry off an object boundary");
	*head = saved.cur;
	assert_heap_corrupt(a, "free entry at the bump cursor");
	*head = h;
	assert_heap_ok(a);
	hl_arena_close(a);
}

Test(heap, corrupt_free_list_head_is_an_error_not_a_crash)
{
	hl_arena *a = arena_new(8u << 20, 4096, NULL);
	unsigned cls = a->class_leaf;
	uint64_t *head = &a->hdr->free_list[cls].head.top;
	uint64_t off = 0;

	*head = a->bytes + 64 * HL_HEAP_ALIGN;
	cr_assert_eq(hl_heap_alloc(a, cls, &off), HL_ECORRUPT);
	*head = a->hdr->regions[HL_REGION_INDEX].off;
	cr_assert_eq(hl_heap_alloc(a, cls, &off), HL_ECORRUPT);
	*head = 0;
	cr_assert_eq(hl_heap_alloc(a, cls, &off), 0);
	hl_arena_close(a);
}

/* Issue 8 item 4: a popper stalled between reading the head and its CAS,
 * while others pop and push until the head holds the same object again
 * after exactly 2^16 successful CASes (a 16-bit tag wraps there). The
 * stalled CAS must fail: if it succeeds it installs a stale next object,
 * one another holder already has, and that object is handed out twice. */
Test(heap, a_stalled_pop_cannot_succeed_after_the_tag_wraps)
{
	hl_arena *a = arena_new(8u << 20, 4096, NULL);
	int c = hl_heap_class_of(a->hdr, 32);
	cr_assert_geq(c, 0);
	unsigned cls = (unsigned)c;
	uint64_t o[4], got;
	for (int i = 0; i < 4; i++)
		cr_assert_eq(hl_heap_alloc(a, cls, &o[i]), 0);
	/* o[3] stays held (the last bump: frees below never rewind) */
	hl_heap_free(a, cls, o[0]);
	hl_heap_free(a, cls, o[1]); /* list: o1 -> o0 */
	struct hl_free_pop stalled;
	cr_assert_eq(hl_heap_pop_begin(a, cls, &stalled), 0);
	cr_assert_eq(stalled.head_off, o[1]);
	uint64_t cas = 0;
	cr_assert_eq(hl_heap_alloc(a, cls, &got), 0); /* o1 */
	cr_assert_eq(got, o[1]);
	cr_assert_eq(hl_heap_alloc(a, cls, &got), 0); /* o0: now held */
	cr_assert_eq(got, o[0]);
	hl_heap_free(a, cls, o[2]);
	hl_heap_free(a, cls, o[1]); /* list: o1 -> o2 */
	cas = 4;
	while (cas < (1u << 16)) { /* pop o1, push o1 */
		cr_assert_eq(hl_heap_alloc(a, cls, &got), 0);
		cr_assert_eq(got, o[1]);
		hl_heap_free(a, cls, o[1]);
		cas += 2;
	}
	int rc = hl_heap_pop_finish(a, cls, &stalled);
	cr_assert_eq(rc, 1, "the stalled pop succeeded after %llu CASes",
		     (unsigned long long)cas);
	/* whatever the list hands out now is not o0, which is held */
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(hl_heap_alloc(a, cls, &got), 0);
		cr_assert_neq(got, o[0], "o0 handed out twice");
	}
	hl_arena_close(a);
}

/* ---- NUMA -------------------------------------------------------------------- */

Test(heap, numa_policy_calls_succeed)
{
	size_t len = 1u << 20;
	int node = hl_numa_local_node();
	cr_assert_geq(node, 0);

	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	cr_assert_eq(hl_numa_interleave(p, len / 2), 0);
	cr_assert_eq(hl_numa_prefer(p + len / 2, len / 2, node), 0);
	memset(p, 0xa5, len); /* faults in under both policies */
	cr_assert_eq(p[0], 0xa5);
	cr_assert_eq(p[len - 1], 0xa5);
	/* bad arguments are errors, not failed system calls or crashes */
	cr_assert_eq(hl_numa_interleave(p + 1, 4096), HL_EINVAL);
	cr_assert_eq(hl_numa_prefer(p, 4096, -1), HL_EINVAL);
	munmap(p, len);
}

Test(heap, allocation_with_numa_off)
{
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.arena_bytes = 8u << 20;
	cfg.numa = HL_NUMA_OFF;
	hl_arena *a = arena_new_cfg(&cfg, NULL);
	struct obj o;

	cr_assert_eq(a->hdr->numa_mode, HL_NUMA_OFF);
	cr_assert_eq(alloc_obj(a, a->class_leaf, 5, &o), 0);
	cr_assert_eq(obj_bad_word(a, &o), -1);
	assert_heap_ok(a);
	hl_arena_close(a);
}
