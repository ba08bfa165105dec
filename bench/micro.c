/*
 * micro.c - helios-bench-micro: the single-process micro-benchmark of the
 * W1 and W2 workloads of DESIGN.md, against the public API only.
 *
 *   W1  4 KiB state. Op: write 64 B at a random offset, commit.
 *       Then: restore a random earlier id; restore one and read its 4 KiB
 *       (DESIGN.md's restore + read, against LMDB's get + copy in
 *       helios bench).
 *   W2  1 MiB state (filled with non-zero bytes first). Op: rewrite one
 *       random 4 KiB-aligned block, commit. Then: restore a random earlier
 *       id; diff two consecutive ids (they differ in exactly that block).
 *       Also: arena bytes (hl_stats.stored_bytes) against the unique bytes
 *       the workload wrote, after 1000 commits and at the end.
 *
 * How it measures, and why:
 *
 *  1. Every operation is timed on its own with clock_gettime(CLOCK_MONOTONIC)
 *     around the call, and the samples are sorted for p50/p90/p99: a mean
 *     hides exactly the tail a search loop feels. The median cost of an empty
 *     timed region (two clock reads, ~20 ns through the vDSO) is measured
 *     first and subtracted from every sample (clamped at 0).
 *  2. ops/s is 1 / mean of the corrected samples: the rate of the operation
 *     itself, without the harness's verification work between ops.
 *  3. Warm-up: each workload first runs untimed ops in its own arena (code,
 *     caches, branch predictors, the process's first slabs, private buffers).
 *     Commits then keep filling new slabs, whose pages would otherwise
 *     fault in during timed commits (a 4 KiB leaf is a new page per
 *     commit): by default the arena is created with hl_config.prefault = 1,
 *     which allocates every heap page up front, so the numbers are the
 *     engine's, not the kernel's page allocator's. --no-prefault shows the
 *     cold-page cost. The output says which. Each arena is sized from a
 *     short calibration run (see sizing_for), so the pre-fault pins only
 *     what the run needs.
 *  4. Nothing is trusted: a fast wrong answer must not pass. A private model
 *     of the state is kept next to the engine's; every commit's id must be
 *     new, every restore is checked (W1: the whole 4 KiB against a stored
 *     fingerprint; W2: the op's block against its fingerprint, and the whole
 *     1 MiB for sampled ids), every diff must report exactly the one block
 *     that changed. Checks run between timed calls, never inside them. A
 *     mismatch prints what differed and exits 1.
 *  5. Each arena gets a unique name (pid + time) and is unlinked at exit,
 *     on error exits, on SIGINT/SIGTERM/SIGHUP and on crashes (SIGSEGV,
 *     SIGBUS, SIGABRT, SIGFPE: the handler unlinks, then re-raises).
 *
 * Exit status: 0 when every check passed (MISS lines included, unless
 * --strict), 1 on a verification failure or API error, 2 on bad usage,
 * 3 with --strict when a target was missed.
 *
 * This file: the command line, the machine, the report and main. The
 * workloads are in micro_workloads.c, the samples in micro_samples.c,
 * what they share in micro.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "kit.h" /* the JSON writer (helios_json) */
#include "micro.h"

/* ---- the machine ------------------------------------------------------------ */

struct machine {
	long cpus;
	char model[128], kernel[3 * 65 + 3];
};

static void machine_probe(struct machine *m)
{
	m->cpus = sysconf(_SC_NPROCESSORS_ONLN);
	snprintf(m->model, sizeof m->model, "unknown");
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f) {
		char line[256];
		while (fgets(line, sizeof line, f)) {
			char *colon = strchr(line, ':');
			if (strncmp(line, "model name", 10) || !colon)
				continue;
			colon += 1 + (colon[1] == ' ');
			colon[strcspn(colon, "\n")] = '\0';
			snprintf(m->model, sizeof m->model, "%s", colon);
			break;
		}
		fclose(f);
	}
	struct utsname u;
	if (uname(&u) == 0)
		snprintf(m->kernel, sizeof m->kernel, "%s %s %s", u.sysname,
			 u.release, u.machine);
	else
		snprintf(m->kernel, sizeof m->kernel, "unknown");
}

/* ---- output ----------------------------------------------------------------- */

static const char *fmt_ns(char *buf, size_t n, uint64_t ns)
{
	if (ns < 10000)
		snprintf(buf, n, "%.2f us", ns / 1e3);
	else if (ns < 1000000)
		snprintf(buf, n, "%.1f us", ns / 1e3);
	else
		snprintf(buf, n, "%.2f ms", ns / 1e6);
	return buf;
}

