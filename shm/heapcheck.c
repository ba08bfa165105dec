/*
 * heapcheck.c - the heap checker: hl_heap_check proves invariants 1-5 of
 * heap.c (see its design notes) over the slab map, every slot's cursors
 * and every free list.
 *
 * Reads only, and may be run on a read-only handle. Like hl_arena_check it
 * is exact when the arena is quiet; while others allocate it sees a moving
 * target (a free-list walk can follow an object just popped and reused).
 * Checks run in order of dependence: the geometry first, since every later
 * check divides by the slab sizes and indexes with class numbers.
 * Cost: O(heap units + slots x classes + free objects).
 */
#include <stdlib.h>

#include "slabs.h"

/* The class table's slab sizes: each a multiple of the unit, no more than
 * HL_SLAB_UNITS_MAX units, room for at least one object. */
static int check_class_slabs(const struct hl_arena_hdr *hdr, char *msg,
			     size_t msg_len)
{
	uint64_t unit = hdr->slab_unit_bytes;

	for (uint32_t i = 0; i < hdr->class_count; i++) {
		uint32_t b = hdr->class_bytes[i];
		uint64_t slab = hdr->class_slab_bytes[i];
		if (b == 0 || b % HL_HEAP_ALIGN || b > slab ||
		    (i > 0 && b <= hdr->class_bytes[i - 1]))
			return hl_check_fail(msg, msg_len,
					     "heap: class %u has %u bytes", i, b);
		if (slab == 0 || slab % unit || slab / unit > HL_SLAB_UNITS_MAX ||
		    slab > hdr->slab_bytes)
			return hl_check_fail(msg, msg_len, "heap: class %u has "
					     "slabs of %llu bytes", i,
					     (unsigned long long)slab);
	}
	return 0;
}

/* The class table and regions the other checks divide by and index with. */
static int check_geometry(const hl_arena *a, char *msg, size_t msg_len)
{
	const struct hl_arena_hdr *hdr = a->hdr;
	const struct hl_region *h = &hdr->regions[HL_REGION_HEAP];
	const struct hl_region *map = &hdr->regions[HL_REGION_SLABMAP];
	uint64_t unit = hdr->slab_unit_bytes, map_bytes;

	if (unit < HL_SLAB_BYTES_MIN || (unit & (unit - 1)) != 0)
		return hl_check_fail(msg, msg_len,
				     "heap: slab unit %llu is not a power of two >= %u",
				     (unsigned long long)unit, HL_SLAB_BYTES_MIN);
	if (hdr->class_count == 0 || hdr->class_count > HL_CLASSES_MAX)
		return hl_check_fail(msg, msg_len, "heap: class_count %u",
				     hdr->class_count);
	if (check_class_slabs(hdr, msg, msg_len))
		return HL_ECORRUPT;
	if (h->off % HL_PAGE_BYTES || h->off > a->bytes ||
	    h->bytes > a->bytes - h->off)
		return hl_check_fail(msg, msg_len, "heap: region [%llu, +%llu) "
				     "outside the arena",
				     (unsigned long long)h->off,
				     (unsigned long long)h->bytes);
	if (hl_mul_overflows(hl_slab_units(hdr), sizeof(uint16_t), &map_bytes) ||
	    map->bytes < map_bytes || map->off > a->bytes ||
	    map->bytes > a->bytes - map->off)
		return hl_check_fail(msg, msg_len, "heap: slab map of %llu bytes "
				     "for %llu units",
				     (unsigned long long)map->bytes,
				     (unsigned long long)hl_slab_units(hdr));
	return 0;
}

/* Invariant 2 for the entry of unit u, given the run it may continue
 * (*run_cls, *run_next: the class and index the next unit of the current
 * slab would have; run_cls HL_CLASSES_MAX: no run). */
static int check_entry(const hl_arena *a, uint64_t u, uint64_t used_units,
		       unsigned *run_cls, uint32_t *run_next, char *msg,
		       size_t msg_len)
{
	const struct hl_arena_hdr *hdr = a->hdr;
	uint16_t e = hl_slab_entry(a, u);
	unsigned cls = hl_slab_entry_class(e);
	uint32_t idx = hl_slab_entry_index(e);

	if (e == 0) {
		*run_cls = HL_CLASSES_MAX; /* a run may stop short (inv. 2) */
		return 0;
	}
	if (cls >= hdr->class_count ||
	    idx >= hl_class_slab_bytes(hdr, cls) / hdr->slab_unit_bytes ||
	    (idx != 0 && (cls != *run_cls || idx != *run_next)))
		return hl_check_fail(msg, msg_len, "heap: unit %llu has slab map "
				     "entry %#x", (unsigned long long)u, e);
	if (u >= used_units)
		return hl_check_fail(msg, msg_len, "heap: unit %llu is mapped "
				     "but lies past heap_next",
				     (unsigned long long)u);
	*run_cls = cls;
	*run_next = idx + 1;
	return 0;
}

/* Invariants 1 and 2. */
static int check_slab_map(const hl_arena *a, char *msg, size_t msg_len)
{
	const struct hl_arena_hdr *hdr = a->hdr;
	uint64_t next = atomic_load_explicit(&hdr->heap_next,
					     memory_order_relaxed);
	uint64_t used = hl_heap_grabbed_bytes(hdr) / hdr->slab_unit_bytes;
	unsigned run_cls = HL_CLASSES_MAX;
	uint32_t run_next = 0;

	if (next % hdr->slab_unit_bytes)
		return hl_check_fail(msg, msg_len, "heap: heap_next %llu is not "
				     "a multiple of the slab unit %u",
				     (unsigned long long)next, hdr->slab_unit_bytes);
	for (uint64_t u = 0; u < hl_slab_units(hdr); u++) {
		int rc = check_entry(a, u, used, &run_cls, &run_next, msg, msg_len);
		if (rc)
			return rc;
	}
	return 0;
}

