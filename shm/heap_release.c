/*
 * heap_release.c - slab release and assembly: slabs whose objects are all
 * free go from their class to a pool of units, which a class that ran out
 * of slabs takes from (heap.c's slab_grab, when the row of unused units is
 * used up): a one-unit class a unit at a time, a class of several units as
 * slabs the collector assembles from runs of adjacent units.
 *
 * Slabs stay with their class, so a heap whose mix of classes shifts (a
 * search's records after a phase of positions only, or 4 KiB leaves after
 * a phase of records) can be full for one class while another's free
 * lists hold most of it. A grab that finds the row of units used up takes
 * a released unit from the pool (one-unit classes); when there is none,
 * or its class's slabs are of several units, it says so (its bit in
 * heap_starved), and the next collection, after its frees, releases for it
 * (hl_heap_release_slabs), from every class c that is not starved:
 *
 *   1. takes list c whole, by one CAS to {0, tag + 1}, and names the chain
 *      in free_taken[c] (a pop that read the old head fails on the tag);
 *   2. counts the chain's objects per slab (by its first unit); a slab
 *      every one of whose objects is on the chain and that no cursor names
 *      (a cursor at its slab's end still names it) may go, at most half
 *      the chain's worth;
 *   3. unlinks those slabs' objects, each by one store of its
 *      predecessor's next word (or of free_taken[c]), so the chain stays a
 *      chain at every instruction; a slab whose last object is off goes to
 *      the pool unit by unit, its map entries cleared first (each push's
 *      CAS publishes its unit's clear);
 *   4. gives the rest back to list c by one CAS (free_taken[c] cleared
 *      first: dying between the two leaks the chain, never frees it twice).
 *
 * Then, for each starved class of several units (k), it assembles:
 *
 *   5. takes the pool whole, the same way, named in pool_taken;
 *   6. sorts the chain's units, and picks runs of k adjacent ones (at most
 *      half the pool's units, so one-unit classes keep some);
 *   7. unlinks the picked units, one store each as in 3; once a run's k
 *      units are all off the chain it marks them a slab of the class (CAS
 *      from 0, as a grab does) and pushes all of the slab's objects on the
 *      class's free list, one chain and one CAS;
 *   8. gives the rest of the pool back (pool_taken cleared first).
 *
 * So units move both ways: a one-unit class takes a released leaf slab's
 * units one by one, and leaves get slabs back from adjacent units that
 * records gave up. Runs need adjacency: a pool of scattered single units
 * serves only one-unit classes.
 *
 * No reader can hold a released object: every one was free, so past its
 * grace period (gc.c). A popper that read a top in a released slab fails
 * its CAS (the tag moved), and the map check in pop_begin calls it damage
 * only if the head did not move. Crash safety: a releaser dies holding at
 * most one class's chain or the pool's, which a collector taking over its
 * word gives back (hl_heap_return_taken), and the objects of the slabs it
 * was unlinking, or the picked units of runs it had not yet marked:
 * leaked, like a grab's. A run marked but not yet pushed leaks its slab.
 * On recovery, units below heap_next in no slab go back to the pool.
 *
 * Words (heap.c draws the rest of the heap's):
 *
 *   hdr->free_slabs      the pool: {top, tag}, a Treiber stack of unit
 *                        offsets linked through each unit's first word
 *                        (heap_lists.h), changed like a free list's head
 *   hdr->heap_starved    bit c: a grab of class c found no slab left (and,
 *                        for a one-unit class, the pool empty); heap.c:
 *                        fetch_or; the collector exchanges it to 0 (gc.c)
 *   hdr->free_taken[c]   the chain a releaser took off list c (0: none)
 *   hdr->pool_taken      the chain an assembler took off the pool (0: none)
 *   slab map entry u     cleared (relaxed) by the releaser before it pushes
 *                        unit u; the push's CAS publishes the clear with the
 *                        link, and the grabber's pop CAS (acquire) sees it
 *                        before its slab_mark CAS from 0; set from 0 by an
 *                        assembler (CAS) before the push of the slab's
 *                        objects publishes them
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
 * has not moved. The tag makes it ABA-safe as the free lists' pop is; the
 * link of a unit another grabber took since is read harmlessly and used
 * only if the CAS proves the head unchanged. */
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

/* Sifts a chain this process took whole (its first element named by the
 * word *taken): each element sift->pick chooses is unlinked by one store,
 * of its predecessor's next word or of *taken, so the chain stays a chain
 * at every instruction (a successor gives back whatever *taken names),
 * and then handed to sift->took, which may reuse its words; *first and
 * *last get the chain of the rest. */
