/*
 * worker.c - `helios-bench worker`: one bench worker process. The harness
 * (bench.c) starts N of them through the coordinator's supervisor; each
 * runs the run's workload against the shared arena, timing every operation
 * into its own histograms, checking every answer, and writes what it
 * measured into its slot of the shared results file.
 *
 * Environment: HELIOS_ARENA and HELIOS_WORKER (set by the supervisor, read
 * by hl_worker_attach_env), HELIOS_BENCH_RESULTS (the results file; its
 * header names the workload, the ops or duration and the seed).
 *
 * Life of a worker (the function making each step):
 *   1. attach, map the results file, find slot w[index]     bench_open
 *   2. build the initial state (W1 4 KiB, W2 1 MiB, MIXED 64 KiB of
 *      random bytes, from seed ^ index) and commit it          build_initial
 *   3. warm up: WARMUP_OPS untimed ops, checked like timed ones (code,
 *      caches, the first slabs of every size class, the id log)  run_ops
 *   4. publish the ready ref "bench/ready/<index>" and wait for the
 *      header's go (bounded: GO_WAIT_NS, heartbeating)          wait_for_go
 *   5. the timed loop, until ops or duration or SIGTERM           run_ops
 *   6. fill the slot; store state DONE (or FAILED) last         finish
 *
 * The operations (as DESIGN.md's W1/W2 and bench.h's mixed workload):
 *   commit  write the op's bytes + hl_commit, timed together. W1 and MIXED
 *           write 64 B at a random offset, W2 one random aligned 4 KiB
 *           chunk. Every written byte differs from the byte it replaces
 *           (old ^ a non-zero random byte), so the op's change is exactly
 *           the written range, which the diff check relies on.
 *   restore hl_restore of a random id of this worker's id log (uniform over
 *           the last LOG_CAP commits: mostly cold, the honest case).
 *   diff    hl_diff of a random logged commit against its parent: exactly
 *           one range, the bytes that commit wrote.
 *   fork    hl_fork + hl_state_free of the child (timed as two regions,
 *           summed, so the child can be checked in between).
 *   W1 and W2 alternate commit and restore; W2 adds a diff after every 4th
 *   pair; MIXED draws commit 40%, restore 40%, fork 10%, diff 10%.
 *
 * Invariants:
 *  1. Nothing but the operation runs inside a timed region: the bytes to
 *     write are made before, fingerprints and checks after. Each sample is
 *     the CLOCK_MONOTONIC difference minus the median cost of an empty
 *     timed region, measured at start (as micro.c does).
 *  2. Every answer is checked against fingerprints (XXH3-64) taken from the
 *     worker's own bytes, never from what the engine later says: W1 keeps a
 *     private model of the whole state and checks the whole 4 KiB on every
 *     restore; W2 and MIXED check the range the restored commit wrote, and
 *     every FULL_CHECK_EVERY-th restore the whole state against a
 *     fingerprint taken right after one of the commits (W2: reading 1 MiB
 *     per restore would measure memcpy, not Helios). A mismatch sets the
 *     slot FAILED with what differed, and the worker exits 1.
 *  3. The slot's state is stored last, with release order (the harness
 *     loads it with acquire): a harness that sees DONE sees every counter.
 *  4. Bounded: the id log is a ring of LOG_CAP commits, the wait for go
 *     gives up after GO_WAIT_NS, SIGTERM/SIGINT end the timed loop early
 *     (the slot then holds what was measured, state DONE).
 *  5. A full arena in a --duration run ends this worker's timed loop early
 *     (state DONE, error[] says so, the harness warns): the time and ops
 *     measured up to there are valid. With --ops the count was promised,
 *     so it is a failure that names --size.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "bench.h"
#include "kit.h"
#include "shm.h"

#define LOG_CAP 65536u         /* ids a worker may restore (a power of two) */
#define FULL_CAP 1024u         /* ids with a whole-state fingerprint */
#define FULL_CHECK_EVERY 64u   /* W2/MIXED: whole-state check, per restores */
#define FULL_FP_EVERY 256u     /* W2/MIXED: whole-state fingerprint, per commits */
#define DIFF_EVERY_PAIRS 4u    /* W2: a diff after every 4th commit/restore pair */
#define WARMUP_OPS 2000u       /* untimed ops before timing */
#define GO_WAIT_NS (30ull * 1000 * 1000 * 1000)
#define TIMER_SAMPLES 20001u
/* wait_for_go's answer to SIGTERM before the start: no results, no error */
#define STOPPED 1

