/*
 * mcts_util.h - the search suites' games and playout loop (test_mcts.c,
 * test_mcts_seen.c): Nim and the wide game of known answers, positions as
 * 16-byte states, and a single-process search that evaluates by rollouts.
 */
#ifndef HL_TEST_MCTS_UTIL_H
#define HL_TEST_MCTS_UTIL_H

#include "testutil.h"

#include "shm.h"

/* ---- games -------------------------------------------------------------------- */

/* A position is 16 bytes: the game's state word and a generation word
 * that is always 0 here (so equal states commit to equal ids). */
struct pos {
	uint64_t state, zero;
};

static inline hl_id commit_pos(hl_state *st, uint64_t state)
{
	struct pos p = {state, 0};
	cr_assert_eq(hl_state_write(st, 0, &p, sizeof p), 0);
	hl_id id;
	int rc = hl_commit(st, &id, NULL);
	cr_assert_eq(rc, 0, "commit: %s", hl_strerror(rc));
	return id;
}

struct game {
	unsigned (*moves)(uint64_t state, uint32_t *out); /* 0: game over */
	uint64_t (*play)(uint64_t state, uint32_t action);
	/* for a finished state: the result for the player to move */
	uint32_t (*result)(uint64_t state);
};

static inline unsigned nim_moves(uint64_t pile, uint32_t *out)
{
	unsigned n = 0;
	for (uint32_t take = 1; take <= 3 && take <= pile; take++)
		out[n++] = take;
	return n;
}
static inline uint64_t nim_play(uint64_t pile, uint32_t take) { return pile - take; }
static inline uint32_t nim_result(uint64_t pile) { (void)pile; return HL_MCTS_LOSS; }
static const struct game nim = {nim_moves, nim_play, nim_result};

/* wide: state = depth << 32 | path hash; 10 moves until depth g_wide_depth
 * (4: small enough to be solved; tests that must not see the root proven
 * raise it); the result at the end is a pure function of the path */
static uint64_t g_wide_depth = 4;
static inline unsigned wide_moves(uint64_t s, uint32_t *out)
{
	if ((s >> 32) >= g_wide_depth)
		return 0;
	for (uint32_t i = 0; i < 10; i++)
		out[i] = i;
	return 10;
}
static inline uint64_t wide_play(uint64_t s, uint32_t a)
{
	uint64_t h = (uint32_t)s * 2654435761u + a + 1;
	return ((s >> 32) + 1) << 32 | (uint32_t)h;
}
static inline uint32_t wide_result(uint64_t s)
{
	uint32_t h = (uint32_t)s ^ (uint32_t)s >> 13;
	return h % 3 == 0 ? HL_MCTS_WIN : h % 3 == 1 ? HL_MCTS_LOSS : HL_MCTS_DRAW;
}
static const struct game wide = {wide_moves, wide_play, wide_result};

/* A uniform random rollout: the result for the player to move at s. */
static inline double rollout(const struct game *g, uint64_t s, struct tu_rng *r)
{
	uint32_t mv[16];
	double sign = 1;
	unsigned n;
	while ((n = g->moves(s, mv)) != 0) {
		s = g->play(s, mv[tu_rng_below(r, n)]);
		sign = -sign;
	}
	uint32_t res = g->result(s);
	return sign * (res == HL_MCTS_WIN ? 1 : res == HL_MCTS_LOSS ? -1 : 0);
}

/* The state at the leaf of a path: replayed from the root. */
static inline uint64_t leaf_state(const struct game *g, uint64_t root,
			   const hl_mcts_path *p)
{
	uint64_t s = root;
	for (uint32_t i = 0; i < p->depth; i++)
		s = g->play(s, p->action[i]);
	return s;
}

/* Evaluates and expands p's leaf (uniform priors); returns the value to
 * back up. */
static inline double evaluate(hl_mcts *m, hl_state *st, const struct game *g,
		       uint64_t root, hl_mcts_path *p, struct tu_rng *r)
{
	if (p->leaf == HL_MCTS_LEAF_KNOWN)
		return p->value;
	uint64_t s = leaf_state(g, root, p);
	uint32_t mv[16];
	unsigned n = g->moves(s, mv);
	hl_mcts_move moves[16];
	for (unsigned i = 0; i < n; i++)
		moves[i] = (hl_mcts_move){mv[i], 1.0f / (float)n, {0, 0}};
	struct pos ps = {s, 0};
	hl_id id;
	int rc = hl_state_write(st, 0, &ps, sizeof ps);
	cr_assert_eq(rc, 0);
	uint32_t result = n ? HL_MCTS_ONGOING : g->result(s);
	if ((rc = hl_commit(st, &id, NULL)) == HL_EFULL) {
		/* no room for the position either: statistics only */
	} else {
		cr_assert_eq(rc, 0, "commit: %s", hl_strerror(rc));
		rc = hl_mcts_expand(m, p, id, moves, n, result);
		cr_assert(rc == 0 || rc == 1, "expand: %s", hl_strerror(rc));
	}
	return n ? rollout(g, s, r) : (result == HL_MCTS_WIN ? 1 : result == HL_MCTS_LOSS ? -1 : 0);
}

/* Whether a backed-up path went through one of the root's edges. The
 * root's N is then 1 (its one own evaluation: of the ROOT leaves that
 * processes racing at the start back up, one is kept) plus these. */
static inline bool visits_root(const hl_mcts_path *p)
{
	return p->depth > 0;
}

/* The root is proven: a searcher stops. */
static inline bool root_proven(const hl_mcts_path *p)
{
	return p->depth == 0 && p->leaf == HL_MCTS_LEAF_KNOWN;
}

/* Up to `playouts` playouts of search m on game g, stopping when the root
 * is proven; returns how many went through a root edge (visits_root). */
static inline uint64_t search(hl_mcts *m, hl_state *st, const struct game *g,
		       uint64_t root, unsigned playouts, uint64_t seed)
{
	struct tu_rng r;
	uint64_t visited = 0;
	tu_rng_seed(&r, seed);
	for (unsigned i = 0; i < playouts; i++) {
		hl_mcts_path p;
		int rc = hl_mcts_select(m, &p);
		cr_assert_eq(rc, 0, "select: %s", hl_strerror(rc));
		double v = evaluate(m, st, g, root, &p, &r);
		cr_assert_eq(hl_mcts_backup(m, &p, v), 0);
		if (root_proven(&p))
			break;
		visited += visits_root(&p);
	}
	return visited;
}

struct setup {
	hl_arena *a;
	const char *name;
	hl_state *st;
	hl_mcts *m;
	hl_id root_id;
};

static inline void open_search(struct setup *t, uint64_t root, const char *search,
			uint64_t arena_bytes, const hl_mcts_config *cfg)
{
	t->a = tu_arena_new("mcts", arena_bytes, 64, &t->name);
	cr_assert_eq(hl_state_new(t->a, &t->st), 0);
	cr_assert_eq(hl_state_resize(t->st, sizeof(struct pos)), 0);
	t->root_id = commit_pos(t->st, root);
	int rc = hl_mcts_open(t->a, search, t->root_id, cfg, &t->m);
	cr_assert_eq(rc, 0, "open: %s", hl_strerror(rc));
}

static inline void close_search(struct setup *t)
{
	hl_mcts_close(t->m);
	hl_state_free(t->st);
	hl_arena_close(t->a);
}

#endif /* HL_TEST_MCTS_UTIL_H */
