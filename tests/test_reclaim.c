/*
 * test_reclaim.c - the slots of processes killed with SIGKILL, reclaimed:
 * what a dead owner leaves behind comes back, exactly once, whoever is
 * killed while taking it back.
 *
 * The promise under test (slots.c invariants; DESIGN.md, "a worker killed
 * mid-operation blocks nobody"):
 *
 *  1. a dead owner's partly used slabs are not lost: when its slot is
 *     reclaimed, the unused tails go back to the heap (slots.c invariant
 *     3), and the next process to allocate - here the slot's next owner -
 *     gets its nodes from exactly there, with no new slab taken, whether
 *     the owner died idle or in the middle of a commit;
 *  2. a process killed while it reclaims (an attach into a full table of
 *     dead slots) leaves nothing handed out twice: the heap stays
 *     consistent and the half-reclaimed slots are reclaimed again;
 *  3. a reaper stopped between the steps of a reclaim does not lose its
 *     slot to another, even when its pid is the dead owner's, recycled (the
 *     last test found that bug; slots.c now records the owner word its
 *     start time belongs to).
 *
 * The SIGKILL rounds of writers killed mid-commit, and the slot reuse they
 * imply, are test_kill.c; the helpers both use are kill_util.h.
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

TestSuite(reclaim, .fini = tu_unlink_all);

#define SUITE "reclaim"
#define WAIT_NS (30ull * 1000 * 1000 * 1000) /* bounded waits on children */

/* ---- a dead owner's slabs, reused -------------------------------------- */

struct heir_page {
	_Atomic int phase;   /* 1: the first owner committed at least once */
	_Atomic int slot;
	_Atomic uint32_t commits;
	hl_id ids[64];
	hl_id heir_id;
	struct child_report rep[2];
};

/* State of `chunks` 4 KiB chunks, each a generation of its own (base + j),
 * so every chunk is a new leaf. */
static void heir_fill(uint32_t base, uint32_t chunks, unsigned char *buf)
{
	for (uint32_t j = 0; j < chunks; j++)
		tu_pattern_fill(buf + (uint64_t)j * 4096, (uint64_t)j * 4096,
				4096, base + j);
}

/* The first owner: commits states of 5 fresh leaves (one, or up to 64 in a
 * loop, which the kill interrupts), recording each, then waits to be
 * killed. */
static int heir_first(const char *name, struct heir_page *hp, bool loop)
{
	static unsigned char buf[5 * 4096];
	hl_arena *a;
	int rc = hl_arena_attach(name, 0, &a);
	if (rc)
		CHILD_FAIL(&hp->rep[0], 3, rc);
	atomic_store(&hp->slot, hl_arena_slot(a));
	for (uint32_t n = 0; n < (loop ? 64u : 1u); n++) {
		hl_id id;
		heir_fill(1000 + n * 8, 5, buf);
		if ((rc = commit_fresh(a, buf, sizeof buf, &id)))
			CHILD_FAIL(&hp->rep[0], 4, rc);
		hp->ids[n] = id;
		atomic_store(&hp->commits, n + 1);
		atomic_store(&hp->phase, 1);
	}
	for (;;)
		pause();
}

/* The heir: takes the dead owner's slot over (there is no other) and
 * commits 3 fresh leaves. */
static int heir_second(const char *name, struct heir_page *hp, hl_id *out)
{
	static unsigned char buf[3 * 4096];
	hl_arena *a;
	hl_commit_info info;
	int rc = hl_arena_attach(name, 0, &a);
	if (rc)
		CHILD_FAIL(&hp->rep[1], 3, rc);
	if (hl_arena_slot(a) != atomic_load(&hp->slot))
		CHILD_FAIL(&hp->rep[1], 4, hl_arena_slot(a));
	heir_fill(5000, 3, buf);
	hl_state *s;
	if ((rc = hl_state_new(a, &s)) ||
	    (rc = hl_state_resize(s, sizeof buf)) ||
	    (rc = hl_state_write(s, 0, buf, sizeof buf)) ||
	    (rc = hl_commit(s, out, &info)))
		CHILD_FAIL(&hp->rep[1], 5, rc);
	/* 3 leaves, the inner node above them, the root */
	if (info.new_nodes != 5)
		CHILD_FAIL(&hp->rep[1], 6, (int)info.new_nodes);
	hl_state_free(s);
	hl_arena_close(a);
	return 0;
}

