/*
 * test_refs_mp.c - named refs across processes: what one process sets or
 * swaps, another reads, whole.
 *
 * What a user of refs relies on when several workers share an arena, each
 * asserted across real forked processes:
 *
 *  1. A counter kept in a ref and incremented by hl_ref_cas from several
 *     writers loses no increment: its final value is the number of
 *     successful CASes, and a read-only observer watching it, and the
 *     writers' hl_ref_set "latest" refs, always sees whole snapshots and a
 *     counter that never goes back.
 *  2. One process's hl_ref_set is seen by another's hl_ref_get: a
 *     ping-pong of generations between two processes.
 *
 * Children attach by name (never the parent's handle), report ids and
 * failures through a MAP_SHARED page, close and _exit; forking and reaping
 * are multiproc_util.h, shared with test_multiproc.c (the commit race).
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

TestSuite(refs_mp, .fini = tu_unlink_all);

#define SUITE "refs_mp"
#define WAIT_NS (60ull * 1000 * 1000 * 1000) /* bounded waits on the others */

/* ---- refs across processes --------------------------------------------- */

#define REF_WRITERS 3
#define REF_ITERS 1000      /* counter increments per writer */
#define CTR_BYTES 256       /* the counter's snapshot: every word says n */
#define LATEST_BYTES 1024   /* a writer's "latest" snapshot */
#define CAS_TRIES 100000    /* a writer gives up on the counter after this */

struct refs_page {
	pthread_barrier_t start;    /* writers and the observer */
	_Atomic uint32_t writers_done;
	uint64_t cas_ok[REF_WRITERS];
	uint64_t cas_busy[REF_WRITERS];
	hl_id latest[REF_WRITERS];  /* the last id each set "w<p>" to */
	uint64_t observed;          /* counter reads the observer made */
	uint64_t observed_max;
	struct child_report rep[REF_WRITERS + 1];
};

/* The generation a writer's "latest" snapshot carries: the writer in the
 * top bits, the iteration below, so the observer knows whose it is. */
static uint32_t latest_gen(int p, uint32_t iter)
{
	return ((uint32_t)p << 16) | iter;
}

/* Commits `bytes` of generation gen from scratch through state s. */
static int commit_gen(hl_state *s, uint64_t bytes, uint32_t gen, hl_id *out)
{
	unsigned char buf[LATEST_BYTES];
	tu_pattern_fill(buf, 0, bytes, gen);
	int rc = hl_state_resize(s, bytes);
	if (!rc)
		rc = hl_state_write(s, 0, buf, bytes);
	if (!rc)
		rc = hl_commit(s, out, NULL);
	return rc;
}

/* Restores id into s and returns in *gen the one generation all its bytes
 * carry: 0 or HL_ECORRUPT for a snapshot that is not one generation. */
static int read_gen(hl_state *s, hl_id id, uint64_t bytes, uint32_t *gen)
{
	unsigned char buf[LATEST_BYTES];
	int rc = hl_restore(s, id);
	if (rc)
		return rc;
	if (hl_state_size(s) != bytes || hl_state_read(s, 0, buf, bytes) != 0)
		return HL_ECORRUPT;
	uint64_t w;
	memcpy(&w, buf, 8);
	if (!tu_pattern_gen(w, 0, gen) ||
	    tu_pattern_check(buf, 0, bytes, *gen) != -1)
		return HL_ECORRUPT;
	return 0;
}

/* The counter's value: 0 while the ref holds the zero id. */
static int counter_read(hl_state *s, hl_id id, uint32_t *n)
{
	if (hl_id_is_zero(id)) {
		*n = 0;
		return 0;
	}
	return read_gen(s, id, CTR_BYTES, n);
}

/* One increment of "counter": read, commit n + 1, CAS; retried on HL_EBUSY
 * from the value the failed CAS returned. */
