/*
 * run.c - `helios run`: create (or reuse) an arena, start N workers on it,
 * supervise them until told to stop, and report.
 *
 *   helios run [--arena NAME] [--size 1G] [--chunk 4096] [--workers N]
 *              [--numa auto|off] [--duration S] [--restart on-failure|never]
 *              [--max-restarts N] [--grace S] [--hang-timeout S] [--keep]
 *              [--prefault] [--seed N] [--quiet] [--trust-owner]
 *              [--persist DIR [--durability none|async|sync] [--wal-size S]]
 *              (--workload w1|w2 | -- WORKER_COMMAND ARGS...
 *               | --game connect4 [--position MOVES] [--playouts P] [--json]
 *                 [--selfplay G])
 *
 * With --game the workers grow one shared search graph from the position
 * (workers/games/c4_search.c) until --playouts are done between them, the
 * root is proven, or --duration (default 5 s with no --playouts); the
 * summary is the search's (game.c), and with --json stdout carries exactly
 * one JSON object while everything else goes to stderr. With --selfplay G
 * the coordinator drives G games of the search against itself instead,
 * --playouts P a move (selfplay.c).
 *
 * Life of a run:
 *   1. Parse and check the command line (errors: usage, exit 2): each bad
 *      value is named (--size, --chunk, --arena), `--` needs a command.
 *   2. Create the arena, or reuse a kept one under the coordinator lock
 *      (run_arena.c: one coordinator per arena, the caller's own arenas
 *      only, a kept arena's size and chunk unchanged).
 *   3. Place workers across NUMA nodes and cores (hwloc), spawn them,
 *      looking at signals, deaths and the deadline between spawns.
 *   4. Event loop: worker deaths arrive on pidfds, SIGINT/SIGTERM on a
 *      signalfd; every second a progress line; restarts by policy, except
 *      for a worker that found the arena full.
 *   5. On a signal, the duration, or when every worker has ended: stop the
 *      workers (SIGTERM, grace, SIGKILL), print the summary of this run's
 *      counts, say which part of the arena is full if one was, unlink the
 *      arena unless --keep. Exit 0, or 1 if any worker failed for good or
 *      found the arena full.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "games/connect4.h"
#include "mcts.h"
#include "run.h"
#include "shm.h"

static const char usage_text[] =
	"usage: helios run [--arena NAME] [--size 1G] [--chunk 4096] [--workers N]\n"
	"                  [--numa auto|off] [--duration SECONDS]\n"
	"                  [--restart on-failure|never] [--max-restarts N]\n"
	"                  [--grace SECONDS] [--hang-timeout SECONDS] [--keep]\n"
	"                  [--prefault] [--seed N] [--quiet] [--trust-owner]\n"
	"                  [--persist DIR [--durability none|async|sync]\n"
	"                   [--wal-size 256M]]\n"
	"                  (--workload w1|w2 | -- WORKER_COMMAND [ARGS...]\n"
	"                   | --game connect4 [--position MOVES] [--playouts P]\n"
	"                     [--json] [--selfplay GAMES])\n";

static int usage(const char *why, const char *what)
{
	return hl_usage("run", usage_text, why, what);
}

enum {
	OPT_ARENA = 256, OPT_SIZE, OPT_CHUNK, OPT_WORKERS, OPT_NUMA,
	OPT_DURATION, OPT_RESTART, OPT_MAX_RESTARTS, OPT_GRACE, OPT_HANG,
	OPT_KEEP, OPT_PREFAULT, OPT_SEED, OPT_QUIET, OPT_WORKLOAD, OPT_GAME,
	OPT_PERSIST, OPT_DURABILITY, OPT_TRUST_OWNER, OPT_HELP, OPT_POSITION,
	OPT_PLAYOUTS, OPT_JSON, OPT_WAL_SIZE, OPT_SELFPLAY,
};

static const struct option long_opts[] = {
	{"arena", required_argument, 0, OPT_ARENA},
	{"size", required_argument, 0, OPT_SIZE},
	{"chunk", required_argument, 0, OPT_CHUNK},
	{"workers", required_argument, 0, OPT_WORKERS},
	{"numa", required_argument, 0, OPT_NUMA},
	{"duration", required_argument, 0, OPT_DURATION},
	{"restart", required_argument, 0, OPT_RESTART},
	{"max-restarts", required_argument, 0, OPT_MAX_RESTARTS},
	{"grace", required_argument, 0, OPT_GRACE},
	{"hang-timeout", required_argument, 0, OPT_HANG},
	{"keep", no_argument, 0, OPT_KEEP},
	{"prefault", no_argument, 0, OPT_PREFAULT},
	{"seed", required_argument, 0, OPT_SEED},
	{"quiet", no_argument, 0, OPT_QUIET},
	{"workload", required_argument, 0, OPT_WORKLOAD},
	{"game", required_argument, 0, OPT_GAME},
	{"persist", required_argument, 0, OPT_PERSIST},
	{"durability", required_argument, 0, OPT_DURABILITY},
	{"wal-size", required_argument, 0, OPT_WAL_SIZE},
	{"trust-owner", no_argument, 0, OPT_TRUST_OWNER},
	{"help", no_argument, 0, OPT_HELP},
	{"position", required_argument, 0, OPT_POSITION},
	{"playouts", required_argument, 0, OPT_PLAYOUTS},
	{"json", no_argument, 0, OPT_JSON},
	{"selfplay", required_argument, 0, OPT_SELFPLAY},
	{0, 0, 0, 0},
};

static void opts_default(struct run_opts *o)
{
	memset(o, 0, sizeof *o);
	o->arena_default = true; /* named when created (run_arena.c) */
	o->arena = "helios-run-*";
	o->size = HL_ARENA_BYTES_DEFAULT;
	o->chunk = HL_CHUNK_BYTES_DEFAULT;
	o->workers = hl_sup_cpus(); /* one per CPU we may use: no oversubscription */
	if (o->workers > HL_SUP_WORKERS_MAX)
		o->workers = HL_SUP_WORKERS_MAX;
	o->numa = HL_NUMA_AUTO;
	o->restart = true;
	o->max_restarts = 10;
	o->grace_s = 5;
	o->hang_s = 30;
	o->seed = 1;
	o->workload = -1;
	o->durability = HL_DURABILITY_SYNC;
}

