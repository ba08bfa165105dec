/*
 * bench.c - `helios bench`: the benchmark harness. N worker processes
 * against one arena on this box, through the coordinator's machinery, for
 * each workload and each worker count of the sweep; then the peers (LMDB,
 * RocksDB, Redis, PostgreSQL) on the same W1/W2 workloads; then one report.
 *
 *   helios bench [--workload w1|w2|mixed|all] [--workers 1,2,4,8]
 *                [--ops N | --duration SECONDS] [--peers all|none|LIST]
 *                [--seed N] [--size BYTES] [--numa auto|off]
 *                [--json FILE|-] [--csv FILE|-] [--plot FILE.svg]
 *                [--persist short|full|none] [--persist-dir DIR]
 *                [--persist-reps N] [--quiet] [--help]
 *
 * This file: the command line, the sweep (every selected workload at every
 * worker count, then the persistence section, the game, the peers), stop
 * signals and the report. One run is harness_run.c, the persistence
 * section persist_rows.c, the peers harness_peers.c, what they share
 * harness.h.
 *
 * Invariants:
 *  1. A stop signal (SIGINT, SIGTERM, SIGHUP) ends the current run cleanly,
 *     every arena and temporary file removed (harness_run.c's invariant 1);
 *     a second one kills at once.
 *  2. A failed run or peer never stops the sweep, and never contributes
 *     to the report; the exit status is then 1.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "kit.h"
#include "shm.h"

#define DURATION_MAX_S 86400.0
#define FLOOR_SAMPLES 20000u /* about 20 ms: the floor row's samples */
#define PERSIST_DIR_DEFAULT "/var/tmp" /* a disk, not tmpfs (O_DIRECT) */
#define PERSIST_REPS_FULL 3u

volatile sig_atomic_t hl_bench_interrupted;

static void on_signal(int sig)
{
	(void)sig;
	hl_bench_interrupted = 1;
}

/* ---- the command line -------------------------------------------------------- */

static const char usage_text[] =
	"usage: helios bench [--workload w1|w2|mixed|all|none] [--workers 1,2,4,8]\n"
	"                    [--ops N | --duration SECONDS] [--peers all|none|LIST]\n"
	"                    [--seed N] [--size BYTES] [--numa auto|off]\n"
	"                    [--json FILE|-] [--csv FILE|-] [--plot FILE.svg]\n"
	"                    [--game connect4|none] [--persist short|full|none]\n"
	"                    [--persist-dir DIR] [--persist-reps N] [--quiet] [--help]\n"
	"\n"
	"  --workload   w1 (4 KiB state, 64 B writes), w2 (1 MiB, 4 KiB chunks),\n"
	"               mixed (64 KiB: commit/restore/fork/diff), all (default),\n"
	"               none (only the game, with --game)\n"
	"  --workers    the sweep: worker processes per run (default 1,2,4,8)\n"
	"  --ops        timed operations per worker, or\n"
	"  --duration   seconds each run times (default 2)\n"
	"  --peers      lmdb,rocksdb,redis,postgresql (comma list), all (default)\n"
	"               or none; missing ones are skipped with how to install them\n"
	"  --seed       seed of every random choice (default 1)\n"
	"  --size       arena size per run, like 2G (default: sized for the run)\n"
	"  --numa       auto: pin workers across nodes and cores (default); off\n"
	"  --json, --csv  also write the report as JSON / CSV ('-': stdout, and\n"
	"               the table goes to stderr)\n"
	"  --plot       an SVG of the scaling curve and latency distributions\n"
	"  --game       connect4 (default): shared-search playouts at each worker\n"
	"               count beside a private-memory baseline; none\n"
	"  --persist    the persistence section: short (default: W1 at 1 worker\n"
	"               off/async/sync, write speed, recovery of a 64 MiB WAL),\n"
	"               full (W1 and W2 at 1 and 4 workers, 3 runs each, a 1 GiB\n"
	"               WAL, the durable peers) or none\n"
	"  --persist-dir  where the WALs go (default /var/tmp; a disk, not tmpfs)\n"
	"  --persist-reps runs of each persistence row (default 1 short, 3 full)\n"
	"  --quiet      no progress lines\n"
	"Exit status: 0; 1 if a worker, a self-check or a peer failed; 2 usage.\n";

static int usage(const char *why, const char *what)
{
	return hl_usage("bench", usage_text, why, what);
}


