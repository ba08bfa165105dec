/*
 * test_kill.c - processes killed with SIGKILL in the middle of commits.
 *
 * The promise under test (DESIGN.md, "no locks anywhere on the hot path: a
 * worker preempted or killed mid-operation blocks nobody"): whatever
 * instruction a writer dies at,
 *
 *  1. the arena stays consistent: hl_arena_check (index, heap and node
 *     checkers) passes after every round of kills;
 *  2. everything a dead writer saw hl_commit return stays restorable,
 *     byte-identical, in every other process;
 *  3. a writer running beside the ones being killed is not disturbed: all
 *     its commits verify and it exits cleanly;
 *  4. the dead are found and their slots come back: hl_slot_is_dead names
 *     them, stats count them in processes_dead until they are reclaimed,
 *     hl_slot_reclaim_if_dead reclaims each exactly once, and attach takes
 *     dead slots over when the table is full, so a small table (4 slots)
 *     serves an unbounded series of crashing workers.
 *
 * What a reclaim gives back (a dead owner's slab tails), and reclaims
 * interrupted by kills (attachers, reapers), are test_reclaim.c; the
 * helpers both suites use are kill_util.h.
 *
 * Timing decides only where the kills land; every assertion holds wherever
 * they do. Writers derive each state from (seed, n) alone, so the parent can
 * regenerate and verify any commit a writer recorded. A writer records an id
 * in the shared page only after hl_commit returned it (and it read back),
 * and publishes the record with a release store of its count.
 */
#include <criterion/criterion.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "testutil.h"
#include "workers.h"
#include "kill_util.h"

TestSuite(kill, .fini = tu_unlink_all);

#define SUITE "kill"
#define WAIT_NS (30ull * 1000 * 1000 * 1000) /* bounded waits on children */
#define GEN_ZERO UINT32_MAX


/* ---- the content writers commit -------------------------------------------
 *
 * State n of a writer with seed `seed` in round `round`: 4..32 chunks of
 * 256 bytes (the count changes every 16 commits), ending inside a chunk.
 * Chunk j holds a pattern generation: for j % 4 == 1 one shared by all the
 * round's writers (so they race to insert the same leaves), else one of the
 * writer's own that changes every 16 commits (staggered by chunk), and one
 * chunk in 16 is zeros. So a commit writes a few chunks of a state that is
 * otherwise its predecessor: leaves, inner nodes and roots are all in play.
 */
#define KCHUNK 256u

/* splitmix64's finalizer: derives values from seeds. */
static uint64_t kmix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}
#define KCHUNKS_MAX 32u

static uint64_t kstate_chunks(uint64_t seed, uint32_t n)
{
	return 4 + kmix64(seed ^ ((uint64_t)(n / 16) << 32)) % (KCHUNKS_MAX - 3);
}

static uint64_t kstate_size(uint64_t seed, uint32_t n)
{
	uint64_t tail = kmix64(seed + n / 16) % (KCHUNK / 8);
	return kstate_chunks(seed, n) * KCHUNK - 8 * tail;
}

static uint32_t kchunk_gen(uint64_t seed, uint32_t round, uint32_t n,
			   uint64_t j)
{
	if (j % 4 == 1)
		return (round * 131u + (uint32_t)j + n / 16) & 0xfffff;
	uint64_t h = kmix64(seed ^ (j << 40) ^ ((n + j * 3) / 16));
	if (h % 16 == 0)
		return GEN_ZERO;
	return (uint32_t)(h >> 44);
}

static void kstate_fill(uint64_t seed, uint32_t round, uint32_t n,
			unsigned char *buf)
{
	uint64_t size = kstate_size(seed, n), chunks = kstate_chunks(seed, n);
	memset(buf, 0, chunks * KCHUNK);
	for (uint64_t j = 0; j < chunks; j++) {
		uint64_t off = j * KCHUNK;
		uint64_t len = size - off < KCHUNK ? size - off : KCHUNK;
		uint32_t gen = kchunk_gen(seed, round, n, j);
		if (gen != GEN_ZERO)
			tu_pattern_fill(buf + off, off, len, gen);
	}
}

