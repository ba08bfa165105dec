/*
 * micro.h - what the files of helios-bench-micro share (private to it):
 * the workloads' shapes, the options, sample series and their summaries,
 * the two workloads' results, and failing loudly.
 *
 *   micro.c            the command line, the machine, the report (main)
 *   micro_samples.c    clocks, randomness, fingerprints, sample series
 *   micro_workloads.c  the arenas (sized, checked, unlinked), W1 and W2
 */
#ifndef HL_BENCH_MICRO_H
#define HL_BENCH_MICRO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "helios.h"
#include "workloads.h" /* the shapes; header-only, no internal symbol */

#define W1_STATE_BYTES HL_W1_STATE_BYTES
#define W1_WRITE_BYTES HL_W1_WRITE_BYTES
#define W2_STATE_BYTES HL_W2_STATE_BYTES
#define W2_BLOCK_BYTES HL_W2_WRITE_BYTES
#define W2_BLOCKS (W2_STATE_BYTES / W2_BLOCK_BYTES)
#define W2_SPACE_COMMITS 1000u /* DESIGN: "W2, 1000 commits" */
#define W2_FULL_CHECK_EVERY 64u /* ops whose whole state is fingerprinted */

struct options {
	uint64_t w1_ops, w2_ops;
	uint64_t warmup_ops;   /* 0: ops / 10, at most 5000 */
	uint64_t seed;
	uint32_t chunk_bytes;
	uint64_t arena_mb;     /* 0: sized from the op count */
	bool json, prefault, strict, run_w1, run_w2;
	uint32_t numa;         /* enum hl_numa_mode */
};

/* ---- failing loudly (micro_workloads.c) ------------------------------------- */

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void explain_full(int rc);
void *xmalloc(size_t bytes);
/* Unlinks the live arena; atexit and on_signal call it. */
void arena_forget(void);
void on_signal(int sig);

#define CHECK(call)                                                          \
	do {                                                                 \
		int rc_ = (call);                                            \
		if (rc_ != 0) {                                              \
			explain_full(rc_);                                   \
			die("%s:%d: %s returned %d (%s)", __FILE__, __LINE__, \
			    #call, rc_, hl_strerror(rc_));                   \
		}                                                            \
	} while (0)

/* ---- time, randomness, fingerprints (micro_samples.c) ------------------------ */

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void fill_random(uint64_t *rng, unsigned char *p, size_t n);
uint64_t fingerprint(const unsigned char *p, size_t n);

/* ---- samples (micro_samples.c) ----------------------------------------------- */

struct series {
	const char *key, *workload, *op, *target_text;
	double target_ns;    /* p50 target; 0: informational */
	uint64_t *ns;
	uint64_t n, cap;
};

void series_init(struct series *s, const char *key, const char *workload,
		 const char *op, double target_ns, const char *target_text,
		 uint64_t cap);

extern uint64_t g_timer_ns; /* median cost of an empty timed region */

/* The time between two clock reads, less the cost of the reads. */
static inline uint64_t timed_ns(uint64_t t0, uint64_t t1)
{
	uint64_t d = t1 - t0;
	return d > g_timer_ns ? d - g_timer_ns : 0;
}

static inline void series_add(struct series *s, uint64_t ns)
{
	s->ns[s->n++] = ns;
}

struct summary {
	uint64_t p50, p90, p99, max;
	double ops_per_s;
	bool pass;
};

struct summary series_summarize(struct series *s);
uint64_t measure_timer_overhead(void);

/* ---- the workloads (micro_workloads.c) --------------------------------------- */

struct w1_result {
	struct series commit, commit_only, restore, restore_hot, restore_read;
	uint64_t checked_restores, arena_mb, warmup;
};

struct w2_result {
	struct series commit, commit_only, restore, restore_hot, diff;
	uint64_t checked_restores, full_checks, checked_diffs;
	uint64_t arena_mb, warmup;
	/* space: stored bytes vs unique bytes written */
	uint64_t space_commits, space_stored, space_unique, space_heap_used;
	uint64_t end_commits, end_stored, end_unique;
};

void w1_run(const struct options *o, struct w1_result *r);
void w2_run(const struct options *o, struct w2_result *r);

#endif
