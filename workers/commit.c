/*
 * commit.c - publishing a working state as an immutable snapshot.
 *
 * Commit rebuilds the tree top-down over the new size, visiting only what
 * may have changed:
 *
 *   build(L, i):  node (L, i) covering chunks [lo, hi) of the new tree
 *     - no dirty chunk in [lo, hi), the base has node (L, i) over the same
 *       range and all of it lies below valid_chunks: reuse the base node;
 *     - no dirty chunk, the range lies past valid_chunks and is full: the
 *       zero subtree of level L (offset 0, no node stored);
 *     - a leaf: hash the dirty buffer and publish it;
 *     - otherwise build the children and publish the inner node.
 *
 * So the work is O(dirty chunks x height) node visits plus the bytes of the
 * dirty chunks hashed once, whatever the state's size.
 *
 * An inner node stores its children's offsets only; its hash covers their
 * hashes, which commit has for the children it built and reads from the
 * headers of the base children it reuses (prefetched together, so their
 * misses overlap).
 *
 * Publishing in order, misses together. A node's hash needs its children's
 * hashes, never their offsets, so the build hashes its way up first and
 * queues each node it will publish (struct pending, in post-order: every
 * child before its parent), starting the load of the node's index bucket
 * as soon as its hash is known; the queue is then published in order, the
 * parents' child offsets filled from the children published before them.
 * The look-ups of a W2 commit (leaf, two inner nodes, root) thus wait on
 * their cold buckets together instead of one after another. A commit with
 * more new nodes than the queue holds publishes the queue when it fills
 * and every later node at once, as without one. The order of publication
 * is unchanged (post-order), so invariants 1-7 below hold as before.
 *
 * Publishing (publish()) is: look the hash up; if a node is there, verify
 * its bytes equal ours (a hash match with other bytes is HL_ECOLLISION,
 * never shared; for inner nodes the bytes are child offsets, which name
 * child contents because the index holds one node per content); else allocate from our slab, fill, and insert-if-absent.
 * Losing that race to another process means verifying the winner and
 * giving our copy back to our slab (hl_heap_free rewinds the bump).
 *
 * Invariants:
 *  1. A node's bytes are complete before the index CAS that publishes it
 *     (release in hl_index_insert): no process can find a half-built node.
 *  2. A parent is published only after its children: whoever finds a node
 *     finds its whole subtree.
 *  3. On failure (HL_EFULL, HL_ECOLLISION) the state is unchanged and may
 *     be committed again; nodes published before the failure are complete,
 *     valid and shared (they are content, not state).
 *  4. A process killed anywhere in commit leaves at most the one node it was
 *     filling unpublished (a bounded leak in its slab), never a corrupt node.
 *  5. On a persisted arena a node's record (child hashes, not offsets) is
 *     pushed into the persist ring after the node is filled and before the
 *     index CAS that publishes it (shm/persist_ring.c invariant 1): whoever
 *     finds the node pushes later, so the WAL never holds a parent before
 *     its child. A lost race leaves a record for a copy given back: replay
 *     dedups it. Without persistence the hook is one predictable branch.
 *  7. Garbage collection (shm/gc.c): the tree is built inside one epoch
 *     section, so nothing it found can be freed under it; a node it
 *     publishes is born marked while a collection runs, and the existing
 *     nodes it points at (reused from the base, or found) are shaded, so
 *     a collection never sweeps what the new snapshot reaches. A commit
 *     that finds the heap full runs a collection (outside its section)
 *     and tries once more.
 *  6. A sync commit returns once the persister says its records are on
 *     disk; one whose last node it found (another process's) first pushes
 *     a marker, so it waits for that process's records too. A commit
 *     published in memory whose wait fails returns the error with *out
 *     set: the snapshot exists but is not durable.
 */
#include <stdlib.h>
#include <string.h>

#include "workers.h"

/* The bytes that identify a node (hashed and verified) and its child
 * offsets (derived from the hashes, stored but not compared). */
struct node_image {
	uint8_t kind, level;
	uint16_t count;
	unsigned cls;
	uint64_t aux;
	const void *ident;
	uint32_t ident_bytes;
	const void *offs;
	uint32_t offs_bytes;
	const void *log;        /* what its persist record carries (NULL:
				 * ident); inner nodes log child hashes */
	uint32_t log_bytes;
};

/* A node queued for publication ("Publishing in order"). */
#define HL_COMMIT_QUEUE 16u

