/*
 * report_persist.c - the persistence section of the report (issue 11's
 * Benchmark, measured by persist_rows.c): commits/s with durability off,
 * async and sync with each row's ratio to off; sync commit p50/p99; the
 * WAL's write speed beside the device's raw O_DIRECT speed; recovery of a
 * WAL; the durable peers. In the table, and as the JSON report's
 * "persistence" object (report.c's schema: null when the section did not
 * run). "vs off" is the median of the ratios repetition by repetition
 * (persist_rows.c). Targets (DESIGN.md): async >= 0.8x off, recovery of a 1 GiB WAL
 * < 2 s; sync's group commit shows as 4 workers over 1.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "helios.h"
#include "kit.h"

#define ASYNC_TARGET 0.8
#define RECOVERY_TARGET_NS 2000000000ull
#define RECOVERY_TARGET_BYTES (1ull << 30) /* the target is for 1 GiB */

static const char *mode_name(unsigned d)
{
	return d == HL_DURABILITY_ASYNC ? "async"
	       : d == HL_DURABILITY_SYNC ? "sync" : "off";
}

static const struct hl_bench_persist_row *find_row(const struct hl_bench_persist *ps,
						   enum hl_workload w,
						   unsigned workers, unsigned d)
{
	for (unsigned i = 0; i < ps->row_count && i < HL_BENCH_PERSIST_ROWS_MAX; i++) {
		const struct hl_bench_persist_row *row = &ps->rows[i];
		if (row->workload == w && row->workers == workers &&
		    row->durability == d && row->reps)
			return row;
	}
	return NULL;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* The row's commits/s over the off row's at the same workload and count,
 * repetition by repetition (ratios[i], NAN where either did not run);
 * returns their median (NAN: none). */
static double vs_off_reps(const struct hl_bench_persist *ps,
			  const struct hl_bench_persist_row *row,
			  double ratios[HL_BENCH_PERSIST_REPS_MAX])
{
	const struct hl_bench_persist_row *off =
		find_row(ps, row->workload, row->workers, HL_DURABILITY_NONE);
	double v[HL_BENCH_PERSIST_REPS_MAX];
	unsigned n = 0;
	for (unsigned i = 0; i < HL_BENCH_PERSIST_REPS_MAX; i++) {
		uint32_t bit = 1u << i;
		ratios[i] = NAN;
		if (!off || !(row->rep_ok & bit) || !(off->rep_ok & bit) ||
		    !(off->commits_per_s[i] > 0))
			continue;
		ratios[i] = row->commits_per_s[i] / off->commits_per_s[i];
		v[n++] = ratios[i];
	}
	if (n == 0)
		return NAN;
	qsort(v, n, sizeof *v, cmp_double);
	return v[n / 2];
}

static double vs_off(const struct hl_bench_persist *ps,
		     const struct hl_bench_persist_row *row)
{
	double ratios[HL_BENCH_PERSIST_REPS_MAX];
	return vs_off_reps(ps, row, ratios);
}

/* A sync row at n workers over the sync row at 1: group commit. */
static double sync_scaling(const struct hl_bench_persist *ps,
			   const struct hl_bench_persist_row *row)
{
	const struct hl_bench_persist_row *one =
		find_row(ps, row->workload, 1, HL_DURABILITY_SYNC);
	if (row->durability != HL_DURABILITY_SYNC || row->workers == 1 || !one ||
	    !(one->median_commits_per_s > 0) || !row->reps)
		return NAN;
	return row->median_commits_per_s / one->median_commits_per_s;
}

/* The WAL's write rate while the row's commits ran: its bytes per commit
 * (warm-up's commits and records both counted) at the row's commits/s. */
static double wal_mbps(const struct hl_bench_persist_row *row)
{
	if (row->durability == HL_DURABILITY_NONE || !row->run.arena_commits)
		return NAN;
	return (double)row->run.wal_bytes / (double)row->run.arena_commits *
	       row->run.commits_per_s / 1e6;
}

static bool recovery_applies(const struct hl_bench_persist *ps)
{
	return ps->recovery_wal_bytes >= RECOVERY_TARGET_BYTES / 8 * 7;
}

/* ---- the table ---------------------------------------------------------------- */

static void table_row(FILE *out, const struct hl_bench_persist *ps,
		      const struct hl_bench_persist_row *row)
{
	char rate[16], p50[24], p99[24], ratio[16] = "-", mb[16] = "-", target[48] = "";
	if (!row->reps) {
		hl_report_line(out, "  %-4s  %7u  %-6s  failed (see above)",
			       hl_workload_name(row->workload), row->workers,
			       mode_name(row->durability));
		return;
	}
	const struct hl_hist *h = &row->run.op[HL_OP_COMMIT];
	hl_fmt_count(rate, sizeof rate, row->median_commits_per_s);
	hl_report_fmt_ns(p50, sizeof p50, hl_hist_percentile(h, 50));
	hl_report_fmt_ns(p99, sizeof p99, hl_hist_percentile(h, 99));
	double x = vs_off(ps, row), g = sync_scaling(ps, row), m = wal_mbps(row);
	if (row->durability != HL_DURABILITY_NONE && isfinite(x))
		snprintf(ratio, sizeof ratio, "%.2fx", x);
	if (isfinite(m))
		snprintf(mb, sizeof mb, "%.1f", m);
	if (row->durability == HL_DURABILITY_ASYNC && isfinite(x))
		snprintf(target, sizeof target, ">= 0.80x off %s",
			 x >= ASYNC_TARGET ? "PASS" : "MISS");
	else if (isfinite(g))
		snprintf(target, sizeof target, "group commit: %.2fx 1 worker", g);
	hl_report_line(out, "  %-4s  %7u  %-6s  %9s/s  %7s  %10s  %10s  %9s  %s",
		       hl_workload_name(row->workload), row->workers,
		       mode_name(row->durability), rate, ratio, p50, p99, mb, target);
}

static void table_write(FILE *out, const struct hl_bench_persist *ps)
{
	if (!(ps->raw_mbps > 0))
		return;
	hl_report_line(out, "  write    device: O_DIRECT pwrite, 1 MiB sequential + "
		       "fdatasync, %.1f MB/s", ps->raw_mbps);
	hl_report_line(out, "           WAL: 4 KiB records, a flush per 256 KiB "
		       "(default I/O%s), %.1f MB/s = %.2fx the device  (%" PRIu64
		       " MiB each, median of %u)", ps->io_fallbacks ? ", FELL BACK" : "",
		       ps->wal_mbps, ps->wal_mbps / ps->raw_mbps,
		       ps->write_bytes >> 20, ps->reps);
}

static void table_recovery(FILE *out, const struct hl_bench_persist *ps)
{
	if (!ps->recovery_wal_bytes || !ps->recovery_cold_ns)
		return;
	char wal[16], cold[24], warm[24], create[24], verdict[64] = "";
	hl_fmt_bytes(wal, sizeof wal, ps->recovery_wal_bytes);
	hl_report_fmt_ns(cold, sizeof cold, ps->recovery_cold_ns);
	hl_report_fmt_ns(warm, sizeof warm, ps->recovery_warm_ns);
	hl_report_fmt_ns(create, sizeof create, ps->recovery_create_ns);
	if (recovery_applies(ps))
		snprintf(verdict, sizeof verdict, "  < 2 s %s",
			 ps->recovery_cold_ns < RECOVERY_TARGET_NS &&
			 ps->recovery_warm_ns < RECOVERY_TARGET_NS ? "PASS" : "MISS");
	hl_report_line(out, "  recover  a %s WAL of W1 commits, %" PRIu64 " records "
		       "(every CRC and hash checked): cold %s, warm %s%s", wal,
		       ps->recovery_replayed, cold, warm, verdict);
	hl_report_line(out, "           (the arena it fills is created apart, in %s;"
		       " %s)", create, ps->recovery_clean_end
		       ? "replay stopped at the log's end" : "replay stopped EARLY");
}

static void table_peers(FILE *out, const struct hl_bench_persist *ps)
{
	if (!ps->peer_count)
		return;
	hl_report_line(out, "  durable peers (data in %s):", ps->dir);
	for (unsigned i = 0; i < ps->peer_count && i < HL_BENCH_PEER_ROWS_MAX; i++) {
		const struct hl_bench_peer_row *p = &ps->peers[i];
		if (p->skipped || p->failed) {
			hl_report_line(out, "    %-10s  %-4s  %s: %s", p->peer,
				       hl_workload_name(p->workload),
				       p->skipped ? "not installed" : "FAILED", p->why);
			continue;
		}
		char p50[24], p99[24], rate[16], ratio[48] = "";
		uint64_t c50 = hl_hist_percentile(&p->r.commit, 50);
		hl_report_fmt_ns(p50, sizeof p50, c50);
		hl_report_fmt_ns(p99, sizeof p99, hl_hist_percentile(&p->r.commit, 99));
		double mean = hl_hist_mean_ns(&p->r.commit);
		hl_fmt_count(rate, sizeof rate, mean > 0 ? 1e9 / mean : 0);
		const struct hl_bench_persist_row *s =
			find_row(ps, p->workload, 1, HL_DURABILITY_SYNC);
		uint64_t h50 = s ? hl_hist_percentile(&s->run.op[HL_OP_COMMIT], 50) : 0;
		if (h50)
			snprintf(ratio, sizeof ratio, "%.2fx Helios sync p50",
				 (double)c50 / (double)h50);
		hl_report_line(out, "    %-10s  %-4s  %6" PRIu64 " commits  p50 %9s  "
			       "p99 %9s  %8s/s  %s", p->peer,
			       hl_workload_name(p->workload), p->r.commit.count, p50,
			       p99, rate, ratio);
		hl_report_line(out, "                      %.*s",
			       (int)strnlen(p->r.config, sizeof p->r.config), p->r.config);
	}
}

void hl_report_persist_table(FILE *out, const struct hl_bench_report *r)
{
	const struct hl_bench_persist *ps = &r->persist;
	if (!ps->ran)
		return;
	hl_report_line(out, "%s", "");
	hl_report_line(out, "Persistence (%s): WAL in %.*s; each row the median of %u "
		       "run%s of the harness; commit = write + hl_commit",
		       ps->full ? "--persist full" : "--persist short",
		       (int)strnlen(ps->dir, sizeof ps->dir), ps->dir, ps->reps,
		       ps->reps == 1 ? "" : "s");
	hl_report_line(out, "  %-4s  %7s  %-6s  %11s  %7s  %10s  %10s  %9s  %s", "work",
		       "workers", "mode", "commits/s", "vs off", "commit p50",
		       "commit p99", "WAL MB/s", "target");
	for (unsigned i = 0; i < ps->row_count && i < HL_BENCH_PERSIST_ROWS_MAX; i++)
		table_row(out, ps, &ps->rows[i]);
	table_write(out, ps);
	table_recovery(out, ps);
	table_peers(out, ps);
}

/* ---- JSON --------------------------------------------------------------------- */

static void json_num_or_null(struct hl_json *j, const char *key, double v)
{
	if (isfinite(v))
		hl_json_num(j, key, v);
	else
		hl_json_null(j, key);
}

static void json_row(struct hl_json *j, const struct hl_bench_persist *ps,
		     const struct hl_bench_persist_row *row)
{
	hl_json_open(j, NULL, '{');
	if (!row->reps) { /* else the run's totals name them */
		hl_json_str(j, "workload", hl_workload_name(row->workload), 16);
		hl_json_u64(j, "workers", row->workers);
	}
	hl_json_str(j, "durability", mode_name(row->durability), 8);
	hl_json_u64(j, "reps", row->reps);
	double ratios[HL_BENCH_PERSIST_REPS_MAX];
	double x = vs_off_reps(ps, row, ratios);
	hl_json_open(j, "commits_per_s_reps", '['); /* null: did not run */
	for (unsigned i = 0; i < ps->reps && i < HL_BENCH_PERSIST_REPS_MAX; i++)
		json_num_or_null(j, NULL, row->rep_ok & 1u << i ? row->commits_per_s[i]
								: NAN);
	hl_json_close(j);
	hl_json_num(j, "commits_per_s", row->median_commits_per_s);
	hl_json_open(j, "vs_off_reps", '[');
	for (unsigned i = 0; i < ps->reps && i < HL_BENCH_PERSIST_REPS_MAX; i++)
		json_num_or_null(j, NULL, row->durability ? ratios[i] : NAN);
	hl_json_close(j);
	json_num_or_null(j, "vs_off", row->durability ? x : NAN);
	json_num_or_null(j, "sync_vs_1_worker", sync_scaling(ps, row));
	if (row->durability == HL_DURABILITY_ASYNC && isfinite(x))
		hl_json_bool(j, "pass", x >= ASYNC_TARGET);
	else
		hl_json_null(j, "pass");
	hl_json_u64(j, "wal_bytes", row->run.wal_bytes);
	json_num_or_null(j, "wal_mbps", wal_mbps(row));
	if (row->reps) {
		hl_report_json_totals(j, &row->run);
		hl_json_open(j, "per_op", '{');
		hl_report_json_op(j, &row->run, HL_OP_COMMIT);
		hl_json_close(j);
	}
	hl_json_close(j);
}

static void json_peer(struct hl_json *j, const struct hl_bench_peer_row *p)
{
	bool m = !p->skipped && !p->failed;
	hl_json_open(j, NULL, '{');
	hl_json_str(j, "peer", p->peer, 64);
	hl_json_str(j, "workload", hl_workload_name(p->workload), 16);
	hl_json_bool(j, "durable", p->durable);
	hl_json_bool(j, "skipped", p->skipped);
	hl_json_bool(j, "failed", p->failed);
	hl_json_str(j, "why", p->why, sizeof p->why);
	hl_json_str(j, "config", p->r.config, sizeof p->r.config);
	hl_json_u64(j, "ops", m ? p->r.ops : 0);
	hl_json_u64(j, "commits", m ? p->r.commit.count : 0);
	if (m) {
		hl_json_open(j, "commit", '{');
		double mean = hl_hist_mean_ns(&p->r.commit);
		hl_report_json_hist(j, &p->r.commit, mean > 0 ? 1e9 / mean : 0);
		hl_json_close(j);
	} else {
		hl_json_null(j, "commit");
	}
	hl_json_close(j);
}

static void json_recovery(struct hl_json *j, const struct hl_bench_persist *ps)
{
	hl_json_open(j, "recovery", '{');
	hl_json_u64(j, "wal_bytes", ps->recovery_wal_bytes);
	hl_json_u64(j, "records", ps->recovery_replayed);
	hl_json_u64(j, "cold_ns", ps->recovery_cold_ns);
	hl_json_u64(j, "warm_ns", ps->recovery_warm_ns);
	hl_json_u64(j, "arena_create_ns", ps->recovery_create_ns);
	hl_json_bool(j, "clean_end", ps->recovery_clean_end);
	if (recovery_applies(ps) && ps->recovery_cold_ns)
		hl_json_bool(j, "pass", ps->recovery_cold_ns < RECOVERY_TARGET_NS &&
					ps->recovery_warm_ns < RECOVERY_TARGET_NS);
	else
		hl_json_null(j, "pass");
	hl_json_close(j);
}

void hl_report_persist_json(struct hl_json *j, const struct hl_bench_report *r)
{
	const struct hl_bench_persist *ps = &r->persist;
	if (!ps->ran) {
		hl_json_null(j, "persistence");
		return;
	}
	hl_json_open(j, "persistence", '{');
	hl_json_str(j, "section", ps->full ? "full" : "short", 8);
	hl_json_u64(j, "reps", ps->reps);
	hl_json_str(j, "dir", ps->dir, sizeof ps->dir);
	hl_json_open(j, "rows", '[');
	for (unsigned i = 0; i < ps->row_count && i < HL_BENCH_PERSIST_ROWS_MAX; i++)
		json_row(j, ps, &ps->rows[i]);
	hl_json_close(j);
	hl_json_open(j, "write", '{');
	hl_json_u64(j, "bytes", ps->write_bytes);
	hl_json_num(j, "device_raw_mbps", ps->raw_mbps);
	hl_json_num(j, "wal_append_mbps", ps->wal_mbps);
	hl_json_bool(j, "io_fell_back", ps->io_fallbacks != 0);
	hl_json_close(j);
	json_recovery(j, ps);
	hl_json_open(j, "peers", '[');
	for (unsigned i = 0; i < ps->peer_count && i < HL_BENCH_PEER_ROWS_MAX; i++)
		json_peer(j, &ps->peers[i]);
	hl_json_close(j);
	hl_json_close(j);
}
