/*
 * inflight.c - virtual losses in flight: which edges of the search graph
 * each process holds a virtual loss on, so that a process that dies holding
 * some has them released exactly, and nobody else's with them.
 *
 * NOTES ON THE DESIGN OF THE IN-FLIGHT TABLES
 *
 * A selected path adds one virtual loss to every edge it takes (the vloss
 * field of the edge's stat word, layout.h), so that other selectors in
 * other processes spread over other leaves; its backup takes them off
 * again. A process can die between the two. The losses it held must then
 * come off, or those edges look worse forever.
 *
 * A count on the edge cannot say whose losses it holds, so each process
 * also writes down, in its slot's table (layout.h: one row per path in
 * flight, one entry per edge), every loss it adds. An entry moves through
 *
 *   EMPTY --add: store ADDING, then +1 on the edge, then store HELD--> HELD
 *   HELD --remove: store REMOVING, then -1 (and +1 visit), then EMPTY--> EMPTY
 *
 * so at every instant an edge's vloss field equals the number of HELD
 * entries naming it, plus those ADDING entries whose +1 has happened, plus
 * those REMOVING entries whose -1 has not. A process killed mid-way leaves
 * an ADDING or REMOVING entry, and nobody can tell from the outside whether
 * its edge operation happened. So release does not subtract: it *recounts*
 * (hl_inflight_release):
 *
 *   for each edge the dead table names:
 *     f0 = the edge's stat word
 *     count the live tables' entries naming the edge: HELD ones; if any is
 *       ADDING or REMOVING, a live process is mid-step: wait, start over
 *     CAS the stat word from f0 to f0 with vloss := count; on failure (the
 *       word moved: someone added, removed or visited), start over
 *
 * Why the recount is exact. Take a live process W's step on the edge: it
 * marks its entry (ADDING or REMOVING), does its RMW on the stat word, then
 * marks the result (HELD or EMPTY). If W's RMW came before our load of f0
 * in the stat word's modification order, our acquire load synchronizes
 * with it (W's RMW is a release, and every later RMW continues its release
 * sequence), so W's mark, stored before its RMW, is visible to our scan:
 * the scan shows the mark (we start over) or the result (counted as it
 * should be). If W's RMW came after our load, our CAS fails unless W's RMW
 * also comes after our CAS; then W's +1 or -1 lands on the recounted
 * value, and whether our scan saw W's mark (we would have started over)
 * or nothing of W at all, nothing is counted twice or lost.
 *
 * Memory orders, from that argument: the stat RMWs are acq_rel (release:
 * they publish the mark before them; acquire: the recount's CAS sees the
 * marks published by the RMWs before it), the recount's loads of the stat
 * word and of the entries are acquire, and the entry stores are release
 * (the mark needs only to precede its own RMW, which publishes it; the
 * result needs nothing: a scan that reads a stale mark just starts over).
 * On x86 that makes the entry stores plain moves: the two locked
 * instructions per edge are the RMWs alone.
 *
 * Invariants:
 *  1. Only a table's slot owner writes it, except release, which clears a
 *     dead owner's table after recounting (the reaper owns the slot then).
 *     Rows are handed out per arena handle (hl_inflight_row_take), so two
 *     searches opened on one handle never share a row.
 *  2. An edge's vloss field equals the number of losses held on it, as
 *     above; after a release, exactly the live processes' HELD entries.
 *  3. Every entry read from a table is validated before it is followed: a
 *     search record through hl_node_get, an edge index below its count. A
 *     damaged entry is skipped, never written through.
 *  4. Bounded: a release waits at most HL_INFLIGHT_SETTLE_ROUNDS rounds of
 *     1 ms per edge for a live process to finish its step (a few
 *     instructions, unless it is stopped); then it leaves that edge alone
 *     (its losses stay counted: safe, only less exploration there).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shm.h"

static _Atomic uint64_t *table_of(const hl_arena *a, uint32_t slot)
{
	return (_Atomic uint64_t *)hl_at(a, a->hdr->regions[HL_REGION_INFLIGHT].off +
					    (uint64_t)slot * HL_INFLIGHT_TABLE_BYTES);
}

static _Atomic uint64_t *entry_at(const hl_arena *a, uint32_t slot,
				  unsigned row, unsigned i)
{
	hl_assert(row < HL_MCTS_INFLIGHT_ROWS && i < HL_MCTS_DEPTH_MAX);
	return table_of(a, slot) + (size_t)row * HL_MCTS_DEPTH_MAX + i;
}

static uint64_t entry_word(uint64_t rec_off, unsigned edge, unsigned state)
{
	return (rec_off / HL_HEAP_ALIGN) << HL_INFLIGHT_REC_SHIFT |
	       (uint64_t)edge << HL_INFLIGHT_EDGE_SHIFT | state;
}

/* The edge an entry names (state bits cleared), for comparisons. */
static uint64_t entry_edge(uint64_t w)
{
	return w & ~HL_INFLIGHT_STATE_MASK;
}

