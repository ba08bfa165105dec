/*
 * test_index_race.c - processes racing on the node index (shm/index.c):
 * writers inserting the same keys at once, each key won exactly once, and
 * readers that only ever find complete nodes while the writers race.
 * Fixtures and keys: index_util.h.
 */
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "index_util.h"

TestSuite(index_race, .fini = teardown);

/* ---- processes racing ----------------------------------------------------------- */

enum { RACE_KEYS = 2000, RACERS = 4 };

struct race {
	_Atomic uint32_t ready;
	_Atomic uint32_t go;
	_Atomic uint32_t writers_done;
	_Atomic uint64_t wins;
	_Atomic uint64_t losses;
	_Atomic uint64_t errors;              /* anything else that went wrong */
	_Atomic uint64_t dup_wins;            /* a key inserted twice */
	_Atomic uint64_t seen;                /* readers: keys found */
	_Atomic uint64_t winner[RACE_KEYS];   /* the off each key's winner put */
	_Atomic uint32_t arrive[RACE_KEYS];   /* per-key barrier, lockstep half */
};

/* 16 keys per home bucket, homes 2 buckets apart: each group fills exactly
 * two buckets, so racers collide on the same key and on the same entries. */
static hl_id race_key(uint32_t i)
{
	hl_id h = {.lo = (uint64_t)(i / 16) * 2 | (mix(i) << 32),
		   .hi = mix(i + 1000000)};
	return h;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Announces readiness and waits (bounded, 10 s) for the start signal. */
static bool race_start(struct race *r)
{
	uint64_t until = now_ns() + 10ull * 1000000000ull;

	atomic_fetch_add(&r->ready, 1);
	while (!atomic_load(&r->go))
		if (now_ns() > until)
			return false;
	return true;
}

static void race_insert_one(hl_arena *c, struct race *r, uint32_t i)
{
	hl_id h = race_key(i);
	uint64_t off, winner = 0, none = 0;
	int rc = node_make(c, h, &off);

	if (rc == 0)
		rc = hl_index_insert(c, h, off, &winner);
	if (rc == 0) {
		atomic_fetch_add(&r->wins, 1);
		/* exactly one winner per key, or this CAS fails */
		if (!atomic_compare_exchange_strong(&r->winner[i], &none, off))
			atomic_fetch_add(&r->dup_wins, 1);
	} else if (rc == 1) {
		atomic_fetch_add(&r->losses, 1);
		if (winner == off || !node_complete(c, winner, h))
			atomic_fetch_add(&r->errors, 1);
		hl_heap_free(c, c->class_root, off); /* the loser's copy */
	} else {
		atomic_fetch_add(&r->errors, 1);
	}
}

/* Waits (bounded, 10 s) until all writers reach key i, so that they then
 * scan and CAS the same entries at the same moment. */
static bool race_meet(struct race *r, uint32_t i, uint32_t writers)
{
	uint64_t until = now_ns() + 10ull * 1000000000ull;

	atomic_fetch_add(&r->arrive[i], 1);
	while (atomic_load(&r->arrive[i]) < writers) {
		if (now_ns() > until)
			return false;
		sched_yield(); /* more racers than cores */
	}
	return true;
}

/* A writer: inserts every key with its own node copies, the first half in
 * lockstep with the other writers (same key, same instant), the second
 * half free-running (neighbouring keys contend for the same entries). */
static int race_writer(const char *name, struct race *r, uint32_t writers)
{
	hl_arena *c;

	if (hl_arena_attach(name, 0, &c) != 0)
		return 2;
	if (!race_start(r)) {
		hl_arena_close(c);
		return 3;
	}
	for (uint32_t i = 0; i < RACE_KEYS; i++) {
		if (i < RACE_KEYS / 2 && !race_meet(r, i, writers))
			atomic_fetch_add(&r->errors, 1);
		race_insert_one(c, r, i);
	}
	atomic_fetch_add(&r->writers_done, 1);
	hl_arena_close(c);
	return 0;
}

/* One pass over all keys; false when a key was found at a torn node or
 * moved. found[i] remembers where key i was seen. */
static bool reader_pass(hl_arena *c, uint64_t *found, uint64_t *seen)
{
	bool ok = true;

	for (uint32_t i = 0; i < RACE_KEYS; i++) {
		uint64_t off;
		int rc = hl_index_lookup(c, race_key(i), &off);

		if (rc == HL_ENOENT && found[i] == 0)
			continue;
		if (rc != 0 || (found[i] && found[i] != off) ||
		    !node_complete(c, off, race_key(i)))
			ok = false;
		*seen += found[i] == 0;
		found[i] = off;
	}
	return ok;
}

/* A reader: looks keys up while writers insert, then once more after they
 * are done. A key found must be a complete node (the release/acquire
 * pairing) and must stay found at the same offset (there are no removes);
 * at the end, every key must have been found. */
static int race_reader(const char *name, struct race *r, uint32_t writers)
{
	static uint64_t found[RACE_KEYS]; /* private: this process's copy */
	uint64_t until = now_ns() + 60ull * 1000000000ull, seen = 0;
	hl_arena *c;
	bool ok = true, done;

	if (hl_arena_attach(name, HL_RDONLY, &c) != 0)
		return 2;
	if (!race_start(r)) {
		hl_arena_close(c);
		return 3;
	}
	do {
		done = atomic_load(&r->writers_done) == writers;
		ok &= reader_pass(c, found, &seen);
	} while (!done && now_ns() < until);
	if (!ok || !done)
		atomic_fetch_add(&r->errors, 1);
	atomic_fetch_add(&r->seen, seen);
	hl_arena_close(c);
	return 0;
}

/* Forks `writers` writer and `readers` reader processes; each attaches by
 * name (never the parent's handle). Returns once all have exited 0. */
static void race_run(struct race *r, uint32_t writers, uint32_t readers)
{
	pid_t pid[RACERS * 2];
	uint32_t n = writers + readers;
	uint64_t until = now_ns() + 10ull * 1000000000ull;

	cr_assert_leq(n, RACERS * 2);
	for (uint32_t k = 0; k < n; k++) {
		pid[k] = fork();
		cr_assert_geq(pid[k], 0, "fork");
		if (pid[k] == 0)
			_exit(k < writers ? race_writer(g_name, r, writers)
					  : race_reader(g_name, r, writers));
	}
	while (atomic_load(&r->ready) < n && now_ns() < until)
		usleep(1000);
	atomic_store(&r->go, 1);
	for (uint32_t k = 0; k < n; k++) {
		int status = 0;

		cr_assert_eq(waitpid(pid[k], &status, 0), pid[k]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "child %u: status %#x", k, status);
	}
}

static struct race *race_map(void)
{
	struct race *r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(r, MAP_FAILED);
	memset(r, 0, sizeof *r);
	return r;
}

/* Every key ends up present exactly once, and found at its one winner's
 * node. */
static void race_verify(struct race *r, uint32_t writers)
{
	uint64_t errors = atomic_load(&r->errors), dups = atomic_load(&r->dup_wins);
	uint64_t wins = atomic_load(&r->wins), losses = atomic_load(&r->losses);

	cr_assert_eq(dups, 0, "%" PRIu64 " keys were inserted twice", dups);
	cr_assert_eq(errors, 0, "%" PRIu64 " failed inserts, torn or moving"
		     " nodes, or timeouts", errors);
	cr_assert_eq(wins, RACE_KEYS, "%" PRIu64 " inserts returned 0", wins);
	cr_assert_eq(wins + losses, (uint64_t)RACE_KEYS * writers,
		     "%" PRIu64 " wins + %" PRIu64 " losses", wins, losses);
	for (uint32_t i = 0; i < RACE_KEYS; i++) {
		cr_assert_neq(atomic_load(&r->winner[i]), 0, "key %u: no winner", i);
		assert_found(race_key(i), atomic_load(&r->winner[i]));
		cr_assert(node_complete(g_a, atomic_load(&r->winner[i]),
					race_key(i)));
	}
	cr_assert_eq(hl_index_used(g_a), RACE_KEYS);
	assert_check_ok();
}

Test(index_race, processes_racing_insert_each_key_once, .timeout = 120)
{
	struct race *r = race_map();

	open_arena(1u << 14);
	cr_assert_geq(g_a->hdr->index_buckets, 2 * (RACE_KEYS / 16 + 1));
	race_run(r, RACERS, 0);
	race_verify(r, RACERS);
	munmap(r, sizeof *r);
}

Test(index_race, readers_see_complete_nodes_while_writers_race, .timeout = 120)
{
	struct race *r = race_map();

	open_arena(1u << 14);
	race_run(r, 2, 2);
	race_verify(r, 2);
	/* each reader ended having seen every key */
	cr_assert_eq(atomic_load(&r->seen), 2ull * RACE_KEYS);
	munmap(r, sizeof *r);
}
