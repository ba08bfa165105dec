/*
 * heap.c - the shared heap: size-classed objects (nodes, ref names) carved
 * from per-process slabs, recycled through lock-free per-class free lists.
 *
 * NOTES ON THE DESIGN OF THE HEAP
 *
 * The heap region is a row of slabs, each a whole number of slab units;
 * each size class has its own slab size (room for HL_SLAB_OBJECTS_MIN of
 * its objects, at least one unit), so a 1 MiB-chunk arena's root and inner
 * slabs are 64 KiB, not 32 MiB like its leaf slabs. A process takes a
 * whole slab for one size class with one CAS on hdr->heap_next and then
 * bumps through it privately, with a cursor kept in its own process slot,
 * so the common allocation touches no shared cache line. The slab map
 * (shm/slabs.h) says for every unit which class's slab it is in and how
 * far from that slab's start, so any offset finds its slab in O(1). A
 * freed object goes back by rewinding that cursor when it was the last one
 * bumped (a commit that lost an insert race returns its copy at once), and
 * otherwise onto its class's free list, a Treiber stack shared by every
 * process. Allocation pops that list first, then bumps, then grabs a
 * new slab; the unused tail of a slab that cannot hold one more object is
 * abandoned (less than one object per slab).
 *
 * Words, and who writes them:
 *
 *   hdr->heap_next       heap-relative offset of the next unused unit;
 *                        only ever grows, by a CAS that never takes it past
 *                        the heap's end (readers clamp it all the same).
 *   slab map entry u     0 = unused, else {class, index in slab}; written
 *                        by CAS from 0, by the process whose heap_next CAS
 *                        (or pool pop) took unit u, before it carves the
 *                        slab; back to 0 only by a collector releasing the
 *                        slab (heap_release.c, which draws its words),
 *                        every object of it in its hands.
 *   slot->slab[cls]      {cur, end}: arena offsets of the next object and
 *                        of the slab's end; cur == 0 means no slab. Written
 *                        only by the slot's owner.
 *   free_list[cls].head  {top, tag}, 16 bytes changed only by one 16-byte
 *                        CAS (head_cas); top 0 = empty. The tag is bumped by
 *                        every successful CAS (push and pop): see "ABA".
 *   object word 0        while on a free list: the next object's offset;
 *   object word 1        and hl_free_mark(offset), written by the push. A
 *                        live object's word 1 is never that (nodes hold
 *                        hash.hi there, names their hash and length; every
 *                        allocation writes both words): a pop that finds
 *                        no mark on an object whose head has not moved
 *                        knows the head is damaged (it names a live node)
 *                        and answers HL_ECORRUPT instead of handing the
 *                        node out to be overwritten.
 *
 * Invariants (hl_heap_check, in heapcheck.c, verifies 1-5):
 *
 *   1. heap_next is a multiple of slab_unit_bytes.
 *   2. A unit's map entry is 0 or names a valid class and an index below
 *      that class's slab units; the entries of one slab run 0, 1, 2, ...
 *      from its first unit, and are nonzero only below heap_next. A run may
 *      stop short (its grabber died while marking it: the rest is 0, and
 *      the slab is simply lost), as may a whole slab.
 *   3. A cursor with cur != 0 lies in a slab mapped to its class: end is
 *      that slab's end and cur is an object boundary of the class with
 *      cur <= end. No two cursors share a slab.
 *   4. Every free-list entry is an object boundary in a slab of its class
 *      carrying the free mark, and the list is acyclic.
 *   5. A free object in a slab that is some cursor's current slab lies below
 *      that cursor (else it could be handed out twice).
 *   6. Every carved object (below its slab's cursor, or in an abandoned
 *      slab) is in exactly one of: held by a process, on its free list,
 *      lost with a dead process. Never two; tests check it with patterns.
 *
 * Memory orders:
 *
 *   - The heap_next CAS is relaxed: the slab it takes is touched only by
 *     the grabber until it publishes objects through the index (release CAS
 *     in index.c) or a free-list push (release CAS below); those carry the
 *     slab map entries and the object's bytes with them.
 *   - Slab map entries are relaxed atomic CASes and loads, for the same
 *     reason: whoever can reach an object of the slab got to it through a
 *     release/acquire pair that follows the map store.
 *   - Free-list push: the free mark and the next word are stored relaxed,
 *     then the head CAS publishes them (a release); it pairs with the
 *     acquire load of the head's top in pop, so a popper reads the mark,
 *     the next word and the object bytes the pusher wrote. Pop success is
 *     an acquire for the same reason.
 *   - Pop reads the next word of an object that another process may have
 *     popped already and be writing: that load is atomic relaxed, and its
 *     value is used only if the head CAS then succeeds (see "ABA").
 *   - The head CAS is LOCK CMPXCHG16B, a full barrier: it is the release
 *     of a push and the acquire of a pop. head_load's two 8-byte loads may
 *     pair halves from different moments; a torn pair only fails the CAS.
 *   - Cursors are private to their owner; the compiler barriers in
 *     cursor_set order their stores for a process killed mid-way (the
 *     kernel's exit path orders them for whoever reads the slot next).
 *
 * ABA. A pop reads head {X, t} and X's next word N, then CASes {X, t} to
 * {N, t+1}. Between its read and its CAS, others may pop X, pop N (now
 * held), and push X back: the head is X again, and a CAS on the offset
 * alone would install N, already held, to be handed out twice. The tag
 * makes the CAS compare the count of successful CASes too, and each of
 * those pops and pushes bumped it, so the stalled CAS fails - unless the
 * tag came all the way round. A 16-bit tag did, after 65536 CASes (tens
 * of closes, each pushing a slab's tail of ~2048 objects; the heap suite
 * reproduces the double hand-out). The tag is now 64 bits in the 16-byte
 * head: at 10^9 successful CASes a second on one list it wraps after 584
 * years, while a stalled popper whose process dies never CASes at all.
 * CMPXCHG16B is lock-free across processes (LOCK on one 16-byte-aligned
 * line); create and attach refuse a CPU without it (HL_EIO).
 *
 * Crash safety: a process may die at any instruction.
 *
 *   - Between the grab's heap_next CAS and the last slab map CAS: the slab
 *     is counted in heap_next, its entries a (perhaps empty) prefix of its
 *     run, no cursor: leaked, inv. 2 ok.
 *   - Between the map CASes and cursor_set: slab marked, no cursor: leaked.
 *   - Inside cursor_set: the cursor passes through {0, old end}, {0, new
 *     end}, {new cur, new end}; all satisfy inv. 3 (cur == 0 is no slab).
 *   - A bump or a rewind is one aligned 8-byte store: before it the object
 *     is not handed out (or still held), after it it is (or is back).
 *     An object bumped but not yet published is leaked with its owner.
 *   - Push: dying before the CAS leaves the list unchanged (the object's
 *     next word is dead data) and the object leaked; after it, it is freed.
 *   - Pop: dying after the CAS leaves the object off the list, held by the
 *     dead process: leaked, like anything a dead process held unpublished.
 *   Leaks are bounded by what a process holds at death; whoever reclaims
 *   the slot gives its cursors' tails back (hl_heap_release_cursors), and
 *   an allocation that finds the heap full first reclaims the slots of dead
 *   processes (their tails reach the free lists at once) and looks again.
 *
 * Slab release (a slab whose objects are all free going to another class)
 * and assembly (slabs of several units made from released units) are
 * drawn in heap_release.c, with the pool of units between them; grabs of
 * one-unit classes take from the pool, and every class's grab that finds
 * the heap carved full says so in heap_starved.
 *
 * Words read from shared memory are checked before they are followed, so
 * a damaged arena costs an error or a leak, never a stray write:
 *
 *   - heap_next: a value that is not a multiple of the unit makes a grab
 *     answer HL_ECORRUPT; the map entries of a grabbed slab are claimed by
 *     CAS from 0, so a heap_next moved back never hands out a carved slab.
 *   - cursors: a free slot holds none, so a fresh owner drops whatever it
 *     finds (hl_heap_adopt_cursors); a cursor damaged later that fails the
 *     bounds in cursor_bump is dropped; release walks a cursor's tail only
 *     if it passes cursor_valid.
 *   - free-list entries pass object_valid before their next word is read,
 *     and must carry the free mark before they are handed out.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "heap_lists.h"
#include "slabs.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

/* The generic classes stop at 4 KiB: larger objects are leaves, which get
 * an exact class of their own. */
