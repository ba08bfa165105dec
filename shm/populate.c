/*
 * populate.c - mapping ahead what other processes wrote: the page-table
 * entries of a shared mapping are per process, so a page that one worker
 * filled costs every other worker its own minor fault (about a microsecond
 * each, and the faults of several processes contend on the shm file's
 * locks in the kernel) the first time it reads it. A search graph is read
 * by every worker, so its pages fault once per worker. hl_heap_map_new
 * instead maps, in one madvise(MADV_POPULATE_READ) per step, the part of
 * the heap handed out since this handle last looked.
 *
 * Invariants:
 *  1. Only bytes below the heap's handed-out watermark (hl_heap_used) are
 *     populated, page-aligned, in steps of at least HL_MAP_AHEAD_MIN_BYTES
 *     (one call per step, not per page).
 *  2. A kernel without MADV_POPULATE_READ (EINVAL: before Linux 5.14) turns
 *     it off for the handle: the pages then fault one by one, as before.
 *  3. It changes no byte and no mapping's contents: it only fills page
 *     tables, so it is safe at any time, in any process, read-only too.
 */
#include <errno.h>
#include <sys/mman.h>

#include "shm.h"

void hl_heap_map_new(hl_arena *a)
{
	if (a->map_ahead_off)
		return;
	uint64_t used = hl_heap_used(a);
	if (used < a->mapped_heap_bytes + HL_MAP_AHEAD_MIN_BYTES)
		return;
	const struct hl_region *h = hl_region(a, HL_REGION_HEAP);
	uint64_t from = h->off + a->mapped_heap_bytes;
	uint64_t to = h->off + used;
	from &= ~(uint64_t)(HL_PAGE_BYTES - 1);
	if (to > a->bytes)
		to = a->bytes;
	if (to > from && madvise(a->base + from, to - from, MADV_POPULATE_READ) &&
	    errno == EINVAL)
		a->map_ahead_off = true; /* invariant 2 */
	a->mapped_heap_bytes = used;
}
