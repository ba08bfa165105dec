/*
 * test_bench.c - the benchmark harness's own logic, without running a
 * benchmark: the latency histogram (bucket bounds, resolution, percentiles,
 * merging), the names, and the reports (table, JSON, CSV, SVG) of a
 * synthetic struct hl_bench_report filled by hand.
 *
 * How the reports are checked:
 *  1. JSON and SVG are parsed by Python (json, xml.etree): the parsers a
 *     user's program would use, not one written here. The checks are a
 *     Python script written to a temporary file and run with the output
 *     file as its argument; it exits non-zero with the failed assertion.
 *  2. The values the script expects are the ones filled in below, and the
 *     ratios are recomputed from the percentiles the JSON itself reports,
 *     so a wrong ratio cannot hide behind a consistent wrong percentile.
 *  3. The synthetic report has the cases a run produces: a scaling sweep
 *     with one target met and one missed, a peer faster and one slower than
 *     Helios, a peer skipped for both workloads (one line in the table), a
 *     peer that failed with control bytes and invalid UTF-8 in its reason,
 *     and a machine string with quotes, a backslash and non-ASCII text.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define SUB (1u << HL_HIST_SUB_BITS)
#define COUNTED ((HL_HIST_MAX_EXP - HL_HIST_SUB_BITS + 1u) << HL_HIST_SUB_BITS)
#define LAST (HL_HIST_BUCKETS - 1u)
#define TOP (UINT64_C(1) << HL_HIST_MAX_EXP)

static uint64_t rng_next(uint64_t *s) /* splitmix64 */
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A latency-like sample: log-uniform over 2^4..2^(4+span) ns. */
static uint64_t rng_latency(uint64_t *s, unsigned span)
{
	unsigned e = 4 + (unsigned)(rng_next(s) % span);
	return (UINT64_C(1) << e) + rng_next(s) % (UINT64_C(1) << e);
}

/* ---- buckets -------------------------------------------------------------------- */

/* Every value lands in a bucket b with upper(b-1) < v <= upper(b). */
static void check_lands(uint64_t v)
{
	unsigned b = hl_hist_bucket_of(v);
	cr_assert_lt(b, HL_HIST_BUCKETS, "v=%" PRIu64, v);
	cr_assert_geq(hl_hist_bucket_upper(b), v, "v=%" PRIu64 " b=%u", v, b);
	if (b > 0)
		cr_assert_lt(hl_hist_bucket_upper(b - 1), v, "v=%" PRIu64 " b=%u", v, b);
}

Test(hist, buckets_exhaustive_below_2_to_the_20)
{
	unsigned prev = 0;
	for (uint64_t v = 0; v < (1u << 20); v++) {
		check_lands(v);
		unsigned b = hl_hist_bucket_of(v);
		cr_assert(b == prev || b == prev + 1, "v=%" PRIu64 ": %u after %u", v, b, prev);
		prev = b;
	}
	for (uint64_t v = 0; v < SUB; v++)
		cr_assert_eq(hl_hist_bucket_of(v), v, "one bucket each below 2^SUB_BITS");
}

Test(hist, buckets_sampled_up_to_2_to_the_40)
{
	uint64_t s = 42;
	for (unsigned e = 20; e < HL_HIST_MAX_EXP; e++) {
		uint64_t lo = UINT64_C(1) << e;
		check_lands(lo);
		check_lands(lo - 1);
		check_lands(2 * lo - 1);
		for (unsigned i = 0; i < 20000; i++)
			check_lands(lo + rng_next(&s) % lo);
	}
	check_lands(TOP - 1);
}

Test(hist, bucket_upper_and_bucket_of_are_inverses)
{
	for (unsigned b = 0; b < COUNTED; b++) {
		uint64_t u = hl_hist_bucket_upper(b);
		cr_assert_eq(hl_hist_bucket_of(u), b, "bucket_of(upper(%u))", b);
		unsigned next = b + 1 < COUNTED ? b + 1 : LAST;
		cr_assert_eq(hl_hist_bucket_of(u + 1), next, "bucket_of(upper(%u) + 1)", b);
		if (b)
			cr_assert_gt(u, hl_hist_bucket_upper(b - 1), "upper increasing at %u", b);
	}
	cr_assert_eq(hl_hist_bucket_upper(COUNTED - 1), TOP - 1);
	cr_assert_eq(hl_hist_bucket_upper(LAST), UINT64_MAX);
}