static int parse_workers(struct opts *o, const char *arg)
{
	uint64_t v[COUNTS_MAX];
	unsigned n = 0;
	int rc = hl_parse_u64_list(arg, 1, HL_SUP_WORKERS_MAX, v, COUNTS_MAX, &n);
	if (rc == HL_ERANGE)
		return usage("--workers: at most 16 counts", arg);
	if (rc)
		return usage("--workers takes a comma list of counts from 1 to 1000", arg);
	o->ncounts = n;
	for (unsigned i = 0; i < n; i++)
		o->counts[i] = (unsigned)v[i];
	return 0;
}

static int parse_peers(struct opts *o, const char *arg)
{
	bool all = !strcmp(arg, "all");
	for (unsigned i = 0; i < PEER_COUNT; i++)
		o->peer[i] = all;
	if (all || !strcmp(arg, "none"))
		return 0;
	char buf[256];
	if (strlen(arg) >= sizeof buf)
		return usage("--peers: list too long", NULL);
	strcpy(buf, arg);
	char *save = NULL;
	bool any = false;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned i = 0;
		while (i < PEER_COUNT && strcmp(t, hl_bench_peers[i]->name))
			i++;
		if (i == PEER_COUNT)
			return usage("--peers takes all, none or a comma list of "
				     "lmdb, rocksdb, redis, postgresql", t);
		o->peer[i] = any = true;
	}
	return any ? 0 : usage("--peers: empty list", arg);
}

enum {
	OPT_WORKLOAD = 256, OPT_WORKERS, OPT_OPS, OPT_DURATION, OPT_PEERS,
	OPT_SEED, OPT_SIZE, OPT_NUMA, OPT_JSON, OPT_CSV, OPT_PLOT, OPT_QUIET,
	OPT_HELP, OPT_GAME, OPT_PERSIST, OPT_PERSIST_DIR, OPT_PERSIST_REPS,
};

static const struct option long_opts[] = {
	{"workload", required_argument, 0, OPT_WORKLOAD},
	{"workers", required_argument, 0, OPT_WORKERS},
	{"ops", required_argument, 0, OPT_OPS},
	{"duration", required_argument, 0, OPT_DURATION},
	{"peers", required_argument, 0, OPT_PEERS},
	{"seed", required_argument, 0, OPT_SEED},
	{"size", required_argument, 0, OPT_SIZE},
	{"numa", required_argument, 0, OPT_NUMA},
	{"json", required_argument, 0, OPT_JSON},
	{"csv", required_argument, 0, OPT_CSV},
	{"plot", required_argument, 0, OPT_PLOT},
	{"quiet", no_argument, 0, OPT_QUIET},
	{"help", no_argument, 0, OPT_HELP},
	{"game", required_argument, 0, OPT_GAME},
	{"persist", required_argument, 0, OPT_PERSIST},
	{"persist-dir", required_argument, 0, OPT_PERSIST_DIR},
	{"persist-reps", required_argument, 0, OPT_PERSIST_REPS},
	{0, 0, 0, 0},
};

/* One option: 0 to go on, -1 for --help, else the exit code. */
static int parse_one(struct opts *o, int opt, const char *arg, bool *duration_set)
{
	switch (opt) {
	case OPT_WORKLOAD: {
		int w = hl_workload_parse(arg);
		bool all = !strcmp(arg, "all");
		if (w < 0 && !all && strcmp(arg, "none"))
			return usage("--workload takes w1, w2, mixed, all or none", arg);
		for (int i = 0; i < HL_WORKLOAD_COUNT; i++)
			o->workload[i] = all || i == w;
		return 0;
	}
	case OPT_WORKERS:
		return parse_workers(o, arg);
	case OPT_OPS:
		if (!hl_parse_u64(arg, 1ull << 40, &o->ops) || o->ops == 0)
			return usage("--ops takes a count of at least 1", arg);
		return 0;
	case OPT_DURATION:
		if (!hl_parse_seconds(arg, DURATION_MAX_S, &o->duration_s) ||
		    !(o->duration_s > 0))
			return usage("--duration takes seconds, more than 0", arg);
		*duration_set = true;
		return 0;
	case OPT_PEERS:
		return parse_peers(o, arg);
	case OPT_SEED:
		return hl_parse_u64(arg, UINT64_MAX, &o->seed) ? 0 : usage("bad --seed", arg);
	case OPT_SIZE:
		if (!hl_parse_size(arg, &o->size) || o->size == 0)
			return usage("--size takes bytes, like 2G or 512M", arg);
		return 0;
	case OPT_NUMA:
		if (strcmp(arg, "auto") && strcmp(arg, "off"))
			return usage("--numa takes auto or off", arg);
		o->numa = strcmp(arg, "off") ? HL_NUMA_AUTO : HL_NUMA_OFF;
		return 0;
	case OPT_JSON: o->json = arg; return 0;
	case OPT_CSV: o->csv = arg; return 0;
	case OPT_PLOT: o->plot = arg; return 0;
	case OPT_QUIET: o->quiet = true; return 0;
	case OPT_GAME:
		if (strcmp(arg, "connect4") && strcmp(arg, "none"))
			return usage("--game takes connect4 or none", arg);
		o->game = !strcmp(arg, "connect4");
		return 0;
	case OPT_PERSIST:
		if (!strcmp(arg, "short"))
			o->persist_section = PERSIST_SHORT;
		else if (!strcmp(arg, "full"))
			o->persist_section = PERSIST_FULL;
		else if (!strcmp(arg, "none"))
			o->persist_section = PERSIST_NONE;
		else
			return usage("--persist takes short, full or none", arg);
		return 0;
	case OPT_PERSIST_DIR:
		if (!arg[0] || strlen(arg) > 200)
			return usage("--persist-dir takes a directory (at most 200 bytes)", arg);
		o->persist_dir = arg;
		return 0;
	case OPT_PERSIST_REPS: {
		uint64_t v;
		if (!hl_parse_u64(arg, HL_BENCH_PERSIST_REPS_MAX, &v) || v == 0)
			return usage("--persist-reps takes a count from 1 to 9", arg);
		o->persist_reps = (unsigned)v;
		return 0;
	}
	case OPT_HELP:
		fputs(usage_text, stdout);
		return -1;
	default:
		return usage(NULL, NULL);
	}
}

