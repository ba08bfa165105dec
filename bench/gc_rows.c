/*
 * gc_rows.c - `helios bench gc` (helios-bench gc): what garbage collection
 * costs the workers, measured the way users run them.
 *
 * For each workload row, N worker processes run the built-in workload
 * (workers/workloads.c: commits and backtracking restores, each worker's
 * path pinned, every worker's moves a pure function of its seed) with the
 * default configuration, the same search twice:
 *
 *   under pressure  a small arena (--size, default 64 MiB), until it has
 *                   published `pressure` times its heap in new content:
 *                   the heap fills again and again and is collected (the
 *                   background collector of a `helios run`, here a thread
 *                   of this process with its own handle, and commits that
 *                   find the heap full)
 *   no pressure     an arena big enough for all of that content, with the
 *                   collector running the same way (it never has a reason
 *                   to collect), for as many commits as the pressure run
 *                   made
 *
 * The same number of commits, not the same content: w1's positions are
 * bounded (about 34 000, workloads.c), so an arena that keeps them all
 * stops publishing once it holds them and commits only duplicates from
 * then on. Run until the pressure run's content, it would time out after
 * minutes of dedup hits, and its rate would be that steady state's, which
 * the search under pressure never reaches (its collected positions come
 * back as new content): not the same search.
 *
 * A second row does the same for Connect Four self-play (`helios run
 * --game connect4 --selfplay G`, tree reuse making each move's abandoned
 * lines garbage): playouts/s in a 24 MiB arena beside a 1 GiB one, the
 * same games in both. G defaults to 15 x pressure: 150 games free about
 * 11 times the small arena's heap (30 games, the default before, freed
 * twice it); the row says how many times its heap the collections freed.
 *
 * The row is commits/s of each (medians of --reps repetitions,
 * interleaved, so load from elsewhere falls on both alike), the median of
 * the repetitions' ratios (each pressure run over the free run beside it:
 * a pair shares the machine's moment; DESIGN.md's target: >= 90%), the collections made, the longest time a
 * worker spent marking (the workers' side of a pause: the shading work a
 * commit does while a collection marks), and the bytes the last
 * collection found live beside the arena's size.
 *
 * Workers are forked children that attach by name and run until SIGTERM;
 * the parent reads the arena's counters, so nothing is measured inside
 * the workers' loop.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "kit.h"
#include "shm.h"
#include "workloads.h"

#define GC_WORKERS_MAX 16
#define GC_REPS_MAX 9
#define GC_GAMES_MAX 1000

struct gc_opts {
	unsigned workers;
	unsigned games;
	unsigned reps;
	uint64_t small_bytes;
	unsigned pressure;
	bool json;
};

struct gc_sample {
	double commits_per_s;
	uint64_t cycles, pause_max_ns, pause_p99_ns, live_bytes, arena_bytes, freed_bytes;
	uint64_t commits;
	double seconds;
	uint64_t heap_bytes; /* self-play: the arena's heap */
};

static volatile sig_atomic_t child_stop;

static void on_term(int sig)
{
	(void)sig;
	child_stop = 1;
}

static _Noreturn void worker(const char *name, unsigned i)
{
	struct sigaction sa = {.sa_handler = on_term};
	sigaction(SIGTERM, &sa, NULL);
	hl_arena *a;
	if (hl_arena_attach(name, 0, &a))
		_exit(2);
	int rc = hl_workload_run(a, HL_WORKLOAD_W1, i, 0x9c0ffee + i, &child_stop);
	hl_arena_close(a);
	_exit(rc ? 1 : 0);
}