struct pending {
	struct node_image im;
	hl_id h;
	uint64_t off;                /* once published */
	/* an inner node's, owned here: child offsets (a queued child's filled
	 * in when it is published: child[j] its queue index, else -1) */
	uint64_t offs[HL_FANOUT];
	hl_id hashes[HL_FANOUT];
	int8_t child[HL_FANOUT];
};

struct commit {
	hl_state *s;
	hl_arena *a;
	struct pending *q;      /* [HL_COMMIT_QUEUE], not zeroed */
	unsigned queued, published; /* q[published, queued) waits */
	bool at_once;           /* the queue filled: publish as they come */
	uint64_t chunks;        /* of the new tree */
	uint64_t valid_chunks;  /* chunks below this may come from the base */
	const struct hl_dirty **sorted; /* dirty chunks in index order */
	hl_commit_info info;
	bool found_last;        /* the last node published was found, not
				 * pushed by us: a sync wait needs a marker */
};

static bool image_matches(const struct hl_node *n, const struct node_image *im)
{
	return n->kind == im->kind && n->level == im->level &&
	       n->count == im->count && n->aux == im->aux &&
	       n->payload_bytes == im->ident_bytes + im->offs_bytes &&
	       memcmp(n->payload, im->ident, im->ident_bytes) == 0;
}

/* An inner node's children name the same contents as ours: equal offsets,
 * or (a duplicate child, gc.c "Duplicates") nodes with equal hashes. */
static bool children_match(const hl_arena *a, const struct hl_node *n,
			   const struct node_image *im)
{
	const uint64_t *theirs = (const uint64_t *)n->payload;
	const uint64_t *ours = im->ident;
	const hl_id *hashes = im->log;
	for (unsigned j = 0; j < im->count; j++) {
		if (theirs[j] == ours[j])
			continue;
		const struct hl_node *c = theirs[j] ? hl_node_get(a, theirs[j],
								  HL_NODE_KIND_ANY,
								  (unsigned)im->level - 1)
						    : NULL;
		if (!c || !hl_id_eq(c->hash, hashes[j]))
			return false;
	}
	return true;
}

static bool matches(const hl_arena *a, const struct hl_node *n,
		    const struct node_image *im)
{
	if (image_matches(n, im))
		return true;
	return im->kind == HL_NODE_INNER && n->kind == im->kind &&
	       n->level == im->level && n->count == im->count &&
	       n->payload_bytes == im->ident_bytes && children_match(a, n, im);
}

/* found()'s answer for a node a sweep has as garbage: publish a copy. */
#define FOUND_DOOMED 1

static int found(struct commit *cx, uint64_t off, const struct node_image *im)
{
	const struct hl_node *n = hl_node_get(cx->a, off, im->kind, im->level);
	if (!n || !matches(cx->a, n, im))
		return HL_ECOLLISION;
	if (!hl_gc_keep(cx->a, off)) /* invariant 7 */
		return FOUND_DOOMED;
	cx->info.dedup_bytes += im->ident_bytes;
	cx->found_last = true;
	hl_ctr_add(cx->a, HL_CTR_DEDUP_HITS, 1);
	hl_ctr_add(cx->a, HL_CTR_DEDUP_BYTES, im->ident_bytes);
	return 0;
}

static void fill(struct hl_node *n, hl_id h, const struct node_image *im)
{
	n->hash = h;
	n->kind = im->kind;
	n->level = im->level;
	n->count = im->count;
	n->payload_bytes = im->ident_bytes + im->offs_bytes;
	n->aux = im->aux;
	memcpy(n->payload, im->ident, im->ident_bytes);
	if (im->offs_bytes)
		memcpy(n->payload + im->ident_bytes, im->offs, im->offs_bytes);
}

/* Invariant 5: the node's record into the persist ring before its index
 * CAS. Out of line and cold, so a memory-only commit's publish stays as
 * small as it was. On failure the copy goes back to the slab. */
__attribute__((noinline, cold))
static int log_node(struct commit *cx, hl_id h, const struct node_image *im,
		    uint64_t mine)
{
	/* a leaf by reference: the ring takes no copy of its chunk */
	int rc = im->kind == HL_NODE_LEAF
		? hl_persist_push_leaf(cx->a, h, mine)
		: hl_persist_push_node(cx->a, h, im->kind, im->level, im->count,
				       im->aux, im->log ? im->log : im->ident,
				       im->log ? im->log_bytes : im->ident_bytes);
	if (rc)
		hl_heap_free(cx->a, im->cls, mine);
	else
		cx->found_last = false;
	return rc;
}

