/*
 * run.c - `helios run`: create (or reuse) an arena, start N workers on it,
 * supervise them until told to stop, and report.
 *
 *   helios run [--arena NAME] [--size 1G] [--chunk 4096] [--workers N]
 *              [--numa auto|off] [--duration S] [--restart on-failure|never]
 *              [--max-restarts N] [--grace S] [--hang-timeout S] [--keep]
 *              [--prefault] [--seed N] [--quiet]
 *              (--workload w1|w2 | -- WORKER_COMMAND ARGS...)
 *
 * Life of a run:
 *   1. Parse and check the command line (errors: usage, exit 2).
 *   2. Create the arena; if the name exists, refuse when a live coordinator
 *      holds it, else reuse it (saying whose it was) after reclaiming the
 *      slots of dead processes.
 *   3. Place workers across NUMA nodes and cores (hwloc), spawn them.
 *   4. Event loop: worker deaths arrive on pidfds, SIGINT/SIGTERM on a
 *      signalfd; every second a progress line; restarts by policy.
 *   5. On a signal, the duration, or when every worker has ended: stop the
 *      workers (SIGTERM, grace, SIGKILL), print the summary, unlink the
 *      arena unless --keep. Exit 0, or 1 if any worker failed for good.
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

#include "coordinator.h"
#include "shm.h"

struct run_opts {
	const char *arena;
	char arena_buf[64];
	uint64_t size;
	uint32_t chunk;
	unsigned workers;
	int numa;
	double duration_s; /* 0: until a signal */
	bool restart;
	unsigned max_restarts;
	double grace_s, hang_s;
	bool keep, prefault, quiet;
	uint64_t seed;
	int workload;      /* enum hl_workload; -1: a user command */
	char **command;    /* after -- */
};

static const char usage_text[] =
	"usage: helios run [--arena NAME] [--size 1G] [--chunk 4096] [--workers N]\n"
	"                  [--numa auto|off] [--duration SECONDS]\n"
	"                  [--restart on-failure|never] [--max-restarts N]\n"
	"                  [--grace SECONDS] [--hang-timeout SECONDS] [--keep]\n"
	"                  [--prefault] [--seed N] [--quiet]\n"
	"                  (--workload w1|w2 | -- WORKER_COMMAND [ARGS...])\n";

static int usage(const char *why, const char *what)
{
	return hl_usage("run", usage_text, why, what);
}

enum {
	OPT_ARENA = 256, OPT_SIZE, OPT_CHUNK, OPT_WORKERS, OPT_NUMA,
	OPT_DURATION, OPT_RESTART, OPT_MAX_RESTARTS, OPT_GRACE, OPT_HANG,
	OPT_KEEP, OPT_PREFAULT, OPT_SEED, OPT_QUIET, OPT_WORKLOAD, OPT_GAME,
	OPT_PERSIST, OPT_DURABILITY, OPT_HELP,
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
	{"help", no_argument, 0, OPT_HELP},
	{0, 0, 0, 0},
};

static void opts_default(struct run_opts *o)
{
	memset(o, 0, sizeof *o);
	snprintf(o->arena_buf, sizeof o->arena_buf, "helios-run-%d", (int)getpid());
	o->arena = o->arena_buf;
	o->size = 1ull << 30;
	o->chunk = 4096;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	o->workers = cpus > 0 ? (unsigned)cpus : 1;
	o->numa = HL_NUMA_AUTO;
	o->restart = true;
	o->max_restarts = 10;
	o->grace_s = 5;
	o->hang_s = 30;
	o->seed = 1;
	o->workload = -1;
}

/* One option; 0 to go on, else the exit code. */
static int parse_one(struct run_opts *o, int opt, const char *arg)
{
	uint64_t v;
	switch (opt) {
	case OPT_ARENA: o->arena = arg; return 0;
	case OPT_SIZE: return hl_parse_size(arg, &o->size) ? 0 : usage("bad --size", arg);
	case OPT_CHUNK:
		if (!hl_parse_u64(arg, HL_CHUNK_BYTES_MAX, &v))
			return usage("bad --chunk", arg);
		o->chunk = (uint32_t)v;
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
		hl_say("run: --game %s: games come with the MCTS search graph, "
		       "not built yet; use --workload w1|w2", arg);
		return HL_EXIT_USAGE;
	case OPT_PERSIST:
	case OPT_DURABILITY:
		hl_say("run: --persist/--durability: the persister is not built "
		       "yet; arenas live in memory only");
		return HL_EXIT_USAGE;
	case OPT_HELP:
		fputs(usage_text, stdout);
		return -1;
	default:
		return usage(NULL, NULL);
	}
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
	if (o->command && o->workload >= 0)
		return usage("give --workload or a worker command, not both", NULL);
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
	char *argv[8];
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
	*v++ = "--workload";
	*v++ = (char *)hl_workload_name(o->workload);
	*v++ = "--seed";
	*v++ = b->seed;
	*v = NULL;
	return 0;
}

