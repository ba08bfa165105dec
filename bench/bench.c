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
 *                [--quiet] [--help]
 *
 * One run (bench_run), for a workload at N workers:
 *   1. A fresh arena (unique name, unlinked after), heap pre-faulted at
 *      creation (hl_config.prefault = 1) so page faults of fresh slabs are
 *      never timed; sized for the run (arena_bytes_for) unless --size.
 *   2. A results file under /dev/shm (struct hl_bench_results_file plus N
 *      slots, MAP_SHARED), named to the workers by HELIOS_BENCH_RESULTS.
 *   3. N `helios bench-worker` processes through the supervisor (struct
 *      hl_sup: pidfds, pinned by hwloc placement with --numa auto, never
 *      restarted: a worker that dies is a failed measurement).
 *   4. Each worker builds its state, warms up, and publishes the ref
 *      "bench/ready/<i>"; when all have, go = 1 (release) and they time
 *      together. A progress line every second on stderr.
 *   5. When every worker has exited: each slot must say DONE (acquire);
 *      the histograms merge into one struct hl_bench_run, with the arena's
 *      hl_arena_stats after the run.
 *
 * Invariants:
 *  1. Every arena and results file this process makes is removed on every
 *     path out of bench_run, including a stop signal (SIGINT, SIGTERM,
 *     SIGHUP end the current run cleanly; a second one kills at once).
 *  2. Every wait is bounded: workers must be ready within READY_WAIT_NS, a
 *     --duration run must end within RUN_GRACE_NS of its duration, and a
 *     worker whose heartbeat stalls for HANG_NS is killed (hl_sup_tick).
 *  3. A failed worker never contributes to a result: its run is left out of
 *     the report, its error printed, and the exit status is 1.
 *  4. Peers run only W1/W2, after Helios, with as many commits as one
 *     Helios worker did in that workload's 1-worker run, capped at
 *     PEER_W1_OPS_MAX / PEER_W2_OPS_MAX (a slow peer would otherwise take
 *     hours), each in its own temporary directory on tmpfs, removed after.
 *     A peer that is not installed is a skipped row with its probe's why;
 *     one that fails is a failed row and exit status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "supervise.h"
#include "shm.h"

#define COUNTS_MAX 16u                 /* worker counts in one sweep */
#define PEER_W1_OPS_MAX 200000u
#define PEER_W2_OPS_MAX 2000u
#define READY_WAIT_NS (120ull * 1000000000ull)
#define RUN_GRACE_NS (60ull * 1000000000ull)
#define HANG_NS (30ull * 1000000000ull)
#define STOP_GRACE_NS (2ull * 1000000000ull)
#define ARENA_MIN_BYTES (64ull << 20)
#define DURATION_MAX_S 86400.0
/* Untimed ops each worker runs first: worker.c's WARMUP_OPS. */
#define WORKER_WARMUP_OPS 2000u

static const struct hl_peer *const all_peers[] = {
	&hl_peer_lmdb, &hl_peer_rocksdb, &hl_peer_redis, &hl_peer_postgresql,
};
#define PEER_COUNT (sizeof all_peers / sizeof all_peers[0])

struct opts {
	bool workload[HL_BW_COUNT];
	unsigned counts[COUNTS_MAX], ncounts;
	uint64_t ops;          /* 0: duration_s */
	double duration_s;
	bool peer[PEER_COUNT];
	uint64_t seed;
	uint64_t size;         /* 0: sized per run */
	int numa;
	const char *json, *csv, *plot;
	bool quiet;
};

/* What the report's notes say about how the numbers were made. */
struct notes {
	uint64_t timer_ns;
	char arenas[1024];
	size_t arenas_len;
	uint64_t peer_ops[HL_BW_COUNT];
	bool peer_capped[HL_BW_COUNT];
	bool early_stop;
	/* ops/s per busy core measured so far, per workload: sizes the next
	 * run's arena (0: none yet, use the shape's estimate) */
	double ops_per_s_core[HL_BW_COUNT];
};

static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig)
{
	(void)sig;
	g_interrupted = 1;
}

/* ---- the command line -------------------------------------------------------- */