/* Invariant 7: while a collection runs the node is born marked and the
 * existing nodes it points at are shaded (the collector's insertion
 * barrier), decided together (shm/gc.c). */
static void gc_publish(hl_arena *a, uint64_t mine, const struct node_image *im)
{
	const uint64_t *c = im->kind == HL_NODE_INNER ? im->ident : im->offs;
	unsigned n = im->kind == HL_NODE_INNER ? im->count
		     : im->kind == HL_NODE_ROOT ? 1 : 0;
	hl_gc_publish(a, mine, c, n);
}

static int publish(struct commit *cx, hl_id h, const struct node_image *im,
		   uint64_t *off)
{
	hl_arena *a = cx->a;
	int rc;
	if (hl_index_lookup(a, h, off) == 0 &&
	    (rc = found(cx, *off, im)) != FOUND_DOOMED)
		return rc;
	uint64_t mine;
	/* a winner found doomed (a sweep began meanwhile): the sweep's
	 * lookups pass it by now, so a second round publishes ours */
	for (unsigned round = 0;; round++) {
		if ((rc = hl_heap_alloc(a, im->cls, &mine)))
			return rc;
		fill(hl_node_at(a, mine), h, im); /* invariant 1 */
		hl_dirty_mark(a, mine, hl_heap_class_bytes(a, im->cls)); /* checkpoints */
		if (hl_unlikely(hl_persisted(a)) && (rc = log_node(cx, h, im, mine)))
			return rc; /* invariant 5 */
		gc_publish(a, mine, im); /* invariant 7 */
		rc = hl_index_insert(a, h, mine, off);
		if (rc == 0)
			break;
		hl_heap_free(a, im->cls, mine);
		if (rc != 1)
			return rc;
		if ((rc = found(cx, *off, im)) != FOUND_DOOMED)
			return rc;
		if (round == 1)
			return HL_EBUSY; /* cannot happen twice in one section */
	}
	*off = mine;
	uint64_t bytes = hl_heap_class_bytes(a, im->cls);
	cx->info.new_nodes++;
	cx->info.new_bytes += bytes;
	hl_ctr_add(a, HL_CTR_NODES, 1);
	hl_ctr_add(a, HL_CTR_STORED_BYTES, bytes);
	return 0;
}

/* An inner node's child offsets: those of its queued children (child[j]
 * their queue index, -1 for an offset offs[j] already holds), all
 * published by now. */
static void fill_children(const struct commit *cx, uint64_t *offs,
			  const int8_t *child, unsigned count)
{
	for (unsigned j = 0; j < count; j++)
		if (child[j] >= 0)
			offs[j] = cx->q[child[j]].off;
}

/* Publishes the queue in order ("Publishing in order"), each inner node's
 * queued children's offsets filled in from their publication first. */
static int flush(struct commit *cx)
{
	for (; cx->published < cx->queued; cx->published++) {
		struct pending *p = &cx->q[cx->published];
		if (p->im.kind == HL_NODE_INNER)
			fill_children(cx, p->offs, p->child, p->im.count);
		int rc = publish(cx, p->h, &p->im, &p->off);
		if (rc)
			return rc;
	}
	return 0;
}

/* Queues node h (its bucket's load started), *pend its queue index; or,
 * once the queue has filled, publishes it at once (*pend -1, out->off
 * set). child[j]: inner nodes' queued children, -1 for those whose
 * offset im->ident already holds. */
static int defer(struct commit *cx, hl_id h, const struct node_image *im,
		 const int8_t *child, struct hl_nref *out, int *pend)
{
	*pend = -1;
	if (!cx->at_once && cx->queued == HL_COMMIT_QUEUE) {
		int rc = flush(cx);
		if (rc)
			return rc;
		cx->at_once = true;
	}
	bool inner = im->kind == HL_NODE_INNER;
	if (cx->at_once) { /* every queued child is published by now */
		uint64_t offs[HL_FANOUT];
		struct node_image now = *im;
		if (inner) {
			memcpy(offs, im->ident, im->count * sizeof *offs);
			fill_children(cx, offs, child, im->count);
			now.ident = offs;
		}
		return publish(cx, h, &now, &out->off);
	}
	struct pending *p = &cx->q[cx->queued];
	p->im = *im;
	p->h = h;
	if (inner) {
		memcpy(p->offs, im->ident, im->count * sizeof *p->offs);
		memcpy(p->hashes, im->log, im->count * sizeof *p->hashes);
		memcpy(p->child, child, im->count * sizeof *p->child);
		p->im.ident = p->offs;
		p->im.log = p->hashes;
	}
	hl_index_prefetch(cx->a, h);
	*pend = (int)cx->queued++;
	return 0;
}

