/*
 * test_multiproc.c - many processes, one arena, at the same time.
 *
 * What a user of a shared arena relies on when several workers commit at
 * once, each asserted across real forked processes:
 *
 *  1. Equal content gets the equal id in every process, and is stored once:
 *     processes race to commit an overlapping family of states (common
 *     states that all of them commit in the same order, sliding windows
 *     that neighbours share, and states of their own), with multi-level
 *     trees whose leaves and inner nodes recur across states. Afterwards the
 *     index holds exactly the nodes of the distinct contents: the count
 *     equals an independent model (the tree rebuilt in the test with the
 *     node hash functions) and a single-process replay into a fresh arena.
 *  2. Every snapshot reads back byte-identical from every process: each
 *     writer verifies the others' commits, and fresh readers (read-write
 *     and read-only) verify all of them through hl_state_read and through
 *     zero-copy hl_state_view.
 *  3. Stats add up: commits, restores, live processes, dedup hits.
 *  4. A process that attaches while another is still creating the arena is
 *     told to retry (HL_ENOENT, HL_EBUSY), never that the arena is corrupt.
 *
 * Named refs across processes (a CAS counter under a read-only observer,
 * a ping-pong) are test_refs_mp.c; the fork and reap helpers both suites
 * use are multiproc_util.h.
 *
 * Children attach by name (never the parent's handle), report ids and
 * failures through a MAP_SHARED page, close and _exit. A child's exit code
 * is 0 or the failing step; the shared page also records the source line.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "testutil.h"
#include "workers.h"
#include "multiproc_util.h"

TestSuite(multiproc, .fini = tu_unlink_all);

#define SUITE "multiproc"
#define WAIT_NS (60ull * 1000 * 1000 * 1000) /* a spin barrier gives up */

/* ---- a barrier for the racing children ----------------------------------- */

/* Every party increments once, then waits (bounded) for all n. */
static bool spin_barrier(_Atomic uint32_t *count, uint32_t n)
{
	atomic_fetch_add(count, 1);
	uint64_t deadline = tu_now_ns() + WAIT_NS;
	while (atomic_load(count) < n)
		if (tu_now_ns() > deadline)
			return false;
		else
			sched_yield();
	return true;
}

/* ---- the state family -----------------------------------------------------
 *
 * State k is fully determined by (chunk size, k). Chunk j holds generation
 * chunk_gen(k, j) of the self-checking pattern: generation 0 (the same bytes
 * in every state, so leaves are shared), k + 1 for one chunk in six (unique
 * to the state), or zeros in whole aligned 16-chunk groups for every third
 * state (full zero subtrees, stored as offset 0). Sizes vary per state and
 * end inside a chunk, so partial leaves and partial inner nodes occur;
 * with 64-byte chunks trees are up to 3 levels deep.
 */
#define NPROC 5
#define COMMON_K 16        /* k in [0, 16): committed by every process */
#define WIN_K 16           /* process p: [16 + 8p, 16 + 8p + 16) */
#define STEP_K 8
#define UNIQ_K 6           /* process p: [UNIQ_BASE + 6p, +6): its own */
#define UNIQ_BASE (COMMON_K + STEP_K * (NPROC - 1) + WIN_K)
#define K_TOTAL (UNIQ_BASE + NPROC * UNIQ_K)
#define GEN_ZERO UINT32_MAX

static uint64_t state_chunks(uint32_t c, uint32_t k)
{
	return c <= 64 ? 20 + (k * 37u) % 281u : 17 + (k * 13u) % 48u;
}

static uint64_t state_size(uint32_t c, uint32_t k)
{
	return state_chunks(c, k) * c - 8ull * (k % (c / 8));
}

static uint64_t state_max_bytes(uint32_t c)
{
	return (c <= 64 ? 301 : 65) * (uint64_t)c;
}

static uint32_t chunk_gen(uint32_t k, uint64_t j)
{
	if (k % 3 == 0 && (j / 16) % 5 == 2)
		return GEN_ZERO;
	if (j % 6 == k % 6)
		return k + 1;
	return 0;
}

