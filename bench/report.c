/*
 * report.c - what `helios bench` prints: the machine it ran on, the
 * terminal table, JSON and CSV. (The SVG is plot.c.)
 *
 * Every figure is read from one struct hl_bench_report, so the three
 * formats cannot disagree: the ratios (scaling to one worker, peers to
 * Helios) are computed here by the same functions for all of them.
 *
 * Definitions, shared by every format:
 *  1. Scaling ratio of a run = its ops_per_s / ops_per_s of the first run
 *     of the same workload with 1 worker (none: no ratio); its one-core
 *     ratio the same over the workload's one-core run (1 worker,
 *     HELIOS_PAGE_HELPER=0). DESIGN.md's targets: 2 workers >= 1.8x, 8
 *     workers >= 1.5x (oversubscribed: no collapse); other counts have
 *     none. They are judged on the one-core ratio where there is one: a
 *     default worker's page helper allocates its heap pages on another
 *     core, so on two cores one default worker already uses both.
 *  2. Rate of one operation in a run = the run's ops_per_s times that
 *     operation's share of the samples: the operations of that kind done
 *     per second of the run (for a peer: its count / its seconds).
 *     restore+read is a second timing of W1's restores, not an operation:
 *     it has the restores' rate and is in no share.
 *  3. Dedup ratio = dedup_bytes / (dedup_bytes + stored_bytes): the share
 *     of committed bytes found already stored. Memory = stored_bytes /
 *     unique_bytes; DESIGN.md's target for W2 is <= 1.1x.
 *  4. A peer's ratio to Helios = the peer's p50 / Helios's p50 for the same
 *     operation, against the first 1-worker Helios run of the same workload
 *     in this report: > 1 is "slower than Helios", < 1 "faster". A peer's
 *     restore is a get and a copy of the value out, so where the Helios
 *     run has restore+read (W1) its restore is compared with that.
 *     DESIGN.md's targets against LMDB: W1 commit >= 10x, W1 restore (+
 *     read) >= 1.1x, W2 commit >= 200x; other peers have none.
 *  5. Latency targets (DESIGN.md) are single-operation costs; they are
 *     judged on the 1-worker runs only.
 *  6. Strings from outside (CPU model, a peer's error) are bounded by their
 *     arrays even if not terminated, and JSON-escaped (invalid UTF-8 turns
 *     into U+FFFD), so the JSON always parses.
 *  7. No table line ends in blanks: the table is pasted into the README.
 *
 * JSON schema (hl_bench_report_json), one object; "ns" values are integer
 * nanoseconds; a ratio or target that does not apply is null:
 *
 *   {
 *     "schema": "helios-bench/1",
 *     "date": string, "command": string,
 *     "machine": { "description": string, "cpus": int, "numa_nodes": int },
 *     "runs": [ {
 *         "workload": "w1" | "w2" | "mixed", "workers": int,
 *         "seconds": number, "ops": int, "ops_per_s": number,
 *         "commits_per_s": number, "verified": int,
 *         "unique_bytes": int, "stored_bytes": int, "dedup_bytes": int,
 *         "heap_used_bytes": int, "nodes": int,
 *         "prefault": false (the default configuration), "create_ns": int,
 *         "dedup_ratio": number (0..1),
 *         "stored_per_unique": number | null,
 *         "stored_per_unique_target": 1.1 | null,    (W2 only)
 *         "stored_per_unique_pass": bool | null,
 *         "one_core": bool (HELIOS_PAGE_HELPER=0; true only in one_core_runs),
 *         "scaling_ratio": number | null,            (definition 1)
 *         "scaling_ratio_one_core": number | null,
 *         "scaling_target": number | null,
 *         "scaling_pass": bool | null,
 *         "per_op": { "commit" | "restore" | "fork" | "diff" | "restore+read": {
 *             "count": int, "ops_per_s": number,
 *             "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns", "min_ns":
 *                 int (0 when count is 0),
 *             "mean_ns": number,
 *             "p50_target_ns": int | null,           (1 worker only)
 *             "p50_pass": bool | null } }            (all five ops, always)
 *     } ],
 *     "scaling": [ { "workload": string, "workers": int,
 *         "ops_per_s": number, "commits_per_s": number,
 *         "ratio": number | null, "ratio_one_core": number | null,
 *         "target": number | null,
 *         "pass": bool | null } ],  (one per run; judged on ratio_one_core
 *                                    when it is not null, else on ratio)
 *     "prefault_runs": [ { the totals of a run, "create_ns": int,
 *         "per_op": as above } ],    (1 worker, hl_config.prefault = 1)
 *     "one_core_runs": [ as prefault_runs ],  (1 worker, HELIOS_PAGE_HELPER=0)
 *     "floor": { "count", "ops_per_s" (null), "p50_ns" ... "mean_ns" as an
 *         op, "w1_commit_over_floor": number | null,
 *         "w1_commit_over_floor_pass": bool | null } | null,
 *     "peers": [ {
 *         "peer": string, "workload": "w1" | "w2",
 *         "skipped": bool, "failed": bool, "why": string, "config": string,
 *         "ops": int, "verified": int, "seconds": number,
 *         "commit": op | null, "restore": op | null, (null when skipped
 *                                                     or failed; op as above
 *                                                     without the targets)
 *         "commit_vs_helios": number | null,         (definition 4)
 *         "restore_vs_helios": number | null,
 *         "restore_vs_helios_op": "restore+read" | "restore" | null,
 *         "commit_target", "restore_target": number | null, (LMDB only)
 *         "commit_pass", "restore_pass": bool | null } ],
 *     "persistence": null | { "section": "short" | "full", "reps", "dir",
 *         "rows": [ { "durability": "off" | "async" | "sync", reps,
 *             "commits_per_s_reps": [number | null], "commits_per_s",
 *             "vs_off_reps": [number | null], "vs_off" (their median),
 *             "sync_vs_1_worker", "pass" (async), "wal_bytes",
 *             "wal_mbps", a run's totals (workload, workers, ...; a row with
 *             no run: workload and workers alone), "per_op": { "commit": op } } ],
 *         "write": { "bytes", "device_raw_mbps", "wal_append_mbps",
 *             "io_fell_back" }, "recovery": { "wal_bytes", "records",
 *             "cold_ns", "warm_ns", "arena_create_ns", "clean_end", "pass" },
 *         "peers": [ { peer, workload, "durable": true, skipped, failed,
 *             why, config, ops, "commit": op | null } ] } (report_persist.c)
 *   }
 *
 * CSV (hl_bench_report_csv): the header
 *   system,workload,workers,op,count,p50_ns,p90_ns,p99_ns,p999_ns,max_ns,mean_ns,ops_per_s
 * then one row per (system, workload, workers, op) that has samples:
 * system "helios" for the runs, the peer's name (workers 1) for each peer
 * row neither skipped nor failed. Fields are RFC 4180-quoted when needed.
 */