static int parse_opts(struct opts *o, int argc, char **argv)
{
	memset(o, 0, sizeof *o);
	for (int i = 0; i < HL_WORKLOAD_COUNT; i++)
		o->workload[i] = true;
	static const unsigned def[] = {1, 2, 4, 8};
	memcpy(o->counts, def, sizeof def);
	o->ncounts = 4;
	o->duration_s = 2;
	for (unsigned i = 0; i < PEER_COUNT; i++)
		o->peer[i] = true;
	o->seed = 1;
	o->numa = HL_NUMA_AUTO;
	o->game = true;
	o->persist_section = PERSIST_SHORT;
	o->persist_dir = PERSIST_DIR_DEFAULT;
	bool duration_set = false;
	optind = 1;
	opterr = 1;
	int opt;
	while ((opt = getopt_long(argc, argv, "+", long_opts, NULL)) != -1) {
		int rc = parse_one(o, opt, optarg, &duration_set);
		if (rc)
			return rc;
	}
	if (optind < argc)
		return usage("unexpected argument", argv[optind]);
	if (o->ops && duration_set)
		return usage("give --ops or --duration, not both", NULL);
	int to_stdout = (o->json && !strcmp(o->json, "-")) +
			(o->csv && !strcmp(o->csv, "-"));
	if (to_stdout > 1)
		return usage("only one of --json and --csv can be '-'", NULL);
	if (o->plot && !strcmp(o->plot, "-"))
		return usage("--plot takes a file name", "-");
	if (!o->persist_reps)
		o->persist_reps = o->persist_section == PERSIST_FULL ? PERSIST_REPS_FULL : 1;
	return 0;
}

/* ---- the report -------------------------------------------------------------- */

/* The command line, to reproduce the run (shell-quoted where needed). */
static void join_command(char *out, size_t len, int argc, char **argv)
{
	size_t at = (size_t)snprintf(out, len, "helios");
	for (int i = 0; i < argc && at < len; i++) {
		const char *a = argv[i];
		bool quote = !a[0] || strpbrk(a, " \t\n'\"\\$`*?[]{}()<>|&;!#~") != NULL;
		int k = snprintf(out + at, len - at, quote ? " '%s'" : " %s", a);
		if (k < 0)
			break;
		at += (size_t)k;
	}
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return (a > b) - (a < b);
}

/* The median cost of an empty timed region, as each worker measures it
 * for itself (worker.c), for the notes. */
static uint64_t timer_overhead_ns(void)
{
	enum { N = 10001 };
	static uint64_t v[N];
	for (unsigned i = 0; i < N; i++) {
		uint64_t t0 = hl_now_ns();
		v[i] = hl_now_ns() - t0;
	}
	qsort(v, N, sizeof *v, cmp_u64);
	return v[N / 2];
}

