/*
 * nodecheck.c - the node checker: every node the index names is well formed
 * and is what its hash says it is.
 *
 * What it proves, per node (pairing the checks commit makes on write):
 *  1. The header fits its kind (hl_node_fault, the one table of node rules
 *     in shm.h): a leaf holds exactly chunk_bytes at level 0; an inner node
 *     1..16 children at level 1..HL_LEVELS_MAX-1; a root one top child and
 *     the state's size.
 *  2. Its hash recomputes from its bytes with its kind's seed.
 *  3. Every child it names is there: offset 0 only for a full all-zero
 *     subtree, otherwise a node inside the heap, one level down; a root's
 *     child carries the hash the root records, an inner node's children
 *     the hashes its own hash was computed from.
 *  4. A search record's key is its position's id salted with its search's,
 *     its position is a snapshot and its edges link records of its search.
 * Cost: O(index capacity + bytes stored): it rehashes every leaf.
 */
#include "shm.h"

/* A child offset of the node at poff: 0 (a full zero subtree) or a well
 * formed node one level down. */
static int check_child_node(const hl_arena *a, uint64_t poff,
			    unsigned child_level, uint64_t off, char *msg,
			    size_t len)
{
	if (off == 0)
		return 0;
	enum hl_node_fault f = hl_node_fault(a, off, hl_node_kind_at(child_level),
					     child_level);
	if (f != HL_NODE_OK)
		return hl_check_fail(msg, len, "node @%llu: child @%llu: %s",
				     (unsigned long long)poff,
				     (unsigned long long)off, hl_node_fault_str(f));
	return 0;
}

/* The hash of a checked child: its header's, or the zero subtree's. */
static hl_id child_hash(const hl_arena *a, unsigned child_level, uint64_t off)
{
	return off ? hl_node_at(a, off)->hash : a->zero_hash[child_level];
}

/* An inner node's hash covers its children's hashes, read from their
 * headers (zero subtrees: the zero hash of their level). */
static int check_inner(const hl_arena *a, const struct hl_node *n, char *msg,
		       size_t len)
{
	const uint64_t *offs = (const uint64_t *)n->payload;
	unsigned child = n->level - 1u;
	hl_id hashes[HL_FANOUT];
	for (unsigned i = 0; i < n->count; i++) {
		int rc = check_child_node(a, hl_off(a, n), child, offs[i], msg, len);
		if (rc)
			return rc;
		hashes[i] = child_hash(a, child, offs[i]);
	}
	if (!hl_id_eq(hl_hash_inner(n->level, hashes, n->count), n->hash))
		return hl_check_fail(msg, len, "inner node @%llu: hash mismatch",
				     (unsigned long long)hl_off(a, n));
	return 0;
}

static int check_root(const hl_arena *a, const struct hl_node *n, char *msg,
		      size_t len)
{
	const struct hl_root_payload *r = (const void *)n->payload;
	if (!hl_id_eq(hl_hash_root(n->aux, n->level, r->top_hash), n->hash))
		return hl_check_fail(msg, len, "root @%llu: hash mismatch",
				     (unsigned long long)hl_off(a, n));
	int rc = check_child_node(a, hl_off(a, n), n->level, r->top_off, msg, len);
	if (rc)
		return rc;
	if (!hl_id_eq(child_hash(a, n->level, r->top_off), r->top_hash))
		return hl_check_fail(msg, len, "root @%llu: its top node has another hash",
				     (unsigned long long)hl_off(a, n));
	return 0;
}

/* An edge's seen word (layout.h): 0, or a q code of 1..16383. */
static bool seen_ok(uint16_t seen)
{
	return seen == 0 || (seen & HL_SEEN_Q_MASK) != 0;
}

/* A search record's key is its position's id salted with its search's, and
 * its edges link only to records of the same search. Its statistics move
 * under a running search; their ranges are checked, not their values. */
static int check_search(const hl_arena *a, const struct hl_node *n, char *msg,
			size_t len)
{
	const struct hl_search_payload *p = (const void *)n->payload;
	const struct hl_search_edge *e = hl_srec_edges(n);
	uint64_t off = hl_off(a, n);
	const struct hl_node *pos =
		hl_node_get(a, p->pos_off, HL_NODE_ROOT, HL_NODE_LEVEL_ANY);
	if (!pos)
		return hl_check_fail(msg, len, "search record @%llu: position @%llu "
				     "is not a snapshot", (unsigned long long)off,
				     (unsigned long long)p->pos_off);
	if (!hl_id_eq(hl_hash_search(pos->hash, n->aux), n->hash))
		return hl_check_fail(msg, len, "search record @%llu: key mismatch",
				     (unsigned long long)off);
	for (unsigned i = 0; i < n->count; i++) {
		uint64_t link = atomic_load_explicit(&e[i].link, memory_order_acquire);
		uint64_t child = (link & HL_LINK_CHILD_MASK) * HL_HEAP_ALIGN;
		uint16_t seen = atomic_load_explicit(&hl_srec_seen(n)[i],
						     memory_order_relaxed);
		const struct hl_node *c;
		if (!seen_ok(seen))
			return hl_check_fail(msg, len, "search record @%llu: edge %u's "
					     "seen word %#x is no value",
					     (unsigned long long)off, i, (unsigned)seen);
		if (child == 0)
			continue;
		c = hl_node_get(a, child, HL_NODE_SEARCH, 0);
		if (!c || c->aux != n->aux)
			return hl_check_fail(msg, len, "search record @%llu: edge %u "
					     "links @%llu, not a record of its search",
					     (unsigned long long)off, i,
					     (unsigned long long)child);
	}
	return 0;
}

static int check_node(const hl_arena *a, uint64_t off, char *msg, size_t len)
{
	enum hl_node_fault f = hl_node_fault(a, off, HL_NODE_KIND_ANY,
					     HL_NODE_LEVEL_ANY);
	if (f != HL_NODE_OK)
		return hl_check_fail(msg, len, "node @%llu: %s",
				     (unsigned long long)off, hl_node_fault_str(f));
	const struct hl_node *n = hl_node_at(a, off);
	switch (n->kind) {
	case HL_NODE_LEAF:
		if (!hl_id_eq(hl_hash_leaf(n->payload, a->chunk_bytes), n->hash))
			return hl_check_fail(msg, len, "leaf @%llu: hash mismatch",
					     (unsigned long long)off);
		return 0;
	case HL_NODE_INNER:
		return check_inner(a, n, msg, len);
	case HL_NODE_ROOT:
		return check_root(a, n, msg, len);
	case HL_NODE_SEARCH:
		return check_search(a, n, msg, len);
	default:
		return hl_check_fail(msg, len, "node @%llu: unknown kind %u",
				     (unsigned long long)off, n->kind);
	}
}

int hl_nodes_check(const hl_arena *a, char *msg, size_t msg_len)
{
	const struct hl_bucket *b = hl_at(a, a->hdr->regions[HL_REGION_INDEX].off);
	for (uint64_t i = 0; i < a->hdr->index_buckets; i++) {
		for (unsigned e = 0; e < HL_BUCKET_ENTRIES; e++) {
			uint64_t w = atomic_load_explicit(&b[i].entry[e],
							  memory_order_acquire);
			if (w == HL_ENTRY_EMPTY || HL_ENTRY_IS_TOMB(w))
				continue;
			int rc = check_node(a, (w & HL_ENTRY_OFF_MASK) * HL_HEAP_ALIGN,
					    msg, msg_len);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int hl_node_check(const hl_arena *a, uint64_t off, char *msg, size_t msg_len)
{
	return check_node(a, off, msg, msg_len);
}
