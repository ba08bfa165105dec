/*
 * mcts.c - the shared MCTS search graph: search handles, records, expansion,
 * and reading a search from any process. Select and backup are
 * mcts_walk.c; the virtual losses' bookkeeping is shm/inflight.c.
 *
 * NOTES ON THE DESIGN OF THE SEARCH GRAPH
 *
 * A search is a name, a salt (hl_hash64 of the name) and a root position,
 * published as the ref "mcts/<name>". Every position the search reaches
 * has one record (layout.h draws it), a node of the arena's index under
 * the key hl_hash_search(position id, salt): the position's content
 * address is the transposition key, so two move orders that reach one
 * position, in any two processes, reach one record. Records are graph
 * nodes, edges point down, and the graph is a DAG (positions do not repeat
 * in the games this serves; a game that can repeat makes the position part
 * of its history).
 *
 * Words of a record, and who writes them:
 *
 *   header, pos_off, edge priors and actions
 *                 written by the expander before the index insert that
 *                 publishes the record (release CAS, index.c), never again
 *   own           [value : count]: 0 until the first backup through the
 *                 record CASes in (value, 1) - the leaf's expander's,
 *                 or, if that expander died first, the next one passing
 *                 through with the value it carries; a terminal record is
 *                 born with (result, 1).
 *                 Statistics-only visits (no room to expand a child) fold
 *                 their value in as a running average, by CAS
 *   q             the record's value, recomputed by every backup through
 *                 it: (own.count * own.value + sum over linked edges of
 *                 visits * child's q as the edge saw it, from here) /
 *                 (own.count + those visits), and stored when it moved by
 *                 more than HL_MCTS_Q_EPSILON (a hot record's cache line is
 *                 not taken from every reader by a store that changes
 *                 nothing)
 *   flags         TERMINAL at birth; WIN / LOSS / DRAW stored by the backup
 *                 that derives them from the children
 *   edge stat     visits and virtual losses, atomic RMWs (inflight.c)
 *   edge link     0 child until one CAS links the child's record (release)
 *   edge seen     0 until a backup through the edge copies the child's q
 *                 and proof into it, after recomputing the child; again by
 *                 every later backup through it, when they changed
 *
 * This is the graph formulation of KataGo's docs/GraphSearch.md: per-edge
 * visit counts, and a node's value recomputed from its children weighted
 * by edge visits, never an incremental tree update over shared nodes. A
 * transposition reached through a new edge adds visits to that edge, not
 * to the child (whose value already stands for its whole subtree).
 *
 * Invariants while other processes update the same records:
 *  1. A record is complete for anyone who reaches it: through the index
 *     (acquire load, index.c) or an edge link (acquire load, pairing with
 *     the release CAS that linked it); both follow the record's writing.
 *  2. Every stored value is an average, never a sum: a reader that loads a
 *     q (or an own word, value and count in one load) holds a value of
 *     one moment, in [-1, 1], whatever else moves. A q stored from a
 *     slightly stale view of the children is a valid average of values
 *     that were all true a moment ago, and the next backup through the
 *     record recomputes it from scratch: updates are idempotent.
 *  3. N of a record is own.count plus its edges' visits, computed on read:
 *     it cannot disagree with the edges, whoever died mid-backup.
 *  4. Proofs are sound: a terminal record's result is exact; a record is
 *     marked proven only from children proven at that moment, and a proof
 *     is never withdrawn, so by induction every proof is a true one. They
 *     are re-derived on every backup through the record (mcts_walk.c).
 *  5. Every virtual loss on an edge is written down in its process's
 *     in-flight table (inflight.c), so the losses of a process that dies
 *     are released exactly, by the coordinator's reclaim of its slot.
 *  6. An edge links at most one record, once: the CAS that links it
 *     expects the unlinked word, and the record of one position is unique
 *     (the index holds one entry per key).
 *  7. Seen values. Selection and backup take a child's value from the
 *     seen word of the edge that leads to it, not from the child's record
 *     (the record is read only while the word is 0: no backup through the
 *     edge has finished). So scoring a record's edges reads that record's
 *     own lines and no child's: the record a path descends into is the
 *     only other one it reads, as in a tree held in one process. A seen
 *     word is one atomic u16 (layout.h), a value and a proof of one
 *     moment. Its value may be older than the child's q by the backups
 *     that reached the child through its other parents (transpositions)
 *     since this edge's last one: the parent's Q then averages values
 *     that were true a little longer ago (invariant 2 still holds), and
 *     the next backup through the edge brings it up to date. A proof in
 *     it is sound: it was the child's, and proofs are never withdrawn
 *     (invariant 4); a child proven through another parent proves this
 *     one at the next backup through the edge. Measured: Connect Four,
 *     one worker, reads one record per level instead of eight
 *     (README, "Connect Four playouts").
 *
 * Memory is bounded by the arena: when a record cannot be allocated, even
 * after the collection a full heap runs (hl_gc_for_room, as for a commit), the
 * search goes on with the statistics it has (hl_mcts_expand returns 1,
 * counted in HL_SCTR_NO_ROOM), and reclaiming unreachable records - those
 * a move of the root (hl_mcts_set_root, mcts_root.c) left behind - is the
 * garbage collector's.
 */