/* Offsets of the heir's nodes, by class: 3 leaves, 1 inner, 1 root. */
static void heir_nodes(hl_arena *a, hl_id id, uint64_t off[3][3])
{
	unsigned char buf[4096];
	for (uint32_t j = 0; j < 3; j++) {
		tu_pattern_fill(buf, (uint64_t)j * 4096, 4096, 5000 + j);
		cr_assert_eq(hl_index_lookup(a, hl_hash_leaf(buf, 4096),
					     &off[0][j]), 0, "leaf %u", j);
	}
	cr_assert_eq(hl_index_lookup(a, id, &off[2][0]), 0);
	const struct hl_node *root = hl_node_at(a, off[2][0]);
	const struct hl_root_payload *rp = (const void *)root->payload;
	off[1][0] = rp->top_off;
	cr_assert_eq(hl_node_at(a, off[1][0])->kind, HL_NODE_INNER);
}

static void reuse_dead_slabs(bool kill_mid_commit)
{
	hl_config cfg;
	tu_config_small(&cfg, 32ull << 20, 4096);
	cfg.max_processes = 2; /* the parent and one other: the dead one's */
	const char *name = tu_arena_name(SUITE);
	hl_arena *a = tu_arena_create_cfg(name, &cfg);
	struct heir_page *hp = tu_shared_map(sizeof *hp);
	atomic_store(&hp->slot, -1);

	pid_t first = tu_fork();
	if (first == 0)
		_exit(heir_first(name, hp, kill_mid_commit));
	uint64_t deadline = tu_now_ns() + WAIT_NS;
	while (atomic_load(&hp->phase) == 0) {
		cr_assert_lt(tu_now_ns(), deadline, "first owner stuck (line %d)",
			     atomic_load(&hp->rep[0].line));
		sched_yield();
	}
	if (kill_mid_commit)
		tu_sleep_us(200);
	kill(first, SIGKILL);
	reap_killed(first, &hp->rep[0], 0);

	/* the first owner is dead: seen, counted, its slabs still its own */
	int slot = atomic_load(&hp->slot);
	cr_assert(slot >= 0 && slot != hl_arena_slot(a));
	cr_assert(hl_slot_is_dead(a, (uint32_t)slot));
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.processes, 1);
	cr_assert_eq(st.processes_dead, 1);
	tu_assert_arena_ok(a, "with a dead owner's slot");
	const struct hl_slot *sl = hl_slot_at(a, (uint32_t)slot);
	const unsigned cls[3] = {a->class_leaf, a->class_inner, a->class_root};
	const uint64_t need[3] = {3, 1, 1}; /* what the heir will allocate */
	struct hl_slab_cursor before[3];
	for (int c = 0; c < 3; c++)
		before[c] = sl->slab[cls[c]];
	uint64_t heap_used = st.heap_used_bytes;

	/* the heir attaches, which reclaims the slot, and commits */
	pid_t heir = tu_fork();
	if (heir == 0)
		_exit(heir_second(name, hp, &hp->heir_id));
	reap_ok(heir, &hp->rep[1], "heir");

	tu_assert_arena_ok(a, "after the heir");
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.processes, 1);
	cr_assert_eq(st.processes_dead, 0);
	cr_assert(!hl_slot_is_dead(a, (uint32_t)slot));

	/* its nodes came out of the unused tails of the dead owner's slabs */
	uint64_t off[3][3];
	heir_nodes(a, hp->heir_id, off);
	bool all_fit = true;
	for (int c = 0; c < 3; c++) {
		uint64_t size = a->hdr->class_bytes[cls[c]];
		if (before[c].cur == 0 ||
		    before[c].end - before[c].cur < need[c] * size) {
			/* killed inside cursor_set, or a full slab: only then may
			 * the heir need a slab of its own */
			cr_assert(kill_mid_commit, "class %u: the first owner had "
				  "no room left", cls[c]);
			all_fit = false;
			continue;
		}
		for (uint64_t k = 0; k < need[c]; k++)
			cr_assert(off[c][k] >= before[c].cur &&
					  off[c][k] < before[c].end,
				  "class %u node %llu at %llu: not from the dead "
				  "owner's slab tail [%llu, %llu)", cls[c],
				  (unsigned long long)k,
				  (unsigned long long)off[c][k],
				  (unsigned long long)before[c].cur,
				  (unsigned long long)before[c].end);
	}
	if (all_fit)
		cr_assert_eq(st.heap_used_bytes, heap_used, "a new slab was taken");

	/* both owners' snapshots read back */
	unsigned char *want = malloc(5 * 4096), *tmp = malloc(5 * 4096);
	cr_assert(want && tmp);
	hl_state *v;
	cr_assert_eq(hl_state_new(a, &v), 0);
	uint32_t commits = atomic_load(&hp->commits);
	cr_assert_gt(commits, 0);
	for (uint32_t n = 0; n < commits; n++) {
		heir_fill(1000 + n * 8, 5, want);
		cr_assert(restore_equals(v, hp->ids[n], want, 5 * 4096, tmp),
			  "first owner's commit %u", n);
	}
	heir_fill(5000, 3, want);
	cr_assert(restore_equals(v, hp->heir_id, want, 3 * 4096, tmp));
	hl_state_free(v);
	free(want);
	free(tmp);
	tu_shared_unmap(hp, sizeof *hp);
	hl_arena_close(a);
	hl_arena_unlink(name);
}

