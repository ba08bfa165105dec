/*
 * replay.c - applying persist records (shm/persist_rec.h) to an arena:
 * what recovery does with every valid WAL record, and what `helios check
 * --persist` verifies without an arena.
 *
 * A record names a node by content: replay recomputes its hash from the
 * bytes it carries (a leaf's chunk, an inner node's child hashes, a root's
 * size, height and top hash) and refuses a record whose hash disagrees,
 * resolves child hashes to this arena's offsets through the index, and
 * publishes the node through commit.c's publish (a node already there is
 * verified and shared). A ref record sets the ref.
 *
 * Invariants:
 *  1. Bad bytes never crash and never publish: every length is checked
 *     against the record's, every kind, level and count against the
 *     format's limits, and every hash is recomputed (HL_ECORRUPT).
 *  2. Replay is idempotent: a record applied twice changes nothing the
 *     second time (content addressing), so a WAL replayed over an arena
 *     that already holds part of it is safe.
 *  3. A child missing from the index is HL_ECORRUPT: the WAL's order puts
 *     every child first (persist_rec.h), so a missing one means a damaged
 *     log, never a node to publish with a dangling offset.
 */
#include <string.h>

#include "mcts.h"
#include "persist_rec.h"
#include "workers.h"

/* The offset of the node with hash h at level (0: the zero subtree). */
static int resolve(hl_arena *a, unsigned level, hl_id h, uint64_t *off)
{
	if (level < HL_LEVELS_MAX && hl_id_eq(h, a->zero_hash[level])) {
		*off = 0;
		return 0;
	}
	return hl_index_lookup(a, h, off) == 0 ? 0 : HL_ECORRUPT;
}

/* Checks a node record's shape and hash (invariant 1); a may be NULL
 * only for leaves' zero-hash check, which then is skipped. */
int hl_replay_check_node(const struct hl_prec_node *n, uint32_t len,
			 uint32_t chunk_bytes)
{
	const void *ident = n + 1;
	if (len < sizeof *n || n->ident_bytes != len - sizeof *n)
		return HL_ECORRUPT;
	hl_id h;
	switch (n->kind) {
	case HL_NODE_LEAF:
		if (n->ident_bytes != chunk_bytes || n->level || n->aux)
			return HL_ECORRUPT;
		h = hl_hash_leaf(ident, chunk_bytes);
		break;
	case HL_NODE_INNER:
		if (n->level < 1 || n->level >= HL_LEVELS_MAX || n->count < 1 ||
		    n->count > HL_FANOUT ||
		    n->ident_bytes != n->count * sizeof(hl_id) || n->aux)
			return HL_ECORRUPT;
		h = hl_hash_inner(n->level, ident, n->count);
		break;
	case HL_NODE_ROOT:
		if (n->level >= HL_LEVELS_MAX || n->count != 1 ||
		    n->ident_bytes != sizeof(hl_id))
			return HL_ECORRUPT;
		hl_id top;
		memcpy(&top, ident, sizeof top);
		h = hl_hash_root(n->aux, n->level, top);
		break;
	default:
		return HL_ECORRUPT;
	}
	return hl_id_eq(h, n->hash) ? 0 : HL_ECORRUPT;
}

static int replay_node(hl_arena *a, const struct hl_prec_node *n, uint32_t len)
{
	int rc = hl_replay_check_node(n, len, a->chunk_bytes);
	if (rc)
		return rc;
	uint64_t off;
	const unsigned char *ident = (const unsigned char *)(n + 1);
	if (n->kind == HL_NODE_LEAF)
		return hl_id_eq(n->hash, a->zero_hash[0]) ? 0
			: hl_commit_publish_replayed(a, n->hash, n->kind, 0, 0, 0,
						     ident, n->ident_bytes,
						     NULL, 0, &off);
	if (n->kind == HL_NODE_INNER) {
		if (n->count == HL_FANOUT && hl_id_eq(n->hash, a->zero_hash[n->level]))
			return 0; /* the zero subtree: never stored */
		uint64_t offs[HL_FANOUT];
		for (unsigned j = 0; j < n->count; j++) {
			hl_id c;
			memcpy(&c, ident + j * sizeof c, sizeof c);
			if ((rc = resolve(a, n->level - 1u, c, &offs[j])))
				return rc; /* invariant 3 */
		}
		return hl_commit_publish_replayed(a, n->hash, n->kind, n->level,
						  n->count, 0, offs,
						  hl_inner_payload_bytes(n->count),
						  NULL, 0, &off);
	}
	hl_id top;
	uint64_t top_off;
	memcpy(&top, ident, sizeof top);
	if ((rc = resolve(a, n->level, top, &top_off)))
		return rc;
	return hl_commit_publish_replayed(a, n->hash, n->kind, n->level, 1,
					  n->aux, &top, sizeof top, &top_off,
					  sizeof top_off, &off);
}

int hl_replay_check_ref(const struct hl_prec_ref *r, uint32_t len)
{
	if (len < sizeof *r || r->name_len != len - sizeof *r ||
	    r->name_len == 0 || r->name_len > HL_REF_NAME_MAX)
		return HL_ECORRUPT;
	return memchr(r + 1, 0, r->name_len) ? HL_ECORRUPT : 0;
}

static int replay_ref(hl_arena *a, const struct hl_prec_ref *r, uint32_t len)
{
	int rc = hl_replay_check_ref(r, len);
	if (rc)
		return rc;
	char name[HL_REF_NAME_MAX + 1];
	memcpy(name, r + 1, r->name_len);
	name[r->name_len] = 0;
	rc = hl_ref_set(a, name, r->id);
	return rc == HL_ENOENT ? HL_ECORRUPT : rc; /* invariant 3 */
}

int hl_replay_record(void *ctx, const void *rec, uint32_t len)
{
	hl_arena *a = ctx;
	struct hl_prec_hdr h;
	if (len < sizeof h || ((uintptr_t)rec % 8))
		return HL_ECORRUPT;
	memcpy(&h, rec, sizeof h);
	switch (h.type) {
	case HL_PREC_NODE:
		return replay_node(a, rec, len);
	case HL_PREC_REF:
		return replay_ref(a, rec, len);
	case HL_PREC_MARK:
		return len == sizeof h ? 0 : HL_ECORRUPT;
	case HL_PREC_SEARCH:
		return hl_mcts_replay_record(a, rec, len);
	default:
		return HL_ECORRUPT;
	}
}
