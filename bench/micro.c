/*
 * micro.c - helios-bench-micro: the single-process micro-benchmark of the
 * W1 and W2 workloads of DESIGN.md, against the public API only.
 *
 *   W1  4 KiB state. Op: write 64 B at a random offset, commit.
 *       Then: restore a random earlier id.
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
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "helios.h"

#define W1_STATE_BYTES 4096u
#define W1_WRITE_BYTES 64u
#define W2_STATE_BYTES (1u << 20)
#define W2_BLOCK_BYTES 4096u
#define W2_BLOCKS (W2_STATE_BYTES / W2_BLOCK_BYTES)
#define W2_SPACE_COMMITS 1000u /* DESIGN: "W2, 1000 commits" */
#define W2_FULL_CHECK_EVERY 64u /* ops whose whole state is fingerprinted */

struct options {
	uint64_t w1_ops, w2_ops;
	uint64_t warmup_ops;   /* 0: ops / 10, at most 5000 */
	uint64_t seed;
	uint32_t chunk_bytes;
	uint64_t arena_mb;     /* 0: sized from the op count */
	bool json, prefault, strict, run_w1, run_w2;
	uint32_t numa;         /* enum hl_numa_mode */
};

struct sizing {
	uint64_t mb;            /* arena_bytes >> 20 */
	uint64_t index_entries; /* 0: the library derives it */
};

/* ---- failing loudly ------------------------------------------------------- */

static char g_arena_name[128]; /* the live arena, unlinked on every exit path */

static void arena_forget(void)
{
	if (g_arena_name[0]) {
		hl_arena_unlink(g_arena_name);
		g_arena_name[0] = '\0';
	}
}