/* One option; 0 to go on, else the exit code. */
static int parse_one(struct run_opts *o, int opt, const char *arg)
{
	uint64_t v;
	char name[96];
	switch (opt) {
	case OPT_ARENA:
		if (!hl_arena_name_valid(arg))
			return usage("bad --arena: a name of letters, digits, '.', "
				     "'_' and '-' (not starting with '.'), or a path",
				     hl_fmt_name(name, sizeof name, arg));
		o->arena = arg;
		o->arena_default = false;
		return 0;
	case OPT_SIZE:
		if (!hl_parse_size(arg, &o->size))
			return usage("bad --size", hl_fmt_name(name, sizeof name, arg));
		if (o->size < HL_ARENA_BYTES_MIN || o->size > HL_ARENA_BYTES_MAX)
			return usage("--size takes 1M to 16T", arg);
		o->size_given = true;
		return 0;
	case OPT_CHUNK:
		if (!hl_parse_size(arg, &v) || v < HL_CHUNK_BYTES_MIN ||
		    v > HL_CHUNK_BYTES_MAX || (v & (v - 1)))
			return usage("--chunk takes a power of two from 32 to 1M",
				     hl_fmt_name(name, sizeof name, arg));
		o->chunk = (uint32_t)v;
		o->chunk_given = true;
		return 0;
	case OPT_WORKERS:
		if (!hl_parse_u64(arg, HL_SUP_WORKERS_MAX, &v) || v == 0)
			return usage("--workers takes 1 to 1000", arg);
		o->workers = (unsigned)v;
		return 0;
	case OPT_NUMA:
		if (strcmp(arg, "auto") && strcmp(arg, "off"))
			return usage("--numa takes auto or off", arg);
		o->numa = strcmp(arg, "off") ? HL_NUMA_AUTO : HL_NUMA_OFF;
		return 0;
	case OPT_DURATION:
		o->duration_given = true;
		return hl_parse_seconds(arg, 1e9, &o->duration_s) ? 0 : usage("bad --duration", arg);
	case OPT_RESTART:
		if (strcmp(arg, "on-failure") && strcmp(arg, "never"))
			return usage("--restart takes on-failure or never", arg);
		o->restart = !strcmp(arg, "on-failure");
		return 0;
	case OPT_MAX_RESTARTS:
		if (!hl_parse_u64(arg, 1000000, &v))
			return usage("bad --max-restarts", arg);
		o->max_restarts = (unsigned)v;
		return 0;
	case OPT_GRACE:
		return hl_parse_seconds(arg, 1e9, &o->grace_s) ? 0 : usage("bad --grace", arg);
	case OPT_HANG:
		return hl_parse_seconds(arg, 1e9, &o->hang_s) ? 0 : usage("bad --hang-timeout", arg);
	case OPT_KEEP: o->keep = true; return 0;
	case OPT_PREFAULT: o->prefault = true; return 0;
	case OPT_QUIET: o->quiet = true; return 0;
	case OPT_TRUST_OWNER: o->trust_owner = true; return 0;
	case OPT_SEED:
		if (!hl_parse_u64(arg, UINT64_MAX, &v))
			return usage("bad --seed", arg);
		o->seed = v;
		return 0;
	case OPT_WORKLOAD:
		o->workload = hl_workload_parse(arg);
		return hl_workload_playable(o->workload)
			       ? 0 : usage("--workload takes w1 or w2", arg);
	case OPT_GAME:
		if (strcmp(arg, "connect4"))
			return usage("--game takes connect4", arg);
		o->game = arg;
		return 0;
	case OPT_POSITION: o->position = arg; return 0;
	case OPT_PLAYOUTS:
		if (!hl_parse_u64(arg, UINT64_MAX, &o->playouts) || o->playouts == 0)
			return usage("--playouts takes a count of at least 1", arg);
		return 0;
	case OPT_JSON: o->json = true; return 0;
	case OPT_SELFPLAY:
		if (!hl_parse_u64(arg, HL_SELFPLAY_GAMES_MAX, &o->selfplay) || !o->selfplay)
			return usage("--selfplay takes a count of games, 1 to 1000000", arg);
		return 0;
	case OPT_PERSIST: o->persist = arg; return 0;
	case OPT_DURABILITY:
		if (!strcmp(arg, "sync"))
			o->durability = HL_DURABILITY_SYNC;
		else if (!strcmp(arg, "async"))
			o->durability = HL_DURABILITY_ASYNC;
		else if (!strcmp(arg, "none"))
			o->durability = HL_DURABILITY_NONE;
		else
			return usage("--durability takes none, async or sync", arg);
		return 0;
	case OPT_WAL_SIZE:
		if (!hl_parse_size(arg, &o->wal_bytes) ||
		    o->wal_bytes < HL_WAL_FILE_BYTES_MIN ||
		    o->wal_bytes > HL_WAL_FILE_BYTES_MAX)
			return usage("bad --wal-size", arg);
		return 0;
	case OPT_HELP:
		fputs(usage_text, stdout);
		return -1;
	default:
		return usage(NULL, NULL);
	}
}