/* Fills buf with state k, zero-padded to whole chunks. */
static void state_fill(uint32_t c, uint32_t k, unsigned char *buf)
{
	uint64_t size = state_size(c, k), n = state_chunks(c, k);
	memset(buf, 0, n * c);
	for (uint64_t j = 0; j < n; j++) {
		uint64_t off = j * c, len = size - off < c ? size - off : c;
		uint32_t gen = chunk_gen(k, j);
		if (gen != GEN_ZERO)
			tu_pattern_fill(buf + off, off, len, gen);
	}
}

/* The states process p commits, in its order: the common ones first, in the
 * same order in every process (they race on the same nodes), then its
 * window and its own. */
static uint32_t proc_states(int p, uint32_t *ks)
{
	uint32_t n = 0;
	for (uint32_t k = 0; k < COMMON_K; k++)
		ks[n++] = k;
	for (uint32_t k = 0; k < WIN_K; k++)
		ks[n++] = COMMON_K + STEP_K * (uint32_t)p + k;
	for (uint32_t k = 0; k < UNIQ_K; k++)
		ks[n++] = UNIQ_BASE + UNIQ_K * (uint32_t)p + k;
	return n;
}

/* Reads all of the state through hl_state_read and compares. */
static bool state_equals(hl_state *s, const unsigned char *want, uint64_t size,
			 unsigned char *tmp)
{
	return hl_state_size(s) == size && hl_state_read(s, 0, tmp, size) == 0 &&
	       memcmp(tmp, want, size) == 0;
}

/* Walks the state through hl_state_view: the bytes match, each piece ends
 * at its chunk's end or the state's, and clean non-zero chunks are read in
 * place from the arena (zero copy). Also one view from inside a chunk. */
static bool view_equals(hl_arena *a, hl_state *s, uint32_t c, uint32_t k,
			const unsigned char *want, uint64_t size)
{
	for (uint64_t off = 0; off < size;) {
		const void *p;
		size_t len;
		if (hl_state_view(s, off, &p, &len) != 0)
			return false;
		uint64_t expect = size - off < c ? size - off : c;
		if (len != expect || memcmp(p, want + off, len) != 0)
			return false;
		const unsigned char *b = p;
		bool in_arena = b >= a->base && b + len <= a->base + a->bytes;
		if (chunk_gen(k, off / c) != GEN_ZERO && !in_arena)
			return false;
		off += len;
	}
	uint64_t mid = size / 2 + 8;
	const void *p;
	size_t len;
	if (mid < size &&
	    (hl_state_view(s, mid, &p, &len) != 0 ||
	     len != (c - mid % c < size - mid ? c - mid % c : size - mid) ||
	     memcmp(p, want + mid, len) != 0))
		return false;
	const void *q;
	return hl_state_view(s, size, &q, &len) == HL_ERANGE;
}

/* ---- the model: which nodes the family must store ---------------------- */

struct idset {
	hl_id *v;
	size_t n, cap;
};

static void idset_add(struct idset *s, hl_id h)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->v = realloc(s->v, s->cap * sizeof *s->v);
		cr_assert_not_null(s->v);
	}
	s->v[s->n++] = h;
}

static int id_cmp(const void *x, const void *y)
{
	const hl_id *a = x, *b = y;
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	return (a->lo > b->lo) - (a->lo < b->lo);
}

static size_t idset_distinct(struct idset *s)
{
	if (s->n == 0)
		return 0;
	qsort(s->v, s->n, sizeof *s->v, id_cmp);
	size_t d = 1;
	for (size_t i = 1; i < s->n; i++)
		d += !hl_id_eq(s->v[i], s->v[i - 1]);
	return d;
}

struct model {
	uint32_t c;
	hl_id zero[HL_LEVELS_MAX];
	struct idset nodes;
};

static void model_init(struct model *m, uint32_t c)
{
	memset(m, 0, sizeof *m);
	m->c = c;
	unsigned char *z = calloc(1, c);
	cr_assert_not_null(z);
	m->zero[0] = hl_hash_leaf(z, c);
	free(z);
	hl_id kids[HL_FANOUT];
	for (unsigned l = 1; l < HL_LEVELS_MAX; l++) {
		for (unsigned i = 0; i < HL_FANOUT; i++)
			kids[i] = m->zero[l - 1];
		m->zero[l] = hl_hash_inner(l, kids, HL_FANOUT);
	}
}

