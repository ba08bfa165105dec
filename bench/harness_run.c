/*
 * harness_run.c - one run of `helios bench`: one workload at one worker
 * count, from a fresh arena to one merged struct hl_bench_run.
 *
 * One run (hl_harness_run), for a workload at N workers:
 *   1. A fresh arena (unique name, unlinked after) in the default
 *      configuration (hl_config_init and nothing else: what a user gets),
 *      or with hl_config.prefault = 1 for the report's second row (opts
 *      prefault); sized for the run (arena_bytes_for) unless --size.
 *   2. A results file under /dev/shm (struct hl_bench_results_file plus N
 *      slots, MAP_SHARED), named to the workers by HELIOS_BENCH_RESULTS.
 *   3. N `helios-bench worker` processes through the supervisor (struct
 *      hl_sup: pidfds, pinned by hwloc placement with --numa auto, never
 *      restarted: a worker that dies is a failed measurement).
 *   4. Each worker builds its state, warms up, and publishes the ref
 *      "bench/ready/<i>"; when all have, go = 1 (release) and they time
 *      together. A progress line every second on stderr.
 *   5. When every worker has exited: each slot must say DONE (acquire);
 *      the histograms merge into one struct hl_bench_run, with the arena's
 *      hl_arena_stats after the run.
 *   A persistence row (opts durability, persist_rows.c) adds to step 1 a
 *   persist ring and the arena's durability, and before step 3 a persister
 *   in this process (as `helios run` has), bound to the CPUs no worker is
 *   pinned to when there are any, writing a WAL in a fresh directory under
 *   opts persist_dir; it is stopped (everything flushed) before step 5
 *   reads the WAL's size, and the directory is removed with the arena.
 *
 * Invariants:
 *  1. Every arena and results file this process makes is removed on every
 *     path out of hl_harness_run, including a stop signal (SIGINT, SIGTERM,
 *     SIGHUP end the current run cleanly; a second one kills at once).
 *  2. Every wait is bounded: workers must be ready within READY_WAIT_NS, a
 *     --duration run must end within RUN_GRACE_NS of its duration, and a
 *     worker whose heartbeat stalls for HANG_NS is killed (hl_sup_tick).
 *  3. A failed worker never contributes to a result: its run is left out of
 *     the report, its error printed, and the exit status is 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "kit.h"
#include "persister.h"
#include "shm.h"

#define READY_WAIT_NS (120ull * 1000000000ull)
#define RUN_GRACE_NS (60ull * 1000000000ull)
#define HANG_NS (30ull * 1000000000ull)
#define STOP_GRACE_NS (2ull * 1000000000ull)
#define ARENA_MIN_BYTES (64ull << 20)

/* ---- sizing the arena ---------------------------------------------------------- */

/*
 * What a run stores: each worker's initial state, its warm-up commits and
 * its timed commits, each commit a leaf (4128 B for a 4 KiB chunk) plus
 * the inner nodes on its path and a root, with slab tails on top. With
 * --duration the timed commits come from a rate per busy core (workers
 * beyond the cores share them): the fastest this workload ran in an
 * earlier run of the sweep, else the shape's estimate, with RATE_MARGIN on
 * top. Tight, because in the prefault rows every byte of the arena is
 * pre-faulted, mapped by every worker and unmapped again: on a 2-core VM
 * that costs seconds per GiB, more than the run. If the machine still outruns it, a worker ends
 * its timed loop early on HL_EFULL and the harness says so.
 */
#define RATE_MARGIN 1.3
struct traffic {
	double commit_share;    /* commits per op */
	uint64_t commit_bytes;  /* heap bytes one commit stores, with slack */
	double ops_per_s_core;  /* upper estimate of one busy core */
};

