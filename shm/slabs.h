/*
 * slabs.h - the geometry of the heap's slabs, shared by the allocator
 * (heap.c) and its checker (heapcheck.c): where a slab starts, what class
 * it holds, whether an offset or a cursor read from the arena is sane.
 *
 * Each size class has its own slab size (class_slab_bytes), a whole number
 * of slab units (slab_unit_bytes, a power of two). The slab map has one
 * 16-bit entry per unit of the heap (layout.h draws it):
 *
 *   15                 5 4          0
 *   +-------------------+------------+
 *   | unit's index in   | class + 1  |     0: the unit is in no slab
 *   | its slab (0..2047)| (1..16)    |
 *   +-------------------+------------+
 *
 * so an offset finds its slab in O(1) - its unit's entry says how many
 * units back the slab starts, and the entry there (index 0, same class)
 * confirms it - wherever slabs of different sizes fall in the row.
 *
 * Every check divides (never shifts by a size read from the header), and
 * trusts no entry alone: a damaged map makes an offset invalid, never a
 * pointer outside the heap.
 */
#ifndef HL_SHM_SLABS_H
#define HL_SHM_SLABS_H

#include "shm.h"

#define HL_MAP_CLASS_BITS 5u
#define HL_MAP_CLASS_MASK ((1u << HL_MAP_CLASS_BITS) - 1)
_Static_assert(HL_CLASSES_MAX < (1u << HL_MAP_CLASS_BITS), "class + 1 fits");
_Static_assert(HL_SLAB_UNITS_MAX <= (1u << (16 - HL_MAP_CLASS_BITS)),
	       "a unit's index in its slab fits");

static inline uint64_t hl_class_bytes(const struct hl_arena_hdr *hdr, unsigned cls)
{
	return hdr->class_bytes[cls];
}

static inline uint64_t hl_class_slab_bytes(const struct hl_arena_hdr *hdr,
					   unsigned cls)
{
	return hdr->class_slab_bytes[cls];
}

/* Units of the heap region: the slab map has one entry for each. */
static inline uint64_t hl_slab_units(const struct hl_arena_hdr *hdr)
{
	return hdr->regions[HL_REGION_HEAP].bytes / hdr->slab_unit_bytes;
}

static inline _Atomic uint16_t *hl_slab_map(const hl_arena *a)
{
	return (_Atomic uint16_t *)hl_at(a, a->hdr->regions[HL_REGION_SLABMAP].off);
}

static inline uint16_t hl_slab_entry(const hl_arena *a, uint64_t unit)
{
	return atomic_load_explicit(&hl_slab_map(a)[unit], memory_order_relaxed);
}

static inline uint16_t hl_slab_entry_make(unsigned cls, uint32_t index)
{
	return (uint16_t)((cls + 1) | (index << HL_MAP_CLASS_BITS));
}

/* The class of a nonzero entry (HL_CLASSES_MAX or more: garbage). */
static inline unsigned hl_slab_entry_class(uint16_t e)
{
	return (e & HL_MAP_CLASS_MASK) - 1u;
}

static inline uint32_t hl_slab_entry_index(uint16_t e)
{
	return e >> HL_MAP_CLASS_BITS;
}

/* Word 1 of an object while it is on a free list (heap.c, "Words"): a
 * constant mixed with the object's own offset, so neither a live node nor
 * a copy of a free object elsewhere carries it. */
#define HL_FREE_MARK 0x21656572662d6c68ull /* "hl-free!" */
static inline uint64_t hl_free_mark(uint64_t off)
{
	return HL_FREE_MARK ^ (off * 0x9e3779b97f4a7c15ull);
}

/* Bytes of the heap handed out as slabs: heap_next clamped to the heap. */
static inline uint64_t hl_heap_grabbed_bytes(const struct hl_arena_hdr *hdr)
{
	uint64_t next = atomic_load_explicit(&hdr->heap_next,
					     memory_order_relaxed);
	uint64_t limit = hl_slab_units(hdr) * hdr->slab_unit_bytes;
	return next < limit ? next : limit;
}

/* True when heap-relative rel lies in a slab the map gives to cls (*start:
 * the slab's heap-relative start): rel's unit names cls and index i, the
 * unit i before it names cls and index 0, and the slab ends in the heap. */
static inline bool hl_slab_of(const hl_arena *a, unsigned cls, uint64_t rel,
			      uint64_t *start)
{
	const struct hl_arena_hdr *hdr = a->hdr;
	uint64_t unit = rel / hdr->slab_unit_bytes, first;
	uint16_t e;

	if (unit >= hl_slab_units(hdr))
		return false;
	e = hl_slab_entry(a, unit);
	if (e == 0 || hl_slab_entry_class(e) != cls ||
	    hl_slab_entry_index(e) > unit)
		return false;
	first = unit - hl_slab_entry_index(e);
	if (hl_slab_entry(a, first) != hl_slab_entry_make(cls, 0))
		return false;
	*start = first * hdr->slab_unit_bytes;
	return *start <= hdr->regions[HL_REGION_HEAP].bytes -
				 hl_class_slab_bytes(hdr, cls);
}

/* True when off is the start of an object of class cls in a slab mapped to
 * cls: the read-side check that pairs with the map stores in slab_grab.
 * Every offset taken from a free list passes it before it is used. */
static inline bool hl_object_valid(const hl_arena *a, unsigned cls, uint64_t off)
{
	const struct hl_region *h = &a->hdr->regions[HL_REGION_HEAP];
	uint64_t size, start, in;

	if (cls >= a->hdr->class_count || off < h->off ||
	    !hl_slab_of(a, cls, off - h->off, &start))
		return false;
	size = hl_class_bytes(a->hdr, cls);
	in = off - h->off - start;
	return in % size == 0 && in + size <= hl_class_slab_bytes(a->hdr, cls);
}

/* Invariant 3 of heap.c for one cursor read from the arena: end is the end
 * of a grabbed slab mapped to cls, cur an object boundary of cls in it with
 * cur <= end. */
static inline bool hl_cursor_valid(const hl_arena *a, unsigned cls,
				   const struct hl_slab_cursor *c)
{
	const struct hl_arena_hdr *hdr = a->hdr;
	const struct hl_region *h = &hdr->regions[HL_REGION_HEAP];
	uint64_t slab, rel_end, start;

	if (cls >= hdr->class_count || c->end < h->off)
		return false;
	slab = hl_class_slab_bytes(hdr, cls);
	rel_end = c->end - h->off;
	if (rel_end < slab || rel_end > hl_heap_grabbed_bytes(hdr) ||
	    !hl_slab_of(a, cls, rel_end - slab, &start) || start != rel_end - slab)
		return false;
	start += h->off;
	return c->cur >= start && c->cur <= c->end &&
	       (c->cur - start) % hl_class_bytes(hdr, cls) == 0;
}

#endif /* HL_SHM_SLABS_H */