static int publish_leaf(struct commit *cx, const unsigned char *buf,
			struct hl_nref *out, int *pend)
{
	hl_arena *a = cx->a;
	hl_id h = hl_hash_leaf(buf, a->chunk_bytes);
	cx->info.hashed_bytes += a->chunk_bytes;
	cx->info.chunks_touched++;
	*out = (struct hl_nref){true, h, 0};
	*pend = -1;
	if (hl_id_eq(h, a->zero_hash[0]))
		return memcmp(buf, a->zero_chunk, a->chunk_bytes) ? HL_ECOLLISION
								  : 0;
	/* the dirty buffer stays put until the commit ends */
	struct node_image im = {.kind = HL_NODE_LEAF, .cls = a->class_leaf,
				.ident = buf, .ident_bytes = a->chunk_bytes};
	return defer(cx, h, &im, NULL, out, pend);
}

int hl_one_chunk_id(const hl_arena *a, const void *buf, size_t size, hl_id *out)
{
	uint32_t cb = a->chunk_bytes;
	if (size == 0 || size > cb || cb > HL_ONE_CHUNK_ID_MAX)
		return HL_EINVAL;
	unsigned char chunk[HL_ONE_CHUNK_ID_MAX];
	memcpy(chunk, buf, size);
	memset(chunk + size, 0, cb - size); /* state.c invariant 1 */
	/* publish_leaf's hash, and the root commit_tree puts over one leaf */
	*out = hl_hash_root(size, hl_height_of(1), hl_hash_leaf(chunk, cb));
	return 0;
}

int hl_commit_publish_replayed(hl_arena *a, hl_id h, unsigned kind,
			       unsigned level, unsigned count, uint64_t aux,
			       const void *ident, uint32_t ident_bytes,
			       const void *offs, uint32_t offs_bytes,
			       uint64_t *off)
{
	struct commit cx = {.a = a};
	unsigned cls = kind == HL_NODE_LEAF    ? a->class_leaf
		       : kind == HL_NODE_INNER ? a->class_inner
					       : a->class_root;
	struct node_image im = {.kind = (uint8_t)kind, .level = (uint8_t)level,
				.count = (uint16_t)count, .cls = cls, .aux = aux,
				.ident = ident, .ident_bytes = ident_bytes,
				.offs = offs, .offs_bytes = offs_bytes};
	return publish(&cx, h, &im, off);
}

static bool all_zero_children(const hl_arena *a, unsigned level,
			      const hl_id *hashes, unsigned count)
{
	for (unsigned j = 0; j < count; j++)
		if (!hl_id_eq(hashes[j], a->zero_hash[level - 1]))
			return false;
	return true;
}

static int publish_inner(struct commit *cx, unsigned level,
			 const hl_id *hashes, const uint64_t *offs,
			 const int8_t *child, unsigned count,
			 struct hl_nref *out, int *pend)
{
	hl_arena *a = cx->a;
	hl_id h = hl_hash_inner(level, hashes, count);
	cx->info.hashed_bytes += count * sizeof(hl_id);
	*out = (struct hl_nref){true, h, 0};
	*pend = -1;
	if (count == HL_FANOUT && hl_id_eq(h, a->zero_hash[level]))
		return all_zero_children(a, level, hashes, count) ? 0
								  : HL_ECOLLISION;
	struct node_image im = {.kind = HL_NODE_INNER, .level = (uint8_t)level,
				.count = (uint16_t)count, .cls = a->class_inner,
				.ident = offs,
				.ident_bytes = hl_inner_payload_bytes(count),
				.log = hashes,
				.log_bytes = count * (uint32_t)sizeof(hl_id)};
	return defer(cx, h, &im, child, out, pend);
}

/* *id is the root's hash, hl_hash_root(size, height, top.hash). */
static int publish_root(struct commit *cx, uint64_t size, unsigned height,
			struct hl_nref top, const hl_id *id, uint64_t *root_off)
{
	struct node_image im = {.kind = HL_NODE_ROOT, .level = (uint8_t)height,
				.count = 1, .cls = cx->a->class_root,
				.aux = size, .ident = &top.hash,
				.ident_bytes = sizeof(hl_id), .offs = &top.off,
				.offs_bytes = sizeof(uint64_t)};
	return publish(cx, *id, &im, root_off);
}

