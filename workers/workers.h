/*
 * workers.h - internals of working states: the private state struct, the
 * private allocator, and the tree geometry and walking helpers that commit,
 * read, restore and diff share.
 *
 * Tree geometry
 * -------------
 * A state of S bytes has n = ceil(S / chunk_bytes) chunks. Node (L, i) -
 * level L, index i - covers chunks [i * 16^L, (i+1) * 16^L) clipped to n;
 * level 0 nodes are leaves. The height H is the smallest H with 16^H >= n,
 * and the tree's top is node (H, 0) (a leaf when n == 1). A node's range
 * depends only on (L, i) and n, never on H, so two trees of different
 * heights share every node below the smaller height.
 *
 * A *full* node covers all 16^L chunks. A full subtree whose bytes are all
 * zero is never stored: its parent records offset 0 and its hash is
 * hl_arena.zero_hash[L]. Partial nodes (at the end of a state) are always
 * stored, so offset 0 is unambiguous.
 */
#ifndef HL_WORKERS_WORKERS_H
#define HL_WORKERS_WORKERS_H

#include <stdbool.h>
#include <stdlib.h>

#include "shm.h"

#ifdef HL_PRIVATE_ALLOC_JEMALLOC
#include <limits.h> /* jemalloc.h uses INT_MAX */
#include <jemalloc/jemalloc.h>
#endif

/* ---- process-private memory ------------------------------------------------
 * jemalloc's sized, aligned API (mallocx/sdallocx): chunk buffers are
 * cache-line aligned for hashing and copying, and sized frees skip the size
 * look-up. The libc build (-Dprivate_alloc=libc) exists so AddressSanitizer
 * sees every private allocation. */
static inline void *hl_priv_alloc(size_t bytes)
{
#ifdef HL_PRIVATE_ALLOC_JEMALLOC
	return mallocx(bytes, MALLOCX_ALIGN(64));
#else
	void *p; /* exact size, so AddressSanitizer sees any overrun */
	return posix_memalign(&p, 64, bytes) ? NULL : p;
#endif
}

static inline void hl_priv_free(void *p, size_t bytes)
{
	if (!p)
		return;
#ifdef HL_PRIVATE_ALLOC_JEMALLOC
	sdallocx(p, bytes, MALLOCX_ALIGN(64));
#else
	(void)bytes;
	free(p);
#endif
}

/* ---- trees ---------------------------------------------------------------- */

/* A snapshot's tree, as read from its root. */
struct hl_tree {
	uint64_t size;     /* state bytes */
	uint64_t chunks;   /* ceil(size / chunk_bytes) */
	unsigned height;
	hl_id top_hash;
	uint64_t top_off;  /* 0: full zero subtree */
	uint64_t root_off; /* the root node; 0 for the empty state */
};

/* A reference to node (L, i) of some tree: absent (outside the tree, or a
 * level above its top), or present with its offset (0: a full zero
 * subtree). Within one arena the offset names the content (one node per
 * content), so comparing offsets compares subtrees. `hash` is filled only
 * where it costs no memory access (zero subtrees, a tree's top, nodes commit
 * just built); hl_nref_hash reads it otherwise. */
struct hl_nref {
	bool present;
	hl_id hash;
	uint64_t off;
};

static inline uint64_t hl_chunks_of(const hl_arena *a, uint64_t size)
{
	return (size + a->chunk_bytes - 1) >> a->chunk_shift;
}

static inline unsigned hl_height_of(uint64_t chunks)
{
	unsigned h = 0;
	while (h < HL_LEVELS_MAX && (1ull << (HL_FANOUT_SHIFT * h)) < chunks)
		h++;
	return h;
}

/* First chunk of node (L, i), and the end of its full range. */
static inline uint64_t hl_node_lo(unsigned level, uint64_t i)
{
	return i << (HL_FANOUT_SHIFT * level);
}

static inline uint64_t hl_node_hi_full(unsigned level, uint64_t i)
{
	return (i + 1) << (HL_FANOUT_SHIFT * level);
}

/* Starts loading node r's first `bytes` into the cache (no fault, no
 * stall): diff issues the loads of both trees' nodes before waiting on
 * either, so their cache misses overlap instead of queuing. */
static inline void hl_nref_prefetch(const hl_arena *a, struct hl_nref r,
				    uint32_t bytes)
{
	/* an offset not yet checked (a root's top_off): never form a pointer
	 * outside the mapping, even one only prefetched */
	if (!r.present || r.off == 0 || r.off >= a->bytes ||
	    bytes > a->bytes - r.off)
		return;
	const char *p = hl_at(a, r.off);
	for (uint32_t at = 0; at < bytes; at += HL_CACHE_LINE)
		__builtin_prefetch(p + at);
}

/* True when a loaded tree's root fields (size, height, top hash) hash to
 * its id: one XXH3 of 28 bytes, no memory access, so restore and diff
 * never take a damaged root's size or height for the snapshot's. */
static inline bool hl_tree_root_ok(hl_id id, const struct hl_tree *t)
{
	return hl_id_is_zero(id) ||
	       hl_id_eq(hl_hash_root(t->size, t->height, t->top_hash), id);
}

/* Loads the tree of snapshot id (zero: the empty tree). HL_ENOENT when the
 * id is not a snapshot of this arena, HL_ECORRUPT for a malformed root. */
int hl_tree_load(const hl_arena *a, hl_id id, struct hl_tree *t,
		 uint64_t *root_off);
/* Node (level, 0) of tree t: the top itself, a node below it on the left
 * edge, or absent for levels above the top. */
struct hl_nref hl_tree_at_level(const hl_arena *a, const struct hl_tree *t,
				unsigned level);