static const char usage_text[] =
	"usage: helios bench [--workload w1|w2|mixed|all] [--workers 1,2,4,8]\n"
	"                    [--ops N | --duration SECONDS] [--peers all|none|LIST]\n"
	"                    [--seed N] [--size BYTES] [--numa auto|off]\n"
	"                    [--json FILE|-] [--csv FILE|-] [--plot FILE.svg]\n"
	"                    [--quiet] [--help]\n"
	"\n"
	"  --workload   w1 (4 KiB state, 64 B writes), w2 (1 MiB, 4 KiB chunks),\n"
	"               mixed (64 KiB: commit/restore/fork/diff), all (default)\n"
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
	"  --quiet      no progress lines\n"
	"Exit status: 0; 1 if a worker, a self-check or a peer failed; 2 usage.\n";

static int usage(const char *why, const char *what)
{
	if (why)
		hl_say("bench: %s%s%s", why, what ? ": " : "", what ? what : "");
	fputs(usage_text, stderr);
	return HL_EXIT_USAGE;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return false;
	*out = v;
	return true;
}

/* "2G", "512M", "64k", "4096", "1GiB": bytes. */
static bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return false;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (shift && *end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

static int parse_workers(struct opts *o, const char *arg)
{
	o->ncounts = 0;
	char buf[256];
	if (strlen(arg) >= sizeof buf)
		return usage("--workers: list too long", NULL);
	strcpy(buf, arg);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		uint64_t v;
		if (!parse_u64(t, HL_SUP_WORKERS_MAX, &v) || v == 0)
			return usage("--workers takes a comma list of counts from 1 to 1000", arg);
		if (o->ncounts == COUNTS_MAX)
			return usage("--workers: at most 16 counts", arg);
		o->counts[o->ncounts++] = (unsigned)v;
	}
	return o->ncounts ? 0 : usage("--workers takes a comma list of counts", arg);
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
		while (i < PEER_COUNT && strcmp(t, all_peers[i]->name))
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
	OPT_HELP,
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
	{0, 0, 0, 0},
};