struct sift {
	bool (*pick)(struct sift *, uint64_t off);
	void (*took)(struct sift *, uint64_t off);
};

static void chain_sift(hl_arena *a, _Atomic uint64_t *taken, struct sift *sift,
		       uint64_t *first, uint64_t *last)
{
	uint64_t prev = 0;
	*first = *last = 0;
	for (uint64_t off = atomic_load_explicit(taken, memory_order_relaxed), next; off;
	     off = next) {
		next = atomic_load_explicit(next_word(a, off), memory_order_relaxed);
		if (!sift->pick(sift, off)) {
			prev = *last = off;
			*first = *first ? *first : off;
			continue;
		}
		atomic_store_explicit(prev ? next_word(a, prev) : taken, next,
				      memory_order_relaxed);
		sift->took(sift, off);
	}
}

/* Takes the whole stack at head by one CAS to {0, tag + 1} (a pop that
 * read the head before fails on the tag; pushes after it start a new
 * stack) and names its chain in *taken, for a successor if we die: its
 * top, or 0 when it was empty. */
static uint64_t take_whole(struct hl_free_head *head, _Atomic uint64_t *taken)
{
	struct hl_free_head old = head_load(head);
	do {
		if (old.top == 0)
			return 0;
	} while (!head_cas(head, &old, (struct hl_free_head){0, old.tag + 1}));
	atomic_store_explicit(taken, old.top, memory_order_relaxed);
	return old.top;
}

/* Gives back chain first..last, taken by take_whole into *taken, onto the
 * stack at head. The taken word is cleared first: dying between the two
 * stores leaks the chain, never frees it twice. */