/* Hash of node (level, i) over chunks of buf; records every node a commit
 * must store: all but all-zero leaves and full all-zero inner nodes. */
static hl_id model_node(struct model *m, const unsigned char *buf,
			uint64_t chunks, unsigned level, uint64_t i)
{
	if (level == 0) {
		hl_id h = hl_hash_leaf(buf + i * m->c, m->c);
		if (!hl_id_eq(h, m->zero[0]))
			idset_add(&m->nodes, h);
		return h;
	}
	uint64_t lo = i << (HL_FANOUT_SHIFT * level);
	uint64_t full = (i + 1) << (HL_FANOUT_SHIFT * level);
	uint64_t hi = full < chunks ? full : chunks;
	uint64_t span = 1ull << (HL_FANOUT_SHIFT * (level - 1));
	unsigned count = (unsigned)((hi - lo + span - 1) / span);
	hl_id kids[HL_FANOUT] = {{0, 0}};
	for (unsigned j = 0; j < count; j++)
		kids[j] = model_node(m, buf, chunks, level - 1, i * HL_FANOUT + j);
	hl_id h = hl_hash_inner(level, kids, count);
	if (count < HL_FANOUT || !hl_id_eq(h, m->zero[level]))
		idset_add(&m->nodes, h);
	return h;
}

/* The id of state k, per the tree geometry of workers.h. */
static hl_id model_state(struct model *m, uint32_t k, unsigned char *buf)
{
	uint64_t chunks = state_chunks(m->c, k);
	state_fill(m->c, k, buf);
	unsigned height = hl_height_of(chunks);
	hl_id top = model_node(m, buf, chunks, height, 0);
	hl_id id = hl_hash_root(state_size(m->c, k), height, top);
	idset_add(&m->nodes, id);
	return id;
}

/* ---- the race ---------------------------------------------------------- */

struct race {
	pthread_barrier_t start;
	_Atomic uint32_t committed; /* spin barrier: all commits done */
	_Atomic uint32_t at_common[COMMON_K]; /* spin barrier per common state */
	uint32_t c;
	hl_id ids[NPROC][K_TOTAL];  /* zero: process did not commit k */
	uint64_t commits[NPROC];    /* successful hl_commit calls */
	uint64_t restores[NPROC];   /* successful hl_restore calls */
	uint64_t new_nodes[NPROC];  /* sum of hl_commit_info.new_nodes */
	struct child_report rep[NPROC + 4];
};

struct bufs {
	unsigned char *want, *tmp;
};

static bool bufs_alloc(struct bufs *b, uint32_t c)
{
	b->want = malloc(state_max_bytes(c));
	b->tmp = malloc(state_max_bytes(c));
	return b->want && b->tmp;
}

static void bufs_free(struct bufs *b)
{
	free(b->want);
	free(b->tmp);
}

/* Commits state k (already in b->want) through a fresh state, or by
 * bringing the long-lived state s to it writing only the chunks that differ;
 * mode 2 also commits a fork and recommits unchanged. */
static int commit_one(struct race *r, int p, hl_arena *a, hl_state *s,
		      uint32_t k, unsigned mode, struct bufs *b, hl_id *out)
{
	struct child_report *rep = &r->rep[p];
	uint32_t c = r->c;
	uint64_t size = state_size(c, k);
	hl_commit_info info;
	int rc;
	if (mode == 0) {
		hl_state *f;
		if ((rc = hl_state_new(a, &f)))
			CHILD_FAIL(rep, 20, rc);
		if ((rc = hl_state_resize(f, size)) ||
		    (rc = hl_state_write(f, 0, b->want, size)) ||
		    (rc = hl_commit(f, out, &info))) {
			hl_state_free(f);
			CHILD_FAIL(rep, 21, rc);
		}
		hl_state_free(f);
		r->commits[p]++;
		r->new_nodes[p] += info.new_nodes;
		return 0;
	}
	if ((rc = hl_state_resize(s, size)))
		CHILD_FAIL(rep, 22, rc);
	for (uint64_t off = 0; off < size; off += c) {
		uint64_t len = size - off < c ? size - off : c;
		if ((rc = hl_state_read(s, off, b->tmp, len)))
			CHILD_FAIL(rep, 23, rc);
		if (memcmp(b->tmp, b->want + off, len) != 0 &&
		    (rc = hl_state_write(s, off, b->want + off, len)))
			CHILD_FAIL(rep, 24, rc);
	}
	if ((rc = hl_commit(s, out, &info)))
		CHILD_FAIL(rep, 25, rc);
	r->commits[p]++;
	r->new_nodes[p] += info.new_nodes;
	if (mode != 2)
		return 0;
	hl_state *f;
	hl_id again;
	if ((rc = hl_fork(s, &f)))
		CHILD_FAIL(rep, 26, rc);
	rc = hl_commit(f, &again, &info);
	hl_state_free(f);
	if (rc || !hl_id_eq(again, *out))
		CHILD_FAIL(rep, 27, rc);
	r->commits[p]++;
	r->new_nodes[p] += info.new_nodes;
	if ((rc = hl_commit(s, &again, &info)) || !hl_id_eq(again, *out) ||
	    info.hashed_bytes != 0 || info.new_nodes != 0)
		CHILD_FAIL(rep, 28, rc);
	r->commits[p]++;
	return 0;
}

