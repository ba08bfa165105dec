/*
 * mcts.h - internals of the shared search graph, shared by mcts.c (handles,
 * records, expansion, reading) and mcts_walk.c (select, backup, proofs).
 * The record and edge words are drawn in shm/layout.h; the design of who
 * writes them, and why that is safe, is at the top of mcts.c.
 */
#ifndef HL_WORKERS_MCTS_H
#define HL_WORKERS_MCTS_H

#include <math.h>
#include <string.h>

#include "workers.h"

struct hl_mcts {
	hl_arena *a;
	hl_mcts_config cfg;
	char name[HL_MCTS_NAME_MAX + 1];
	char ref[HL_REF_NAME_MAX + 1]; /* "mcts/<name>" */
	uint64_t salt;                 /* hl_hash64 of the name */
	hl_id root;                    /* as last followed (mcts_root.c) */
	uint64_t root_off;             /* its root node: the ref's word then */
	const _Atomic uint64_t *root_word; /* the ref's value word */
	uint32_t rows_used;            /* bit r: row r of the arena handle's
					* in-flight table holds a path of this
					* search (rows come from the handle) */
	uint64_t heap_lo, heap_hi;     /* the heap region, read once at open */
};

/* ---- a record's words ---------------------------------------------------- */

static inline struct hl_search_payload *rec_payload(const hl_arena *a,
						    uint64_t rec)
{
	return (struct hl_search_payload *)hl_node_at(a, rec)->payload;
}

static inline struct hl_search_edge *rec_edges(const hl_arena *a, uint64_t rec)
{
	return hl_srec_edges(hl_node_at(a, rec));
}

static inline unsigned rec_count(const hl_arena *a, uint64_t rec)
{
	return hl_node_at(a, rec)->count;
}

/* own: [value f32 : 32 | count : 32] */
static inline uint32_t own_count(uint64_t own)
{
	return (uint32_t)own;
}

static inline float own_value(uint64_t own)
{
	uint32_t bits = (uint32_t)(own >> 32);
	float v;
	memcpy(&v, &bits, sizeof v);
	return v;
}

static inline uint64_t own_word(float value, uint32_t count)
{
	uint32_t bits;
	memcpy(&bits, &value, sizeof bits);
	return (uint64_t)bits << 32 | count;
}

static inline float q_load(const struct hl_search_payload *p)
{
	/* relaxed: a value read alone; it is a running average, so any one
	 * version of it is meaningful by itself (mcts.c, invariant 2) */
	uint32_t bits = atomic_load_explicit(&p->q, memory_order_relaxed);
	float v;
	memcpy(&v, &bits, sizeof v);
	return v;
}

static inline void q_store(struct hl_search_payload *p, float v)
{
	uint32_t bits;
	memcpy(&bits, &v, sizeof bits);
	atomic_store_explicit(&p->q, bits, memory_order_relaxed);
}

static inline uint64_t stat_visits(uint64_t stat)
{
	return stat & HL_EDGE_VISITS_MASK;
}

static inline unsigned stat_vloss(uint64_t stat)
{
	return (unsigned)(stat >> HL_EDGE_VLOSS_SHIFT) & 0xffu;
}

static inline float stat_prior(uint64_t stat)
{
	return (float)(stat >> HL_EDGE_PRIOR_SHIFT) / (float)HL_EDGE_PRIOR_ONE;
}

static inline _Atomic uint16_t *rec_seen(const hl_arena *a, uint64_t rec)
{
	return hl_srec_seen(hl_node_at(a, rec));
}

/* seen: [result : 2 | q code : 14] (layout.h); 0: nothing seen yet */
static inline uint16_t seen_word(float q, uint32_t result)
{
	float c = (q > 1 ? 1 : q >= -1 ? q : -1) + 1.0f; /* [0, 2]; NAN: 0 */
	uint32_t code = 1u + (uint32_t)lrintf(c * (float)HL_SEEN_Q_HALF);
	return (uint16_t)(result << HL_SEEN_RESULT_SHIFT | code);
}

/* A word a backup stored: its q code is never 0 (a damaged arena's may). */
static inline bool seen_valid(uint16_t seen)
{
	return (seen & HL_SEEN_Q_MASK) != 0;
}

static inline uint32_t seen_result(uint16_t seen)
{
	return (uint32_t)seen >> HL_SEEN_RESULT_SHIFT;
}

static inline float seen_q(uint16_t seen)
{
	return (float)(int)((seen & HL_SEEN_Q_MASK) - 1u) * (1.0f / HL_SEEN_Q_HALF) - 1.0f;
}

static inline uint32_t link_action(uint64_t link)
{
	return (uint32_t)(link >> HL_LINK_CHILD_BITS);
}

static inline uint64_t link_child(uint64_t link)
{
	return (link & HL_LINK_CHILD_MASK) * HL_HEAP_ALIGN;
}

/* The record a link names, validated (shm.h's accessor) and of this
 * search; 0 when unlinked or not a record of ours. */