Test(reclaim, dead_owners_slab_tails_are_reused, .timeout = 60)
{
	reuse_dead_slabs(false);
}

Test(reclaim, dead_owners_slab_tails_reused_after_kill_mid_commit,
     .timeout = 60)
{
	for (int i = 0; i < 8; i++)
		reuse_dead_slabs(true);
}

/* ---- attachers killed while they reclaim --------------------------------
 *
 * An attach that finds the table full reclaims every dead slot, and a
 * reclaim hands the dead owner's slab tails back to the free lists, one
 * push per object: with 64-byte chunks, thousands of pushes. Kill the
 * attacher at random moments in that work, many times: whatever it had
 * done, the heap's free lists and cursors stay consistent, the half-
 * reclaimed slots are reclaimed again, and everything handed out
 * afterwards is handed out once (the commits read back).
 */
#define RECLAIM_ITERS 120

struct reclaim_page {
	_Atomic int ready[KMAXP];
	_Atomic int starting;        /* the attacher is about to attach */
	_Atomic int attached;
	_Atomic uint64_t attach_ns;  /* how long its attach took */
};

#define RECLAIM_CALIBRATE 5 /* first iterations: let the attach finish */

/* Attaches, commits one state of 20 leaves (so its slabs have long unused
 * tails), reports, and waits to die. */
static void dier_main(const char *name, struct reclaim_page *rp, int i,
		      uint32_t iter)
{
	unsigned char buf[20 * 64];
	hl_arena *a;
	hl_id id;
	if (hl_arena_attach(name, 0, &a) != 0)
		_exit(3);
	tu_pattern_fill(buf, 0, sizeof buf, iter * 8 + (uint32_t)i);
	if (commit_fresh(a, buf, sizeof buf, &id) != 0)
		_exit(4);
	atomic_store(&rp->ready[i], 1);
	for (;;)
		pause();
}

static void spin_us(uint64_t us)
{
	uint64_t end = tu_now_ns() + us * 1000;
	while (tu_now_ns() < end)
		;
}