static const char *fmt_rate(char *buf, size_t n, double r)
{
	if (r >= 1e6)
		snprintf(buf, n, "%.2f M", r / 1e6);
	else if (r >= 1e3)
		snprintf(buf, n, "%.1f k", r / 1e3);
	else
		snprintf(buf, n, "%.0f", r);
	return buf;
}

static bool g_missed;

static void print_row(struct series *s)
{
	struct summary r = series_summarize(s);
	char a[32], b[32], c[32], d[32], e[32];
	const char *verdict = s->target_ns == 0 ? "" : r.pass ? "PASS" : "MISS";
	if (!r.pass)
		g_missed = true;
	printf("%-3s %-25s %7" PRIu64 " %9s %9s %9s %9s %9s  %-*s%s\n",
	       s->workload, s->op, s->n, fmt_ns(a, sizeof a, r.p50),
	       fmt_ns(b, sizeof b, r.p90), fmt_ns(c, sizeof c, r.p99),
	       fmt_ns(e, sizeof e, r.max), fmt_rate(d, sizeof d, r.ops_per_s),
	       verdict[0] ? 15 : 0, s->target_text, verdict);
}

static void json_row(struct hl_json *j, struct series *s)
{
	struct summary r = series_summarize(s);
	if (!r.pass)
		g_missed = true;
	hl_json_open(j, NULL, '{');
	hl_json_str(j, "workload", s->workload, SIZE_MAX);
	hl_json_str(j, "op", s->key, SIZE_MAX);
	hl_json_u64(j, "n", s->n);
	hl_json_u64(j, "p50_ns", r.p50);
	hl_json_u64(j, "p90_ns", r.p90);
	hl_json_u64(j, "p99_ns", r.p99);
	hl_json_u64(j, "max_ns", r.max);
	hl_json_fixed(j, "ops_per_s", r.ops_per_s, 0);
	if (s->target_ns) {
		hl_json_fixed(j, "target_p50_ns", s->target_ns, 0);
		hl_json_bool(j, "pass", r.pass);
	}
	hl_json_close(j);
}

/* The whole run as one JSON object on stdout. */
static void print_json(const struct options *o, const struct machine *m,
		       struct w1_result *w1, struct w2_result *w2)
{
	struct hl_json j;
	char version[32];
	snprintf(version, sizeof version, "%d.%d.%d", HL_VERSION_MAJOR,
		 HL_VERSION_MINOR, HL_VERSION_PATCH);
	hl_json_begin(&j, stdout, true);
	hl_json_open(&j, NULL, '{');
	hl_json_str(&j, "bench", "helios-bench-micro", SIZE_MAX);
	hl_json_str(&j, "version", version, SIZE_MAX);
	hl_json_open(&j, "machine", '{');
	hl_json_u64(&j, "cpus", (uint64_t)m->cpus);
	hl_json_str(&j, "model", m->model, sizeof m->model);
	hl_json_str(&j, "kernel", m->kernel, sizeof m->kernel);
	hl_json_close(&j);
	hl_json_u64(&j, "timer_overhead_ns", g_timer_ns);
	hl_json_bool(&j, "prefault", o->prefault);
	hl_json_str(&j, "numa", o->numa == HL_NUMA_OFF ? "off" : "auto", SIZE_MAX);
	hl_json_u64(&j, "seed", o->seed);
	hl_json_u64(&j, "chunk_bytes", o->chunk_bytes);
	hl_json_open(&j, "results", '[');
	if (o->run_w1) {
		json_row(&j, &w1->commit);
		json_row(&j, &w1->commit_only);
		json_row(&j, &w1->restore);
		json_row(&j, &w1->restore_hot);
		json_row(&j, &w1->restore_read);
	}
	if (o->run_w2) {
		json_row(&j, &w2->commit);
		json_row(&j, &w2->commit_only);
		json_row(&j, &w2->restore);
		json_row(&j, &w2->restore_hot);
		json_row(&j, &w2->diff);
	}
	hl_json_close(&j);
	if (o->run_w2) {
		hl_json_open(&j, "w2_space", '{');
		hl_json_u64(&j, "commits", w2->space_commits);
		hl_json_u64(&j, "stored_bytes", w2->space_stored);
		hl_json_u64(&j, "heap_used_bytes", w2->space_heap_used);
		hl_json_u64(&j, "unique_bytes", w2->space_unique);
		if (w2->space_commits) {
			double ratio = (double)w2->space_stored / (double)w2->space_unique;
			hl_json_fixed(&j, "ratio", ratio, 4);
			hl_json_num(&j, "target_ratio", 1.1);
			hl_json_bool(&j, "pass", ratio <= 1.1);
			g_missed |= ratio > 1.1;
		}
		hl_json_u64(&j, "end_commits", w2->end_commits);
		hl_json_u64(&j, "end_stored_bytes", w2->end_stored);
		hl_json_u64(&j, "end_unique_bytes", w2->end_unique);
		hl_json_close(&j);
	}
	hl_json_open(&j, "verified", '{');
	hl_json_u64(&j, "w1_restores", w1->checked_restores);
	hl_json_u64(&j, "w2_restores", w2->checked_restores);
	hl_json_u64(&j, "w2_full_state_checks", w2->full_checks);
	hl_json_u64(&j, "w2_diffs", w2->checked_diffs);
	hl_json_close(&j);
	hl_json_close(&j);
	hl_json_end(&j);
}