static const struct traffic traffics[HL_WORKLOAD_COUNT] = {
	/* about 1.2x what one worker did on a 2-CPU EPYC VM: 770k, 350k,
	 * 600k ops/s */
	[HL_WORKLOAD_W1] = {0.5, 4400, 0.9e6},
	[HL_WORKLOAD_W2] = {4.0 / 9, 4800, 0.45e6},
	[HL_WORKLOAD_MIXED] = {0.4, 4600, 0.75e6},
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

/* The arena configuration every run uses but for its size. */
static void run_config(const struct opts *o, unsigned n, hl_config *cfg)
{
	hl_config_init(cfg);
	cfg->max_processes = n + 16 > 64 ? n + 16 : 64;
	cfg->numa = (uint32_t)o->numa;
	cfg->prefault = o->prefault;
	if (o->durability != HL_DURABILITY_NONE) {
		cfg->persist_ring_bytes = HL_PERSIST_RING_BYTES_DEFAULT;
		cfg->durability = o->durability;
	}
}

/* What the workers store before timing starts: per worker its initial
 * state (+10% for nodes) and its warm-up commits. */
static double content_min_bytes(enum hl_workload w, unsigned n)
{
	const struct traffic *t = &traffics[w];
	uint64_t state = hl_workload_shape(w)->state_bytes;
	return (double)n * ((double)state * 1.1 +
			    WORKER_WARMUP_OPS * t->commit_share *
				    (double)t->commit_bytes);
}

/* The arena for content_bytes stored by n workers (and the harness's own
 * handle): hl_arena_bytes_for, the sizing rule `helios run` shares, adds
 * each process's slabs and the metadata. UINT64_MAX when none can hold it. */
static uint64_t arena_bytes_holding(const struct opts *o, unsigned n,
				    double content_bytes)
{
	hl_config cfg;
	uint64_t bytes;
	run_config(o, n, &cfg);
	if (content_bytes >= (double)HL_ARENA_BYTES_MAX ||
	    hl_arena_bytes_for(&cfg, n + 1, (uint64_t)content_bytes, &bytes))
		return UINT64_MAX;
	return bytes; /* hl_arena_bytes_for counts the persist ring too */
}

/* The arena for a run: its minimum plus the timed commits, capped by what
 * the machine can give. */
static uint64_t arena_bytes_for(const struct opts *o, enum hl_workload w,
				unsigned n, double measured, bool *capped)
{
	const struct traffic *t = &traffics[w];
	double timed;
	if (o->ops) {
		timed = (double)o->ops * n * t->commit_share;
	} else {
		uint64_t busy = n < cpus_online() ? n : cpus_online();
		double rate = measured > 0 ? measured : t->ops_per_s_core;
		/* An arena in the default configuration costs ~15 ms per GiB
		 * to make and nothing for the pages it never uses, so it is
		 * never sized below the shape's estimate: a 1-worker run slowed
		 * by a loaded machine made the 2-worker arena too small. */
		if (!o->prefault && rate < t->ops_per_s_core)
			rate = t->ops_per_s_core;
		timed = rate * RATE_MARGIN * (double)busy * o->duration_s *
			t->commit_share;
	}
	uint64_t b = arena_bytes_holding(o, n, content_min_bytes(w, n) +
						  timed * (double)t->commit_bytes);
	uint64_t cap = arena_cap_bytes();
	*capped = b > cap;
	b = *capped ? hl_align_up(cap, HL_ARENA_SIZE_STEP) : b;
	return b < ARENA_MIN_BYTES ? ARENA_MIN_BYTES : b;
}

/* ---- one run ----------------------------------------------------------------- */

struct run {
	const struct opts *o;
	const struct notes *nt;
	enum hl_workload w;
	unsigned n;
	char tag[32];           /* "[w1 x4]" */
	char arena[96];
	char results_path[80];
	uint64_t arena_bytes;
	uint64_t create_ns;     /* hl_arena_create_stoppable alone */
	hl_arena *a;
	struct hl_persister *persister; /* a persistence row's */
	char wal_dir[4096];     /* its WAL's directory, removed after */
	struct hl_bench_results_file *f;
	size_t f_bytes;
	struct hl_sup sup;
};

static bool interrupted(void *arg)
{
	(void)arg;
	return hl_bench_interrupted != 0;
}

/* Binds this thread to the CPUs no worker is pinned to, when there are
 * some, and returns its old binding (NULL: left as it was). Unbound, the
 * scheduler may run the persister thread (and the io_uring workers it
 * makes) on a pinned worker's core, and each such turn preempts that
 * worker's commits; `helios run` leaves its persister where it is. */
static hwloc_bitmap_t bind_off_workers(struct run *r)
{
	if (!r->sup.topo || !r->sup.place)
		return NULL;
	hwloc_bitmap_t free_set = hwloc_bitmap_dup(
		hwloc_topology_get_allowed_cpuset(r->sup.topo));
	hwloc_bitmap_t was = hwloc_bitmap_alloc();
	if (!free_set || !was)
		goto out_free;
	for (unsigned i = 0; i < r->n; i++)
		if (r->sup.place[i].cpuset)
			hwloc_bitmap_andnot(free_set, free_set, r->sup.place[i].cpuset);
	if (hwloc_bitmap_iszero(free_set) ||
	    hwloc_get_cpubind(r->sup.topo, was, HWLOC_CPUBIND_THREAD) != 0 ||
	    hwloc_set_cpubind(r->sup.topo, free_set, HWLOC_CPUBIND_THREAD) != 0)
		goto out_free;
	hwloc_bitmap_free(free_set);
	return was;
out_free:
	hwloc_bitmap_free(free_set);
	hwloc_bitmap_free(was);
	return NULL;
}

/* A persistence row's persister: a fresh WAL of o->wal_bytes in a new
 * directory under o->persist_dir (on a disk: tmpfs takes no O_DIRECT),
 * started once the workers' placement is known and before they are. */
static int start_persister(struct run *r)
{
	const struct opts *o = r->o;
	int n = snprintf(r->wal_dir, sizeof r->wal_dir, "%s/helios-bench-wal.%d.XXXXXX",
			 o->persist_dir, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof r->wal_dir || !mkdtemp(r->wal_dir)) {
		hl_say("bench: %s: cannot make a WAL directory under %s: %s", r->tag,
		       o->persist_dir, strerror(errno));
		r->wal_dir[0] = '\0';
		return HL_EIO;
	}
	struct hl_persister_config pc;
	hl_persister_config_init(&pc);
	pc.wal_bytes = o->wal_bytes;
	/* the persister thread inherits this thread's binding */
	hwloc_bitmap_t was = bind_off_workers(r);
	int rc = hl_persister_start(r->a, r->wal_dir, &pc, NULL, NULL, NULL,
				    &r->persister);
	if (was) {
		hwloc_set_cpubind(r->sup.topo, was, HWLOC_CPUBIND_THREAD);
		hwloc_bitmap_free(was);
	}
	if (rc) {
		r->persister = NULL;
		hl_say("bench: %s: cannot start a persister in %s: %s", r->tag,
		       r->wal_dir, hl_strerror(rc));
	}
	return rc;
}

/* Stops a persistence row's persister (its sticky error, or 0). */
static int stop_persister(struct run *r)
{
	int rc = hl_persister_stop(r->persister);
	r->persister = NULL;
	return rc;
}

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
		 hl_workload_name(r->w), r->n, hl_now_ns());
	hl_config cfg;
	run_config(o, r->n, &cfg);
	cfg.arena_bytes = r->arena_bytes;
	/* a stop signal ends even a prefault of many GiB promptly, and a
	 * SIGKILL during it leaves no arena (shm/arena_file.c invariant 3) */
	struct hl_create_stop stop = {.asked = interrupted};
	char size[16];
	hl_fmt_bytes(size, sizeof size, r->arena_bytes);
	if (o->prefault && !o->quiet)
		fprintf(stderr, "%s pre-faulting a %s arena\n", r->tag, size);
	uint64_t t0 = hl_now_ns();
	int rc = hl_arena_create_stoppable(r->arena, &cfg, &stop, &r->a);
	r->create_ns = hl_now_ns() - t0;
	if (rc && hl_bench_interrupted) {
		r->a = NULL;
		return rc;
	}
	uint64_t free_bytes = 0;
	if (rc == HL_ENOSPC && hl_arena_fs_free(r->arena, &free_bytes) == 0) {
		char avail[16];
		hl_fmt_bytes(avail, sizeof avail, free_bytes);
		hl_say("bench: %s: a %s arena does not fit /dev/shm: %s free "
		       "(--size)", r->tag, size, avail);
		r->a = NULL;
		return rc;
	}
	if (rc) {
		hl_say("bench: %s: cannot create a %s arena: %s%s", r->tag, size,
		       hl_strerror(rc), rc == HL_EINVAL ? " (--size too small?)" : "");
		r->a = NULL;
		return rc;
	}
	hl_slot_set_role(r->a, HL_ROLE_COORDINATOR, 0);
	uint64_t need = arena_bytes_holding(o, r->n, content_min_bytes(r->w, r->n));
	if (r->arena_bytes < need) {
		char at_least[16];
		hl_fmt_bytes(at_least, sizeof at_least, need);
		hl_say("bench: %s: an arena of %s is too small for %u %s workers: "
		       "it needs at least %s (--size)", r->tag, size, r->n,
		       hl_workload_name(r->w), at_least);
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

/* Undoes everything hl_harness_run made (invariant 1). */
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
	if (r->persister)
		stop_persister(r);
	if (r->wal_dir[0]) /* WAL segments, their spare, checkpoint images */
		hl_bench_rm_rf(r->wal_dir);
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
		if (hl_bench_interrupted)
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
	uint64_t c[HL_CTR_COUNT];
	hl_slots_sum(a, c);
	l->commits = c[HL_CTR_COMMITS];
	l->restores = c[HL_CTR_RESTORES];
	l->heap_used = hl_heap_used(a);
	l->heap_bytes = hl_heap_bytes(a);
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
		if (hl_bench_interrupted)
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
				 hl_workload_name(r->w), r->n, size);
		if (k > 0)
			nt->arenas_len += (size_t)k;
	}
}