/* Restores id into v and checks it is state k, by read and by view. */
static int verify_one(hl_arena *a, hl_state *v, uint32_t c, uint32_t k,
		      hl_id id, struct bufs *b, struct child_report *rep,
		      uint64_t *restores)
{
	int rc;
	if (hl_id_is_zero(id))
		CHILD_FAIL(rep, 40, 0);
	if ((rc = hl_restore(v, id)))
		CHILD_FAIL(rep, 41, rc);
	if (restores)
		(*restores)++;
	uint64_t size = state_size(c, k);
	state_fill(c, k, b->want);
	if (!state_equals(v, b->want, size, b->tmp))
		CHILD_FAIL(rep, 42, 0);
	if (!view_equals(a, v, c, k, b->want, size))
		CHILD_FAIL(rep, 43, 0);
	if (!hl_id_eq(hl_state_base(v), id))
		CHILD_FAIL(rep, 44, 0);
	return 0;
}

static int race_commit_all(struct race *r, int p, hl_arena *a, struct bufs *b)
{
	struct child_report *rep = &r->rep[p];
	uint32_t ks[COMMON_K + WIN_K + UNIQ_K];
	uint32_t n = proc_states(p, ks);
	hl_state *s = NULL, *v = NULL;
	int rc;
	if ((rc = hl_state_new(a, &s)) || (rc = hl_state_new(a, &v)))
		CHILD_FAIL(rep, 11, rc);
	for (uint32_t i = 0; i < n && rc == 0; i++) {
		uint32_t k = ks[i];
		hl_id id;
		state_fill(r->c, k, b->want);
		/* the common states: everyone starts committing k at once */
		if (k < COMMON_K && !spin_barrier(&r->at_common[k], NPROC))
			CHILD_FAIL(rep, 12, 0);
		rc = commit_one(r, p, a, s, k, (i + (uint32_t)p) % 3, b, &id);
		if (!rc)
			rc = verify_one(a, v, r->c, k, id, b, rep, &r->restores[p]);
		if (!rc)
			r->ids[p][k] = id;
	}
	hl_state_free(s);
	hl_state_free(v);
	return rc;
}

/* Verifies every process's commits (the ids in the shared page). */
static int race_verify_all(struct race *r, int p, hl_arena *a, struct bufs *b)
{
	struct child_report *rep = &r->rep[p];
	hl_state *v;
	int rc = hl_state_new(a, &v);
	if (rc)
		CHILD_FAIL(rep, 50, rc);
	for (int q = 0; q < NPROC && rc == 0; q++)
		for (uint32_t k = 0; k < K_TOTAL && rc == 0; k++)
			if (!hl_id_is_zero(r->ids[q][k]))
				rc = verify_one(a, v, r->c, k, r->ids[q][k], b, rep,
						&r->restores[p]);
	hl_state_free(v);
	return rc;
}

