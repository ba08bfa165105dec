/*
 * epoch.c - epoch-based reclamation across processes: critical sections
 * announced in the process slots, and grace periods that wait for every
 * section open when they began.
 *
 * NOTES ON THE DESIGN OF THE EPOCHS
 *
 * Readers follow offsets without locks (index entries, child offsets,
 * search links), in other processes, and may be stopped or killed at any
 * instruction. Memory the collector frees, and the index entries it turns
 * into tombstones, must not be reused while a reader may still be holding
 * what it read before. So every operation that reaches nodes through
 * shared words runs inside a critical section, and whoever wants to reuse
 * something waits for a grace period: until every section that was open
 * when it unlinked the thing has ended. A section opened later cannot
 * reach it (it was unlinked first), so after the grace period nobody can.
 *
 * Words, and who writes them:
 *
 *   hdr->gc_epoch   the global epoch, from HL_EPOCH_FIRST, only grows: one
 *                   fetch_add per grace period (hl_epoch_barrier).
 *   slot->epoch     0 while the slot's owner is outside any section, else
 *                   the global epoch it read when it entered. Written by the
 *                   owner only (enter, exit), and reset to 0 by whoever
 *                   frees the slot (release, reclaim of a dead owner).
 *
 *   enter (depth 0 -> 1):  E = load(gc_epoch); store(slot->epoch, E);
 *                          fence(seq_cst); again while gc_epoch != E
 *   exit  (depth 1 -> 0):  store(slot->epoch, 0, release)
 *   advance from E:        every other slot's epoch is 0 or E (or its owner
 *                          changed, or died): CAS(gc_epoch, E, E + 1)
 *   barrier:               G = load(gc_epoch); advance until gc_epoch >= G + 2
 *
 * The global epoch moves from E only once no open section is behind E,
 * so every open section is at the global epoch or one before it
 * (invariant 4). A section open when a barrier starts at G entered at G
 * or G - 1; gc_epoch reaching G + 1 needs every section at G or later,
 * and reaching G + 2 every one at G + 1: the section has ended.

 * Sections nest per handle (a->epoch_depth): only the outermost enter and
 * exit touch the slot. A read-only handle has no slot and cannot announce
 * anything; its readers validate what they read instead (a node's hash is
 * read again after its bytes: freed memory always has its hash words
 * overwritten first, heap.c's free mark).
 *
 * Why the barrier is a grace period. Take a section S of slot i and a
 * barrier B that starts after some write W (an unlink: a tombstone CAS, a
 * phase change) and before a reuse. Each advance that B (or anyone) makes
 * first fences and then loads slot i's epoch. Either that load sees S's
 * announcement, and the advance waits until S is caught up or has exited
 * (its release store of 0 makes everything S did happen before), or it
 * does not: then, since S stores its epoch and fences, and B wrote W and
 * fences before its load, the store-buffer pattern with a seq_cst fence
 * on both sides forbids S from also missing W: S's reads see the unlink,
 * and S cannot reach what was unlinked.
 *
 * Memory orders:
 *   - enter's store is relaxed and followed by a seq_cst fence: the fence
 *     is what orders the announcement before the section's reads (x86
 *     would otherwise let a load pass the store); the loads of gc_epoch
 *     are relaxed: any value the barrier has not yet passed is correct.
 *   - exit's store is a release: the section's reads and writes happen
 *     before a barrier that reads the 0 with its acquire load.
 *   - advance: a seq_cst fence before the slot loads (the other half of
 *     the pattern above); the slot epoch loads are acquire (pair with
 *     exit's release); the owner word loads are acquire (pair with the
 *     release of a slot's release or reclaim, which store epoch 0 first);
 *     the CAS is seq_cst, so a section entering after it reads E + 1.
 *
 * Dead and stopped processes. A process killed inside a section leaves
 * its epoch announced forever. The barrier asks, for a slot that holds it
 * back past HL_EPOCH_DEAD_CHECK_NS, whether its owner is dead (positive
 * proof, slots.c invariant 5) and if so treats it as quiescent: a dead
 * process reads nothing. The reaper resets the word when it frees the
 * slot. A live process that is stopped (SIGSTOP, a debugger) holds every
 * grace period back: the barrier gives up after its timeout with
 * HL_EBUSY and the caller tries again later; nothing is freed early.
 *
 * Invariants:
 *  1. slot->epoch != 0 exactly while its owner is inside a section (or
 *     died inside one).
 *  2. A barrier that returned 0 has seen every section that was open at
 *     its start end (or its process die).
 *  3. gc_epoch only grows; slot->epoch <= gc_epoch.
 *  4. An open section's epoch is gc_epoch or gc_epoch - 1; two sections
 *     open at one instant differ by at most one epoch (index.c relies on
 *     it to reuse tombstones).
 */
