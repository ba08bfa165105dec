/*
 * gc.c - the garbage collector: concurrent mark and sweep of the nodes and
 * search records no root reaches, with epochs so that no lock-free reader
 * ever follows an offset into reused memory.
 *
 * NOTES ON THE DESIGN OF THE COLLECTOR
 *
 * Roots: the named refs (and, for a ref "mcts/<name>", the search record of
 * its root position), every slot's holds (pins and working states' bases,
 * holds.c) and every slot's in-flight table (search records a path in
 * flight still backs up into, inflight.c). Everything they reach is kept:
 * a root's tree (inner nodes' children, a root node's top), a search
 * record's position and its linked child records. Anything else that the
 * index names - leaves, inner nodes, roots, records - is garbage: it is
 * removed from the index (a tombstone) and, after a grace period, given
 * back to the heap's free lists. Ref names and other objects the index
 * does not name are never touched.
 *
 * The sweep walks the index from its end down, inside a section of its
 * own (the tombstones' stamps need one, index.c): an unmarked node's
 * entry is tombstoned where the walk read it (hl_index_remove_at, no
 * second walk of its key's window) and the node retired; every tombstone
 * it meets is tended (retired when old, emptied when retired a cycle ago
 * and followed by an EMPTY entry: index.c, "Emptying tombstones"). The
 * walk prefetches the node headers some entries ahead, and the frees go
 * back a batch per class with one CAS each (hl_heap_free_batch): the
 * misses of a sweep's garbage are most of a collection's cost.
 *
 * Marks are a bitmap (HL_REGION_MARKS, a bit per 32-byte heap unit), set
 * by atomic fetch_or. One collection is a cycle of phases, in gc.state
 * [cycle : 56 | phase : 8], changed only by the collector:
 *
 *   IDLE --clear marks--> MARK --roots traced, rings drained--> MARK_END
 *        --rings drained--> SWEEP --index swept--> IDLE --> free retired
 *
 * and after every change a grace period (hl_epoch_barrier): when it
 * returns, every section that read the old phase has ended, so the
 * collector's next step is seen by everyone who runs alongside it.
 *
 * Taking a reference is a decision of its own (hl_gc_keep): a node found
 * under MARK_END may be read as garbage by the time it is used, because a
 * section that began in MARK_END may see SWEEP. So whoever makes a found
 * node reachable (a hold, a ref, a parent, a link) asks hl_gc_keep, which
 * reads the phase once: it shades the node (MARK, MARK_END), or answers
 * whether it is marked (SWEEP): an unmarked node is then treated as gone
 * (a fresh copy published, HL_ENOENT for a restore), never used. A
 * section begun in IDLE or MARK sees at most one later phase (the barrier
 * after each change waits for it), so only that straddle needs this.
 *
 * The other straddle, SWEEP -> IDLE, is the index's (invariant 7): an
 * entry loaded while the sweep runs may be tombstoned by it a moment later,
 * and a phase read after that load says IDLE, when nothing is doomed any
 * more. So a look-up reads the phase once, before its first entry load,
 * and judges every entry it meets by it (index.c). The w1 workers found
 * tombstoned leaves this way and published roots over them, whose bytes
 * were another leaf's once the sweep's memory was reused.
 *
 * What workers do, by the phase they read (always inside a section):
 *
 *   IDLE      nothing: marks mean nothing.
 *   MARK      a node they publish is born marked (its bit set before the
 *             index CAS); every existing node it references (children it
 *             reuses, a found duplicate, a record's position, a linked
 *             record) and every node that becomes a root (a hold, a pin, a
 *             ref) is shaded: marked, and if the bit was newly set and the
 *             node has children, pushed on the slot's gray ring for the
 *             collector to trace (or traced at once if the ring is full).
 *   MARK_END  the same, but shading traces at once instead of pushing: the
 *             collector is about to stop draining the rings.
 *   SWEEP     the marks are final: an unmarked node is garbage (doomed).
 *             Lookups pass doomed entries by as if they were tombstones: a
 *             restore of a doomed id answers HL_ENOENT, a commit of its
 *             content publishes a fresh copy. Nobody shades.
 *
 * Why nothing reachable is swept. Take a node X reachable at the sweep from
 * a root R. Either the path from R to X existed when the collector read the
 * roots (MARK, after the barrier), and then the collector's trace reached X
 * (nothing is freed before the sweep, so the path's nodes stayed readable
 * even if the path was cut meanwhile), or some edge on it was made later,
 * by a worker in MARK or MARK_END: making an edge shades its target (the
 * insertion barrier), and a new node is born marked with all its targets
 * shaded. Shading in MARK pushes onto a ring that the collector drains
 * after the barrier that follows MARK_END (so every push made in MARK is
 * in a ring by then); shading in MARK_END traces before the section ends,
 * and the collector sweeps only after the barrier that follows SWEEP. A
 * root added while a collection marks is shaded by its adder; one added in
 * SWEEP is a node that was marked (else the lookup found no such id).
 *
 * Duplicates. A worker in SWEEP that passes a doomed entry by and
 * publishes a fresh copy makes a second entry for one key until the sweep
 * tombstones the doomed one. A worker still in MARK_END (before the
 * barrier) may shade that same node after another decided it doomed; then
 * both copies live on, equal in content. Commit's dedup compare therefore
 * compares an inner node's children by hash when their offsets differ.
 *
 * Words, and who writes them:
 *   gc.state          the collector (one at a time: gc.collector)
 *   gc.collector      CAS 0 -> owner word of the collecting slot; a dead
 *                     collector's word is taken over by CAS, and its cycle
 *                     is abandoned (back to IDLE: nothing was freed yet that
 *                     a reader could still reach, see "Death")
 *   mark bits         fetch_or by anyone in MARK/MARK_END/SWEEP (new nodes);
 *                     cleared by the collector in IDLE after a barrier
 *   gray rings        the slot's owner pushes; the collector pops
 *   gc counters       the collector
 *
 * Memory orders:
 *   - gc.state is stored seq_cst by the collector and loaded acquire by
 *     workers; the barriers after each store are what order the phases
 *     (epoch.c: a section that does not see the new phase is waited for).
 *   - a born mark is set (relaxed fetch_or) before the release CAS that
 *     publishes the node, so the sweeper, which reads the entry with
 *     acquire, sees the bit; shading's fetch_or is relaxed, ordered for the
 *     collector by the ring push (release) or by the barriers.
 *   - gray ring: the owner writes the entry, then tail (release); the
 *     collector loads tail (acquire), reads entries, stores head (release);
 *     the owner loads head (acquire) for room.
 *   - the sweep's tombstone CAS is a release (index.c); freeing waits for a
 *     barrier after the last of them, so no section that read the entry
 *     before is still running when the memory is reused.
 *
 * Death. A worker killed in MARK leaves marks and maybe gray entries: both
 * only keep things alive. A collector killed in any phase leaves the cycle
 * unfinished: the next collector takes the claim over, sets IDLE, waits a
 * barrier and starts a new cycle. Nodes the dead one had tombstoned but not
 * yet freed are lost (a leak bounded by one cycle's garbage; recovery from
 * disk returns them), never reused early.
 *
 * Read-only handles announce no sections (they cannot write their slot):
 * they are observers, and the collector does not wait for them.
 *
 * Invariants:
 *  1. Nothing is given back to the heap before a barrier that began after
 *     its tombstone CAS.
 *  2. In SWEEP, every node reachable from a root is marked.
 *  3. The mark bitmap is all zero at the start of MARK (cleared in IDLE
 *     after a barrier that follows the end of the previous SWEEP).
 *  4. One collector at a time (gc.collector).
 *  5. On a persisted arena nothing swept is reused before every record
 *     pushed before the sweep ended is durable (hl_persist_sync): a leaf
 *     goes into the persist ring by its offset, and the persister copies
 *     it from there.
 *  6. With checkpoints running, nothing swept is reused before a
 *     checkpoint begun after the sweep is complete (persist/checkpoint.c
 *     invariant 3): an image being written could otherwise hold another
 *     node's bytes under a swept node's index entry, and a WAL record
 *     after that image's LSN could still name the swept node by content
 *     (recovery drops such entries, so replay would stop there). The
 *     collector asks the checkpoint thread for one (ctl->ckpt_asks) and
 *     waits HL_GC_WAIT_NS at most; without one, the memory stays unreused
 *     (counted in unreused_bytes), never reused early.
 *  7. A look-up judges an entry as doomed or live by a phase it read before
 *     it loaded the entry: SWEEP (unmarked is doomed, whether or not the
 *     sweep has reached it yet), or a later phase whose acquire load makes
 *     the sweep's tombstones visible to the entry loads that follow.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shm.h"
#include "slabs.h"

/* ---- marks ------------------------------------------------------------------ */