Test(reclaim, attachers_killed_while_reclaiming, .timeout = 120)
{
	struct reclaim_page *rp = tu_shared_map(sizeof *rp);
	struct tu_rng rng;
	tu_rng_seed(&rng, 0x7265636c);
	unsigned attached = 0;
	uint64_t attach_us = UINT64_MAX; /* the quickest calibration attach */
	for (uint32_t it = 0; it < RECLAIM_ITERS; it++) {
		hl_config cfg;
		tu_config_small(&cfg, 8ull << 20, 64);
		cfg.max_processes = KMAXP;
		const char *name = tu_arena_name(SUITE);
		hl_arena *a = tu_arena_create_cfg(name, &cfg);

		/* three processes die holding slots with long slab tails */
		pid_t d[KMAXP - 1];
		for (int i = 0; i < KMAXP - 1; i++) {
			atomic_store(&rp->ready[i], 0);
			d[i] = tu_fork();
			if (d[i] == 0)
				dier_main(name, rp, i, it);
		}
		uint64_t deadline = tu_now_ns() + WAIT_NS;
		for (int i = 0; i < KMAXP - 1; i++)
			while (!atomic_load(&rp->ready[i]))
				cr_assert_lt(tu_now_ns(), deadline, "dier %d", i);
		for (int i = 0; i < KMAXP - 1; i++) {
			kill(d[i], SIGKILL);
			reap_killed(d[i], &(struct child_report){0}, i);
		}

		/* an attacher must reclaim them; it dies somewhere in that */
		atomic_store(&rp->starting, 0);
		atomic_store(&rp->attached, 0);
		pid_t r = tu_fork();
		if (r == 0) {
			hl_arena *c;
			atomic_store(&rp->starting, 1);
			uint64_t t0 = tu_now_ns();
			if (hl_arena_attach(name, 0, &c) == 0) {
				atomic_store(&rp->attach_ns, tu_now_ns() - t0);
				atomic_store(&rp->attached, 1);
			}
			for (;;)
				pause();
		}
		deadline = tu_now_ns() + WAIT_NS;
		while (!atomic_load(&rp->starting))
			cr_assert_lt(tu_now_ns(), deadline, "attacher never ran");
		if (it < RECLAIM_CALIBRATE) {
			/* learn how long an attach that reclaims takes here */
			while (!atomic_load(&rp->attached))
				cr_assert_lt(tu_now_ns(), deadline, "attach hangs");
			uint64_t us = atomic_load(&rp->attach_ns) / 1000 + 1;
			attach_us = us < attach_us ? us : attach_us;
		} else {
			/* then kill at a random point of it (or just after) */
			spin_us(tu_rng_below(&rng, attach_us + attach_us / 4 + 1));
		}
		kill(r, SIGKILL);
		tu_reap(r);
		attached += atomic_load(&rp->attached);

		char when[64];
		snprintf(when, sizeof when, "attacher killed, iteration %u", it);
		tu_assert_arena_ok(a, when);
		/* what is still dead (or half reclaimed) is reclaimed now. In
		 * about one full-suite run in three on a loaded 2-core box, a
		 * slot of this iteration's (reaped) children still read as held
		 * by a live pid for a moment; it was never reproduced alone,
		 * and it is not understood (a recycled pid would explain it, but
		 * pids here wrap only every 32768 forks). So the reclaim is
		 * retried, for up to 100 ms, until no slot but the test's own
		 * reads either live or dead: breaking off once only the test's
		 * read live let a slot that a try found live and the count just
		 * after found dead fail this test (processes 1, processes_dead
		 * 1). A slot that stays held still fails it, and names itself. */
		hl_stats st;
		for (int tries = 0; tries < 100; tries++) {
			for (uint32_t i = 0; i < KMAXP; i++)
				hl_slot_reclaim_if_dead(a, i);
			cr_assert_eq(hl_arena_stats(a, &st), 0);
			if (st.processes == 1 && st.processes_dead == 0)
				break;
			tu_sleep_us(1000);
		}
		if (st.processes != 1 || st.processes_dead != 0)
			for (uint32_t i = 0; i < KMAXP; i++) {
				hl_process_info pi;
				hl_arena_process(a, i, &pi);
				fprintf(stderr, "iteration %u slot %u: pid %u state %u role %u "
					"(the test %d, the attacher %d)\n", it, i, pi.pid,
					pi.state, pi.role, (int)getpid(), (int)r);
			}
		cr_assert_eq(st.processes, 1);
		cr_assert_eq(st.processes_dead, 0);
		tu_assert_arena_ok(a, when);

		/* the returned objects are handed out once: commit plenty
		 * (popping the free lists), and all of it reads back */
		unsigned char want[20 * 64], tmp[20 * 64];
		hl_state *v;
		cr_assert_eq(hl_state_new(a, &v), 0);
		hl_id ids[40];
		for (uint32_t n = 0; n < 40; n++) {
			tu_pattern_fill(want, 0, sizeof want, 100000 + n);
			cr_assert_eq(commit_fresh(a, want, sizeof want, &ids[n]), 0);
		}
		for (uint32_t n = 0; n < 40; n++) {
			tu_pattern_fill(want, 0, sizeof want, 100000 + n);
			cr_assert(restore_equals(v, ids[n], want, sizeof want, tmp),
				  "iteration %u: commit %u", it, n);
		}
		for (int i = 0; i < KMAXP - 1; i++) {
			hl_id id;
			tu_pattern_fill(want, 0, sizeof want, it * 8 + (uint32_t)i);
			cr_assert_eq(commit_fresh(a, want, sizeof want, &id), 0);
			cr_assert(restore_equals(v, id, want, sizeof want, tmp));
		}
		hl_state_free(v);
		tu_assert_arena_ok(a, when);
		hl_arena_close(a);
		hl_arena_unlink(name);
		tu_name_count = 0; /* unlinked already: reuse the name table */
	}
	cr_log_info("reclaim kills: attach takes from %llu us; the attacher got "
		    "through %u of %u times", (unsigned long long)attach_us,
		    attached, RECLAIM_ITERS);
	tu_shared_unmap(rp, sizeof *rp);
}