#include <stdio.h>

#include "mcts.h"

#define MCTS_REF_PREFIX HL_SEARCH_REF_PREFIX

void hl_mcts_config_init(hl_mcts_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof *cfg);
	cfg->policy = HL_MCTS_PUCT;
	cfg->alternating = 1;
	cfg->c_explore = 1.5;
	cfg->fpu_reduction = 0.2;
}

static int check_config(const hl_mcts_config *c)
{
	if (c->policy != HL_MCTS_PUCT && c->policy != HL_MCTS_UCT)
		return HL_EINVAL;
	if (c->alternating > 1 || c->skip_parent_id > 1 ||
	    !(c->c_explore >= 0 && c->c_explore <= 100) ||
	    !(c->fpu_reduction >= 0 && c->fpu_reduction <= 2))
		return HL_EINVAL;
	return 0;
}

/* Sets the search's root ref to root unless it names another one. */
static int claim_root(hl_mcts *s, hl_id root)
{
	hl_id cur = {0, 0};
	int rc = hl_ref_cas(s->a, s->ref, &cur, root);
	if (rc == HL_EBUSY)
		return hl_id_eq(cur, root) ? 0 : HL_EEXIST;
	return rc;
}

static int open_root(hl_mcts *s, hl_id root)
{
	if (hl_id_is_zero(root))
		return hl_ref_get(s->a, s->ref, &s->root);
	if (hl_arena_writable(s->a) != 0) { /* read-only: it must exist as given */
		hl_id cur;
		int rc = hl_ref_get(s->a, s->ref, &cur);
		if (rc)
			return rc == HL_ENOENT ? HL_EROFS : rc;
		if (!hl_id_eq(cur, root))
			return HL_EEXIST;
	} else {
		int rc = claim_root(s, root);
		if (rc)
			return rc;
	}
	s->root = root;
	return 0;
}

int hl_mcts_open(hl_arena *a, const char *name, hl_id root,
		 const hl_mcts_config *cfg, hl_mcts **out)
{
	if (!a || !name || !out)
		return HL_EINVAL;
	*out = NULL;
	size_t len = strnlen(name, HL_MCTS_NAME_MAX + 1);
	if (len == 0 || len > HL_MCTS_NAME_MAX)
		return HL_EINVAL;
	hl_mcts *s = calloc(1, sizeof *s);
	if (!s)
		return HL_ENOMEM;
	s->a = a;
	if (cfg)
		s->cfg = *cfg;
	else
		hl_mcts_config_init(&s->cfg);
	int rc = check_config(&s->cfg);
	if (rc)
		goto out_free;
	memcpy(s->name, name, len);
	const struct hl_region *heap = hl_region(a, HL_REGION_HEAP);
	s->heap_lo = heap->off;
	s->heap_hi = heap->off + heap->bytes;
	snprintf(s->ref, sizeof s->ref, MCTS_REF_PREFIX "%s", s->name);
	s->salt = hl_hash64(s->name, len, HL_SEED_SEARCH);
	if (!hl_id_is_zero(root)) {
		struct hl_tree t;
		if ((rc = hl_tree_load(a, root, &t, NULL)) != 0)
			goto out_free;
	}
	if ((rc = open_root(s, root)) != 0)
		goto out_free;
	/* the handle follows the ref from now on (mcts_root.c) */
	if (!(s->root_word = hl_ref_word(a, s->ref))) {
		rc = HL_ENOENT;
		goto out_free;
	}
	hl_epoch_enter(a);
	rc = hl_mcts_follow_root(s);
	hl_epoch_exit(a);
	if (rc)
		goto out_free;
	*out = s;
	return 0;
out_free:
	free(s);
	return rc;
}