static int race_writer(const char *name, void *ctx, int p)
{
	struct race *r = ctx;
	struct child_report *rep = &r->rep[p];
	struct bufs b;
	hl_arena *a = NULL;
	int rc = bufs_alloc(&b, r->c) ? 0 : 2;
	int arc = hl_arena_attach(name, 0, &a);
	if (arc) {
		atomic_store(&rep->line, __LINE__);
		atomic_store(&rep->rc, arc);
		rc = 3;
	}
	pthread_barrier_wait(&r->start); /* everybody, even after a failure */
	if (!rc)
		rc = race_commit_all(r, p, a, &b);
	/* all ids are in the page once everyone has passed this */
	if (!spin_barrier(&r->committed, NPROC) && !rc)
		rc = 4;
	if (!rc)
		rc = race_verify_all(r, p, a, &b);
	hl_arena_close(a);
	bufs_free(&b);
	return rc;
}

/* A fresh process verifies every distinct state; idx 0 attaches read-only. */
static int race_reader(const char *name, void *ctx, int idx)
{
	struct race *r = ctx;
	struct child_report *rep = &r->rep[NPROC + idx];
	struct bufs b;
	hl_arena *a;
	hl_state *v;
	if (!bufs_alloc(&b, r->c))
		return 2;
	int rc = hl_arena_attach(name, idx == 0 ? HL_RDONLY : 0, &a);
	if (rc)
		CHILD_FAIL(rep, 3, rc);
	if ((idx == 0) != (hl_arena_slot(a) == -1))
		CHILD_FAIL(rep, 5, 0);
	if ((rc = hl_state_new(a, &v)))
		CHILD_FAIL(rep, 6, rc);
	/* each reader its own order, so they read different things at once */
	for (uint32_t i = 0; i < K_TOTAL && rc == 0; i++) {
		uint32_t k = (i * 7u + (uint32_t)idx * 31u) % K_TOTAL;
		int p;
		for (p = 0; p < NPROC && hl_id_is_zero(r->ids[p][k]); p++)
			;
		if (p == NPROC)
			CHILD_FAIL(rep, 7, 0);
		rc = verify_one(a, v, r->c, k, r->ids[p][k], &b, rep, NULL);
	}
	hl_state_free(v);
	hl_arena_close(a);
	bufs_free(&b);
	return rc;
}

/* Commits every distinct state once, single-process, into a fresh arena of
 * the same configuration; returns its stats. */
static hl_stats replay_single(const hl_config *cfg, const hl_id *want)
{
	const char *name = tu_arena_name(SUITE);
	hl_arena *a = tu_arena_create_cfg(name, cfg);
	unsigned char *buf = malloc(state_max_bytes(cfg->chunk_bytes));
	cr_assert_not_null(buf);
	for (uint32_t k = 0; k < K_TOTAL; k++) {
		hl_state *s;
		hl_id id;
		uint64_t size = state_size(cfg->chunk_bytes, k);
		state_fill(cfg->chunk_bytes, k, buf);
		cr_assert_eq(hl_state_new(a, &s), 0);
		cr_assert_eq(hl_state_resize(s, size), 0);
		cr_assert_eq(hl_state_write(s, 0, buf, size), 0);
		cr_assert_eq(hl_commit(s, &id, NULL), 0);
		cr_assert(hl_id_eq(id, want[k]), "replay of state %u: other id", k);
		hl_state_free(s);
	}
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	tu_assert_arena_ok(a, "single-process replay");
	free(buf);
	hl_arena_close(a);
	hl_arena_unlink(name);
	return st;
}