/* The rest of a --game command line: 0 or the exit code. */
static int game_opts(struct run_opts *o)
{
	if (o->command || o->workload >= 0)
		return usage("give --game, --workload or a worker command, one", NULL);
	if (!o->position)
		o->position = "";
	int rc = hl_game_parse(o->game, o->position, &o->root);
	if (rc)
		return rc;
	if (!o->playouts && !o->duration_given)
		o->duration_s = 5; /* neither bound given: a short search */
	if (!o->chunk_given)
		o->chunk = HL_CHUNK_BYTES_MIN; /* a position is 16 bytes */
	const char *why = hl_selfplay_opts(o);
	return why ? usage(why, NULL) : 0;
}

static int parse_opts(struct run_opts *o, int argc, char **argv)
{
	opts_default(o);
	optind = 1;
	opterr = 1;
	int opt;
	while ((opt = getopt_long(argc, argv, "+", long_opts, NULL)) != -1) {
		int rc = parse_one(o, opt, optarg);
		if (rc)
			return rc;
	}
	if (optind < argc)
		o->command = &argv[optind];
	else if (optind > 1 && !strcmp(argv[optind - 1], "--"))
		return usage("-- needs a worker command after it", NULL);
	if (o->command && o->workload >= 0)
		return usage("give --workload or a worker command, not both", NULL);
	if (o->persist && o->durability == HL_DURABILITY_NONE)
		return usage("--durability none keeps the arena in memory: drop "
			     "--persist", NULL);
	if (o->wal_bytes && !o->persist)
		return usage("--wal-size goes with --persist", NULL);
	if (o->game)
		return game_opts(o);
	if (o->position || o->playouts || o->json || o->selfplay)
		return usage("--position, --playouts, --json and --selfplay go with "
			     "--game", NULL);
	if (!o->command && o->workload < 0)
		o->workload = HL_WORKLOAD_W1; /* the embedded default */
	return 0;
}

