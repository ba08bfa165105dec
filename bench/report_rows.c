/*
 * report_rows.c - the two rows that put the default configuration's
 * figures in context (issue 9): the floor row under W1 (floor.c measures
 * it: XXH3-128 of 4 KiB + a copy to a cold page + a CAS on a cold word)
 * with the 1-worker W1 commit's distance from it, and each workload's
 * prefault row (one worker, hl_config.prefault = 1) with both arenas'
 * creation times, and its one-core row (one worker, HELIOS_PAGE_HELPER=0:
 * nothing of its process on another core, the scaling baseline); in the
 * table and in the JSON ("floor", "prefault_runs", "one_core_runs",
 * report.c's schema). The headline rows above them are report.c's.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "bench.h"
#include "kit.h"

/* The W1 commit's distance from the floor: its p50 over the floor's. */
static double floor_ratio(const struct hl_bench_report *r)
{
	const struct hl_bench_run *one = hl_report_find_run(r, HL_WORKLOAD_W1, 1);
	uint64_t f = hl_hist_percentile(&r->floor, 50);
	if (!one || !r->floor.count || !f)
		return NAN;
	return (double)hl_hist_percentile(&one->op[HL_OP_COMMIT], 50) / (double)f;
}

/* The floor row under W1's runs: hash + cold copy + cold CAS (floor.c). */
void hl_report_floor_row(FILE *out, const struct hl_bench_report *r)
{
	const struct hl_hist *h = &r->floor;
	char p50[24], p90[24], p99[24], p999[24], max[24], ratio[64] = "";
	double x = floor_ratio(r);
	if (!h->count)
		return;
	if (isfinite(x))
		snprintf(ratio, sizeof ratio, "1-worker commit %.2fx this, <= 2x %s", x,
			 x <= 2.0 ? "PASS" : "MISS");
	hl_report_fmt_ns(p50, sizeof p50, hl_hist_percentile(h, 50));
	hl_report_fmt_ns(p90, sizeof p90, hl_hist_percentile(h, 90));
	hl_report_fmt_ns(p99, sizeof p99, hl_hist_percentile(h, 99));
	hl_report_fmt_ns(p999, sizeof p999, hl_hist_percentile(h, 99.9));
	hl_report_fmt_ns(max, sizeof max, h->max_ns);
	hl_report_line(out, "  %7s  %-12s %10" PRIu64 " %9s %9s %9s %9s %9s %9s  %s",
		       "floor", "commit", h->count, p50, p90, p99, p999, max, "-",
		       ratio);
}

/* Workload w's run among runs[0, count), or NULL. */
static const struct hl_bench_run *run_of(const struct hl_bench_run *runs,
					 unsigned count, enum hl_workload w)
{
	for (unsigned i = 0; i < count && i < HL_WORKLOAD_COUNT; i++)
		if (runs[i].workload == w)
			return &runs[i];
	return NULL;
}

/* A 1-worker variant's title line, then its latency rows. */
static void variant_rows(FILE *out, const struct hl_bench_run *run, const char *title)
{
	hl_report_line(out, "%s", title);
	for (unsigned op = 0; op < HL_OP_COUNT; op++)
		if (run->op[op].count)
			hl_report_latency_row(out, run, op);
}

void hl_report_prefault_rows(FILE *out, const struct hl_bench_report *r,
			     enum hl_workload w)
{
	const struct hl_bench_run *pf = run_of(r->prefault_runs, r->prefault_count, w);
	const struct hl_bench_run *one = hl_report_find_run(r, w, 1);
	char size[16], create[24], dcreate[24] = "-", title[192];
	if (!pf)
		return;
	hl_fmt_bytes(size, sizeof size, pf->arena_bytes);
	if (one)
		hl_report_fmt_ns(dcreate, sizeof dcreate, one->create_ns);
	hl_report_fmt_ns(create, sizeof create, pf->create_ns);
	snprintf(title, sizeof title, "  prefault (hl_config.prefault = 1, 1 worker; "
		 "its %s arena created in %s, the default row's in %s):", size,
		 create, dcreate);
	variant_rows(out, pf, title);
}

/* A prefault row: the totals and the per-op latencies (it has no scaling
 * or space verdicts: the default runs carry those). */
void hl_report_json_prefault_run(struct hl_json *j,
				 const struct hl_bench_run *run)
{
	hl_json_open(j, NULL, '{');
	hl_report_json_totals(j, run);
	hl_json_u64(j, "create_ns", run->create_ns);
	hl_json_open(j, "per_op", '{');
	for (unsigned op = 0; op < HL_OP_COUNT; op++)
		hl_report_json_op(j, run, op);
	hl_json_close(j);
	hl_json_close(j);
}

void hl_report_json_floor(struct hl_json *j, const struct hl_bench_report *r)
{
	double x = floor_ratio(r);
	if (!r->floor.count) {
		hl_json_null(j, "floor");
		return;
	}
	hl_json_open(j, "floor", '{');
	hl_report_json_hist(j, &r->floor, NAN);
	hl_json_num(j, "w1_commit_over_floor", x);
	if (isfinite(x))
		hl_json_bool(j, "w1_commit_over_floor_pass", x <= 2.0);
	else
		hl_json_null(j, "w1_commit_over_floor_pass");
	hl_json_close(j);
}

const struct hl_bench_run *hl_report_one_core_run(const struct hl_bench_report *r,
						  enum hl_workload w)
{
	return run_of(r->one_core_runs, r->one_core_count, w);
}

void hl_report_one_core_rows(FILE *out, const struct hl_bench_report *r,
			     enum hl_workload w)
{
	const struct hl_bench_run *oc = hl_report_one_core_run(r, w);
	if (oc)
		variant_rows(out, oc, "  one core (1 worker, HELIOS_PAGE_HELPER=0: no "
			     "page helper on another core; the scaling baseline):");
}
