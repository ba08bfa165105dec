/*
 * slots.c - process slots: who is attached, and who died holding a slot.
 *
 * Each read-write handle holds one slot (layout.h draws it). The slot is how
 * the others see a process: its pid and start time (to tell a dead owner
 * from a live one, even after the pid is recycled), its heartbeat, its
 * counters and its slab cursors.
 *
 * State machine of the claim word (owner = generation:pid):
 *
 *   G:0  --hl_slot_claim (CAS G:0 -> G+1:pid)---------------->  G+1:pid
 *   G:pid --hl_slot_release (owner itself, CAS G:pid -> G:0)-->  G:0
 *   G:pid --hl_slot_reclaim_if_dead (anyone, when pid is dead or its start
 *          time differs from the recorded one): CAS G:pid -> G+1:reaper,
 *          state FREE, then G+1:0 - the reaper owns the slot meanwhile
 *
 * Invariants:
 *  1. Only the owner writes the slot's fields other than `owner`; it writes
 *     them after its claim CAS (acquire) and before its release CAS
 *     (release), so the next owner, whose claim CAS reads the released
 *     word, sees them all.
 *  2. start_time is trusted only while state is LIVE and the owner word it
 *     was recorded for (start_pid, start_gen) is the current owner word;
 *     all three are written before state goes LIVE (release). Every claim
 *     and takeover bumps the generation, so a reaper's slot reads as in
 *     transition even when the reaper's pid is the dead owner's, recycled.
 *     Otherwise the slot is in transition - a claim still filling it in, or
 *     a reaper that has taken it over and not yet released it - and its
 *     owner counts as dead only if its pid no longer exists. (The kill suite caught a reaper being judged dead by
 *     the previous owner's start time and robbed mid-reclaim.)
 *  3. Counters are never reset: a new owner counts on top, so sums over
 *     slots never go backwards. Slab cursors are emptied when an owner
 *     leaves (release, or reclaim after death): the unused tails of its
 *     slabs go back to the heap's free lists for any process to reuse.
 *  5. A slot's in-flight table (virtual losses its process holds in the
 *     search graph) is emptied, and those losses recounted off their edges,
 *     before the slot is free again: by its owner on close, by the reaper
 *     after a death (inflight.c).
 *  4. A reclaimed process's unpublished allocations (objects it had
 *     allocated but not yet published through the index when it died) are
 *     lost: a bounded leak - in commit, the one node being filled - never
 *     a corrupt node, since nothing refers to them.
 *  5. An owner is dead only on positive proof (util.c, hl_proc_identity):
 *     its pid is gone, its whole thread group has exited, or its pid now
 *     names a process with another start time. A live process whose main
 *     thread exited (its other threads hold handles) is alive, and so is
 *     one whose /proc entry cannot be read: two owners of one slot corrupt
 *     the index, a slot reclaimed late costs nothing.
 *  7. A slot is freed with its holds table empty and its epoch word 0 (by
 *     its owner on close, by the reaper after a death): a dead process's
 *     pins and states' bases stop keeping snapshots alive, and its last
 *     critical section stops holding grace periods back (holds.c,
 *     epoch.c). Both stores come before the release of the owner word, so
 *     a barrier that sees the word change sees them.
 *  6. A new owner trusts none of the slot's slab cursors: a free slot holds
 *     none (invariant 3), so whatever it finds is damage and is dropped
 *     right after the claim (hl_heap_adopt_cursors): a damaged cursor can
 *     never make new nodes overwrite old ones.
 */
#include <errno.h>
#include <signal.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "ring_mpsc.h"
#include "shm.h"

/* Held, but not (yet) with its own start time recorded: a claim still
 * filling it in, or a reaper between its takeover and its release. */
static bool in_transition(const struct hl_slot *s, uint64_t w)
{
	return atomic_load_explicit(&s->state, memory_order_acquire) != HL_SLOT_LIVE ||
	       s->start_pid != HL_OWNER_PID(w) || s->start_gen != HL_OWNER_GEN(w);
}