#include <inttypes.h>
#include <math.h>
#include <numa.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "kit.h"

#define SCALING_TARGET_2 1.8
#define SCALING_TARGET_8 1.5
#define W2_STORED_TARGET 1.1
#define LINE_MAX_BYTES 1024

/* DESIGN.md's latency targets: p50 of one operation, one worker. */
struct latency_target {
	enum hl_workload workload;
	enum hl_bench_op op;
	uint64_t p50_ns;
};

static const struct latency_target latency_targets[] = {
	{HL_WORKLOAD_W1, HL_OP_COMMIT, 1000},
	{HL_WORKLOAD_W1, HL_OP_RESTORE, 300},
	{HL_WORKLOAD_W2, HL_OP_COMMIT, 3000},
	{HL_WORKLOAD_W2, HL_OP_RESTORE, 300},
	{HL_WORKLOAD_W2, HL_OP_DIFF, 2000},
};

static const char *const workload_titles[HL_WORKLOAD_COUNT] = {
	[HL_WORKLOAD_W1] = "W1: 4 KiB state; commit = 64 B written at a random offset"
		     " + hl_commit; restore = a random earlier id",
	[HL_WORKLOAD_W2] = "W2: 1 MiB state; commit = one random 4 KiB chunk rewritten"
		     " + hl_commit; restore = a random earlier id; diff = two ids"
		     " one chunk apart",
	[HL_WORKLOAD_MIXED] = "MIXED: 64 KiB state; commit 40%, restore 40%, fork 10%,"
			" diff 10%",
};

/* ---- shared definitions (numbered in the design comment) ---------------------- */

unsigned hl_report_run_count(const struct hl_bench_report *r)
{
	return r->run_count < HL_BENCH_RUNS_MAX ? r->run_count : HL_BENCH_RUNS_MAX;
}