static _Atomic uint64_t *mark_word(const hl_arena *a, uint64_t off, uint64_t *bit)
{
	uint64_t u = (off - a->hdr->regions[HL_REGION_HEAP].off) / HL_HEAP_ALIGN;
	*bit = 1ull << (u % 64);
	return (_Atomic uint64_t *)hl_at(a, a->hdr->regions[HL_REGION_MARKS].off) +
	       u / 64;
}

bool hl_mark_test(const hl_arena *a, uint64_t off)
{
	uint64_t bit;
	return atomic_load_explicit(mark_word(a, off, &bit), memory_order_relaxed) & bit;
}

/* True when this call set the bit. A load first: most shaded nodes are
 * marked already, and a load does not take the line exclusive. */
bool hl_mark_set(const hl_arena *a, uint64_t off)
{
	uint64_t bit;
	_Atomic uint64_t *w = mark_word(a, off, &bit);
	if (atomic_load_explicit(w, memory_order_relaxed) & bit)
		return false;
	return !(atomic_fetch_or_explicit(w, bit, memory_order_relaxed) & bit);
}

bool hl_gc_sweeping(const hl_arena *a)
{
	/* acquire: the entry loads that follow see every tombstone of a
	 * sweep that ended before a later phase was stored (invariant 7) */
	uint64_t st = atomic_load_explicit(&a->hdr->gc.state, memory_order_acquire);
	return HL_GC_PHASE(st) == HL_GC_SWEEP;
}