static void race_and_check(uint32_t chunk_bytes)
{
	hl_config cfg;
	tu_config_small(&cfg, 64ull << 20, chunk_bytes);
	cfg.max_processes = 16;
	const char *name = tu_arena_name(SUITE);
	hl_arena *a = tu_arena_create_cfg(name, &cfg);

	struct race *r = tu_shared_map(sizeof *r);
	r->c = chunk_bytes;
	pthread_barrierattr_t ba;
	pthread_barrierattr_init(&ba);
	pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
	cr_assert_eq(pthread_barrier_init(&r->start, &ba, NPROC), 0);
	pthread_barrierattr_destroy(&ba);

	pid_t pids[NPROC];
	for (int p = 0; p < NPROC; p++)
		pids[p] = spawn(race_writer, name, r, p);
	for (int p = 0; p < NPROC; p++)
		reap_ok(pids[p], "writer", p, &r->rep[p]);

	/* (a) one id per content, in every process, equal to the model's */
	struct model m;
	model_init(&m, chunk_bytes);
	unsigned char *buf = malloc(state_max_bytes(chunk_bytes));
	cr_assert_not_null(buf);
	hl_id want[K_TOTAL];
	uint64_t commits = 0, restores = 0, new_nodes = 0;
	for (uint32_t k = 0; k < K_TOTAL; k++) {
		want[k] = model_state(&m, k, buf);
		int seen = 0;
		for (int p = 0; p < NPROC; p++) {
			if (hl_id_is_zero(r->ids[p][k]))
				continue;
			seen++;
			char x[33], y[33];
			hl_id_to_hex(r->ids[p][k], x);
			hl_id_to_hex(want[k], y);
			cr_assert(hl_id_eq(r->ids[p][k], want[k]),
				  "state %u: process %d got %s, model %s", k, p, x, y);
		}
		/* windows overlap pairwise except their outer STEP_K states */
		int expect = k < COMMON_K ? NPROC
			     : k >= COMMON_K + STEP_K && k < UNIQ_BASE - STEP_K ? 2
										 : 1;
		cr_assert_eq(seen, expect, "state %u committed by %d processes", k,
			     seen);
	}
	for (int p = 0; p < NPROC; p++) {
		commits += r->commits[p];
		restores += r->restores[p];
		new_nodes += r->new_nodes[p];
	}
	size_t distinct = idset_distinct(&m.nodes);
	free(m.nodes.v);
	free(buf);

	/* (b) one node per distinct content */
	tu_assert_arena_ok(a, "after the race");
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	uint64_t scanned = hl_index_used(a); /* the exact count, by a scan */
	cr_assert_eq(scanned, distinct, "index holds %llu entries, the "
		     "model %zu nodes", (unsigned long long)scanned, distinct);
	cr_assert_eq(st.nodes, distinct, "nodes %llu, model %zu",
		     (unsigned long long)st.nodes, distinct);
	/* each node was added by exactly one commit: the race's winner */
	cr_assert_eq(new_nodes, distinct, "commits report %llu new nodes, the "
		     "model %zu", (unsigned long long)new_nodes, distinct);
	hl_stats single = replay_single(&cfg, want);
	cr_assert_eq(single.nodes, st.nodes, "single-process replay: %llu nodes,"
		     " the race %llu", (unsigned long long)single.nodes,
		     (unsigned long long)st.nodes);
	cr_assert_eq(single.index_used, st.index_used);
	cr_assert_eq(single.stored_bytes, st.stored_bytes);

	/* (d) stats add up; only the parent is attached now */
	cr_assert_eq(st.commits, commits, "stats.commits %llu, performed %llu",
		     (unsigned long long)st.commits, (unsigned long long)commits);
	cr_assert_eq(st.restores, restores);
	cr_assert_eq(st.processes, 1);
	cr_assert_eq(st.processes_dead, 0);
	cr_assert_gt(st.dedup_hits, 0);
	cr_assert_gt(st.dedup_bytes, 0);
	cr_log_info("chunk %u: %llu commits, %zu distinct nodes, %llu dedup hits;"
		    " new nodes by process: %llu %llu %llu %llu %llu", chunk_bytes,
		    (unsigned long long)commits, distinct,
		    (unsigned long long)st.dedup_hits,
		    (unsigned long long)r->new_nodes[0],
		    (unsigned long long)r->new_nodes[1],
		    (unsigned long long)r->new_nodes[2],
		    (unsigned long long)r->new_nodes[3],
		    (unsigned long long)r->new_nodes[4]);

	/* (c) every id reads back in fresh processes, read-only one included */
	pid_t rd[3];
	for (int i = 0; i < 3; i++)
		rd[i] = spawn(race_reader, name, r, i);
	for (int i = 0; i < 3; i++)
		reap_ok(rd[i], "reader", i, &r->rep[NPROC + i]);

	/* ... and in the parent, through its own handle */
	struct bufs b;
	cr_assert(bufs_alloc(&b, chunk_bytes));
	hl_state *v;
	cr_assert_eq(hl_state_new(a, &v), 0);
	struct child_report rep = {0};
	for (uint32_t k = 0; k < K_TOTAL; k++)
		cr_assert_eq(verify_one(a, v, chunk_bytes, k, want[k], &b, &rep,
					NULL), 0,
			     "parent: state %u (line %d)", k, atomic_load(&rep.line));
	hl_state_free(v);
	bufs_free(&b);

	hl_stats after;
	cr_assert_eq(hl_arena_stats(a, &after), 0);
	cr_assert_eq(after.processes, 1, "readers left %llu processes",
		     (unsigned long long)after.processes);
	cr_assert_eq(after.nodes, st.nodes, "reading published nodes");
	cr_assert_eq(after.commits, st.commits);
	/* two read-write readers restored every state; the read-only one has
	 * no slot to count in; the parent restored each once */
	cr_assert_eq(after.restores, st.restores + 3 * K_TOTAL);
	tu_assert_arena_ok(a, "after the readers");

	pthread_barrier_destroy(&r->start);
	tu_shared_unmap(r, sizeof *r);
	hl_arena_close(a);
}