void hl_mcts_close(hl_mcts *s)
{
	if (!s)
		return;
	/* paths still in flight: their losses come off, nothing is visited;
	 * other searches on the same arena handle keep theirs */
	for (unsigned r = 0; s->a->slot && r < HL_MCTS_INFLIGHT_ROWS; r++)
		if (s->rows_used & (1u << r))
			hl_inflight_row_drop(s->a, r);
	free(s);
}

hl_id hl_mcts_root(const hl_mcts *s)
{
	return s ? s->root : (hl_id){0, 0};
}

/* ---- records --------------------------------------------------------------- */

uint64_t hl_mcts_child_rec(const hl_mcts *s, uint64_t link)
{
	uint64_t off = link_child(link);
	if (off == 0)
		return 0;
	const struct hl_node *n = hl_node_get(s->a, off, HL_NODE_SEARCH, 0);
	return n && n->aux == s->salt ? off : 0;
}

uint64_t hl_mcts_find(const hl_mcts *s, hl_id pos)
{
	uint64_t off;
	if (hl_index_lookup(s->a, hl_hash_search(pos, s->salt), &off))
		return 0;
	const struct hl_node *n = hl_node_get(s->a, off, HL_NODE_SEARCH, 0);
	return n && n->aux == s->salt ? off : 0;
}

hl_id hl_mcts_rec_pos(const hl_arena *a, uint64_t rec)
{
	const struct hl_node *n = hl_node_get(a, rec_payload(a, rec)->pos_off,
					      HL_NODE_ROOT, HL_NODE_LEVEL_ANY);
	return n ? n->hash : (hl_id){0, 0};
}

uint64_t hl_mcts_visits(const hl_arena *a, uint64_t rec, unsigned *in_flight)
{
	const struct hl_search_edge *e = rec_edges(a, rec);
	uint64_t n = own_count(atomic_load_explicit(&rec_payload(a, rec)->own,
						    memory_order_relaxed));
	unsigned vl = 0;
	for (unsigned i = 0; i < rec_count(a, rec); i++) {
		uint64_t st = atomic_load_explicit(&e[i].stat, memory_order_relaxed);
		n += stat_visits(st);
		vl += stat_vloss(st);
	}
	if (in_flight)
		*in_flight = vl;
	return n;
}

static uint32_t result_flags(uint32_t result)
{
	return result == HL_MCTS_WIN ? HL_SREC_WIN
	       : result == HL_MCTS_LOSS ? HL_SREC_LOSS
	       : result == HL_MCTS_DRAW ? HL_SREC_DRAW
					: 0;
}

static float result_value(uint32_t result)
{
	return result == HL_MCTS_WIN ? 1.0f : result == HL_MCTS_LOSS ? -1.0f : 0.0f;
}

/* ---- expansion ----------------------------------------------------------------- */

static uint16_t prior_bits(float p)
{
	if (!(p > 0))
		return 0;
	if (p >= 1)
		return HL_EDGE_PRIOR_ONE;
	return (uint16_t)lrintf(p * (float)HL_EDGE_PRIOR_ONE);
}

