/*
 * test_ring_mpsc.c - the MPSC ring: records come out whole and in each
 * producer's order across many laps and real processes, a full ring says
 * so, and a producer killed with its record half written does not wedge
 * the consumer.
 */
#include <criterion/criterion.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helios.h"
#include "ring_mpsc.h"

TestSuite(ring_mpsc);

#define PRODUCERS 3
#define PER_PRODUCER 30000u

static void *region(uint64_t data_bytes, uint64_t *bytes)
{
	*bytes = hl_ring_mpsc_region_bytes(data_bytes);
	cr_assert_gt(*bytes, 0);
	void *p = mmap(NULL, *bytes, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	cr_assert_eq(hl_ring_mpsc_format(p, *bytes), 0);
	cr_assert_eq(hl_ring_mpsc_check(p, *bytes), 0);
	return p;
}

/* Record (owner, seq): a length from seq, bytes from both. */
static uint32_t rec_len(uint32_t seq) { return 5 + (seq * 37) % 300; }
static unsigned char rec_byte(uint32_t owner, uint32_t seq, uint32_t k)
{
	return (unsigned char)(owner * 131 + seq * 7 + k);
}

static void rec_fill(unsigned char *b, uint32_t owner, uint32_t seq)
{
	uint32_t len = rec_len(seq);
	memcpy(b, &seq, 4);
	b[4] = (unsigned char)owner;
	for (uint32_t k = 5; k < len; k++)
		b[k] = rec_byte(owner, seq, k);
}

struct seen {
	uint32_t next[PRODUCERS + 1];
	uint64_t total;
	int bad;
	char why[128];
};

static int check(void *ctx, const void *payload, uint32_t len)
{
	struct seen *s = ctx;
	const unsigned char *p = payload;
	uint32_t seq;
	if (len < 5) {
		s->bad = 1;
		snprintf(s->why, sizeof s->why, "short record %u", len);
		return 1;
	}
	memcpy(&seq, p, 4);
	uint32_t owner = p[4];
	if (owner > PRODUCERS || seq != s->next[owner] || len != rec_len(seq)) {
		s->bad = 1;
		snprintf(s->why, sizeof s->why, "owner %u seq %u (want %u) len %u",
			 owner, seq, owner <= PRODUCERS ? s->next[owner] : 0, len);
		return 1;
	}
	for (uint32_t k = 5; k < len; k++)
		if (p[k] != rec_byte(owner, seq, k)) {
			s->bad = 1;
			snprintf(s->why, sizeof s->why, "owner %u seq %u byte %u",
				 owner, seq, k);
			return 1;
		}
	s->next[owner]++;
	s->total++;
	return 0;
}

static void push_retry(void *ring, uint32_t owner, uint32_t seq)
{
	unsigned char b[512];
	rec_fill(b, owner, seq);
	int rc;
	while ((rc = hl_ring_mpsc_push(ring, owner, b, rec_len(seq))) == HL_EFULL ||
	       rc == HL_EBUSY)
		sched_yield();
	if (rc)
		_exit(3);
}

Test(ring_mpsc, one_process_round_trips_across_many_laps)
{
	uint64_t bytes;
	void *ring = region(64 * 64, &bytes);        /* 64 units: laps fast */
	struct seen s = {0};
	for (uint32_t seq = 0; seq < 5000; seq++) {
		unsigned char b[512];
		rec_fill(b, 0, seq);
		cr_assert_eq(hl_ring_mpsc_push(ring, 0, b, rec_len(seq)), 0,
			     "push %u", seq);
		if (seq % 3 == 2)
			cr_assert_geq(hl_ring_mpsc_consume(ring, check, &s, NULL,
							   NULL, 100), 0);
		cr_assert_eq(s.bad, 0, "%s", s.why);
	}
	while (hl_ring_mpsc_consume(ring, check, &s, NULL, NULL, 100) > 0)
		;
	cr_assert_eq(s.bad, 0, "%s", s.why);
	cr_assert_eq(s.total, 5000);
	cr_assert_eq(hl_ring_mpsc_used(ring), 0);
	munmap(ring, bytes);
}

Test(ring_mpsc, a_full_ring_says_so_and_frees_when_consumed)
{
	uint64_t bytes;
	void *ring = region(16 * 64, &bytes);
	unsigned char b[120] = {0};
	int n = 0, rc;
	while ((rc = hl_ring_mpsc_push(ring, 1, b, sizeof b)) == 0)
		n++;
	cr_assert_eq(rc, HL_EFULL);
	cr_assert_eq(n, 8, "16 units of 64 B hold 8 records of 2 units");
	cr_assert_eq(hl_ring_mpsc_consume(ring, NULL, NULL, NULL, NULL, 1), 1);
	cr_assert_eq(hl_ring_mpsc_push(ring, 1, b, sizeof b), 0);
	cr_assert_eq(hl_ring_mpsc_push(ring, 1, b, sizeof b), HL_EFULL);
	cr_assert_eq(hl_ring_mpsc_push(ring, 1, b, hl_ring_mpsc_payload_max(ring) + 1),
		     HL_EINVAL);
	cr_assert_eq(hl_ring_mpsc_push(ring, HL_RING_OWNERS_MAX, b, 1), HL_EINVAL);
	munmap(ring, bytes);
}

Test(ring_mpsc, a_damaged_or_foreign_header_is_refused)
{
	uint64_t bytes;
	unsigned char *ring = region(16 * 64, &bytes);
	cr_assert_eq(hl_ring_mpsc_check(ring, bytes - 1), HL_ECORRUPT);
	ring[8] ^= 0x40;                      /* version */
	cr_assert_eq(hl_ring_mpsc_check(ring, bytes), HL_EVERSION);
	ring[8] ^= 0x40;
	ring[0] ^= 1;                         /* magic */
	cr_assert_eq(hl_ring_mpsc_check(ring, bytes), HL_ECORRUPT);
	ring[0] ^= 1;
	ring[16] ^= 0x10;                     /* units */
	cr_assert_eq(hl_ring_mpsc_check(ring, bytes), HL_ECORRUPT);
	cr_assert_eq(hl_ring_mpsc_format(ring, 100), HL_EINVAL);
	munmap(ring, bytes);
}

/* Real processes pushing while the parent consumes: every record once,
 * whole, in its producer's order. */
Test(ring_mpsc, producers_in_processes_and_a_concurrent_consumer, .timeout = 120)
{
	uint64_t bytes;
	void *ring = region(256 * 64, &bytes);
	pid_t pids[PRODUCERS];
	for (uint32_t o = 0; o < PRODUCERS; o++) {
		pids[o] = fork();
		cr_assert_geq(pids[o], 0);
		if (pids[o] == 0) {
			for (uint32_t seq = 0; seq < PER_PRODUCER; seq++)
				push_retry(ring, o, seq);
			_exit(0);
		}
	}
	struct seen s = {0};
	while (s.total < PRODUCERS * PER_PRODUCER && !s.bad)
		if (hl_ring_mpsc_consume(ring, check, &s, NULL, NULL, 64) == 0)
			sched_yield();
	for (int o = 0; o < PRODUCERS; o++) {
		int st;
		waitpid(pids[o], &st, 0);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer %d", o);
	}
	cr_assert_eq(s.bad, 0, "%s", s.why);
	for (int o = 0; o < PRODUCERS; o++)
		cr_assert_eq(s.next[o], PER_PRODUCER);
	cr_assert_eq(hl_ring_mpsc_consume(ring, check, &s, NULL, NULL, 64), 0);
	munmap(ring, bytes);
}

static pid_t dead_pid;

static bool owner_dead(void *ctx, uint32_t owner)
{
	(void)ctx;
	return owner == PRODUCERS && dead_pid && kill(dead_pid, 0) != 0;
}

/* A producer killed between reserve and commit, with other records queued
 * behind its own: the consumer with a liveness check skips it; one
 * without waits until the reclaimer abandons the dead owner's records. */
static void run_dead_producer(bool use_dead_fn)
{
	uint64_t bytes;
	void *ring = region(256 * 64, &bytes);
	int pipefd[2];
	cr_assert_eq(pipe(pipefd), 0);
	pid_t victim = fork();
	cr_assert_geq(victim, 0);
	if (victim == 0) {
		struct hl_ring_resv r;
		if (hl_ring_mpsc_reserve(ring, PRODUCERS, 200, &r))
			_exit(4);
		memset(r.payload, 0xee, 100);  /* half written */
		(void)!write(pipefd[1], "x", 1);
		raise(SIGKILL);
		_exit(5);
	}
	char c;
	cr_assert_eq(read(pipefd[0], &c, 1), 1);
	int st;
	cr_assert_eq(waitpid(victim, &st, 0), victim);
	cr_assert(WIFSIGNALED(st));
	dead_pid = victim;
	for (uint32_t seq = 0; seq < 50; seq++)   /* queued behind it */
		push_retry(ring, 0, seq);
	struct seen s = {0};
	if (use_dead_fn) {
		cr_assert_eq(hl_ring_mpsc_consume(ring, check, &s, owner_dead, NULL,
						  1000), 50);
	} else {
		cr_assert_eq(hl_ring_mpsc_consume(ring, check, &s, NULL, NULL, 1000),
			     0, "waits on the claimed record");
		cr_assert_eq(hl_ring_mpsc_abandon(ring, 1), 0, "not owner 1's");
		cr_assert_eq(hl_ring_mpsc_abandon(ring, PRODUCERS), 1);
		cr_assert_eq(hl_ring_mpsc_consume(ring, check, &s, NULL, NULL, 1000),
			     50);
	}
	cr_assert_eq(s.bad, 0, "%s", s.why);
	cr_assert_eq(s.next[0], 50);
	cr_assert_eq(hl_ring_mpsc_used(ring), 0);
	close(pipefd[0]);
	close(pipefd[1]);
	munmap(ring, bytes);
}

Test(ring_mpsc, a_producer_killed_mid_write_is_skipped_when_seen_dead)
{
	run_dead_producer(true);
}

Test(ring_mpsc, a_producer_killed_mid_write_is_released_by_abandon)
{
	run_dead_producer(false);
}

static pid_t victims[2];

static bool victim_dead(void *ctx, uint32_t owner)
{
	(void)ctx;
	return owner < 2 && victims[owner] && kill(victims[owner], 0) != 0;
}

/* Two producers killed with SIGKILL at random moments, many times (so
 * some die between their claiming CAS and their tail CAS, some mid-copy):
 * the consumer always drains the ring, each producer's records come out
 * as a gapless run in order, and the ring goes on taking records. */
Test(ring_mpsc, producers_killed_at_random_points_never_wedge_it, .timeout = 120)
{
	uint64_t bytes;
	void *ring = region(128 * 64, &bytes);
	struct seen s = {0};
	unsigned seed = 12345;
	for (int it = 0; it < 60; it++) {
		for (int o = 0; o < 2; o++) {
			victims[o] = fork();
			cr_assert_geq(victims[o], 0);
			if (victims[o] == 0) {
				for (uint32_t seq = s.next[o];; seq++)
					push_retry(ring, (uint32_t)o, seq);
			}
		}
		seed = seed * 1103515245u + 12345u;
		usleep(200 + (seed >> 16) % 1500);
		for (int o = 0; o < 2; o++) {
			kill(victims[o], SIGKILL);
			waitpid(victims[o], NULL, 0);
		}
		/* Drain: everything committed comes out, the rest is skipped. */
		while (hl_ring_mpsc_consume(ring, check, &s, victim_dead, NULL, 1000) > 0)
			;
		cr_assert_eq(s.bad, 0, "iteration %d: %s", it, s.why);
		cr_assert_eq(hl_ring_mpsc_used(ring), 0, "iteration %d: not drained",
			     it);
		victims[0] = victims[1] = 0;
	}
	/* Still usable. */
	push_retry(ring, 0, s.next[0]);
	cr_assert_eq(hl_ring_mpsc_consume(ring, check, &s, NULL, NULL, 10), 1);
	cr_assert_eq(s.bad, 0, "%s", s.why);
	cr_assert_gt(s.total, 1000u, "the producers got to push");
	munmap(ring, bytes);
}

static bool owner7_dead(void *ctx, uint32_t owner)
{
	(void)ctx;
	return owner == 7;
}

/* The narrowest death: a producer that won its claiming CAS and died
 * before its tail CAS. Made by hand: reserve, then put tail back where it
 * was (the tail word is at byte 64 of the region, ring_mpsc.c). Alone in
 * the ring, nobody else helps tail along; the consumer skipping the dead
 * record must, or tail would trail head and every later reserve fail. */
Test(ring_mpsc, a_producer_dead_between_its_two_cas_stops_nobody)
{
	uint64_t bytes;
	unsigned char *ring = region(64 * 64, &bytes);
	struct hl_ring_resv r;
	uint64_t t0;
	memcpy(&t0, ring + 64, 8);
	cr_assert_eq(hl_ring_mpsc_reserve(ring, 7, 100, &r), 0);
	memcpy(ring + 64, &t0, 8);             /* its tail CAS never happened */
	struct seen s = {0};
	cr_assert_eq(hl_ring_mpsc_consume(ring, check, &s, owner7_dead, NULL, 10), 0);
	cr_assert_eq(hl_ring_mpsc_used(ring), 0);
	for (uint32_t seq = 0; seq < 200; seq++) {
		unsigned char b[512];
		rec_fill(b, 0, seq);
		cr_assert_eq(hl_ring_mpsc_push(ring, 0, b, rec_len(seq)), 0,
			     "push %u after the dead claim", seq);
		cr_assert_eq(hl_ring_mpsc_consume(ring, check, &s, NULL, NULL, 10), 1);
	}
	cr_assert_eq(s.bad, 0, "%s", s.why);
	munmap(ring, bytes);
}

/* A consumer that died after freeing a record's units but before moving
 * head (made by hand: consume, then put head back; the head word is at
 * byte 128 of the region). The next consumer neither delivers the record
 * again nor stalls on it. */
Test(ring_mpsc, a_consumer_dead_before_moving_head_is_taken_over)
{
	uint64_t bytes;
	unsigned char *ring = region(64 * 64, &bytes);
	struct seen s = {0};
	unsigned char b[512];
	for (uint32_t seq = 0; seq < 3; seq++) {
		rec_fill(b, 0, seq);
		cr_assert_eq(hl_ring_mpsc_push(ring, 0, b, rec_len(seq)), 0);
	}
	uint64_t h0;
	memcpy(&h0, ring + 128, 8);
	cr_assert_eq(hl_ring_mpsc_consume(ring, check, &s, NULL, NULL, 1), 1);
	memcpy(ring + 128, &h0, 8);            /* died before the head store */
	cr_assert_eq(hl_ring_mpsc_consume(ring, check, &s, NULL, NULL, 10), 2,
		     "records 1 and 2, not record 0 again");
	cr_assert_eq(s.bad, 0, "%s", s.why);
	cr_assert_eq(s.total, 3);
	cr_assert_eq(hl_ring_mpsc_used(ring), 0);
	rec_fill(b, 0, 3);
	cr_assert_eq(hl_ring_mpsc_push(ring, 0, b, rec_len(3)), 0);
	cr_assert_eq(hl_ring_mpsc_consume(ring, check, &s, NULL, NULL, 10), 1);
	munmap(ring, bytes);
}
