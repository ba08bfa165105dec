/*
 * pins.c - the public face of garbage collection: pins, one collection on
 * demand, and the arena's collection totals.
 *
 * A pin is a hold (shm/holds.c) of kind PIN in the calling process's slot:
 * counted, and released with the slot when the process closes the arena or
 * dies. Pinning finds the root and holds it inside one epoch section and
 * shades it while a collection marks (shm/gc.c), so a snapshot that exists
 * when hl_pin returns 0 stays until its last unpin. hl_gc_find_root is the
 * one look-up of a root about to be held, for pins, restores and refs.
 */
#include "workers.h"

int hl_gc_find_root(hl_arena *a, hl_id id, struct hl_tree *t)
{
	/* a lookup under MARK_END may find a garbage duplicate first that
	 * hl_gc_keep, under SWEEP, gives up: the second lookup, under SWEEP,
	 * passes it by and finds the copy that is kept, if any */
	int rc = 0;
	for (unsigned round = 0; round < 2; round++) {
		if ((rc = hl_tree_load(a, id, t, NULL)))
			return rc;
		if (hl_gc_keep(a, t->root_off))
			return 0;
		rc = HL_ENOENT;
	}
	return rc;
}

int hl_pin(hl_arena *a, hl_id id)
{
	if (!a)
		return HL_EINVAL;
	int rc = hl_arena_writable(a);
	if (rc || hl_id_is_zero(id))
		return rc;
	struct hl_tree t;
	hl_epoch_enter(a);
	rc = hl_gc_find_root(a, id, &t);
	if (!rc)
		rc = hl_hold_add(a, t.root_off, HL_HOLD_PIN);
	hl_epoch_exit(a);
	return rc;
}

int hl_unpin(hl_arena *a, hl_id id)
{
	if (!a)
		return HL_EINVAL;
	int rc = hl_arena_writable(a);
	if (rc)
		return rc;
	if (hl_id_is_zero(id))
		return HL_ENOENT;
	struct hl_tree t;
	hl_epoch_enter(a);
	rc = hl_tree_load(a, id, &t, NULL);
	hl_epoch_exit(a);
	/* a pinned snapshot is never collected, so a failed look-up means
	 * this process holds no pin of it */
	return rc ? HL_ENOENT : hl_hold_drop(a, t.root_off, HL_HOLD_PIN);
}

int hl_gc(hl_arena *a, hl_gc_info *info)
{
	if (!a)
		return HL_EINVAL;
	return hl_gc_collect(a, info);
}

int hl_gc_stats_get(hl_arena *a, hl_gc_stats *out)
{
	if (!a || !out)
		return HL_EINVAL;
	const struct hl_gc_ctl *g = &a->hdr->gc;
	*out = (hl_gc_stats){
		.cycles = atomic_load_explicit(&g->cycles, memory_order_relaxed),
		.freed_nodes = atomic_load_explicit(&g->freed_nodes, memory_order_relaxed),
		.freed_bytes = atomic_load_explicit(&g->freed_bytes, memory_order_relaxed),
		.last_ns = atomic_load_explicit(&g->last_ns, memory_order_relaxed),
		.last_freed_bytes = atomic_load_explicit(&g->last_freed_bytes,
							 memory_order_relaxed),
		.live_nodes = atomic_load_explicit(&g->live_nodes, memory_order_relaxed),
		.live_bytes = atomic_load_explicit(&g->live_bytes, memory_order_relaxed),
		.pause_max_ns = atomic_load_explicit(&g->pause_max_ns, memory_order_relaxed),
		.last_wait_ns = atomic_load_explicit(&g->last_pause_ns, memory_order_relaxed),
		.running = atomic_load_explicit(&g->collector, memory_order_relaxed) != 0,
		.unreused_bytes = atomic_load_explicit(&g->retired_bytes,
						       memory_order_relaxed),
		.released_slabs = atomic_load_explicit(&g->released_slabs,
						       memory_order_relaxed),
	};
	uint64_t n[HL_GC_PAUSE_BUCKETS], all = 0;
	for (unsigned b = 0; b < HL_GC_PAUSE_BUCKETS; b++)
		all += n[b] = atomic_load_explicit(&a->hdr->gc_pause[b],
						   memory_order_relaxed);
	out->pauses = all;
	uint64_t seen = 0;
	for (unsigned b = 0; all && b < HL_GC_PAUSE_BUCKETS; b++) {
		seen += n[b];
		if (!out->pause_p50_ns && seen * 2 >= all)
			out->pause_p50_ns = 2ull << b;
		if (!out->pause_p99_ns && seen * 100 >= all * 99)
			out->pause_p99_ns = 2ull << b;
	}
	return 0;
}