#define GENERIC_CLASS_MAX 4096u

/* ---- geometry: shm/slabs.h ------------------------------------------------ */

bool hl_heap_object_valid(const hl_arena *a, unsigned cls, uint64_t off)
{
	return hl_object_valid(a, cls, off);
}

/* ---- class table ---------------------------------------------------------- */

/* Inserts bytes into the ascending, duplicate-free table. */
static void class_insert(struct hl_arena_hdr *hdr, uint32_t bytes)
{
	uint32_t i = 0;

	while (i < hdr->class_count && hdr->class_bytes[i] < bytes)
		i++;
	if (i < hdr->class_count && hdr->class_bytes[i] == bytes)
		return;
	hl_assert(hdr->class_count < HL_CLASSES_MAX);
	for (uint32_t j = hdr->class_count; j > i; j--)
		hdr->class_bytes[j] = hdr->class_bytes[j - 1];
	hdr->class_bytes[i] = bytes;
	hdr->class_count++;
}

/* A class's slab: room for HL_SLAB_OBJECTS_MIN objects, at least one unit,
 * a power of two (so a multiple of the unit and of every smaller page). */
static uint32_t class_slab_bytes_for(uint32_t unit, uint32_t bytes)
{
	uint64_t slab = hl_pow2_ceil((uint64_t)HL_SLAB_OBJECTS_MIN * bytes);
	return (uint32_t)(slab < unit ? unit : slab);
}