#include <sched.h>
#include <time.h>

#include "shm.h"

void hl_epoch_enter(hl_arena *a)
{
	if (a->epoch_depth++ || !a->slot)
		return;
	uint64_t e = atomic_load_explicit(&a->hdr->gc_epoch, memory_order_relaxed);
	for (;;) {
		atomic_store_explicit(&a->slot->epoch, e, memory_order_relaxed);
		atomic_thread_fence(memory_order_seq_cst);
		/* an advance that ran between our load and our store did not
		 * see us: announce the epoch it made (invariant 4) */
		uint64_t now = atomic_load_explicit(&a->hdr->gc_epoch,
						    memory_order_relaxed);
		if (now == e)
			return;
		e = now;
	}
}

void hl_epoch_exit(hl_arena *a)
{
	hl_assert(a->epoch_depth > 0);
	if (--a->epoch_depth || !a->slot)
		return;
	atomic_store_explicit(&a->slot->epoch, 0, memory_order_release);
}

uint64_t hl_epoch_now(const hl_arena *a)
{
	return atomic_load_explicit(&a->hdr->gc_epoch, memory_order_seq_cst);
}

uint64_t hl_epoch_announced(const hl_arena *a)
{
	return a->slot ? atomic_load_explicit(&a->slot->epoch, memory_order_relaxed)
		       : 0;
}

/* True once slot i no longer holds the epoch back from leaving e: outside
 * any section, entered at e or later, changed hands, or dead. */
static bool slot_passed(hl_arena *a, uint32_t i, uint64_t e, uint64_t owner0,
			uint64_t waited_ns)
{
	struct hl_slot *s = hl_slot_at(a, i);
	uint64_t v = atomic_load_explicit(&s->epoch, memory_order_acquire);
	if (v == 0 || v >= e)
		return true;
	if (atomic_load_explicit(&s->owner, memory_order_acquire) != owner0)
		return true; /* released or reclaimed: epoch reset on the way */
	return waited_ns >= HL_EPOCH_DEAD_CHECK_NS && hl_slot_is_dead(a, i);
}

/* Moves the global epoch on from e once nobody is behind it: 0, or
 * HL_EBUSY at the deadline (0: none). */
static int advance(hl_arena *a, uint64_t e, uint64_t t0, uint64_t timeout_ns)
{
	atomic_thread_fence(memory_order_seq_cst);
	for (uint32_t i = 0; i < hl_slot_count(a); i++) {
		if ((int)i == a->slot_index)
			continue;
		struct hl_slot *s = hl_slot_at(a, i);
		uint64_t owner0 = atomic_load_explicit(&s->owner, memory_order_acquire);
		for (unsigned spin = 0;; spin++) {
			uint64_t waited = hl_now_ns() - t0;
			if (slot_passed(a, i, e, owner0, waited))
				break;
			if (timeout_ns && waited >= timeout_ns)
				return HL_EBUSY;
			if (spin < 64) {
				sched_yield();
			} else {
				struct timespec ts = {0, 50 * 1000};
				nanosleep(&ts, NULL);
			}
		}
	}
	uint64_t want = e;
	atomic_compare_exchange_strong_explicit(&a->hdr->gc_epoch, &want, e + 1,
						memory_order_seq_cst,
						memory_order_relaxed);
	return 0; /* failed: someone else advanced from e, which is as good */
}

int hl_epoch_barrier(hl_arena *a, uint64_t timeout_ns)
{
	hl_assert(a->epoch_depth == 0); /* a section would wait for itself */
	uint64_t t0 = hl_now_ns();
	uint64_t target = hl_epoch_now(a) + 2;
	for (;;) {
		uint64_t e = hl_epoch_now(a);
		if (e >= target)
			return 0;
		int rc = advance(a, e, t0, timeout_ns);
		if (rc)
			return rc;
	}
}

unsigned hl_epoch_holders(const hl_arena *a, uint64_t before)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < hl_slot_count(a); i++) {
		uint64_t v = atomic_load_explicit(&hl_slot_at(a, i)->epoch,
						  memory_order_relaxed);
		n += v != 0 && v < before;
	}
	return n;
}
