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