/* ---- tracing ------------------------------------------------------------------ */

struct stack {
	uint64_t *v;
	size_t n, cap;
	bool oom;      /* a push failed: the trace is incomplete */
};

static void push(struct stack *s, uint64_t off)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		uint64_t *v = realloc(s->v, cap * sizeof *v);
		if (!v) {
			s->oom = true;
			return;
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = off;
}

/* Marks off and, if newly marked, queues it to have its targets traced. */
static void visit(const hl_arena *a, struct stack *s, uint64_t off)
{
	if (off && hl_heap_contains(a, off, sizeof(struct hl_node)) &&
	    hl_mark_set(a, off))
		push(s, off);
}

/* Every offset node off references, validated before it is followed. */
static void targets(const hl_arena *a, struct stack *s, uint64_t off,
		    uint64_t *bytes)
{
	const struct hl_node *n = hl_node_get(a, off, HL_NODE_KIND_ANY,
					      HL_NODE_LEVEL_ANY);
	if (!n)
		return; /* damage: keep it, follow nothing */
	*bytes += sizeof *n + n->payload_bytes;
	switch (n->kind) {
	case HL_NODE_INNER: {
		const uint64_t *c = (const uint64_t *)n->payload;
		for (unsigned j = 0; j < n->count; j++)
			visit(a, s, c[j]);
		break;
	}
	case HL_NODE_ROOT:
		visit(a, s, ((const struct hl_root_payload *)n->payload)->top_off);
		break;
	case HL_NODE_SEARCH: {
		const struct hl_search_payload *p = (const void *)n->payload;
		const struct hl_search_edge *e = hl_srec_edges(n);
		visit(a, s, p->pos_off);
		for (unsigned j = 0; j < n->count; j++) {
			uint64_t l = atomic_load_explicit(&e[j].link,
							  memory_order_acquire);
			visit(a, s, (l & HL_LINK_CHILD_MASK) * HL_HEAP_ALIGN);
		}
		break;
	}
	default:
		break;
	}
}

static void trace(const hl_arena *a, struct stack *s, uint64_t *nodes,
		  uint64_t *bytes)
{
	while (s->n) {
		uint64_t off = s->v[--s->n];
		(*nodes)++;
		targets(a, s, off, bytes);
	}
}

/* ---- what workers do: shading ------------------------------------------------- */

static struct hl_gray_ring *ring_of(const hl_arena *a, uint32_t slot)
{
	uint64_t stride = hl_holds_stride(a->hdr->holds_per_slot);
	uint64_t holds = (uint64_t)a->hdr->holds_per_slot * sizeof(struct hl_hold);
	return (struct hl_gray_ring *)hl_at(a, a->hdr->regions[HL_REGION_HOLDS].off +
						       (uint64_t)slot * stride +
						       (holds + 63) / 64 * 64);
}

static bool ring_push(hl_arena *a, uint64_t off)
{
	struct hl_gray_ring *r = ring_of(a, (uint32_t)a->slot_index);
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
	if (t - h >= HL_GRAY_ENTRIES)
		return false;
	atomic_store_explicit(&r->off[t % HL_GRAY_ENTRIES], off, memory_order_relaxed);
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
	return true;
}

void hl_gc_pause_note(hl_arena *a, uint64_t ns)
{
	unsigned b = ns ? 63u - (unsigned)__builtin_clzll(ns) : 0;
	if (b >= HL_GC_PAUSE_BUCKETS)
		b = HL_GC_PAUSE_BUCKETS - 1;
	atomic_fetch_add_explicit(&a->hdr->gc_pause[b], 1, memory_order_relaxed);
	uint64_t max = atomic_load_explicit(&a->hdr->gc.pause_max_ns, memory_order_relaxed);
	while (ns > max && !atomic_compare_exchange_weak_explicit(
				   &a->hdr->gc.pause_max_ns, &max, ns,
				   memory_order_relaxed, memory_order_relaxed))
		;
}

/* A worker's own trace (MARK_END, or a full ring): the whole subgraph
 * below off that is not marked yet. */