static void print_space(const char *when, uint64_t commits, uint64_t stored,
			uint64_t unique)
{
	double ratio = unique ? (double)stored / (double)unique : 0;
	bool pass = ratio <= 1.1;
	printf("W2  space after %" PRIu64 " commits: stored %.2f MiB / unique"
	       " written %.2f MiB = %.3fx", commits, stored / 1048576.0,
	       unique / 1048576.0, ratio);
	if (when)
		printf("   target <= 1.1x  %s", pass ? "PASS" : "MISS");
	putchar('\n');
	if (when && !pass)
		g_missed = true;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: helios-bench-micro [options]\n"
		"  --ops N          ops per workload (default 200000 for W1, 20000 for W2)\n"
		"  --w1-ops N       ops for W1 only        --w2-ops N   ops for W2 only\n"
		"  --workload W     w1, w2 or all (default all)\n"
		"  --warmup N       untimed ops before timing (default ops/10, at most 5000)\n"
		"  --seed S         seed of the random offsets and bytes (default 42)\n"
		"  --chunk BYTES    arena chunk size (default 4096)\n"
		"  --arena-mb MB    arena size, index size left to the library (default:\n"
		"                   both sized from a short calibration run)\n"
		"  --numa MODE      arena NUMA policy: auto (default) or off\n"
		"  --no-prefault    let timed commits take the page faults of new slabs\n"
		"  --json           machine-readable output on stdout\n"
		"  --strict         exit 3 when a target is missed\n");
}

static uint64_t parse_u64(const char *flag, const char *v)
{
	char *end;
	errno = 0;
	unsigned long long x = v ? strtoull(v, &end, 0) : 0;
	if (!v || errno || *end || v[0] == '-') {
		fprintf(stderr, "helios-bench-micro: %s needs a number\n", flag);
		usage(stderr);
		exit(2);
	}
	return x;
}

static void parse_args(int argc, char **argv, struct options *o)
{
	*o = (struct options){.w1_ops = 200000, .w2_ops = 20000, .seed = 42,
			      .chunk_bytes = 4096, .prefault = true,
			      .run_w1 = true, .run_w2 = true};
	for (int i = 1; i < argc; i++) {
		const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(f, "--ops"))
			o->w1_ops = o->w2_ops = parse_u64(f, v), i++;
		else if (!strcmp(f, "--w1-ops"))
			o->w1_ops = parse_u64(f, v), i++;
		else if (!strcmp(f, "--w2-ops"))
			o->w2_ops = parse_u64(f, v), i++;
		else if (!strcmp(f, "--warmup"))
			o->warmup_ops = parse_u64(f, v), i++;
		else if (!strcmp(f, "--seed"))
			o->seed = parse_u64(f, v), i++;
		else if (!strcmp(f, "--chunk"))
			o->chunk_bytes = (uint32_t)parse_u64(f, v), i++;
		else if (!strcmp(f, "--arena-mb"))
			o->arena_mb = parse_u64(f, v), i++;
		else if (!strcmp(f, "--workload") && v) {
			o->run_w1 = !strcmp(v, "w1") || !strcmp(v, "all");
			o->run_w2 = !strcmp(v, "w2") || !strcmp(v, "all");
			if (!o->run_w1 && !o->run_w2) {
				fprintf(stderr, "helios-bench-micro: --workload w1|w2|all\n");
				exit(2);
			}
			i++;
		} else if (!strcmp(f, "--numa") && v) {
			if (strcmp(v, "auto") && strcmp(v, "off")) {
				fprintf(stderr, "helios-bench-micro: --numa auto|off\n");
				exit(2);
			}
			o->numa = strcmp(v, "off") ? HL_NUMA_AUTO : HL_NUMA_OFF;
			i++;
		} else if (!strcmp(f, "--no-prefault"))
			o->prefault = false;
		else if (!strcmp(f, "--json"))
			o->json = true;
		else if (!strcmp(f, "--strict"))
			o->strict = true;
		else if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
			usage(stdout);
			exit(0);
		} else {
			fprintf(stderr, "helios-bench-micro: unknown option %s\n", f);
			usage(stderr);
			exit(2);
		}
	}
	if ((o->run_w1 && o->w1_ops == 0) || (o->run_w2 && o->w2_ops == 0)) {
		fprintf(stderr, "helios-bench-micro: --ops must be at least 1\n");
		exit(2);
	}
	if (o->chunk_bytes < 32 || o->chunk_bytes > (1u << 20) ||
	    (o->chunk_bytes & (o->chunk_bytes - 1))) {
		fprintf(stderr, "helios-bench-micro: --chunk must be a power of two, 32..1048576\n");
		exit(2);
	}
}

