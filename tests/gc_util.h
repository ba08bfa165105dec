/*
 * gc_util.h - the collector suites' fixtures (test_gc.c, test_gc_search.c):
 * collection on whatever the environment says, arenas unlinked after every
 * test, 4 KiB states of a generation, and a collection that must succeed.
 */
#ifndef HL_TEST_GC_UTIL_H
#define HL_TEST_GC_UTIL_H

#include <criterion/criterion.h>
#include <stdlib.h>

#include "coordinator_util.h"
#include "shm.h"
#include "testutil.h"
#include "workers.h"

#define MiB (1024ull * 1024ull)
#define CHUNK 4096u

static inline void gc_fini(void)
{
	tc_fini();
	tu_unlink_all();
}

/* automatic collection (full commits, helios run's background collector)
 * is the default; an environment that turned it off must not turn these
 * suites' subject off */
static inline void gc_init(void)
{
	unsetenv("HELIOS_GC");
}

/* A 4 KiB state of generation gen, committed through s: the commit's answer. */
static inline int commit_chunk_gen(hl_state *s, uint32_t gen)
{
	static unsigned char buf[CHUNK];
	tu_pattern_fill(buf, 0, sizeof buf, gen);
	cr_assert_eq(hl_state_resize(s, sizeof buf), 0);
	cr_assert_eq(hl_state_write(s, 0, buf, sizeof buf), 0);
	hl_id id;
	return hl_commit(s, &id, NULL);
}

static inline void gc_ok(hl_arena *a, hl_gc_info *info)
{
	int rc = hl_gc(a, info);
	cr_assert_eq(rc, 0, "hl_gc: %s", hl_strerror(rc));
}

#endif
