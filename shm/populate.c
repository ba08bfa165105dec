/*
 * populate.c - pages made present before a commit needs them.
 *
 * A first touch of a shared-memory page costs about 3.5 us on the VMs
 * Helios is measured on (shmem_alloc_and_add_folio, clear_page, the memcg
 * charge), and a page that exists but is not yet in this process's page
 * tables still costs a minor fault. A W1 commit is about 1 us of work, so
 * one such fault inside it quadruples it. This file moves every such cost
 * out of the commit, without paying prefault's seconds per GiB:
 *
 *   metadata   (everything but the heap: header, slots, refs, index, slab
 *              map, in-flight tables, and any region added to the table
 *              later) is about 1.6% of an arena. Creation allocates it
 *              with MADV_POPULATE_WRITE (about 15 ms per GiB of arena),
 *              after NUMA policy is set (arena.c invariant 3). Each attach
 *              maps it with MADV_POPULATE_READ: the pages exist, so this
 *              only fills page tables, 2-4x cheaper than POPULATE_WRITE.
 *              A read fault on shmem maps the page writable (tmpfs does no
 *              dirty tracking), so a commit's index insert takes no fault.
 *   slabs      are prepared whole when a process grabs one (heap.c
 *              slab_grab): one MADV_POPULATE_WRITE of the slab (128 KiB
 *              for 4 KiB leaves: about 31 commits' worth) instead of a
 *              fault per page inside 31 commits - unless the process's
 *              page helper thread (ahead.c) allocates them ahead, off
 *              the commit path. The slab is still all
 *              zero afterwards: a grabbed slab is fresh (heap_next only
 *              grows, and its units were claimed by CAS from unused), so
 *              populating changes no byte anyone can see.
 *   others'    page-table entries are per process, so a page another
 *   pages      worker filled costs this one its own minor fault the first
 *              time it reads it (and the faults of several processes
 *              contend on the shm file's locks). A search graph is read
 *              by every worker: hl_heap_map_new maps, in one
 *              MADV_POPULATE_READ per HL_MAP_AHEAD_MIN_BYTES step, the part
 *              of the heap handed out since this handle last looked.
 *
 * Invariants:
 *  1. Populating never changes a byte of the arena: it only allocates
 *     zero pages the file would have handed out zero on first touch, and
 *     fills page tables. A process may die during any of it; what it
 *     leaves is pages allocated earlier than needed, never a wrong byte.
 *  2. Nothing here is needed for correctness: every call is best effort
 *     but creation's (which must report a full file system as HL_ENOSPC
 *     rather than let a later touch take SIGBUS). A kernel without
 *     MADV_POPULATE_* (before 5.14) gets the fallback each function names.
 *  3. Only ranges from a validated region table (arena.c invariant 2) or a
 *     slab this process owns are populated with writes; read-only handles
 *     populate for reading only.
 */
#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "shm.h"

/* Kernels before 5.14 answer EINVAL: fall back to a touch per page. A
 * write of zero to a page that is zero (invariant 1) allocates it. */
static int populate_write(unsigned char *p, uint64_t bytes)
{
	if (bytes == 0 || madvise(p, bytes, MADV_POPULATE_WRITE) == 0)
		return 0;
	if (errno == EFAULT)
		return HL_ENOSPC; /* a page could not be backed */
	if (errno != EINVAL)
		return errno == ENOMEM ? HL_ENOMEM : HL_EIO;
	for (uint64_t at = 0; at < bytes; at += HL_PAGE_BYTES) {
		_Atomic unsigned char *w = (_Atomic unsigned char *)(p + at);
		/* an atomic add of 0: correct even if the page were shared
		 * and in use, which a plain store of 0 would not be */
		atomic_fetch_add_explicit(w, 0, memory_order_relaxed);
	}
	return 0;
}

static void populate_read(const unsigned char *p, uint64_t bytes)
{
	if (bytes == 0 || madvise((void *)p, bytes, MADV_POPULATE_READ) == 0)
		return;
	if (errno != EINVAL)
		return;
	/* a read per 64 KiB: the kernel maps the 16 pages around each
	 * faulting one (fault-around) when they are in the page cache */
	for (uint64_t at = 0; at < bytes; at += 64u << 10)
		(void)*(volatile const unsigned char *)(p + at);
}

/* Region r of a header whose table is valid (or being written by the
 * creator): NULL len 0 for the heap and for unused table entries. */
static uint64_t metadata_range(const struct hl_arena_hdr *h, unsigned r,
			       uint64_t *off)
{
	if (r == HL_REGION_HEAP || r == HL_REGION_MARKS)
		return 0; /* a slab at a time; the collector's, at its first run */
	*off = h->regions[r].off;
	return h->regions[r].bytes;
}

int hl_populate_metadata_create(unsigned char *base, const struct hl_arena_hdr *h)
{
	int rc = populate_write(base, HL_PAGE_BYTES); /* the header's page */

	for (unsigned r = 0; !rc && r < HL_REGION_TABLE; r++) {
		uint64_t off = 0, bytes = metadata_range(h, r, &off);
		rc = populate_write(base + off, hl_align_up(bytes, HL_PAGE_BYTES));
	}
	return rc;
}

void hl_populate_metadata_attach(const hl_arena *a)
{
	populate_read(a->base, HL_PAGE_BYTES);
	for (unsigned r = 0; r < HL_REGION_TABLE; r++) {
		uint64_t off = 0, bytes = metadata_range(a->hdr, r, &off);
		if (bytes && off < a->bytes && bytes <= a->bytes - off)
			populate_read(a->base + off, bytes);
	}
}

void hl_populate_slab(hl_arena *a, uint64_t off, uint64_t bytes)
{
	(void)populate_write(hl_at(a, off), bytes);
}

/* Others' pages (the file comment): below the handed-out watermark only,
 * page-aligned, one call per step; a kernel without MADV_POPULATE_READ
 * (EINVAL) turns it off for the handle. */
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