/* hl_arena_unlink is one shm_unlink(2) of a name built on the stack. */
static void on_signal(int sig)
{
	if (g_arena_name[0])
		hl_arena_unlink(g_arena_name);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fprintf(stderr, "helios-bench-micro: FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1); /* atexit: arena_forget */
}

static hl_arena *g_arena; /* the open arena, for diagnostics */

/* A full arena is a sizing problem, not an engine bug: say which part. */
static void explain_full(int rc)
{
	hl_stats st;
	if (rc != HL_EFULL || !g_arena || hl_arena_stats(g_arena, &st))
		return;
	fprintf(stderr, "helios-bench-micro: arena: index %" PRIu64 "/%" PRIu64
		" entries, heap %" PRIu64 "/%" PRIu64 " MiB in slabs, %" PRIu64
		" nodes\n", st.index_used, st.index_capacity,
		st.heap_used_bytes >> 20, st.heap_bytes >> 20, st.nodes);
}

#define CHECK(call)                                                          \
	do {                                                                 \
		int rc_ = (call);                                            \
		if (rc_ != 0) {                                              \
			explain_full(rc_);                                   \
			die("%s:%d: %s returned %d (%s)", __FILE__, __LINE__, \
			    #call, rc_, hl_strerror(rc_));                   \
		}                                                            \
	} while (0)

static void *xmalloc(size_t bytes)
{
	void *p = calloc(1, bytes ? bytes : 1);
	if (!p)
		die("out of memory (%zu bytes)", bytes);
	return p;
}

/* ---- time, randomness, fingerprints ---------------------------------------- */

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

static void fill_random(uint64_t *rng, unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = splitmix64(rng);
		memcpy(p + i, &v, n - i < 8 ? n - i : 8);
	}
}

/* A 64-bit fingerprint to check read-back bytes against (not a content
 * address: it only has to catch a wrong answer, not an adversary). */
static uint64_t fingerprint(const unsigned char *p, size_t n)
{
	uint64_t h = 0x243f6a8885a308d3ull ^ n;
	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	for (size_t i = n & ~(size_t)7; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* Fingerprint of [off, off+n) of the state, read zero-copy. */
static uint64_t state_fingerprint(hl_state *s, uint64_t off, uint64_t n,
				  unsigned char *scratch)
{
	uint64_t done = 0;
	while (done < n) {
		const void *p;
		size_t len;
		CHECK(hl_state_view(s, off + done, &p, &len));
		if (len > n - done)
			len = (size_t)(n - done);
		memcpy(scratch + done, p, len);
		done += len;
	}
	return fingerprint(scratch, (size_t)n);
}

/* ---- samples ---------------------------------------------------------------- */

struct series {
	const char *key, *workload, *op, *target_text;
	double target_ns;    /* p50 target; 0: informational */
	uint64_t *ns;
	uint64_t n, cap;
};

static void series_init(struct series *s, const char *key,
			const char *workload, const char *op, double target_ns,
			const char *target_text, uint64_t cap)
{
	*s = (struct series){.key = key, .workload = workload, .op = op,
			     .target_ns = target_ns, .target_text = target_text,
			     .ns = xmalloc(cap * sizeof(uint64_t)), .cap = cap};
}

static uint64_t g_timer_ns; /* median cost of an empty timed region */

/* The time between two clock reads, less the cost of the reads. */
static inline uint64_t timed_ns(uint64_t t0, uint64_t t1)
{
	uint64_t d = t1 - t0;
	return d > g_timer_ns ? d - g_timer_ns : 0;
}

static inline void series_add(struct series *s, uint64_t ns)
{
	s->ns[s->n++] = ns;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return (a > b) - (a < b);
}

struct summary {
	uint64_t p50, p90, p99, max;
	double ops_per_s;
	bool pass;
};

/* Nearest-rank percentile of sorted samples. */
static uint64_t pct(const uint64_t *v, uint64_t n, double p)
{
	uint64_t rank = (uint64_t)(p * (double)n + 0.999999);
	return v[rank ? rank - 1 : 0];
}

static struct summary series_summarize(struct series *s)
{
	struct summary r = {0};
	if (!s->n)
		return r;
	qsort(s->ns, s->n, sizeof *s->ns, cmp_u64);
	long double sum = 0;
	for (uint64_t i = 0; i < s->n; i++)
		sum += s->ns[i];
	r.p50 = pct(s->ns, s->n, 0.50);
	r.p90 = pct(s->ns, s->n, 0.90);
	r.p99 = pct(s->ns, s->n, 0.99);
	r.max = s->ns[s->n - 1];
	r.ops_per_s = sum > 0 ? (double)(s->n * 1e9L / sum) : 0;
	r.pass = s->target_ns == 0 || (double)r.p50 <= s->target_ns;
	return r;
}

static uint64_t measure_timer_overhead(void)
{
	enum { N = 100001 };
	uint64_t *v = xmalloc(N * sizeof *v);
	for (int i = 0; i < 1000; i++)
		(void)now_ns();
	for (int i = 0; i < N; i++) {
		uint64_t t0 = now_ns();
		uint64_t t1 = now_ns();
		v[i] = t1 - t0;
	}
	qsort(v, N, sizeof *v, cmp_u64);
	uint64_t m = v[N / 2];
	free(v);
	return m;
}

/* ---- arenas ----------------------------------------------------------------- */

static hl_arena *arena_open(const struct options *o, const char *tag,
			    struct sizing z, bool prefault)
{
	uint64_t mb = z.mb;
	snprintf(g_arena_name, sizeof g_arena_name, "bench-micro.%s.%d.%" PRIu64,
		 tag, (int)getpid(), now_ns());
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.arena_bytes = mb << 20;
	cfg.index_capacity = z.index_entries;
	cfg.chunk_bytes = o->chunk_bytes;
	cfg.numa = o->numa;
	cfg.prefault = prefault;
	hl_arena *a;
	int rc = hl_arena_create(g_arena_name, &cfg, &a);
	if (rc) {
		g_arena_name[0] = '\0';
		die("hl_arena_create(%" PRIu64 " MiB, chunk %u B): %s", mb,
		    o->chunk_bytes, hl_strerror(rc));
	}
	g_arena = a;
	return a;
}

static void arena_done(hl_arena *a)
{
	char msg[256] = "";
	int rc = hl_arena_check(a, msg, sizeof msg);
	if (rc)
		die("hl_arena_check after the run: %s (%s)", hl_strerror(rc), msg);
	hl_arena_close(a);
	g_arena = NULL;
	arena_forget();
}

static struct sizing sizing_for(const struct options *o, bool w2, uint64_t ops);

/* Untimed ops before timing: --warmup, else ops/10 capped at 5000. */
static uint64_t warmup_of(const struct options *o, uint64_t ops)
{
	if (o->warmup_ops)
		return o->warmup_ops;
	return ops / 10 < 5000 ? ops / 10 : 5000;
}

/* The id to restore, as an index into the n measured commits: any of them
 * (uniform: a cold cache line and TLB entry, the honest worst case), or
 * one of the last 64 (hot: what a search restoring its recent ancestors
 * sees). */
#define HOT_IDS 64u

static uint64_t pick_earlier(uint64_t *rng, uint64_t n, bool hot)
{
	if (!hot)
		return splitmix64(rng) % n;
	uint64_t window = n < HOT_IDS ? n : HOT_IDS;
	return n - 1 - splitmix64(rng) % window;
}

/* ---- W1 --------------------------------------------------------------------- */

struct w1_result {
	struct series commit, commit_only, restore, restore_hot;
	uint64_t checked_restores, arena_mb, warmup;
};

/* One W1 op: 64 B at a random offset of the model and the state. */
static void w1_write(hl_state *s, unsigned char *model, uint64_t *rng,
		     uint64_t *t_write)
{
	unsigned char buf[W1_WRITE_BYTES];
	uint64_t off = splitmix64(rng) % (W1_STATE_BYTES - W1_WRITE_BYTES + 1);
	fill_random(rng, buf, sizeof buf);
	memcpy(model + off, buf, sizeof buf);
	uint64_t t0 = now_ns();
	CHECK(hl_state_write(s, off, buf, sizeof buf));
	*t_write = timed_ns(t0, now_ns());
}

static void w1_run(const struct options *o, struct w1_result *r)
{
	uint64_t n = o->w1_ops;
	uint64_t warm = r->warmup = warmup_of(o, n);
	struct sizing z = sizing_for(o, false, n + warm);
	r->arena_mb = z.mb;
	hl_arena *a = arena_open(o, "w1", z, o->prefault);
	hl_state *s;
	CHECK(hl_state_new(a, &s));
	CHECK(hl_state_resize(s, W1_STATE_BYTES));

	unsigned char *model = xmalloc(W1_STATE_BYTES);
	unsigned char *scratch = xmalloc(W1_STATE_BYTES);
	uint64_t rng = o->seed ^ 0x5731;
	hl_id id, prev = {0, 0};

	for (uint64_t i = 0; i < warm; i++) { /* untimed */
		uint64_t tw;
		w1_write(s, model, &rng, &tw);
		CHECK(hl_commit(s, &id, NULL));
		CHECK(hl_restore(s, prev));
		CHECK(hl_restore(s, id));
		prev = id;
	}

	hl_id *ids = xmalloc(n * sizeof *ids);
	uint64_t *fp = xmalloc(n * sizeof *fp);
	series_init(&r->commit, "commit", "W1", "write 64 B + commit", 1000,
		    "p50 <= 1 us", n);
	series_init(&r->commit_only, "commit_only", "W1", "  of which hl_commit", 0, "-", n);
	series_init(&r->restore, "restore", "W1", "restore any earlier id", 300,
		    "p50 <= 0.3 us", n);
	series_init(&r->restore_hot, "restore_hot", "W1", "  restore one of last 64", 0, "-", n);

	for (uint64_t i = 0; i < n; i++) {
		uint64_t tw;
		w1_write(s, model, &rng, &tw);
		uint64_t t0 = now_ns();
		CHECK(hl_commit(s, &ids[i], NULL));
		uint64_t t1 = now_ns();
		series_add(&r->commit, tw + timed_ns(t0, t1));
		series_add(&r->commit_only, timed_ns(t0, t1));
		fp[i] = fingerprint(model, W1_STATE_BYTES);
		if (hl_id_eq(ids[i], prev) || hl_id_is_zero(ids[i]))
			die("W1 op %" PRIu64 ": changed state committed to an old id", i);
		prev = ids[i];
		if (i % 256 == 0) { /* read back through the engine */
			CHECK(hl_state_read(s, 0, scratch, W1_STATE_BYTES));
			if (memcmp(scratch, model, W1_STATE_BYTES))
				die("W1 op %" PRIu64 ": state read after commit differs from the model", i);
		}
	}
	/* An unchanged state commits to the same id. */
	CHECK(hl_commit(s, &id, NULL));
	if (!hl_id_eq(id, ids[n - 1]))
		die("W1: recommitting an unchanged state gave a new id");

	for (uint64_t i = 0; i < 2 * n; i++) {
		bool hot = i >= n;
		uint64_t j = pick_earlier(&rng, n, hot);
		uint64_t t0 = now_ns();
		CHECK(hl_restore(s, ids[j]));
		uint64_t t1 = now_ns();
		series_add(hot ? &r->restore_hot : &r->restore, timed_ns(t0, t1));
		if (hl_state_size(s) != W1_STATE_BYTES ||
		    !hl_id_eq(hl_state_base(s), ids[j]))
			die("W1 restore of op %" PRIu64 ": wrong size or base", j);
		if (state_fingerprint(s, 0, W1_STATE_BYTES, scratch) != fp[j])
			die("W1 restore of op %" PRIu64 ": bytes differ from what op %" PRIu64
			    " committed", j, j);
		r->checked_restores++;
	}
	hl_state_free(s);
	arena_done(a);
	free(ids), free(fp), free(model), free(scratch);
}

/* ---- W2 --------------------------------------------------------------------- */

struct w2_result {
	struct series commit, commit_only, restore, restore_hot, diff;
	uint64_t checked_restores, full_checks, checked_diffs;
	uint64_t arena_mb, warmup;
	/* space: stored bytes vs unique bytes written */
	uint64_t space_commits, space_stored, space_unique, space_heap_used;
	uint64_t end_commits, end_stored, end_unique;
};

struct diff_ctx {
	uint64_t calls, off, len;
};

static int on_range(uint64_t off, uint64_t len, void *ctx)
{
	struct diff_ctx *d = ctx;
	if (d->calls++ == 0)
		d->off = off, d->len = len;
	return 0;
}

/* One W2 op: block b gets new bytes, each differing from the old one (so a
 * diff must report the whole block, no more and no less). */
static uint64_t w2_write(hl_state *s, unsigned char *model, uint64_t *rng,
			 uint64_t *t_write)
{
	uint64_t b = splitmix64(rng) % W2_BLOCKS;
	unsigned char *p = model + b * W2_BLOCK_BYTES;
	for (unsigned i = 0; i < W2_BLOCK_BYTES; i += 8) {
		uint64_t x = splitmix64(rng);
		for (unsigned k = 0; k < 8; k++)
			p[i + k] ^= (unsigned char)(1 + ((x >> (8 * k)) % 255));
	}
	uint64_t t0 = now_ns();
	CHECK(hl_state_write(s, b * W2_BLOCK_BYTES, p, W2_BLOCK_BYTES));
	*t_write = timed_ns(t0, now_ns());
	return b;
}

static void w2_space(hl_arena *a, uint64_t commits, uint64_t unique,
		     uint64_t *c, uint64_t *stored, uint64_t *u, uint64_t *heap)
{
	hl_stats st;
	CHECK(hl_arena_stats(a, &st));
	*c = commits;
	*stored = st.stored_bytes;
	*u = unique;
	if (heap)
		*heap = st.heap_used_bytes;
}

static void w2_run(const struct options *o, struct w2_result *r)
{
	uint64_t n = o->w2_ops;
	uint64_t warm = r->warmup = warmup_of(o, n);
	struct sizing z = sizing_for(o, true, n + warm + 1);
	r->arena_mb = z.mb;
	hl_arena *a = arena_open(o, "w2", z, o->prefault);
	hl_state *s;
	CHECK(hl_state_new(a, &s));
	CHECK(hl_state_resize(s, W2_STATE_BYTES));

	unsigned char *model = xmalloc(W2_STATE_BYTES);
	unsigned char *scratch = xmalloc(W2_STATE_BYTES);
	uint64_t rng = o->seed ^ 0x5732;
	/* Non-zero content: all-zero subtrees are never stored, which would
	 * flatter every number. */
	fill_random(&rng, model, W2_STATE_BYTES);
	for (unsigned i = 0; i < W2_STATE_BYTES; i++)
		model[i] |= 1;
	CHECK(hl_state_write(s, 0, model, W2_STATE_BYTES));
	hl_id id0, id;
	CHECK(hl_commit(s, &id0, NULL));
	uint64_t unique = W2_STATE_BYTES, commits = 1;

	hl_id *ids = xmalloc((n + 1) * sizeof *ids);
	uint64_t *blocks = xmalloc((n + 1) * sizeof *blocks);
	uint64_t *block_fp = xmalloc((n + 1) * sizeof *block_fp);
	uint64_t *full_fp = xmalloc((n / W2_FULL_CHECK_EVERY + 2) * sizeof *full_fp);

	/* Warm-up ops count toward the space figure: it is a property of the
	 * arena after its first 1000 commits, measured or not. */
	for (uint64_t i = 0; i < warm; i++) {
		uint64_t tw;
		w2_write(s, model, &rng, &tw);
		CHECK(hl_commit(s, &id, NULL));
		CHECK(hl_restore(s, id0));
		CHECK(hl_restore(s, id));
		unique += W2_BLOCK_BYTES;
		if (++commits == W2_SPACE_COMMITS)
			w2_space(a, commits, unique, &r->space_commits,
				 &r->space_stored, &r->space_unique,
				 &r->space_heap_used);
	}

	series_init(&r->commit, "commit", "W2", "write 4 KiB + commit", 3000,
		    "p50 <= 3 us", n);
	series_init(&r->commit_only, "commit_only", "W2", "  of which hl_commit", 0, "-", n);
	series_init(&r->restore, "restore", "W2", "restore any earlier id", 300,
		    "p50 <= 0.3 us", n);
	series_init(&r->restore_hot, "restore_hot", "W2", "  restore one of last 64", 0, "-", n);
	series_init(&r->diff, "diff", "W2", "diff, one chunk changed", 2000,
		    "p50 <= 2 us", n);

	/* ids[0] is the state before the first measured op. */
	CHECK(hl_commit(s, &ids[0], NULL));
	blocks[0] = UINT64_MAX;
	full_fp[0] = fingerprint(model, W2_STATE_BYTES);
	for (uint64_t i = 1; i <= n; i++) {
		uint64_t tw;
		blocks[i] = w2_write(s, model, &rng, &tw);
		uint64_t t0 = now_ns();
		CHECK(hl_commit(s, &ids[i], NULL));
		uint64_t t1 = now_ns();
		series_add(&r->commit, tw + timed_ns(t0, t1));
		series_add(&r->commit_only, timed_ns(t0, t1));
		block_fp[i] = fingerprint(model + blocks[i] * W2_BLOCK_BYTES,
					  W2_BLOCK_BYTES);
		if (i % W2_FULL_CHECK_EVERY == 0)
			full_fp[i / W2_FULL_CHECK_EVERY] =
				fingerprint(model, W2_STATE_BYTES);
		if (hl_id_eq(ids[i], ids[i - 1]))
			die("W2 op %" PRIu64 ": changed state committed to the old id", i);
		unique += W2_BLOCK_BYTES;
		if (++commits == W2_SPACE_COMMITS)
			w2_space(a, commits, unique, &r->space_commits,
				 &r->space_stored, &r->space_unique,
				 &r->space_heap_used);
		if (i % 512 == 0) { /* read back through the engine */
			CHECK(hl_state_read(s, 0, scratch, W2_STATE_BYTES));
			if (memcmp(scratch, model, W2_STATE_BYTES))
				die("W2 op %" PRIu64 ": state read after commit differs from the model", i);
		}
	}
	w2_space(a, commits, unique, &r->end_commits, &r->end_stored,
		 &r->end_unique, NULL);

	for (uint64_t k = 0; k < 2 * n; k++) {
		/* every 16th cold restore targets an op whose whole state we
		 * know the fingerprint of */
		bool hot = k >= n, full = !hot && k % 16 == 0;
		uint64_t j = 1 + pick_earlier(&rng, n, hot);
		if (full)
			j = (splitmix64(&rng) % (n / W2_FULL_CHECK_EVERY + 1)) *
			    W2_FULL_CHECK_EVERY;
		uint64_t t0 = now_ns();
		CHECK(hl_restore(s, ids[j]));
		uint64_t t1 = now_ns();
		series_add(hot ? &r->restore_hot : &r->restore, timed_ns(t0, t1));
		if (hl_state_size(s) != W2_STATE_BYTES ||
		    !hl_id_eq(hl_state_base(s), ids[j]))
			die("W2 restore of op %" PRIu64 ": wrong size or base", j);
		if (full) {
			if (state_fingerprint(s, 0, W2_STATE_BYTES, scratch) !=
			    full_fp[j / W2_FULL_CHECK_EVERY])
				die("W2 restore of op %" PRIu64 ": state differs from what was committed", j);
			r->full_checks++;
		} else if (state_fingerprint(s, blocks[j] * W2_BLOCK_BYTES,
					     W2_BLOCK_BYTES, scratch) != block_fp[j]) {
			die("W2 restore of op %" PRIu64 ": block %" PRIu64
			    " differs from what op %" PRIu64 " wrote", j, blocks[j], j);
		}
		r->checked_restores++;
	}

	for (uint64_t k = 0; k < n; k++) {
		uint64_t j = 1 + splitmix64(&rng) % n;
		struct diff_ctx d = {0};
		uint64_t t0 = now_ns();
		CHECK(hl_diff(a, ids[j - 1], ids[j], on_range, &d));
		uint64_t t1 = now_ns();
		series_add(&r->diff, timed_ns(t0, t1));
		if (d.calls != 1 || d.off != blocks[j] * W2_BLOCK_BYTES ||
		    d.len != W2_BLOCK_BYTES)
			die("W2 diff of ops %" PRIu64 "/%" PRIu64 ": %" PRIu64
			    " ranges, first [%" PRIu64 ", +%" PRIu64 "), expected"
			    " exactly [%" PRIu64 ", +%u)", j - 1, j, d.calls,
			    d.off, d.len, blocks[j] * W2_BLOCK_BYTES,
			    W2_BLOCK_BYTES);
		r->checked_diffs++;
	}
	hl_state_free(s);
	arena_done(a);
	free(ids), free(blocks), free(block_fp), free(full_fp);
	free(model), free(scratch);
}

/* ---- sizing the arenas -------------------------------------------------------- */

/*
 * Without --arena-mb, each workload's arena is sized from a measurement:
 * a scratch arena runs CALIBRATE_OPS ops and hl_arena_stats says how many
 * node bytes one op stores and how much heap the first slabs took. The real
 * arena then holds the whole run with a margin, so the pre-fault (and the
 * memory it pins) is what the run needs, for any chunk size, node classes
 * or slab size of this build.
 */
#define CALIBRATE_OPS 64u

static struct sizing sizing_for(const struct options *o, bool w2, uint64_t ops)
{
	if (o->arena_mb)
		return (struct sizing){o->arena_mb, 0};
	uint64_t state = w2 ? W2_STATE_BYTES : W1_STATE_BYTES;
	uint64_t chunk = o->chunk_bytes > 4096 ? o->chunk_bytes : 4096;
	struct sizing cal = {16 + ((8 * state + CALIBRATE_OPS * 8 * chunk) >> 20), 0};
	hl_arena *a = arena_open(o, "cal", cal, false);
	hl_state *s;
	CHECK(hl_state_new(a, &s));
	CHECK(hl_state_resize(s, state));
	unsigned char *model = xmalloc(state);
	uint64_t rng = o->seed ^ 0xca1, tw;
	hl_id id;
	fill_random(&rng, model, state);
	CHECK(hl_state_write(s, 0, model, state));
	CHECK(hl_commit(s, &id, NULL));
	hl_stats st0, st1;
	CHECK(hl_arena_stats(a, &st0));
	for (unsigned i = 0; i < CALIBRATE_OPS; i++) {
		if (w2)
			(void)w2_write(s, model, &rng, &tw);
		else
			w1_write(s, model, &rng, &tw);
		CHECK(hl_commit(s, &id, NULL));
	}
	CHECK(hl_arena_stats(a, &st1));
	hl_state_free(s);
	free(model);
	hl_arena_close(a);
	g_arena = NULL;
	arena_forget();

	uint64_t per_op = (st1.stored_bytes - st0.stored_bytes) / CALIBRATE_OPS;
	uint64_t nodes_per_op =
		(st1.nodes - st0.nodes + CALIBRATE_OPS - 1) / CALIBRATE_OPS;
	/* the first commit's slabs, again per class as the run fills them,
	 * plus 1/8 for slab tails and the free space of the last slabs */
	uint64_t heap = 2 * st0.heap_used_bytes + ops * per_op + ops * per_op / 8;
	/* the rest of the arena (header, slots, refs, index) scales with it */
	long double share = (long double)st0.heap_bytes / (long double)st0.arena_bytes;
	struct sizing z = {
		.mb = (uint64_t)((long double)heap / share) / (1u << 20) + 16,
		/* every node the run publishes, at a load of at most 1/2 */
		.index_entries = 2 * (st0.nodes + ops * nodes_per_op),
	};
	/* the index's own bytes (8 per entry) come on top */
	z.mb += (z.index_entries * 8 * 2) >> 20;
	struct statvfs fs;
	if (statvfs("/dev/shm", &fs) == 0 &&
	    z.mb > (uint64_t)fs.f_bavail * fs.f_frsize / (1u << 20))
		die("%s with %" PRIu64 " ops needs a %" PRIu64 " MiB arena, more"
		    " than /dev/shm has free; lower --ops or change --chunk",
		    w2 ? "W2" : "W1", ops, z.mb);
	return z;
}

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

/* Prints a JSON string literal (the CPU model comes from the machine). */
static void json_str(const char *v)
{
	putchar('"');
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

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

static void json_row(struct series *s, bool *first)
{
	struct summary r = series_summarize(s);
	if (!r.pass)
		g_missed = true;
	printf("%s\n    {\"workload\": \"%s\", \"op\": \"%s\", \"n\": %" PRIu64
	       ", \"p50_ns\": %" PRIu64 ", \"p90_ns\": %" PRIu64
	       ", \"p99_ns\": %" PRIu64 ", \"max_ns\": %" PRIu64
	       ", \"ops_per_s\": %.0f",
	       *first ? "" : ",", s->workload,
	       s->key, s->n, r.p50, r.p90,
	       r.p99, r.max, r.ops_per_s);
	if (s->target_ns)
		printf(", \"target_p50_ns\": %.0f, \"pass\": %s", s->target_ns,
		       r.pass ? "true" : "false");
	printf("}");
	*first = false;
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
	if (o->chunk_bytes < 64 || o->chunk_bytes > (1u << 20) ||
	    (o->chunk_bytes & (o->chunk_bytes - 1))) {
		fprintf(stderr, "helios-bench-micro: --chunk must be a power of two, 64..1048576\n");
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
		bool first = true;
		printf("{\n  \"bench\": \"helios-bench-micro\", \"version\": \"%d.%d.%d\",\n"
		       "  \"machine\": {\"cpus\": %ld, \"model\": ",
		       HL_VERSION_MAJOR, HL_VERSION_MINOR, HL_VERSION_PATCH, m.cpus);
		json_str(m.model);
		printf(", \"kernel\": ");
		json_str(m.kernel);
		printf("},\n  \"timer_overhead_ns\": %" PRIu64 ", \"prefault\": %s,"
		       " \"numa\": \"%s\", \"seed\": %" PRIu64
		       ", \"chunk_bytes\": %u,\n  \"results\": [",
		       g_timer_ns, o.prefault ? "true" : "false",
		       o.numa == HL_NUMA_OFF ? "off" : "auto", o.seed, o.chunk_bytes);
		if (o.run_w1) {
			json_row(&w1.commit, &first);
			json_row(&w1.commit_only, &first);
			json_row(&w1.restore, &first);
			json_row(&w1.restore_hot, &first);
		}
		if (o.run_w2) {
			json_row(&w2.commit, &first);
			json_row(&w2.commit_only, &first);
			json_row(&w2.restore, &first);
			json_row(&w2.restore_hot, &first);
			json_row(&w2.diff, &first);
		}
		printf("\n  ]");
		if (o.run_w2) {
			printf(",\n  \"w2_space\": {\"commits\": %" PRIu64
			       ", \"stored_bytes\": %" PRIu64
			       ", \"heap_used_bytes\": %" PRIu64
			       ", \"unique_bytes\": %" PRIu64,
			       w2.space_commits, w2.space_stored,
			       w2.space_heap_used, w2.space_unique);
			if (w2.space_commits) {
				double ratio = (double)w2.space_stored / (double)w2.space_unique;
				printf(", \"ratio\": %.4f, \"target_ratio\": 1.1, \"pass\": %s",
				       ratio, ratio <= 1.1 ? "true" : "false");
				g_missed |= ratio > 1.1;
			}
			printf(", \"end_commits\": %" PRIu64 ", \"end_stored_bytes\": %" PRIu64
			       ", \"end_unique_bytes\": %" PRIu64 "}",
			       w2.end_commits, w2.end_stored, w2.end_unique);
		}
		printf(",\n  \"verified\": {\"w1_restores\": %" PRIu64
		       ", \"w2_restores\": %" PRIu64 ", \"w2_full_state_checks\": %" PRIu64
		       ", \"w2_diffs\": %" PRIu64 "}\n}\n",
		       w1.checked_restores, w2.checked_restores, w2.full_checks,
		       w2.checked_diffs);
	} else {
		print_header(&o, &m, &w1, &w2);
		if (o.run_w1) {
			print_row(&w1.commit);
			print_row(&w1.commit_only);
			print_row(&w1.restore);
			print_row(&w1.restore_hot);
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