/* ---- a reaper caught in the middle of a reclaim ---------------------------
 *
 * hl_slot_reclaim_if_dead takes a dead process's slot in steps: a CAS of
 * the owner word from G:dead to G+1:reaper, a store of state FREE, the
 * release of the slot's slab tails, and a plain store of owner G+1:0.
 * Between the CAS and the state store (a preemption is enough) the slot
 * holds a live reaper's pid, state LIVE and the dead owner's start time.
 * Before 625dc66 hl_slot_is_dead read that as "pid recycled", so a second
 * reaper took the slot over, it was claimed again, and then the first
 * reaper's plain store freed it under its new owner: two live processes
 * on one slot, bumping one set of slab cursors. This test stops a reaper
 * (itself)
 * right after the CAS, done exactly as slots.c does it, lets other
 * processes attach, then finishes the reclaim as slots.c would; it asserts
 * what the slot protocol promises: a slot held by a live process is not
 * judged dead nor taken, and no two live processes ever hold one slot
 * (they would bump the same slab cursors).
 */
struct transit_page {
	_Atomic int slot[3];
};

/* Attaches, reports its slot (or 1000 - rc), waits to be killed. */
static void transit_child(const char *name, struct transit_page *tp, int who)
{
	hl_arena *c;
	int rc = hl_arena_attach(name, 0, &c);
	atomic_store(&tp->slot[who], rc ? 1000 - rc : hl_arena_slot(c));
	for (;;)
		pause();
}

static int transit_spawn(const char *name, struct transit_page *tp, int who,
			 pid_t *pid)
{
	atomic_store(&tp->slot[who], -1);
	*pid = tu_fork();
	if (*pid == 0)
		transit_child(name, tp, who);
	uint64_t deadline = tu_now_ns() + WAIT_NS;
	while (atomic_load(&tp->slot[who]) < 0 && tu_now_ns() < deadline)
		sched_yield();
	return atomic_load(&tp->slot[who]);
}

Test(reclaim, reaper_mid_reclaim_is_not_dead, .timeout = 60)
{
	hl_config cfg;
	tu_config_small(&cfg, 4ull << 20, 64);
	cfg.max_processes = 2;
	const char *name = tu_arena_name(SUITE);
	hl_arena *a = tu_arena_create_cfg(name, &cfg);
	struct transit_page *tp = tu_shared_map(sizeof *tp);

	/* D attaches to slot 1 and dies there */
	pid_t d;
	int slot = transit_spawn(name, tp, 0, &d);
	cr_assert_eq(slot, 1);
	kill(d, SIGKILL);
	waitpid(d, NULL, 0);
	cr_assert(hl_slot_is_dead(a, 1));

	/* we reap it, and stop right after the winning CAS */
	struct hl_slot *s = hl_slot_at(a, 1);
	uint64_t w = atomic_load(&s->owner);
	uint64_t ours = HL_OWNER_WORD(HL_OWNER_GEN(w) + 1, getpid());
	cr_assert(atomic_compare_exchange_strong(&s->owner, &w, ours));

	/* the slot is ours now, and we are alive */
	cr_expect(!hl_slot_is_dead(a, 1),
		  "a slot held by a live reaper mid-reclaim is judged dead");

	/* so another process must find the table full, not take the slot */
	pid_t r2;
	int got2 = transit_spawn(name, tp, 1, &r2);
	cr_expect_eq(got2, 1000 - HL_EFULL,
		     "attach took a slot a live reaper holds (got %d)", got2);

	/* the reaper resumes: the rest of hl_slot_reclaim_if_dead */
	atomic_store(&s->state, HL_SLOT_FREE);
	hl_heap_release_cursors(a, s);
	atomic_store(&s->owner, HL_OWNER_WORD(HL_OWNER_GEN(ours), 0));

	/* a third process attaches: it must not share a slot with a live one */
	pid_t r3;
	int got3 = transit_spawn(name, tp, 2, &r3);
	cr_expect(!(got2 == 1 && got3 == 1),
		  "two live processes (%d and %d) both hold slot 1", (int)r2,
		  (int)r3);
	kill(r2, SIGKILL);
	kill(r3, SIGKILL);
	waitpid(r2, NULL, 0);
	waitpid(r3, NULL, 0);
	tu_shared_unmap(tp, sizeof *tp);
	hl_arena_close(a);
}