static int counter_increment(struct refs_page *pg, int p, hl_arena *a,
			     hl_state *s)
{
	struct child_report *rep = &pg->rep[p];
	hl_id cur;
	int rc = hl_ref_get(a, "counter", &cur);
	if (rc == HL_ENOENT)
		cur = (hl_id){0, 0};
	else if (rc)
		CHILD_FAIL(rep, 30, rc);
	for (unsigned t = 0; t < CAS_TRIES; t++) {
		uint32_t n;
		hl_id next;
		if ((rc = counter_read(s, cur, &n)))
			CHILD_FAIL(rep, 31, rc);
		if ((rc = commit_gen(s, CTR_BYTES, n + 1, &next)))
			CHILD_FAIL(rep, 32, rc);
		hl_id seen = cur;
		rc = hl_ref_cas(a, "counter", &seen, next);
		if (rc == 0) {
			pg->cas_ok[p]++;
			return 0;
		}
		if (rc != HL_EBUSY)
			CHILD_FAIL(rep, 33, rc);
		if (hl_id_eq(seen, cur)) /* EBUSY must report what it held */
			CHILD_FAIL(rep, 34, rc);
		pg->cas_busy[p]++;
		cur = seen;
	}
	CHILD_FAIL(rep, 35, 0);
}

static int refs_writer(const char *name, void *ctx, int p)
{
	struct refs_page *pg = ctx;
	struct child_report *rep = &pg->rep[p];
	char ref[16];
	snprintf(ref, sizeof ref, "w%d", p);
	hl_arena *a;
	int rc = hl_arena_attach(name, 0, &a);
	pthread_barrier_wait(&pg->start);
	if (rc)
		CHILD_FAIL(rep, 3, rc);
	hl_state *s;
	if ((rc = hl_state_new(a, &s)))
		CHILD_FAIL(rep, 4, rc);
	for (uint32_t it = 1; it <= REF_ITERS && rc == 0; it++) {
		hl_id id;
		if ((rc = commit_gen(s, LATEST_BYTES, latest_gen(p, it), &id)))
			CHILD_FAIL(rep, 5, rc);
		if ((rc = hl_ref_set(a, ref, id)))
			CHILD_FAIL(rep, 6, rc);
		pg->latest[p] = id;
		rc = counter_increment(pg, p, a, s);
	}
	atomic_fetch_add(&pg->writers_done, 1);
	hl_state_free(s);
	hl_arena_close(a);
	return rc;
}

/* Read-only: watches the refs until the writers are done. Every snapshot it
 * reaches is whole, the counter never goes back, and each writer's latest
 * never goes back either; every change is refused with HL_EROFS. */