static uint64_t stored(hl_arena *a)
{
	hl_stats st;
	return hl_arena_stats(a, &st) == 0 ? st.stored_bytes : 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One run: an arena of `bytes`, workers until `content` bytes published
 * (content != 0) or `commits` made (else). */
static int run_once(const struct gc_opts *o, uint64_t bytes, uint64_t content,
		    uint64_t commits, struct gc_sample *out)
{
	char name[64];
	snprintf(name, sizeof name, "bench-gc-%d", (int)getpid());
	hl_arena_unlink(name);
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.arena_bytes = bytes;
	hl_arena *a;
	int rc = hl_arena_create(name, &cfg, &a);
	if (rc)
		return rc;
	struct hl_run_gc *gc = NULL;
	(void)hl_run_gc_start(name, HL_RUN_GC_AT, &gc);
	pid_t pid[GC_WORKERS_MAX];
	for (unsigned i = 0; i < o->workers; i++)
		if ((pid[i] = fork()) == 0)
			worker(name, i);
	uint64_t s0 = stored(a);
	hl_stats st0;
	hl_arena_stats(a, &st0);
	double t0 = now_s(), limit = t0 + 120;
	hl_stats st1;
	for (;;) {
		hl_arena_stats(a, &st1);
		if ((content ? st1.stored_bytes - s0 >= content
			     : st1.commits - st0.commits >= commits) ||
		    now_s() >= limit)
			break;
		struct timespec ts = {0, 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	double t1 = now_s();
	for (unsigned i = 0; i < o->workers; i++)
		kill(pid[i], SIGTERM);
	int failed = 0;
	for (unsigned i = 0; i < o->workers; i++) {
		int ws;
		waitpid(pid[i], &ws, 0);
		failed |= !WIFEXITED(ws) || WEXITSTATUS(ws) != 0;
	}
	hl_run_gc_stop(gc);
	hl_gc_stats gs;
	hl_gc_stats_get(a, &gs);
	*out = (struct gc_sample){
		.commits_per_s = (double)(st1.commits - st0.commits) / (t1 - t0),
		.cycles = gs.cycles, .pause_max_ns = gs.pause_max_ns,
		.pause_p99_ns = gs.pause_p99_ns,
		.live_bytes = gs.live_bytes, .arena_bytes = bytes,
		.freed_bytes = gs.freed_bytes, .seconds = t1 - t0,
		.commits = st1.commits - st0.commits};
	hl_arena_close(a);
	hl_arena_unlink(name);
	return failed ? HL_EIO : 0;
}

/* ---- the Connect Four row: self-play through `helios run` ---------------- */

/* The helios program: $HELIOS, beside this one, the build tree's, PATH. */
static void helios_path(char *out, size_t len)
{
	const char *env = getenv("HELIOS");
	if (env && *env) {
		snprintf(out, len, "%s", env);
		return;
	}
	char self[512];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = 0;
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = 0;
			snprintf(out, len, "%s/helios", self);
			if (access(out, X_OK) == 0)
				return;
			snprintf(out, len, "%s/../coordinator/helios", self);
			if (access(out, X_OK) == 0)
				return;
		}
	}
	snprintf(out, len, "helios");
}

/* One self-play run of `games` in an arena of `size`: playouts/s and the
 * collections from its JSON. */
static int selfplay_once(const struct gc_opts *o, const char *size,
			 struct gc_sample *out)
{
	char helios[600], cmd[900], games[16], workers[16];
	helios_path(helios, sizeof helios);
	snprintf(games, sizeof games, "%u", o->games);
	snprintf(workers, sizeof workers, "%u", o->workers);
	snprintf(cmd, sizeof cmd, "%s run --game connect4 --selfplay %s --playouts 300 "
		 "--workers %s --size %s --numa off --json 2>/dev/null",
		 helios, games, workers, size);
	FILE *f = popen(cmd, "r");
	if (!f)
		return HL_EIO;
	char buf[1 << 16];
	size_t got = fread(buf, 1, sizeof buf - 1, f);
	buf[got] = 0;
	int st = pclose(f);
	const char *pps = strstr(buf, "\"playouts_per_s\":");
	const char *cyc = strstr(buf, "\"gc_cycles\":");
	const char *live = strstr(buf, "\"live_bytes\":");
	const char *freed = strstr(buf, "\"gc_freed_bytes\":");
	const char *heap = strstr(buf, "\"heap_bytes\":");
	if (st != 0 || !pps || !cyc)
		return HL_EIO;
	*out = (struct gc_sample){
		.commits_per_s = strtod(pps + 17, NULL),
		.cycles = strtoull(cyc + 12, NULL, 10),
		.live_bytes = live ? strtoull(live + 13, NULL, 10) : 0,
		.freed_bytes = freed ? strtoull(freed + 17, NULL, 10) : 0,
		.heap_bytes = heap ? strtoull(heap + 13, NULL, 10) : 0};
	return 0;
}

static int by_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* The median of the pairs' ratios, rate of p[r] over q[r]. */
static double median_ratio(const struct gc_sample *p, const struct gc_sample *q,
			   unsigned n)
{
	double v[GC_REPS_MAX];
	for (unsigned r = 0; r < n; r++)
		v[r] = q[r].commits_per_s > 0 ? p[r].commits_per_s / q[r].commits_per_s : 0;
	qsort(v, n, sizeof *v, by_double);
	return v[n / 2];
}

static int by_rate(const void *x, const void *y)
{
	double a = ((const struct gc_sample *)x)->commits_per_s;
	double b = ((const struct gc_sample *)y)->commits_per_s;
	return (a > b) - (a < b);
}

static int parse(int argc, char **argv, struct gc_opts *o)
{
	static const struct option longs[] = {
		{"workers", required_argument, NULL, 'w'},
		{"reps", required_argument, NULL, 'r'},
		{"size", required_argument, NULL, 's'},
		{"pressure", required_argument, NULL, 'p'},
		{"games", required_argument, NULL, 'g'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0}};
	*o = (struct gc_opts){.workers = 2, .reps = 5, .small_bytes = 64u << 20,
			      .pressure = 10};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		uint64_t v = 0;
		switch (c) {
		case 'w':
		case 'r':
		case 'p':
		case 'g':
			if (!hl_parse_u64(optarg, c == 'w'   ? GC_WORKERS_MAX
						  : c == 'r' ? GC_REPS_MAX
						  : c == 'p' ? 100 : GC_GAMES_MAX, &v) ||
			    v == 0) {
				hl_say("bench gc: --%s %s: out of range",
				       c == 'w'   ? "workers"
				       : c == 'r' ? "reps"
				       : c == 'p' ? "pressure" : "games", optarg);
				return HL_EXIT_USAGE;
			}
			*(c == 'w'   ? &o->workers
			  : c == 'r' ? &o->reps
			  : c == 'p' ? &o->pressure : &o->games) = (unsigned)v;
			break;
		case 's':
			if (!hl_parse_size(optarg, &o->small_bytes) ||
			    o->small_bytes < (8u << 20)) {
				hl_say("bench gc: --size %s: a size of 8M or more", optarg);
				return HL_EXIT_USAGE;
			}
			break;
		case 'j':
			o->json = true;
			break;
		default:
			printf("usage: helios bench gc [--workers N] [--reps R] "
			       "[--size SMALL] [--pressure X] [--games G] [--json]\n");
			return c == 'h' ? HL_EXIT_OK : HL_EXIT_USAGE;
		}
	}
	if (!o->games)
		o->games = o->pressure * 15 > GC_GAMES_MAX ? GC_GAMES_MAX : o->pressure * 15;
	return -1;
}