/* The slab unit: HL_SLAB_BYTES_MIN, or the page if that is larger (a huge
 * page), so mbind can bind every slab. */
static uint32_t slab_unit_for(const struct hl_arena_hdr *hdr)
{
	uint64_t page = hdr->page_bytes ? hdr->page_bytes : HL_PAGE_BYTES;
	uint64_t unit = HL_SLAB_BYTES_MIN;

	if ((page & (page - 1)) == 0 && unit < page)
		unit = page;
	return (uint32_t)unit;
}

void hl_heap_layout(struct hl_arena_hdr *hdr, uint32_t chunk_bytes)
{
	uint32_t leaf, inner, root, generic_max;

	hl_assert(chunk_bytes >= HL_CHUNK_BYTES_MIN &&
		  chunk_bytes <= HL_CHUNK_BYTES_MAX);
	leaf = (uint32_t)hl_align_up(sizeof(struct hl_node) + chunk_bytes,
				     HL_HEAP_ALIGN);
	inner = (uint32_t)hl_align_up(sizeof(struct hl_node) +
					      hl_inner_payload_bytes(HL_FANOUT),
				      HL_HEAP_ALIGN);
	root = (uint32_t)hl_align_up(sizeof(struct hl_node) +
					     sizeof(struct hl_root_payload),
				     HL_HEAP_ALIGN);
	hdr->slab_unit_bytes = slab_unit_for(hdr);
	generic_max = GENERIC_CLASS_MAX;
	if (hdr->slab_unit_bytes / 8 < generic_max)
		generic_max = hdr->slab_unit_bytes / 8;

	hdr->class_count = 0;
	for (uint32_t i = 0; i < HL_CLASSES_MAX; i++)
		hdr->class_bytes[i] = hdr->class_slab_bytes[i] = 0;
	class_insert(hdr, leaf);
	class_insert(hdr, inner);
	class_insert(hdr, root);
	for (uint32_t b = HL_HEAP_ALIGN; b <= generic_max; b *= 2)
		class_insert(hdr, b);
	/* and halfway steps up to 1 KiB, so a search record of a few edges
	 * (Connect Four's 7: 168 B) wastes a quarter at most, not a third */
	for (uint32_t b = 3 * HL_HEAP_ALIGN; b <= HL_HALF_CLASSES_MAX && b <= generic_max;
	     b *= 2)
		class_insert(hdr, b);
	hdr->slab_bytes = 0;
	for (uint32_t i = 0; i < hdr->class_count; i++) {
		hdr->class_slab_bytes[i] =
			class_slab_bytes_for(hdr->slab_unit_bytes, hdr->class_bytes[i]);
		if (hdr->class_slab_bytes[i] > hdr->slab_bytes)
			hdr->slab_bytes = hdr->class_slab_bytes[i];
	}
}