/* ---- the worker command --------------------------------------------------- */

/* True when cmd can be executed: a path, or a name found in $PATH. */
static bool command_exists(const char *cmd)
{
	if (strchr(cmd, '/'))
		return access(cmd, X_OK) == 0;
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	char buf[PATH_MAX];
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, ":");
		if (snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, cmd) <
			    (int)sizeof buf &&
		    access(buf, X_OK) == 0)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

struct builtin_argv {
	char exe[PATH_MAX];
	char seed[32];
	char playouts[32];
	char *argv[12];
};

/* The argv a built-in worker runs: this very program, re-executed. */
static int builtin_argv(struct builtin_argv *b, const struct run_opts *o)
{
	ssize_t n = readlink("/proc/self/exe", b->exe, sizeof b->exe - 1);
	if (n <= 0)
		return HL_EIO;
	b->exe[n] = '\0';
	snprintf(b->seed, sizeof b->seed, "%llu", (unsigned long long)o->seed);
	char **v = b->argv;
	*v++ = b->exe;
	*v++ = "worker-builtin";
	if (o->game) {
		snprintf(b->playouts, sizeof b->playouts, "%llu",
			 (unsigned long long)o->playouts);
		*v++ = "--game";
		*v++ = (char *)o->game;
		*v++ = "--playouts";
		*v++ = b->playouts;
		if (o->selfplay) {
			*v++ = "--selfplay";
			*v++ = "1";
		}
	} else {
		*v++ = "--workload";
		*v++ = (char *)hl_workload_name(o->workload);
	}
	*v++ = "--seed";
	*v++ = b->seed;
	*v = NULL;
	return 0;
}

/* ---- progress and summary ------------------------------------------------- */

struct progress {
	uint64_t start_ns, last_ns;
	uint64_t playouts_first, playouts_last; /* a game's */
	bool said_full;    /* a game's arena filled, said once */
	hl_stats first; /* when this run started: a kept arena has history */
	hl_stats last;
};

/* Where the text for people goes: stderr when stdout carries JSON. */
static FILE *text_out(const struct run_opts *o)
{
	return o->json ? stderr : stdout;
}

static void progress_line(const struct run_opts *o, struct hl_sup *sup,
			  struct progress *p, uint64_t now)
{
	hl_stats st;
	hl_arena_heartbeat(sup->a); /* the coordinator is alive too */
	if (o->game) {
		uint64_t done = hl_mcts_playouts(sup->a);
		double dt = (double)(now - p->last_ns) / 1e9;
		hl_mcts_stats ms;
		if (!p->said_full && hl_mcts_stats_get(sup->a, &ms) == 0 && ms.no_room) {
			hl_say("run: the arena is full: the search goes on without "
			       "expanding, with the statistics it has (--size for more)");
			p->said_full = true; /* once */
		}
		if (!o->quiet)
			hl_game_progress(sup->a, (double)(now - p->start_ns) / 1e9,
					 (double)(done - p->playouts_last) / dt,
					 text_out(o));
		p->playouts_last = done;
		p->last_ns = now;
		return;
	}
	if (hl_arena_stats(sup->a, &st))
		return;
	double dt = (double)(now - p->last_ns) / 1e9;
	char commits[16], restores[16], heap[16], total[16];
	hl_fmt_count(commits, sizeof commits, (double)(st.commits - p->last.commits) / dt);
	hl_fmt_count(restores, sizeof restores, (double)(st.restores - p->last.restores) / dt);
	hl_fmt_bytes(heap, sizeof heap, st.heap_used_bytes);
	hl_fmt_bytes(total, sizeof total, st.heap_bytes);
	if (!o->quiet)
		printf("[%6.1fs] workers %u/%u | commits %s/s | restores %s/s | "
		       "dedup %.1f%% | heap %s of %s | index %.1f%%\n",
		       (double)(now - p->start_ns) / 1e9,
		       hl_sup_count(sup, HL_W_RUNNING), sup->n, commits, restores,
		       hl_dedup_ratio(st.dedup_bytes, st.stored_bytes), heap, total,
		       100.0 * (double)st.index_used / (double)st.index_capacity);
	fflush(stdout);
	p->last = st;
	p->last_ns = now;
}

