/*
 * test_slots.c - process slots: claim and release, the generation in the
 * owner word, dead-owner detection (exit without close, pid checks) and
 * reclamation, and counters that survive their owner.
 */
#include <signal.h>
#include <sys/wait.h>

#include "testutil.h"
#include "shm.h"

TestSuite(slots, .fini = tu_unlink_all);

/* Forks a child that attaches, optionally commits, and exits without
 * closing: its slot stays held by a dead pid. Returns the slot index. */
static int child_dies_holding_a_slot(const char *name, bool commit)
{
	int pipefd[2];
	cr_assert_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		hl_arena *a;
		if (hl_arena_attach(name, 0, &a))
			_exit(2);
		if (commit) {
			hl_state *s;
			hl_id id;
			hl_state_new(a, &s);
			hl_state_resize(s, 5000);
			hl_state_write(s, 0, "dead", 4);
			if (hl_commit(s, &id, NULL))
				_exit(3);
		}
		int slot = hl_arena_slot(a);
		if (write(pipefd[1], &slot, sizeof slot) != sizeof slot)
			_exit(4);
		_exit(0); /* no hl_arena_close: the slot is left behind */
	}
	int slot = -1, status;
	cr_assert_eq(read(pipefd[0], &slot, sizeof slot), sizeof slot);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(pipefd[0]);
	close(pipefd[1]);
	return slot;
}

Test(slots, a_claimed_slot_names_its_owner)
{
	hl_arena *a = tu_arena_new("slots", 8 << 20, 4096, NULL);
	struct hl_slot *s = hl_slot_at(a, (uint32_t)hl_arena_slot(a));
	uint64_t w = atomic_load(&s->owner);
	cr_assert_eq(HL_OWNER_PID(w), (uint32_t)getpid());
	cr_assert_eq(HL_OWNER_GEN(w), 1);
	cr_assert_eq(atomic_load(&s->state), HL_SLOT_LIVE);
	cr_assert_eq(s->start_time, hl_proc_start_time(getpid()));
	cr_assert_neq(s->start_time, 0);
	cr_assert_not(hl_slot_is_dead(a, (uint32_t)hl_arena_slot(a)));
	hl_arena_close(a);
}

Test(slots, close_frees_the_slot_and_the_next_claim_bumps_the_generation)
{
	const char *name;
	hl_arena *a = tu_arena_new("slots", 8 << 20, 4096, &name);
	hl_arena *b;
	cr_assert_eq(hl_arena_attach(name, 0, &b), 0);
	int i = hl_arena_slot(b);
	hl_arena_close(b);
	struct hl_slot *s = hl_slot_at(a, (uint32_t)i);
	cr_assert_eq(HL_OWNER_PID(atomic_load(&s->owner)), 0);
	cr_assert_eq(atomic_load(&s->state), HL_SLOT_FREE);
	cr_assert_eq(hl_arena_attach(name, 0, &b), 0);
	cr_assert_eq(hl_arena_slot(b), i, "the freed slot is reused first");
	cr_assert_eq(HL_OWNER_GEN(atomic_load(&s->owner)), 2);
	cr_assert_eq(s->claims, 2);
	hl_arena_close(b);
	hl_arena_close(a);
}

Test(slots, an_owner_that_exited_without_close_is_dead_and_reclaimable)
{
	const char *name;
	hl_arena *a = tu_arena_new("slots", 8 << 20, 4096, &name);
	int i = child_dies_holding_a_slot(name, true);
	cr_assert_neq(i, hl_arena_slot(a));
	cr_assert(hl_slot_is_dead(a, (uint32_t)i));
	hl_stats st;
	hl_arena_stats(a, &st);
	cr_assert_eq(st.processes, 1);
	cr_assert_eq(st.processes_dead, 1);
	cr_assert_eq(st.commits, 1, "counters outlive their owner");
	cr_assert(hl_slot_reclaim_if_dead(a, (uint32_t)i));
	cr_assert_not(hl_slot_reclaim_if_dead(a, (uint32_t)i), "only once");
	cr_assert_not(hl_slot_is_dead(a, (uint32_t)i));
	hl_arena_stats(a, &st);
	cr_assert_eq(st.processes_dead, 0);
	cr_assert_eq(st.commits, 1, "reclaiming keeps the counters");
	tu_assert_arena_ok(a, "after reclaim");
	hl_arena_close(a);
}

Test(slots, a_live_slot_is_never_reclaimed)
{
	const char *name;
	hl_arena *a = tu_arena_new("slots", 8 << 20, 4096, &name);
	hl_arena *b;
	cr_assert_eq(hl_arena_attach(name, 0, &b), 0);
	cr_assert_not(hl_slot_reclaim_if_dead(a, (uint32_t)hl_arena_slot(b)));
	cr_assert_not(hl_slot_reclaim_if_dead(a, 7), "a free slot");
	hl_arena_close(b);
	hl_arena_close(a);
}