int hl_heap_class_of(const struct hl_arena_hdr *hdr, uint64_t bytes)
{
	for (uint32_t i = 0; i < hdr->class_count && i < HL_CLASSES_MAX; i++)
		if (hdr->class_bytes[i] >= bytes)
			return (int)i;
	return -1;
}

/* ---- the free lists ------------------------------------------------------- */

bool hl_heap_cas16_supported(void)
{
#if defined(__x86_64__)
	unsigned eax, ebx, ecx, edx;
	return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_CMPXCHG16B);
#else
	return false;
#endif
}

int hl_heap_pop_begin(hl_arena *a, unsigned cls, struct hl_free_pop *p)
{
	struct hl_free_head old = head_load(&a->hdr->free_list[cls].head);
	uint64_t mark;

	p->head_off = old.top;
	p->head_tag = old.tag;
	p->next = 0;
	if (old.top == 0)
		return 1;
	/* A top that names no object of the class: damage, or a slab the
	 * collector released (and another class took) since the head was
	 * read ("Slab release"). Only a head that has not moved proves damage;
	 * else the caller retries (2). */
	if (!hl_object_valid(a, cls, old.top)) {
		struct hl_free_head same = old;
		return head_cas(&a->hdr->free_list[cls].head, &same, same) ? HL_ECORRUPT : 2;
	}
	/* May race with the object's new owner writing it; the CAS in
	 * finish decides whether these values are used. */
	p->next = atomic_load_explicit(next_word(a, old.top), memory_order_relaxed);
	mark = atomic_load_explicit(next_word(a, old.top) + 1, memory_order_relaxed);
	return mark == hl_free_mark(old.top) ? 0 : 2;
}

int hl_heap_pop_finish(hl_arena *a, unsigned cls, struct hl_free_pop *p)
{
	struct hl_free_head old = {p->head_off, p->head_tag};
	struct hl_free_head new = {p->next, p->head_tag + 1};

	return head_cas(&a->hdr->free_list[cls].head, &old, new) ? 0 : 1;
}

/*
 * Pops one object: 0 with *off set, 1 when the list is empty or every try
 * lost its CAS (the caller bumps instead), HL_ECORRUPT when the head names
 * no object of the class. A next word that is garbage (read while another
 * owner wrote the object) is installed only if the CAS succeeds, which
 * proves the head did not change at all since it was read: see "ABA".
 */
static int free_list_pop(hl_arena *a, unsigned cls, uint64_t *off)
{
	struct hl_free_pop p;

	for (unsigned i = 0; i < HL_HEAP_POP_TRIES; i++) {
		int rc = hl_heap_pop_begin(a, cls, &p);
		if (rc == 2) {
			/* Not marked free: taken by another since we read the
			 * head (the head has moved on: retry), or a damaged head
			 * naming a live object - proven by a CAS that finds the
			 * head unchanged (it writes the same 16 bytes back). */
			struct hl_free_head same = {p.head_off, p.head_tag};
			if (head_cas(&a->hdr->free_list[cls].head, &same, same))
				return HL_ECORRUPT;
			continue;
		}
		if (rc)
			return rc;
		if (hl_heap_pop_finish(a, cls, &p) == 0) {
			*off = p.head_off;
			/* the next pop reads the new top's words: start that
			 * miss now, while the caller fills this object (a
			 * prefetch of a stale or damaged offset only misses) */
			if (p.next && p.next < a->bytes)
				__builtin_prefetch(hl_at(a, p.next));
			return 0;
		}
	}
	return 1;
}

