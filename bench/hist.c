/*
 * hist.c - log-linear latency histograms, and the names of the bench's
 * workloads and operations.
 *
 * Why log-linear: latencies of one operation span six decades (a 300 ns
 * restore next to a 2 ms page-fault storm), and a report wants every
 * percentile within a few percent of the truth with fixed memory, merged
 * exactly across worker processes. Storing every sample (as micro.c does
 * in one process) does not fit a fixed-size shared results file; a
 * log-linear histogram (HdrHistogram's idea) does, in 9.5 KiB.
 *
 * Bucket layout (S = HL_HIST_SUB_BITS = 5, E = HL_HIST_MAX_EXP = 40):
 *
 *   bucket b           values                          width
 *   [0, 32)            b                               1
 *   [32, 64)           [32, 64)        (2^5 .. 2^6)    1
 *   [64, 96)           [64, 128)       (2^6 .. 2^7)    2
 *   ...                group g = b >> S, sub s = b & 31:
 *                      [(32+s) << (g-1), (33+s) << (g-1))
 *   [1120, 1152)       [2^39, 2^40)                    2^34
 *   [1152, 1183)       padding: never counted (see 3)
 *   1183 (last)        [2^40, UINT64_MAX]              the overflow bucket
 *
 * Invariants:
 *  1. bucket_of and bucket_upper are exact inverses over the buckets that
 *     hold values: every v lands in a bucket b with upper(prev(b)) < v <=
 *     upper(b), where prev(b) is the previous counted bucket; so
 *     bucket_of(upper(b)) == b and bucket_of(upper(b) + 1) == next(b).
 *  2. For v < 2^40, upper(bucket_of(v)) - v < v / 32: a bucket's width is
 *     at most 1/32 of its lower bound, so a percentile read back as the
 *     bucket's upper bound is within 1/32 (3.1%) above the true sample.
 *  3. HL_HIST_BUCKETS, fixed by bench.h, has room for one whole group more
 *     than the 36 groups below 2^40: the overflow needs one bucket, and
 *     it is the last one, as bench.h says. The 31 between hold nothing;
 *     their upper bound is 2^40 - 1 (zero width), so upper() stays
 *     non-decreasing and invariant 1 holds for every value.
 *  4. Counts and sums saturate at UINT64_MAX instead of wrapping, in add
 *     and in merge alike, so merging is exactly adding all the samples to
 *     one histogram (the struct has no padding: memcmp-equal).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "bench.h"

#define SUB_COUNT (1u << HL_HIST_SUB_BITS)
/* One past the last bucket below 2^MAX_EXP: 36 groups of 32. */
#define COUNTED_BUCKETS ((HL_HIST_MAX_EXP - HL_HIST_SUB_BITS + 1u) << HL_HIST_SUB_BITS)
#define OVERFLOW_BUCKET (HL_HIST_BUCKETS - 1u)
#define OVERFLOW_NS (UINT64_C(1) << HL_HIST_MAX_EXP)

_Static_assert(COUNTED_BUCKETS < HL_HIST_BUCKETS, "room for the overflow bucket");
_Static_assert(sizeof(struct hl_hist) == (4u + HL_HIST_BUCKETS) * sizeof(uint64_t),
	       "struct hl_hist has no padding: merge is memcmp-exact");

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* ---- buckets ---------------------------------------------------------------- */

unsigned hl_hist_bucket_of(uint64_t ns)
{
	if (ns < SUB_COUNT)
		return (unsigned)ns;
	if (ns >= OVERFLOW_NS)
		return OVERFLOW_BUCKET;
	unsigned e = 63u - (unsigned)__builtin_clzll(ns); /* S..MAX_EXP-1 */
	unsigned shift = e - HL_HIST_SUB_BITS;
	unsigned group = shift + 1u;
	return (group << HL_HIST_SUB_BITS) + (unsigned)((ns >> shift) - SUB_COUNT);
}

