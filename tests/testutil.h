/*
 * testutil.h - helpers shared by the Criterion suites: arena names that
 * never collide and are always unlinked, a small-config arena constructor,
 * a deterministic RNG, and self-checking data patterns.
 *
 * Header-only (static functions): each suite is one executable, and
 * Criterion forks every test, so the static name table below is private to
 * the test that fills it. Register the unlinker as the suite's .fini:
 *
 *     TestSuite(model, .fini = tu_unlink_all);
 *
 * Patterns (after liburing's test/file-verify.c): the 8-byte word at every
 * 8-aligned absolute offset `o` of a state holds tu_pattern_word(o, gen), so
 * a byte read back from the wrong place, the wrong snapshot or a stale
 * generation names itself: tu_pattern_check reports the first bad offset.
 * Offsets and lengths need not be aligned; a partial word holds the
 * corresponding bytes of its whole word (little-endian).
 *
 * Add new helpers at the end; never change the existing ones (other suites
 * depend on their exact behaviour).
 */
#ifndef HELIOS_TESTS_TESTUTIL_H
#define HELIOS_TESTS_TESTUTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helios.h"

/* ---- arena names, unlinked after every test -------------------------------- */

#define TU_NAMES_MAX 32
#define TU_NAME_BYTES 256

static char tu_names[TU_NAMES_MAX][TU_NAME_BYTES];
static int tu_name_count;
static unsigned tu_name_serial;

/* Unlinks every name tu_arena_name handed out in this process. Use as the
 * suite's .fini (it runs after a failed assertion too). */
static inline void tu_unlink_all(void)
{
	for (int i = 0; i < tu_name_count; i++)
		hl_arena_unlink(tu_names[i]);
	tu_name_count = 0;
}

/* A fresh shm arena name "t-<suite>-<pid>-<n>", registered for
 * tu_unlink_all; any leftover of a crashed run with the same pid is removed
 * first. The string lives until tu_unlink_all. */
static inline const char *tu_arena_name(const char *suite)
{
	cr_assert_lt(tu_name_count, TU_NAMES_MAX, "too many arena names");
	char *n = tu_names[tu_name_count++];
	snprintf(n, TU_NAME_BYTES, "t-%s-%d-%u", suite, (int)getpid(),
		 tu_name_serial++);
	hl_arena_unlink(n);
	return n;
}

/* Registers a name made elsewhere (a path-form name) for tu_unlink_all. */
static inline void tu_arena_name_register(const char *name)
{
	cr_assert_lt(tu_name_count, TU_NAMES_MAX, "too many arena names");
	cr_assert_lt(strlen(name), (size_t)TU_NAME_BYTES, "name too long");
	memcpy(tu_names[tu_name_count++], name, strlen(name) + 1);
}

/* A small arena: NUMA policy off (tests run on any box), defaults else. */
static inline void tu_config_small(hl_config *cfg, uint64_t arena_bytes,
				   uint32_t chunk_bytes)
{
	hl_config_init(cfg);
	cfg->arena_bytes = arena_bytes;
	cfg->chunk_bytes = chunk_bytes;
	cfg->numa = HL_NUMA_OFF;
}

/* Creates arena `name` from cfg, asserting success. */
static inline hl_arena *tu_arena_create_cfg(const char *name,
					    const hl_config *cfg)
{
	hl_arena *a = NULL;
	int rc = hl_arena_create(name, cfg, &a);
	cr_assert_eq(rc, 0, "hl_arena_create(%s): %s", name, hl_strerror(rc));
	cr_assert_not_null(a);
	return a;
}

/* Creates a fresh small arena for `suite`; *name_out (may be NULL) gets its
 * name. */
static inline hl_arena *tu_arena_new(const char *suite, uint64_t arena_bytes,
				     uint32_t chunk_bytes,
				     const char **name_out)
{
	hl_config cfg;
	tu_config_small(&cfg, arena_bytes, chunk_bytes);
	const char *name = tu_arena_name(suite);
	if (name_out)
		*name_out = name;
	return tu_arena_create_cfg(name, &cfg);
}