/* ---- the arena ------------------------------------------------------------ */

/* pid of the live coordinator holding the arena, 0 if none; *dead_pid gets
 * that of a coordinator that died without closing. */
static pid_t live_coordinator(hl_arena *a, pid_t *dead_pid)
{
	*dead_pid = 0;
	hl_process_info p;
	for (uint32_t i = 0; hl_arena_process(a, i, &p) != HL_ERANGE; i++) {
		if (p.role != HL_PROCESS_ROLE_COORDINATOR)
			continue;
		if (p.state == HL_PROCESS_LIVE)
			return (pid_t)p.pid;
		if (p.state == HL_PROCESS_DEAD)
			*dead_pid = (pid_t)p.pid;
	}
	return 0;
}

/* The name exists: refuse if a live coordinator has it, else reuse it. */
static int reuse_arena(const struct run_opts *o, hl_arena **out)
{
	hl_arena *ro;
	int rc = hl_arena_attach(o->arena, HL_RDONLY, &ro);
	if (rc) {
		hl_say("run: arena %s exists but cannot be used (%s); remove "
		       "it (rm /dev/shm/helios.%s) or pick another --arena",
		       o->arena, hl_strerror(rc), o->arena);
		return rc;
	}
	pid_t dead, live = live_coordinator(ro, &dead);
	hl_arena_close(ro);
	if (live) {
		hl_say("run: arena %s is in use by the coordinator with pid %d",
		       o->arena, (int)live);
		return HL_EEXIST;
	}
	rc = hl_arena_attach(o->arena, 0, out);
	if (rc) {
		hl_say("run: cannot attach to arena %s: %s", o->arena, hl_strerror(rc));
		return rc;
	}
	unsigned freed = hl_slots_reclaim_dead(*out, 0);
	hl_stats st;
	hl_arena_stats(*out, &st);
	if (dead)
		hl_say("run: recovering arena %s from its dead coordinator "
		       "(pid %d): %llu nodes kept, %u dead slots reclaimed",
		       o->arena, (int)dead, (unsigned long long)st.nodes, freed);
	else
		hl_say("run: reusing arena %s: %llu nodes kept", o->arena,
		       (unsigned long long)st.nodes);
	return 0;
}

/* Enough heap for every worker to hold a slab of each class it uses, with
 * room to spare: else the run would die of HL_EFULL at once. */
static int check_room(const struct run_opts *o, hl_arena *a)
{
	hl_stats st;
	hl_config cfg;
	uint64_t need = 0;
	unsigned procs = 2 * (o->workers + 1); /* the spare: a round of restarts */
	hl_arena_stats(a, &st);
	hl_config_init(&cfg); /* the geometry of the arena we have */
	cfg.chunk_bytes = st.chunk_bytes;
	cfg.max_processes = st.max_processes;
	if (hl_arena_bytes_for(&cfg, procs, 0, &need) == 0 &&
	    st.arena_bytes >= need && st.max_processes >= o->workers + 1)
		return 0;
	hl_say("run: an arena of %llu MiB is too small for %u workers: it needs "
	       "at least %llu MiB (--size)",
	       (unsigned long long)(st.arena_bytes >> 20), o->workers,
	       (unsigned long long)(need >> 20));
	return HL_EFULL;
}

static int open_arena(const struct run_opts *o, hl_arena **out, bool *created)
{
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.arena_bytes = o->size;
	cfg.chunk_bytes = o->chunk;
	cfg.max_processes = o->workers + 16 > 64 ? o->workers + 16 : 64;
	cfg.numa = (uint32_t)o->numa;
	cfg.prefault = o->prefault;
	int rc = hl_arena_create(o->arena, &cfg, out);
	*created = rc == 0;
	if (rc == HL_EEXIST)
		rc = reuse_arena(o, out);
	else if (rc == HL_EINVAL)
		hl_say("run: cannot create arena %s: --size %llu with --chunk %u "
		       "is not a valid arena (1 MiB..16 TiB, chunk a power of two "
		       "from 64 B to 1 MiB) or the name is invalid",
		       o->arena, (unsigned long long)o->size, o->chunk);
	else if (rc)
		hl_say("run: cannot create arena %s: %s", o->arena, hl_strerror(rc));
	if (!rc && (rc = check_room(o, *out)) != 0) {
		hl_arena_close(*out);
		if (*created)
			hl_arena_unlink(o->arena);
	}
	if (!rc)
		hl_slot_set_role(*out, HL_ROLE_COORDINATOR, 0);
	return rc;
}

/* ---- progress and summary ------------------------------------------------- */

struct progress {
	uint64_t start_ns, last_ns;
	hl_stats last;
};