/* Writes a new record for pos (root node pos_off) into the object at off. */
static void fill_record(hl_mcts *s, uint64_t off, hl_id key, uint64_t pos_off,
			const hl_mcts_move *moves, unsigned n, uint32_t result)
{
	struct hl_node *h = hl_node_at(s->a, off);
	h->hash = key;
	h->kind = HL_NODE_SEARCH;
	h->level = 0;
	h->count = (uint16_t)n;
	h->payload_bytes = hl_srec_payload_bytes(n);
	h->aux = s->salt;
	struct hl_search_payload *p = rec_payload(s->a, off);
	p->pos_off = pos_off;
	bool terminal = result != HL_MCTS_ONGOING;
	atomic_init(&p->own, terminal ? own_word(result_value(result), 1) : 0);
	q_store(p, terminal ? result_value(result) : 0.0f);
	atomic_init(&p->flags, terminal ? HL_SREC_TERMINAL | result_flags(result) : 0);
	struct hl_search_edge *e = rec_edges(s->a, off);
	_Atomic uint16_t *seen = rec_seen(s->a, off);
	for (unsigned i = 0; i < n; i++) {
		atomic_init(&seen[i], 0); /* no backup through it yet */
		uint64_t child = hl_id_is_zero(moves[i].child)
					 ? 0 : hl_mcts_find(s, moves[i].child);
		if (child)
			hl_gc_shade(s->a, child); /* linked at birth: reachable */
		atomic_init(&e[i].stat, (uint64_t)prior_bits(moves[i].prior)
						<< HL_EDGE_PRIOR_SHIFT);
		atomic_init(&e[i].link, (uint64_t)moves[i].action << HL_LINK_CHILD_BITS |
						child / HL_HEAP_ALIGN);
	}
}

/* The root node of snapshot pos: pos_off when the caller knows it (and it
 * is that snapshot's), else through the index. 0 when pos is no snapshot. */
static uint64_t position_root(const hl_arena *a, hl_id pos, uint64_t pos_off)
{
	const struct hl_node *n;
	if (pos_off && (n = hl_node_get(a, pos_off, HL_NODE_ROOT, HL_NODE_LEVEL_ANY)) &&
	    hl_id_eq(n->hash, pos))
		return pos_off;
	if (hl_index_lookup(a, pos, &pos_off) ||
	    !hl_node_get(a, pos_off, HL_NODE_ROOT, HL_NODE_LEVEL_ANY))
		return 0;
	return pos_off;
}

/* Publishes pos's record: *rec gets it, ours or the one already there.
 * 0, 1 (no room: nothing published), or an error. */
static int publish_record(hl_mcts *s, hl_id pos, uint64_t pos_hint,
			  const hl_mcts_move *moves, unsigned n, uint32_t result,
			  uint64_t *rec)
{
	hl_arena *a = s->a;
	hl_id key = hl_hash_search(pos, s->salt);
	hl_index_prefetch(a, key); /* its bucket's miss overlaps the filling */
	uint64_t pos_off = position_root(a, pos, pos_hint);
	int rc;
	if (!pos_off)
		return HL_ENOENT; /* not a snapshot of this arena */
	uint64_t bytes = sizeof(struct hl_node) + hl_srec_payload_bytes(n);
	int cls = hl_heap_class_of(a->hdr, bytes);
	if (cls < 0)
		return HL_EINVAL; /* more moves than the largest object holds */
	uint64_t off;
	if (hl_heap_alloc(a, (unsigned)cls, &off)) {
		/* no room for a new record; one already there (a
		 * transposition) still serves, and needs none */
		*rec = hl_mcts_find(s, pos);
		return *rec && hl_gc_keep(a, *rec) ? 0 : 1;
	}
	if (!hl_gc_keep(a, pos_off)) {
		hl_heap_free(a, (unsigned)cls, off);
		return HL_ENOENT; /* the position is garbage a sweep removes */
	}
	fill_record(s, off, key, pos_off, moves, n, result);
	hl_gc_publish(a, off, &pos_off, 1); /* born marked, its position shaded */
	hl_dirty_mark(a, off, bytes); /* before its index CAS: checkpoints */
	if (hl_unlikely(hl_persisted(a)) &&
	    (rc = hl_mcts_log_record(a, pos, s->salt, moves, n, result))) {
		hl_heap_free(a, (unsigned)cls, off); /* persist hook (mcts_log.c) */
		return rc;
	}
	/* no look-up first: the insert finds a record already there (a
	 * transposition, or another expander of this leaf) and names it */
	uint64_t winner;
	rc = hl_index_insert(a, key, off, &winner);
	if (rc != 0) {
		hl_heap_free(a, (unsigned)cls, off);
		if (rc == 1 && (*rec = hl_mcts_child_rec(s, winner / HL_HEAP_ALIGN)) != 0 &&
		    hl_gc_keep(a, *rec))
			return 0; /* another expander won: use theirs */
		return rc == HL_EFULL || rc == 1 ? 1 : rc;
	}
	hl_sctr_add(a, HL_SCTR_RECORDS, 1);
	hl_sctr_add(a, HL_SCTR_RECORD_BYTES, hl_heap_class_bytes(a, (unsigned)cls));
	*rec = off;
	return 0;
}