int hl_bench_gc_main(int argc, char **argv)
{
	struct gc_opts o;
	int rc = parse(argc, argv, &o);
	if (rc >= 0)
		return rc;
	/* automatic collection (the default) for this process's arenas, its
	 * workers and the helios runs it starts, whatever the caller's
	 * environment says */
	unsetenv("HELIOS_GC");
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.arena_bytes = o.small_bytes;
	uint64_t heap = 0;
	{
		char name[64];
		snprintf(name, sizeof name, "bench-gc-probe-%d", (int)getpid());
		hl_arena *a;
		if (hl_arena_create(name, &cfg, &a) == 0) {
			hl_stats st;
			hl_arena_stats(a, &st);
			heap = st.heap_bytes;
			hl_arena_close(a);
		}
		hl_arena_unlink(name);
	}
	uint64_t content = heap * o.pressure, big = 0;
	if (!heap || hl_arena_bytes_for(&cfg, 2 * o.workers + 2, content + content / 2, &big)) {
		hl_say("bench gc: cannot size the arenas");
		return HL_EXIT_FAILED;
	}
	struct gc_sample small[GC_REPS_MAX], large[GC_REPS_MAX];
	for (unsigned r = 0; r < o.reps; r++) {
		if ((rc = run_once(&o, o.small_bytes, content, 0, &small[r])) ||
		    (rc = run_once(&o, big, 0, small[r].commits, &large[r]))) {
			hl_say("bench gc: a run failed: %s", hl_strerror(rc));
			return HL_EXIT_FAILED;
		}
		if (!o.json)
			fprintf(stderr, "bench gc: rep %u: %.0f vs %.0f commits/s "
				"(%llu commits: %.2f s vs %.2f s)\n", r + 1,
				small[r].commits_per_s, large[r].commits_per_s,
				(unsigned long long)small[r].commits, small[r].seconds,
				large[r].seconds);
	}
	struct gc_sample csmall[GC_REPS_MAX], clarge[GC_REPS_MAX];
	bool c4 = true;
	for (unsigned r = 0; r < o.reps && c4; r++)
		c4 = selfplay_once(&o, "24M", &csmall[r]) == 0 &&
		     selfplay_once(&o, "1G", &clarge[r]) == 0;
	if (!c4)
		hl_say("bench gc: the Connect Four row needs the helios program "
		       "($HELIOS, beside helios-bench, or on PATH): skipped");
	double ratio = median_ratio(small, large, o.reps);
	double cratio = c4 ? median_ratio(csmall, clarge, o.reps) : 0;
	qsort(small, o.reps, sizeof *small, by_rate);
	qsort(large, o.reps, sizeof *large, by_rate);
	if (c4) {
		qsort(csmall, o.reps, sizeof *csmall, by_rate);
		qsort(clarge, o.reps, sizeof *clarge, by_rate);
	}
	const struct gc_sample *cs = &csmall[o.reps / 2], *cl = &clarge[o.reps / 2];
	const struct gc_sample *s = &small[o.reps / 2], *l = &large[o.reps / 2];
	uint64_t pause = 0, p99 = s->pause_p99_ns;
	for (unsigned r = 0; r < o.reps; r++)
		if (small[r].pause_max_ns > pause)
			pause = small[r].pause_max_ns;
	if (o.json) {
		printf("{\"workload\":\"w1\",\"workers\":%u,\"reps\":%u,"
		       "\"small_arena_bytes\":%llu,\"big_arena_bytes\":%llu,"
		       "\"content_bytes\":%llu,\"pressure_commits_per_s\":%.0f,"
		       "\"free_commits_per_s\":%.0f,\"ratio\":%.3f,\"collections\":%llu,"
		       "\"worker_pause_p99_ns\":%llu,\"worker_pause_max_ns\":%llu,"
		       "\"live_bytes\":%llu,\"pressure_commits\":%llu,"
		       "\"free_commits\":%llu,\"pressure_seconds\":%.3f,"
		       "\"free_seconds\":%.3f",
		       o.workers, o.reps, (unsigned long long)o.small_bytes,
		       (unsigned long long)big, (unsigned long long)content,
		       s->commits_per_s, l->commits_per_s, ratio,
		       (unsigned long long)s->cycles, (unsigned long long)p99,
		       (unsigned long long)pause, (unsigned long long)s->live_bytes,
		       (unsigned long long)s->commits, (unsigned long long)l->commits,
		       s->seconds, l->seconds);
		if (c4)
			printf(",\"selfplay\":{\"games\":%u,\"pressure_playouts_per_s\":%.0f,"
			       "\"free_playouts_per_s\":%.0f,\"ratio\":%.3f,"
			       "\"collections\":%llu,\"freed_bytes\":%llu,"
			       "\"heap_bytes\":%llu}",
			       o.games, cs->commits_per_s, cl->commits_per_s, cratio,
			       (unsigned long long)cs->cycles,
			       (unsigned long long)cs->freed_bytes,
			       (unsigned long long)cs->heap_bytes);
		printf("}\n");
		return HL_EXIT_OK;
	}
	char sb[32], bb[32], cb[32], lb[32];
	hl_fmt_bytes(sb, sizeof sb, o.small_bytes);
	hl_fmt_bytes(bb, sizeof bb, big);
	hl_fmt_bytes(cb, sizeof cb, content);
	hl_fmt_bytes(lb, sizeof lb, s->live_bytes);
	printf("garbage collection under pressure (w1, %u workers, medians of %u)\n",
	       o.workers, o.reps);
	printf("  %-34s %12s %10s %12s %22s\n", "", "commits/s", "vs free", "collections",
	       "worker pause p99/max");
	char what[48];
	snprintf(what, sizeof what, "pressure: content %ux a small arena", o.pressure);
	printf("  %-34s %12.0f %9.1f%% %12llu %10.0f / %6.0f us\n",
	       what, s->commits_per_s, 100 * ratio,
	       (unsigned long long)s->cycles, (double)p99 / 1e3, (double)pause / 1e3);
	printf("  %-34s %12.0f %10s %12llu\n", "no pressure: an arena that fits it",
	       l->commits_per_s, "100%", (unsigned long long)l->cycles);
	printf("  small arena %s, big arena %s, content %s per pressure run (%llu "
	       "commits, made again in the big arena); the last collection found %s "
	       "live (target: >= 90%% of the rate)\n",
	       sb, bb, cb, (unsigned long long)s->commits, lb);
	if (c4) {
		printf("connect4 self-play (%u games, 300 playouts a move, %u workers, "
		       "medians of %u)\n", o.games, o.workers, o.reps);
		printf("  %-34s %12s %10s %12s\n", "", "playouts/s", "vs free",
		       "collections");
		printf("  %-34s %12.0f %9.1f%% %12llu\n", "pressure: a 24 MiB arena",
		       cs->commits_per_s, 100 * cratio,
		       (unsigned long long)cs->cycles);
		printf("  %-34s %12.0f %10s %12llu\n", "no pressure: a 1 GiB arena",
		       cl->commits_per_s, "100%", (unsigned long long)cl->cycles);
		char hb[32], fb[32];
		hl_fmt_bytes(hb, sizeof hb, cs->heap_bytes);
		hl_fmt_bytes(fb, sizeof fb, cs->freed_bytes);
		printf("  the small arena's heap %s; its collections freed %s, %.1fx it "
		       "(target: >= 90%% of the rate)\n", hb, fb,
		       cs->heap_bytes ? (double)cs->freed_bytes / (double)cs->heap_bytes : 0.0);
	}
	return HL_EXIT_OK;
}