static volatile sig_atomic_t g_stop;

static void on_stop(int sig)
{
	(void)sig;
	g_stop = 1;
}

/* One committed snapshot the worker may restore or diff. */
struct entry {
	hl_id id, parent;
	uint64_t fp_range;   /* XXH3-64 of the bytes this commit wrote */
	uint64_t fp_full;    /* W1: of the whole state (else 0) */
	uint32_t off, len;   /* the range this commit wrote */
};

struct full_entry {
	hl_id id;
	uint64_t fp;
};

struct wk {
	hl_arena *a;
	hl_state *s;
	struct hl_bench_worker_result *r;
	enum hl_workload workload;
	unsigned index;
	uint64_t state_bytes;
	uint32_t write_bytes;
	uint64_t rng;
	uint64_t timer_ns;
	unsigned char *model;   /* W1: the whole state, as it must read */
	unsigned char *buf;     /* the bytes of one write */
	unsigned char *old;     /* what they replace */
	struct entry *log;      /* ring of LOG_CAP */
	uint64_t commits;       /* commits ever logged (ring position) */
	struct full_entry *full;/* ring of FULL_CAP */
	uint64_t full_n;
	uint64_t restores, pairs;
	XXH3_state_t *xxh;      /* for fingerprints read chunk by chunk */
	bool timed;             /* false during the warm-up */
	bool ops_mode;          /* --ops: the count is promised (invariant 5) */
	bool arena_full;        /* a --duration run stopped on HL_EFULL */
	char err[160];
};

/* ---- small tools ------------------------------------------------------------ */

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return (a > b) - (a < b);
}

/* Median cost of an empty timed region (two clock reads through the vDSO),
 * subtracted from every sample (invariant 1). */
static uint64_t timer_overhead_ns(void)
{
	uint64_t *v = malloc(TIMER_SAMPLES * sizeof *v);
	if (!v)
		return 0;
	for (unsigned i = 0; i < 1000; i++)
		(void)now_ns();
	for (unsigned i = 0; i < TIMER_SAMPLES; i++) {
		uint64_t t0 = now_ns();
		v[i] = now_ns() - t0;
	}
	qsort(v, TIMER_SAMPLES, sizeof *v, cmp_u64);
	uint64_t m = v[TIMER_SAMPLES / 2];
	free(v);
	return m;
}

static inline uint64_t sample_ns(const struct wk *k, uint64_t t0, uint64_t t1)
{
	uint64_t d = t1 - t0;
	return d > k->timer_ns ? d - k->timer_ns : 0;
}