static void trace_here(hl_arena *a, uint64_t off)
{
	struct stack s = {0};
	uint64_t nodes = 0, bytes = 0, t0 = hl_now_ns();
	push(&s, off);
	trace(a, &s, &nodes, &bytes);
	free(s.v);
	hl_gc_pause_note(a, hl_now_ns() - t0);
}

/* Shades off under phase ph (read once by the caller). */
static void shade_in(hl_arena *a, uint64_t off, unsigned ph)
{
	if (!off || !hl_heap_contains(a, off, sizeof(struct hl_node)) ||
	    !hl_mark_set(a, off))
		return;
	if (hl_node_at(a, off)->kind == HL_NODE_LEAF)
		return; /* nothing below it */
	if (ph == HL_GC_MARK && ring_push(a, off))
		return;
	trace_here(a, off);
}

bool hl_gc_keep(hl_arena *a, uint64_t off)
{
	if (!off || !a->slot)
		return true;
	uint64_t st = atomic_load_explicit(&a->hdr->gc.state, memory_order_acquire);
	unsigned ph = HL_GC_PHASE(st);
	if (ph == HL_GC_IDLE)
		return true;
	if (ph == HL_GC_SWEEP) /* marks are final: unmarked is garbage */
		return hl_mark_test(a, off);
	shade_in(a, off, ph);
	return true;
}

void hl_gc_shade(hl_arena *a, uint64_t off)
{
	if (!off || !a->slot)
		return;
	uint64_t st = atomic_load_explicit(&a->hdr->gc.state, memory_order_acquire);
	unsigned ph = HL_GC_PHASE(st);
	if (ph == HL_GC_MARK || ph == HL_GC_MARK_END)
		shade_in(a, off, ph);
}

void hl_gc_publish(hl_arena *a, uint64_t off, const uint64_t *targets, unsigned n)
{
	/* one load for both decisions: a node born marked whose targets were
	 * judged under an earlier IDLE would hide them from the collector */
	uint64_t st = atomic_load_explicit(&a->hdr->gc.state, memory_order_acquire);
	unsigned ph = HL_GC_PHASE(st);
	if (ph == HL_GC_IDLE)
		return;
	if (ph == HL_GC_MARK || ph == HL_GC_MARK_END)
		for (unsigned j = 0; j < n; j++)
			shade_in(a, targets[j], ph);
	(void)hl_mark_set(a, off);
}

bool hl_gc_marking(const hl_arena *a)
{
	uint64_t st = atomic_load_explicit(&a->hdr->gc.state, memory_order_acquire);
	unsigned ph = HL_GC_PHASE(st);
	return ph == HL_GC_MARK || ph == HL_GC_MARK_END;
}

/* ---- the collector ------------------------------------------------------------- */

/* How far ahead the sweep and the frees prefetch (entries, objects). */
#define HL_SWEEP_PREFETCH 16u

struct collect {
	hl_arena *a;
	struct stack s;
	uint64_t nodes, bytes;    /* marked */
	uint64_t *retired;        /* tombstoned, to free after a barrier */
	size_t nretired, capretired;
	uint64_t retired_bytes;
	uint64_t leaked_bytes;    /* swept but kept from reuse (invariant 5) */
	uint64_t wait_ns;         /* the longest barrier */
};

static int barrier(struct collect *cx)
{
	uint64_t t0 = hl_now_ns();
	int rc = hl_epoch_barrier(cx->a, HL_EPOCH_BARRIER_TIMEOUT_NS);
	uint64_t ns = hl_now_ns() - t0;
	if (ns > cx->wait_ns)
		cx->wait_ns = ns;
	return rc;
}

static void set_state(hl_arena *a, uint64_t cycle, unsigned phase)
{
	atomic_store_explicit(&a->hdr->gc.state, HL_GC_STATE(cycle, phase),
			      memory_order_seq_cst);
}

static void clear_marks(hl_arena *a)
{
	uint64_t used = hl_heap_grabbed_bytes(a->hdr);
	/* whole words: the test below reads words, and a tail of bytes
	 * short of one would escape it */
	uint64_t bytes = (used / HL_HEAP_ALIGN + 63) / 64 * 8;
	const struct hl_region *m = hl_region(a, HL_REGION_MARKS);
	if (bytes > m->bytes)
		bytes = m->bytes;
	/* only the words that hold a bit: the rest were never set */
	unsigned char *p = hl_at(a, m->off);
	for (uint64_t i = 0; i < bytes; i += HL_PAGE_BYTES) {
		uint64_t n = bytes - i < HL_PAGE_BYTES ? bytes - i : HL_PAGE_BYTES;
		const uint64_t *w = (const uint64_t *)(p + i);
		bool any = false;
		for (uint64_t k = 0; k < n / 8 && !any; k++)
			any = w[k] != 0;
		if (any)
			memset(p + i, 0, n);
	}
}