uint64_t hl_mcts_child_rec(const hl_mcts *s, uint64_t link);
/* The same for reading only a child's fixed words (own, q, flags), not its
 * edges: its header and fixed payload inside the heap (bounds read once at
 * open), a record of this search. A handful of compares where hl_node_get
 * makes a dozen; selection and backup read every child of every record on
 * the path through it, and take the full check for the one child they
 * descend into. */
static inline uint64_t hl_mcts_child_stats(const hl_mcts *s, uint64_t link)
{
	uint64_t off = link_child(link);
	if (off < s->heap_lo || off > s->heap_hi - sizeof(struct hl_node) -
					      sizeof(struct hl_search_payload))
		return 0;
	const struct hl_node *n = hl_node_at(s->a, off);
	return n->kind == HL_NODE_SEARCH && n->aux == s->salt ? off : 0;
}
/* Record of position pos in this search: its offset, or 0. */
uint64_t hl_mcts_find(const hl_mcts *s, hl_id pos);
/* Follows the search's root ref (mcts_root.c): s->root is then the root
 * the ref names now. 0, HL_ENOENT (the ref was cleared to the zero id) or
 * HL_ECORRUPT (it names no snapshot's root node); s->root is unchanged on
 * an error. */
int hl_mcts_follow_root(hl_mcts *s);
/* Follows the root, then its record: *rec gets it, 0 while the root has
 * none. 0 or hl_mcts_follow_root's error. */
int hl_mcts_root_rec(hl_mcts *s, uint64_t *rec);
/* The position id of record rec. */
hl_id hl_mcts_rec_pos(const hl_arena *a, uint64_t rec);
/* N of record rec: own evaluations plus edge visits. */
uint64_t hl_mcts_visits(const hl_arena *a, uint64_t rec, unsigned *in_flight);
/* The proven result of a record (enum hl_mcts_result). Acquire: pairs with
 * the release that stored the proof, so its exact value is seen with it. */
static inline uint32_t hl_mcts_rec_result(const hl_arena *a, uint64_t rec)
{
	uint32_t f = atomic_load_explicit(&rec_payload(a, rec)->flags,
					  memory_order_acquire);
	return f & HL_SREC_WIN ? HL_MCTS_WIN
	       : f & HL_SREC_LOSS ? HL_MCTS_LOSS
	       : f & HL_SREC_DRAW ? HL_MCTS_DRAW
				  : HL_MCTS_ONGOING;
}
/* hl_mcts_expand for a caller that knows the leaf snapshot's root node
 * (hl_state_root_off after committing it): one index look-up saved. A
 * pos_off that is not leaf's root is ignored (looked up as usual). */
int hl_mcts_expand_at(hl_mcts *s, hl_mcts_path *p, hl_id leaf, uint64_t pos_off,
		      const hl_mcts_move *moves, unsigned n, uint32_t result);
/* Expands p's NEW leaf with the record the search already has for
 * position leaf (a transposition: another move order reached it first),
 * linking the path's last edge to it: no commit of the leaf, no record
 * filled. 0, HL_ENOENT (no such record: expand as usual), HL_EINVAL (not a
 * NEW leaf, or expanded already), HL_EROFS. */
int hl_mcts_expand_found(hl_mcts *s, hl_mcts_path *p, hl_id leaf);
/* Backups completed in the arena, all searches: one pass over the slots'
 * counters (hl_mcts_stats_get also counts the losses in flight, a scan of
 * every in-flight table). */
uint64_t hl_mcts_playouts(const hl_arena *a);
/* A value seen from the other player when the search alternates. */
static inline double hl_mcts_flip(const hl_mcts *s, double v)
{
	return s->cfg.alternating ? -v : v;
}
/* A result seen from the other player when the search alternates. */
static inline uint32_t hl_mcts_flip_result(const hl_mcts *s, uint32_t r)
{
	if (!s->cfg.alternating)
		return r;
	return r == HL_MCTS_WIN ? HL_MCTS_LOSS : r == HL_MCTS_LOSS ? HL_MCTS_WIN : r;
}

/* ---- persistence (mcts_log.c; the hook in publish_record) ------------- */

/* Pushes a search record's creation (persist_rec.h HL_PREC_SEARCH) before
 * the index CAS that publishes it. 0 or the persist push's error. */
int hl_mcts_log_record(hl_arena *a, hl_id pos, uint64_t salt,
		       const hl_mcts_move *moves, unsigned n, uint32_t result);
/* Replay: publishes pos's record of the search salted salt, with fresh
 * statistics (mcts.c). 0 (also when it is there), HL_ENOENT (no such
 * snapshot), HL_EFULL, HL_EINVAL. */
int hl_mcts_publish_replayed(hl_arena *a, uint64_t salt, hl_id pos,
			     const hl_mcts_move *moves, unsigned n,
			     uint32_t result);
/* Replays one HL_PREC_SEARCH record: HL_ECORRUPT when it fails its checks. */
int hl_mcts_replay_record(hl_arena *a, const void *rec, uint32_t len);

#endif /* HL_WORKERS_MCTS_H */
