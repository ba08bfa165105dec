/*
 * tree.c - reading snapshot trees: from an id to its root, from a node to
 * its children, from a chunk index to its leaf.
 *
 * Every offset read out of shared memory goes through the validated node
 * accessor (hl_node_get, shm.h) before it is followed: inside the heap, of
 * the expected kind and level, with exactly the payload that kind carries.
 * A corrupt arena yields HL_ECORRUPT / NULL here, never a stray read.
 *
 * Invariants:
 *  1. Each node a walk uses is validated once, where the walk enters it:
 *     a root by hl_tree_load, an inner node by hl_tree_children (once for
 *     all its children, not once per child: diff and commit ask for all
 *     16 of a node's children, and re-validating the parent for each was
 *     a fifth of a W2 diff's instructions), a leaf by hl_leaf_bytes.
 *  2. A child offset handed out is bounds-checked only (a node header
 *     inside the heap, so hl_nref_hash may read its hash); its header is
 *     not read until the child itself is used (diff compares children by
 *     offset, and reading each child's header cost a W2 diff 30 cold
 *     misses), and then invariant 1 validates it.
 *  3. Nodes are immutable once published (node.c invariant 2), so a node
 *     validated once stays valid for the rest of the walk.
 *
 * The checks are a few compares per node, against a tree at most
 * HL_LEVELS_MAX deep.
 */
#include "workers.h"

int hl_tree_load(const hl_arena *a, hl_id id, struct hl_tree *t,
		 uint64_t *root_off)
{
	*t = (struct hl_tree){0};
	if (root_off)
		*root_off = 0;
	if (hl_id_is_zero(id))
		return 0;
	uint64_t off;
	int rc = hl_index_lookup(a, id, &off);
	if (rc)
		return rc;
	const struct hl_node *n =
		hl_node_get(a, off, HL_NODE_KIND_ANY, HL_NODE_LEVEL_ANY);
	if (!n)
		return HL_ECORRUPT;
	if (n->kind != HL_NODE_ROOT)
		return HL_ENOENT; /* a leaf's or inner node's hash: no snapshot */
	const struct hl_root_payload *r = (const void *)n->payload;
	if (n->level != hl_height_of(hl_chunks_of(a, n->aux)))
		return HL_ECORRUPT;
	t->size = n->aux;
	t->chunks = hl_chunks_of(a, n->aux);
	t->height = n->level;
	t->top_hash = r->top_hash;
	t->top_off = r->top_off;
	t->root_off = off;
	if (root_off)
		*root_off = off;
	return 0;
}

static struct hl_nref zero_ref(const hl_arena *a, unsigned level)
{
	return (struct hl_nref){true, a->zero_hash[level], 0};
}

/* Child j of validated inner node n (invariant 2: bounds only). */
static struct hl_nref child_of(const hl_arena *a, const struct hl_node *n,
			       unsigned level, unsigned j, bool *bad)
{
	if (j >= n->count)
		return (struct hl_nref){0};
	uint64_t off = ((const uint64_t *)n->payload)[j];
	if (off == 0)
		return zero_ref(a, level - 1);
	if (!hl_heap_contains(a, off, sizeof(struct hl_node))) {
		*bad = true;
		return (struct hl_nref){0};
	}
	return (struct hl_nref){true, {0, 0}, off}; /* hash: hl_nref_hash */
}

/* Child j of a reference with no node behind it: above the top (only the
 * left edge leads down to it) or inside a full zero subtree. */
static struct hl_nref child_nodeless(const hl_arena *a, const struct hl_tree *t,
				     struct hl_nref p, unsigned level,
				     uint64_t i, unsigned j)
{
	if (p.present)
		return zero_ref(a, level - 1);
	if (t->chunks && i == 0 && j == 0 && level - 1 == t->height)
		return (struct hl_nref){true, t->top_hash, t->top_off};
	return (struct hl_nref){0};
}

struct hl_nref hl_tree_child(const hl_arena *a, const struct hl_tree *t,
			     struct hl_nref p, unsigned level, uint64_t i,
			     unsigned j, bool *bad)
{
	if (!p.present || p.off == 0)
		return child_nodeless(a, t, p, level, i, j);
	const struct hl_node *n = hl_node_get(a, p.off, HL_NODE_INNER, level);
	if (!n) {
		*bad = true;
		return (struct hl_nref){0};
	}
	return child_of(a, n, level, j, bad);
}

int hl_tree_children(const hl_arena *a, const struct hl_tree *t,
		     struct hl_nref p, unsigned level, uint64_t i,
		     unsigned count, struct hl_nref *out)
{
	if (!p.present || p.off == 0) {
		for (unsigned j = 0; j < count; j++)
			out[j] = child_nodeless(a, t, p, level, i, j);
		return 0;
	}
	/* invariant 1: the parent once, for all of its children */
	const struct hl_node *n = hl_node_get(a, p.off, HL_NODE_INNER, level);
	if (!n)
		return HL_ECORRUPT;
	bool bad = false;
	for (unsigned j = 0; j < count; j++)
		out[j] = child_of(a, n, level, j, &bad);
	return bad ? HL_ECORRUPT : 0;
}

hl_id hl_nref_hash(const hl_arena *a, struct hl_nref r, unsigned level)
{
	if (r.off == 0)
		return a->zero_hash[level];
	return hl_node_at(a, r.off)->hash; /* validated when it was reached */
}

struct hl_nref hl_tree_at_level(const hl_arena *a, const struct hl_tree *t,
				unsigned level)
{
	struct hl_nref r = {0};
	if (t->chunks == 0 || level > t->height)
		return r;
	r = (struct hl_nref){true, t->top_hash, t->top_off};
	bool bad = false;
	for (unsigned l = t->height; l > level && r.present; l--)
		r = hl_tree_child(a, t, r, l, 0, 0, &bad);
	return r;
}

const unsigned char *hl_leaf_bytes(const hl_arena *a, struct hl_nref r)
{
	if (r.off == 0)
		return a->zero_chunk;
	const struct hl_node *n = hl_node_get(a, r.off, HL_NODE_LEAF, 0);
	return n ? n->payload : NULL;
}

const unsigned char *hl_tree_leaf(const hl_arena *a, const struct hl_tree *t,
				  uint64_t k)
{
	uint64_t off = t->top_off;
	for (unsigned level = t->height; level > 0; level--) {
		if (off == 0)
			return a->zero_chunk; /* inside a full zero subtree */
		const struct hl_node *n = hl_node_get(a, off, HL_NODE_INNER, level);
		unsigned j = (unsigned)(k >> (HL_FANOUT_SHIFT * (level - 1))) &
			     (HL_FANOUT - 1);
		if (!n || j >= n->count)
			return NULL;
		off = ((const uint64_t *)n->payload)[j];
	}
	return hl_leaf_bytes(a, (struct hl_nref){true, {0, 0}, off});
}