/* Brings s to want by writing only the chunks that differ, then commits. */
static int commit_delta(hl_state *s, const unsigned char *want, uint64_t size,
			unsigned char *tmp, hl_id *id)
{
	int rc = hl_state_resize(s, size);
	for (uint64_t off = 0; off < size && rc == 0; off += KCHUNK) {
		uint64_t len = size - off < KCHUNK ? size - off : KCHUNK;
		rc = hl_state_read(s, off, tmp, len);
		if (!rc && memcmp(tmp, want + off, len) != 0)
			rc = hl_state_write(s, off, want + off, len);
	}
	return rc ? rc : hl_commit(s, id, NULL);
}

/* ---- the kill rounds --------------------------------------------------- */

#define ROUNDS 36
#define KCHILD 3          /* writers per round; with the parent: all slots */
#define LOG_MAX 1024      /* commits a writer records per round */
#define COMMITS_MAX 2048  /* then it idles: bounds the arena's use */

struct kwriter {
	uint64_t seed;
	_Atomic int slot;        /* after attach; -1 before */
	_Atomic uint32_t count;  /* ids[0, count) are committed (release) */
	_Atomic int stop;        /* set for a survivor: verify and exit */
	struct child_report rep;
	hl_id ids[LOG_MAX];      /* ids[n] is state n */
};

struct kpage {
	struct kwriter w[ROUNDS][KCHILD];
};

struct kctx {
	struct kpage *pg;
	uint32_t round;
};

static int ref_name(char *buf, size_t len, int i)
{
	return snprintf(buf, len, "writer-%d", i);
}

/* A survivor's last act: every commit it recorded restores byte-identical. */
static int writer_verify_own(struct kwriter *w, uint32_t round, hl_state *v,
			     unsigned char *want, unsigned char *tmp)
{
	uint32_t count = atomic_load_explicit(&w->count, memory_order_relaxed);
	for (uint32_t n = 0; n < count; n++) {
		kstate_fill(w->seed, round, n, want);
		if (!restore_equals(v, w->ids[n], want, kstate_size(w->seed, n),
				    tmp))
			CHILD_FAIL(&w->rep, 60, (int)n);
	}
	return 0;
}

/* Commits states 0, 1, 2, ... of its seed in a tight loop, verifying each
 * read-back before recording it, until it is killed or told to stop. */
static int writer_loop(hl_arena *a, struct kwriter *w, uint32_t round, int i,
		       unsigned char *want, unsigned char *tmp)
{
	hl_state *s, *v;
	char ref[32];
	int rc;
	ref_name(ref, sizeof ref, i);
	if ((rc = hl_state_new(a, &s)) || (rc = hl_state_new(a, &v)))
		CHILD_FAIL(&w->rep, 20, rc);
	/* past LOG_MAX it goes on committing (and verifying) without
	 * recording, so a kill still lands in the middle of commits */
	struct tu_rng rng;
	tu_rng_seed(&rng, w->seed);
	for (uint32_t n = 0; !atomic_load(&w->stop); n++) {
		while (n >= COMMITS_MAX && !atomic_load(&w->stop))
			tu_sleep_us(200);
		if (n >= COMMITS_MAX)
			break;
		uint64_t size = kstate_size(w->seed, n);
		hl_id id;
		/* an older commit of its own still reads back, first */
		if (n > 0) {
			uint32_t o = (uint32_t)tu_rng_below(
				&rng, n < LOG_MAX ? n : LOG_MAX);
			kstate_fill(w->seed, round, o, want);
			if (!restore_equals(v, w->ids[o], want,
					    kstate_size(w->seed, o), tmp))
				CHILD_FAIL(&w->rep, 24, (int)o);
		}
		kstate_fill(w->seed, round, n, want);
		rc = n % 7 == 3 ? commit_fresh(a, want, size, &id)
				: commit_delta(s, want, size, tmp, &id);
		if (rc)
			CHILD_FAIL(&w->rep, 21, rc);
		if (!restore_equals(v, id, want, size, tmp))
			CHILD_FAIL(&w->rep, 22, (int)n);
		if (n >= LOG_MAX)
			continue;
		w->ids[n] = id;
		/* release: the id is in the page before the count covers it */
		atomic_store_explicit(&w->count, n + 1, memory_order_release);
		if (n % 4 == 3 && (rc = hl_ref_set(a, ref, id)))
			CHILD_FAIL(&w->rep, 23, rc);
	}
	rc = writer_verify_own(w, round, v, want, tmp);
	hl_state_free(s);
	hl_state_free(v);
	return rc;
}