bool hl_slot_is_dead(const hl_arena *a, uint32_t i)
{
	struct hl_slot *s = hl_slot_at(a, i);
	uint64_t w = atomic_load_explicit(&s->owner, memory_order_acquire);
	pid_t pid = (pid_t)HL_OWNER_PID(w);
	if (pid == 0)
		return false;
	uint64_t started = 0;
	switch (hl_proc_identity(pid, &started)) {
	case HL_PROC_GONE:
		return true;
	case HL_PROC_UNKNOWN:
		return false; /* invariant 5: cannot tell is alive */
	case HL_PROC_RUNNING:
		break;
	}
	if (in_transition(s, w))
		return false; /* invariant 2: judged by its pid alone: alive */
	return started != s->start_time;
}

bool hl_slot_reclaim_if_dead(hl_arena *a, uint32_t i)
{
	struct hl_slot *s = hl_slot_at(a, i);
	uint64_t w = atomic_load_explicit(&s->owner, memory_order_acquire);
	if (HL_OWNER_PID(w) == 0 || !hl_slot_is_dead(a, i))
		return false;
	/* Take the slot over first (the generation in w makes this fail if it
	 * changed hands after the check), so that only its owner - us - ever
	 * writes its state; then release it like an owner would. */
	uint64_t ours = HL_OWNER_WORD(HL_OWNER_GEN(w) + 1, a->pid);
	if (!atomic_compare_exchange_strong_explicit(&s->owner, &w, ours,
						     memory_order_acquire,
						     memory_order_relaxed))
		return false;
	atomic_store_explicit(&s->state, HL_SLOT_FREE, memory_order_relaxed);
	hl_inflight_release(a, i);     /* its virtual losses: invariant 5 */
	hl_holds_clear(a, i);          /* its pins and bases: invariant 7 */
	atomic_store_explicit(&s->epoch, 0, memory_order_relaxed); /* invariant 7 */
	hl_heap_release_cursors(a, s); /* invariant 3 */
	if (a->ring) /* its half-pushed persist records: skipped, not awaited */
		hl_ring_mpsc_abandon(a->ring, i);
	/* release: pairs with the next owner's acquire claim (invariant 1) */
	atomic_store_explicit(&s->owner, HL_OWNER_WORD(HL_OWNER_GEN(ours), 0),
			      memory_order_release);
	return true;
}

static bool try_claim(hl_arena *a, uint32_t i, uint64_t my_start)
{
	struct hl_slot *s = hl_slot_at(a, i);
	uint64_t w = atomic_load_explicit(&s->owner, memory_order_relaxed);
	if (HL_OWNER_PID(w) != 0)
		return false;
	uint64_t mine = HL_OWNER_WORD(HL_OWNER_GEN(w) + 1, a->pid);
	/* acquire: pairs with the previous owner's release CAS (invariant 1) */
	if (!atomic_compare_exchange_strong_explicit(&s->owner, &w, mine,
						     memory_order_acquire,
						     memory_order_relaxed))
		return false;
	s->start_time = my_start;
	s->start_pid = (uint32_t)a->pid;
	s->start_gen = HL_OWNER_GEN(mine);
	s->numa_node = (uint32_t)a->numa_node;
	s->role = HL_ROLE_PROCESS;
	s->worker = 0;
	s->claims++;
	atomic_store_explicit(&s->heartbeat_ns, hl_now_ns(), memory_order_relaxed);
	/* release: start_time is visible before a reaper sees LIVE */
	atomic_store_explicit(&s->state, HL_SLOT_LIVE, memory_order_release);
	a->slot = s;
	a->slot_index = (int)i;
	hl_heap_adopt_cursors(a); /* invariant 6 */
	return true;
}

static bool claim_free_slot(hl_arena *a, uint64_t my_start)
{
	for (uint32_t i = 0; i < a->hdr->max_processes; i++)
		if (try_claim(a, i, my_start))
			return true;
	return false;
}

/* Reclaims every dead slot; true if some slot is in transition (another
 * process mid-claim or mid-reclaim: a slot may free up in a moment). */
static bool reclaim_dead(hl_arena *a)
{
	bool transition = false;
	for (uint32_t i = 0; i < a->hdr->max_processes; i++) {
		struct hl_slot *s = hl_slot_at(a, i);
		uint64_t w = atomic_load_explicit(&s->owner, memory_order_acquire);
		if (HL_OWNER_PID(w) == 0 || hl_slot_reclaim_if_dead(a, i))
			continue;
		transition |= in_transition(s, w);
	}
	return transition;
}

/* Takes a free slot; when all are held, reclaims those of dead processes
 * and looks again - always, since a concurrent attacher may be the one
 * that reclaimed them (the kill suite caught an attach giving up because
 * another had done the reclaiming). Bounded by HL_SLOT_CLAIM_ROUNDS. */