/* The stat word of the edge entry w names, or NULL (invariant 3). */
static _Atomic uint64_t *entry_stat(const hl_arena *a, uint64_t w)
{
	uint64_t rec = (w >> HL_INFLIGHT_REC_SHIFT) * HL_HEAP_ALIGN;
	unsigned edge = (unsigned)(w >> HL_INFLIGHT_EDGE_SHIFT) &
			((1u << HL_INFLIGHT_EDGE_BITS) - 1);
	const struct hl_node *n = hl_node_get(a, rec, HL_NODE_SEARCH, 0);
	if (!n || edge >= n->count)
		return NULL;
	return &hl_srec_edges(n)[edge].stat;
}

int hl_inflight_add(hl_arena *a, unsigned row, unsigned i, uint64_t rec_off,
		    unsigned edge, _Atomic uint64_t *stat)
{
	_Atomic uint64_t *ent = entry_at(a, (uint32_t)a->slot_index, row, i);
	atomic_store_explicit(ent, entry_word(rec_off, edge, HL_INFLIGHT_ADDING),
			      memory_order_release);
	uint64_t w = atomic_load_explicit(stat, memory_order_relaxed);
	do {
		if (((w >> HL_EDGE_VLOSS_SHIFT) & 0xff) == HL_EDGE_VLOSS_MAX) {
			/* saturated: hold nothing here */
			atomic_store_explicit(ent, 0, memory_order_release);
			return HL_EBUSY;
		}
	} while (!atomic_compare_exchange_weak_explicit(stat, &w, w + HL_EDGE_VLOSS_ONE,
							memory_order_acq_rel,
							memory_order_relaxed));
	atomic_store_explicit(ent, entry_word(rec_off, edge, HL_INFLIGHT_HELD),
			      memory_order_release);
	return 0;
}

void hl_inflight_remove(hl_arena *a, unsigned row, unsigned i,
			_Atomic uint64_t *stat, bool visit)
{
	_Atomic uint64_t *ent = entry_at(a, (uint32_t)a->slot_index, row, i);
	uint64_t w = atomic_load_explicit(ent, memory_order_relaxed); /* our own */
	hl_assert((w & HL_INFLIGHT_STATE_MASK) == HL_INFLIGHT_HELD);
	atomic_store_explicit(ent, entry_edge(w) | HL_INFLIGHT_REMOVING,
			      memory_order_release);
	/* one RMW: the loss comes off and the visit goes on together */
	atomic_fetch_add_explicit(stat, (visit ? 1 : 0) - HL_EDGE_VLOSS_ONE,
				  memory_order_acq_rel);
	atomic_store_explicit(ent, 0, memory_order_release);
}

/* Losses the other tables hold on edge `key` (entries equal but for
 * state); -1 when a live process is mid-step on it. A dead process that is
 * not yet released counts with its HELD entries, and its ADDING or
 * REMOVING one is left for its own release to recount (dead[] marks them:
 * its step never finishes, so waiting for it would be waiting forever). */
static int64_t count_held(const hl_arena *a, uint32_t self, const bool *dead,
			  uint64_t key)
{
	int64_t n = 0;
	for (uint32_t s = 0; s < hl_slot_count(a); s++) {
		if (s == self || hl_slot_pid(a, s) == 0)
			continue;
		_Atomic uint64_t *t = table_of(a, s);
		for (size_t k = 0; k < HL_INFLIGHT_TABLE_BYTES / sizeof *t; k++) {
			uint64_t w = atomic_load_explicit(&t[k], memory_order_acquire);
			if (w == 0 || entry_edge(w) != key)
				continue;
			if ((w & HL_INFLIGHT_STATE_MASK) == HL_INFLIGHT_HELD)
				n++;
			else if (!dead[s])
				return -1;
		}
	}
	return n;
}

/* Sets the vloss field of `stat` to what the other tables hold (the
 * recount of the file comment). False when it gave up (invariant 4). */