/* Asserts hl_arena_check passes. */
static inline void tu_assert_arena_ok(hl_arena *a, const char *when)
{
	char msg[256] = "";
	int rc = hl_arena_check(a, msg, sizeof msg);
	cr_assert_eq(rc, 0, "hl_arena_check (%s): %s: %s", when,
		     hl_strerror(rc), msg);
}

/* ---- a deterministic RNG: xorshift64* ---------------------------------- */

struct tu_rng {
	uint64_t s;
};

static inline void tu_rng_seed(struct tu_rng *r, uint64_t seed)
{
	/* splitmix64 of the seed: never zero, and nearby seeds diverge */
	uint64_t z = seed + 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	r->s = z ? z : 0x2545f4914f6cdd1dull;
}

static inline uint64_t tu_rng_next(struct tu_rng *r)
{
	uint64_t x = r->s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Uniform in [0, n); n > 0. (Modulo bias is irrelevant at test sizes.) */
static inline uint64_t tu_rng_below(struct tu_rng *r, uint64_t n)
{
	return tu_rng_next(r) % n;
}

/* Uniform in [lo, hi]. */
static inline uint64_t tu_rng_range(struct tu_rng *r, uint64_t lo, uint64_t hi)
{
	return lo + tu_rng_below(r, hi - lo + 1);
}

/* True with probability pct/100. */
static inline bool tu_rng_chance(struct tu_rng *r, unsigned pct)
{
	return tu_rng_below(r, 100) < pct;
}

static inline void tu_rng_fill(struct tu_rng *r, void *buf, size_t len)
{
	unsigned char *p = buf;
	while (len >= 8) {
		uint64_t v = tu_rng_next(r);
		memcpy(p, &v, 8);
		p += 8, len -= 8;
	}
	if (len) {
		uint64_t v = tu_rng_next(r);
		memcpy(p, &v, len);
	}
}

/* ---- self-checking patterns ---------------------------------------------- */

/* The word at 8-aligned absolute offset `off` in generation `gen`: offset in
 * the low 40 bits, generation in the next 20, a 4-bit check of both on top
 * (never all-zero, so a zeroed word never passes). */
static inline uint64_t tu_pattern_word(uint64_t off, uint32_t gen)
{
	uint64_t w = (off & ((1ull << 40) - 1)) |
		     ((uint64_t)(gen & 0xfffff) << 40);
	uint64_t check = ((w * 0x9e3779b97f4a7c15ull) >> 60) | 1;
	return w | (check << 60);
}

/* Fills buf, which will sit at absolute offset `off`, with generation gen. */
static inline void tu_pattern_fill(void *buf, uint64_t off, size_t len,
				   uint32_t gen)
{
	unsigned char *p = buf;
	for (size_t i = 0; i < len;) {
		uint64_t o = off + i, w = tu_pattern_word(o & ~7ull, gen);
		size_t in = (size_t)(o & 7), n = 8 - in;
		if (n > len - i)
			n = len - i;
		memcpy(p + i, (const unsigned char *)&w + in, n);
		i += n;
	}
}

/* The absolute offset of the first byte of buf (at `off`) that is not
 * generation gen's pattern, or -1 when all are. */
static inline int64_t tu_pattern_check(const void *buf, uint64_t off,
				       size_t len, uint32_t gen)
{
	const unsigned char *p = buf;
	for (size_t i = 0; i < len;) {
		uint64_t o = off + i, w = tu_pattern_word(o & ~7ull, gen);
		size_t in = (size_t)(o & 7), n = 8 - in;
		if (n > len - i)
			n = len - i;
		for (size_t k = 0; k < n; k++)
			if (p[i + k] != ((const unsigned char *)&w)[in + k])
				return (int64_t)(o + k);
		i += n;
	}
	return -1;
}

/* ---- shared pages, time, pattern decoding (added for multiproc/kill) ----- */

#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>

/* `bytes` of zeroed memory shared with every child forked afterwards
 * (MAP_SHARED | MAP_ANONYMOUS): where children report ids and progress. */
static inline void *tu_shared_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(p, MAP_FAILED, "mmap(MAP_SHARED|MAP_ANONYMOUS) failed");
	return p;
}