/* One option: 0 to go on, -1 for --help, else the exit code. */
static int parse_one(struct opts *o, int opt, const char *arg, bool *duration_set)
{
	switch (opt) {
	case OPT_WORKLOAD: {
		int w = hl_bench_workload_parse(arg);
		bool all = !strcmp(arg, "all");
		if (w < 0 && !all)
			return usage("--workload takes w1, w2, mixed or all", arg);
		for (int i = 0; i < HL_BW_COUNT; i++)
			o->workload[i] = all || i == w;
		return 0;
	}
	case OPT_WORKERS:
		return parse_workers(o, arg);
	case OPT_OPS:
		if (!parse_u64(arg, 1ull << 40, &o->ops) || o->ops == 0)
			return usage("--ops takes a count of at least 1", arg);
		return 0;
	case OPT_DURATION: {
		char *end;
		errno = 0;
		o->duration_s = strtod(arg, &end);
		if (errno || end == arg || *end || !(o->duration_s > 0) ||
		    o->duration_s > DURATION_MAX_S)
			return usage("--duration takes seconds, more than 0", arg);
		*duration_set = true;
		return 0;
	}
	case OPT_PEERS:
		return parse_peers(o, arg);
	case OPT_SEED:
		return parse_u64(arg, UINT64_MAX, &o->seed) ? 0 : usage("bad --seed", arg);
	case OPT_SIZE:
		if (!parse_size(arg, &o->size) || o->size == 0)
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
	for (int i = 0; i < HL_BW_COUNT; i++)
		o->workload[i] = true;
	static const unsigned def[] = {1, 2, 4, 8};
	memcpy(o->counts, def, sizeof def);
	o->ncounts = 4;
	o->duration_s = 2;
	for (unsigned i = 0; i < PEER_COUNT; i++)
		o->peer[i] = true;
	o->seed = 1;
	o->numa = HL_NUMA_AUTO;
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
	return 0;
}

/* ---- sizing the arena ---------------------------------------------------------- */

/*
 * What a run stores: each worker's initial state, its warm-up commits and
 * its timed commits, each commit a leaf (4128 B for a 4 KiB chunk) plus
 * the inner nodes on its path and a root, with slab tails on top. With
 * --duration the timed commits come from a rate per busy core (workers
 * beyond the cores share them): the fastest this workload ran in an
 * earlier run of the sweep, else the shape's estimate, with RATE_MARGIN on
 * top. Tight, because every byte of the arena is pre-faulted, mapped by
 * every worker and unmapped again: on a 2-core VM that costs seconds per
 * GiB, more than the run. If the machine still outruns it, a worker ends
 * its timed loop early on HL_EFULL and the harness says so.
 */
#define RATE_MARGIN 1.3
struct shape {
	uint64_t state_bytes;
	double commit_share;    /* commits per op */
	uint64_t commit_bytes;  /* heap bytes one commit stores, with slack */
	double ops_per_s_core;  /* upper estimate of one busy core */
};

static const struct shape shapes[HL_BW_COUNT] = {
	/* about 1.2x what one worker did on a 2-CPU EPYC VM: 770k, 350k,
	 * 600k ops/s */
	[HL_BW_W1] = {4096, 0.5, 4400, 0.9e6},
	[HL_BW_W2] = {1u << 20, 4.0 / 9, 4800, 0.45e6},
	[HL_BW_MIXED] = {64u << 10, 0.4, 4600, 0.75e6},
};

/* The most a run may pin: half the memory available, 80% of /dev/shm's
 * free space (the arena lives there, pre-faulted). */
static uint64_t arena_cap_bytes(void)
{
	uint64_t cap = UINT64_MAX;
	long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	if (pages > 0 && page > 0)
		cap = (uint64_t)pages * (uint64_t)page / 2;
	struct statvfs fs;
	if (statvfs("/dev/shm", &fs) == 0) {
		uint64_t shm = (uint64_t)fs.f_bavail * fs.f_frsize / 10 * 8;
		if (shm < cap)
			cap = shm;
	}
	return cap;
}

static uint64_t cpus_online(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (uint64_t)n : 1;
}

/* The heap a run needs before timing starts: per worker its initial state
 * (+10% for nodes), its warm-up commits, a slab of each class in use
 * (leaf, inner, root, the ready ref's name). */
static uint64_t heap_min_bytes(enum hl_bench_workload w, unsigned n,
			       uint64_t slab_bytes)
{
	const struct shape *s = &shapes[w];
	uint64_t per = s->state_bytes + s->state_bytes / 10 +
		       (uint64_t)(WORKER_WARMUP_OPS * s->commit_share) * s->commit_bytes +
		       4 * slab_bytes;
	return (uint64_t)(n + 1) * per;
}

/* The arena for a run: its minimum plus the timed commits, plus the
 * metadata's share (index, slots: ~3% at the default index size). */
static uint64_t arena_bytes_for(const struct opts *o, enum hl_bench_workload w,
				unsigned n, double measured, bool *capped)
{
	const struct shape *s = &shapes[w];
	double timed;
	if (o->ops) {
		timed = (double)o->ops * n * s->commit_share;
	} else {
		uint64_t busy = n < cpus_online() ? n : cpus_online();
		double rate = measured > 0 ? measured : s->ops_per_s_core;
		timed = rate * RATE_MARGIN * (double)busy * o->duration_s *
			s->commit_share;
	}
	double bytes = (double)heap_min_bytes(w, n, 256u << 10) +
		       timed * (double)s->commit_bytes;
	bytes = bytes * 1.08 + (16u << 20);
	uint64_t cap = arena_cap_bytes();
	*capped = bytes > (double)cap;
	uint64_t b = *capped ? cap : (uint64_t)bytes;
	b = hl_align_up(b, 1u << 20);
	return b < ARENA_MIN_BYTES ? ARENA_MIN_BYTES : b;
}

/* ---- one run ----------------------------------------------------------------- */

struct run {
	const struct opts *o;
	const struct notes *nt;
	enum hl_bench_workload w;
	unsigned n;
	char tag[32];           /* "[w1 x4]" */
	char arena[96];
	char results_path[80];
	uint64_t arena_bytes;
	hl_arena *a;
	struct hl_bench_results_file *f;
	size_t f_bytes;
	struct hl_sup sup;
};

static int make_arena(struct run *r)
{
	const struct opts *o = r->o;
	bool capped = false;
	r->arena_bytes = o->size ? o->size
				 : arena_bytes_for(o, r->w, r->n,
						   r->nt->ops_per_s_core[r->w], &capped);
	if (capped && o->ops) {
		char cap[16];
		hl_fmt_bytes(cap, sizeof cap, r->arena_bytes);
		hl_say("bench: %s: %" PRIu64 " ops per worker need more than the "
		       "%s this machine can give an arena: lower --ops", r->tag,
		       o->ops, cap);
		return HL_EFULL;
	}
	snprintf(r->arena, sizeof r->arena, "bench-%d-%s-%u-%" PRIu64, (int)getpid(),
		 hl_bench_workload_name(r->w), r->n, hl_now_ns());
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.arena_bytes = r->arena_bytes;
	cfg.max_processes = r->n + 16 > 64 ? r->n + 16 : 64;
	cfg.numa = (uint32_t)o->numa;
	cfg.prefault = 1;
	int rc = hl_arena_create(r->arena, &cfg, &r->a);
	char size[16];
	hl_fmt_bytes(size, sizeof size, r->arena_bytes);
	if (rc) {
		hl_say("bench: %s: cannot create a %s arena: %s%s", r->tag, size,
		       hl_strerror(rc), rc == HL_EINVAL ? " (--size too small?)" : "");
		r->a = NULL;
		return rc;
	}
	hl_slot_set_role(r->a, HL_ROLE_COORDINATOR, 0);
	uint64_t heap = r->a->hdr->regions[HL_REGION_HEAP].bytes;
	uint64_t need = heap_min_bytes(r->w, r->n, r->a->hdr->slab_bytes);
	if (heap < need) {
		char at_least[16];
		hl_fmt_bytes(at_least, sizeof at_least,
			     hl_align_up(r->arena_bytes - heap + need, 1u << 20));
		hl_say("bench: %s: an arena of %s is too small for %u %s workers: "
		       "it needs at least %s (--size)", r->tag, size, r->n,
		       hl_bench_workload_name(r->w), at_least);
		return HL_EFULL;
	}
	if (capped)
		hl_say("bench: %s: arena capped at %s by this machine's free "
		       "memory; a worker that fills it stops early and says so",
		       r->tag, size);
	return 0;
}

static int make_results(struct run *r)
{
	const struct opts *o = r->o;
	snprintf(r->results_path, sizeof r->results_path,
		 "/dev/shm/helios-bench-results.%d.XXXXXX", (int)getpid());
	int fd = mkstemp(r->results_path);
	if (fd < 0) {
		hl_say("bench: %s: cannot make a results file under /dev/shm: %s",
		       r->tag, strerror(errno));
		r->results_path[0] = '\0';
		return HL_EIO;
	}
	r->f_bytes = sizeof(struct hl_bench_results_file) +
		     (size_t)r->n * sizeof(struct hl_bench_worker_result);
	void *p = MAP_FAILED;
	if (ftruncate(fd, (off_t)r->f_bytes) == 0)
		p = mmap(NULL, r->f_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int err = errno;
	close(fd);
	if (p == MAP_FAILED) {
		hl_say("bench: %s: cannot map the results file %s: %s", r->tag,
		       r->results_path, strerror(err));
		return HL_EIO;
	}
	r->f = p; /* zero-filled by ftruncate: every slot RUNNING, go 0 */
	r->f->magic = HL_BENCH_RESULTS_MAGIC;
	r->f->workers = r->n;
	r->f->workload = r->w;
	r->f->ops_per_worker = o->ops;
	r->f->duration_ns = o->ops ? 0 : (uint64_t)(o->duration_s * 1e9);
	r->f->seed = o->seed;
	for (unsigned i = 0; i < r->n; i++)
		r->f->w[i].worker = i;
	return 0;
}

static void place_workers(struct run *r)
{
	struct hl_sup *sup = &r->sup;
	if (r->o->numa == HL_NUMA_OFF)
		return;
	sup->place = calloc(r->n, sizeof *sup->place);
	if (!sup->place || hl_topology_load(&sup->topo, NULL) ||
	    hl_place_workers(sup->topo, r->n, sup->place)) {
		hl_say("bench: cannot read the machine's topology: workers run unpinned");
		if (sup->topo)
			hwloc_topology_destroy(sup->topo);
		free(sup->place);
		sup->topo = NULL;
		sup->place = NULL;
	}
}

/* Undoes everything bench_run made (invariant 1). */
static void run_cleanup(struct run *r)
{
	if (r->sup.w) {
		if (hl_sup_count(&r->sup, HL_W_RUNNING))
			hl_sup_stop(&r->sup, STOP_GRACE_NS);
		if (r->sup.place)
			hl_placement_free(r->sup.place, r->n);
		free(r->sup.place);
		if (r->sup.topo)
			hwloc_topology_destroy(r->sup.topo);
		hl_sup_fini(&r->sup);
	}
	if (r->a) {
		hl_arena_close(r->a);
		r->a = NULL;
	}
	if (r->arena[0])
		hl_arena_unlink(r->arena);
	if (r->f)
		munmap(r->f, r->f_bytes);
	if (r->results_path[0])
		unlink(r->results_path);
	unsetenv("HELIOS_BENCH_RESULTS");
}

static unsigned ready_count(struct run *r)
{
	unsigned ready = 0;
	for (unsigned i = 0; i < r->n; i++) {
		char name[HL_REF_NAME_MAX + 1];
		hl_id id;
		snprintf(name, sizeof name, "bench/ready/%u", i);
		ready += hl_ref_get(r->a, name, &id) == 0;
	}
	return ready;
}

/* Step 4: every worker ready, or a reason why not (NULL when ready). */
static const char *wait_ready(struct run *r)
{
	uint64_t deadline = hl_now_ns() + READY_WAIT_NS;
	for (;;) {
		if (ready_count(r) == r->n)
			return NULL;
		if (g_interrupted)
			return "interrupted";
		if (hl_sup_count(&r->sup, HL_W_RUNNING) < r->n)
			return "a worker ended before the start";
		if (hl_now_ns() > deadline)
			return "workers not ready within 120 s";
		hl_sup_wait(&r->sup, -1, 5);
		hl_sup_tick(&r->sup);
	}
}

/* Commits and restores so far, summed over the slots, and the heap handed
 * out: what the progress line shows. Not hl_arena_stats: that also counts
 * the index's used entries by reading the whole index (hundreds of MiB for
 * a large arena), which on a small machine would take CPU from the very
 * workers being measured. */
struct live {
	uint64_t commits, restores, heap_used, heap_bytes;
};

static void live_sample(const hl_arena *a, struct live *l)
{
	memset(l, 0, sizeof *l);
	for (uint32_t i = 0; i < a->hdr->max_processes; i++) {
		const struct hl_slot *s = hl_slot_at(a, i);
		/* relaxed: statistics, nothing is read through them */
		l->commits += atomic_load_explicit(&s->ctr[HL_CTR_COMMITS],
						   memory_order_relaxed);
		l->restores += atomic_load_explicit(&s->ctr[HL_CTR_RESTORES],
						    memory_order_relaxed);
	}
	l->heap_used = hl_heap_used(a);
	l->heap_bytes = a->hdr->regions[HL_REGION_HEAP].bytes;
}

static void progress(struct run *r, uint64_t since, struct live *last,
		     uint64_t *last_ns)
{
	if (r->o->quiet)
		return;
	struct live l;
	live_sample(r->a, &l);
	uint64_t now = hl_now_ns();
	char commits[16], rate[16], restores[16], heap[16], total[16];
	hl_fmt_count(commits, sizeof commits, (double)l.commits);
	hl_fmt_count(rate, sizeof rate, (double)(l.commits - last->commits) *
						1e9 / (double)(now - *last_ns));
	hl_fmt_count(restores, sizeof restores, (double)l.restores);
	hl_fmt_bytes(heap, sizeof heap, l.heap_used);
	hl_fmt_bytes(total, sizeof total, l.heap_bytes);
	fprintf(stderr, "%s %.1fs  workers %u/%u  commits %s (%s/s)  restores %s"
		"  heap %s of %s\n", r->tag, (double)(now - since) / 1e9,
		hl_sup_count(&r->sup, HL_W_RUNNING), r->n, commits, rate,
		restores, heap, total);
	*last = l;
	*last_ns = now;
}

/* Step 4-5: go, then supervise until every worker has exited. */
static const char *supervise_run(struct run *r)
{
	struct live last;
	live_sample(r->a, &last);
	uint64_t start = hl_now_ns(), tick = start + 1000000000ull;
	uint64_t deadline = r->o->ops ? UINT64_MAX
				      : start + r->f->duration_ns + RUN_GRACE_NS;
	uint64_t last_ns = start;
	/* pairs with each worker's acquire load of go */
	atomic_store_explicit(&r->f->go, 1, memory_order_release);
	while (hl_sup_count(&r->sup, HL_W_RUNNING)) {
		uint64_t now = hl_now_ns();
		int ms = now >= tick ? 0 : (int)((tick - now + 999999) / 1000000);
		hl_sup_wait(&r->sup, -1, ms);
		hl_sup_tick(&r->sup);
		if (g_interrupted)
			return "interrupted";
		now = hl_now_ns();
		if (now >= deadline)
			return "workers did not finish within 60 s of the duration";
		if (now >= tick) {
			progress(r, start, &last, &last_ns);
			tick += 1000000000ull;
		}
	}
	return NULL;
}

static void describe_exit(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by SIG%s", sigabbrev_np(WTERMSIG(status))
				   ? sigabbrev_np(WTERMSIG(status)) : "?");
	else
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
}

/*
 * Step 5: every slot DONE, else says why and returns false (invariant 3).
 * After an aborted run (aborted: the workers were stopped), only the
 * workers that failed on their own are named, not those we stopped.
 */
static bool collect(struct run *r, struct hl_bench_run *out, struct notes *nt,
		    bool aborted)
{
	bool ok = !aborted;
	for (unsigned i = 0; i < r->n; i++) {
		const struct hl_bench_worker_result *w = &r->f->w[i];
		/* pairs with the worker's release store of its state */
		uint32_t st = atomic_load_explicit(&w->state, memory_order_acquire);
		bool died = r->sup.w[i].state != HL_W_DONE;
		if (st == HL_BWS_DONE && !died) {
			if (w->error[0] && !aborted) {
				hl_say("bench: %s worker %u: %s", r->tag, i, w->error);
				nt->early_stop = true;
			}
			continue;
		}
		ok = false;
		char how[64];
		describe_exit(r->sup.w[i].last_status, how, sizeof how);
		if (st == HL_BWS_FAILED)
			hl_say("bench: %s worker %u failed: %.*s", r->tag, i,
			       (int)sizeof w->error, w->error);
		else if (died)
			hl_say("bench: %s worker %u died without results (%s)",
			       r->tag, i, how);
		else if (!aborted)
			hl_say("bench: %s worker %u ended without results (%s)",
			       r->tag, i, how);
	}
	if (!ok)
		return false;
	memset(out, 0, sizeof *out);
	out->workload = r->w;
	out->workers = r->n;
	for (unsigned op = 0; op < HL_OP_COUNT; op++)
		hl_hist_init(&out->op[op]);
	for (unsigned i = 0; i < r->n; i++) {
		const struct hl_bench_worker_result *w = &r->f->w[i];
		double secs = (double)w->elapsed_ns / 1e9;
		if (secs > out->seconds)
			out->seconds = secs;
		out->ops += w->ops;
		if (secs > 0) {
			out->ops_per_s += (double)w->ops / secs;
			out->commits_per_s += (double)w->count[HL_OP_COMMIT] / secs;
		}
		for (unsigned op = 0; op < HL_OP_COUNT; op++) {
			out->count[op] += w->count[op];
			hl_hist_merge(&out->op[op], &w->op[op]);
		}
		out->verified += w->verified;
		out->unique_bytes += w->unique_bytes;
	}
	hl_stats st;
	if (hl_arena_stats(r->a, &st) == 0) {
		out->stored_bytes = st.stored_bytes;
		out->dedup_bytes = st.dedup_bytes;
		out->heap_used_bytes = st.heap_used_bytes;
		out->nodes = st.nodes;
	}
	return true;
}

static void note_arena(struct notes *nt, const struct run *r)
{
	char size[16];
	hl_fmt_bytes(size, sizeof size, r->arena_bytes);
	if (nt->arenas_len < sizeof nt->arenas) {
		int k = snprintf(nt->arenas + nt->arenas_len,
				 sizeof nt->arenas - nt->arenas_len, "%s%s x%u %s",
				 nt->arenas_len ? ", " : "",
				 hl_bench_workload_name(r->w), r->n, size);
		if (k > 0)
			nt->arenas_len += (size_t)k;
	}
}

/*
 * One workload at one worker count. 0 and *out filled; 1 when the run
 * failed (said why); -1 when interrupted.
 */
static int bench_run(const struct opts *o, enum hl_bench_workload w, unsigned n,
		     char **worker_argv, struct hl_bench_run *out,
		     struct notes *nt)
{
	struct run r = {.o = o, .nt = nt, .w = w, .n = n};
	snprintf(r.tag, sizeof r.tag, "[%s x%u]", hl_bench_workload_name(w), n);
	int result = 1;
	uint64_t t0 = hl_now_ns();
	if (make_arena(&r) || make_results(&r))
		goto out;
	note_arena(nt, &r);
	uint64_t t_arena = hl_now_ns();
	if (setenv("HELIOS_BENCH_RESULTS", r.results_path, 1) ||
	    hl_sup_init(&r.sup, n)) {
		hl_say("bench: %s: cannot set up the workers", r.tag);
		goto out;
	}
	r.sup.a = r.a;
	r.sup.arena_name = r.arena;
	r.sup.argv = worker_argv;
	r.sup.restart = false;
	r.sup.hang_timeout_ns = HANG_NS;
	place_workers(&r);
	for (unsigned i = 0; i < n; i++)
		if (hl_sup_spawn(&r.sup, i))
			goto out;
	const char *why = wait_ready(&r);
	if (!why && !o->quiet) {
		char size[16];
		hl_fmt_bytes(size, sizeof size, r.arena_bytes);
		fprintf(stderr, "%s go: arena %s (pre-faulted in %.2f s), %u "
			"worker%s ready in %.2f s\n", r.tag, size,
			(double)(t_arena - t0) / 1e9, n, n > 1 ? "s" : "",
			(double)(hl_now_ns() - t_arena) / 1e9);
	}
	if (!why)
		why = supervise_run(&r);
	if (why) {
		if (!g_interrupted)
			hl_say("bench: %s: %s", r.tag, why);
		hl_sup_stop(&r.sup, STOP_GRACE_NS);
		if (!g_interrupted)
			collect(&r, out, nt, true); /* names the failed workers */
		result = g_interrupted ? -1 : 1;
		goto out;
	}
	result = collect(&r, out, nt, false) ? 0 : 1;
	if (result == 0) {
		uint64_t busy = n < cpus_online() ? n : cpus_online();
		double rate = out->ops_per_s / (double)busy;
		if (rate > nt->ops_per_s_core[w])
			nt->ops_per_s_core[w] = rate;
	}
out:
	run_cleanup(&r);
	return result;
}

/* ---- peers ------------------------------------------------------------------- */

/* A peer's server may still be removing its own files as we walk: a
 * file already gone is fine. */
static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_NS)
		return 0;
	int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
	return rc && errno != ENOENT ? -1 : 0;
}