static void print_header(const struct options *o, const struct machine *m,
			 const struct w1_result *w1, const struct w2_result *w2)
{
	time_t t = time(NULL);
	char date[32];
	strftime(date, sizeof date, "%Y-%m-%d %H:%M", localtime(&t));
	printf("helios-bench-micro  helios %d.%d.%d  %s\n", HL_VERSION_MAJOR,
	       HL_VERSION_MINOR, HL_VERSION_PATCH, date);
	printf("machine : %ld CPUs, %s, %s\n", m->cpus, m->model, m->kernel);
	printf("timer   : clock_gettime(CLOCK_MONOTONIC) around each call; median"
	       " overhead %" PRIu64 " ns, subtracted from every sample\n",
	       g_timer_ns);
	printf("warm-up : untimed ops in each arena before timing:");
	if (o->run_w1)
		printf(" W1 %" PRIu64, w1->warmup);
	if (o->run_w2)
		printf(" W2 %" PRIu64, w2->warmup);
	printf("\nmemory  : arena");
	if (o->run_w1)
		printf(" W1 %" PRIu64 " MiB", w1->arena_mb);
	if (o->run_w2)
		printf(" W2 %" PRIu64 " MiB", w2->arena_mb);
	if (!o->prefault)
		printf(", NOT pre-faulted (--no-prefault): timed commits include"
		       " the page faults of new slabs\n");
	else
		printf(", heap pre-faulted at creation (hl_config.prefault) so"
		       " page faults of new slabs are not counted\n");
	printf("config  : seed %" PRIu64 ", chunk %u B, numa %s, one process, one"
	       " thread; every op self-checked\n\n",
	       o->seed, o->chunk_bytes, o->numa == HL_NUMA_OFF ? "off" : "auto");
	printf("%-3s %-25s %7s %9s %9s %9s %9s %9s  %s\n", "", "operation",
	       "ops", "p50", "p90", "p99", "max", "ops/s", "target");
}

int main(int argc, char **argv)
{
	struct options o;
	parse_args(argc, argv, &o);
	atexit(arena_forget);
	/* Crashes too: a crash inside the engine must not leak a GiB of shm. */
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGSEGV, SIGBUS,
				   SIGABRT, SIGFPE};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		signal(sigs[i], on_signal);

	struct machine m;
	machine_probe(&m);
	g_timer_ns = measure_timer_overhead();

	static struct w1_result w1;
	static struct w2_result w2;
	if (o.run_w1)
		w1_run(&o, &w1);
	if (o.run_w2)
		w2_run(&o, &w2);

	if (o.json) {
		print_json(&o, &m, &w1, &w2);
	} else {
		print_header(&o, &m, &w1, &w2);
		if (o.run_w1) {
			print_row(&w1.commit);
			print_row(&w1.commit_only);
			print_row(&w1.restore);
			print_row(&w1.restore_hot);
			print_row(&w1.restore_read);
		}
		if (o.run_w2) {
			print_row(&w2.commit);
			print_row(&w2.commit_only);
			print_row(&w2.restore);
			print_row(&w2.restore_hot);
			print_row(&w2.diff);
			if (w2.space_commits)
				print_space("target", w2.space_commits,
					    w2.space_stored, w2.space_unique);
			else
				printf("W2  space: fewer than %u commits ran; no"
				       " figure for the 1000-commit target\n",
				       W2_SPACE_COMMITS);
			print_space(NULL, w2.end_commits, w2.end_stored,
				    w2.end_unique);
		}
		printf("\nunique written = the initial 1 MiB + 4 KiB per commit;"
		       " stored = hl_stats.stored_bytes (leaves, inner nodes, roots)\n");
		printf("verified: %" PRIu64 " W1 restores (whole state), %" PRIu64
		       " W2 restores (%" PRIu64 " whole-state), %" PRIu64
		       " W2 diffs (exact range): all OK\n",
		       w1.checked_restores, w2.checked_restores, w2.full_checks,
		       w2.checked_diffs);
	}
	fflush(stdout);
	return o.strict && g_missed ? 3 : 0;
}
