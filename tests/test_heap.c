/*
 * test_heap.c - the shared heap (shm/heap.c) and the NUMA helpers
 * (shm/numa.c), against real arenas.
 *
 * Every object a test allocates is filled with a self-checking pattern: each
 * 8-byte word encodes the object's offset, the word's index and a
 * generation, so an overlap, a double hand-out or a stray write shows up as
 * a wrong word on read-back. Multi-process tests fork children that attach
 * by name (never the parent's handle) and report through their exit status.
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

/* ---- arenas, unlinked after every test, failed or not ---------------------- */

#define NAMES_MAX 8
static char names[NAMES_MAX][64];
static int name_count;

static void unlink_all(void)
{
	for (int i = 0; i < name_count; i++)
		hl_arena_unlink(names[i]);
	name_count = 0;
}

TestSuite(heap, .fini = unlink_all);

static const char *arena_name_new(void)
{
	cr_assert_lt(name_count, NAMES_MAX);
	char *n = names[name_count++];
	snprintf(n, sizeof names[0], "t-heap-%d-%d", (int)getpid(), name_count);
	hl_arena_unlink(n); /* a leftover of an earlier crashed run */
	return n;
}

static hl_arena *arena_new_cfg(const hl_config *cfg, const char **name_out)
{
	const char *name = arena_name_new();
	hl_arena *a = NULL;
	int rc = hl_arena_create(name, cfg, &a);
	cr_assert_eq(rc, 0, "hl_arena_create(%s): %s", name, hl_strerror(rc));
	if (name_out)
		*name_out = name;
	return a;
}

static hl_arena *arena_new(uint64_t bytes, uint32_t chunk, const char **name)
{
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.arena_bytes = bytes;
	cfg.chunk_bytes = chunk;
	return arena_new_cfg(&cfg, name);
}

static void assert_heap_ok(const hl_arena *a)
{
	char msg[256] = "";
	int rc = hl_heap_check(a, msg, sizeof msg);
	cr_assert_eq(rc, 0, "hl_heap_check: %d %s", rc, msg);
}

static void assert_heap_corrupt(const hl_arena *a, const char *what)
{
	char msg[256] = "";
	int rc = hl_heap_check(a, msg, sizeof msg);
	cr_assert_eq(rc, HL_ECORRUPT, "%s: hl_heap_check returned %d", what, rc);
	cr_assert_neq(msg[0], '\0', "%s: no message", what);
}

/* ---- self-checking objects ------------------------------------------------- */

struct obj {
	uint64_t off;
	uint64_t bytes;
	uint64_t gen;
};

static uint64_t pattern_word(uint64_t off, uint64_t i, uint64_t gen)
{
	return ((off + 8 * i) * 0x9e3779b97f4a7c15ull) ^ (gen << 1) ^ i;
}

static void obj_fill(hl_arena *a, const struct obj *o)
{
	uint64_t *w = hl_at(a, o->off);
	for (uint64_t i = 0; i < o->bytes / 8; i++)
		w[i] = pattern_word(o->off, i, o->gen);
}

/* The index of the first wrong word, or -1. */
static long obj_bad_word(const hl_arena *a, const struct obj *o)
{
	const uint64_t *w = hl_at(a, o->off);
	for (uint64_t i = 0; i < o->bytes / 8; i++)
		if (w[i] != pattern_word(o->off, i, o->gen))
			return (long)i;
	return -1;
}

static bool obj_placed_ok(const hl_arena *a, const struct obj *o)
{
	return o->off % HL_HEAP_ALIGN == 0 && hl_heap_contains(a, o->off, o->bytes);
}

static int obj_cmp(const void *x, const void *y)
{
	const struct obj *p = x, *q = y;
	return (p->off > q->off) - (p->off < q->off);
}

/* Sorts objs and returns the index of the first one overlapping its
 * successor, or -1. */
