/*
 * index_util.h - the index suites' fixtures (test_index.c, test_index_race.c):
 * one arena per test, unlinked after it (failed or not), keys made by hand
 * (placed in chosen buckets with chosen tags), self-describing nodes, raw
 * entries and the checker's verdicts.
 */
#ifndef HL_TEST_INDEX_UTIL_H
#define HL_TEST_INDEX_UTIL_H

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm.h"

/* ---- fixtures ---------------------------------------------------------------- */

static char g_name[64];
static hl_arena *g_a;

static inline void open_arena(uint64_t index_capacity)
{
	static unsigned counter;
	hl_config cfg;
	int rc;

	hl_config_init(&cfg);
	cfg.arena_bytes = 16u << 20;
	cfg.index_capacity = index_capacity;
	snprintf(g_name, sizeof g_name, "t-index-%d-%u", (int)getpid(),
		 counter++);
	rc = hl_arena_create(g_name, &cfg, &g_a);
	cr_assert_eq(rc, 0, "create %s: %s", g_name, hl_strerror(rc));
}

/* Runs after every test, also after a failed assertion. */
static inline void teardown(void)
{
	hl_arena_close(g_a);
	g_a = NULL;
	if (g_name[0])
		hl_arena_unlink(g_name);
	g_name[0] = '\0';
}

/* ---- keys, nodes and raw entries ----------------------------------------------- */

static inline uint64_t mix(uint64_t x) /* splitmix64 */
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* A key whose home bucket is `bucket` and whose tag is `tag`; `salt` fills
 * the bits that decide neither (lo above bit 32, hi below the tag). */
static inline hl_id key_at(uint64_t bucket, uint32_t tag, uint64_t salt)
{
	hl_id h;

	h.lo = bucket | (mix(salt) << 32);
	h.hi = (uint64_t)(tag & 0xffffffu) << 40 |
	       (mix(salt ^ 0x5a5a) & HL_ENTRY_OFF_MASK);
	return h;
}

static inline hl_id key_random(uint64_t i)
{
	hl_id h = {.lo = mix(2 * i + 77), .hi = mix(2 * i + 78)};
	return h;
}

static inline bool key_eq(hl_id x, hl_id y)
{
	return x.lo == y.lo && x.hi == y.hi;
}

/* Allocates a root node with hash h and a payload that encodes h, so a
 * reader can tell a complete node from a torn one. */
static inline int node_make(hl_arena *a, hl_id h, uint64_t *off)
{
	struct hl_node *n;
	struct hl_root_payload *p;
	int rc = hl_heap_alloc(a, a->class_root, off);

	if (rc)
		return rc;
	n = hl_node_at(a, *off);
	memset(n, 0, sizeof *n + sizeof *p);
	n->kind = HL_NODE_ROOT; /* well formed by hl_node_get's rules */
	n->level = 1;
	n->count = 1;
	n->aux = 4096;
	n->payload_bytes = sizeof *p;
	p = (struct hl_root_payload *)n->payload;
	p->top_hash.lo = ~h.lo;
	p->top_hash.hi = ~h.hi;
	p->top_off = *off;
	n->hash = h;
	return 0;
}

static inline bool node_complete(const hl_arena *a, uint64_t off, hl_id h)
{
	const struct hl_node *n = hl_node_at(a, off);
	const struct hl_root_payload *p = (const void *)n->payload;

	return key_eq(n->hash, h) && n->kind == HL_NODE_ROOT &&
	       p->top_hash.lo == ~h.lo && p->top_hash.hi == ~h.hi &&
	       p->top_off == off;
}

static inline uint64_t node_new(hl_id h)
{
	uint64_t off = 0;
	int rc = node_make(g_a, h, &off);

	cr_assert_eq(rc, 0, "hl_heap_alloc: %s", hl_strerror(rc));
	return off;
}

/* Inserts h with a fresh node; asserts it went in. */
static inline uint64_t put(hl_id h)
{
	uint64_t off = node_new(h), winner = 0;
	int rc = hl_index_insert(g_a, h, off, &winner);

	cr_assert_eq(rc, 0, "insert: %d (%s)", rc, hl_strerror(rc));
	return off;
}

static inline void assert_found(hl_id h, uint64_t want)
{
	uint64_t off = 0;
	int rc = hl_index_lookup(g_a, h, &off);

	cr_assert_eq(rc, 0, "key %016" PRIx64 "%016" PRIx64 " not found: %s",
		     h.hi, h.lo, hl_strerror(rc));
	cr_assert_eq(off, want, "found at %#" PRIx64 ", want %#" PRIx64, off,
		     want);
}

static inline void assert_absent(hl_id h)
{
	uint64_t off = 0;
	int rc = hl_index_lookup(g_a, h, &off);

	cr_assert_eq(rc, HL_ENOENT, "key %016" PRIx64 "%016" PRIx64
		     " unexpectedly found at %#" PRIx64, h.hi, h.lo, off);
}

static inline _Atomic uint64_t *raw_entry(uint64_t bucket, unsigned s)
{
	struct hl_bucket *b = hl_at(g_a, hl_region(g_a, HL_REGION_INDEX)->off);
	return &b[bucket & (g_a->hdr->index_buckets - 1)].entry[s];
}

static inline uint64_t raw_make(hl_id h, uint64_t off)
{
	return (h.hi & ~HL_ENTRY_OFF_MASK) | off / HL_HEAP_ALIGN;
}

static inline void assert_check_ok(void)
{
	char msg[256] = "";
	int rc = hl_index_check(g_a, msg, sizeof msg);

	cr_assert_eq(rc, 0, "hl_index_check: %s", msg);
}

/* The checker must fail with a message naming `what`. */
static inline void assert_check_fails(const char *what)
{
	char msg[256] = "";
	int rc = hl_index_check(g_a, msg, sizeof msg);

	cr_assert_eq(rc, HL_ECORRUPT, "corruption (%s) not detected", what);
	cr_assert(strstr(msg, what), "message \"%s\" does not mention %s", msg,
		  what);
}

#endif