Test(hist, values_from_2_to_the_40_go_to_the_last_bucket)
{
	uint64_t s = 7;
	cr_assert_eq(hl_hist_bucket_of(TOP), LAST);
	cr_assert_eq(hl_hist_bucket_of(TOP + 1), LAST);
	cr_assert_eq(hl_hist_bucket_of(UINT64_MAX), LAST);
	for (unsigned i = 0; i < 10000; i++)
		cr_assert_eq(hl_hist_bucket_of(TOP | rng_next(&s)), LAST);
	/* nothing ever lands between the counted buckets and the last */
	for (unsigned i = 0; i < 100000; i++) {
		unsigned b = hl_hist_bucket_of(rng_next(&s) >> (rng_next(&s) % 64));
		cr_assert(b < COUNTED || b == LAST, "padding bucket %u used", b);
	}
}

Test(hist, relative_error_at_most_1_in_32_from_1ns_to_2_to_the_40)
{
	uint64_t s = 1;
	double worst = 0;
	for (unsigned e = 0; e < HL_HIST_MAX_EXP; e++) {
		uint64_t lo = UINT64_C(1) << e;
		for (unsigned i = 0; i < 4096; i++) {
			uint64_t v = i == 0 ? lo : i == 1 ? 2 * lo - 1 : lo + rng_next(&s) % lo;
			uint64_t u = hl_hist_bucket_upper(hl_hist_bucket_of(v));
			double err = (double)(u - v) / (double)v;
			cr_assert_leq((u - v) * 32, v, "v=%" PRIu64 " upper=%" PRIu64, v, u);
			if (err > worst)
				worst = err;
		}
	}
	/* and the buckets are as coarse as promised, not needlessly fine */
	cr_assert_gt(worst, 1.0 / 40, "worst relative error %g", worst);
}

/* ---- percentiles ---------------------------------------------------------------- */

static void assert_near(uint64_t got, double want, double rel, const char *what)
{
	cr_assert_leq(fabs((double)got - want), want * rel, "%s: %" PRIu64 " vs %.0f",
		      what, got, want);
}

Test(hist, percentiles_of_uniform_1_to_100000)
{
	struct hl_hist h;
	hl_hist_init(&h);
	for (uint64_t v = 1; v <= 100000; v++)
		hl_hist_add(&h, v);
	cr_assert_eq(h.count, 100000);
	assert_near(hl_hist_percentile(&h, 50), 50000, 0.032, "p50");
	assert_near(hl_hist_percentile(&h, 90), 90000, 0.032, "p90");
	assert_near(hl_hist_percentile(&h, 99), 99000, 0.032, "p99");
	assert_near(hl_hist_percentile(&h, 99.9), 99900, 0.032, "p99.9");
	/* the bucket's upper bound: never below the true sample */
	cr_assert_geq(hl_hist_percentile(&h, 50), 50000);
	cr_assert_geq(hl_hist_percentile(&h, 99), 99000);
	cr_assert_eq(hl_hist_percentile(&h, 0), 1);
	cr_assert_eq(hl_hist_percentile(&h, 100), 100000);
	cr_assert_float_eq(hl_hist_mean_ns(&h), 50000.5, 1e-9);
}

Test(hist, percentiles_exact_where_buckets_are_one_wide)
{
	struct hl_hist h;
	hl_hist_init(&h);
	for (uint64_t v = 1; v <= 20; v++)
		hl_hist_add(&h, v);
	cr_assert_eq(hl_hist_percentile(&h, 50), 10); /* ceil(0.5 * 20) = 10th */
	cr_assert_eq(hl_hist_percentile(&h, 51), 11);
	cr_assert_eq(hl_hist_percentile(&h, 35), 7);  /* 7.0 exactly, not 8 */
	cr_assert_eq(hl_hist_percentile(&h, 5), 1);
	cr_assert_eq(hl_hist_percentile(&h, 95), 19);
}

Test(hist, p0_and_p100_are_min_and_max)
{
	uint64_t s = 99;
	struct hl_hist h;
	hl_hist_init(&h);
	uint64_t min = UINT64_MAX, max = 0;
	for (unsigned i = 0; i < 50000; i++) {
		uint64_t v = rng_latency(&s, 20);
		min = v < min ? v : min;
		max = v > max ? v : max;
		hl_hist_add(&h, v);
	}
	cr_assert_eq(h.min_ns, min);
	cr_assert_eq(h.max_ns, max);
	cr_assert_eq(hl_hist_percentile(&h, 0), min);
	cr_assert_eq(hl_hist_percentile(&h, 100), max);

	struct hl_hist one;
	hl_hist_init(&one);
	hl_hist_add(&one, 123457);
	for (double p = 0; p <= 100; p += 12.5)
		cr_assert_eq(hl_hist_percentile(&one, p), 123457, "p%g of one sample", p);
}