/*
 * Pushes one object. Not bounded like pop: a free cannot fail, and each
 * failed CAS means another process's push or pop succeeded, so the system
 * as a whole always progresses (lock-free) and nothing a killed process
 * held can stall it.
 */
static void free_list_push(hl_arena *a, unsigned cls, uint64_t off)
{
	atomic_store_explicit(next_word(a, off) + 1, hl_free_mark(off),
			      memory_order_relaxed);
	chain_push(a, &a->hdr->free_list[cls].head, off, off);
}

/* ---- slabs and cursors ---------------------------------------------------- */

/*
 * Points a cursor at a new slab. A process killed between any two stores
 * leaves {0, old end}, {0, new end} or {cur, new end}: each a valid cursor
 * (cur == 0 is "no slab"). The signal fences keep the compiler from
 * reordering the stores; the CPU's own order does not matter to a death,
 * since the dying thread's stores all reach memory.
 */
static void cursor_set(struct hl_slab_cursor *c, uint64_t cur, uint64_t end)
{
	c->cur = 0;
	atomic_signal_fence(memory_order_seq_cst);
	c->end = end;
	atomic_signal_fence(memory_order_seq_cst);
	c->cur = cur;
}

/*
 * Bumps the slot's cursor of class cls: 0 with *off set, 1 when there is no
 * slab or no room in it. The cursor was validated when this handle adopted
 * it (hl_heap_adopt_cursors) and is written by us alone since; a cursor
 * damaged after that which fails these cheap bounds is dropped (its slab
 * abandoned), never followed.
 */
static int cursor_bump(hl_arena *a, unsigned cls, uint64_t *off)
{
	struct hl_slab_cursor *c = &a->slot->slab[cls];
	const struct hl_region *h = &a->hdr->regions[HL_REGION_HEAP];
	uint64_t size = hl_class_bytes(a->hdr, cls);

	if (c->cur == 0)
		return 1;
	if (c->cur < h->off || c->cur > c->end || c->cur % HL_HEAP_ALIGN ||
	    c->end - h->off > h->bytes ||
	    c->end - c->cur > hl_class_slab_bytes(a->hdr, cls)) {
		cursor_set(c, 0, 0);
		return 1;
	}
	if (c->end - c->cur < size)
		return 1;
	*off = c->cur;
	c->cur += size;
	return 0;
}

/*
 * Takes `bytes` of unused heap by one CAS on heap_next: 0 with *rel set
 * (heap-relative), HL_EFULL when they do not fit (nothing changed: a grab
 * that fails leaves room for a smaller class's slab), HL_ECORRUPT for a
 * heap_next off a unit boundary (invariant 1 broken: never followed).
 * Lock-free: a failed CAS means another grab succeeded.
 */
/* Whether `bytes` of unused heap are left past heap_next = next. */
static bool row_fits(const struct hl_arena_hdr *hdr, uint64_t next, uint64_t bytes)
{
	uint64_t limit = hl_slab_units(hdr) * hdr->slab_unit_bytes;
	return next <= limit && limit - next >= bytes;
}

static int heap_take(struct hl_arena_hdr *hdr, uint64_t bytes, uint64_t *rel)
{
	uint64_t next = atomic_load_explicit(&hdr->heap_next, memory_order_relaxed);

	do {
		if (next % hdr->slab_unit_bytes)
			return HL_ECORRUPT;
		if (!row_fits(hdr, next, bytes))
			return HL_EFULL;
		/* relaxed: see "Memory orders" above */
	} while (!atomic_compare_exchange_weak_explicit(
		&hdr->heap_next, &next, next + bytes, memory_order_relaxed,
		memory_order_relaxed));
	*rel = next;
	return 0;
}