static long objs_overlap(struct obj *objs, size_t n)
{
	qsort(objs, n, sizeof objs[0], obj_cmp);
	for (size_t i = 1; i < n; i++)
		if (objs[i - 1].off + objs[i - 1].bytes > objs[i].off)
			return (long)i - 1;
	return -1;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int alloc_obj(hl_arena *a, unsigned cls, uint64_t gen, struct obj *o)
{
	int rc = hl_heap_alloc(a, cls, &o->off);
	if (rc)
		return rc;
	o->bytes = a->hdr->class_bytes[cls];
	o->gen = gen;
	obj_fill(a, o);
	return 0;
}

static uint64_t heap_next(const hl_arena *a)
{
	return atomic_load(&a->hdr->heap_next);
}

/* The slab map: one 16-bit entry per slab unit, [index in slab | class + 1]. */
static uint16_t *slab_map_of(const hl_arena *a)
{
	return hl_at(a, a->hdr->regions[HL_REGION_SLABMAP].off);
}

static uint64_t slab_index_of(const hl_arena *a, uint64_t off)
{
	return (off - a->hdr->regions[HL_REGION_HEAP].off) / a->hdr->slab_unit_bytes;
}

static uint64_t class_slab(const hl_arena *a, unsigned cls)
{
	return a->hdr->class_slab_bytes[cls];
}

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

#define FULL_MAX 20000

Test(heap, exhausted_heap_reports_full_and_keeps_objects)
{
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.arena_bytes = 2u << 20;
	cfg.chunk_bytes = 64;
	cfg.max_processes = 4;
	cfg.refs_capacity = HL_REFS_MIN;
	cfg.index_capacity = HL_INDEX_ENTRIES_MIN;
	hl_arena *a = arena_new_cfg(&cfg, NULL);
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

/* ---- many processes ---------------------------------------------------------- */

#define CHILDREN 4
#define CHILD_ITERS 200000
#define CHILD_LIVE 512

static void child_fail(int code, const char *what, uint64_t v)
{
	fprintf(stderr, "child %d: %s (%llu)\n", (int)getpid(), what,
		(unsigned long long)v);
	_exit(code);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Waits (at most 20 s) until every child reached the barrier. Spins rather
 * than sleeps so the children leave it together and really race. */
static void barrier_wait(_Atomic int *barrier, int count)
{
	uint64_t deadline = now_ns() + 20000000000ull;

	atomic_fetch_add(barrier, 1);
	while (atomic_load(barrier) < count) {
		if (now_ns() > deadline)
			child_fail(20, "barrier timed out", 0);
		sched_yield();
	}
}

static void child_verify(hl_arena *a, struct obj *live, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (obj_bad_word(a, &live[i]) >= 0)
			child_fail(13, "object overwritten", live[i].off);
}

/* Allocates and frees in a random mix (both rewinds and pushes), keeps up
 * to CHILD_LIVE objects, verifies them all once every child is done
 * writing. Never returns. */
static void child_run(const char *name, int id, _Atomic int *barrier)
{
	static struct obj live[CHILD_LIVE];
	hl_arena *a = NULL;
	uint64_t rng = 0x1234567ull * (uint64_t)(id + 1);
	size_t n = 0;

	if (hl_arena_attach(name, 0, &a) != 0)
		child_fail(10, "attach", 0);
	const unsigned hot[3] = { a->class_leaf, a->class_inner, a->class_root };
	barrier_wait(&barrier[0], CHILDREN); /* all start together */
	for (uint64_t it = 0; it < CHILD_ITERS; it++) {
		uint64_t r = rng_next(&rng);
		if (n < CHILD_LIVE && (n == 0 || r % 8 < 5)) {
			/* mostly the node classes, so the processes contend */
			unsigned cls = (r >> 4) % 4
				? hot[(r >> 8) % 3]
				: (unsigned)((r >> 8) % a->hdr->class_count);
			uint64_t gen = ((uint64_t)id << 40) | it;
			int rc = alloc_obj(a, cls, gen, &live[n]);
			if (rc == HL_EFULL)
				continue;
			if (rc)
				child_fail(11, "alloc", (uint64_t)-rc);
			if (!obj_placed_ok(a, &live[n]))
				child_fail(12, "misplaced", live[n].off);
			n++;
		} else {
			/* half the time the newest object: the rewind path */
			size_t k = r % 2 ? n - 1 : (r >> 8) % n;
			if (obj_bad_word(a, &live[k]) >= 0)
				child_fail(13, "object overwritten", live[k].off);
			unsigned cls = (unsigned)hl_heap_class_of(a->hdr, live[k].bytes);
			hl_heap_free(a, cls, live[k].off);
			live[k] = live[--n];
		}
	}
	barrier_wait(&barrier[1], CHILDREN); /* all done writing */
	child_verify(a, live, n);
	if (objs_overlap(live, n) >= 0)
		child_fail(14, "own objects overlap", 0);
	for (size_t i = 0; i < n; i++)
		hl_heap_free(a, (unsigned)hl_heap_class_of(a->hdr, live[i].bytes),
			     live[i].off);
	hl_arena_close(a);
	_exit(0);
}

Test(heap, processes_allocate_and_free_concurrently, .timeout = 60)
{
	const char *name;
	hl_arena *a = arena_new(32u << 20, 4096, &name);
	_Atomic int *barrier = mmap(NULL, HL_PAGE_BYTES, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pids[CHILDREN];

	cr_assert_neq(barrier, MAP_FAILED);
	atomic_store(&barrier[0], 0);
	atomic_store(&barrier[1], 0);
	for (int i = 0; i < CHILDREN; i++) {
		pids[i] = fork();
		cr_assert_geq(pids[i], 0);
		if (pids[i] == 0)
			child_run(name, i, barrier);
	}
	for (int i = 0; i < CHILDREN; i++) {
		int st;
		cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "child %d: status 0x%x", i, st);
	}
	assert_heap_ok(a);
	cr_assert_gt(hl_heap_used(a), 0);
	munmap(barrier, HL_PAGE_BYTES);
	hl_arena_close(a);
}

/* Allocates leaves until the heap is full, then checks every one. */
static void child_fill(const char *name, _Atomic int *barrier,
		       _Atomic uint64_t *count)
{
	static struct obj objs[FULL_MAX];
	hl_arena *a = NULL;
	size_t n = 0;
	int rc = 0;

	if (hl_arena_attach(name, 0, &a) != 0)
		child_fail(10, "attach", 0);
	barrier_wait(&barrier[0], CHILDREN);
	while (n < FULL_MAX &&
	       (rc = alloc_obj(a, a->class_leaf, (uint64_t)getpid(), &objs[n])) == 0) {
		if (!obj_placed_ok(a, &objs[n]))
			child_fail(12, "misplaced", objs[n].off);
		n++;
	}
	if (rc != HL_EFULL)
		child_fail(11, "not HL_EFULL at the end", (uint64_t)-rc);
	barrier_wait(&barrier[1], CHILDREN);
	child_verify(a, objs, n);
	atomic_fetch_add(count, n);
	hl_arena_close(a);
	_exit(0);
}

Test(heap, processes_race_to_fill_the_heap, .timeout = 60)
{
	const char *name;
	hl_arena *a = arena_new(32u << 20, 4096, &name);
	void *shared = mmap(NULL, HL_PAGE_BYTES, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(shared, MAP_FAILED);
	_Atomic int *barrier = shared;
	_Atomic uint64_t *count = (_Atomic uint64_t *)((char *)shared + 64);
	pid_t pids[CHILDREN];

	for (int i = 0; i < CHILDREN; i++) {
		pids[i] = fork();
		cr_assert_geq(pids[i], 0);
		if (pids[i] == 0)
			child_fill(name, barrier, count);
	}
	for (int i = 0; i < CHILDREN; i++) {
		int st;
		cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "child %d: status 0x%x", i, st);
	}
	uint64_t heap_bytes = a->hdr->regions[HL_REGION_HEAP].bytes;
	uint64_t slab = class_slab(a, a->class_leaf);
	uint64_t per_slab = slab / a->hdr->class_bytes[a->class_leaf];
	/* the heap_next CAS never passes the end; less than a slab is left */
	cr_assert_leq(heap_next(a), heap_bytes);
	cr_assert_lt(heap_bytes - hl_heap_used(a), slab);
	/* every slab was carved to the last whole leaf by one process */
	cr_assert_eq(atomic_load(count), heap_bytes / slab * per_slab,
		     "%llu leaves in %llu slabs",
		     (unsigned long long)atomic_load(count),
		     (unsigned long long)(heap_bytes / slab));
	assert_heap_ok(a);
	munmap(shared, HL_PAGE_BYTES);
	hl_arena_close(a);
}

/* A child that allocates and frees until it is killed. */
static void child_churn(const char *name, int ready_fd)
{
	static uint64_t held[64];
	hl_arena *a = NULL;
	uint64_t rng = (uint64_t)getpid() * 0x9e3779b9ull + 1;
	unsigned held_cls[64];
	size_t n = 0;

	if (hl_arena_attach(name, 0, &a) != 0)
		_exit(10);
	if (write(ready_fd, "x", 1) != 1)
		_exit(11);
	for (;;) {
		uint64_t r = rng_next(&rng);
		if (n < 64 && (n == 0 || r % 2)) {
			unsigned cls = (unsigned)((r >> 8) % a->hdr->class_count);
			if (hl_heap_alloc(a, cls, &held[n]) == 0)
				held_cls[n++] = cls;
		} else {
			size_t k = (r >> 8) % n;
			hl_heap_free(a, held_cls[k], held[k]);
			held[k] = held[--n];
			held_cls[k] = held_cls[n];
		}
	}
}

Test(heap, killed_processes_leave_a_consistent_heap, .timeout = 60)
{
	const char *name;
	hl_arena *a = arena_new(16u << 20, 4096, &name);
	uint64_t rng = (uint64_t)time(NULL) | 1; /* a new kill schedule each run */

	cr_log_info("kill schedule seed %llu", (unsigned long long)rng);

	for (int round = 0; round < 12; round++) {
		int fds[2];
		char c;
		cr_assert_eq(pipe(fds), 0);
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			close(fds[0]);
			child_churn(name, fds[1]);
		}
		close(fds[1]);
		cr_assert_eq(read(fds[0], &c, 1), 1, "round %d: child never attached",
			     round);
		close(fds[0]);
		usleep((useconds_t)(rng_next(&rng) % 20000));
		kill(pid, SIGKILL);
		int st;
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		cr_assert(WIFSIGNALED(st), "round %d: child exited 0x%x", round, st);
		assert_heap_ok(a);
	}
	/* the heap still works for the survivors */
	struct obj o;
	cr_assert_eq(alloc_obj(a, a->class_leaf, 1, &o), 0);
	cr_assert_eq(obj_bad_word(a, &o), -1);
	assert_heap_ok(a);
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
