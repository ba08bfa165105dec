/*
 * heap_util.h - the heap suites' fixtures (test_heap.c, test_heap_mp.c):
 * arenas unlinked after every test, failed or not, and self-checking
 * objects: each 8-byte word of an object encodes its offset, the word's
 * index and a generation, so an overlap, a double hand-out or a stray
 * write shows up as a wrong word on read-back.
 */
#ifndef HL_TEST_HEAP_UTIL_H
#define HL_TEST_HEAP_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm.h"

/* ---- arenas, unlinked after every test, failed or not ---------------------- */

#define NAMES_MAX 8
static char names[NAMES_MAX][64];
static int name_count;

static inline void unlink_all(void)
{
	for (int i = 0; i < name_count; i++)
		hl_arena_unlink(names[i]);
	name_count = 0;
}

static inline const char *arena_name_new(void)
{
	cr_assert_lt(name_count, NAMES_MAX);
	char *n = names[name_count++];
	snprintf(n, sizeof names[0], "t-heap-%d-%d", (int)getpid(), name_count);
	hl_arena_unlink(n); /* a leftover of an earlier crashed run */
	return n;
}

static inline hl_arena *arena_new_cfg(const hl_config *cfg, const char **name_out)
{
	const char *name = arena_name_new();
	hl_arena *a = NULL;
	int rc = hl_arena_create(name, cfg, &a);
	cr_assert_eq(rc, 0, "hl_arena_create(%s): %s", name, hl_strerror(rc));
	if (name_out)
		*name_out = name;
	return a;
}

static inline hl_arena *arena_new(uint64_t bytes, uint32_t chunk, const char **name)
{
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.arena_bytes = bytes;
	cfg.chunk_bytes = chunk;
	return arena_new_cfg(&cfg, name);
}

static inline void assert_heap_ok(const hl_arena *a)
{
	char msg[256] = "";
	int rc = hl_heap_check(a, msg, sizeof msg);
	cr_assert_eq(rc, 0, "hl_heap_check: %d %s", rc, msg);
}

static inline void assert_heap_corrupt(const hl_arena *a, const char *what)
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

static inline uint64_t pattern_word(uint64_t off, uint64_t i, uint64_t gen)
{
	return ((off + 8 * i) * 0x9e3779b97f4a7c15ull) ^ (gen << 1) ^ i;
}

static inline void obj_fill(hl_arena *a, const struct obj *o)
{
	uint64_t *w = hl_at(a, o->off);
	for (uint64_t i = 0; i < o->bytes / 8; i++)
		w[i] = pattern_word(o->off, i, o->gen);
}

/* The index of the first wrong word, or -1. */
static inline long obj_bad_word(const hl_arena *a, const struct obj *o)
{
	const uint64_t *w = hl_at(a, o->off);
	for (uint64_t i = 0; i < o->bytes / 8; i++)
		if (w[i] != pattern_word(o->off, i, o->gen))
			return (long)i;
	return -1;
}

static inline bool obj_placed_ok(const hl_arena *a, const struct obj *o)
{
	return o->off % HL_HEAP_ALIGN == 0 && hl_heap_contains(a, o->off, o->bytes);
}

static inline int obj_cmp(const void *x, const void *y)
{
	const struct obj *p = x, *q = y;
	return (p->off > q->off) - (p->off < q->off);
}

/* Sorts objs and returns the index of the first one overlapping its
 * successor, or -1. */
static inline long objs_overlap(struct obj *objs, size_t n)
{
	qsort(objs, n, sizeof objs[0], obj_cmp);
	for (size_t i = 1; i < n; i++)
		if (objs[i - 1].off + objs[i - 1].bytes > objs[i].off)
			return (long)i - 1;
	return -1;
}

static inline uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static inline int alloc_obj(hl_arena *a, unsigned cls, uint64_t gen, struct obj *o)
{
	int rc = hl_heap_alloc(a, cls, &o->off);
	if (rc)
		return rc;
	o->bytes = a->hdr->class_bytes[cls];
	o->gen = gen;
	obj_fill(a, o);
	return 0;
}

static inline uint64_t heap_next(const hl_arena *a)
{
	return atomic_load(&a->hdr->heap_next);
}

/* The slab map: one 16-bit entry per slab unit, [index in slab | class + 1]. */
static inline uint16_t *slab_map_of(const hl_arena *a)
{
	return hl_at(a, a->hdr->regions[HL_REGION_SLABMAP].off);
}

static inline uint64_t slab_index_of(const hl_arena *a, uint64_t off)
{
	return (off - a->hdr->regions[HL_REGION_HEAP].off) / a->hdr->slab_unit_bytes;
}

static inline uint64_t class_slab(const hl_arena *a, unsigned cls)
{
	return a->hdr->class_slab_bytes[cls];
}

/* Objects a test that fills a heap keeps track of, at most. */
#define FULL_MAX 20000

#endif