unsigned hl_report_peer_count(const struct hl_bench_report *r)
{
	return r->peer_count < HL_BENCH_PEER_ROWS_MAX ? r->peer_count
						      : HL_BENCH_PEER_ROWS_MAX;
}

const struct hl_bench_run *hl_report_find_run(const struct hl_bench_report *r,
					   enum hl_workload w,
					   unsigned workers)
{
	for (unsigned i = 0; i < hl_report_run_count(r); i++)
		if (r->runs[i].workload == w && r->runs[i].workers == workers)
			return &r->runs[i];
	return NULL;
}

/* The runs of workload w, ordered by worker count (stable). */
unsigned hl_report_runs_of(const struct hl_bench_report *r,
			enum hl_workload w, unsigned idx[])
{
	unsigned n = 0;
	for (unsigned i = 0; i < hl_report_run_count(r); i++) {
		if (r->runs[i].workload != w)
			continue;
		unsigned j = n++;
		while (j > 0 && r->runs[idx[j - 1]].workers > r->runs[i].workers) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
	}
	return n;
}

/* Definition 1. NAN when there is no 1-worker run to compare with. */
static double scaling_ratio(const struct hl_bench_report *r,
			    const struct hl_bench_run *run)
{
	const struct hl_bench_run *one = hl_report_find_run(r, run->workload, 1);
	if (!one || !(one->ops_per_s > 0))
		return NAN;
	return run->ops_per_s / one->ops_per_s;
}

static double scaling_ratio_one_core(const struct hl_bench_report *r,
				     const struct hl_bench_run *run)
{
	const struct hl_bench_run *one = hl_report_one_core_run(r, run->workload);
	if (!one || !(one->ops_per_s > 0))
		return NAN;
	return run->ops_per_s / one->ops_per_s;
}

/* The ratio a scaling target is judged on (definition 1). */
static double scaling_judged(const struct hl_bench_report *r,
			     const struct hl_bench_run *run)
{
	double c = scaling_ratio_one_core(r, run);
	return isfinite(c) ? c : scaling_ratio(r, run);
}

static double scaling_target(unsigned workers)
{
	if (workers == 2)
		return SCALING_TARGET_2;
	if (workers == 8)
		return SCALING_TARGET_8;
	return NAN;
}

/* Definition 2. */
static double op_rate(const struct hl_bench_run *run, enum hl_bench_op op)
{
	uint64_t all = 0;
	if (op == HL_OP_RESTORE_READ)
		op = HL_OP_RESTORE;
	for (unsigned k = 0; k < HL_OP_COUNT; k++)
		all += k == HL_OP_RESTORE_READ ? 0 : run->op[k].count;
	if (!all)
		return 0;
	return run->ops_per_s * ((double)run->op[op].count / (double)all);
}

double hl_report_peer_op_rate(const struct hl_peer_result *p, const struct hl_hist *h)
{
	return p->seconds > 0 ? (double)h->count / p->seconds : 0;
}

/* Definition 3. */
static double dedup_fraction(const struct hl_bench_run *run)
{
	return hl_dedup_ratio(run->dedup_bytes, run->stored_bytes) / 100.0;
}

static double stored_per_unique(const struct hl_bench_run *run)
{
	return run->unique_bytes ? (double)run->stored_bytes / (double)run->unique_bytes
				 : NAN;
}

static double stored_target(const struct hl_bench_run *run)
{
	return run->workload == HL_WORKLOAD_W2 ? W2_STORED_TARGET : NAN;
}

/* Definition 5: 0 when the (workload, op, workers) has no target. */
static uint64_t latency_target(const struct hl_bench_run *run, enum hl_bench_op op)
{
	if (run->workers != 1)
		return 0;
	for (size_t i = 0; i < sizeof latency_targets / sizeof latency_targets[0]; i++)
		if (latency_targets[i].workload == run->workload &&
		    latency_targets[i].op == op)
			return latency_targets[i].p50_ns;
	return 0;
}

const struct hl_hist *hl_report_peer_hist(const struct hl_bench_peer_row *p,
					 enum hl_bench_op op)
{
	return op == HL_OP_COMMIT ? &p->r.commit : &p->r.restore;
}

bool hl_report_peer_measured(const struct hl_bench_peer_row *p)
{
	return !p->skipped && !p->failed;
}

/* ---- the machine -------------------------------------------------------------- */

static const char *const cpu_flags[] = {"sse4_2", "avx", "avx2", "avx512f",
					"bmi2", "aes"};