static void rm_rf(const char *dir)
{
	for (int tries = 0; tries < 3; tries++) {
		if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ||
		    access(dir, F_OK) != 0)
			return;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	hl_say("bench: could not remove %s entirely: %s", dir, strerror(errno));
}

/* Commits of one Helios worker in the workload's 1-worker run (else the
 * per-worker average of its smallest run), capped (invariant 4). */
static uint64_t peer_ops_for(const struct hl_bench_report *rep,
			     enum hl_bench_workload w, bool *capped)
{
	const struct hl_bench_run *best = NULL;
	for (unsigned i = 0; i < rep->run_count; i++)
		if (rep->runs[i].workload == w &&
		    (!best || rep->runs[i].workers < best->workers))
			best = &rep->runs[i];
	uint64_t cap = w == HL_BW_W1 ? PEER_W1_OPS_MAX : PEER_W2_OPS_MAX;
	uint64_t ops = best ? best->count[HL_OP_COMMIT] / best->workers : cap;
	*capped = ops > cap;
	ops = *capped ? cap : ops;
	return ops ? ops : 1;
}

static bool peer_run(const struct opts *o, const struct hl_peer *p,
		     enum hl_bench_workload w, uint64_t ops,
		     struct hl_bench_peer_row *row)
{
	char dir[64];
	snprintf(dir, sizeof dir, "/dev/shm/helios-bench-peer.%d.XXXXXX",
		 (int)getpid());
	if (!mkdtemp(dir)) {
		snprintf(row->why, sizeof row->why, "cannot make a directory "
			 "under /dev/shm: %s", strerror(errno));
		row->failed = true;
		return false;
	}
	struct hl_peer_workload pw = {
		.workload = w,
		.state_bytes = w == HL_BW_W1 ? 4096 : 1u << 20,
		.write_bytes = w == HL_BW_W1 ? 64 : 4096,
		.ops = ops,
		.seed = o->seed,
		.dir = dir,
	};
	if (!o->quiet)
		fprintf(stderr, "[%s %s] %" PRIu64 " commits, then as many restores\n",
			p->name, hl_bench_workload_name(w), ops);
	hl_hist_init(&row->r.commit);
	hl_hist_init(&row->r.restore);
	char err[256] = "";
	int rc = p->run(&pw, &row->r, err, sizeof err);
	rm_rf(dir);
	if (rc) {
		row->failed = true;
		snprintf(row->why, sizeof row->why, "%s", err[0] ? err : "failed");
		hl_say("bench: peer %s %s failed: %s", p->name,
		       hl_bench_workload_name(w), row->why);
		return false;
	}
	if (!o->quiet)
		fprintf(stderr, "[%s %s] done in %.1f s\n", p->name,
			hl_bench_workload_name(w), row->r.seconds);
	return true;
}

