/*
 * persist_rec.h - the records commits hand the persister (through the
 * persist ring) and that the WAL stores: the same bytes in both places.
 *
 * Records are logical, keyed by content: a node is logged by its hash and
 * the bytes that identify it (a leaf's chunk, an inner node's children's
 * HASHES, a root's top hash), never by arena offsets. So replay rebuilds
 * every node through the ordinary publish path of any arena of the same
 * chunk size, recomputes and checks every hash, and is idempotent: a
 * record replayed twice, or one for a node already in a page image, is a
 * dedup hit.
 * One record type lives in the ring only: HL_PREC_LEAF_REF names a leaf
 * by its arena offset, and the persister writes the HL_PREC_NODE it
 * stands for (persist_ring.c invariant 5), so the WAL holds no offsets.
 *
 * Every record starts with (little-endian, 8-byte aligned fields):
 *
 *   0   type u16      HL_PREC_*
 *   2   slot u16      the producer's process slot
 *   4   reserved u32  zero
 *   8   seq u64       the producer slot's sequence (persist region)
 *
 * HL_PREC_NODE (a node about to be published):
 *   16  hash          16 B  the node's content address
 *   32  kind u8  33 level u8  34 count u16
 *   36  ident_bytes u32      bytes that follow
 *   40  aux u64              a root's state size
 *   48  ident                leaf: chunk_bytes of data; inner: count
 *                            child hashes (16 B each; the zero subtree's
 *                            hash for an all-zero child); root: the top
 *                            hash
 *
 * HL_PREC_REF (a ref set to a snapshot):
 *   16  id            16 B  the root id (all zero: the empty state)
 *   32  name_len u32  36 reserved u32
 *   40  name          name_len bytes, no NUL
 *
 * HL_PREC_SEARCH (a search record about to be published, workers/mcts.c):
 *   16  pos           16 B  the position's snapshot id
 *   32  salt u64             the search's (hl_hash64 of its name)
 *   40  count u16  42 reserved u16  44 result u32 (HL_MCTS_*)
 *   48  edge[count], 24 B each: child id (16 B; zero: not committed yet),
 *       action u32, prior u16 (HL_EDGE_PRIOR_ONE = 1.0), reserved u16
 *
 * Order: a commit pushes a node's record before the index CAS that
 * publishes it, so any process that finds the node (and builds on it, or
 * names it in a ref) pushes its own records after it: ring order, and so
 * WAL order, puts every node after its children and every ref after its
 * root.
 */
#ifndef HL_SHM_PERSIST_REC_H
#define HL_SHM_PERSIST_REC_H

#include <stddef.h>
#include <stdint.h>

#include "helios.h"

enum hl_prec_type {
	HL_PREC_NODE = 1,
	HL_PREC_REF = 2,
	HL_PREC_MARK = 3, /* the header alone: a sync commit that found its
			   * root already published waits for this record,
			   * which the ring puts after the root's own */
	HL_PREC_SEARCH = 4, /* a search record's creation (its statistics
			     * are not logged: they start from zero) */
	HL_PREC_LEAF_REF = 5, /* in the ring only, never in the WAL: a leaf
			       * named by its arena offset; the persister
			       * writes it as the HL_PREC_NODE it stands for
			       * (persist_ring.c, hl_persist_expand) */
};

/* The WAL's record type of every persist record (wal.h: >= USER). */
#define HL_WAL_TYPE_PREC 16u

struct hl_prec_hdr {
	uint16_t type;
	uint16_t slot;
	uint32_t reserved;
	uint64_t seq;
};
_Static_assert(sizeof(struct hl_prec_hdr) == 16, "record header layout");

struct hl_prec_node {
	struct hl_prec_hdr h;
	hl_id hash;
	uint8_t kind;
	uint8_t level;
	uint16_t count;
	uint32_t ident_bytes;
	uint64_t aux;
	/* ident follows */
};
_Static_assert(offsetof(struct hl_prec_node, hash) == 16, "node record layout");
_Static_assert(offsetof(struct hl_prec_node, kind) == 32, "node record layout");
_Static_assert(offsetof(struct hl_prec_node, ident_bytes) == 36, "node record layout");
_Static_assert(offsetof(struct hl_prec_node, aux) == 40, "node record layout");
_Static_assert(sizeof(struct hl_prec_node) == 48, "node record layout");

/* HL_PREC_LEAF_REF (ring only):
 *   16  hash          16 B  the leaf's content address
 *   32  off u64              the leaf node's arena offset (its publisher's
 *                            copy, filled before the push)
 *   40  ident_bytes u32      the chunk size   44 reserved u32
 */
struct hl_prec_leaf_ref {
	struct hl_prec_hdr h;
	hl_id hash;
	uint64_t off;
	uint32_t ident_bytes;
	uint32_t reserved;
};
_Static_assert(offsetof(struct hl_prec_leaf_ref, off) == 32, "leaf ref layout");
_Static_assert(sizeof(struct hl_prec_leaf_ref) == 48, "leaf ref layout");

struct hl_prec_ref {
	struct hl_prec_hdr h;
	hl_id id;
	uint32_t name_len;
	uint32_t reserved;
	/* name follows */
};
_Static_assert(offsetof(struct hl_prec_ref, id) == 16, "ref record layout");
_Static_assert(offsetof(struct hl_prec_ref, name_len) == 32, "ref record layout");
_Static_assert(sizeof(struct hl_prec_ref) == 40, "ref record layout");

struct hl_prec_search {
	struct hl_prec_hdr h;
	hl_id pos;
	uint64_t salt;
	uint16_t count;
	uint16_t reserved;
	uint32_t result;
	/* struct hl_prec_edge edge[count] follows */
};
_Static_assert(offsetof(struct hl_prec_search, pos) == 16, "search record layout");
_Static_assert(offsetof(struct hl_prec_search, salt) == 32, "search record layout");
_Static_assert(offsetof(struct hl_prec_search, count) == 40, "search record layout");
_Static_assert(offsetof(struct hl_prec_search, result) == 44, "search record layout");
_Static_assert(sizeof(struct hl_prec_search) == 48, "search record layout");

struct hl_prec_edge {
	hl_id child;
	uint32_t action;
	uint16_t prior;
	uint16_t reserved;
};
_Static_assert(sizeof(struct hl_prec_edge) == 24, "edge record layout");

#endif /* HL_SHM_PERSIST_REC_H */