static void print_notes(FILE *out, const struct opts *o,
			const struct hl_bench_report *rep, const struct notes *nt)
{
	uint64_t verified = 0;
	for (unsigned i = 0; i < rep->run_count; i++)
		verified += rep->runs[i].verified;
	fprintf(out, "\nhow these were measured:\n");
	fprintf(out, "  timing   clock_gettime(CLOCK_MONOTONIC) around each operation, the "
		"median cost of an empty timed region (%" PRIu64 " ns here) subtracted;\n"
		"           ops/s = each worker's ops over its own timed wall time "
		"(self-checks between ops included), summed\n", nt->timer_ns);
	fprintf(out, "  runs     %s per run, after %u untimed warm-up ops per worker; "
		"workers start timing together\n",
		o->ops ? "--ops" : "--duration", WORKER_WARMUP_OPS);
	if (o->ops)
		fprintf(out, "           %" PRIu64 " ops per worker\n", o->ops);
	else
		fprintf(out, "           %.1f s per run\n", o->duration_s);
	fprintf(out, "  arenas   a fresh one per run, the default configuration "
		"(hl_config_init and nothing else: slabs prepared as they are grabbed, "
		"their cost inside the timed commits);\n"
		"           the 'prefault' rows: 1 worker, hl_config.prefault = 1 "
		"(the whole heap populated at creation, not timed);\n"
		"           the 'one core' rows: 1 worker, HELIOS_PAGE_HELPER=0 (a "
		"default worker's page helper thread runs on another core), the "
		"scaling targets' baseline;\n"
		"           %s\n", nt->arenas_len ? nt->arenas : "none");
	fprintf(out, "  floor    XXH3-128 of a 4 KiB chunk (the engine's own "
		"dispatched hl_hash_leaf) + a copy of it to a cold page + a CAS on a "
		"cold word, %u samples in this process (bench/floor.c)\n",
		FLOOR_SAMPLES);
	fprintf(out, "  checks   every restore read back (W1 whole state; W2/mixed the "
		"written range, the whole state every 64th), every diff's range, every "
		"fork: %" PRIu64 " passed\n", verified);
	if (rep->peer_count)
		fprintf(out, "  peers    one process each, data on tmpfs; W1 %" PRIu64
			" commits%s, W2 %" PRIu64 " commits%s (one Helios worker's "
			"commits in the 1-worker run), then as many restores\n",
			nt->peer_ops[HL_WORKLOAD_W1],
			nt->peer_capped[HL_WORKLOAD_W1] ? " (capped at 200000)" : "",
			nt->peer_ops[HL_WORKLOAD_W2],
			nt->peer_capped[HL_WORKLOAD_W2] ? " (capped at 2000)" : "");
	if (nt->early_stop)
		fprintf(out, "  note     a worker stopped early on a full arena "
			"(see above): its figures cover its shorter run\n");
}

/* Writes path ("-": stdout) with fn; false when it could not. */
static bool write_report(const char *what, const char *path,
			 int (*fn)(FILE *, const struct hl_bench_report *),
			 const struct hl_bench_report *rep)
{
	bool std = !strcmp(path, "-");
	FILE *f = std ? stdout : fopen(path, "w");
	if (!f) {
		hl_say("bench: cannot write the %s report to %s: %s", what, path,
		       strerror(errno));
		return false;
	}
	int rc = fn(f, rep);
	bool ok = rc == 0 && !ferror(f);
	if (std ? fflush(f) != 0 : fclose(f) != 0)
		ok = false;
	if (!ok)
		hl_say("bench: writing the %s report to %s failed", what, path);
	return ok;
}

static bool write_reports(const struct opts *o, const struct hl_bench_report *rep,
			  const struct notes *nt)
{
	bool to_stdout = (o->json && !strcmp(o->json, "-")) ||
			 (o->csv && !strcmp(o->csv, "-"));
	FILE *table = to_stdout ? stderr : stdout;
	bool ok = hl_bench_report_table(table, rep) == 0;
	print_notes(table, o, rep, nt);
	fflush(table);
	if (o->json)
		ok &= write_report("JSON", o->json, hl_bench_report_json, rep);
	if (o->csv)
		ok &= write_report("CSV", o->csv, hl_bench_report_csv, rep);
	if (o->plot && hl_bench_report_svg(o->plot, rep)) {
		hl_say("bench: cannot write the plot to %s", o->plot);
		ok = false;
	}
	return ok;
}

/* ---- the command ------------------------------------------------------------- */

static void signals_catch(void)
{
	/* A handler, not a blocked mask: the peers' servers inherit the mask
	 * across exec, and must still stop when told. SA_RESETHAND: a
	 * second signal kills at once. */
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESETHAND};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Every selected workload at every worker count. 0, 1 (a run failed) or
 * -1 (interrupted). */