static void give_back(hl_arena *a, _Atomic uint64_t *taken, struct hl_free_head *head,
		      uint64_t first, uint64_t last)
{
	atomic_store_explicit(taken, 0, memory_order_relaxed);
	if (first)
		chain_push(a, head, first, last);
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
		uint64_t slab;
		uint32_t *c = NULL;
		if (count && hl_slab_of(a, cls, off - h->off, &slab))
			c = &count[slab / unit];
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

struct release_sift {
	struct sift sift;
	hl_arena *a;
	unsigned cls;
	uint32_t *count;
	uint64_t k, released;
};

/* The slab's first unit, for an object of ours (walked valid, and nothing
 * re-classes objects a process holds). */
static uint64_t slab_unit_of(const struct release_sift *rs, uint64_t off)
{
	const struct hl_region *h = &rs->a->hdr->regions[HL_REGION_HEAP];
	uint64_t slab = 0;
	(void)hl_slab_of(rs->a, rs->cls, off - h->off, &slab);
	return slab / rs->a->hdr->slab_unit_bytes;
}

static bool release_pick(struct sift *s, uint64_t off)
{
	struct release_sift *rs = (struct release_sift *)s;
	return rs->count[slab_unit_of(rs, off)] & UNIT_RELEASE;
}

static void release_took(struct sift *s, uint64_t off)
{
	struct release_sift *rs = (struct release_sift *)s;
	hl_arena *a = rs->a;
	uint64_t u = slab_unit_of(rs, off), unit = a->hdr->slab_unit_bytes;
	if (--rs->count[u] != UNIT_RELEASE)
		return;
	rs->count[u] = 0;
	for (uint64_t j = 0; j < rs->k; j++) {
		atomic_store_explicit(&hl_slab_map(a)[u + j], 0, memory_order_relaxed);
		free_slab_push(a, a->hdr->regions[HL_REGION_HEAP].off + (u + j) * unit);
	}
	rs->released++;
}

/* Releases the slabs of class cls whose every object is on its free list;
 * count[] is scratch, a word per unit (a slab's at its first unit),
 * zeroed. Returns the slabs released. */
static uint64_t release_class(hl_arena *a, unsigned cls, uint32_t *count)
{
	struct hl_arena_hdr *hdr = a->hdr;
	const struct hl_region *h = &hdr->regions[HL_REGION_HEAP];
	uint64_t unit = hdr->slab_unit_bytes, units = hl_slab_units(hdr);
	uint64_t slab_bytes = hl_class_slab_bytes(hdr, cls), k = slab_bytes / unit;
	uint32_t per = (uint32_t)(slab_bytes / hl_class_bytes(hdr, cls));
	struct hl_free_head *head = &hdr->free_list[cls].head;
	_Atomic uint64_t *taken = &hdr->free_taken[cls];
	/* 1. the whole list */
	uint64_t top = take_whole(head, taken);
	if (!top)
		return 0;
	/* 2. slabs a cursor names stay (a cursor at its slab's end still
	 * names it: heapcheck's invariant 3), then a count of free objects a
	 * slab, at its first unit */
	for (uint32_t i = 0; i < hl_slot_count(a); i++) {
		struct hl_slab_cursor *c = &hl_slot_at(a, i)->slab[cls];
		uint64_t end = __atomic_load_n(&c->end, __ATOMIC_RELAXED);
		if (end >= h->off + slab_bytes && end - h->off - slab_bytes < units * unit)
			count[(end - h->off - slab_bytes) / unit] = UNIT_CURSOR;
	}
	uint64_t last, objects;
	if (!chain_walk(a, cls, top, &last, count, &objects)) {
		give_back(a, taken, head, 0, 0); /* damaged: leaked, never followed on */
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
	/* 3. unlink the objects of full slabs (chain_sift); a slab goes to
	 * the pool, unit by unit, when its last object is off the chain */
	struct release_sift rs = {{release_pick, release_took}, a, cls, count, k, 0};
	uint64_t first;
	chain_sift(a, taken, &rs.sift, &first, &last);
	/* 4. the rest back on the list */
	give_back(a, taken, head, first, last);
	return rs.released;
}

/* ---- assembly ----------------------------------------------------------------- */

static int by_offset(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return (a > b) - (a < b);
}

/* Walks a chain of pool units at first: *n of them into v (room for max),
 * *last its last; false when damaged (a unit some slab holds, or more
 * than the heap has: a cycle). v may be NULL (only the walk). */
static bool pool_walk(hl_arena *a, uint64_t first, uint64_t max, uint64_t *v,
		      uint64_t *n, uint64_t *last)
{
	*n = 0;
	*last = 0;
	for (uint64_t off = first; off; ) {
		if (*n >= max || !unit_unheld(a, off))
			return false;
		if (v)
			v[*n] = off;
		(*n)++;
		*last = off;
		off = atomic_load_explicit(next_word(a, off), memory_order_relaxed);
	}
	return true;
}

/* Objects of a slab of several units, at most: its size is the power of
 * two at or above HL_SLAB_OBJECTS_MIN objects (heap.c), so under twice
 * that many. */
#define CARVE_OBJECTS_MAX (2 * HL_SLAB_OBJECTS_MIN)

/* Makes the k units from heap-relative rel a slab of class cls and gives
 * all its objects to the class's free list, one chain, one CAS
 * (hl_heap_free_batch). The units were carved before (their pages are
 * there), and every one is ours. */
static bool carve(hl_arena *a, unsigned cls, uint64_t rel)
{
	struct hl_arena_hdr *hdr = a->hdr;
	uint64_t size = hl_class_bytes(hdr, cls);
	uint64_t n = hl_class_slab_bytes(hdr, cls) / size, offs[CARVE_OBJECTS_MAX];
	if (n > CARVE_OBJECTS_MAX || hl_heap_slab_mark(a, cls, rel))
		return false; /* a unit some slab holds: damage, left as it is */
	uint64_t start = hdr->regions[HL_REGION_HEAP].off + rel;
	for (uint64_t i = 0; i < n; i++)
		offs[i] = start + i * size;
	hl_heap_free_batch(a, cls, offs, n);
	return true;
}

/* A unit picked for a run: its place j in the run (j + 1, low 16 bits);
 * the run's first unit also counts the units still on the chain (high). */
#define PICK_PLACE_MASK 0xffffu
#define PICK_LEFT_SHIFT 16u

struct assemble_sift {
	struct sift sift;
	hl_arena *a;
	unsigned cls;
	uint32_t *pick;
	uint64_t assembled;
};

static uint64_t pool_unit_of(const hl_arena *a, uint64_t off)
{
	return (off - a->hdr->regions[HL_REGION_HEAP].off) / a->hdr->slab_unit_bytes;
}

static bool assemble_pick(struct sift *s, uint64_t off)
{
	struct assemble_sift *as = (struct assemble_sift *)s;
	return as->pick[pool_unit_of(as->a, off)] != 0;
}

static void assemble_took(struct sift *s, uint64_t off)
{
	struct assemble_sift *as = (struct assemble_sift *)s;
	uint64_t u = pool_unit_of(as->a, off);
	uint64_t s0 = u - ((as->pick[u] & PICK_PLACE_MASK) - 1);
	as->pick[s0] -= 1u << PICK_LEFT_SHIFT;
	if (as->pick[s0] >> PICK_LEFT_SHIFT == 0)
		as->assembled += carve(as->a, as->cls, s0 * as->a->hdr->slab_unit_bytes);
}

/* Assembles slabs of class cls (k units each) from the pool's runs of k
 * adjacent units (steps 5-8 above); pick[] is scratch, a word per unit,
 * zeroed. Returns the slabs assembled. */
static uint64_t assemble(hl_arena *a, unsigned cls, uint32_t *pick)
{
	struct hl_arena_hdr *hdr = a->hdr;
	const struct hl_region *h = &hdr->regions[HL_REGION_HEAP];
	uint64_t unit = hdr->slab_unit_bytes, units = hl_slab_units(hdr);
	uint64_t k = hl_class_slab_bytes(hdr, cls) / unit;
	struct hl_free_head *head = &hdr->free_slabs;
	if (k < 2 || k > PICK_PLACE_MASK)
		return 0;
	_Atomic uint64_t *taken = &hdr->pool_taken;
	/* 5. the whole pool */
	uint64_t top = take_whole(head, taken);
	if (!top)
		return 0;
	uint64_t n, last;
	if (!pool_walk(a, top, units, NULL, &n, &last)) {
		give_back(a, taken, head, 0, 0); /* damaged: leaked, never followed on */
		return 0;
	}
	uint64_t *v = malloc(n * sizeof *v);
	if (!v || !pool_walk(a, top, n, v, &n, &last)) {
		free(v);
		give_back(a, taken, head, top, last); /* as it was */
		return 0;
	}
	/* 6. runs of k adjacent units, half the pool's units at most */
	qsort(v, n, sizeof *v, by_offset);
	uint64_t budget = n / 2 / k;
	for (uint64_t i = 0; i + k <= n && budget > 0;) {
		if (v[i + k - 1] - v[i] != (k - 1) * unit) {
			i++;
			continue;
		}
		uint64_t s0 = (v[i] - h->off) / unit;
		for (uint64_t j = 0; j < k; j++)
			pick[s0 + j] = (uint32_t)(j + 1);
		pick[s0] |= (uint32_t)k << PICK_LEFT_SHIFT;
		i += k;
		budget--;
	}
	free(v);
	/* 7. unlink the picked units (chain_sift); a run is carved once its
	 * k units are off */
	struct assemble_sift as = {{assemble_pick, assemble_took}, a, cls, pick, 0};
	uint64_t first;
	chain_sift(a, taken, &as.sift, &first, &last);
	/* 8. the rest back in the pool */
	give_back(a, taken, head, first, last);
	return as.assembled;
}

uint64_t hl_heap_release_slabs(hl_arena *a, uint32_t starved)
{
	struct hl_arena_hdr *hdr = a->hdr;
	uint64_t units = hl_slab_units(hdr), moved = 0;
	uint32_t *count = calloc(units ? units : 1, sizeof *count);
	if (!count)
		return 0;
	for (unsigned cls = 0; cls < hdr->class_count; cls++) {
		if (starved & (1u << cls))
			continue; /* a starved class has none to spare */
		moved += release_class(a, cls, count);
		memset(count, 0, units * sizeof *count);
	}
	/* slabs of several units for the starved classes of such slabs, from
	 * what the pool holds now */
	for (unsigned cls = 0; cls < hdr->class_count; cls++) {
		if (!(starved & (1u << cls)) ||
		    hl_class_slab_bytes(hdr, cls) == hdr->slab_unit_bytes)
			continue;
		moved += assemble(a, cls, count);
		memset(count, 0, units * sizeof *count);
	}
	free(count);
	return moved;
}

void hl_heap_return_taken(hl_arena *a)
{
	struct hl_arena_hdr *hdr = a->hdr;
	for (unsigned cls = 0; cls < hdr->class_count; cls++) {
		_Atomic uint64_t *taken = &hdr->free_taken[cls];
		uint64_t first = atomic_load_explicit(taken, memory_order_relaxed);
		uint64_t last = 0, objects;
		/* a damaged chain is dropped (leaked), never followed */
		bool ok = first && chain_walk(a, cls, first, &last, NULL, &objects);
		give_back(a, taken, &hdr->free_list[cls].head, ok ? first : 0, last);
	}
	uint64_t first = atomic_load_explicit(&hdr->pool_taken, memory_order_relaxed);
	uint64_t n, last = 0;
	bool ok = first && pool_walk(a, first, hl_slab_units(hdr), NULL, &n, &last);
	give_back(a, &hdr->pool_taken, &hdr->free_slabs, ok ? first : 0, last);
}

void hl_heap_pool_unit(hl_arena *a, uint64_t start)
{
	if (unit_unheld(a, start))
		free_slab_push(a, start);
}