static int kill_writer(const char *name, struct kctx *cx, int i)
{
	struct kwriter *w = &cx->pg->w[cx->round][i];
	unsigned char *want = malloc(KCHUNKS_MAX * KCHUNK);
	unsigned char *tmp = malloc(KCHUNKS_MAX * KCHUNK);
	if (!want || !tmp)
		return 2;
	hl_arena *a;
	int rc = hl_arena_attach(name, 0, &a);
	if (rc)
		CHILD_FAIL(&w->rep, 3, rc);
	atomic_store(&w->slot, hl_arena_slot(a));
	rc = writer_loop(a, w, cx->round, i, want, tmp);
	hl_arena_close(a);
	free(want);
	free(tmp);
	return rc;
}

/* Waits (bounded) until every writer of the round has attached. */
static void await_attached(struct kwriter *w)
{
	uint64_t deadline = tu_now_ns() + WAIT_NS;
	for (int i = 0; i < KCHILD; i++)
		while (atomic_load(&w[i].slot) < 0) {
			cr_assert_lt(tu_now_ns(), deadline,
				     "writer %d never attached (line %d, %s)", i,
				     atomic_load(&w[i].rep.line),
				     hl_strerror(atomic_load(&w[i].rep.rc)));
			sched_yield();
		}
}

/* Parent side: every recorded commit of writer w restores byte-identical. */
static void verify_recorded(hl_state *v, const struct kwriter *w,
			    uint32_t round, unsigned char *want,
			    unsigned char *tmp)
{
	uint32_t count = atomic_load_explicit(&w->count, memory_order_acquire);
	for (uint32_t n = 0; n < count; n++) {
		kstate_fill(w->seed, round, n, want);
		cr_assert(restore_equals(v, w->ids[n], want,
					 kstate_size(w->seed, n), tmp),
			  "round %u: state %u of a writer does not read back",
			  round, n);
	}
}

/* Slots whose owner is dead, as a bit set. */
static unsigned dead_slots(hl_arena *a)
{
	unsigned set = 0;
	for (uint32_t i = 0; i < KMAXP; i++)
		if (hl_slot_is_dead(a, i))
			set |= 1u << i;
	return set;
}

/* The ref a writer updates is one of its commits of this round, or what it
 * held before the round (the writer died before its first update). */
static void check_ref(hl_arena *a, int i, hl_id before, bool had,
		      const struct kwriter *w)
{
	char ref[32];
	hl_id id;
	ref_name(ref, sizeof ref, i);
	int rc = hl_ref_get(a, ref, &id);
	if (rc == HL_ENOENT) {
		cr_assert(!had, "ref %s vanished", ref);
		return;
	}
	cr_assert_eq(rc, 0, "hl_ref_get(%s): %s", ref, hl_strerror(rc));
	if (had && hl_id_eq(id, before))
		return;
	uint32_t count = atomic_load(&w->count);
	for (uint32_t n = 0; n < count; n++)
		if (hl_id_eq(w->ids[n], id))
			return;
	cr_assert_fail("ref %s names no recorded commit", ref);
}

struct round_plan {
	int survivor;   /* -1: kill them all */
	bool early;     /* kill without waiting for the attaches */
	uint64_t sleep_us;
};

static struct round_plan plan_round(uint32_t r, struct tu_rng *rng)
{
	struct round_plan p;
	p.survivor = r % 3 == 0 ? -1 : (int)tu_rng_below(rng, KCHILD);
	/* after an odd round, whose dead the attaches must reclaim: writers
	 * may die in the middle of reclaiming */
	p.early = r % 6 == 4;
	p.sleep_us = p.early ? tu_rng_below(rng, 3000) : tu_rng_below(rng, 20001);
	return p;
}

/* Runs round r: forks the writers, kills all but the survivor, reaps. */
static void run_round(const char *name, struct kpage *pg, uint32_t r,
		      const struct round_plan *p)
{
	struct kwriter *w = pg->w[r];
	struct kctx cx = {pg, r};
	pid_t pids[KCHILD];
	for (int i = 0; i < KCHILD; i++) {
		w[i].seed = kmix64(0x6b696c6cull ^ (r * 16u + (uint32_t)i));
		atomic_store(&w[i].slot, -1);
		pids[i] = tu_fork();
		if (pids[i] == 0)
			_exit(kill_writer(name, &cx, i));
	}
	if (!p->early)
		await_attached(w);
	tu_sleep_us(p->sleep_us);
	for (int i = 0; i < KCHILD; i++)
		if (i != p->survivor)
			kill(pids[i], SIGKILL);
	for (int i = 0; i < KCHILD; i++)
		if (i != p->survivor)
			reap_killed(pids[i], &w[i].rep, i);
	if (p->survivor >= 0) {
		tu_sleep_us(2000); /* it goes on alone for a while */
		atomic_store(&w[p->survivor].stop, 1);
		reap_ok(pids[p->survivor], &w[p->survivor].rep, "survivor");
	}
}