/* Marks the units of the slab at heap-relative rel as class cls's, each by
 * a CAS from unused: a heap_next moved back (a damaged arena) must not
 * hand out a slab that is already carved. HL_ECORRUPT if one was taken. */
int hl_heap_slab_mark(hl_arena *a, unsigned cls, uint64_t rel)
{
	uint64_t first = rel / a->hdr->slab_unit_bytes;
	uint64_t units = hl_class_slab_bytes(a->hdr, cls) / a->hdr->slab_unit_bytes;

	for (uint64_t u = 0; u < units; u++) {
		uint16_t unused = 0;
		if (!atomic_compare_exchange_strong_explicit(
			    &hl_slab_map(a)[first + u], &unused,
			    hl_slab_entry_make(cls, (uint32_t)u),
			    memory_order_relaxed, memory_order_relaxed))
			return HL_ECORRUPT;
	}
	return 0;
}

/*
 * Takes the next unused slab for class cls (its own slab size) and points
 * the slot's cursor at it. HL_EFULL when no slab of that size is left.
 */
static int slab_grab(hl_arena *a, unsigned cls)
{
	struct hl_arena_hdr *hdr = a->hdr;
	uint64_t bytes = hl_class_slab_bytes(hdr, cls), rel, start;
	int rc = heap_take(hdr, bytes, &rel);
	bool reused = false;

	/* the row of unused units is used up: a released unit
	 * (heap_release.c), for a class of one-unit slabs; when there is
	 * none either, or the class's slabs are of several units (which the
	 * pool's units, one by one, are not), the class is starved: the next
	 * collection releases what the other classes can spare and, for a
	 * class of several units, assembles slabs from the pool's runs of
	 * adjacent units onto its free list */
	if (rc == HL_EFULL) {
		if (bytes == hdr->slab_unit_bytes)
			reused = (rc = hl_heap_pool_pop(a, &rel)) == 0;
		if (rc == HL_EFULL)
			atomic_fetch_or_explicit(&hdr->heap_starved, 1u << cls,
						 memory_order_relaxed);
	}
	if (!rc)
		rc = hl_heap_slab_mark(a, cls, rel);
	if (rc)
		return rc;
	start = hdr->regions[HL_REGION_HEAP].off + rel;
	if (reused) { /* its pages were written when it was carved before */
		cursor_set(&a->slot->slab[cls], start, start + bytes);
		return 0;
	}
	/* The slab's pages: the helper thread has allocated them ahead
	 * (ahead.c), and is told to go on; when it has not (or there is
	 * none), all of them in one call now rather than a fault in each
	 * commit that fills it (populate.c). A prefaulted arena has them
	 * mapped since attach. */
	bool prefault = hdr->flags & HL_ARENA_F_PREFAULT;
	bool ready = !prefault && hl_ahead_kick(a, rel, bytes);
	/* Before the first touch, so the pages fault in on this node; not
	 * for pages the helper has allocated already (a policy places only
	 * pages faulted later, and the mbind would wait on the mmap lock the
	 * helper's populate holds), nor on huge pages (huge.c). A refused
	 * policy only costs locality, never correctness: the slab is ours
	 * either way, so the allocation goes on. */
	if (hdr->numa_mode == HL_NUMA_AUTO && !a->huge_pages && !ready)
		(void)hl_numa_prefer(hl_at(a, start), bytes, a->numa_node);
	if (!prefault && !ready)
		hl_populate_slab(a, start, bytes);
	cursor_set(&a->slot->slab[cls], start, start + bytes);
	return 0;
}

/* ---- allocation ----------------------------------------------------------- */