/* The same stop, when the reaper's pid is the dead owner's, recycled. Pids
 * wrap (pid_max is 32768 on many systems), so the process that reaps a dead
 * slot may carry the dead owner's pid; only the start time tells them
 * apart. The test recycles the pid for real (ns_last_pid; skipped where it
 * is not writable) and stops that process's reclaim after its CAS, which
 * changes nothing in the owner word but the generation.
 *
 * Fails as of 625dc66: the slot's start_pid is the reaper's pid too, so
 * hl_slot_is_dead trusts the dead owner's start time, finds the reaper's
 * differs, and calls the live reaper dead; an attach then takes its slot.
 * Recording the whole owner word (generation and pid) that start_time was
 * read for, instead of the pid alone, closes it: every takeover bumps the
 * generation, so a reaper's slot is always "in transition". */
static pid_t fork_with_pid(pid_t want)
{
	for (int tries = 0; tries < 50; tries++) {
		FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "w");
		if (!f)
			return -1;
		fprintf(f, "%d", (int)want - 1);
		if (fclose(f) != 0)
			return -1;
		pid_t pid = tu_fork();
		if (pid == 0) {
			for (;;)
				pause(); /* a live process with the dead one's pid */
		}
		if (pid == want)
			return pid;
		kill(pid, SIGKILL); /* another fork got in first: again */
		waitpid(pid, NULL, 0);
	}
	return -1;
}

Test(reclaim, reaper_with_the_dead_owners_pid_is_not_dead, .timeout = 60)
{
	hl_config cfg;
	tu_config_small(&cfg, 4ull << 20, 64);
	cfg.max_processes = 2;
	const char *name = tu_arena_name(SUITE);
	hl_arena *a = tu_arena_create_cfg(name, &cfg);
	struct transit_page *tp = tu_shared_map(sizeof *tp);

	pid_t d;
	cr_assert_eq(transit_spawn(name, tp, 0, &d), 1);
	/* start times count clock ticks (10 ms): let C start a tick later */
	tu_sleep_us(30 * 1000);
	kill(d, SIGKILL);
	waitpid(d, NULL, 0);
	pid_t c = fork_with_pid(d);
	if (c < 0) {
		hl_arena_close(a);
		cr_skip_test("cannot recycle a pid here (ns_last_pid)");
	}
	/* D is gone; a live process has its pid and another start time */
	cr_assert(hl_slot_is_dead(a, 1));

	/* C reaps D's slot, and stops right after the winning CAS */
	struct hl_slot *s = hl_slot_at(a, 1);
	uint64_t w = atomic_load(&s->owner);
	cr_assert_eq(HL_OWNER_PID(w), (uint32_t)c);
	uint64_t ours = HL_OWNER_WORD(HL_OWNER_GEN(w) + 1, c);
	cr_assert(atomic_compare_exchange_strong(&s->owner, &w, ours));
	cr_expect(!hl_slot_is_dead(a, 1), "a live reaper mid-reclaim, whose pid "
		  "was the dead owner's, is judged dead");
	pid_t r2;
	int got2 = transit_spawn(name, tp, 1, &r2);
	cr_expect_eq(got2, 1000 - HL_EFULL,
		     "attach took a slot a live reaper holds (got %d)", got2);

	/* C resumes: the rest of hl_slot_reclaim_if_dead */
	atomic_store(&s->state, HL_SLOT_FREE);
	hl_heap_release_cursors(a, s);
	atomic_store(&s->owner, HL_OWNER_WORD(HL_OWNER_GEN(ours), 0));
	kill(r2, SIGKILL);
	kill(c, SIGKILL);
	waitpid(r2, NULL, 0);
	waitpid(c, NULL, 0);
	tu_shared_unmap(tp, sizeof *tp);
	hl_arena_close(a);
}