/* The base's children of node (level, i), with the header line of each
 * present one prefetched: those that are reused need their hashes read,
 * and issuing every load first lets the misses overlap. */
static int base_children(struct commit *cx, unsigned level, uint64_t i,
			 struct hl_nref base, unsigned count,
			 struct hl_nref *out)
{
	bool bad = false;
	for (unsigned j = 0; j < count; j++) {
		out[j] = hl_tree_child(cx->a, &cx->s->base, base, level, i, j, &bad);
		if (out[j].present && out[j].off)
			__builtin_prefetch(hl_at(cx->a, out[j].off));
	}
	return bad ? HL_ECORRUPT : 0;
}

/* Dirty entries [d, d_end) are those inside node (level, i)'s range.
 * *pend: the node's queue index when it waits to be published, else -1
 * (out->off known: reused, zero, or published at once). */
static int build(struct commit *cx, unsigned level, uint64_t i,
		 struct hl_nref base, uint32_t d, uint32_t d_end,
		 struct hl_nref *out, int *pend)
{
	const struct hl_tree *bt = &cx->s->base;
	uint64_t lo = hl_node_lo(level, i), full = hl_node_hi_full(level, i);
	uint64_t hi = full < cx->chunks ? full : cx->chunks;
	*pend = -1;
	if (d == d_end) {
		uint64_t base_hi = full < bt->chunks ? full : bt->chunks;
		if (base.present && base_hi == hi && hi <= cx->valid_chunks) {
			*out = base;
			out->hash = hl_nref_hash(cx->a, base, level);
			return 0;
		}
		if (lo >= cx->valid_chunks && hi == full) {
			*out = (struct hl_nref){true, cx->a->zero_hash[level], 0};
			return 0;
		}
	}
	if (level == 0) {
		hl_assert(d < d_end && cx->sorted[d]->chunk == lo);
		return publish_leaf(cx, cx->sorted[d]->buf, out, pend);
	}
	hl_id hashes[HL_FANOUT];
	uint64_t offs[HL_FANOUT];
	int8_t child[HL_FANOUT];
	struct hl_nref bases[HL_FANOUT];
	uint64_t span = 1ull << (HL_FANOUT_SHIFT * (level - 1));
	unsigned count = (unsigned)((hi - lo + span - 1) / span);
	hl_assert(count >= 1 && count <= HL_FANOUT); /* hi > lo: some chunk */
	int rc = base_children(cx, level, i, base, count, bases);
	if (rc)
		return rc;
	for (unsigned j = 0; j < count; j++) {
		uint64_t child_hi = lo + (j + 1) * span;
		uint32_t e = d;
		while (e < d_end && cx->sorted[e]->chunk < child_hi)
			e++;
		struct hl_nref c;
		int cp;
		rc = build(cx, level - 1, i * HL_FANOUT + j, bases[j], d, e, &c, &cp);
		if (rc)
			return rc;
		hashes[j] = c.hash;
		offs[j] = c.off;
		child[j] = (int8_t)cp;
		d = e;
	}
	return publish_inner(cx, level, hashes, offs, child, count, out, pend);
}

static int by_chunk(const void *x, const void *y)
{
	uint64_t a = (*(const struct hl_dirty *const *)x)->chunk;
	uint64_t b = (*(const struct hl_dirty *const *)y)->chunk;
	return (a > b) - (a < b);
}

/* Sorts pointers to the dirty entries in the state's scratch, leaving the
 * dirty array itself untouched (invariant 3: a failed commit must leave its
 * table valid). */
static void sort_dirty(struct commit *cx)
{
	hl_state *s = cx->s;
	cx->sorted = s->sorted;
	for (uint32_t i = 0; i < s->dirty_count; i++)
		cx->sorted[i] = &s->dirty[i];
	if (s->dirty_count > 1)
		qsort(cx->sorted, s->dirty_count, sizeof *cx->sorted, by_chunk);
}