/* After round r: the dead are seen, counted and (every other round)
 * reclaimed by hand; otherwise the next round's attaches take them. */
static void check_dead(hl_arena *a, struct kpage *pg, uint32_t r,
		       const struct round_plan *p)
{
	struct kwriter *w = pg->w[r];
	unsigned dead = dead_slots(a), killed = 0;
	for (int i = 0; i < KCHILD; i++) {
		int slot = atomic_load(&w[i].slot);
		if (i == p->survivor || slot < 0)
			continue;
		cr_assert_lt(slot, KMAXP);
		killed |= 1u << slot;
	}
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.processes, 1, "round %u: %llu live processes", r,
		     (unsigned long long)st.processes);
	cr_assert_eq(st.processes_dead, (uint64_t)__builtin_popcount(dead),
		     "round %u: stats count %llu dead, the slots %d", r,
		     (unsigned long long)st.processes_dead,
		     __builtin_popcount(dead));
	cr_assert(!(dead & (1u << hl_arena_slot(a))), "the parent looks dead");
	if (!p->early) {
		/* all writers were attached at once, so every older dead slot
		 * was taken over: the dead are exactly this round's killed */
		cr_assert_eq(dead, killed, "round %u: dead slots %#x, killed "
			     "writers held %#x", r, dead, killed);
		cr_assert_eq(__builtin_popcount(killed),
			     p->survivor < 0 ? KCHILD : KCHILD - 1);
	}
	if (r % 2 == 1)
		return;
	for (uint32_t i = 0; i < KMAXP; i++) {
		bool was_dead = dead & (1u << i);
		cr_assert_eq(hl_slot_reclaim_if_dead(a, i), was_dead,
			     "round %u: reclaim of slot %u", r, i);
		cr_assert(!hl_slot_reclaim_if_dead(a, i), "reclaimed twice");
		cr_assert(!hl_slot_is_dead(a, i));
	}
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.processes_dead, 0);
	cr_assert_eq(st.processes, 1);
}

/* After the loop: a crashing worker at a time, many more times than there
 * are slots; each attach takes a dead slot over. Then the parent fills the
 * table with live handles: one more is HL_EFULL, not a reclaim. */
static void check_slot_reuse(const char *name, hl_arena *a)
{
	_Atomic int *slot = tu_shared_map(sizeof *slot);
	for (int t = 0; t < 4 * KMAXP; t++) {
		atomic_store(slot, -1);
		pid_t pid = tu_fork();
		if (pid == 0) {
			hl_arena *c;
			int rc = hl_arena_attach(name, 0, &c);
			atomic_store(slot, rc ? 1000 + -rc : hl_arena_slot(c));
			for (;;)
				pause(); /* dies holding its slot */
		}
		uint64_t deadline = tu_now_ns() + WAIT_NS;
		while (atomic_load(slot) < 0 && tu_now_ns() < deadline)
			sched_yield();
		int got = atomic_load(slot);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		cr_assert(got >= 0 && got < KMAXP,
			  "attach %d with dead slots around: %s", t,
			  got >= 1000 ? hl_strerror(-(got - 1000)) : "no answer");
		cr_assert(hl_slot_is_dead(a, (uint32_t)got));
	}
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.processes, 1);
	cr_assert_geq(st.processes_dead, 1);

	hl_arena *extra[KMAXP];
	for (int i = 0; i < KMAXP - 1; i++) {
		int rc = hl_arena_attach(name, 0, &extra[i]);
		cr_assert_eq(rc, 0, "live handle %d: %s", i, hl_strerror(rc));
	}
	hl_arena *one_more = NULL;
	cr_assert_eq(hl_arena_attach(name, 0, &one_more), HL_EFULL);
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.processes, KMAXP);
	cr_assert_eq(st.processes_dead, 0);
	for (int i = 0; i < KMAXP - 1; i++)
		hl_arena_close(extra[i]);
	tu_shared_unmap(slot, sizeof *slot);
}