static bool full_reclaim_due(hl_arena *a)
{
	uint64_t now = hl_now_ns();
	if (now - a->full_reclaim_ns < HL_FULL_RECLAIM_NS && a->full_reclaim_ns)
		return false;
	a->full_reclaim_ns = now;
	return true;
}

int hl_heap_alloc(hl_arena *a, unsigned cls, uint64_t *off)
{
	int rc = hl_arena_writable(a);

	if (rc)
		return rc;
	hl_assert(cls < a->hdr->class_count);
	rc = free_list_pop(a, cls, off);
	if (rc <= 0)
		return rc;
	rc = cursor_bump(a, cls, off);
	if (rc <= 0)
		return rc;
	rc = slab_grab(a, cls);
	/* Full: the slots of dead processes may hold slab tails. Reclaiming
	 * them pushes those tails on the free lists at once; look again. At
	 * most every HL_FULL_RECLAIM_NS per handle: the scan reads /proc for
	 * every slot, and a search that goes on in a full arena allocates
	 * (and fails) on every playout. */
	if (rc == HL_EFULL && full_reclaim_due(a) && hl_slots_reclaim_dead(a, 0) > 0) {
		rc = free_list_pop(a, cls, off);
		if (rc <= 0)
			return rc;
		rc = slab_grab(a, cls);
	}
	if (rc) {
		if (rc == HL_EFULL)
			a->full_cls = cls;
		return rc;
	}
	rc = cursor_bump(a, cls, off);
	hl_assert(rc == 0); /* a fresh slab holds HL_SLAB_OBJECTS_MIN objects */
	return 0;
}

bool hl_heap_has_room(const hl_arena *a, unsigned cls)
{
	struct hl_arena_hdr *hdr = a->hdr;
	if (cls >= hdr->class_count)
		return true; /* no allocation failed: nothing to judge by */
	/* relaxed: a moment's answer, no bytes are read through it */
	if (__atomic_load_n(&hdr->free_list[cls].head.top, __ATOMIC_RELAXED))
		return true;
	if (hl_class_slab_bytes(hdr, cls) == hdr->slab_unit_bytes &&
	    __atomic_load_n(&hdr->free_slabs.top, __ATOMIC_RELAXED))
		return true;
	return row_fits(hdr, atomic_load_explicit(&hdr->heap_next, memory_order_relaxed),
			hl_class_slab_bytes(hdr, cls));
}

void hl_heap_free(hl_arena *a, unsigned cls, uint64_t off)
{
	struct hl_slab_cursor *c;
	uint64_t size;

	hl_assert(hl_arena_writable(a) == 0);
	hl_assert(cls < a->hdr->class_count);
	size = hl_class_bytes(a->hdr, cls);
	/* The object came from hl_heap_alloc, which validated it; a slab map
	 * damaged since makes it unplaceable: leak it, never push a stray
	 * offset (that would break the free list). */
	if (!hl_object_valid(a, cls, off))
		return;
	c = &a->slot->slab[cls];
	/* The last object bumped from the current slab: take it back. */
	if (c->cur != 0 && off + size == c->cur &&
	    off >= c->end - hl_class_slab_bytes(a->hdr, cls)) {
		c->cur = off;
		return;
	}
	free_list_push(a, cls, off);
}

/*
 * Frees n objects of class cls at once (the collector's): they are linked
 * into a chain in their own first words, privately, and the chain goes on
 * the list with one CAS, the last object's next word set to the head it
 * replaces (rewritten on each failed CAS). One shared CAS per batch, where
 * a push per object would take the head's line from the workers' pops
 * every time. Crash safety: dying before the CAS leaks the batch (its
 * objects are on no list and under no cursor), never half-links it.
 * Objects that fail validation are left out (leaked, as in hl_heap_free).
 */
#define HL_FREE_BATCH_PREFETCH 16u