static int commit_tree(struct commit *cx, hl_id *id, struct hl_tree *t)
{
	hl_state *s = cx->s;
	*t = (struct hl_tree){.size = s->size, .chunks = cx->chunks,
			      .height = hl_height_of(cx->chunks)};
	*id = (hl_id){0, 0};
	if (s->size == 0)
		return 0; /* the empty state: the zero id, no nodes */
	struct hl_nref base = hl_tree_at_level(cx->a, &s->base, t->height);
	struct hl_nref top;
	int tp;
	int rc = build(cx, t->height, 0, base, 0, s->dirty_count, &top, &tp);
	if (rc)
		return rc;
	/* the root's bucket joins the queue's misses; then the queue, in order */
	hl_id rid = hl_hash_root(s->size, t->height, top.hash);
	hl_index_prefetch(cx->a, rid);
	if ((rc = flush(cx)))
		return rc;
	if (tp >= 0)
		top.off = cx->q[tp].off;
	*id = rid;
	uint64_t root_off;
	rc = publish_root(cx, s->size, t->height, top, id, &root_off);
	t->top_hash = top.hash;
	t->top_off = top.off;
	t->root_off = rc == 0 ? root_off : 0;
	/* A root found already there may point at a duplicate of our top
	 * (equal content at another offset: gc.c, "Duplicates"). The state
	 * then reads through the root it holds, so that its reads stay
	 * inside what the hold keeps alive. */
	if (rc == 0)
		t->top_off = ((const struct hl_root_payload *)
				      hl_node_at(cx->a, root_off)->payload)->top_off;
	return rc;
}

/* A persisted commit's wait (invariant 6): sync waits for its records, or
 * for a marker behind the nodes it found when it pushed none after them. */
static int make_durable(struct commit *cx, unsigned mode)
{
	if (mode != HL_DURABILITY_SYNC)
		return 0;
	if (cx->found_last) {
		int rc = hl_persist_push_mark(cx->a);
		if (rc)
			return rc;
	}
	return hl_persist_wait_own(cx->a);
}

int hl_commit(hl_state *s, hl_id *out, hl_commit_info *info)
{
	return hl_commit_ex(s, out, info, 0);
}

int hl_commit_ex(hl_state *s, hl_id *out, hl_commit_info *info,
		 unsigned flags)
{
	if (!s || !out || (flags & ~(HL_COMMIT_ASYNC | HL_COMMIT_SYNC)) ||
	    flags == (HL_COMMIT_ASYNC | HL_COMMIT_SYNC))
		return HL_EINVAL;
	int rc = hl_arena_writable(s->a);
	if (!rc)
		rc = hl_persist_error(s->a); /* sticky: no durable commit after */
	if (rc)
		return rc;
	/* the clock is read for info's ns only; t1 below is the heartbeat */
	uint64_t t0 = info ? hl_now_ns() : 0;
	struct pending q[HL_COMMIT_QUEUE]; /* written before read, never zeroed */
	struct commit cx = {.s = s, .a = s->a, .q = q,
			    .chunks = hl_chunks_of(s->a, s->size),
			    .valid_chunks = hl_valid_chunks(s)};
	sort_dirty(&cx);
	hl_id id;
	struct hl_tree t;
	if (hl_holds_room(s->a) == 0)
		return HL_EFULL; /* no entry left to hold the new base */
	hl_epoch_enter(s->a); /* invariant 7 */
	rc = commit_tree(&cx, &id, &t);
	if (rc == 0)
		rc = hl_state_rebase(s, id, &t);
	hl_epoch_exit(s->a);
	/* a full heap: collect and try again, a few times (others' commits
	 * may take what one collection freed before ours gets it) */
	for (unsigned again = 0; rc == HL_EFULL && again < HL_GC_COMMIT_RETRIES &&
			     hl_gc_for_room(s->a, false, again == 0); again++) {
		cx = (struct commit){.s = s, .a = s->a, .q = q, .chunks = cx.chunks,
				     .valid_chunks = cx.valid_chunks};
		sort_dirty(&cx);
		hl_epoch_enter(s->a);
		rc = commit_tree(&cx, &id, &t);
		if (rc == 0)
			rc = hl_state_rebase(s, id, &t);
		hl_epoch_exit(s->a);
	}
	if (rc)
		return rc;
	*out = id;
	if (hl_unlikely(hl_persisted(s->a))) {
		rc = make_durable(&cx, hl_persist_mode(s->a, flags));
		if (rc)
			return rc;
	}
	uint64_t t1 = hl_now_ns();
	hl_ctr_add(s->a, HL_CTR_COMMITS, 1);
	hl_ctr_add(s->a, HL_CTR_HASHED_BYTES, cx.info.hashed_bytes);
	atomic_store_explicit(&s->a->slot->heartbeat_ns, t1, memory_order_relaxed);
	if (info) {
		cx.info.ns = t1 - t0;
		*info = cx.info;
	}
	return 0;
}