/* This run's share of counters that a kept arena carries over from its
 * earlier runs: the summary reports what this run did, at this run's rate. */
static uint64_t since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

/* A game's summary (game.c), text or JSON. */
static void game_summary(const struct run_opts *o, struct hl_sup *sup,
			 const struct progress *p, const char *reason)
{
	struct hl_game_run g = {
		.position = o->position, .workers = sup->n,
		.elapsed_s = (double)(hl_now_ns() - p->start_ns) / 1e9,
		.playouts = hl_mcts_playouts(sup->a) - p->playouts_first,
	};
	if (!o->quiet)
		fprintf(text_out(o), "helios run: stopped after %.1f s (%s)\n",
			g.elapsed_s, reason);
	hl_game_report(sup->a, &g, o->json, stdout);
}

static void summary(const struct run_opts *o, struct hl_sup *sup,
		    const struct progress *p, const char *reason)
{
	if (o->game) {
		game_summary(o, sup, p, reason);
		return;
	}
	hl_stats st;
	hl_arena_stats(sup->a, &st);
	double secs = (double)(hl_now_ns() - p->start_ns) / 1e9;
	uint64_t commits = since(st.commits, p->first.commits);
	uint64_t restores = since(st.restores, p->first.restores);
	uint64_t nodes = since(st.nodes, p->first.nodes);
	uint64_t stored_now = since(st.stored_bytes, p->first.stored_bytes);
	uint64_t dedup_now = since(st.dedup_bytes, p->first.dedup_bytes);
	char c[16], cr[16], r[16], rr[16], n[16], all[16], stored[16], heap[16],
		total[16], shown[96];
	hl_fmt_count(c, sizeof c, (double)commits);
	hl_fmt_count(cr, sizeof cr, (double)commits / secs);
	hl_fmt_count(r, sizeof r, (double)restores);
	hl_fmt_count(rr, sizeof rr, (double)restores / secs);
	hl_fmt_count(n, sizeof n, (double)nodes);
	/* in the arena: what the collections left of it (index entries) */
	hl_fmt_count(all, sizeof all, (double)st.index_used);
	hl_fmt_bytes(stored, sizeof stored, stored_now);
	hl_fmt_bytes(heap, sizeof heap, st.heap_used_bytes);
	hl_fmt_bytes(total, sizeof total, st.heap_bytes);
	hl_fmt_name(shown, sizeof shown, o->arena);
	unsigned restarts = 0;
	for (unsigned i = 0; i < sup->n; i++)
		restarts += sup->w[i].restarts;
	printf("helios run: stopped after %.1f s (%s)\n", secs, reason);
	printf("  workers   %u, %u died, %u restarted, %u failed\n", sup->n,
	       sup->deaths, restarts, sup->failed);
	printf("  commits   %s (%s/s)   restores %s (%s/s)\n", c, cr, r, rr);
	printf("  nodes     %s new, %s stored, dedup %.1f%% (%s in the arena)\n",
	       n, stored, hl_dedup_ratio(dedup_now, stored_now), all);
	hl_gc_stats gs;
	if (hl_gc_stats_get(sup->a, &gs) == 0 && gs.cycles)
		printf("  gc        %llu collections, %llu nodes freed, worker "
		       "pauses p99 <= %.0f us (max %.0f us)\n",
		       (unsigned long long)gs.cycles,
		       (unsigned long long)gs.freed_nodes,
		       (double)gs.pause_p99_ns / 1e3, (double)gs.pause_max_ns / 1e3);
	printf("  heap      %s of %s   index %llu of %llu entries\n", heap, total,
	       (unsigned long long)st.index_used,
	       (unsigned long long)st.index_capacity);
	if (o->keep)
		printf("  arena     %s kept (attach with hl_arena_attach or "
		       "helios stat %s)\n", shown, shown);
	else
		printf("  arena     %s unlinked (--keep leaves it)\n", shown);
	fflush(stdout);
}

/* ---- the run -------------------------------------------------------------- */