static inline void tu_shared_unmap(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes);
}

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t tu_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Sleeps us microseconds, resuming after signals. */
static inline void tu_sleep_us(uint64_t us)
{
	struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Decodes the pattern word w found at 8-aligned absolute offset off: true
 * (with *gen set) when w is tu_pattern_word(off, g) for some generation g,
 * false for any other word. Lets a reader that does not know a snapshot's
 * generation check that all of it is one consistent generation. */
static inline bool tu_pattern_gen(uint64_t w, uint64_t off, uint32_t *gen)
{
	uint32_t g = (uint32_t)(w >> 40) & 0xfffff;
	if (w != tu_pattern_word(off, g))
		return false;
	*gen = g;
	return true;
}


/* For a forked child, first thing: it is killed when the test process that
 * forked it (`parent`, its getpid() before fork) exits, so a failed
 * assertion in the test never leaves children running or holding the test
 * runner's pipes open. */
#include <signal.h>
#include <sys/prctl.h>

static inline void tu_child_dies_with_parent(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent) /* it died before the prctl */
		_exit(99);
}

/* fork() for tests: asserts success; the child dies with the test. */
static inline pid_t tu_fork(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	cr_assert_neq(pid, -1, "fork failed");
	if (pid == 0)
		tu_child_dies_with_parent(parent);
	return pid;
}


/* ---- a forked child's report to its parent ------------------------------ */

/* Lives in a MAP_SHARED page: where (source line) and why (HL_E* code) a
 * child first failed, so the parent's assertion can say it. */
struct child_report {
	_Atomic int line; /* source line of the first failure, 0: none */
	_Atomic int rc;   /* the HL_E* code there, if any */
};

/* In a child's function returning an exit code: record and return. */
#define CHILD_FAIL(rep, code, err)                                             \
	do {                                                                   \
		atomic_store(&(rep)->line, __LINE__);                          \
		atomic_store(&(rep)->rc, (err));                               \
		return (code);                                                 \
	} while (0)

/* Reaps child pid, retrying a wait a signal interrupted: once it returns,
 * the child no longer exists (a plain waitpid that returned -1 with EINTR
 * leaves a SIGKILLed child possibly still exiting, and alive to kill(0)). */
#include <errno.h>
#include <sys/wait.h>
static inline void tu_reap(pid_t pid)
{
	pid_t w;
	while ((w = waitpid(pid, NULL, 0)) < 0 && errno == EINTR)
		;
	cr_assert_eq(w, pid, "waitpid(%d): %s", (int)pid, strerror(errno));
}

/* A 64 MiB tmpfs at a fresh directory /tmp/<prefix>-<pid>-XXXXXX, in a
 * mount namespace of this test process (and the processes it starts)
 * alone: it goes when they do. Skips the test when mounting is refused. */
#include <sched.h>
#include <sys/mount.h>
static inline void tu_small_tmpfs(char *dir, size_t len, const char *prefix)
{
	snprintf(dir, len, "/tmp/%s-%d-XXXXXX", prefix, (int)getpid());
	cr_assert_not_null(mkdtemp(dir));
	if (unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, "size=64m,mode=0700") != 0) {
		int err = errno;
		rmdir(dir);
		cr_skip_test("cannot mount a small tmpfs here (%s): not tested",
			     strerror(err));
	}
}

#endif /* HELIOS_TESTS_TESTUTIL_H */