static void roots_refs(struct collect *cx)
{
	hl_arena *a = cx->a;
	const struct hl_ref_slot *t = hl_refs_table(a);
	for (uint32_t i = 0; i < a->hdr->refs_capacity; i++) {
		uint64_t root = atomic_load_explicit(&t[i].root_off, memory_order_acquire);
		if (!root)
			continue;
		visit(a, &cx->s, root);
		uint64_t salt;
		if (hl_ref_search_salt(a, i, &salt)) {
			const struct hl_node *r = hl_node_get(a, root, HL_NODE_ROOT,
							      HL_NODE_LEVEL_ANY);
			uint64_t rec;
			if (r && hl_index_lookup(a, hl_hash_search(r->hash, salt), &rec) == 0)
				visit(a, &cx->s, rec);
		}
	}
}

static void visit_cb(void *ctx, uint64_t off)
{
	struct collect *cx = ctx;
	visit(cx->a, &cx->s, off);
}

static void roots_slots(struct collect *cx)
{
	hl_arena *a = cx->a;
	for (uint32_t i = 0; i < hl_slot_count(a); i++) {
		for (uint32_t k = 0; k < a->hdr->holds_per_slot; k++)
			visit(a, &cx->s, hl_holds_entry(a, i, k));
		hl_inflight_records(a, i, visit_cb, cx);
	}
}

/* Pops every gray ring; true if any held an entry. */
static bool drain_rings(struct collect *cx)
{
	hl_arena *a = cx->a;
	bool any = false;
	for (uint32_t i = 0; i < hl_slot_count(a); i++) {
		struct hl_gray_ring *r = ring_of(a, i);
		uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
		uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (t - h > HL_GRAY_ENTRIES)
			h = t - HL_GRAY_ENTRIES; /* damage: take what can be there */
		for (; h != t; h++) {
			uint64_t off = atomic_load_explicit(&r->off[h % HL_GRAY_ENTRIES],
							    memory_order_relaxed);
			/* marked by the pusher: trace its targets directly */
			if (off && hl_heap_contains(a, off, sizeof(struct hl_node)))
				push(&cx->s, off);
			any = true;
		}
		atomic_store_explicit(&r->head, t, memory_order_release);
	}
	trace(a, &cx->s, &cx->nodes, &cx->bytes);
	return any;
}

static void retire(struct collect *cx, uint64_t off, uint64_t bytes)
{
	if (cx->nretired == cx->capretired) {
		size_t cap = cx->capretired ? cx->capretired * 2 : 1024;
		uint64_t *v = realloc(cx->retired, cap * sizeof *v);
		if (!v)
			return; /* not freed: a leak, never a double use */
		cx->retired = v;
		cx->capretired = cap;
	}
	cx->retired[cx->nretired++] = off;
	cx->retired_bytes += bytes;
}

/* The class of the object at off, or -1 if it is none (damage). */
static int class_at(const hl_arena *a, uint64_t off)
{
	const struct hl_region *h = hl_region(a, HL_REGION_HEAP);
	uint64_t unit = (off - h->off) / a->hdr->slab_unit_bytes;
	if (off < h->off || unit >= hl_slab_units(a->hdr))
		return -1;
	uint16_t e = hl_slab_entry(a, unit);
	if (!e)
		return -1;
	unsigned cls = hl_slab_entry_class(e);
	return hl_object_valid(a, cls, off) ? (int)cls : -1;
}

/* Tombstones every unmarked node's entry, and tends the tombstones it
 * meets (index.c, "Emptying tombstones": retired when old, emptied when
 * retired before and followed by an EMPTY entry), walking the table from
 * its end down. Inside a section: the tombstones' stamps need one. */
static void sweep(struct collect *cx)
{
	hl_arena *a = cx->a;
	hl_epoch_enter(a);
	uint64_t now = hl_epoch_now(a);
	uint64_t count = hl_index_entries(a);
	for (uint64_t i = count; i-- > 0;) {
		/* the header of the node some entries on: most live entries
		 * are garbage whose header is read below, each a miss */
		if (i >= HL_SWEEP_PREFETCH) {
			uint64_t ahead = hl_index_entry_load(a, i - HL_SWEEP_PREFETCH);
			uint64_t at = hl_index_entry_off(ahead);
			if (ahead > HL_ENTRY_RETIRED && !HL_ENTRY_IS_TOMB(ahead) &&
			    at < a->bytes)
				__builtin_prefetch(hl_at(a, at));
		}
		uint64_t e = hl_index_entry_load(a, i), off;
		if (HL_ENTRY_IS_TOMB(e)) {
			(void)hl_index_tomb_tend(a, i, e, now);
			continue;
		}
		/* marked: kept, and its header need not be read (the mark is
		 * by offset; the tag check below is for what may go) */
		uint64_t at = hl_index_entry_off(e);
		if (e == HL_ENTRY_EMPTY ||
		    (hl_heap_contains(a, at, sizeof(struct hl_node)) && hl_mark_test(a, at)))
			continue;
		if (!hl_index_entry_node(a, e, &off))
			continue;
		int cls = class_at(a, off);
		if (cls < 0)
			continue;
		if (hl_index_remove_at(a, i, e) == 0)
			retire(cx, off, hl_heap_class_bytes(a, (unsigned)cls));
	}
	hl_epoch_exit(a);
}