Test(slots, a_recycled_pid_is_told_apart_by_its_start_time)
{
	hl_arena *a = tu_arena_new("slots", 8 << 20, 4096, NULL);
	struct hl_slot *s = hl_slot_at(a, (uint32_t)hl_arena_slot(a));
	uint64_t real = s->start_time;
	s->start_time = real + 1; /* as if our pid had been recycled */
	cr_assert(hl_slot_is_dead(a, (uint32_t)hl_arena_slot(a)));
	s->start_time = real;
	cr_assert_not(hl_slot_is_dead(a, (uint32_t)hl_arena_slot(a)));
	hl_arena_close(a);
}

Test(slots, full_table_reclaims_dead_owners_on_attach)
{
	hl_config c;
	tu_config_small(&c, 8 << 20, 4096);
	c.max_processes = 2;
	const char *name = tu_arena_name("slots");
	hl_arena *a = tu_arena_create_cfg(name, &c);
	int i = child_dies_holding_a_slot(name, false);
	cr_assert_eq(i, 1);
	hl_arena *b = NULL, *d = NULL;
	cr_assert_eq(hl_arena_attach(name, 0, &b), 0, "the dead slot is taken");
	cr_assert_eq(hl_arena_slot(b), 1);
	cr_assert_eq(hl_arena_attach(name, 0, &d), HL_EFULL, "both live now");
	cr_assert_null(d);
	hl_arena_close(b);
	cr_assert_eq(hl_arena_attach(name, 0, &d), 0);
	hl_arena_close(d);
	hl_arena_close(a);
}

Test(slots, a_forked_child_closing_an_inherited_handle_leaves_the_slot)
{
	hl_arena *a = tu_arena_new("slots", 8 << 20, 4096, NULL);
	pid_t pid = fork();
	if (pid == 0) {
		hl_arena_close(a); /* unmaps only: the slot is the parent's */
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	struct hl_slot *s = hl_slot_at(a, (uint32_t)hl_arena_slot(a));
	cr_assert_eq(HL_OWNER_PID(atomic_load(&s->owner)), (uint32_t)getpid());
	cr_assert_eq(atomic_load(&s->state), HL_SLOT_LIVE);
	hl_arena_close(a);
}

/* ---- liveness on positive proof only (issue 8 item 1) --------------------- */

#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>

/* A process whose main thread has exited while two threads keep committing
 * through their own handles, as helios.h recommends for parallelism. */
struct leaderless {
	const char *name;
	int to_parent, from_parent;
	_Atomic int stop;
	_Atomic int failed; /* source line of a thread's first failure */
	_Atomic int rc;
	_Atomic int attached;
	pid_t tgid;
};

#define LL_FAIL(ll, err)                                                       \
	do {                                                                   \
		int zero_ = 0;                                                 \
		atomic_compare_exchange_strong(&(ll)->failed, &zero_, __LINE__); \
		atomic_store(&(ll)->rc, (err));                                \
		return NULL;                                                   \
	} while (0)

/* Attaches, then commits and restores until told to stop, checking after
 * every commit that its slot is still its process's. */
static void *ll_committer(void *arg)
{
	struct leaderless *ll = arg;
	hl_arena *a;
	hl_state *s;
	hl_id id;
	int rc = hl_arena_attach(ll->name, 0, &a);
	if (rc)
		LL_FAIL(ll, rc);
	atomic_fetch_add(&ll->attached, 1);
	if ((rc = hl_state_new(a, &s)) || (rc = hl_state_resize(s, 8192)))
		LL_FAIL(ll, rc);
	static _Thread_local unsigned char buf[8192];
	for (uint32_t gen = 0; !atomic_load(&ll->stop); gen++) {
		tu_pattern_fill(buf, 0, sizeof buf, gen);
		if ((rc = hl_state_write(s, 0, buf, sizeof buf)) ||
		    (rc = hl_commit(s, &id, NULL)) || (rc = hl_restore(s, id)) ||
		    (rc = hl_state_read(s, 0, buf, sizeof buf)))
			LL_FAIL(ll, rc);
		if (tu_pattern_check(buf, 0, sizeof buf, gen) != -1)
			LL_FAIL(ll, HL_ECORRUPT);
		uint64_t w = atomic_load(&hl_slot_at(a, (uint32_t)hl_arena_slot(a))->owner);
		if (HL_OWNER_PID(w) != (uint32_t)ll->tgid)
			LL_FAIL(ll, HL_ECORRUPT); /* someone took our slot */
	}
	hl_state_free(s);
	hl_arena_close(a);
	return NULL;
}

/* True once /proc shows our thread group's leader as a zombie. */
static bool leader_is_zombie(pid_t tgid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)tgid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'Z';
}