/* libnuma when the kernel has NUMA, else the node directories in sysfs. */
static unsigned numa_nodes(void)
{
	if (numa_available() >= 0) {
		int n = numa_num_configured_nodes();
		if (n > 0)
			return (unsigned)n;
	}
	unsigned n = 0;
	char path[64];
	while (n < 4096) {
		snprintf(path, sizeof path, "/sys/devices/system/node/node%u", n);
		if (access(path, F_OK))
			break;
		n++;
	}
	return n ? n : 1;
}

/* The value after "key<blanks>:" in a /proc/cpuinfo line, or NULL. */
static char *cpuinfo_value(char *line, const char *key)
{
	size_t k = strlen(key);
	if (strncmp(line, key, k) || (line[k] != ' ' && line[k] != '\t' && line[k] != ':'))
		return NULL;
	char *colon = strchr(line + k, ':');
	if (!colon)
		return NULL;
	colon += strspn(colon + 1, " \t") + 1;
	colon[strcspn(colon, "\n")] = '\0';
	return colon;
}

/* Appends to flags the ones of cpu_flags present in a "flags" list. */
static void pick_flags(const char *list, char *flags, size_t len)
{
	for (size_t i = 0; i < sizeof cpu_flags / sizeof cpu_flags[0]; i++) {
		size_t n = strlen(cpu_flags[i]);
		for (const char *p = list; (p = strstr(p, cpu_flags[i])); p += n) {
			bool starts = p == list || p[-1] == ' ';
			bool ends = p[n] == ' ' || p[n] == '\0';
			if (starts && ends) {
				size_t used = strlen(flags);
				snprintf(flags + used, len - used, "%s%s",
					 used ? " " : "", cpu_flags[i]);
				break;
			}
		}
	}
}

/* The first processor's model name and relevant flags. */
static void cpu_describe(char *model, size_t model_len, char *flags, size_t flags_len)
{
	snprintf(model, model_len, "unknown CPU");
	flags[0] = '\0';
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return;
	char line[4096];
	bool have_model = false, have_flags = false;
	while ((!have_model || !have_flags) && fgets(line, sizeof line, f)) {
		char *v;
		if (!have_model && (v = cpuinfo_value(line, "model name"))) {
			snprintf(model, model_len, "%s", v);
			have_model = true;
		} else if (!have_flags && (v = cpuinfo_value(line, "flags"))) {
			pick_flags(v, flags, flags_len);
			have_flags = true;
		}
	}
	fclose(f);
}

void hl_bench_describe_machine(struct hl_bench_report *r)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	r->cpus = cpus > 0 ? (unsigned)cpus : 1;
	r->numa_nodes = numa_nodes();

	char model[160], flags[64], kernel[192];
	cpu_describe(model, sizeof model, flags, sizeof flags);
	struct utsname u;
	if (uname(&u) == 0)
		snprintf(kernel, sizeof kernel, "%.60s %.60s %.60s", u.sysname, u.release,
			 u.machine);
	else
		snprintf(kernel, sizeof kernel, "unknown kernel");
	snprintf(r->machine, sizeof r->machine,
		 "%u CPUs, %u NUMA node%s, %s, flags: %s, %s", r->cpus,
		 r->numa_nodes, r->numa_nodes == 1 ? "" : "s", model,
		 flags[0] ? flags : "none of sse4_2 avx avx2 avx512f bmi2 aes",
		 kernel);

	time_t t = time(NULL);
	struct tm tm;
	if (!localtime_r(&t, &tm) ||
	    !strftime(r->date, sizeof r->date, "%Y-%m-%d %H:%M", &tm))
		snprintf(r->date, sizeof r->date, "unknown date");
}

/* ---- the terminal table ---------------------------------------------------------- */