/* One workload at one worker count (harness.h). */
int hl_harness_run(const struct opts *o, enum hl_workload w, unsigned n,
		   char **worker_argv, struct hl_bench_run *out,
		   struct notes *nt)
{
	struct run r = {.o = o, .nt = nt, .w = w, .n = n};
	snprintf(r.tag, sizeof r.tag, "[%s x%u%s]", hl_workload_name(w), n,
		 o->prefault ? " prefault" : o->no_page_helper ? " one core" : "");
	int result = 1;
	/* the workers inherit it; put back as it was when the run ends */
	const char *helper_env = getenv("HELIOS_PAGE_HELPER");
	char helper_was[8] = "";
	bool helper_set = helper_env != NULL;
	if (helper_set)
		snprintf(helper_was, sizeof helper_was, "%s", helper_env);
	if (o->no_page_helper && setenv("HELIOS_PAGE_HELPER", "0", 1)) {
		hl_say("bench: %s: cannot set HELIOS_PAGE_HELPER", r.tag);
		return 1;
	}
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
	r.sup.grace_ns = STOP_GRACE_NS; /* the watchdog's, if we die */
	place_workers(&r);
	if (o->durability != HL_DURABILITY_NONE && start_persister(&r))
		goto out;
	for (unsigned i = 0; i < n; i++)
		if (hl_sup_spawn(&r.sup, i))
			goto out;
	const char *why = wait_ready(&r);
	if (!why && !o->quiet) {
		char size[16];
		hl_fmt_bytes(size, sizeof size, r.arena_bytes);
		fprintf(stderr, "%s go: arena %s (%s in %.2f s), %u "
			"worker%s ready in %.2f s\n", r.tag, size,
			o->prefault ? "pre-faulted" : "created",
			(double)(t_arena - t0) / 1e9, n, n > 1 ? "s" : "",
			(double)(hl_now_ns() - t_arena) / 1e9);
	}
	if (!why)
		why = supervise_run(&r);
	if (why) {
		if (!hl_bench_interrupted)
			hl_say("bench: %s: %s", r.tag, why);
		hl_sup_stop(&r.sup, STOP_GRACE_NS);
		if (!hl_bench_interrupted)
			collect(&r, out, nt, true); /* names the failed workers */
		result = hl_bench_interrupted ? -1 : 1;
		goto out;
	}
	result = collect(&r, out, nt, false) ? 0 : 1;
	struct live after;
	live_sample(r.a, &after);
	out->arena_commits = after.commits;
	if (r.persister) {
		int prc = stop_persister(&r);
		out->wal_bytes = atomic_load_explicit(&r.a->pctl->wal_bytes,
						      memory_order_relaxed);
		if (prc) {
			hl_say("bench: %s: the persister failed: %s", r.tag,
			       hl_strerror(prc));
			result = 1;
		}
	}
	out->durability = o->durability;
	out->prefault = o->prefault;
	out->one_core = o->no_page_helper;
	out->create_ns = r.create_ns;
	out->arena_bytes = r.arena_bytes;
	if (result == 0) {
		uint64_t busy = n < cpus_online() ? n : cpus_online();
		double rate = out->ops_per_s / (double)busy;
		if (rate > nt->ops_per_s_core[w])
			nt->ops_per_s_core[w] = rate;
	}
out:
	run_cleanup(&r);
	if (o->no_page_helper) {
		if (helper_set)
			setenv("HELIOS_PAGE_HELPER", helper_was, 1);
		else
			unsetenv("HELIOS_PAGE_HELPER");
	}
	return result;
}