int hl_mcts_publish_replayed(hl_arena *a, uint64_t salt, hl_id pos,
			     const hl_mcts_move *moves, unsigned n,
			     uint32_t result)
{
	const struct hl_region *heap = hl_region(a, HL_REGION_HEAP);
	hl_mcts s = {.a = a, .salt = salt, .heap_lo = heap->off,
		     .heap_hi = heap->off + heap->bytes};
	uint64_t rec;
	int rc = publish_record(&s, pos, 0, moves, n, result, &rec);
	if (rc == 1)
		hl_sctr_add(a, HL_SCTR_NO_ROOM, 1);
	return rc == 1 ? HL_EFULL : rc;
}

/* Links the path's last edge to rec (invariant 6): release, pairing with
 * the acquire load of selectors and readers. */
static void link_edge(hl_mcts *s, const hl_mcts_path *p, uint64_t rec)
{
	uint64_t parent = p->rec_[p->depth - 1];
	struct hl_search_edge *e = &rec_edges(s->a, parent)[p->edge_[p->depth - 1]];
	uint64_t w = atomic_load_explicit(&e->link, memory_order_acquire);
	if (link_child(w) != 0)
		return; /* linked already, by another expander */
	if (!hl_gc_keep(s->a, rec))
		return; /* garbage a sweep is removing: never linked (shm/gc.c) */
	if (atomic_compare_exchange_strong_explicit(&e->link, &w,
						    w | rec / HL_HEAP_ALIGN,
						    memory_order_release,
						    memory_order_relaxed))
		hl_dirty_mark_rmw(s->a, hl_off(s->a, e), sizeof *e);
}

static bool move_list_ok(const hl_mcts_move *moves, unsigned n, uint32_t result)
{
	if (result > HL_MCTS_DRAW || n > HL_MCTS_EDGES_MAX || (n && !moves))
		return false;
	if ((result != HL_MCTS_ONGOING) != (n == 0))
		return false; /* moves exactly when the game goes on */
	for (unsigned i = 0; i < n; i++)
		if (moves[i].action > HL_LINK_ACTION_MAX || !(moves[i].prior >= 0))
			return false;
	return true;
}

int hl_mcts_expand(hl_mcts *s, hl_mcts_path *p, hl_id leaf,
		   const hl_mcts_move *moves, unsigned n, uint32_t result)
{
	return hl_mcts_expand_at(s, p, leaf, 0, moves, n, result);
}

static int mcts_expand_at_in(hl_mcts *s, hl_mcts_path *p, hl_id leaf, uint64_t pos_off,
		      const hl_mcts_move *moves, unsigned n, uint32_t result)
{
	if (!s || !p)
		return HL_EINVAL;
	int rc = hl_arena_writable(s->a);
	if (rc)
		return rc;
	if ((p->leaf != HL_MCTS_LEAF_NEW && p->leaf != HL_MCTS_LEAF_ROOT) ||
	    p->leaf_rec_ || hl_id_is_zero(leaf) || !move_list_ok(moves, n, result))
		return HL_EINVAL;
	if (p->leaf == HL_MCTS_LEAF_ROOT && !hl_id_eq(leaf, p->leaf_id))
		return HL_EINVAL; /* the root the path was selected from */
	uint64_t rec;
	rc = publish_record(s, leaf, pos_off, moves, n, result, &rec);
	if (rc)
		return rc;
	p->leaf_rec_ = rec;
	p->leaf_id = leaf;
	if (p->leaf == HL_MCTS_LEAF_NEW)
		link_edge(s, p, rec);
	return 0;
}

static int mcts_expand_found_in(hl_mcts *s, hl_mcts_path *p, hl_id leaf)
{
	int rc = hl_arena_writable(s->a);
	if (rc)
		return rc;
	if (p->leaf != HL_MCTS_LEAF_NEW || p->leaf_rec_ || p->depth == 0 ||
	    p->depth > HL_MCTS_PATH_MAX || hl_id_is_zero(leaf))
		return HL_EINVAL;
	uint64_t rec = hl_mcts_find(s, leaf);
	if (!rec || !hl_gc_keep(s->a, rec))
		return HL_ENOENT; /* none, or garbage a sweep removes */
	p->leaf_rec_ = rec;
	p->leaf_id = leaf;
	link_edge(s, p, rec);
	return 0;
}