Test(kill, sigkill_writers_mid_commit, .timeout = 240)
{
	hl_config cfg;
	tu_config_small(&cfg, 512ull << 20, KCHUNK);
	cfg.max_processes = KMAXP;
	/* a quarter of what 512 MiB would get: plenty for what the rounds
	 * store (< 1/4 load), and quicker for the checker after each round */
	cfg.index_capacity = 1u << 20;
	const char *name = tu_arena_name(SUITE);
	hl_arena *a = tu_arena_create_cfg(name, &cfg);
	struct kpage *pg = tu_shared_map(sizeof *pg);
	unsigned char *want = malloc(KCHUNKS_MAX * KCHUNK);
	unsigned char *tmp = malloc(KCHUNKS_MAX * KCHUNK);
	cr_assert(want && tmp);
	hl_state *v;
	cr_assert_eq(hl_state_new(a, &v), 0);
	struct tu_rng rng;
	tu_rng_seed(&rng, 0x6b696c6c);
	uint64_t recorded = 0, prev_commits = 0;

	for (uint32_t r = 0; r < ROUNDS; r++) {
		struct round_plan p = plan_round(r, &rng);
		hl_id before[KCHILD];
		bool had[KCHILD];
		for (int i = 0; i < KCHILD; i++) {
			char ref[32];
			ref_name(ref, sizeof ref, i);
			had[i] = hl_ref_get(a, ref, &before[i]) == 0;
		}
		run_round(name, pg, r, &p);

		/* the heap checker (cursors, slab map, free lists) after every
		 * round; all of hl_arena_check, which rehashes every node,
		 * after every fourth and the last */
		char when[64], msg[256] = "";
		snprintf(when, sizeof when, "after kill round %u", r);
		cr_assert_eq(hl_heap_check(a, msg, sizeof msg), 0, "%s: %s", when,
			     msg);
		if (r % 4 == 3 || r == ROUNDS - 1)
			tu_assert_arena_ok(a, when);
		check_dead(a, pg, r, &p);
		for (int i = 0; i < KCHILD; i++) {
			verify_recorded(v, &pg->w[r][i], r, want, tmp);
			check_ref(a, i, before[i], had[i], &pg->w[r][i]);
			recorded += atomic_load(&pg->w[r][i].count);
		}
		hl_stats st;
		cr_assert_eq(hl_arena_stats(a, &st), 0);
		/* killed writers may have committed past their last record */
		cr_assert_geq(st.commits, prev_commits);
		prev_commits = st.commits;
	}

	/* everything any writer recorded, killed or not, reads back */
	for (uint32_t r = 0; r < ROUNDS; r++)
		for (int i = 0; i < KCHILD; i++)
			verify_recorded(v, &pg->w[r][i], r, want, tmp);
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_geq(st.commits, recorded);
	cr_assert_gt(recorded, 0);

	/* new commits still work, and dedup against what the dead left */
	hl_id id, again;
	uint64_t size = kstate_size(42, 7);
	kstate_fill(42, 999, 7, want);
	cr_assert_eq(commit_fresh(a, want, size, &id), 0);
	cr_assert(restore_equals(v, id, want, size, tmp));
	kstate_fill(pg->w[0][0].seed, 0, 0, want);
	if (atomic_load(&pg->w[0][0].count) > 0) {
		cr_assert_eq(commit_fresh(a, want,
					  kstate_size(pg->w[0][0].seed, 0),
					  &again), 0);
		cr_assert(hl_id_eq(again, pg->w[0][0].ids[0]));
	}
	check_slot_reuse(name, a);
	tu_assert_arena_ok(a, "at the end");
	cr_log_info("kill: %u rounds, %llu commits recorded by writers, "
		    "%llu commits in all, %llu nodes, %llu MiB of heap", ROUNDS,
		    (unsigned long long)recorded, (unsigned long long)st.commits,
		    (unsigned long long)st.nodes,
		    (unsigned long long)(st.heap_used_bytes >> 20));

	hl_state_free(v);
	free(want);
	free(tmp);
	tu_shared_unmap(pg, sizeof *pg);
	hl_arena_close(a);
}
