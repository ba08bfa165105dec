/*
 * nodecheck.c - the node checker: every node the index names is well formed
 * and is what its hash says it is.
 *
 * What it proves, per node (pairing the checks commit makes on write):
 *  1. The header fits its kind: a leaf holds exactly chunk_bytes at level 0;
 *     an inner node 1..16 children at level 1..HL_LEVELS_MAX-1; a root one
 *     top child and the state's size.
 *  2. Its hash recomputes from its bytes with its kind's seed.
 *  3. Every child it names is there: offset 0 only for a full all-zero
 *     subtree, otherwise a node inside the heap, one level down; a root's
 *     child carries the hash the root records, an inner node's children
 *     the hashes its own hash was computed from.
 * Cost: O(index capacity + bytes stored): it rehashes every leaf.
 */
#include "shm.h"

static int check_child(const hl_arena *a, const struct hl_node *parent,
		       unsigned child_level, hl_id want, uint64_t off, char *msg,
		       size_t len)
{
	uint64_t poff = hl_off(a, parent);
	if (off == 0) {
		if (child_level >= HL_LEVELS_MAX ||
		    !hl_id_eq(want, a->zero_hash[child_level]))
			return hl_check_fail(msg, len,
					     "node @%llu: child offset 0 but hash is not a zero subtree",
					     (unsigned long long)poff);
		return 0;
	}
	if (!hl_heap_contains(a, off, sizeof(struct hl_node)))
		return hl_check_fail(msg, len, "node @%llu: child @%llu outside the heap",
				     (unsigned long long)poff, (unsigned long long)off);
	const struct hl_node *c = hl_node_at(a, off);
	if (!hl_id_eq(c->hash, want) || c->level != child_level)
		return hl_check_fail(msg, len,
				     "node @%llu: child @%llu has another hash or level",
				     (unsigned long long)poff, (unsigned long long)off);
	return 0;
}

/* An inner node's hash covers its children's hashes, read from their
 * headers (zero subtrees: the zero hash of their level). */
static int check_inner(const hl_arena *a, const struct hl_node *n, char *msg,
		       size_t len)
{
	if (n->count < 1 || n->count > HL_FANOUT || n->level < 1 ||
	    n->level >= HL_LEVELS_MAX ||
	    n->payload_bytes != hl_inner_payload_bytes(n->count))
		return hl_check_fail(msg, len, "inner node @%llu: bad header",
				     (unsigned long long)hl_off(a, n));
	const uint64_t *offs = (const uint64_t *)n->payload;
	hl_id hashes[HL_FANOUT];
	for (unsigned i = 0; i < n->count; i++) {
		unsigned child = n->level - 1u;
		if (offs[i] && !hl_heap_contains(a, offs[i], sizeof(struct hl_node)))
			return hl_check_fail(msg, len, "node @%llu: child @%llu outside the heap",
					     (unsigned long long)hl_off(a, n),
					     (unsigned long long)offs[i]);
		hashes[i] = offs[i] ? hl_node_at(a, offs[i])->hash : a->zero_hash[child];
		int rc = check_child(a, n, child, hashes[i], offs[i], msg, len);
		if (rc)
			return rc;
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
	if (n->count != 1 || n->level >= HL_LEVELS_MAX ||
	    n->payload_bytes != sizeof *r || n->aux == 0 ||
	    n->aux > HL_STATE_BYTES_MAX)
		return hl_check_fail(msg, len, "root @%llu: bad header",
				     (unsigned long long)hl_off(a, n));
	if (!hl_id_eq(hl_hash_root(n->aux, n->level, r->top_hash), n->hash))
		return hl_check_fail(msg, len, "root @%llu: hash mismatch",
				     (unsigned long long)hl_off(a, n));
	return check_child(a, n, n->level, r->top_hash, r->top_off, msg, len);
}

static int check_node(const hl_arena *a, uint64_t off, char *msg, size_t len)
{
	if (!hl_heap_contains(a, off, sizeof(struct hl_node)))
		return hl_check_fail(msg, len, "node @%llu outside the heap",
				     (unsigned long long)off);
	const struct hl_node *n = hl_node_at(a, off);
	if (!hl_heap_contains(a, off, sizeof *n + (uint64_t)n->payload_bytes))
		return hl_check_fail(msg, len, "node @%llu: payload past the heap",
				     (unsigned long long)off);
	switch (n->kind) {
	case HL_NODE_LEAF:
		if (n->level != 0 || n->payload_bytes != a->chunk_bytes)
			return hl_check_fail(msg, len, "leaf @%llu: bad header",
					     (unsigned long long)off);
		if (!hl_id_eq(hl_hash_leaf(n->payload, a->chunk_bytes), n->hash))
			return hl_check_fail(msg, len, "leaf @%llu: hash mismatch",
					     (unsigned long long)off);
		return 0;
	case HL_NODE_INNER:
		return check_inner(a, n, msg, len);
	case HL_NODE_ROOT:
		return check_root(a, n, msg, len);
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
			if (w == HL_ENTRY_EMPTY || w == HL_ENTRY_TOMBSTONE)
				continue;
			int rc = check_node(a, (w & HL_ENTRY_OFF_MASK) * HL_HEAP_ALIGN,
					    msg, msg_len);
			if (rc)
				return rc;
		}
	}
	return 0;
}