int hl_mcts_expand_found(hl_mcts *s, hl_mcts_path *p, hl_id leaf)
{
	if (!s || !p)
		return HL_EINVAL;
	hl_epoch_enter(s->a);
	int rc = mcts_expand_found_in(s, p, leaf);
	hl_epoch_exit(s->a);
	return rc;
}

/* ---- reading --------------------------------------------------------------------- */

static int mcts_node_info_in(hl_mcts *s, hl_id pos, hl_mcts_node *out)
{
	if (!s || !out)
		return HL_EINVAL;
	uint64_t rec = hl_mcts_find(s, pos);
	if (!rec)
		return HL_ENOENT;
	const struct hl_search_payload *p = rec_payload(s->a, rec);
	memset(out, 0, sizeof *out);
	out->id = pos;
	out->visits = hl_mcts_visits(s->a, rec, &out->in_flight);
	out->value = q_load(p);
	out->result = hl_mcts_rec_result(s->a, rec);
	out->terminal = (atomic_load_explicit(&p->flags, memory_order_relaxed) &
			 HL_SREC_TERMINAL) != 0;
	out->edges = rec_count(s->a, rec);
	return 0;
}

static void child_info(hl_mcts *s, uint64_t rec, unsigned i, hl_mcts_child *c)
{
	const struct hl_search_edge *e = &rec_edges(s->a, rec)[i];
	uint64_t st = atomic_load_explicit(&e->stat, memory_order_relaxed);
	uint64_t link = atomic_load_explicit(&e->link, memory_order_acquire);
	uint64_t child = hl_mcts_child_rec(s, link);
	memset(c, 0, sizeof *c);
	c->action = link_action(link);
	c->prior = stat_prior(st);
	c->visits = stat_visits(st);
	c->in_flight = stat_vloss(st);
	c->value = NAN;
	if (!child)
		return;
	const struct hl_search_payload *cp = rec_payload(s->a, child);
	if (own_count(atomic_load_explicit(&cp->own, memory_order_relaxed)))
		c->value = hl_mcts_flip(s, q_load(cp));
	c->result = hl_mcts_flip_result(s, hl_mcts_rec_result(s->a, child));
	c->child = hl_mcts_rec_pos(s->a, child);
}

static int mcts_children_in(hl_mcts *s, hl_id pos, hl_mcts_child *out,
			    unsigned cap, unsigned *n)
{
	if (!s || !n || (cap && !out))
		return HL_EINVAL;
	uint64_t rec = hl_mcts_find(s, pos);
	if (!rec)
		return HL_ENOENT;
	*n = rec_count(s->a, rec);
	for (unsigned i = 0; i < *n && i < cap; i++)
		child_info(s, rec, i, &out[i]);
	return 0;
}

/* Whether candidate c is a better move to play than b. */
static bool better_move(const hl_mcts_child *c, const hl_mcts_child *b)
{
	int rc = c->result == HL_MCTS_WIN ? 2 : c->result == HL_MCTS_LOSS ? 0 : 1;
	int rb = b->result == HL_MCTS_WIN ? 2 : b->result == HL_MCTS_LOSS ? 0 : 1;
	if (rc != rb)
		return rc > rb;
	if (c->visits != b->visits)
		return c->visits > b->visits;
	double vc = isnan(c->value) ? -2 : c->value, vb = isnan(b->value) ? -2 : b->value;
	return vc > vb;
}

static int best_of(hl_mcts *s, uint64_t rec, hl_mcts_child *out)
{
	unsigned n = rec_count(s->a, rec);
	if (n == 0)
		return HL_ENOENT;
	hl_mcts_child c;
	child_info(s, rec, 0, out);
	for (unsigned i = 1; i < n; i++) {
		child_info(s, rec, i, &c);
		if (better_move(&c, out))
			*out = c;
	}
	return 0;
}