/* Child j of node (level, i) given that node's reference p. Handles zero
 * subtrees and the absent levels above a tree's top (whose child 0 leads
 * down to the top). Returns absent when j is past the node's children or an
 * offset in shared memory fails validation (*bad is then set). */
struct hl_nref hl_tree_child(const hl_arena *a, const struct hl_tree *t,
			     struct hl_nref p, unsigned level, uint64_t i,
			     unsigned j, bool *bad);
/* Children [0, count) of node (level, i) given its reference p, into out
 * (count <= HL_FANOUT): hl_tree_child for each j, with the parent
 * validated once for all of them (tree.c invariant 1). 0, or HL_ECORRUPT
 * when the parent or a child offset fails validation. */
int hl_tree_children(const hl_arena *a, const struct hl_tree *t,
		     struct hl_nref p, unsigned level, uint64_t i,
		     unsigned count, struct hl_nref *out);
/* The hash of present reference r at `level`: the zero hash for offset 0,
 * else its node's header (one cache line). */
hl_id hl_nref_hash(const hl_arena *a, struct hl_nref r, unsigned level);
/* The bytes of leaf reference r (zero chunk for offset 0), or NULL if its
 * offset fails validation. */
const unsigned char *hl_leaf_bytes(const hl_arena *a, struct hl_nref r);
/* Walks tree t from the top to chunk k's leaf: its bytes or NULL (corrupt). */
const unsigned char *hl_tree_leaf(const hl_arena *a, const struct hl_tree *t,
				  uint64_t k);

/* ---- working states ------------------------------------------------------- */

struct hl_dirty {
	uint64_t chunk;
	unsigned char *buf; /* chunk_bytes, private; zero past the state's size */
};

struct hl_state {
	hl_arena *a;
	uint64_t size;
	/* Bytes [0, valid_bytes) of a clean chunk come from the base; clean
	 * bytes past it read as zero. valid_bytes <= base.size, and the chunk
	 * holding valid_bytes, when partial and not the base's own last
	 * chunk, is dirty (resize makes it so). */
	uint64_t valid_bytes;
	hl_id base_id;
	struct hl_tree base;
	/* dirty chunks: array + open-addressing table of (array index + 1) */
	struct hl_dirty *dirty;
	uint32_t dirty_count, dirty_cap;
	uint32_t *table;
	uint32_t table_mask;
	/* commit's scratch: the dirty entries in chunk order, dirty_cap long */
	const struct hl_dirty **sorted;
	/* chunk buffers kept for reuse after commit/restore */
	unsigned char **spare;
	uint32_t spare_count;
	/* the last base leaf read: sequential reads walk the tree once */
	uint64_t cached_chunk;
	const unsigned char *cached_leaf;
};

#define HL_SPARE_BUFFERS_MAX 64u

static inline uint64_t hl_valid_chunks(const hl_state *s)
{
	return hl_chunks_of(s->a, s->valid_bytes);
}

/* The dirty buffer of chunk k, or NULL (state.c). */
unsigned char *hl_dirty_find(const hl_state *s, uint64_t k);
/* Drops every dirty chunk (buffers kept as spares) and rebases the state on
 * tree t named id (state.c). */
int hl_state_rebase(hl_state *s, hl_id id, const struct hl_tree *t);

/* The root node of the state's base snapshot (after a commit or a
 * restore), 0 for the empty state: internal callers that publish more
 * about the snapshot (search records) skip an index look-up with it. */
static inline uint64_t hl_state_root_off(const hl_state *s)
{
	return s->base.root_off;
}
/* ---- refs (refs.c) -------------------------------------------------------- */

/* The value word of ref `name` (the offset of its snapshot's root node, 0
 * for the zero id), for a process that watches a ref with one acquire load
 * (pairs with the release store or acq_rel CAS that set it): NULL when the
 * name was never set. The word stays where it is (names are never
 * removed), so the pointer lives as long as the arena handle. */
const _Atomic uint64_t *hl_ref_word(hl_arena *a, const char *name);

/* ---- replaying persist records (replay.c) ------------------------------- */

struct hl_prec_node;
struct hl_prec_ref;
/* commit.c's publish of one node, for replay: the image as stored (inner:
 * child offsets), found-and-verified or allocated and inserted. */
/* The id a state of size bytes, buf, commits to when it fits one chunk of
 * at most HL_ONE_CHUNK_ID_MAX bytes: hashing only, nothing looked up or
 * published (a caller that may find the snapshot's record without
 * committing it). HL_EINVAL when size is 0 or past that chunk. */
#define HL_ONE_CHUNK_ID_MAX 4096u
int hl_one_chunk_id(const hl_arena *a, const void *buf, size_t size, hl_id *out);
int hl_commit_publish_replayed(hl_arena *a, hl_id h, unsigned kind,
			       unsigned level, unsigned count, uint64_t aux,
			       const void *ident, uint32_t ident_bytes,
			       const void *offs, uint32_t offs_bytes,
			       uint64_t *off);
/* Applies one persist record to arena ctx (hl_persist_apply_fn). 0 or
 * HL_ECORRUPT (a record that fails its checks), or a publish error. */
int hl_replay_record(void *ctx, const void *rec, uint32_t len);
/* A record's shape and recomputed hash, without an arena. */
int hl_replay_check_node(const struct hl_prec_node *n, uint32_t len,
			 uint32_t chunk_bytes);
int hl_replay_check_ref(const struct hl_prec_ref *r, uint32_t len);

/* The root naming id looked up to be held (a pin, a restore, a ref),
 * inside an epoch section: kept from the collector, or HL_ENOENT when a
 * sweep is removing it (pins.c, shm/gc.c). */
int hl_gc_find_root(hl_arena *a, hl_id id, struct hl_tree *t);

#endif /* HL_WORKERS_WORKERS_H */