static void progress_line(const struct run_opts *o, struct hl_sup *sup,
			  struct progress *p, uint64_t now)
{
	hl_stats st;
	hl_arena_heartbeat(sup->a); /* the coordinator is alive too */
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

static void summary(const struct run_opts *o, struct hl_sup *sup,
		    const struct progress *p, const char *reason)
{
	hl_stats st;
	hl_arena_stats(sup->a, &st);
	double secs = (double)(hl_now_ns() - p->start_ns) / 1e9;
	char c[16], cr[16], r[16], rr[16], n[16], stored[16], heap[16], total[16];
	hl_fmt_count(c, sizeof c, (double)st.commits);
	hl_fmt_count(cr, sizeof cr, (double)st.commits / secs);
	hl_fmt_count(r, sizeof r, (double)st.restores);
	hl_fmt_count(rr, sizeof rr, (double)st.restores / secs);
	hl_fmt_count(n, sizeof n, (double)st.nodes);
	hl_fmt_bytes(stored, sizeof stored, st.stored_bytes);
	hl_fmt_bytes(heap, sizeof heap, st.heap_used_bytes);
	hl_fmt_bytes(total, sizeof total, st.heap_bytes);
	unsigned restarts = 0;
	for (unsigned i = 0; i < sup->n; i++)
		restarts += sup->w[i].restarts;
	printf("helios run: stopped after %.1f s (%s)\n", secs, reason);
	printf("  workers   %u, %u died, %u restarted, %u failed\n", sup->n,
	       sup->deaths, restarts, sup->failed);
	printf("  commits   %s (%s/s)   restores %s (%s/s)\n", c, cr, r, rr);
	printf("  nodes     %s, %s stored, dedup %.1f%%\n", n, stored,
	       hl_dedup_ratio(st.dedup_bytes, st.stored_bytes));
	printf("  heap      %s of %s   index %llu of %llu entries\n", heap, total,
	       (unsigned long long)st.index_used,
	       (unsigned long long)st.index_capacity);
	if (o->keep)
		printf("  arena     %s kept (attach with hl_arena_attach or "
		       "helios stat %s)\n", o->arena, o->arena);
	else
		printf("  arena     %s unlinked (--keep leaves it)\n", o->arena);
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
		printf("  worker %u -> %s\n", i, where);
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
	struct pollfd pending = {.fd = sfd, .events = POLLIN};
	if (poll(&pending, 1, 0) == 1)
		return signal_reason(sfd); /* while the arena was being made */
	for (unsigned i = 0; i < sup->n; i++)
		if (hl_sup_spawn(sup, i))
			return "a worker could not be started";
	uint64_t deadline = o->duration_s > 0
				    ? p->start_ns + (uint64_t)(o->duration_s * 1e9)
				    : UINT64_MAX;
	uint64_t tick = p->start_ns + 1000000000ull;
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

static int run(const struct run_opts *o, char **argv)
{
	/* Stop signals are blocked before the arena is made and stay blocked
	 * until exit: one arriving during creation (seconds with --prefault)
	 * must not kill us halfway (a half-made arena answers HL_EBUSY to
	 * every later run), nor one pending when a restored mask unblocked it
	 * kill us before the unlink below. The signalfd sees them all. */
	int sfd = signals_open();
	if (sfd < 0) {
		hl_say("run: cannot set up signals: %s", strerror(errno));
		return HL_EXIT_FAILED;
	}
	hl_arena *a;
	bool created;
	if (open_arena(o, &a, &created)) {
		close(sfd);
		return HL_EXIT_FAILED;
	}
	struct hl_sup sup = {.a = a, .arena_name = o->arena, .argv = argv,
			     .restart = o->restart, .max_restarts = o->max_restarts,
			     .hang_timeout_ns = (uint64_t)(o->hang_s * 1e9)};
	if (hl_sup_init(&sup, o->workers)) {
		hl_say("run: cannot set up supervision: %s", strerror(errno));
		hl_arena_close(a);
		if (created && !o->keep)
			hl_arena_unlink(o->arena);
		close(sfd);
		return HL_EXIT_FAILED;
	}
	if (!o->quiet)
		printf("helios run: arena %s, %u workers, %s\n", o->arena, o->workers,
		       o->workload >= 0 ? hl_workload_describe(o->workload) : argv[0]);
	place_workers(o, &sup);
	struct progress p = {.start_ns = hl_now_ns()};
	p.last_ns = p.start_ns;
	hl_arena_stats(a, &p.last);
	const char *reason = supervise(o, &sup, sfd, &p);
	hl_sup_stop(&sup, (uint64_t)(o->grace_s * 1e9));
	summary(o, &sup, &p, reason);
	int code = sup.failed ? HL_EXIT_FAILED : HL_EXIT_OK;
	place_free(o, &sup);
	hl_sup_fini(&sup);
	hl_arena_close(a);
	if (!o->keep)
		hl_arena_unlink(o->arena);
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
	if (o.workload >= 0) {
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