int hl_slot_claim(hl_arena *a)
{
	uint64_t my_start = 0;
	/* Our own start time is what tells us from a later owner of our pid:
	 * without it (no /proc, or no fd left to read it) we cannot claim. */
	if (hl_proc_identity(a->pid, &my_start) != HL_PROC_RUNNING)
		return HL_EIO;
	for (unsigned round = 0; round < HL_SLOT_CLAIM_ROUNDS; round++) {
		if (claim_free_slot(a, my_start))
			return 0;
		bool transition = reclaim_dead(a);
		if (claim_free_slot(a, my_start))
			return 0;
		if (!transition)
			break; /* every slot held by a live process: full */
		struct timespec ts = {0, 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return HL_EFULL;
}

void hl_slot_release(hl_arena *a)
{
	struct hl_slot *s = a->slot;
	if (!s)
		return;
	uint64_t w = atomic_load_explicit(&s->owner, memory_order_relaxed);
	if (HL_OWNER_PID(w) != (uint32_t)a->pid)
		return; /* reclaimed from under us (we looked dead): not ours */
	hl_inflight_release(a, (uint32_t)a->slot_index); /* invariant 5 */
	hl_holds_clear(a, (uint32_t)a->slot_index);      /* invariant 7 */
	atomic_store_explicit(&s->epoch, 0, memory_order_relaxed);
	atomic_store_explicit(&s->state, HL_SLOT_FREE, memory_order_relaxed);
	hl_heap_release_cursors(a, s); /* invariant 3 */
	/* release: pairs with the next owner's acquire claim (invariant 1) */
	atomic_compare_exchange_strong_explicit(
		&s->owner, &w, HL_OWNER_WORD(HL_OWNER_GEN(w), 0),
		memory_order_release, memory_order_relaxed);
	a->slot = NULL;
	a->slot_index = -1;
}

/* ---- the checker ---------------------------------------------------------
 *
 * Read-only; exact when the arena is quiet (a claim or release in flight
 * passes through states it would report). The cursors of held slots are
 * the heap checker's (invariant 3 of heap.c); here, what the slot table
 * itself promises: invariants 3 and 6 (a free slot holds no cursor). */

static int check_slot(const hl_arena *a, uint32_t i, char *msg, size_t len)
{
	const struct hl_slot *s = hl_slot_at(a, i);
	uint64_t w = atomic_load_explicit(&s->owner, memory_order_acquire);
	uint32_t state = atomic_load_explicit(&s->state, memory_order_acquire);

	if (state != HL_SLOT_FREE && state != HL_SLOT_LIVE)
		return hl_check_fail(msg, len, "slots: slot %u has state %u", i, state);
	if (s->role > HL_ROLE_COORDINATOR)
		return hl_check_fail(msg, len, "slots: slot %u has role %u", i, s->role);
	if (HL_OWNER_PID(w) == 0 && state != HL_SLOT_FREE)
		return hl_check_fail(msg, len, "slots: slot %u is free but LIVE", i);
	for (unsigned cls = 0; cls < HL_CLASSES_MAX; cls++) {
		const struct hl_slab_cursor *c = &s->slab[cls];
		bool empty = c->cur == 0 && c->end == 0;
		if (!empty && (HL_OWNER_PID(w) == 0 || cls >= a->hdr->class_count))
			return hl_check_fail(msg, len, "slots: slot %u (%s) holds a "
					     "class %u cursor {%llu, %llu}", i,
					     HL_OWNER_PID(w) ? "held" : "free", cls,
					     (unsigned long long)c->cur,
					     (unsigned long long)c->end);
	}
	return 0;
}

int hl_slots_check(const hl_arena *a, char *msg, size_t msg_len)
{
	for (uint32_t i = 0; i < a->hdr->max_processes; i++) {
		int rc = check_slot(a, i, msg, msg_len);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- roles, heartbeats and the public view of slots ---------------------- */

void hl_slot_set_role(hl_arena *a, enum hl_slot_role role, uint32_t worker)
{
	if (!a->slot)
		return;
	a->slot->role = role;
	a->slot->worker = worker;
}

void hl_arena_heartbeat(hl_arena *a)
{
	if (a && a->slot)
		atomic_store_explicit(&a->slot->heartbeat_ns, hl_now_ns(),
				      memory_order_relaxed);
}

/* ---- reading slots: the one place their words are decoded -------------- */

/* relaxed: statistics; nothing is read through a counter (invariant 3: they
 * only grow, so a sum read while others count is a moment's lower bound) */
static void load_counters(const struct hl_slot *s, uint64_t c[HL_CTR_COUNT])
{
	for (int k = 0; k < HL_CTR_COUNT; k++)
		c[k] = atomic_load_explicit(&s->ctr[k], memory_order_relaxed);
}

void hl_slots_sum(const hl_arena *a, uint64_t sum[HL_CTR_COUNT])
{
	memset(sum, 0, HL_CTR_COUNT * sizeof sum[0]);
	for (uint32_t i = 0; i < hl_slot_count(a); i++) {
		uint64_t c[HL_CTR_COUNT];
		load_counters(hl_slot_at(a, i), c);
		for (int k = 0; k < HL_CTR_COUNT; k++)
			sum[k] += c[k];
	}
}

void hl_slots_sum_search(const hl_arena *a, uint64_t sum[HL_SCTR_COUNT])
{
	memset(sum, 0, HL_SCTR_COUNT * sizeof sum[0]);
	for (uint32_t i = 0; i < hl_slot_count(a); i++)
		for (int k = 0; k < HL_SCTR_COUNT; k++)
			sum[k] += atomic_load_explicit(&hl_slot_at(a, i)->sctr[k],
						       memory_order_relaxed);
}

pid_t hl_slot_pid(const hl_arena *a, uint32_t i)
{
	/* acquire: pairs with the claim CAS, so a caller that goes on to read
	 * the slot's fields sees the ones its owner wrote before claiming */
	uint64_t w = atomic_load_explicit(&hl_slot_at(a, i)->owner,
					  memory_order_acquire);
	return (pid_t)HL_OWNER_PID(w);
}

int hl_slot_find(const hl_arena *a, pid_t pid, uint32_t from)
{
	for (uint32_t i = from; pid > 0 && i < hl_slot_count(a); i++)
		if (hl_slot_pid(a, i) == pid)
			return (int)i;
	return -1;
}

uint64_t hl_slot_heartbeat_age_ns(const hl_arena *a, uint32_t i, uint64_t now_ns)
{
	uint64_t beat = atomic_load_explicit(&hl_slot_at(a, i)->heartbeat_ns,
					     memory_order_relaxed);
	return now_ns > beat ? now_ns - beat : 0;
}

unsigned hl_slots_reclaim_dead(hl_arena *a, pid_t pid)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < hl_slot_count(a); i++) {
		pid_t p = hl_slot_pid(a, i);
		if (p != 0 && (pid == 0 || p == pid))
			n += hl_slot_reclaim_if_dead(a, i);
	}
	return n;
}

static void copy_counters(const struct hl_slot *s, hl_process_info *out)
{
	uint64_t c[HL_CTR_COUNT];
	load_counters(s, c);
	out->commits = c[HL_CTR_COMMITS];
	out->restores = c[HL_CTR_RESTORES];
	out->hashed_bytes = c[HL_CTR_HASHED_BYTES];
	out->dedup_hits = c[HL_CTR_DEDUP_HITS];
	out->dedup_bytes = c[HL_CTR_DEDUP_BYTES];
	out->nodes = c[HL_CTR_NODES];
	out->stored_bytes = c[HL_CTR_STORED_BYTES];
}

int hl_arena_process(hl_arena *a, uint32_t i, hl_process_info *out)
{
	if (!a || !out)
		return HL_EINVAL;
	if (i >= hl_slot_count(a))
		return HL_ERANGE;
	const struct hl_slot *s = hl_slot_at(a, i);
	memset(out, 0, sizeof *out);
	copy_counters(s, out);
	uint64_t w = atomic_load_explicit(&s->owner, memory_order_acquire);
	out->pid = HL_OWNER_PID(w);
	if (out->pid == 0)
		return 0; /* HL_PROCESS_FREE */
	out->state = hl_slot_is_dead(a, i) ? HL_PROCESS_DEAD : HL_PROCESS_LIVE;
	out->role = s->role;
	out->worker = s->worker;
	out->numa_node = s->numa_node;
	out->heartbeat_age_ns = hl_slot_heartbeat_age_ns(a, i, hl_now_ns());
	return 0;
}