Test(hist, empty_histogram)
{
	struct hl_hist h;
	memset(&h, 0xa5, sizeof h);
	hl_hist_init(&h);
	cr_assert_eq(h.count, 0);
	cr_assert_eq(h.sum_ns, 0);
	cr_assert_eq(h.min_ns, UINT64_MAX);
	cr_assert_eq(h.max_ns, 0);
	for (unsigned b = 0; b < HL_HIST_BUCKETS; b++)
		cr_assert_eq(h.bucket[b], 0);
	cr_assert_eq(hl_hist_percentile(&h, 0), 0);
	cr_assert_eq(hl_hist_percentile(&h, 50), 0);
	cr_assert_eq(hl_hist_percentile(&h, 100), 0);
	cr_assert_float_eq(hl_hist_mean_ns(&h), 0.0, 1e-12);
}

Test(hist, percentile_is_monotonic_in_pct)
{
	uint64_t s = 5;
	struct hl_hist h;
	hl_hist_init(&h);
	for (unsigned i = 0; i < 30000; i++)
		hl_hist_add(&h, rng_latency(&s, 24));
	uint64_t prev = 0;
	for (double p = 0; p <= 100.0001; p += 0.05) {
		uint64_t v = hl_hist_percentile(&h, p);
		cr_assert_geq(v, prev, "p%g = %" PRIu64 " < %" PRIu64, p, v, prev);
		cr_assert(v >= h.min_ns && v <= h.max_ns);
		prev = v;
	}
	cr_assert_eq(hl_hist_percentile(&h, -5), h.min_ns);
	cr_assert_eq(hl_hist_percentile(&h, 250), h.max_ns);
	cr_assert_eq(hl_hist_percentile(&h, NAN), h.min_ns);
}

Test(hist, merge_equals_adding_every_sample_to_one)
{
	uint64_t s = 11;
	struct hl_hist part[4], merged, all;
	hl_hist_init(&all);
	hl_hist_init(&merged);
	for (unsigned k = 0; k < 4; k++) {
		hl_hist_init(&part[k]);
		for (unsigned i = 0; i < 5000u * (k + 1); i++) {
			uint64_t v = i % 997 == 0 ? TOP + i : rng_latency(&s, 30);
			hl_hist_add(&part[k], v);
			hl_hist_add(&all, v);
		}
	}
	struct hl_hist empty;
	hl_hist_init(&empty);
	hl_hist_merge(&merged, &empty); /* an empty worker changes nothing */
	for (unsigned k = 0; k < 4; k++)
		hl_hist_merge(&merged, &part[k]);
	hl_hist_merge(&merged, &empty);
	cr_assert_eq(merged.count, all.count);
	cr_assert_eq(merged.min_ns, all.min_ns);
	cr_assert_eq(merged.max_ns, all.max_ns);
	cr_assert(memcmp(&merged, &all, sizeof all) == 0, "merged != all samples");
	cr_assert_eq(hl_hist_percentile(&merged, 99), hl_hist_percentile(&all, 99));
}

Test(hist, sums_saturate_instead_of_wrapping)
{
	struct hl_hist h;
	hl_hist_init(&h);
	hl_hist_add(&h, UINT64_MAX);
	hl_hist_add(&h, UINT64_MAX);
	cr_assert_eq(h.sum_ns, UINT64_MAX);
	cr_assert_eq(h.bucket[LAST], 2);
	cr_assert_eq(hl_hist_percentile(&h, 50), UINT64_MAX);
	struct hl_hist m = h;
	hl_hist_merge(&m, &h);
	cr_assert_eq(m.sum_ns, UINT64_MAX);
	cr_assert_eq(m.count, 4);
}

/* ---- names ------------------------------------------------------------------------ */

Test(names, workloads_and_ops)
{
	cr_assert_str_eq(hl_workload_name(HL_WORKLOAD_W1), "w1");
	cr_assert_str_eq(hl_workload_name(HL_WORKLOAD_W2), "w2");
	cr_assert_str_eq(hl_workload_name(HL_WORKLOAD_MIXED), "mixed");
	for (int w = 0; w < HL_WORKLOAD_COUNT; w++)
		cr_assert_eq(hl_workload_parse(hl_workload_name(w)), w);
	cr_assert_eq(hl_workload_parse("W2"), HL_WORKLOAD_W2);
	cr_assert_eq(hl_workload_parse("w3"), -1);
	cr_assert_eq(hl_workload_parse(""), -1);
	cr_assert_eq(hl_workload_parse(NULL), -1);
	cr_assert_str_eq(hl_bench_op_name(HL_OP_COMMIT), "commit");
	cr_assert_str_eq(hl_bench_op_name(HL_OP_RESTORE), "restore");
	cr_assert_str_eq(hl_bench_op_name(HL_OP_FORK), "fork");
	cr_assert_str_eq(hl_bench_op_name(HL_OP_DIFF), "diff");
	cr_assert_str_eq(hl_bench_op_name(HL_OP_COUNT), "unknown");
}

/* ---- the synthetic report ----------------------------------------------------------- */

