/*
 * fault_util.h - helpers shared by the suites of things going wrong
 * (test_fault.c: exhaustion and corrupt arenas; test_args.c: bad
 * arguments, ranges, access): small arenas, attach results, and states
 * filled with and checked against a pattern generation.
 *
 * Header-only (static inline), like testutil.h: each suite is one
 * executable. Every arena is named through testutil.h (prefix "fault").
 */
#ifndef HELIOS_TESTS_FAULT_UTIL_H
#define HELIOS_TESTS_FAULT_UTIL_H

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>

#include "testutil.h"


#define MiB (1ull << 20)
static const hl_id ZERO_ID = {0, 0};

static inline void shm_path(const char *name, char *out, size_t len)
{
	snprintf(out, len, "/dev/shm/helios.%s", name);
}

static inline hl_arena *arena_small(const char **name, uint64_t bytes,
				    uint32_t chunk)
{
	return tu_arena_new("fault", bytes, chunk, name);
}

static inline int attach_rc(const char *name, unsigned flags)
{
	hl_arena *a = NULL;
	int rc = hl_arena_attach(name, flags, &a);
	if (rc == 0)
		hl_arena_close(a);
	else
		cr_assert_null(a, "a failed attach must not hand out a handle");
	return rc;
}

/* Writes `gen`'s pattern over [0, size) of s. */
static inline void fill_state(hl_state *s, uint64_t size, uint32_t gen,
			      unsigned char *buf)
{
	cr_assert_eq(hl_state_resize(s, size), 0);
	tu_pattern_fill(buf, 0, (size_t)size, gen);
	cr_assert_eq(hl_state_write(s, 0, buf, (size_t)size), 0);
}

/* Asserts s holds exactly size bytes of gen's pattern. */
static inline void assert_state_is(hl_state *s, uint64_t size, uint32_t gen,
				   unsigned char *buf, const char *what)
{
	cr_assert_eq(hl_state_size(s), size, "%s: size %" PRIu64 ", want %" PRIu64,
		     what, hl_state_size(s), size);
	int rc = hl_state_read(s, 0, buf, (size_t)size);
	cr_assert_eq(rc, 0, "%s: read: %s", what, hl_strerror(rc));
	int64_t bad = tu_pattern_check(buf, 0, (size_t)size, gen);
	cr_assert_eq(bad, -1, "%s: byte %" PRId64 " is not generation %u's", what,
		     bad, gen);
}

#endif /* HELIOS_TESTS_FAULT_UTIL_H */