void hl_heap_free_batch(hl_arena *a, unsigned cls, const uint64_t *offs, size_t n)
{
	hl_assert(hl_arena_writable(a) == 0);
	hl_assert(cls < a->hdr->class_count);
	uint64_t first = 0, last = 0;
	for (size_t i = n; i-- > 0;) {
		uint64_t off = offs[i];
		/* each object's first words are written: start the miss of one
		 * some objects on, for writing */
		if (i >= HL_FREE_BATCH_PREFETCH &&
		    offs[i - HL_FREE_BATCH_PREFETCH] < a->bytes)
			__builtin_prefetch(hl_at(a, offs[i - HL_FREE_BATCH_PREFETCH]), 1);
		if (!hl_object_valid(a, cls, off))
			continue;
		atomic_store_explicit(next_word(a, off) + 1, hl_free_mark(off),
				      memory_order_relaxed);
		atomic_store_explicit(next_word(a, off), first, memory_order_relaxed);
		if (!last)
			last = off;
		first = off;
	}
	if (first)
		chain_push(a, &a->hdr->free_list[cls].head, first, last);
}

/* Returns the unused tail of each of slot s's slabs to the free lists, so
 * a process that leaves (closing, or dead and reclaimed) holds no heap. The
 * caller owns s (its owner, or a reaper that took it over). The cursor is
 * cleared before any object is pushed: a caller killed half-way leaks the
 * objects not yet pushed, but no object is ever both on a free list and
 * under a cursor (which would hand it out twice). */
void hl_heap_release_cursors(hl_arena *a, struct hl_slot *s)
{
	for (unsigned cls = 0; cls < a->hdr->class_count; cls++) {
		struct hl_slab_cursor *c = &s->slab[cls];
		uint64_t cur = c->cur, end = c->end, size = hl_class_bytes(a->hdr, cls);
		bool valid;
		if (cur == 0)
			continue;
		valid = hl_cursor_valid(a, cls, c);
		cursor_set(c, 0, 0);
		atomic_signal_fence(memory_order_seq_cst);
		if (!valid)
			continue; /* damaged: its slab is abandoned, not walked */
		for (uint64_t off = cur; end >= size && off <= end - size; off += size)
			if (hl_object_valid(a, cls, off))
				free_list_push(a, cls, off);
	}
}

/* Called by a new owner right after its claim. A free slot holds no
 * cursor: release and reclaim empty them all before the owner word goes to
 * 0 (a reaper killed half-way leaves the slot owned by its dead pid, to be
 * reclaimed again). So whatever a fresh claim finds here is damage - even a
 * cursor that is valid by the slab map, since its slab's objects may be
 * live snapshots - and is dropped: the tail is abandoned (a bounded leak),
 * never bumped over. */
void hl_heap_adopt_cursors(hl_arena *a)
{
	struct hl_slot *s = a->slot;
	for (unsigned cls = 0; cls < HL_CLASSES_MAX; cls++) {
		struct hl_slab_cursor *c = &s->slab[cls];
		if (c->cur != 0 || c->end != 0)
			cursor_set(c, 0, 0);
	}
}

uint64_t hl_heap_used(const hl_arena *a)
{
	return hl_heap_grabbed_bytes(a->hdr);
}

uint64_t hl_heap_process_bytes(const struct hl_arena_hdr *hdr)
{
	/* a slab of each class a commit and a ref take from: the leaf, inner
	 * and root node classes and the smallest (a ref's name) */
	static const uint32_t payload[] = {0, 0, 0, sizeof(struct hl_ref_name)};
	uint64_t sizes[] = {
		sizeof(struct hl_node) + (uint64_t)hdr->chunk_bytes,
		sizeof(struct hl_node) + hl_inner_payload_bytes(HL_FANOUT),
		sizeof(struct hl_node) + sizeof(struct hl_root_payload),
		payload[3],
	};
	uint64_t total = 0;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		int cls = hl_heap_class_of(hdr, sizes[i]);
		total += cls < 0 ? hdr->slab_bytes : hl_class_slab_bytes(hdr, (unsigned)cls);
	}
	return total;
}
