/*
 * heap_release.c - slab release: one-unit slabs whose objects are all free
 * go from their class to a pool that any one-unit class grabs from
 * (heap.c's slab_grab, when the row of unused units is used up).
 *
 * Slabs stay with their class, so a heap whose mix of classes shifts (a
 * search's records after a phase of positions only) can be full for one
 * class while another's free lists hold most of it.
 * A grab of a one-unit class that finds the row of units used up takes a
 * released slab from the pool; when there is none it says so (its bit in
 * heap_starved), and the next collection, after its frees, releases for
 * it (hl_heap_release_slabs), from every other one-unit class c:
 *
 *   1. takes list c whole, by one CAS to {0, tag + 1}, and names the chain
 *      in free_taken[c] (a pop that read the old head fails on the tag);
 *   2. counts the chain's objects per unit; a unit every one of whose
 *      objects is on the chain and that no cursor names (a cursor at its
 *      slab's end still names it) may go, at most half the chain's worth;
 *   3. unlinks those units' objects, each by one store of its
 *      predecessor's next word (or of free_taken[c]), so the chain stays a
 *      chain at every instruction; a unit whose last object is off goes to
 *      the pool, its map entry cleared first (the push's CAS publishes it);
 *   4. gives the rest back to list c by one CAS (free_taken[c] cleared
 *      first: dying between the two leaks the chain, never frees it twice).
 *
 * No reader can hold a released object: every one was free, so past its
 * grace period (gc.c). A popper that read a top in a released slab fails
 * its CAS (the tag moved), and the map check in pop_begin calls it damage
 * only if the head did not move. Slabs of several units stay with their
 * class (a unit of theirs would serve only one-unit classes, for good).
 * Crash safety: a releaser dies holding at most one class's chain, which a
 * collector taking over its word gives back (hl_heap_return_taken), and
 * the objects of the units it was unlinking: leaked, like a grab's. On
 * recovery, units below heap_next in no slab go back to the pool.
 *
 * Words (heap.c draws the rest of the heap's):
 *
 *   hdr->free_slabs      the pool: {top, tag}, a Treiber stack of unit
 *                        offsets linked through each unit's first word
 *                        (heap_lists.h), changed like a free list's head
 *   hdr->heap_starved    bit c: a grab of one-unit class c found no unit
 *                        left and the pool empty (heap.c: fetch_or; the
 *                        collector exchanges it to 0, gc.c)
 *   hdr->free_taken[c]   the chain a releaser took off list c (0: none)
 *   slab map entry u     cleared (relaxed) by the releaser before it pushes
 *                        unit u; the push's CAS publishes the clear with the
 *                        link, and the grabber's pop CAS (acquire) sees it
 *                        before its slab_mark CAS from 0
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "heap_lists.h"
#include "slabs.h"

/* ---- the pool ---------------------------------------------------------------- */

/* True when start (an arena offset) is a unit below heap_next that no
 * slab holds: what every pool entry is until a grab marks it. */
static bool unit_unheld(const hl_arena *a, uint64_t start)
{
	const struct hl_region *h = &a->hdr->regions[HL_REGION_HEAP];
	uint64_t unit = a->hdr->slab_unit_bytes, rel = start - h->off;
	if (start < h->off || rel % unit ||
	    rel >= atomic_load_explicit(&a->hdr->heap_next, memory_order_relaxed) ||
	    rel / unit >= hl_slab_units(a->hdr))
		return false;
	return atomic_load_explicit(&hl_slab_map(a)[rel / unit], memory_order_relaxed) == 0;
}

/* Pushes the released unit at arena offset start (its map entry cleared
 * by the caller before: the CAS's barrier publishes the clear with the
 * link, for the popper's slab_mark). */
static void free_slab_push(hl_arena *a, uint64_t start)
{
	chain_push(a, &a->hdr->free_slabs, start, start);
}