/* The part of invariant 3 about one cursor. */
static int check_cursor(const hl_arena *a, uint32_t slot, unsigned cls,
			const struct hl_slab_cursor *c, char *msg,
			size_t msg_len)
{
	if (hl_cursor_valid(a, cls, c))
		return 0;
	return hl_check_fail(msg, msg_len, "heap: slot %u class %u cursor "
			     "{%llu, %llu} is not inside a slab of its class",
			     slot, cls, (unsigned long long)c->cur,
			     (unsigned long long)c->end);
}

/* The current slabs of one class: their ends, sorted, for invariant 5. */
struct class_cursors {
	uint32_t count;
	struct hl_slab_cursor c[HL_PROCESSES_MAX];
};

static int cursor_cmp(const void *x, const void *y)
{
	const struct hl_slab_cursor *p = x, *q = y;
	return (p->end > q->end) - (p->end < q->end);
}

/* Invariant 3 for every slot, live or dead; collects class cls's cursors. */
static int check_cursors(const hl_arena *a, unsigned cls,
			 struct class_cursors *out, char *msg, size_t msg_len)
{
	out->count = 0;
	for (uint32_t i = 0; i < a->hdr->max_processes; i++) {
		const struct hl_slab_cursor *c = &hl_slot_at(a, i)->slab[cls];
		int rc;

		if (c->cur == 0)
			continue;
		rc = check_cursor(a, i, cls, c, msg, msg_len);
		if (rc)
			return rc;
		out->c[out->count++] = *c;
	}
	qsort(out->c, out->count, sizeof(out->c[0]), cursor_cmp);
	for (uint32_t i = 1; i < out->count; i++)
		if (out->c[i].end == out->c[i - 1].end)
			return hl_check_fail(msg, msg_len, "heap: two slots bump "
					     "the slab ending at %llu",
					     (unsigned long long)out->c[i].end);
	return 0;
}

/* The cursor whose slab holds off (a valid object of cls), or NULL. */
static const struct hl_slab_cursor *cursor_of(const hl_arena *a, unsigned cls,
					      const struct class_cursors *cc,
					      uint64_t off)
{
	const struct hl_region *h = &a->hdr->regions[HL_REGION_HEAP];
	struct hl_slab_cursor key;
	uint64_t start;

	if (!hl_slab_of(a, cls, off - h->off, &start))
		return NULL;
	key.end = h->off + start + hl_class_slab_bytes(a->hdr, cls);
	return bsearch(&key, cc->c, cc->count, sizeof(cc->c[0]), cursor_cmp);
}

/* Invariants 4 and 5 for class cls. */
static int check_free_list(const hl_arena *a, unsigned cls,
			   const struct class_cursors *cc, char *msg,
			   size_t msg_len)
{
	uint64_t size = hl_class_bytes(a->hdr, cls);
	/* more entries than objects could exist means a cycle */
	uint64_t bound = hl_heap_grabbed_bytes(a->hdr) / size + 1;
	uint64_t off = __atomic_load_n(&a->hdr->free_list[cls].head.top,
				       __ATOMIC_ACQUIRE);

	for (uint64_t n = 0; off != 0; n++) {
		const struct hl_slab_cursor *c;

		if (n >= bound)
			return hl_check_fail(msg, msg_len, "heap: class %u free "
					     "list has a cycle", cls);
		if (!hl_object_valid(a, cls, off))
			return hl_check_fail(msg, msg_len, "heap: class %u free "
					     "list entry %llu is not an object "
					     "of its class", cls,
					     (unsigned long long)off);
		if (atomic_load_explicit((_Atomic uint64_t *)hl_at(a, off) + 1,
					 memory_order_relaxed) != hl_free_mark(off))
			return hl_check_fail(msg, msg_len, "heap: class %u free "
					     "list entry %llu has no free mark "
					     "(a live object?)", cls,
					     (unsigned long long)off);
		c = cursor_of(a, cls, cc, off);
		if (c && off >= c->cur)
			return hl_check_fail(msg, msg_len, "heap: class %u free "
					     "object %llu lies at or above its "
					     "slab's cursor %llu", cls,
					     (unsigned long long)off,
					     (unsigned long long)c->cur);
		off = atomic_load_explicit((_Atomic uint64_t *)hl_at(a, off),
					   memory_order_relaxed);
	}
	return 0;
}

int hl_heap_check(const hl_arena *a, char *msg, size_t msg_len)
{
	static _Thread_local struct class_cursors cc; /* 16 KiB: off the stack */
	int rc;

	rc = check_geometry(a, msg, msg_len);
	if (rc)
		return rc;
	rc = check_slab_map(a, msg, msg_len);
	if (rc)
		return rc;
	for (unsigned cls = 0; cls < a->hdr->class_count; cls++) {
		rc = check_cursors(a, cls, &cc, msg, msg_len);
		if (rc)
			return rc;
		rc = check_free_list(a, cls, &cc, msg, msg_len);
		if (rc)
			return rc;
	}
	return 0;
}