static const char *fmt_ns(char *buf, size_t len, uint64_t ns)
{
	if (ns < 1000)
		snprintf(buf, len, "%" PRIu64 " ns", ns);
	else if (ns < 10000)
		snprintf(buf, len, "%.2f us", (double)ns / 1e3);
	else if (ns < 1000000)
		snprintf(buf, len, "%.1f us", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.2f ms", (double)ns / 1e6);
	else
		snprintf(buf, len, "%.2f s", (double)ns / 1e9);
	return buf;
}

static const char *fmt_rate(char *buf, size_t len, double per_s)
{
	hl_fmt_count(buf, len, per_s);
	return buf;
}

/* One line, without the blanks a padded last column leaves (invariant 7). */
static void vline(FILE *out, const char *fmt, va_list ap)
{
	char buf[LINE_MAX_BYTES];
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	size_t len = n < 0 ? 0 : strnlen(buf, sizeof buf);
	while (len && buf[len - 1] == ' ')
		len--;
	fwrite(buf, 1, len, out);
	fputc('\n', out);
}

static void line(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(FILE *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vline(out, fmt, ap);
	va_end(ap);
}

static void table_latency_row(FILE *out, const struct hl_bench_run *run,
			      enum hl_bench_op op)
{
	const struct hl_hist *h = &run->op[op];
	char p50[24], p90[24], p99[24], p999[24], max[24], rate[24], target[40] = "";
	uint64_t t = latency_target(run, op);
	uint64_t v50 = hl_hist_percentile(h, 50);
	if (t) {
		char tb[24];
		snprintf(target, sizeof target, "<= %s %s", fmt_ns(tb, sizeof tb, t),
			 v50 <= t ? "PASS" : "MISS");
	}
	line(out, "  %7u  %-12s %10" PRIu64 " %9s %9s %9s %9s %9s %9s  %s",
	     run->workers, hl_bench_op_name(op), h->count,
	     fmt_ns(p50, sizeof p50, v50),
	     fmt_ns(p90, sizeof p90, hl_hist_percentile(h, 90)),
	     fmt_ns(p99, sizeof p99, hl_hist_percentile(h, 99)),
	     fmt_ns(p999, sizeof p999, hl_hist_percentile(h, 99.9)),
	     fmt_ns(max, sizeof max, h->max_ns),
	     fmt_rate(rate, sizeof rate, op_rate(run, op)), target);
}

static void table_workload(FILE *out, const struct hl_bench_report *r,
			   enum hl_workload w)
{
	unsigned idx[HL_BENCH_RUNS_MAX];
	unsigned n = hl_report_runs_of(r, w, idx);
	if (!n)
		return;
	line(out, "%s", workload_titles[w]);
	line(out, "  %7s  %-12s %10s %9s %9s %9s %9s %9s %9s  %s", "workers", "op",
	     "ops", "p50", "p90", "p99", "p99.9", "max", "ops/s", "p50 target");
	for (unsigned i = 0; i < n; i++)
		for (unsigned op = 0; op < HL_OP_COUNT; op++)
			if (r->runs[idx[i]].op[op].count)
				table_latency_row(out, &r->runs[idx[i]], op);
	if (w == HL_WORKLOAD_W1)
		hl_report_floor_row(out, r);
	hl_report_prefault_rows(out, r, w);
	hl_report_one_core_rows(out, r, w);
	line(out, "%s", "");
}

static void table_scaling_row(FILE *out, const struct hl_bench_report *r,
			      const struct hl_bench_run *run)
{
	char ops[24], commits[24], ratio[24] = "-", core[24] = "-", target[48] = "";
	double x = scaling_ratio(r, run), c = scaling_ratio_one_core(r, run);
	double j = scaling_judged(r, run), t = scaling_target(run->workers);
	if (isfinite(x))
		snprintf(ratio, sizeof ratio, "%.2fx", x);
	if (isfinite(c))
		snprintf(core, sizeof core, "%.2fx", c);
	if (isfinite(t))
		snprintf(target, sizeof target, ">= %.1fx %s", t,
			 !isfinite(j) ? "(no 1-worker run)" : j >= t ? "PASS" : "MISS");
	line(out, "  %-8s %7u %10s %10s %8s %10s  %s", hl_workload_name(run->workload),
	     run->workers, fmt_rate(ops, sizeof ops, run->ops_per_s),
	     fmt_rate(commits, sizeof commits, run->commits_per_s), ratio, core, target);
}

static void table_scaling(FILE *out, const struct hl_bench_report *r)
{
	line(out, "scaling: ops/s of every operation summed over workers, and the"
		  " ratio to 1 worker of the same workload; vs 1 core: to its one-core"
		  " row (a default worker's page helper runs on another core), where"
		  " the targets are judged");
	line(out, "  %-8s %7s %10s %10s %8s %10s  %s", "workload", "workers", "ops/s",
	     "commits/s", "vs 1", "vs 1 core", "target (DESIGN.md)");
	for (unsigned w = 0; w < HL_WORKLOAD_COUNT; w++) {
		unsigned idx[HL_BENCH_RUNS_MAX];
		unsigned n = hl_report_runs_of(r, w, idx);
		for (unsigned i = 0; i < n; i++)
			table_scaling_row(out, r, &r->runs[idx[i]]);
		const struct hl_bench_run *oc = hl_report_one_core_run(r, (enum hl_workload)w);
		if (n && oc) {
			char ops[24], commits[24];
			line(out, "  %-8s %7s %10s %10s %8s %10s", hl_workload_name(oc->workload),
			     "1 core", fmt_rate(ops, sizeof ops, oc->ops_per_s),
			     fmt_rate(commits, sizeof commits, oc->commits_per_s), "-", "1.00x");
		}
	}
	line(out, "%s", "");
}

static void table_memory_row(FILE *out, const struct hl_bench_run *run)
{
	char stored[24], unique[24], ratio[24] = "-", target[32] = "";
	double x = stored_per_unique(run), t = stored_target(run);
	if (isfinite(x))
		snprintf(ratio, sizeof ratio, "%.2fx", x);
	if (isfinite(t))
		snprintf(target, sizeof target, "<= %.1fx %s", t,
			 !isfinite(x) ? "(nothing written)" : x <= t ? "PASS" : "MISS");
	hl_fmt_bytes(stored, sizeof stored, run->stored_bytes);
	hl_fmt_bytes(unique, sizeof unique, run->unique_bytes);
	line(out, "  %-8s %7u %7.1f%% %11s %11s %13s  %s",
	     hl_workload_name(run->workload), run->workers,
	     100.0 * dedup_fraction(run), stored, unique, ratio, target);
}

static void table_memory(FILE *out, const struct hl_bench_report *r)
{
	line(out, "dedup and memory: dedup = dedup / (dedup + stored) bytes;"
		  " stored / unique bytes written (DESIGN.md: W2 <= 1.1x)");
	line(out, "  %-8s %7s %8s %11s %11s %13s  %s", "workload", "workers", "dedup",
	     "stored", "unique", "stored/unique", "target");
	for (unsigned w = 0; w < HL_WORKLOAD_COUNT; w++) {
		unsigned idx[HL_BENCH_RUNS_MAX];
		unsigned n = hl_report_runs_of(r, w, idx);
		for (unsigned i = 0; i < n; i++)
			table_memory_row(out, &r->runs[idx[i]]);
	}
	line(out, "%s", "");
}

int hl_bench_report_table(FILE *out, const struct hl_bench_report *r)
{
	line(out, "helios bench  %.*s", (int)strnlen(r->date, sizeof r->date), r->date);
	line(out, "machine  %.*s", (int)strnlen(r->machine, sizeof r->machine),
	     r->machine);
	line(out, "command  %.*s", (int)strnlen(r->command, sizeof r->command),
	     r->command);
	line(out, "%s", "");
	for (unsigned w = 0; w < HL_WORKLOAD_COUNT; w++)
		table_workload(out, r, w);
	if (hl_report_run_count(r)) {
		table_scaling(out, r);
		table_memory(out, r);
	}
	hl_report_games_table(out, r);
	hl_report_peers_table(out, r);
	hl_report_persist_table(out, r);
	return ferror(out) ? HL_EIO : 0;
}

/* ---- JSON -------------------------------------------------------------------------- */

/* A pass verdict: true/false, or null where the target does not apply. */
void hl_report_json_pass(struct hl_json *j, const char *key, bool applies, bool pass)
{
	if (applies)
		hl_json_bool(j, key, pass);
	else
		hl_json_null(j, key);
}

/* The members of a latency histogram (inside an object the caller opened). */
static void json_hist(struct hl_json *j, const struct hl_hist *h, double rate)
{
	bool any = h->count != 0;
	hl_json_u64(j, "count", h->count);
	hl_json_num(j, "ops_per_s", rate);
	hl_json_u64(j, "p50_ns", hl_hist_percentile(h, 50));
	hl_json_u64(j, "p90_ns", hl_hist_percentile(h, 90));
	hl_json_u64(j, "p99_ns", hl_hist_percentile(h, 99));
	hl_json_u64(j, "p999_ns", hl_hist_percentile(h, 99.9));
	hl_json_u64(j, "max_ns", any ? h->max_ns : 0);
	hl_json_u64(j, "min_ns", any ? h->min_ns : 0);
	hl_json_num(j, "mean_ns", hl_hist_mean_ns(h));
}

static void json_run_op(struct hl_json *j, const struct hl_bench_run *run,
			enum hl_bench_op op)
{
	uint64_t t = latency_target(run, op);
	hl_json_open(j, hl_bench_op_name(op), '{');
	json_hist(j, &run->op[op], op_rate(run, op));
	if (t)
		hl_json_u64(j, "p50_target_ns", t);
	else
		hl_json_null(j, "p50_target_ns");
	hl_report_json_pass(j, "p50_pass", t != 0, hl_hist_percentile(&run->op[op], 50) <= t);
	hl_json_close(j);
}

static void json_run_totals(struct hl_json *j, const struct hl_bench_run *run)
{
	hl_json_str(j, "workload", hl_workload_name(run->workload), 16);
	hl_json_u64(j, "workers", run->workers);
	hl_json_num(j, "seconds", run->seconds);
	hl_json_u64(j, "ops", run->ops);
	hl_json_num(j, "ops_per_s", run->ops_per_s);
	hl_json_num(j, "commits_per_s", run->commits_per_s);
	hl_json_u64(j, "verified", run->verified);
	hl_json_u64(j, "unique_bytes", run->unique_bytes);
	hl_json_u64(j, "stored_bytes", run->stored_bytes);
	hl_json_u64(j, "dedup_bytes", run->dedup_bytes);
	hl_json_u64(j, "heap_used_bytes", run->heap_used_bytes);
	hl_json_u64(j, "nodes", run->nodes);
}

static void json_run(struct hl_json *j, const struct hl_bench_report *r,
		     const struct hl_bench_run *run)
{
	double spu = stored_per_unique(run), st = stored_target(run);
	double x = scaling_ratio(r, run), t = scaling_target(run->workers);
	hl_json_open(j, NULL, '{');
	json_run_totals(j, run);
	hl_json_bool(j, "prefault", run->prefault);
	hl_json_bool(j, "one_core", run->one_core);
	hl_json_u64(j, "create_ns", run->create_ns);
	hl_json_num(j, "dedup_ratio", dedup_fraction(run));
	hl_json_num(j, "stored_per_unique", spu);
	hl_json_num(j, "stored_per_unique_target", st);
	hl_report_json_pass(j, "stored_per_unique_pass", isfinite(st) && isfinite(spu),
		  spu <= st);
	double c = scaling_ratio_one_core(r, run), jd = scaling_judged(r, run);
	hl_json_num(j, "scaling_ratio", x);
	hl_json_num(j, "scaling_ratio_one_core", c);
	hl_json_num(j, "scaling_target", t);
	hl_report_json_pass(j, "scaling_pass", isfinite(t) && isfinite(jd), jd >= t);
	hl_json_open(j, "per_op", '{');
	for (unsigned op = 0; op < HL_OP_COUNT; op++)
		json_run_op(j, run, op);
	hl_json_close(j);
	hl_json_close(j);
}

static void json_scaling(struct hl_json *j, const struct hl_bench_report *r,
			 const struct hl_bench_run *run)
{
	double x = scaling_ratio(r, run), t = scaling_target(run->workers);
	hl_json_open(j, NULL, '{');
	hl_json_str(j, "workload", hl_workload_name(run->workload), 16);
	hl_json_u64(j, "workers", run->workers);
	hl_json_num(j, "ops_per_s", run->ops_per_s);
	hl_json_num(j, "commits_per_s", run->commits_per_s);
	double c = scaling_ratio_one_core(r, run), jd = scaling_judged(r, run);
	hl_json_num(j, "ratio", x);
	hl_json_num(j, "ratio_one_core", c);
	hl_json_num(j, "target", t);
	hl_report_json_pass(j, "pass", isfinite(t) && isfinite(jd), jd >= t);
	hl_json_close(j);
}

static void json_header(struct hl_json *j, const struct hl_bench_report *r)
{
	hl_json_str(j, "schema", "helios-bench/1", SIZE_MAX);
	hl_json_str(j, "date", r->date, sizeof r->date);
	hl_json_str(j, "command", r->command, sizeof r->command);
	hl_json_open(j, "machine", '{');
	hl_json_str(j, "description", r->machine, sizeof r->machine);
	hl_json_u64(j, "cpus", r->cpus);
	hl_json_u64(j, "numa_nodes", r->numa_nodes);
	hl_json_close(j);
}

int hl_bench_report_json(FILE *out, const struct hl_bench_report *r)
{
	struct hl_json j;
	hl_json_begin(&j, out, true);
	hl_json_open(&j, NULL, '{');
	json_header(&j, r);
	hl_json_open(&j, "runs", '[');
	for (unsigned i = 0; i < hl_report_run_count(r); i++)
		json_run(&j, r, &r->runs[i]);
	hl_json_close(&j);
	hl_json_open(&j, "scaling", '[');
	for (unsigned i = 0; i < hl_report_run_count(r); i++)
		json_scaling(&j, r, &r->runs[i]);
	hl_json_close(&j);
	hl_json_open(&j, "prefault_runs", '[');
	for (unsigned i = 0; i < r->prefault_count && i < HL_WORKLOAD_COUNT; i++)
		hl_report_json_prefault_run(&j, &r->prefault_runs[i]);
	hl_json_close(&j);
	hl_json_open(&j, "one_core_runs", '[');
	for (unsigned i = 0; i < r->one_core_count && i < HL_WORKLOAD_COUNT; i++)
		hl_report_json_prefault_run(&j, &r->one_core_runs[i]);
	hl_json_close(&j);
	hl_report_json_floor(&j, r);
	hl_json_open(&j, "peers", '[');
	for (unsigned i = 0; i < hl_report_peer_count(r); i++)
		hl_report_json_peer(&j, r, &r->peers[i]);
	hl_json_close(&j);
	hl_report_games_json(&j, r);
	hl_report_persist_json(&j, r);
	hl_json_close(&j);
	return hl_json_end(&j);
}

/* ---- CSV ------------------------------------------------------------------------------ */

/* A field, quoted (RFC 4180) only when it has to be. */
static void csv_field(FILE *out, const char *s)
{
	if (!s[strcspn(s, ",\"\r\n")]) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static void csv_row(FILE *out, const char *system, enum hl_workload w,
		    unsigned workers, enum hl_bench_op op, const struct hl_hist *h,
		    double rate)
{
	csv_field(out, system);
	fprintf(out, ",%s,%u,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
		     ",%" PRIu64 ",%" PRIu64 ",%.1f,%.1f\n",
		hl_workload_name(w), workers, hl_bench_op_name(op), h->count,
		hl_hist_percentile(h, 50), hl_hist_percentile(h, 90),
		hl_hist_percentile(h, 99), hl_hist_percentile(h, 99.9), h->max_ns,
		hl_hist_mean_ns(h), isfinite(rate) ? rate : 0.0);
}

int hl_bench_report_csv(FILE *out, const struct hl_bench_report *r)
{
	fputs("system,workload,workers,op,count,p50_ns,p90_ns,p99_ns,p999_ns,"
	      "max_ns,mean_ns,ops_per_s\n", out);
	for (unsigned i = 0; i < hl_report_run_count(r); i++) {
		const struct hl_bench_run *run = &r->runs[i];
		for (unsigned op = 0; op < HL_OP_COUNT; op++)
			if (run->op[op].count)
				csv_row(out, "helios", run->workload, run->workers, op,
					&run->op[op], op_rate(run, op));
	}
	for (unsigned i = 0; i < hl_report_peer_count(r); i++) {
		const struct hl_bench_peer_row *p = &r->peers[i];
		if (!hl_report_peer_measured(p))
			continue;
		for (unsigned op = HL_OP_COMMIT; op <= HL_OP_RESTORE; op++)
			if (hl_report_peer_hist(p, op)->count)
				csv_row(out, p->peer ? p->peer : "?", p->workload, 1, op,
					hl_report_peer_hist(p, op),
					hl_report_peer_op_rate(&p->r, hl_report_peer_hist(p, op)));
	}
	return ferror(out) ? HL_EIO : 0;
}

/* ---- shared with report_rows.c (bench.h) ------------------------------------------ */

const char *hl_report_fmt_ns(char *buf, size_t len, uint64_t ns)
{
	return fmt_ns(buf, len, ns);
}

void hl_report_line(FILE *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vline(out, fmt, ap);
	va_end(ap);
}

void hl_report_latency_row(FILE *out, const struct hl_bench_run *run,
			   enum hl_bench_op op)
{
	table_latency_row(out, run, op);
}

void hl_report_json_hist(struct hl_json *j, const struct hl_hist *h, double rate)
{
	json_hist(j, h, rate);
}

void hl_report_json_totals(struct hl_json *j, const struct hl_bench_run *run)
{
	json_run_totals(j, run);
}

void hl_report_json_op(struct hl_json *j, const struct hl_bench_run *run,
		       enum hl_bench_op op)
{
	json_run_op(j, run, op);
}