/* Pops a released unit (heap_lists.h): HL_EFULL also when every try lost
 * its CAS; HL_ECORRUPT only for a head that names no released unit and
 * has not moved. The tag makes it ABA-safe as
 * the free lists' pop; the link of a unit another grabber took since is
 * read harmlessly and used only if the CAS proves the head unchanged. */
int hl_heap_pool_pop(hl_arena *a, uint64_t *rel)
{
	struct hl_free_head *head = &a->hdr->free_slabs;
	for (unsigned i = 0; i < HL_HEAP_POP_TRIES; i++) {
		struct hl_free_head old = head_load(head);
		if (old.top == 0)
			return HL_EFULL;
		if (!unit_unheld(a, old.top)) {
			struct hl_free_head same = old;
			if (head_cas(head, &same, same))
				return HL_ECORRUPT;
			continue;
		}
		uint64_t next = atomic_load_explicit(next_word(a, old.top),
						     memory_order_relaxed);
		if (head_cas(head, &old, (struct hl_free_head){next, old.tag + 1})) {
			*rel = old.top - a->hdr->regions[HL_REGION_HEAP].off;
			return 0;
		}
	}
	return HL_EFULL;
}

/* ---- release ------------------------------------------------------------------ */

/* count[] words: a unit some cursor names, never released */
#define UNIT_CURSOR UINT32_MAX
/* ... and a unit to release: the objects still to unlink below this bit */
#define UNIT_RELEASE 0x80000000u

/* Gives back free chain first..last (taken off list cls by this process,
 * named by free_taken[cls]). The taken word is cleared first: dying
 * between the two stores leaks the chain, never frees it twice. */
static void give_back(hl_arena *a, unsigned cls, uint64_t first, uint64_t last)
{
	atomic_store_explicit(&a->hdr->free_taken[cls], 0, memory_order_relaxed);
	if (first)
		chain_push(a, &a->hdr->free_list[cls].head, first, last);
}

/* Walks the chain at first (free objects of class cls that this process
 * holds): *last gets its last object; false when it is damaged (an object
 * not marked free, not of the class, or more objects than the heap holds:
 * a cycle). */
static bool chain_walk(hl_arena *a, unsigned cls, uint64_t first, uint64_t *last,
		       uint32_t *count, uint64_t *objects)
{
	const struct hl_region *h = &a->hdr->regions[HL_REGION_HEAP];
	uint64_t unit = a->hdr->slab_unit_bytes;
	uint64_t most = h->bytes / hl_class_bytes(a->hdr, cls) + 1, n = 0;
	*last = 0;
	for (uint64_t off = first; off; n++) {
		if (n > most || !hl_object_valid(a, cls, off) ||
		    atomic_load_explicit(next_word(a, off) + 1, memory_order_relaxed) !=
			    hl_free_mark(off))
			return false;
		uint32_t *c = count ? &count[(off - h->off) / unit] : NULL;
		if (c && *c != UNIT_CURSOR)
			(*c)++;
		*last = off;
		off = atomic_load_explicit(next_word(a, off), memory_order_relaxed);
		if (off && off + 64 * HL_HEAP_ALIGN < a->bytes)
			__builtin_prefetch(hl_at(a, off));
	}
	*objects = n;
	return true;
}

/* Releases the one-unit slabs of class cls whose every object is on its
 * free list; count[] is scratch, a word per unit, zeroed. Returns the
 * slabs released. */