#define MACHINE "4 CPUs, 1 NUMA node, \"Quoted\" CPU \\ model \xc2\xb5" "arch, flags: avx2, Linux"
#define ROCKS_WHY "librocksdb is not installed: apt-get install librocksdb-dev"

/* 60% of n samples at base, the rest spread up to 30x base: a known p50
 * (base's bucket bound) and a tail for the plot. */
static void fill_hist(struct hl_hist *h, uint64_t base, uint64_t n)
{
	hl_hist_init(h);
	for (uint64_t i = 0; i < n; i++)
		hl_hist_add(h, i % 10 < 6 ? base : base + base * 29 * (i % 97) / 96);
}

static void add_run(struct hl_bench_report *r, enum hl_workload w,
		    unsigned workers, double ops_per_s, uint64_t commit_ns,
		    uint64_t restore_ns)
{
	struct hl_bench_run *run = &r->runs[r->run_count++];
	memset(run, 0, sizeof *run);
	run->workload = w;
	run->workers = workers;
	run->seconds = 2.5;
	for (unsigned op = 0; op < HL_OP_COUNT; op++)
		hl_hist_init(&run->op[op]);
	fill_hist(&run->op[HL_OP_COMMIT], commit_ns, 1000 * workers);
	fill_hist(&run->op[HL_OP_RESTORE], restore_ns, 1000 * workers);
	if (w == HL_WORKLOAD_W2)
		fill_hist(&run->op[HL_OP_DIFF], 1500, 500);
	if (w == HL_WORKLOAD_W1) /* the same restores with their read */
		fill_hist(&run->op[HL_OP_RESTORE_READ], restore_ns * 5 / 2, 1000 * workers);
	for (unsigned op = 0; op < HL_OP_COUNT; op++) {
		run->count[op] = run->op[op].count;
		run->ops += op == HL_OP_RESTORE_READ ? 0 : run->op[op].count;
	}
	run->ops_per_s = ops_per_s;
	run->commits_per_s = ops_per_s / 2;
	run->verified = run->ops;
	run->unique_bytes = 1000000;
	run->stored_bytes = 1050000;
	run->dedup_bytes = 3000000;
	run->heap_used_bytes = 2000000;
	run->nodes = 777;
}

static void add_peer(struct hl_bench_report *r, const char *name,
		     enum hl_workload w, uint64_t commit_ns, uint64_t restore_ns)
{
	struct hl_bench_peer_row *p = &r->peers[r->peer_count++];
	memset(p, 0, sizeof *p);
	p->peer = name;
	p->workload = w;
	fill_hist(&p->r.commit, commit_ns, 800);
	fill_hist(&p->r.restore, restore_ns, 800);
	p->r.ops = 800;
	p->r.verified = 800;
	p->r.seconds = 0.5;
	snprintf(p->r.config, sizeof p->r.config, "%s 1.0, MDB_NOSYNC", name);
}

static void add_skipped(struct hl_bench_report *r, const char *name,
			enum hl_workload w, bool failed, const char *why)
{
	struct hl_bench_peer_row *p = &r->peers[r->peer_count++];
	memset(p, 0, sizeof *p);
	p->peer = name;
	p->workload = w;
	p->skipped = !failed;
	p->failed = failed;
	snprintf(p->why, sizeof p->why, "%s", why);
}

static struct hl_bench_report *synthetic(void)
{
	struct hl_bench_report *r = calloc(1, sizeof *r);
	cr_assert_not_null(r);
	snprintf(r->date, sizeof r->date, "2026-11-20 23:30");
	snprintf(r->command, sizeof r->command, "helios bench --ops 1000 --workers 1,2,8");
	snprintf(r->machine, sizeof r->machine, "%s", MACHINE);
	r->cpus = 4;
	r->numa_nodes = 1;
	add_run(r, HL_WORKLOAD_W1, 1, 1.0e6, 1000, 250);
	add_run(r, HL_WORKLOAD_W1, 2, 1.86e6, 1100, 260);
	add_run(r, HL_WORKLOAD_W1, 8, 1.4e6, 3000, 700);
	add_run(r, HL_WORKLOAD_W2, 1, 2.0e5, 3000, 280);
	/* W1's one-core run (no page helper): the scaling targets' baseline */
	add_run(r, HL_WORKLOAD_W1, 1, 0.93e6, 1200, 260);
	r->one_core_runs[0] = r->runs[--r->run_count];
	r->one_core_runs[0].one_core = true;
	r->one_core_count = 1;
	add_peer(r, "lmdb", HL_WORKLOAD_W1, 6000, 1000);  /* ~6x and ~4x slower */
	add_peer(r, "lmdb", HL_WORKLOAD_W2, 1500, 140);   /* ~2x faster */
	add_skipped(r, "rocksdb", HL_WORKLOAD_W1, false, ROCKS_WHY);
	add_skipped(r, "rocksdb", HL_WORKLOAD_W2, false, ROCKS_WHY);
	add_skipped(r, "redis", HL_WORKLOAD_W1, true, "redis-server exited \x01 \xff\xfe early");
	return r;
}