/* SIGINT and SIGTERM arrive on a descriptor the event loop polls. */
static int signals_open(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static const char *signal_reason(int sfd)
{
	struct signalfd_siginfo si;
	if (read(sfd, &si, sizeof si) != sizeof si)
		return "signal";
	return si.ssi_signo == SIGINT ? "SIGINT" : si.ssi_signo == SIGTERM ? "SIGTERM"
									     : "SIGHUP";
}

static void place_workers(const struct run_opts *o, struct hl_sup *sup)
{
	if (o->numa == HL_NUMA_OFF)
		return;
	sup->place = calloc(o->workers, sizeof *sup->place);
	if (!sup->place || hl_topology_load(&sup->topo, NULL) ||
	    hl_place_workers(sup->topo, o->workers, sup->place)) {
		hl_say("run: cannot read the machine's topology: workers run unpinned");
		if (sup->topo)
			hwloc_topology_destroy(sup->topo);
		free(sup->place);
		sup->topo = NULL;
		sup->place = NULL;
		return;
	}
	if (o->quiet)
		return;
	for (unsigned i = 0; i < o->workers; i++) {
		char where[96];
		hl_placement_describe(&sup->place[i], where, sizeof where);
		fprintf(text_out(o), "  worker %u -> %s\n", i, where);
	}
}

static void place_free(const struct run_opts *o, struct hl_sup *sup)
{
	if (sup->place)
		hl_placement_free(sup->place, o->workers);
	free(sup->place);
	if (sup->topo)
		hwloc_topology_destroy(sup->topo);
}

static int ms_until(uint64_t t, uint64_t now)
{
	if (t <= now)
		return 0;
	uint64_t ms = (t - now + 999999) / 1000000;
	return ms > 1000 ? 1000 : (int)ms;
}

/* Steps 3-4 of the file comment; returns the reason the run stopped. */
static const char *supervise(const struct run_opts *o, struct hl_sup *sup,
			     int sfd, struct progress *p)
{
	uint64_t deadline = o->duration_s > 0
				    ? p->start_ns + (uint64_t)(o->duration_s * 1e9)
				    : UINT64_MAX;
	uint64_t tick = p->start_ns + 1000000000ull;
	/* Spawning hundreds of workers on a few cores takes seconds (each new
	 * worker competes with the coordinator for a core): a stop signal, an
	 * early death and the deadline are looked at between every two
	 * spawns, not only once all are running. The first look also sees a
	 * signal that came while the arena was being made. */
	for (unsigned i = 0; i < sup->n; i++) {
		if (hl_sup_wait(sup, sfd, 0))
			return signal_reason(sfd);
		if (hl_now_ns() >= deadline)
			return "duration reached";
		if (hl_sup_spawn(sup, i))
			return "a worker could not be started";
	}
	for (;;) {
		if (!hl_sup_count(sup, HL_W_RUNNING) && !hl_sup_count(sup, HL_W_BACKOFF))
			return "every worker has ended";
		uint64_t now = hl_now_ns(), next = tick;
		if (deadline < next)
			next = deadline;
		if (hl_sup_next_event_ns(sup) < next)
			next = hl_sup_next_event_ns(sup);
		if (hl_sup_wait(sup, sfd, ms_until(next, now)))
			return signal_reason(sfd);
		if (hl_sup_tick(sup))
			return "a worker could not be restarted";
		now = hl_now_ns();
		if (now >= tick) {
			progress_line(o, sup, p, now);
			tick += 1000000000ull;
		}
		if (now >= deadline)
			return "duration reached";
	}
}

static int run(struct run_opts *o, char **argv)
{
	/* Stop signals are blocked before the arena is made and stay blocked
	 * until exit: one arriving during creation (seconds with --prefault)
	 * must not kill us halfway, nor one pending when a restored mask
	 * unblocked it kill us before the unlink below. The signalfd sees
	 * them all; during a --prefault creation the engine looks at it
	 * between pieces and gives up, leaving no arena (run_arena.c). */
	int sfd = signals_open();
	if (sfd < 0) {
		hl_say("run: cannot set up signals: %s", strerror(errno));
		return HL_EXIT_FAILED;
	}
	struct run_arena ra = {.stop_fd = sfd};
	int rc = hl_run_arena_open(o, &ra);
	if (rc) {
		struct pollfd pending = {.fd = sfd, .events = POLLIN};
		bool stopped = rc == HL_EBUSY && poll(&pending, 1, 0) == 1;
		if (stopped) /* a clean stop: the unfinished arena is gone */
			printf("helios run: stopped while its arena was being made "
			       "(%s)\n", signal_reason(sfd));
		close(sfd);
		return stopped ? HL_EXIT_OK : HL_EXIT_FAILED;
	}
	struct hl_persister *persister = NULL;
	if (hl_run_persist_start(o, &ra, &persister)) {
		hl_run_arena_close(o, &ra);
		close(sfd);
		return HL_EXIT_FAILED;
	}
	/* the background collector, unless HELIOS_GC=off (as shm/arena.c
	 * reads it for full commits) */
	struct hl_run_gc *gc = NULL;
	const char *gc_env = getenv("HELIOS_GC");
	bool gc_off = gc_env && (!strcmp(gc_env, "off") || !strcmp(gc_env, "0"));
	if (!gc_off && hl_run_gc_start(o->arena, HL_RUN_GC_AT, &gc))
		hl_say("run: no background collector (%s): a full heap is "
		       "collected by the commit that finds it", "no slot");
	struct hl_sup sup = {.a = ra.a, .arena_name = o->arena, .argv = argv,
			     .restart = o->restart, .max_restarts = o->max_restarts,
			     .hang_timeout_ns = (uint64_t)(o->hang_s * 1e9)};
	if (hl_sup_init(&sup, o->workers)) {
		hl_say("run: cannot set up supervision: %s", strerror(errno));
		hl_run_gc_stop(gc);
		hl_run_persist_stop(persister);
		hl_run_arena_close(o, &ra);
		close(sfd);
		return HL_EXIT_FAILED;
	}
	sup.grace_ns = (uint64_t)(o->grace_s * 1e9); /* the watchdog's too */
	if (o->game && hl_game_prepare(ra.a, &o->root, o->position)) {
		hl_sup_fini(&sup);
		hl_run_gc_stop(gc);
		hl_run_persist_stop(persister);
		hl_run_arena_close(o, &ra);
		close(sfd);
		return HL_EXIT_FAILED;
	}
	if (!o->quiet) {
		char shown[96], what[160];
		if (o->game)
			snprintf(what, sizeof what, "%s search from \"%s\"", o->game,
				 o->position);
		fprintf(text_out(o), "helios run: arena %s, %u workers, %s\n",
			hl_fmt_name(shown, sizeof shown, o->arena), o->workers,
			o->game ? what
			: o->workload >= 0 ? hl_workload_describe(o->workload) : argv[0]);
	}
	place_workers(o, &sup);
	struct progress p = {.start_ns = hl_now_ns()};
	p.last_ns = p.start_ns;
	hl_arena_stats(ra.a, &p.first);
	p.last = p.first;
	p.playouts_first = p.playouts_last = hl_mcts_playouts(ra.a);
	bool selfplay_failed = false;
	const char *reason = o->selfplay ? hl_selfplay_run(o, &sup, sfd, &selfplay_failed)
					 : supervise(o, &sup, sfd, &p);
	hl_sup_stop(&sup, sup.grace_ns);
	hl_run_gc_stop(gc);
	bool persist_failed = hl_run_persist_stop(persister) != 0;
	if (!o->selfplay) /* self-play reported its games */
		summary(o, &sup, &p, reason);
	if (sup.full)
		hl_run_arena_full(o, &ra);
	int code = sup.failed || sup.full || persist_failed || selfplay_failed
			   ? HL_EXIT_FAILED : HL_EXIT_OK;
	place_free(o, &sup);
	hl_sup_fini(&sup);
	hl_run_arena_close(o, &ra);
	close(sfd);
	return code;
}

int hl_cmd_run(int argc, char **argv)
{
	struct run_opts o;
	int rc = parse_opts(&o, argc, argv);
	if (rc)
		return rc < 0 ? HL_EXIT_OK : rc;
	struct builtin_argv b;
	char **worker_argv = o.command;
	if (o.workload >= 0 || o.game) {
		if (builtin_argv(&b, &o)) {
			hl_say("run: cannot find the helios program itself");
			return HL_EXIT_FAILED;
		}
		worker_argv = b.argv;
	} else if (!command_exists(o.command[0])) {
		hl_say("run: worker command '%s' not found", o.command[0]);
		return HL_EXIT_USAGE;
	}
	return run(&o, worker_argv);
}