static uint64_t release_class(hl_arena *a, unsigned cls, uint32_t *count)
{
	struct hl_arena_hdr *hdr = a->hdr;
	const struct hl_region *h = &hdr->regions[HL_REGION_HEAP];
	uint64_t unit = hdr->slab_unit_bytes, units = hl_slab_units(hdr);
	uint32_t per = (uint32_t)(unit / hl_class_bytes(hdr, cls));
	struct hl_free_head *head = &hdr->free_list[cls].head;
	/* 1. the whole list, by one CAS to empty: a pop that read the head
	 * before fails its CAS on the tag; pushes after it start a new list */
	struct hl_free_head old = head_load(head);
	do {
		if (old.top == 0)
			return 0;
	} while (!head_cas(head, &old, (struct hl_free_head){0, old.tag + 1}));
	atomic_store_explicit(&hdr->free_taken[cls], old.top, memory_order_relaxed);
	/* 2. units a cursor names stay (a cursor at its slab's end still names
	 * it: heapcheck's invariant 3), then a count of free objects a unit */
	for (uint32_t i = 0; i < hl_slot_count(a); i++) {
		struct hl_slab_cursor *c = &hl_slot_at(a, i)->slab[cls];
		uint64_t end = __atomic_load_n(&c->end, __ATOMIC_RELAXED);
		if (end >= h->off + unit && end - h->off - unit < units * unit)
			count[(end - h->off - unit) / unit] = UNIT_CURSOR;
	}
	uint64_t last, objects;
	if (!chain_walk(a, cls, old.top, &last, count, &objects)) {
		give_back(a, cls, 0, 0); /* damaged: leaked, never followed on */
		return 0;
	}
	/* at most half the class's free objects go: the class keeps room of
	 * its own (a release that emptied it would starve it in turn, and
	 * its next collection would find no room for it: futile) */
	uint64_t budget = objects / 2 / per;
	for (uint64_t u = 0; u < units; u++) {
		bool go = count[u] == per && budget > 0;
		budget -= go;
		count[u] = go ? UNIT_RELEASE | per : 0;
	}
	/* 3. unlink the objects of full units, one store each, so the chain
	 * free_taken names stays a chain at every instruction (a successor
	 * gives it back whole); a unit goes to the pool when its last object
	 * is off the chain */
	uint64_t released = 0, prev = 0, first = 0;
	last = 0;
	for (uint64_t off = old.top, next; off; off = next) {
		next = atomic_load_explicit(next_word(a, off), memory_order_relaxed);
		uint64_t u = (off - h->off) / unit;
		if (!(count[u] & UNIT_RELEASE)) {
			prev = last = off;
			first = first ? first : off;
			continue;
		}
		if (prev)
			atomic_store_explicit(next_word(a, prev), next, memory_order_relaxed);
		else
			atomic_store_explicit(&hdr->free_taken[cls], next, memory_order_relaxed);
		if (--count[u] == UNIT_RELEASE) {
			count[u] = 0;
			atomic_store_explicit(&hl_slab_map(a)[u], 0, memory_order_relaxed);
			free_slab_push(a, h->off + u * unit);
			released++;
		}
	}
	/* 4. the rest back on the list */
	give_back(a, cls, first, last);
	return released;
}

uint64_t hl_heap_release_slabs(hl_arena *a, uint32_t starved)
{
	struct hl_arena_hdr *hdr = a->hdr;
	uint64_t units = hl_slab_units(hdr), released = 0;
	uint32_t *count = calloc(units ? units : 1, sizeof *count);
	if (!count)
		return 0;
	for (unsigned cls = 0; cls < hdr->class_count; cls++) {
		if (hl_class_slab_bytes(hdr, cls) != hdr->slab_unit_bytes ||
		    (starved & (1u << cls)))
			continue; /* slabs of several units stay with their class;
				   * a starved class has none to spare */
		released += release_class(a, cls, count);
		memset(count, 0, units * sizeof *count);
	}
	free(count);
	return released;
}

void hl_heap_return_taken(hl_arena *a)
{
	for (unsigned cls = 0; cls < a->hdr->class_count; cls++) {
		uint64_t first = atomic_exchange_explicit(&a->hdr->free_taken[cls], 0,
							  memory_order_relaxed);
		uint64_t last;
		uint64_t objects;
		if (first && chain_walk(a, cls, first, &last, NULL, &objects))
			give_back(a, cls, first, last);
	}
}

void hl_heap_pool_unit(hl_arena *a, uint64_t start)
{
	if (unit_unheld(a, start))
		free_slab_push(a, start);
}