/* Helios rows (W1: 3 runs x 3 ops, restore+read the third; W2: 3 ops) and lmdb's 2 x 2. */
#define CSV_ROWS (3 * 3 + 3 + 2 * 2)

/* ---- files and python ----------------------------------------------------------------- */

/* A fresh temporary path (the file exists, empty). */
static void temp_path(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "/tmp/test-bench-%s-XXXXXX", tag);
	int fd = mkstemp(buf);
	cr_assert_geq(fd, 0, "mkstemp %s", buf);
	close(fd);
}

/* Runs python3 with script (written to a temp file) on file; its status. */
static int python(const char *script, const char *file)
{
	char path[64], cmd[1024];
	temp_path(path, sizeof path, "py");
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(script, f);
	fclose(f);
	snprintf(cmd, sizeof cmd, "python3 %s %s", path, file);
	int st = system(cmd);
	unlink(path);
	cr_assert(WIFEXITED(st), "python3 did not exit");
	return WEXITSTATUS(st);
}

/* The whole of what fn wrote for r, NUL-terminated; free it. */
static char *capture(int (*fn)(FILE *, const struct hl_bench_report *),
		     const struct hl_bench_report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	cr_assert_eq(fn(f, r), 0);
	fclose(f);
	return buf;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

static unsigned count_of(const char *hay, const char *needle)
{
	unsigned n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* ---- JSON ------------------------------------------------------------------------------- */

static const char json_check[] =
	"import json, sys\n"
	"d = json.load(open(sys.argv[1], encoding='utf-8'))\n"
	"def is_int(x): return type(x) is int\n"
	"def is_num(x): return type(x) in (int, float)\n"
	"assert d['schema'] == 'helios-bench/1'\n"
	"assert d['date'] == '2026-11-20 23:30', d['date']\n"
	"assert d['command'] == 'helios bench --ops 1000 --workers 1,2,8'\n"
	"m = d['machine']\n"
	"assert m['description'] == '4 CPUs, 1 NUMA node, \"Quoted\" CPU \\\\ model \\u00b5arch, flags: avx2, Linux', m\n"
	"assert m['cpus'] == 4 and m['numa_nodes'] == 1 and is_int(m['cpus'])\n"
	"runs = d['runs']\n"
	"assert [(x['workload'], x['workers']) for x in runs] == [('w1',1),('w1',2),('w1',8),('w2',1)]\n"
	"for x in runs:\n"
	"    for k in ('ops','verified','unique_bytes','stored_bytes','dedup_bytes','heap_used_bytes','nodes'):\n"
	"        assert is_int(x[k]), k\n"
	"    for k in ('seconds','ops_per_s','commits_per_s','dedup_ratio'):\n"
	"        assert is_num(x[k]), k\n"
	"    assert set(x['per_op']) == {'commit','restore','fork','diff','restore+read'}\n"
	"    for name, o in x['per_op'].items():\n"
	"        for k in ('count','p50_ns','p90_ns','p99_ns','p999_ns','max_ns','min_ns'):\n"
	"            assert is_int(o[k]), (name, k)\n"
	"        assert is_num(o['mean_ns']) and is_num(o['ops_per_s'])\n"
	"        assert o['p50_ns'] <= o['p90_ns'] <= o['p99_ns'] <= o['p999_ns'] <= o['max_ns']\n"
	"    assert x['per_op']['commit']['count'] == 1000 * x['workers']\n"
	"    assert x['per_op']['fork']['count'] == 0 and x['per_op']['fork']['p50_ns'] == 0\n"
	"    assert x['nodes'] == 777 and x['unique_bytes'] == 1000000\n"
	"    assert abs(x['dedup_ratio'] - 3000000/4050000) < 1e-9\n"
	"    assert abs(x['stored_per_unique'] - 1.05) < 1e-9\n"
	"w11, w12, w18, w21 = runs\n"
	"assert w11['per_op']['commit']['min_ns'] == 1000 and w11['per_op']['commit']['max_ns'] == 30000\n"
	"assert 1000 <= w11['per_op']['commit']['p50_ns'] <= 1000 * 33 // 32\n"
	"assert w21['per_op']['diff']['count'] == 500\n"
	"assert w11['per_op']['commit']['p50_target_ns'] == 1000 and w11['per_op']['commit']['p50_pass'] is False\n"
	"assert w12['per_op']['commit']['p50_target_ns'] is None\n"
	"assert w11['scaling_ratio'] == 1 and w11['scaling_target'] is None and w11['scaling_pass'] is None\n"
	"assert abs(w12['scaling_ratio'] - 1.86) < 1e-9 and w12['scaling_target'] == 1.8 and w12['scaling_pass'] is True\n"
	"assert abs(w12['scaling_ratio_one_core'] - 2.0) < 1e-9\n"
	/* 8 workers: 1.4x one worker misses 1.5x, 1.505x one core passes: judged there */
	"assert abs(w18['scaling_ratio'] - 1.4) < 1e-9 and w18['scaling_target'] == 1.5 and w18['scaling_pass'] is True\n"
	"assert abs(w18['scaling_ratio_one_core'] - 1.4 / 0.93) < 1e-9\n"
	"assert w21['scaling_ratio_one_core'] is None and not any(x['one_core'] for x in runs)\n"
	"oc = d['one_core_runs']\n"
	"assert len(oc) == 1 and oc[0]['workload'] == 'w1' and oc[0]['workers'] == 1, oc\n"
	"assert oc[0]['per_op']['commit']['count'] == 1000\n"
	"assert w21['stored_per_unique_target'] == 1.1 and w21['stored_per_unique_pass'] is True\n"
	"assert w11['stored_per_unique_target'] is None and w11['stored_per_unique_pass'] is None\n"
	"sc = d['scaling']\n"
	"assert len(sc) == 4 and sc[1]['workers'] == 2 and abs(sc[1]['ratio'] - 1.86) < 1e-9 and sc[1]['pass'] is True\n"
	"assert sc[2]['pass'] is True and abs(sc[2]['ratio_one_core'] - 1.4 / 0.93) < 1e-9 and sc[3]['ratio'] == 1\n"
	"assert sc[3]['ratio_one_core'] is None\n"
	"p = d['peers']\n"
	"assert [(x['peer'], x['workload']) for x in p] == [('lmdb','w1'),('lmdb','w2'),('rocksdb','w1'),('rocksdb','w2'),('redis','w1')]\n"
	"for x in p:\n"
	"    for k in ('skipped','failed'): assert type(x[k]) is bool\n"
	"    assert type(x['why']) is str and type(x['config']) is str\n"
	"lm1, lm2, rk1, rk2, rd = p\n"
	"assert not lm1['skipped'] and not lm1['failed'] and lm1['config'] == 'lmdb 1.0, MDB_NOSYNC'\n"
	"assert lm1['ops'] == 800 and lm1['commit']['count'] == 800 and lm1['restore']['min_ns'] == 1000\n"
	"assert abs(lm1['commit']['ops_per_s'] - 1600) < 1e-6\n"
	"r = lm1['commit']['p50_ns'] / w11['per_op']['commit']['p50_ns']\n"
	"assert abs(lm1['commit_vs_helios'] - r) < 1e-6 and 5.8 < r < 6.2, r\n"
	"assert w11['per_op']['restore+read']['count'] == 1000 and w21['per_op']['restore+read']['count'] == 0\n"
	"assert abs(w11['per_op']['restore+read']['ops_per_s'] - w11['per_op']['restore']['ops_per_s']) < 1e-6\n"
	"assert abs(w11['per_op']['commit']['ops_per_s'] - 0.5e6) < 1e-6, 'restore+read is in no share'\n"
	"r = lm1['restore']['p50_ns'] / w11['per_op']['restore+read']['p50_ns']\n"
	"assert abs(lm1['restore_vs_helios'] - r) < 1e-6 and 1.5 < r < 1.7, r\n"
	"assert lm1['restore_vs_helios_op'] == 'restore+read' and lm2['restore_vs_helios_op'] == 'restore'\n"
	"assert lm1['commit_target'] == 10 and lm1['commit_pass'] is False\n"
	"assert lm1['restore_target'] == 1.1 and lm1['restore_pass'] is True\n"
	"assert lm2['commit_target'] == 200 and lm2['commit_pass'] is False\n"
	"assert lm2['restore_target'] is None and lm2['restore_pass'] is None\n"
	"r = lm2['commit']['p50_ns'] / w21['per_op']['commit']['p50_ns']\n"
	"assert abs(lm2['commit_vs_helios'] - r) < 1e-6 and 0.45 < r < 0.55, r\n"
	"assert rk1['skipped'] is True and rk1['failed'] is False and rk1['why'] == '" ROCKS_WHY "'\n"
	"assert rk1['commit'] is None and rk1['restore'] is None and rk1['commit_vs_helios'] is None\n"
	"assert rk1['restore_vs_helios_op'] is None and rk1['commit_target'] is None\n"
	"assert rd['failed'] is True and rd['skipped'] is False and rd['commit'] is None\n"
	"assert rd['why'] == 'redis-server exited \\x01 \\ufffd\\ufffd early', repr(rd['why'])\n";

Test(report, json_parses_and_holds_what_was_filled)
{
	struct hl_bench_report *r = synthetic();
	char path[64];
	temp_path(path, sizeof path, "json");
	char *text = capture(hl_bench_report_json, r);
	write_file(path, text);
	int st = python(json_check, path);
	unlink(path);
	cr_assert_eq(st, 0, "the JSON check failed:\n%s", text);
	free(text);
	free(r);
}

static const char json_empty_check[] =
	"import json, sys\n"
	"d = json.load(open(sys.argv[1]))\n"
	"assert d['runs'] == [] and d['scaling'] == [] and d['peers'] == []\n"
	"assert d['machine']['cpus'] == 0 and d['date'] == ''\n";

Test(report, json_of_an_empty_report_parses)
{
	struct hl_bench_report *r = calloc(1, sizeof *r);
	char path[64];
	temp_path(path, sizeof path, "json");
	char *text = capture(hl_bench_report_json, r);
	write_file(path, text);
	int st = python(json_empty_check, path);
	unlink(path);
	cr_assert_eq(st, 0, "%s", text);
	free(text);
	free(r);
}

/* ---- CSV --------------------------------------------------------------------------------- */

Test(report, csv_has_the_header_and_one_row_per_measurement)
{
	struct hl_bench_report *r = synthetic();
	char *text = capture(hl_bench_report_csv, r);
	const char *header = "system,workload,workers,op,count,p50_ns,p90_ns,p99_ns,"
			     "p999_ns,max_ns,mean_ns,ops_per_s\n";
	cr_assert(!strncmp(text, header, strlen(header)), "header: %s", text);
	unsigned lines = 0;
	for (char *line = text, *end; *line; line = end + 1) {
		end = strchr(line, '\n');
		cr_assert_not_null(end, "unterminated last line");
		unsigned commas = 0;
		for (char *c = line; c < end; c++)
			commas += *c == ',';
		cr_assert_eq(commas, 11, "row %u has %u fields: %.*s", lines, commas + 1,
			     (int)(end - line), line);
		lines++;
	}
	cr_assert_eq(lines, 1 + CSV_ROWS, "%s", text);
	cr_assert_eq(count_of(text, "\nhelios,"), 12);
	cr_assert_eq(count_of(text, "\nlmdb,w1,1,commit,800,"), 1);
	cr_assert_eq(count_of(text, "\nhelios,w1,8,restore,8000,"), 1);
	cr_assert_eq(count_of(text, "rocksdb"), 0, "skipped peers have no rows");
	cr_assert_eq(count_of(text, "redis"), 0, "failed peers have no rows");
	free(text);
	free(r);
}

/* ---- table --------------------------------------------------------------------------------- */

Test(report, table_has_the_machine_the_ratios_and_the_skipped_lines)
{
	struct hl_bench_report *r = synthetic();
	char *t = capture(hl_bench_report_table, r);
	cr_assert(!strncmp(t, "helios bench  2026-11-20 23:30\nmachine  " MACHINE "\n",
			   strlen("helios bench  2026-11-20 23:30\nmachine  " MACHINE "\n")),
		  "header:\n%s", t);
	cr_assert_not_null(strstr(t, "command  helios bench --ops 1000"), "%s", t);
	const char *want[] = {
		"W1: 4 KiB state", "W2: 1 MiB state", "p99.9",
		"1.86x      2.00x  >= 1.8x PASS", "1.40x      1.51x  >= 1.5x PASS",
		"w1        1 core     930.0k", "one core (1 worker, HELIOS_PAGE_HELPER=0",
		"1.05x  <= 1.1x PASS", "6.0x slower than Helios",
		"1.6x slower than Helios (+read)", "2.0x faster than Helios",
		"commit >= 10x MISS, restore >= 1.1x PASS", "commit >= 200x MISS",
		"restore+read",
		"rocksdb     skipped: " ROCKS_WHY, "redis       w1       FAILED: redis-server",
		"lmdb        config: lmdb 1.0, MDB_NOSYNC", "74.1%",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		cr_assert_not_null(strstr(t, want[i]), "missing \"%s\" in:\n%s", want[i], t);
	cr_assert_eq(count_of(t, "skipped"), 1, "one line per skipped peer:\n%s", t);
	cr_assert_eq(count_of(t, " \n"), 0, "trailing blanks:\n%s", t);
	/* W1 p50 target: commit's bucket bound 1007 ns misses 1 us; restore passes */
	cr_assert_not_null(strstr(t, "<= 1.00 us MISS"), "%s", t);
	cr_assert_not_null(strstr(t, "<= 300 ns PASS"), "%s", t);
	free(t);
	free(r);
}

Test(report, table_with_no_one_worker_run_has_no_ratio)
{
	struct hl_bench_report *r = synthetic();
	r->runs[0].workers = 3; /* W1's baselines gone */
	r->one_core_count = 0;
	char *t = capture(hl_bench_report_table, r);
	cr_assert_not_null(strstr(t, ">= 1.8x (no 1-worker run)"), "%s", t);
	cr_assert_null(strstr(t, "6.0x slower"), "%s", t);
	cr_assert_not_null(strstr(t, "2.0x faster than Helios"), "W2 still compared:\n%s", t);
	free(t);
	free(r);
}

/* ---- SVG --------------------------------------------------------------------------------------- */

static const char svg_check[] =
	"import sys, xml.etree.ElementTree as ET\n"
	"root = ET.parse(sys.argv[1]).getroot()\n"
	"ns = '{http://www.w3.org/2000/svg}'\n"
	"assert root.tag == ns + 'svg', root.tag\n"
	"lines = root.findall('.//' + ns + 'polyline')\n"
	"scaling = [p for p in lines if p.get('class') == 'scaling']\n"
	"cdf = [p for p in lines if p.get('class') == 'cdf']\n"
	"want_s, want_c = int(sys.argv[2]), int(sys.argv[3])\n"
	"assert len(scaling) == want_s, len(scaling)\n"
	"assert len(cdf) == want_c, len(cdf)\n"
	"for p in scaling + cdf:\n"
	"    pts = [tuple(map(float, q.split(','))) for q in p.get('points').split()]\n"
	"    assert len(pts) >= (2 if p in cdf else 1), pts\n"
	"for p in cdf:\n"
	"    pts = [tuple(map(float, q.split(','))) for q in p.get('points').split()]\n"
	"    xs = [x for x, y in pts]; ys = [y for x, y in pts]\n"
	"    assert xs == sorted(xs), 'CDF x not increasing'\n"
	"    assert ys == sorted(ys, reverse=True), 'CDF not rising (SVG y grows down)'\n"
	"text = ' '.join(''.join(t.itertext()) for t in root.iter(ns + 'text'))\n"
	"for s in sys.argv[4:]:\n"
	"    assert s in text, (s, text)\n";

static void check_svg(const struct hl_bench_report *r, const char *expect)
{
	char path[64], args[768];
	temp_path(path, sizeof path, "svg");
	cr_assert_eq(hl_bench_report_svg(path, r), 0);
	snprintf(args, sizeof args, "%s %s", path, expect);
	int st = python(svg_check, args);
	if (st) {
		char cmd[128];
		snprintf(cmd, sizeof cmd, "cat %s >&2", path);
		cr_assert_eq(system(cmd), 0);
	}
	unlink(path);
	cr_assert_eq(st, 0, "the SVG check failed");
}

Test(report, svg_is_well_formed_and_draws_every_curve)
{
	struct hl_bench_report *r = synthetic();
	/* scaling: w1, w2; CDF: helios w1/w2 x commit/restore, lmdb w1/w2 x 2 */
	check_svg(r, "2 8 '2026-11-20 23:30' '\"Quoted\" CPU \\ model' 1.86x 1.40x"
		     " '1 us' '10 us' 'helios w1 commit' 'lmdb w2 restore'"
		     " 'peers skipped (not installed): rocksdb'");
	free(r);
}

Test(report, svg_of_an_empty_report_is_well_formed)
{
	struct hl_bench_report *r = calloc(1, sizeof *r);
	check_svg(r, "0 0 'no Helios runs'");
	free(r);
}

Test(report, svg_to_an_unwritable_path_fails)
{
	struct hl_bench_report *r = calloc(1, sizeof *r);
	cr_assert_lt(hl_bench_report_svg("/nonexistent-dir/x.svg", r), 0);
	free(r);
}

/* ---- the machine ----------------------------------------------------------------------------- */

Test(report, describe_machine_fills_the_header)
{
	struct hl_bench_report *r = calloc(1, sizeof *r);
	hl_bench_describe_machine(r);
	cr_assert_geq(r->cpus, 1);
	cr_assert_geq(r->numa_nodes, 1);
	cr_assert_eq(r->cpus, (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
	cr_assert_not_null(strstr(r->machine, " CPUs, "), "%s", r->machine);
	cr_assert_not_null(strstr(r->machine, "NUMA node"), "%s", r->machine);
	cr_assert_not_null(strstr(r->machine, "Linux "), "%s", r->machine);
	cr_assert_not_null(strstr(r->machine, "flags: "), "%s", r->machine);
	unsigned y, mo, d, h, mi;
	cr_assert_eq(sscanf(r->date, "%4u-%2u-%2u %2u:%2u", &y, &mo, &d, &h, &mi), 5,
		     "%s", r->date);
	cr_assert_eq(strlen(r->date), 16);
	cr_assert(y >= 2024 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31);
	free(r);
}