static bool recount(const hl_arena *a, uint32_t self, const bool *dead,
		    uint64_t key, _Atomic uint64_t *stat)
{
	for (unsigned round = 0; round < HL_INFLIGHT_SETTLE_ROUNDS;) {
		uint64_t f0 = atomic_load_explicit(stat, memory_order_acquire);
		int64_t held = count_held(a, self, dead, key);
		if (held < 0) {
			struct timespec ts = {0, 1000 * 1000};
			nanosleep(&ts, NULL);
			round++;
			continue;
		}
		if (held > HL_EDGE_VLOSS_MAX)
			held = HL_EDGE_VLOSS_MAX;
		uint64_t want = (f0 & ~(0xffull << HL_EDGE_VLOSS_SHIFT)) |
				(uint64_t)held << HL_EDGE_VLOSS_SHIFT;
		if (atomic_compare_exchange_strong_explicit(stat, &f0, want,
							    memory_order_acq_rel,
							    memory_order_acquire))
			return true;
	}
	return false;
}

/* Which slots hold a process that is dead (reading /proc once per slot). */
static bool *dead_slots(const hl_arena *a)
{
	bool *dead = calloc(hl_slot_count(a), sizeof *dead);
	for (uint32_t s = 0; dead && s < hl_slot_count(a); s++)
		dead[s] = hl_slot_pid(a, s) != 0 && hl_slot_is_dead(a, s);
	return dead;
}

unsigned hl_inflight_release(hl_arena *a, uint32_t slot)
{
	_Atomic uint64_t *t = table_of(a, slot);
	const size_t entries = HL_INFLIGHT_TABLE_BYTES / sizeof *t;
	unsigned released = 0;
	bool *dead = NULL;
	for (size_t k = 0; k < entries; k++) {
		uint64_t w = atomic_load(&t[k]);
		if (w == 0)
			continue;
		if (!dead && !(dead = dead_slots(a)))
			return released; /* no memory: the losses stay, safely */
		_Atomic uint64_t *stat = entry_stat(a, w);
		/* every entry of this table naming the edge goes at once: the
		 * recount skips this table, so it covers them all */
		for (size_t j = k; j < entries; j++)
			if (entry_edge(atomic_load(&t[j])) == entry_edge(w))
				atomic_store(&t[j], 0);
		if (stat && recount(a, slot, dead, entry_edge(w), stat))
			released++;
	}
	free(dead);
	return released;
}

int hl_inflight_row_take(hl_arena *a, unsigned *row)
{
	for (unsigned r = 0; r < HL_MCTS_INFLIGHT_ROWS; r++)
		if (!(a->inflight_rows & (1u << r))) {
			a->inflight_rows |= 1u << r;
			*row = r;
			return 0;
		}
	return HL_EBUSY;
}

void hl_inflight_row_give(hl_arena *a, unsigned row)
{
	a->inflight_rows &= ~(1u << row);
}

void hl_inflight_row_drop(hl_arena *a, unsigned row)
{
	for (unsigned i = 0; i < HL_MCTS_DEPTH_MAX; i++) {
		_Atomic uint64_t *ent = entry_at(a, (uint32_t)a->slot_index, row, i);
		uint64_t w = atomic_load_explicit(ent, memory_order_relaxed);
		_Atomic uint64_t *stat;
		if (w == 0)
			continue;
		/* ours and HELD (the owner is between steps): take it off as a
		 * backup would; a damaged entry is only emptied (invariant 3) */
		if ((w & HL_INFLIGHT_STATE_MASK) == HL_INFLIGHT_HELD &&
		    (stat = entry_stat(a, w)) != NULL)
			hl_inflight_remove(a, row, i, stat, false);
		else
			atomic_store_explicit(ent, 0, memory_order_release);
	}
	hl_inflight_row_give(a, row);
}

unsigned hl_inflight_held(const hl_arena *a, uint32_t slot)
{
	const _Atomic uint64_t *t = table_of(a, slot);
	unsigned n = 0;
	for (size_t k = 0; k < HL_INFLIGHT_TABLE_BYTES / sizeof *t; k++)
		n += atomic_load_explicit(&t[k], memory_order_relaxed) != 0;
	return n;
}

void hl_inflight_records(const hl_arena *a, uint32_t slot,
			 void (*fn)(void *ctx, uint64_t rec_off), void *ctx)
{
	const _Atomic uint64_t *t = table_of(a, slot);
	for (size_t k = 0; k < HL_INFLIGHT_TABLE_BYTES / sizeof *t; k++) {
		uint64_t w = atomic_load_explicit(&t[k], memory_order_acquire);
		if (w)
			fn(ctx, (w >> HL_INFLIGHT_REC_SHIFT) * HL_HEAP_ALIGN);
	}
}