/* A grab found no slab left for its class since the last look (heap.c
 * sets its bit): the other classes' slabs whose objects are all free go
 * back to the pool, and a class of several-unit slabs gets slabs
 * assembled from the pool's adjacent units (heap_release.c). Not on every
 * cycle: it walks those classes' free lists. Nor for a class this
 * collection's frees gave room: under w1's churn the leaves starve at
 * every full heap, and the collection that follows frees thousands of
 * them (a release then walked every other class's list for nothing). */
static void release_if_starved(struct collect *cx)
{
	struct hl_arena_hdr *hdr = cx->a->hdr;
	uint32_t starved = atomic_exchange_explicit(&hdr->heap_starved, 0,
						    memory_order_relaxed);
	for (unsigned c = 0; c < HL_CLASSES_MAX; c++)
		if ((starved & (1u << c)) && hl_heap_has_room(cx->a, c))
			starved &= ~(1u << c);
	if (!starved)
		return;
	uint64_t n = hl_heap_release_slabs(cx->a, starved);
	atomic_fetch_add_explicit(&hdr->gc.released_slabs, n, memory_order_relaxed);
}

/* Gives the retired objects back, a batch per class (one CAS on each
 * class's list: hl_heap_free_batch), ordered by class with a counting
 * sort; one by one if the sort's memory cannot be had. */
static void free_retired(struct collect *cx)
{
	hl_arena *a = cx->a;
	size_t n = cx->nretired, at[HL_CLASSES_MAX + 1] = {0};
	uint8_t *cls = malloc(n ? n : 1);
	uint64_t *by = malloc((n ? n : 1) * sizeof *by);
	if (!cls || !by) {
		for (size_t i = 0; i < n; i++) {
			int c = class_at(a, cx->retired[i]);
			if (c >= 0)
				hl_heap_free(a, (unsigned)c, cx->retired[i]);
		}
		free(cls);
		free(by);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		int c = class_at(a, cx->retired[i]);
		cls[i] = c < 0 ? HL_CLASSES_MAX : (uint8_t)c; /* damage: left out */
		at[cls[i]]++;
	}
	for (size_t c = 0, sum = 0; c <= HL_CLASSES_MAX; c++) {
		size_t k = at[c];
		at[c] = sum;
		sum += k;
	}
	size_t start[HL_CLASSES_MAX + 1];
	memcpy(start, at, sizeof start);
	for (size_t i = 0; i < n; i++)
		by[at[cls[i]]++] = cx->retired[i];
	for (unsigned c = 0; c < HL_CLASSES_MAX; c++)
		if (at[c] > start[c])
			hl_heap_free_batch(a, c, by + start[c], at[c] - start[c]);
	free(cls);
	free(by);
	release_if_starved(cx);
}

/* Claims the collector's word; takes over a dead collector's. */
static int claim(hl_arena *a)
{
	uint64_t mine = atomic_load_explicit(&a->slot->owner, memory_order_relaxed);
	uint64_t cur = 0;
	if (atomic_compare_exchange_strong_explicit(&a->hdr->gc.collector, &cur, mine,
						    memory_order_acq_rel,
						    memory_order_acquire))
		return 0;
	for (uint32_t i = 0; i < hl_slot_count(a); i++) {
		uint64_t w = atomic_load_explicit(&hl_slot_at(a, i)->owner,
						  memory_order_acquire);
		if (w == cur && !hl_slot_is_dead(a, i))
			return HL_EBUSY; /* a live collector */
	}
	/* its slot is dead or gone: take over, and give back the free chains
	 * it had taken off the lists to release slabs (heap.c) */
	if (!atomic_compare_exchange_strong_explicit(&a->hdr->gc.collector, &cur, mine,
						     memory_order_acq_rel,
						     memory_order_acquire))
		return HL_EBUSY;
	hl_heap_return_taken(a);
	return 0;
}

static void unclaim(hl_arena *a)
{
	atomic_store_explicit(&a->hdr->gc.collector, 0, memory_order_release);
}

/* Invariant 6: with checkpoints, swept memory is reused only after a
 * checkpoint that began after the sweep is complete; the collector asks
 * the checkpoint thread for one and waits (a bounded time). True when it
 * may reuse: no checkpoints run, or one completed. */