/* ---- prompt return of dead processes' slabs (issue 8 item 5) ------------ */

#define BIG_CHUNK (1u << 20)

struct full_page {
	hl_id ids[16];
	struct child_report rep[16];
};

/* Attaches, commits a 2-chunk state of generation gen, and exits without
 * closing: the slot and its slabs' tails stay with the dead pid. */
static int big_child(const char *name, struct full_page *fp, int i)
{
	static unsigned char buf[2 * BIG_CHUNK];
	hl_arena *a;
	hl_state *s;
	int rc = hl_arena_attach(name, 0, &a);
	if (rc)
		CHILD_FAIL(&fp->rep[i], 2, rc);
	tu_pattern_fill(buf, 0, sizeof buf, 70 + (uint32_t)i);
	if ((rc = hl_state_new(a, &s)) || (rc = hl_state_resize(s, sizeof buf)) ||
	    (rc = hl_state_write(s, 0, buf, sizeof buf)) ||
	    (rc = hl_commit(s, &fp->ids[i], NULL)))
		CHILD_FAIL(&fp->rep[i], 3, rc);
	return 0;
}

/* Processes that die holding most of a 1 MiB-chunk leaf slab each fill the
 * heap with dead slabs; a commit that then needs a new slab must get one
 * of their tails back (the heap reclaims dead slots when it is full)
 * instead of HL_EFULL. Before, only a full slot table reclaimed them. */
Test(reclaim, dead_processes_slabs_come_back_when_the_heap_is_full,
     .timeout = 60)
{
	hl_config c;
	tu_config_small(&c, 160ull << 20, BIG_CHUNK);
	const char *name = tu_arena_name(SUITE);
	hl_arena *a = tu_arena_create_cfg(name, &c);
	uint64_t leaf_slab = a->hdr->class_slab_bytes[a->class_leaf];
	int n = (int)(a->hdr->regions[HL_REGION_HEAP].bytes / leaf_slab);
	cr_assert(n >= 2 && n <= 16, "%d leaf slabs", n);
	struct full_page *fp = tu_shared_map(sizeof *fp);
	for (int i = 0; i < n; i++) {
		pid_t pid = tu_fork();
		if (pid == 0)
			_exit(big_child(name, fp, i));
		int st;
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "child %d: exit %d at line %d: %s", i, WEXITSTATUS(st),
			  atomic_load(&fp->rep[i].line),
			  hl_strerror(atomic_load(&fp->rep[i].rc)));
	}
	hl_stats st;
	hl_arena_stats(a, &st);
	cr_assert_eq(st.processes_dead, (uint64_t)n, "the children hold their slots");
	/* every leaf slab is taken by a dead process: ours must come back */
	static unsigned char buf[2 * BIG_CHUNK];
	hl_state *s;
	hl_id mine;
	tu_pattern_fill(buf, 0, sizeof buf, 99);
	cr_assert_eq(hl_state_new(a, &s), 0);
	cr_assert_eq(hl_state_resize(s, sizeof buf), 0);
	cr_assert_eq(hl_state_write(s, 0, buf, sizeof buf), 0);
	int rc = hl_commit(s, &mine, NULL);
	cr_assert_eq(rc, 0, "commit with the heap held by dead processes: %s",
		     hl_strerror(rc));
	hl_arena_stats(a, &st);
	cr_assert_eq(st.processes_dead, 0, "the dead were reclaimed");
	for (int i = 0; i <= n; i++) {
		hl_id id = i < n ? fp->ids[i] : mine;
		uint32_t gen = i < n ? 70 + (uint32_t)i : 99;
		cr_assert_eq(hl_restore(s, id), 0);
		cr_assert_eq(hl_state_read(s, 0, buf, sizeof buf), 0);
		cr_assert_eq(tu_pattern_check(buf, 0, sizeof buf, gen), -1,
			     "snapshot %d: wrong bytes", i);
	}
	tu_assert_arena_ok(a, "after reclaiming when full");
	hl_state_free(s);
	tu_shared_unmap(fp, sizeof *fp);
	hl_arena_close(a);
}