static int run_sweep(const struct opts *o, char **worker_argv,
		     struct hl_bench_report *rep, struct notes *nt)
{
	int rc = 0;
	for (int w = 0; w < HL_WORKLOAD_COUNT; w++) {
		for (unsigned c = 0; o->workload[w] && c < o->ncounts; c++) {
			struct hl_bench_run *run = &rep->runs[rep->run_count];
			int r = hl_harness_run(o, (enum hl_workload)w, o->counts[c],
					  worker_argv, run, nt);
			if (r < 0)
				return -1;
			if (r == 0)
				rep->run_count++;
			else
				rc = 1;
		}
	}
	return rc;
}

/* One more 1-worker row per workload under `variant` (a copy of o with
 * one thing changed), into runs[*count]. A failed one is left out (and
 * makes the exit status 1); -1 if stopped. */
static int run_variant_rows(const struct opts *o, const struct opts *variant,
			    char **worker_argv, struct hl_bench_run *runs,
			    unsigned *count, struct notes *nt)
{
	int rc = 0;
	for (int w = 0; w < HL_WORKLOAD_COUNT; w++) {
		if (!o->workload[w] || *count >= HL_WORKLOAD_COUNT)
			continue;
		int r = hl_harness_run(variant, (enum hl_workload)w, 1, worker_argv,
				       &runs[*count], nt);
		if (r < 0)
			return -1;
		if (r == 0)
			(*count)++;
		else
			rc = 1;
	}
	return rc;
}

/* The second row of each workload: one worker on a prefaulted arena; the
 * third: one worker whose process runs nothing on another core (no page
 * helper), the scaling targets' baseline - none on one CPU, where the
 * default worker has no helper either. */
static int run_extra_rows(const struct opts *o, char **worker_argv,
			  struct hl_bench_report *rep, struct notes *nt)
{
	struct opts pf = *o, one_core = *o;
	pf.prefault = true;
	one_core.no_page_helper = true;
	int rc = run_variant_rows(o, &pf, worker_argv, rep->prefault_runs,
				  &rep->prefault_count, nt);
	if (rc < 0 || hl_bench_interrupted || sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return rc;
	int oc = run_variant_rows(o, &one_core, worker_argv, rep->one_core_runs,
				  &rep->one_core_count, nt);
	return oc < 0 ? oc : rc | oc;
}

int hl_bench_main(int argc, char **argv)
{
	struct opts o;
	int rc = parse_opts(&o, argc, argv);
	if (rc)
		return rc < 0 ? HL_EXIT_OK : rc;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0) {
		hl_say("bench: cannot find the helios program itself");
		return HL_EXIT_FAILED;
	}
	exe[n] = '\0';
	char *worker_argv[] = {exe, "worker", NULL};
	struct hl_bench_report *rep = calloc(1, sizeof *rep);
	struct notes *nt = calloc(1, sizeof *nt);
	if (!rep || !nt) {
		hl_say("bench: out of memory");
		free(rep);
		free(nt);
		return HL_EXIT_FAILED;
	}
	signals_catch();
	hl_bench_describe_machine(rep);
	join_command(rep->command, sizeof rep->command, argc, argv);
	nt->timer_ns = timer_overhead_ns();

	if (hl_bench_floor(&rep->floor, FLOOR_SAMPLES, nt->timer_ns))
		hl_say("bench: no memory for the floor row; it is left out");
	int sweep = run_sweep(&o, worker_argv, rep, nt);
	if (sweep >= 0 && !hl_bench_interrupted) {
		int extra = run_extra_rows(&o, worker_argv, rep, nt);
		sweep = extra < 0 ? extra : sweep | extra;
	}
	bool ok = sweep == 0;
	if (sweep >= 0 && !hl_bench_interrupted)
		ok &= hl_harness_run_persist(&o, worker_argv, rep, nt);
	if (sweep >= 0 && !hl_bench_interrupted && o.game)
		ok &= hl_harness_run_games(&o, exe, rep);
	if (sweep >= 0 && !hl_bench_interrupted)
		ok &= hl_harness_run_peers(&o, rep, nt);
	if (hl_bench_interrupted) {
		hl_say("bench: interrupted; every arena and temporary file removed");
		free(rep);
		free(nt);
		return HL_EXIT_FAILED;
	}
	ok &= write_reports(&o, rep, nt);
	free(rep);
	free(nt);
	return ok ? HL_EXIT_OK : HL_EXIT_FAILED;
}