/* Every selected peer on W1 and W2 (those of them that ran for Helios).
 * False when a peer failed; true when all ran or were skipped. */
static bool run_peers(const struct opts *o, struct hl_bench_report *rep,
		      struct notes *nt)
{
	static const enum hl_bench_workload ws[] = {HL_BW_W1, HL_BW_W2};
	bool ok = true;
	if (!o->workload[HL_BW_W1] && !o->workload[HL_BW_W2])
		return true; /* peers run W1 and W2 only */
	for (unsigned i = 0; i < 2; i++)
		nt->peer_ops[ws[i]] = peer_ops_for(rep, ws[i], &nt->peer_capped[ws[i]]);
	for (unsigned k = 0; k < PEER_COUNT && !g_interrupted; k++) {
		const struct hl_peer *p = all_peers[k];
		if (!o->peer[k])
			continue;
		char why[256] = "";
		bool skip = p->probe(why, sizeof why) != 0;
		if (skip && !o->quiet)
			fprintf(stderr, "[%s] skipped: %s\n", p->name, why);
		for (unsigned i = 0; i < 2 && !g_interrupted; i++) {
			if (!o->workload[ws[i]] || rep->peer_count == HL_BENCH_PEER_ROWS_MAX)
				continue;
			struct hl_bench_peer_row *row = &rep->peers[rep->peer_count++];
			memset(row, 0, sizeof *row);
			row->peer = p->name;
			row->workload = ws[i];
			if (skip) {
				row->skipped = true;
				snprintf(row->why, sizeof row->why, "%s",
					 why[0] ? why : "not available here");
				continue;
			}
			ok &= peer_run(o, p, ws[i], nt->peer_ops[ws[i]], row);
		}
	}
	return ok;
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
	fprintf(out, "  arenas   a fresh one per run, heap pre-faulted at creation "
		"(hl_config.prefault = 1): page faults of fresh slabs are not counted;\n"
		"           %s\n", nt->arenas_len ? nt->arenas : "none");
	fprintf(out, "  checks   every restore read back (W1 whole state; W2/mixed the "
		"written range, the whole state every 64th), every diff's range, every "
		"fork: %" PRIu64 " passed\n", verified);
	if (rep->peer_count)
		fprintf(out, "  peers    one process each, data on tmpfs; W1 %" PRIu64
			" commits%s, W2 %" PRIu64 " commits%s (one Helios worker's "
			"commits in the 1-worker run), then as many restores\n",
			nt->peer_ops[HL_BW_W1],
			nt->peer_capped[HL_BW_W1] ? " (capped at 200000)" : "",
			nt->peer_ops[HL_BW_W2],
			nt->peer_capped[HL_BW_W2] ? " (capped at 2000)" : "");
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
	for (int w = 0; w < HL_BW_COUNT; w++) {
		for (unsigned c = 0; o->workload[w] && c < o->ncounts; c++) {
			struct hl_bench_run *run = &rep->runs[rep->run_count];
			int r = bench_run(o, (enum hl_bench_workload)w, o->counts[c],
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

int hl_cmd_bench(int argc, char **argv)
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
	char *worker_argv[] = {exe, "bench-worker", NULL};
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

	int sweep = run_sweep(&o, worker_argv, rep, nt);
	bool ok = sweep == 0;
	if (sweep >= 0 && !g_interrupted)
		ok &= run_peers(&o, rep, nt);
	if (g_interrupted) {
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