static bool checkpointed_past(hl_arena *a)
{
	struct hl_persist_ctl *c = a->pctl;
	if (!atomic_load_explicit(&c->ckpt_running, memory_order_acquire))
		return true; /* no checkpoints: no images to keep consistent */
	uint64_t b0, d;
	hl_ckpt_counters(a, &b0, &d); /* B: begun when the sweep was over */
	atomic_fetch_add_explicit(&c->ckpt_asks, 1, memory_order_relaxed);
	uint64_t until = hl_now_ns() + HL_GC_WAIT_NS;
	for (;;) {
		uint64_t b;
		hl_ckpt_counters(a, &b, &d);
		if (d > b0)
			return true; /* a checkpoint begun after the sweep is done */
		if (hl_now_ns() >= until ||
		    !atomic_load_explicit(&c->ckpt_running, memory_order_acquire))
			return false;
		struct timespec ts = {0, 2 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static int cycle(struct collect *cx)
{
	hl_arena *a = cx->a;
	uint64_t st = atomic_load_explicit(&a->hdr->gc.state, memory_order_acquire);
	uint64_t c = HL_GC_CYCLE(st) + 1;
	int rc;
	if (HL_GC_PHASE(st) != HL_GC_IDLE) /* a dead collector's cycle */
		set_state(a, c - 1, HL_GC_IDLE);
	/* invariant 3: no section that read an earlier phase (a dead or an
	 * abandoned cycle's, whose last barrier never completed) still reads
	 * or sets marks when they are cleared */
	if ((rc = barrier(cx)))
		return rc;
	clear_marks(a);
	set_state(a, c, HL_GC_MARK);
	if ((rc = barrier(cx)))
		goto abandon;
	roots_refs(cx);
	roots_slots(cx);
	trace(a, &cx->s, &cx->nodes, &cx->bytes);
	while (drain_rings(cx))
		;
	set_state(a, c, HL_GC_MARK_END);
	if ((rc = barrier(cx)))
		goto abandon;
	while (drain_rings(cx)) /* every push made in MARK is in a ring now */
		;
	if (cx->s.oom) {
		rc = HL_ENOMEM;
		goto abandon;
	}
	set_state(a, c, HL_GC_SWEEP);
	if ((rc = barrier(cx)))
		goto abandon;
	sweep(cx);
	set_state(a, c, HL_GC_IDLE);
	/* invariant 1: no section that read a swept entry is still running */
	while ((rc = barrier(cx)) == HL_EBUSY)
		;
	/* invariant 5: records pushed before the sweep may name a swept leaf
	 * by its offset (persist_ring.c invariant 5); they must be in the WAL
	 * before its memory is reused. A persister that does not drain (not
	 * running, failed, too slow) keeps the memory unreused: leaked. */
	if (hl_persisted(a) &&
	    (!hl_persist_draining(a) || hl_persist_sync(a, HL_GC_WAIT_NS) != 0 ||
	     !checkpointed_past(a))) {
		cx->leaked_bytes = cx->retired_bytes;
		return 0;
	}
	free_retired(cx);
	return 0;
abandon:
	/* nothing freed yet: back to IDLE is safe from any phase; the next
	 * cycle clears the marks after its own barrier */
	set_state(a, c, HL_GC_IDLE);
	return rc;
}

/* Bytes of nodes published in the arena so far (every slot's counter). */
static uint64_t stored_bytes(const hl_arena *a)
{
	uint64_t sum[HL_CTR_COUNT];
	hl_slots_sum(a, sum);
	return sum[HL_CTR_STORED_BYTES];
}

int hl_gc_collect(hl_arena *a, hl_gc_info *info)
{
	int rc = hl_arena_writable(a);
	if (rc)
		return rc;
	if (a->epoch_depth)
		return HL_EINVAL; /* inside a section it would wait for itself */
	if ((rc = claim(a)))
		return rc;
	struct collect cx = {.a = a};
	uint64_t t0 = hl_now_ns();
	rc = cycle(&cx);
	uint64_t ns = hl_now_ns() - t0;
	struct hl_gc_ctl *g = &a->hdr->gc;
	if (rc == 0) {
		atomic_fetch_add_explicit(&g->cycles, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&g->freed_nodes, cx.nretired, memory_order_relaxed);
		atomic_fetch_add_explicit(&g->retired_bytes, cx.leaked_bytes,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&g->freed_bytes, cx.retired_bytes,
					  memory_order_relaxed);
		atomic_store_explicit(&g->last_ns, ns, memory_order_relaxed);
		atomic_store_explicit(&g->last_freed_bytes, cx.retired_bytes,
				      memory_order_relaxed);
		atomic_store_explicit(&g->live_bytes, cx.bytes, memory_order_relaxed);
		atomic_store_explicit(&g->live_nodes, cx.nodes, memory_order_relaxed);
		atomic_store_explicit(&g->last_pause_ns, cx.wait_ns, memory_order_relaxed);
	}
	unclaim(a);
	if (info && rc == 0) {
		memset(info, 0, sizeof *info);
		info->freed_nodes = cx.nretired;
		info->freed_bytes = cx.retired_bytes;
		info->ns = ns;
		info->live_nodes = cx.nodes;
		info->live_bytes = cx.bytes;
		info->cycle = HL_GC_CYCLE(atomic_load_explicit(&g->state,
							       memory_order_relaxed));
		info->wait_ns = cx.wait_ns;
	}
	free(cx.s.v);
	free(cx.retired);
	return rc;
}

bool hl_gc_for_room(hl_arena *a, bool may_refuse, bool first)
{
	if (!a->slot || a->epoch_depth || a->no_auto_gc)
		return false;
	/* A heap full of live nodes stays full: after a collection that found
	 * it futile, collect again only once a sixteenth of the heap was
	 * published since, so a full heap costs a collection per heap/16 of
	 * new content, never one per failed allocation. */
	uint64_t heap = hl_region(a, HL_REGION_HEAP)->bytes;
	bool futile = may_refuse ? a->gc_futile_room : a->gc_futile;
	if (futile && stored_bytes(a) - a->gc_futile_at < heap / HL_GC_AGAIN_FRACTION)
		return false;
	/* our own cycle, which starts after the failure and so reclaims
	 * everything that was garbage then; another process's cycle in
	 * progress may have marked before: wait for it, and run ours unless
	 * it freed enough to try again first */
	uint64_t t0 = hl_now_ns(), until = t0 + HL_GC_WAIT_NS;
	struct hl_gc_ctl *g = &a->hdr->gc;
	uint64_t freed0 = atomic_load_explicit(&g->freed_bytes, memory_order_relaxed);
	for (;;) {
		hl_gc_info info;
		int rc = hl_gc_collect(a, &info);
		if (rc == 0) {
			/* Futile: the heap is full of what is live, not of garbage.
			 * The collection found nearly all of it reachable, or it
			 * freed next to nothing and found most of it live (live
			 * bytes count nodes, not the slabs and class rounding
			 * around them, so a heap full of a search's live records
			 * can show a tenth of it not live while nothing can be
			 * freed). "Little" counts what every collection that ended
			 * since the allocation failed freed (ours and any we
			 * waited for): freeing little in our own is no sign, since
			 * another process's may just have freed it all, as under
			 * w1's churn.
			 *
			 * For a caller that may refuse (a search's record: the
			 * search goes on with statistics), also futile: freeing
			 * little and leaving no room for the class whose
			 * allocation failed (the other classes may have no whole
			 * slab free, and a class of several-unit slabs no run of
			 * adjacent units in the pool: heap_release.c). Not for
			 * commits, whose refusal is an error: under w1's churn
			 * four workers that all wait on one collection leave the
			 * next one nothing to free, for a moment, in a class that
			 * has room again as soon as they move on. */
			uint64_t freed = atomic_load_explicit(&g->freed_bytes,
							      memory_order_relaxed) - freed0;
			bool little = freed < heap / HL_GC_FUTILE_FRACTION;
			a->gc_futile = info.live_bytes >= heap - heap / HL_GC_FUTILE_FRACTION ||
				       (little && info.live_bytes >= heap / 2);
			a->gc_futile_room = a->gc_futile ||
					    (little && !hl_heap_has_room(a, a->full_cls));
			a->gc_futile_at = stored_bytes(a);
			hl_gc_pause_note(a, hl_now_ns() - t0); /* the commit's wait */
			return true;
		}
		if (rc != HL_EBUSY || hl_now_ns() >= until) {
			hl_gc_pause_note(a, hl_now_ns() - t0);
			return false;
		}
		/* On the caller's first try: another process's collection ended
		 * while we waited and freed more than a little, so try the
		 * allocation again before running ours. Its mark may have begun
		 * before our failure, so what it freed may not be all there
		 * was, and others may take it first: the caller's later tries
		 * run their own (four w1 workers in 16 MiB found the heap full
		 * when every try could be answered so). Without this, every
		 * worker that found a full heap while a collection ran would
		 * follow it with one of its own, freeing what little the others
		 * published meanwhile (two w1 workers made three collections of
		 * each heap's fill). */
		if (first && atomic_load_explicit(&g->freed_bytes, memory_order_relaxed) -
				     freed0 >= heap / HL_GC_FUTILE_FRACTION) {
			hl_gc_pause_note(a, hl_now_ns() - t0);
			return true;
		}
		struct timespec ts = {0, 200 * 1000};
		nanosleep(&ts, NULL);
	}
}