/* Started by a committer's process after the leader exited: waits for the
 * leader to be a zombie, attaches a third handle (HL_EIO before the fix),
 * tells the parent, waits for its word, then stops everyone and exits with
 * the verdict. */
static void *ll_late(void *arg)
{
	struct leaderless *ll = arg;
	char c = 0;
	while (!leader_is_zombie(ll->tgid))
		usleep(1000);
	pthread_t t;
	pthread_create(&t, NULL, ll_committer, ll);
	while (atomic_load(&ll->attached) < 3 && !atomic_load(&ll->failed))
		usleep(1000);
	c = atomic_load(&ll->failed) ? 'F' : 'B';
	if (write(ll->to_parent, &c, 1) != 1 ||
	    read(ll->from_parent, &c, 1) != 1)
		atomic_store(&ll->failed, -1);
	atomic_store(&ll->stop, 1);
	pthread_join(t, NULL);
	exit(atomic_load(&ll->failed) ? 10 : 0);
}

Test(slots, a_process_whose_main_thread_exited_keeps_its_slots)
{
	hl_config c;
	tu_config_small(&c, 32 << 20, 4096);
	c.max_processes = 4; /* ours, two committers and the late one */
	const char *name = tu_arena_name("slots");
	hl_arena *a = tu_arena_create_cfg(name, &c);
	int up[2], down[2];
	cr_assert_eq(pipe(up), 0);
	cr_assert_eq(pipe(down), 0);
	pid_t pid = tu_fork();
	if (pid == 0) {
		static struct leaderless ll;
		ll.name = name;
		ll.to_parent = up[1];
		ll.from_parent = down[0];
		ll.tgid = getpid();
		pthread_t t1, t2, late;
		pthread_create(&t1, NULL, ll_committer, &ll);
		pthread_create(&t2, NULL, ll_committer, &ll);
		while (atomic_load(&ll.attached) < 2 && !atomic_load(&ll.failed))
			usleep(1000);
		pthread_create(&late, NULL, ll_late, &ll);
		pthread_exit(NULL); /* the leader goes; the process lives on */
	}
	char c1 = 0;
	cr_assert_eq(read(up[0], &c1, 1), 1);
	cr_assert_eq(c1, 'B', "a thread attaching after the main thread exited failed");
	/* every slot is held by a live process: an attach must not steal one */
	for (int i = 0; i < 20; i++) {
		hl_arena *b = NULL;
		int rc = hl_arena_attach(name, 0, &b);
		cr_assert_eq(rc, HL_EFULL, "attach %d took a slot of a live process: %s",
			     i, hl_strerror(rc));
		usleep(2000);
	}
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.processes, 4);
	cr_assert_eq(st.processes_dead, 0);
	for (uint32_t i = 0; i < 4; i++)
		cr_assert(!hl_slot_is_dead(a, i), "slot %u judged dead", i);
	cr_assert_eq(write(down[1], "S", 1), 1);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the committing threads saw a failure (status %d)", status);
	tu_assert_arena_ok(a, "after the leaderless process");
	hl_arena_close(a);
}

Test(slots, a_full_fd_table_does_not_make_a_live_process_dead)
{
	const char *name;
	hl_arena *a = tu_arena_new("slots", 16 << 20, 4096, &name);
	uint32_t mine = (uint32_t)hl_arena_slot(a);
	pid_t pid = tu_fork();
	if (pid == 0) {
		hl_arena *b;
		if (hl_arena_attach(name, 0, &b))
			_exit(2);
		struct rlimit rl = {64, 64};
		if (setrlimit(RLIMIT_NOFILE, &rl))
			_exit(3);
		while (dup(0) >= 0) /* fill the fd table: EMFILE from here */
			;
		if (errno != EMFILE)
			_exit(4);
		if (hl_slot_is_dead(b, mine))
			_exit(5);
		for (uint32_t i = 0; i < b->hdr->max_processes; i++)
			if (hl_slot_reclaim_if_dead(b, i))
				_exit(6);
		hl_stats st;
		if (hl_arena_stats(b, &st) || st.processes_dead != 0 || st.processes != 2)
			_exit(7);
		_exit(0);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "child died: status %d", status);
	cr_assert_eq(WEXITSTATUS(status), 0,
		     "child with a full fd table: step %d failed", WEXITSTATUS(status));
	uint64_t w = atomic_load(&hl_slot_at(a, mine)->owner);
	cr_assert_eq(HL_OWNER_PID(w), (uint32_t)getpid(), "our slot was taken");
	hl_arena_close(a);
}
