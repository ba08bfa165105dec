/*
 * micro_samples.c - how helios-bench-micro measures: the randomness of its
 * writes, the fingerprints it checks read-back bytes against, and the
 * series of per-operation samples with their percentiles (micro.c's notes
 * 1 and 2: each op timed on its own, the median cost of an empty timed
 * region subtracted, ops/s = 1 / mean).
 *
 * Invariants:
 *  1. A series never holds more samples than its cap (series_init's cap
 *     is the op count of the loop that fills it).
 *  2. Percentiles are nearest-rank over the sorted samples: p50 of one
 *     sample is that sample.
 */
#include <stdlib.h>
#include <string.h>

#include "micro.h"

void fill_random(uint64_t *rng, unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = splitmix64(rng);
		memcpy(p + i, &v, n - i < 8 ? n - i : 8);
	}
}

/* A 64-bit fingerprint to check read-back bytes against (not a content
 * address: it only has to catch a wrong answer, not an adversary). */
uint64_t fingerprint(const unsigned char *p, size_t n)
{
	uint64_t h = 0x243f6a8885a308d3ull ^ n;
	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	for (size_t i = n & ~(size_t)7; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

void series_init(struct series *s, const char *key, const char *workload,
		 const char *op, double target_ns, const char *target_text,
		 uint64_t cap)
{
	*s = (struct series){.key = key, .workload = workload, .op = op,
			     .target_ns = target_ns, .target_text = target_text,
			     .ns = xmalloc(cap * sizeof(uint64_t)), .cap = cap};
}

uint64_t g_timer_ns; /* median cost of an empty timed region */

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return (a > b) - (a < b);
}

/* Nearest-rank percentile of sorted samples. */
static uint64_t pct(const uint64_t *v, uint64_t n, double p)
{
	uint64_t rank = (uint64_t)(p * (double)n + 0.999999);
	return v[rank ? rank - 1 : 0];
}

struct summary series_summarize(struct series *s)
{
	struct summary r = {0};
	if (!s->n)
		return r;
	qsort(s->ns, s->n, sizeof *s->ns, cmp_u64);
	long double sum = 0;
	for (uint64_t i = 0; i < s->n; i++)
		sum += s->ns[i];
	r.p50 = pct(s->ns, s->n, 0.50);
	r.p90 = pct(s->ns, s->n, 0.90);
	r.p99 = pct(s->ns, s->n, 0.99);
	r.max = s->ns[s->n - 1];
	r.ops_per_s = sum > 0 ? (double)(s->n * 1e9L / sum) : 0;
	r.pass = s->target_ns == 0 || (double)r.p50 <= s->target_ns;
	return r;
}

uint64_t measure_timer_overhead(void)
{
	enum { N = 100001 };
	uint64_t *v = xmalloc(N * sizeof *v);
	for (int i = 0; i < 1000; i++)
		(void)now_ns();
	for (int i = 0; i < N; i++) {
		uint64_t t0 = now_ns();
		uint64_t t1 = now_ns();
		v[i] = t1 - t0;
	}
	qsort(v, N, sizeof *v, cmp_u64);
	uint64_t m = v[N / 2];
	free(v);
	return m;
}