uint64_t hl_hist_bucket_upper(unsigned b)
{
	if (b < SUB_COUNT)
		return b;
	if (b >= OVERFLOW_BUCKET)
		return UINT64_MAX;
	if (b >= COUNTED_BUCKETS)
		return OVERFLOW_NS - 1u; /* padding (invariant 3) */
	unsigned shift = (b >> HL_HIST_SUB_BITS) - 1u;
	uint64_t sub = b & (SUB_COUNT - 1u);
	return ((SUB_COUNT + 1u + sub) << shift) - 1u;
}

/* ---- recording and merging --------------------------------------------------- */

void hl_hist_init(struct hl_hist *h)
{
	memset(h, 0, sizeof *h);
	h->min_ns = UINT64_MAX;
}

void hl_hist_add(struct hl_hist *h, uint64_t ns)
{
	h->count = sat_add(h->count, 1);
	h->sum_ns = sat_add(h->sum_ns, ns);
	if (ns < h->min_ns)
		h->min_ns = ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
	unsigned b = hl_hist_bucket_of(ns);
	h->bucket[b] = sat_add(h->bucket[b], 1);
}

void hl_hist_merge(struct hl_hist *into, const struct hl_hist *from)
{
	into->count = sat_add(into->count, from->count);
	into->sum_ns = sat_add(into->sum_ns, from->sum_ns);
	if (from->min_ns < into->min_ns)
		into->min_ns = from->min_ns;
	if (from->max_ns > into->max_ns)
		into->max_ns = from->max_ns;
	for (unsigned b = 0; b < HL_HIST_BUCKETS; b++)
		into->bucket[b] = sat_add(into->bucket[b], from->bucket[b]);
}

/* ---- reading ------------------------------------------------------------------ */

/*
 * The 1-based rank of percentile pct among count samples:
 * ceil(pct/100 * count), at least 1, at most count. pct * count is
 * computed before the division so that whole percentages of round counts
 * are exact (0.07 * 100 is 7.000000000000001 in binary, and ceil would
 * make it 8); the tiny relative slack absorbs what rounding is left.
 */
static uint64_t rank_of(double pct, uint64_t count)
{
	if (!(pct > 0)) /* also NaN */
		return 1;
	if (pct >= 100)
		return count;
	double x = pct * (double)count / 100.0;
	double r = ceil(x - x * 1e-12);
	if (r < 1)
		return 1;
	if (r >= (double)count)
		return count;
	return (uint64_t)r;
}

uint64_t hl_hist_percentile(const struct hl_hist *h, double pct)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = rank_of(pct, h->count);
	/* The smallest sample is known exactly: no bucket bound needed. */
	if (rank == 1)
		return h->min_ns;
	uint64_t seen = 0;
	unsigned b = 0;
	for (; b < HL_HIST_BUCKETS; b++) {
		seen = sat_add(seen, h->bucket[b]);
		if (seen >= rank)
			break;
	}
	uint64_t v = hl_hist_bucket_upper(b < HL_HIST_BUCKETS ? b : OVERFLOW_BUCKET);
	if (v < h->min_ns)
		v = h->min_ns;
	if (v > h->max_ns)
		v = h->max_ns;
	return v;
}

double hl_hist_mean_ns(const struct hl_hist *h)
{
	return h->count ? (double)h->sum_ns / (double)h->count : 0.0;
}

/* ---- names --------------------------------------------------------------------- */


static const char *const op_names[HL_OP_COUNT] = {
	[HL_OP_COMMIT] = "commit",
	[HL_OP_RESTORE] = "restore",
	[HL_OP_FORK] = "fork",
	[HL_OP_DIFF] = "diff",
	[HL_OP_RESTORE_READ] = "restore+read",
};

const char *hl_bench_op_name(enum hl_bench_op op)
{
	return (unsigned)op < HL_OP_COUNT ? op_names[op] : "unknown";
}