static int refs_observer(const char *name, void *ctx, int idx)
{
	struct refs_page *pg = ctx;
	struct child_report *rep = &pg->rep[idx];
	hl_arena *a;
	int rc = hl_arena_attach(name, HL_RDONLY, &a);
	pthread_barrier_wait(&pg->start);
	if (rc)
		CHILD_FAIL(rep, 3, rc);
	hl_state *s;
	if ((rc = hl_state_new(a, &s)))
		CHILD_FAIL(rep, 4, rc);
	uint32_t last_n = 0, last_it[REF_WRITERS] = {0};
	uint64_t reads = 0;
	bool done;
	do {
		done = atomic_load(&pg->writers_done) == REF_WRITERS;
		hl_id id;
		uint32_t n;
		rc = hl_ref_get(a, "counter", &id);
		if (rc != 0 && rc != HL_ENOENT)
			CHILD_FAIL(rep, 10, rc);
		if (rc == 0) {
			if ((rc = counter_read(s, id, &n)))
				CHILD_FAIL(rep, 11, rc);
			if (n < last_n)
				CHILD_FAIL(rep, 12, 0);
			last_n = n;
			reads++;
		}
		for (int p = 0; p < REF_WRITERS; p++) {
			char ref[16];
			uint32_t gen;
			snprintf(ref, sizeof ref, "w%d", p);
			rc = hl_ref_get(a, ref, &id);
			if (rc == HL_ENOENT)
				continue;
			if (rc || (rc = read_gen(s, id, LATEST_BYTES, &gen)))
				CHILD_FAIL(rep, 13, rc);
			if ((int)(gen >> 16) != p || (gen & 0xffff) < last_it[p])
				CHILD_FAIL(rep, 14, 0);
			last_it[p] = gen & 0xffff;
		}
		/* leave the cores to the writers: they race with each other */
		tu_sleep_us(100);
	} while (!done);
	/* the final values, after the writers are done */
	for (int p = 0; p < REF_WRITERS; p++)
		if (last_it[p] != REF_ITERS)
			CHILD_FAIL(rep, 15, (int)last_it[p]);
	if (last_n != REF_WRITERS * REF_ITERS)
		CHILD_FAIL(rep, 16, (int)last_n);
	/* a read-only handle changes nothing */
	hl_id id;
	if (hl_ref_get(a, "counter", &id) != 0)
		CHILD_FAIL(rep, 17, 0);
	hl_id exp = id;
	if ((rc = hl_ref_set(a, "counter", (hl_id){0, 0})) != HL_EROFS)
		CHILD_FAIL(rep, 18, rc);
	if ((rc = hl_ref_cas(a, "counter", &exp, (hl_id){0, 0})) != HL_EROFS)
		CHILD_FAIL(rep, 19, rc);
	if ((rc = hl_restore(s, id)) || (rc = hl_state_write(s, 0, "x", 1)))
		CHILD_FAIL(rep, 20, rc);
	if ((rc = hl_commit(s, &id, NULL)) != HL_EROFS)
		CHILD_FAIL(rep, 21, rc);
	pg->observed = reads;
	pg->observed_max = last_n;
	hl_state_free(s);
	hl_arena_close(a);
	return 0;
}

Test(refs_mp, refs_cas_counter_and_readonly_observer, .timeout = 120)
{
	const char *name;
	hl_arena *a = tu_arena_new(SUITE, 32ull << 20, 64, &name);
	struct refs_page *pg = tu_shared_map(sizeof *pg);
	pthread_barrierattr_t ba;
	pthread_barrierattr_init(&ba);
	pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
	cr_assert_eq(pthread_barrier_init(&pg->start, &ba, REF_WRITERS + 1), 0);
	pthread_barrierattr_destroy(&ba);

	pid_t obs = spawn(refs_observer, name, pg, REF_WRITERS);
	pid_t w[REF_WRITERS];
	for (int p = 0; p < REF_WRITERS; p++)
		w[p] = spawn(refs_writer, name, pg, p);
	for (int p = 0; p < REF_WRITERS; p++)
		reap_ok(w[p], "writer", p, &pg->rep[p]);
	reap_ok(obs, "observer", 0, &pg->rep[REF_WRITERS]);

	/* the counter counts exactly the successful CASes */
	uint64_t ok = 0, busy = 0;
	for (int p = 0; p < REF_WRITERS; p++) {
		cr_assert_eq(pg->cas_ok[p], REF_ITERS);
		ok += pg->cas_ok[p];
		busy += pg->cas_busy[p];
	}
	hl_state *s;
	hl_id id;
	uint32_t n;
	cr_assert_eq(hl_state_new(a, &s), 0);
	cr_assert_eq(hl_ref_get(a, "counter", &id), 0);
	cr_assert_eq(counter_read(s, id, &n), 0);
	cr_assert_eq(n, ok, "counter %u after %llu successful CASes", n,
		     (unsigned long long)ok);
	cr_assert_gt(pg->observed, 0);
	/* each writer's last hl_ref_set is what another process now reads */
	for (int p = 0; p < REF_WRITERS; p++) {
		char ref[16];
		uint32_t gen;
		snprintf(ref, sizeof ref, "w%d", p);
		cr_assert_eq(hl_ref_get(a, ref, &id), 0);
		cr_assert(hl_id_eq(id, pg->latest[p]), "ref %s", ref);
		cr_assert_eq(read_gen(s, id, LATEST_BYTES, &gen), 0);
		cr_assert_eq(gen, latest_gen(p, REF_ITERS));
	}
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.refs, REF_WRITERS + 1);
	cr_assert_eq(st.processes, 1);
	/* one commit per latest, one per CAS attempt (won or lost) */
	cr_assert_eq(st.commits, ok * 2 + busy);
	hl_state_free(s);
	tu_assert_arena_ok(a, "after the ref writers");
	cr_log_info("refs: %llu CASes won, %llu lost, observer read the counter "
		    "%llu times", (unsigned long long)ok, (unsigned long long)busy,
		    (unsigned long long)pg->observed);
	pthread_barrier_destroy(&pg->start);
	tu_shared_unmap(pg, sizeof *pg);
	hl_arena_close(a);
}