static int mcts_best_in(hl_mcts *s, hl_id pos, hl_mcts_child *out)
{
	if (!s || !out)
		return HL_EINVAL;
	uint64_t rec = hl_mcts_find(s, pos);
	return rec ? best_of(s, rec, out) : HL_ENOENT;
}

static int mcts_pv_in(hl_mcts *s, uint32_t *actions, unsigned cap, unsigned *n)
{
	if (!s || !n || (cap && !actions))
		return HL_EINVAL;
	*n = 0;
	uint64_t rec;
	int rc = hl_mcts_root_rec(s, &rec); /* follows a moved root */
	while (!rc && rec && *n < cap) {
		hl_mcts_child c;
		if (best_of(s, rec, &c) || c.visits == 0)
			break;
		actions[(*n)++] = c.action;
		rec = hl_id_is_zero(c.child) ? 0 : hl_mcts_find(s, c.child);
	}
	return rc;
}

uint64_t hl_mcts_playouts(const hl_arena *a)
{
	uint64_t c[HL_SCTR_COUNT];
	hl_slots_sum_search(a, c);
	return c[HL_SCTR_PLAYOUTS];
}

int hl_mcts_stats_get(hl_arena *a, hl_mcts_stats *out)
{
	if (!a || !out)
		return HL_EINVAL;
	uint64_t c[HL_SCTR_COUNT];
	hl_slots_sum_search(a, c);
	memset(out, 0, sizeof *out);
	out->records = c[HL_SCTR_RECORDS];
	out->record_bytes = c[HL_SCTR_RECORD_BYTES];
	out->no_room = c[HL_SCTR_NO_ROOM];
	out->playouts = c[HL_SCTR_PLAYOUTS];
	for (uint32_t i = 0; i < hl_slot_count(a); i++)
		out->in_flight += hl_inflight_held(a, i);
	return 0;
}

int hl_mcts_expand_at(hl_mcts *s, hl_mcts_path *p, hl_id leaf, uint64_t pos_off,
		      const hl_mcts_move *moves, unsigned n, uint32_t result)
{
	if (!s)
		return HL_EINVAL;
	hl_epoch_enter(s->a);
	int rc = mcts_expand_at_in(s, p, leaf, pos_off, moves, n, result);
	hl_epoch_exit(s->a);
	/* no room for the record: collect and try again, as a commit does
	 * (commit.c), outside the section the collection would wait for. The
	 * path's records are in its in-flight table and the leaf is a
	 * committed position its committer's state holds: the collection
	 * keeps both, so the path is as good after it as before. */
	for (unsigned again = 0; rc == 1 && again < HL_GC_COMMIT_RETRIES &&
			     hl_gc_for_room(s->a, true, again == 0); again++) {
		hl_epoch_enter(s->a);
		rc = mcts_expand_at_in(s, p, leaf, pos_off, moves, n, result);
		hl_epoch_exit(s->a);
	}
	if (rc == 1)
		hl_sctr_add(s->a, HL_SCTR_NO_ROOM, 1);
	return rc;
}

int hl_mcts_node_info(hl_mcts *s, hl_id pos, hl_mcts_node *out)
{
	if (!s)
		return HL_EINVAL;
	hl_epoch_enter(s->a);
	int rc = mcts_node_info_in(s, pos, out);
	hl_epoch_exit(s->a);
	return rc;
}

int hl_mcts_best(hl_mcts *s, hl_id pos, hl_mcts_child *out)
{
	if (!s)
		return HL_EINVAL;
	hl_epoch_enter(s->a);
	int rc = mcts_best_in(s, pos, out);
	hl_epoch_exit(s->a);
	return rc;
}

int hl_mcts_pv(hl_mcts *s, uint32_t *actions, unsigned cap, unsigned *n)
{
	if (!s)
		return HL_EINVAL;
	hl_epoch_enter(s->a);
	int rc = mcts_pv_in(s, actions, cap, n);
	hl_epoch_exit(s->a);
	return rc;
}

int hl_mcts_children(hl_mcts *s, hl_id pos, hl_mcts_child *out, unsigned cap,
		     unsigned *n)
{
	if (!s)
		return HL_EINVAL;
	hl_epoch_enter(s->a);
	int rc = mcts_children_in(s, pos, out, cap, n);
	hl_epoch_exit(s->a);
	return rc;
}
