/*
 * micro_workloads.c - the two workloads of helios-bench-micro, W1 and W2,
 * each in an arena of its own: the arena sized from a short calibration
 * run (sizing_for), opened, warmed up untimed, every op timed on its own
 * and checked against a private model between timed calls, then checked
 * whole (hl_arena_check) and unlinked. Also how the program fails: loudly,
 * with the arena unlinked on every exit path (micro.c's notes 3 to 5).
 *
 * Invariants:
 *  1. At most one arena is live at a time, named in g_arena_name from its
 *     creation until it is unlinked (arena_forget): exit, die and a fatal
 *     signal all unlink it.
 *  2. No check runs inside a timed region; every restore and diff is
 *     checked outside one, and a mismatch dies with what differed.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "micro.h"

struct sizing {
	uint64_t mb;            /* arena_bytes >> 20 */
	uint64_t index_entries; /* 0: the library derives it */
};

/* ---- failing loudly ------------------------------------------------------- */

static char g_arena_name[128]; /* the live arena, unlinked on every exit path */

void arena_forget(void)
{
	if (g_arena_name[0]) {
		hl_arena_unlink(g_arena_name);
		g_arena_name[0] = '\0';
	}
}

/* hl_arena_unlink is one shm_unlink(2) of a name built on the stack. */
void on_signal(int sig)
{
	if (g_arena_name[0])
		hl_arena_unlink(g_arena_name);
	signal(sig, SIG_DFL);
	raise(sig);
}

void die(const char *fmt, ...)
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
void explain_full(int rc)
{
	hl_stats st;
	if (rc != HL_EFULL || !g_arena || hl_arena_stats(g_arena, &st))
		return;
	fprintf(stderr, "helios-bench-micro: arena: index %" PRIu64 "/%" PRIu64
		" entries, heap %" PRIu64 "/%" PRIu64 " MiB in slabs, %" PRIu64
		" nodes\n", st.index_used, st.index_capacity,
		st.heap_used_bytes >> 20, st.heap_bytes >> 20, st.nodes);
}

void *xmalloc(size_t bytes)
{
	void *p = calloc(1, bytes ? bytes : 1);
	if (!p)
		die("out of memory (%zu bytes)", bytes);
	return p;
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

void w1_run(const struct options *o, struct w1_result *r)
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
	series_init(&r->restore_read, "restore_read", "W1", "  restore + read 4 KiB", 0, "-", n);

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
	/* restore + read: a cold id, then its whole state copied out */
	for (uint64_t i = 0; i < n; i++) {
		uint64_t j = pick_earlier(&rng, n, false);
		uint64_t t0 = now_ns();
		CHECK(hl_restore(s, ids[j]));
		CHECK(hl_state_read(s, 0, scratch, W1_STATE_BYTES));
		uint64_t t1 = now_ns();
		series_add(&r->restore_read, timed_ns(t0, t1));
		if (fingerprint(scratch, W1_STATE_BYTES) != fp[j])
			die("W1 restore + read of op %" PRIu64 ": bytes differ from what op %" PRIu64
			    " committed", j, j);
		r->checked_restores++;
	}
	hl_state_free(s);
	arena_done(a);
	free(ids), free(fp), free(model), free(scratch);
}

/* ---- W2 --------------------------------------------------------------------- */

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

void w2_run(const struct options *o, struct w2_result *r)
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