/* ---- ping-pong: a ref set in one process is read in another ------------ */

#define PINGS 60

struct pingpong {
	struct child_report rep[2];
};

/* Waits (bounded) until ref `name` holds a snapshot of generation gen. */
static int await_gen(hl_arena *a, hl_state *s, const char *ref, uint32_t gen)
{
	uint64_t deadline = tu_now_ns() + WAIT_NS;
	while (tu_now_ns() < deadline) {
		hl_id id;
		uint32_t g;
		int rc = hl_ref_get(a, ref, &id);
		if (rc == HL_ENOENT) {
			sched_yield();
			continue;
		}
		if (rc || (rc = read_gen(s, id, 64, &g)))
			return rc;
		if (g == gen)
			return 0;
		if (g > gen)
			return HL_ECORRUPT; /* went past without us */
		sched_yield();
	}
	return HL_EBUSY;
}

/* Player 0 sets "ping" to round r and waits for "pong" at r; player 1
 * waits for "ping" at r and answers on "pong". Each only learns the round
 * through the other's hl_ref_set. */
static int pingpong_player(const char *name, void *ctx, int who)
{
	struct pingpong *pp = ctx;
	struct child_report *rep = &pp->rep[who];
	hl_arena *a;
	hl_state *s;
	int rc = hl_arena_attach(name, 0, &a);
	if (rc)
		CHILD_FAIL(rep, 3, rc);
	if ((rc = hl_state_new(a, &s)))
		CHILD_FAIL(rep, 4, rc);
	const char *mine = who ? "pong" : "ping", *theirs = who ? "ping" : "pong";
	for (uint32_t r = 1; r <= PINGS; r++) {
		hl_id id;
		if (who == 1 && (rc = await_gen(a, s, theirs, r)))
			CHILD_FAIL(rep, 10, rc);
		if ((rc = commit_gen(s, 64, r, &id)) ||
		    (rc = hl_ref_set(a, mine, id)))
			CHILD_FAIL(rep, 11, rc);
		if (who == 0 && (rc = await_gen(a, s, theirs, r)))
			CHILD_FAIL(rep, 12, rc);
	}
	hl_state_free(s);
	hl_arena_close(a);
	return 0;
}

Test(refs_mp, ref_set_seen_by_another_process, .timeout = 120)
{
	const char *name;
	hl_arena *a = tu_arena_new(SUITE, 16ull << 20, 64, &name);
	struct pingpong *pp = tu_shared_map(sizeof *pp);
	pid_t p1 = spawn(pingpong_player, name, pp, 1);
	pid_t p0 = spawn(pingpong_player, name, pp, 0);
	reap_ok(p0, "player", 0, &pp->rep[0]);
	reap_ok(p1, "player", 1, &pp->rep[1]);
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	cr_assert_eq(await_gen(a, s, "ping", PINGS), 0);
	cr_assert_eq(await_gen(a, s, "pong", PINGS), 0);
	hl_state_free(s);
	tu_shared_unmap(pp, sizeof *pp);
	hl_arena_close(a);
}