Test(multiproc, overlapping_commits_chunk64, .timeout = 120)
{
	race_and_check(64);
}

Test(multiproc, overlapping_commits_chunk4096, .timeout = 120)
{
	race_and_check(4096);
}

/* ---- attaching while another process creates ------------------------------
 *
 * Workers are often started beside the process that creates their arena,
 * and attach as soon as they can. Until the creator publishes the header,
 * helios.h promises HL_EBUSY ("creation still in progress"; hl_limits.h:
 * HL_ATTACH_WAIT_NS, "poll this long before answering HL_EBUSY"), which a
 * caller retries, and never HL_ECORRUPT, which a caller must not.
 */

/* The creator: makes the arena, holds it a moment, exits. */
static int creator_main(const char *name, void *ctx, int idx)
{
	(void)ctx;
	(void)idx;
	hl_config cfg;
	tu_config_small(&cfg, 128ull << 20, 4096);
	cfg.prefault = 1; /* a longer window before the header is published */
	hl_arena *a;
	if (hl_arena_create(name, &cfg, &a) != 0)
		return 3;
	tu_sleep_us(50 * 1000);
	hl_arena_close(a);
	return 0;
}

Test(multiproc, attach_while_another_process_creates, .timeout = 60)
{
	const char *name = tu_arena_name(SUITE);
	char shm[128];
	snprintf(shm, sizeof shm, "/helios.%s", name);
	hl_arena *x = NULL;

	/* the two states a creator passes through, made by hand: the name
	 * just created (empty), then sized with no header yet */
	int fd = shm_open(shm, O_RDWR | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	int rc = hl_arena_attach(name, 0, &x);
	cr_expect_eq(rc, HL_EBUSY, "attach during creation (empty object): %s",
		     hl_strerror(rc));
	cr_assert_eq(ftruncate(fd, 4 << 20), 0);
	rc = hl_arena_attach(name, 0, &x);
	cr_expect_eq(rc, HL_EBUSY, "attach during creation (no header yet): %s",
		     hl_strerror(rc));
	close(fd);
	hl_arena_unlink(name);

	/* a real race, a few times: attach in a loop while a child creates */
	for (int round = 0; round < 5; round++) {
		uint64_t tries = 0, busy = 0;
		pid_t c = spawn(creator_main, name, NULL, 0);
		uint64_t deadline = tu_now_ns() + WAIT_NS;
		for (;;) {
			rc = hl_arena_attach(name, 0, &x);
			tries++;
			if (rc == 0)
				break;
			busy += rc == HL_EBUSY;
			cr_expect(rc == HL_ENOENT || rc == HL_EBUSY,
				  "round %d: attach while the creator works: %s",
				  round, hl_strerror(rc));
			if (rc != HL_ENOENT && rc != HL_EBUSY)
				break;
			cr_assert_lt(tu_now_ns(), deadline);
		}
		if (rc == 0) {
			tu_assert_arena_ok(x, "attached during creation");
			hl_arena_close(x);
		}
		reap_ok(c, "creator", round, NULL);
		hl_arena_unlink(name);
		cr_log_info("round %d: %llu attach tries, %llu HL_EBUSY", round,
			    (unsigned long long)tries, (unsigned long long)busy);
	}
}