/* Sets the error (first one wins) and returns HL_ECORRUPT or rc. */
static int fail(struct wk *k, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct wk *k, int rc, const char *fmt, ...)
{
	if (!k->err[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(k->err, sizeof k->err, fmt, ap);
		va_end(ap);
	}
	return rc ? rc : HL_ECORRUPT;
}

static int api_fail(struct wk *k, const char *what, int rc)
{
	if (rc == HL_EFULL)
		return fail(k, rc, "worker %u: %s: arena full after %" PRIu64
			    " commits (HL_EFULL): give a larger --size", k->index,
			    what, k->commits);
	return fail(k, rc, "worker %u: %s: %s", k->index, what, hl_strerror(rc));
}

/* XXH3-64 of [off, off+len) of the state, read zero-copy (hl_state_view
 * hands out the shared leaves themselves). */
static int state_fp(struct wk *k, hl_state *s, uint64_t off, uint64_t len,
		    uint64_t *out)
{
	XXH3_state_t *h = k->xxh;
	XXH3_64bits_reset(h);
	for (uint64_t done = 0; done < len;) {
		const void *p;
		size_t n;
		int rc = hl_state_view(s, off + done, &p, &n);
		if (rc)
			return api_fail(k, "hl_state_view", rc);
		if (n > len - done)
			n = (size_t)(len - done);
		XXH3_64bits_update(h, p, n);
		done += n;
	}
	*out = XXH3_64bits_digest(h);
	return 0;
}

/* ---- the id log ---------------------------------------------------------------- */

static struct entry *log_push(struct wk *k)
{
	return &k->log[k->commits++ & (LOG_CAP - 1)];
}

/* A random logged commit; with skip_first, never the initial one (its
 * parent is the empty state: a diff of it is the whole state). */
static const struct entry *log_pick(struct wk *k, bool skip_first)
{
	uint64_t live = k->commits < LOG_CAP ? k->commits : LOG_CAP;
	uint64_t oldest = k->commits - live;
	if (skip_first && oldest == 0) {
		oldest = 1;
		live--;
	}
	assert(live > 0); /* the initial commit, and step()'s guard */
	uint64_t seq = oldest + splitmix64(&k->rng) % live;
	return &k->log[seq & (LOG_CAP - 1)];
}

static void record(struct wk *k, enum hl_bench_op op, uint64_t ns)
{
	if (!k->timed)
		return;
	hl_hist_add(&k->r->op[op], ns);
	k->r->count[op]++;
	k->r->ops += op != HL_OP_RESTORE_READ; /* a second timing of a restore */
}

/* ---- operations ----------------------------------------------------------------- */

/* The range the next commit writes: W2 a whole aligned chunk, else 64 B
 * anywhere (it may straddle two chunks, as a real write may). */
static uint64_t pick_range(struct wk *k)
{
	if (k->workload == HL_WORKLOAD_W2)
		return (splitmix64(&k->rng) % (k->state_bytes / k->write_bytes)) *
		       k->write_bytes;
	return splitmix64(&k->rng) % (k->state_bytes - k->write_bytes + 1);
}

/* buf = old ^ (random bytes, each made odd so it is non-zero): every byte
 * changes. Word at a time: for W2's 4 KiB this is 512 steps, not 4096. */
static void make_bytes(struct wk *k)
{
	uint32_t i = 0;
	for (; i + 8 <= k->write_bytes; i += 8) {
		uint64_t o, x = splitmix64(&k->rng) | 0x0101010101010101ull;
		memcpy(&o, k->old + i, 8);
		o ^= x;
		memcpy(k->buf + i, &o, 8);
	}
	for (uint64_t x = splitmix64(&k->rng); i < k->write_bytes; i++, x >>= 8)
		k->buf[i] = k->old[i] ^ (unsigned char)(x | 1);
}

static int op_commit(struct wk *k)
{
	uint64_t off = pick_range(k);
	int rc;
	if (k->model)
		memcpy(k->old, k->model + off, k->write_bytes);
	else if ((rc = hl_state_read(k->s, off, k->old, k->write_bytes)))
		return api_fail(k, "hl_state_read", rc);
	make_bytes(k);
	hl_id parent = hl_state_base(k->s), id;

	uint64_t t0 = now_ns();
	rc = hl_state_write(k->s, off, k->buf, k->write_bytes);
	if (!rc)
		rc = hl_commit(k->s, &id, NULL);
	uint64_t t1 = now_ns();

	if (rc == HL_EFULL && k->timed && !k->ops_mode) {
		k->arena_full = true;
		return 0;
	}
	if (rc)
		return api_fail(k, "write + hl_commit", rc);
	if (hl_id_eq(id, parent) || hl_id_is_zero(id))
		return fail(k, 0, "worker %u: commit %" PRIu64 " changed %u bytes "
			    "but got its parent's id", k->index, k->commits,
			    k->write_bytes);
	record(k, HL_OP_COMMIT, sample_ns(k, t0, t1));
	k->r->unique_bytes += k->write_bytes;

	struct entry *e = log_push(k);
	*e = (struct entry){.id = id, .parent = parent, .off = (uint32_t)off,
			    .len = k->write_bytes,
			    .fp_range = XXH3_64bits(k->buf, k->write_bytes)};
	if (k->model) {
		memcpy(k->model + off, k->buf, k->write_bytes);
		e->fp_full = XXH3_64bits(k->model, k->state_bytes);
	} else if (k->commits % FULL_FP_EVERY == 0) {
		struct full_entry *f = &k->full[k->full_n++ % FULL_CAP];
		f->id = id;
		if ((rc = state_fp(k, k->s, 0, k->state_bytes, &f->fp)))
			return rc;
	}
	return 0;
}

static int check_restored(struct wk *k, hl_id id)
{
	if (hl_state_size(k->s) != k->state_bytes ||
	    !hl_id_eq(hl_state_base(k->s), id))
		return fail(k, 0, "worker %u: restore %" PRIu64 ": wrong size "
			    "(%" PRIu64 ") or base", k->index, k->restores,
			    hl_state_size(k->s));
	return 0;
}

static int op_restore(struct wk *k)
{
	bool whole = !k->model && k->full_n &&
		     k->restores % FULL_CHECK_EVERY == FULL_CHECK_EVERY - 1;
	const struct entry *e = NULL;
	const struct full_entry *f = NULL;
	hl_id id;
	if (whole) {
		uint64_t n = k->full_n < FULL_CAP ? k->full_n : FULL_CAP;
		f = &k->full[splitmix64(&k->rng) % n];
		id = f->id;
	} else {
		e = log_pick(k, false);
		id = e->id;
	}
	k->restores++;

	uint64_t t0 = now_ns();
	int rc = hl_restore(k->s, id);
	uint64_t t1 = now_ns();
	if (rc)
		return api_fail(k, "hl_restore", rc);
	record(k, HL_OP_RESTORE, sample_ns(k, t0, t1));

	if ((rc = check_restored(k, id)))
		return rc;
	uint64_t fp;
	if (k->model) { /* W1: the whole state becomes the model again */
		uint64_t t2 = now_ns();
		rc = hl_state_read(k->s, 0, k->model, k->state_bytes);
		uint64_t t3 = now_ns();
		if (rc)
			return api_fail(k, "hl_state_read", rc);
		/* restore + read: the two timed regions, the check between
		 * them left out */
		record(k, HL_OP_RESTORE_READ, sample_ns(k, t0, t1) + sample_ns(k, t2, t3));
		if (XXH3_64bits(k->model, k->state_bytes) != e->fp_full)
			return fail(k, 0, "worker %u: restore %" PRIu64 ": the "
				    "state differs from what its commit stored",
				    k->index, k->restores);
	} else if (f) {
		if ((rc = state_fp(k, k->s, 0, k->state_bytes, &fp)))
			return rc;
		if (fp != f->fp)
			return fail(k, 0, "worker %u: restore %" PRIu64 ": the "
				    "whole state differs from what was committed",
				    k->index, k->restores);
	} else {
		if ((rc = state_fp(k, k->s, e->off, e->len, &fp)))
			return rc;
		if (fp != e->fp_range)
			return fail(k, 0, "worker %u: restore %" PRIu64 ": bytes "
				    "[%u, +%u) differ from what its commit wrote",
				    k->index, k->restores, e->off, e->len);
	}
	if (k->timed)
		k->r->verified++;
	return 0;
}

struct diff_seen {
	uint64_t ranges, off, len;
};

static int on_range(uint64_t off, uint64_t len, void *ctx)
{
	struct diff_seen *d = ctx;
	if (d->ranges++ == 0) {
		d->off = off;
		d->len = len;
	}
	return 0;
}

static int op_diff(struct wk *k)
{
	const struct entry *e = log_pick(k, true);
	struct diff_seen d = {0};
	uint64_t t0 = now_ns();
	int rc = hl_diff(k->a, e->parent, e->id, on_range, &d);
	uint64_t t1 = now_ns();
	if (rc)
		return api_fail(k, "hl_diff", rc);
	record(k, HL_OP_DIFF, sample_ns(k, t0, t1));
	if (d.ranges != 1 || d.off != e->off || d.len != e->len)
		return fail(k, 0, "worker %u: diff of a commit and its parent: %"
			    PRIu64 " ranges, first [%" PRIu64 ", +%" PRIu64
			    "); expected exactly [%u, +%u)", k->index, d.ranges,
			    d.off, d.len, e->off, e->len);
	if (k->timed)
		k->r->verified++;
	return 0;
}

static int op_fork(struct wk *k)
{
	hl_state *c;
	uint64_t t0 = now_ns();
	int rc = hl_fork(k->s, &c);
	uint64_t t1 = now_ns();
	if (rc)
		return api_fail(k, "hl_fork", rc);
	bool ok = hl_state_size(c) == hl_state_size(k->s) &&
		  hl_id_eq(hl_state_base(c), hl_state_base(k->s));
	uint64_t t2 = now_ns();
	hl_state_free(c);
	uint64_t t3 = now_ns();
	if (!ok)
		return fail(k, 0, "worker %u: a fork has another size or base "
			    "than its parent", k->index);
	record(k, HL_OP_FORK, sample_ns(k, t0, t1) + sample_ns(k, t2, t3));
	if (k->timed)
		k->r->verified++;
	return 0;
}

/* One step of the workload's op sequence. */
static int step(struct wk *k)
{
	switch (k->workload) {
	case HL_WORKLOAD_W1:
		return k->pairs++ % 2 == 0 ? op_commit(k) : op_restore(k);
	case HL_WORKLOAD_W2: {
		/* C R C R C R C R D: a diff after every 4th pair */
		uint64_t i = k->pairs++ % (2 * DIFF_EVERY_PAIRS + 1);
		if (i == 2 * DIFF_EVERY_PAIRS)
			return op_diff(k);
		return i % 2 == 0 ? op_commit(k) : op_restore(k);
	}
	default: {
		/* a diff needs a commit other than the initial one */
		uint64_t x = splitmix64(&k->rng) % 10;
		return x < 4 || (x == 9 && k->commits < 2) ? op_commit(k)
		       : x < 8 ? op_restore(k) : x < 9 ? op_fork(k) : op_diff(k);
	}
	}
}

/* ---- setting up ------------------------------------------------------------ */

/* Random, non-zero bytes (all-zero chunks are never stored: they would
 * flatter every number), committed as the first logged snapshot. */
static int build_initial(struct wk *k)
{
	unsigned char *p = malloc(k->state_bytes);
	if (!p)
		return fail(k, HL_ENOMEM, "worker %u: out of memory", k->index);
	for (uint64_t i = 0; i < k->state_bytes; i += 8) {
		uint64_t x = splitmix64(&k->rng) | 0x0101010101010101ull;
		memcpy(p + i, &x, 8);
	}
	hl_id id;
	int rc = hl_state_resize(k->s, k->state_bytes);
	if (!rc)
		rc = hl_state_write(k->s, 0, p, k->state_bytes);
	if (!rc)
		rc = hl_commit(k->s, &id, NULL);
	if (rc) {
		free(p);
		return api_fail(k, "committing the initial state", rc);
	}
	uint64_t fp = XXH3_64bits(p, k->state_bytes);
	*log_push(k) = (struct entry){.id = id, .off = 0,
				      .len = (uint32_t)k->state_bytes,
				      .fp_range = fp,
				      .fp_full = k->model ? fp : 0};
	k->full[k->full_n++ % FULL_CAP] = (struct full_entry){id, fp};
	if (k->model)
		memcpy(k->model, p, k->state_bytes);
	k->r->unique_bytes += k->state_bytes;
	free(p);
	return 0;
}

static int wk_init(struct wk *k, const struct hl_bench_results_file *f)
{
	const struct hl_workload_shape *shape = hl_workload_shape(f->workload);
	if (!shape)
		return HL_EINVAL;
	k->workload = (enum hl_workload)f->workload;
	k->ops_mode = f->ops_per_worker != 0;
	k->state_bytes = shape->state_bytes;
	k->write_bytes = shape->write_bytes;
	k->rng = f->seed ^ k->index;
	(void)splitmix64(&k->rng);
	k->buf = malloc(k->write_bytes);
	k->old = malloc(k->write_bytes);
	k->log = calloc(LOG_CAP, sizeof *k->log);
	k->full = calloc(FULL_CAP, sizeof *k->full);
	k->xxh = XXH3_createState();
	if (k->workload == HL_WORKLOAD_W1)
		k->model = malloc(k->state_bytes);
	if (!k->buf || !k->old || !k->log || !k->full || !k->xxh ||
	    (k->workload == HL_WORKLOAD_W1 && !k->model))
		return fail(k, HL_ENOMEM, "worker %u: out of memory", k->index);
	int rc = hl_state_new(k->a, &k->s);
	if (rc)
		return api_fail(k, "hl_state_new", rc);
	return build_initial(k);
}

static void wk_free(struct wk *k)
{
	hl_state_free(k->s);
	free(k->buf);
	free(k->old);
	free(k->log);
	free(k->full);
	free(k->model);
	XXH3_freeState(k->xxh);
}

/* Step 4: tell the harness we are ready, then wait (bounded) for go. */
static int wait_for_go(struct wk *k, struct hl_bench_results_file *f)
{
	char name[HL_REF_NAME_MAX + 1];
	snprintf(name, sizeof name, "bench/ready/%u", k->index);
	int rc = hl_ref_set(k->a, name, k->log[0].id);
	if (rc)
		return api_fail(k, "publishing the ready ref", rc);
	uint64_t deadline = now_ns() + GO_WAIT_NS;
	/* pairs with the harness's release store of go after every ready */
	while (!atomic_load_explicit(&f->go, memory_order_acquire)) {
		if (g_stop)
			return STOPPED;
		if (now_ns() > deadline)
			return fail(k, HL_EINVAL, "worker %u: no go from the "
				    "harness within %llu s", k->index,
				    GO_WAIT_NS / 1000000000ull);
		hl_arena_heartbeat(k->a);
		struct timespec ts = {0, 100 * 1000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* Steps 3 and 5: warm-up (timed = false) or the measured loop. */
static int run_ops(struct wk *k, const struct hl_bench_results_file *f)
{
	if (!k->timed) {
		for (unsigned i = 0; i < WARMUP_OPS && !g_stop; i++) {
			int rc = step(k);
			if (rc)
				return rc;
		}
		return 0;
	}
	uint64_t start = now_ns(), end = start;
	int rc = 0;
	for (;;) {
		if (f->ops_per_worker ? k->r->ops >= f->ops_per_worker
				      : end - start >= f->duration_ns)
			break;
		if (g_stop || k->arena_full)
			break;
		if ((rc = step(k)))
			break;
		if (!f->ops_per_worker)
			end = now_ns();
	}
	k->r->elapsed_ns = now_ns() - start;
	return rc;
}

/* ---- the results file ------------------------------------------------------ */

static struct hl_bench_results_file *map_results(size_t *bytes)
{
	const char *path = getenv("HELIOS_BENCH_RESULTS");
	if (!path) {
		hl_say("bench worker: HELIOS_BENCH_RESULTS is not set");
		return NULL;
	}
	int fd = open(path, O_RDWR | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st)) {
		hl_say("bench worker: %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	*bytes = (size_t)st.st_size;
	void *p = *bytes >= sizeof(struct hl_bench_results_file)
			  ? mmap(NULL, *bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
			  : MAP_FAILED;
	close(fd);
	struct hl_bench_results_file *f = p;
	if (p == MAP_FAILED || f->magic != HL_BENCH_RESULTS_MAGIC ||
	    f->workload >= HL_WORKLOAD_COUNT ||
	    *bytes < sizeof *f + (size_t)f->workers * sizeof f->w[0]) {
		hl_say("bench worker: %s is not a results file of this harness",
		       path);
		if (p != MAP_FAILED)
			munmap(p, *bytes);
		return NULL;
	}
	return f;
}

/* Step 6 (invariant 3). */
static int finish(struct wk *k, int rc)
{
	struct hl_bench_worker_result *r = k->r;
	if (k->arena_full && !rc)
		snprintf(r->error, sizeof r->error, "stopped early: arena full "
			 "after %.2f s (HL_EFULL); give a larger --size",
			 (double)r->elapsed_ns / 1e9);
	else if (rc)
		memcpy(r->error, k->err, sizeof r->error);
	atomic_store_explicit(&r->state, rc ? HL_BWS_FAILED : HL_BWS_DONE,
			      memory_order_release);
	if (rc)
		hl_say("bench worker: %s", k->err);
	return rc ? HL_EXIT_FAILED : HL_EXIT_OK;
}

int hl_bench_worker_main(int argc, char **argv)
{
	(void)argv;
	if (argc != 1) {
		hl_say("bench worker: takes no arguments (it is started by "
		       "helios bench)");
		return HL_EXIT_USAGE;
	}
	struct sigaction sa = {.sa_handler = on_stop};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	size_t bytes;
	struct hl_bench_results_file *f = map_results(&bytes);
	if (!f)
		return HL_EXIT_FAILED;
	struct wk k = {0};
	/* The rows measure the engine itself: the ids this worker restores
	 * are in its own log and held by nobody, so no collection may take
	 * them (the GC rows run their own workers with collection on). */
	setenv("HELIOS_GC", "off", 1);
	int rc = hl_worker_attach_env(&k.a, &k.index);
	if (rc || k.index >= f->workers) {
		hl_say("bench worker: cannot attach (HELIOS_ARENA=%s, "
		       "HELIOS_WORKER=%s): %s",
		       getenv("HELIOS_ARENA") ? getenv("HELIOS_ARENA") : "unset",
		       getenv("HELIOS_WORKER") ? getenv("HELIOS_WORKER") : "unset",
		       rc ? hl_strerror(rc) : "index past the results file");
		if (!rc)
			hl_arena_close(k.a);
		munmap(f, bytes);
		return HL_EXIT_FAILED;
	}
	k.r = &f->w[k.index];
	for (unsigned op = 0; op < HL_OP_COUNT; op++)
		hl_hist_init(&k.r->op[op]);
	k.timer_ns = timer_overhead_ns();
	rc = wk_init(&k, f);
	if (!rc)
		rc = run_ops(&k, f);          /* warm-up */
	if (!rc)
		rc = wait_for_go(&k, f);
	if (rc == STOPPED) { /* the harness is giving up on this run */
		wk_free(&k);
		hl_arena_close(k.a);
		munmap(f, bytes);
		return HL_EXIT_OK;
	}
	if (!rc) {
		k.timed = true;
		rc = run_ops(&k, f);
	}
	wk_free(&k);
	hl_arena_close(k.a);
	int code = finish(&k, rc);
	munmap(f, bytes);
	return code;
}
