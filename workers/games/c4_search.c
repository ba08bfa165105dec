/*
 * c4_search.c - Connect Four on the shared search graph (c4_search.h).
 *
 * A worker's playout:
 *   1. hl_mcts_select: a path from the root, virtual losses held.
 *   2. The path's moves (columns) are played on private bitboards from the
 *      root position, which every worker decodes once from the root's
 *      snapshot: no restore, no copy.
 *   3. A NEW or ROOT leaf is committed as a 16-byte working state
 *      (connect4.h's encoding), so its id is the transposition key, and
 *      expanded: its legal columns with uniform priors, or its exact result
 *      when the game is over there (a four just made: a loss for the side
 *      to move; a full board: a draw).
 *   4. A uniform random rollout from the leaf gives its value for the side
 *      to move (connect4.c), and hl_mcts_backup takes it up the path.
 * When the arena has no room for the leaf's position or record, the
 * rollout's value still goes up (statistics only, mcts.c).
 *
 * Invariants:
 *  1. Every process of the search uses hl_c4_search_config, so values mean
 *     the same everywhere (alternating players, UCT's constant).
 *  2. Actions are columns 0..6; the summary shows them as 1..7.
 *  3. A worker stops at its stop flag, at the shared playout budget (looked
 *     at every HL_C4_SEARCH_BATCH playouts), or when the root is proven.
 */
#include <math.h>
#include <string.h>

#include "c4_search.h"
#include "../mcts.h"
#include "shm.h"

void hl_c4_search_config(hl_mcts_config *cfg)
{
	hl_mcts_config_init(cfg);
	cfg->policy = HL_MCTS_UCT;
	cfg->c_explore = HL_C4_SEARCH_UCT_C;
	cfg->alternating = 1;
}

static int commit_pos(hl_state *st, const struct hl_c4_pos *p, hl_id *id)
{
	uint8_t enc[HL_C4_ENC_BYTES];
	hl_c4_encode(p, enc);
	int rc = hl_state_write(st, 0, enc, sizeof enc);
	return rc ? rc : hl_commit(st, id, NULL);
}

int hl_c4_search_create(hl_arena *a, const struct hl_c4_pos *root)
{
	hl_state *st;
	hl_mcts *s;
	hl_mcts_config cfg;
	hl_id id;
	int rc = hl_state_new(a, &st);
	if (rc)
		return rc;
	if ((rc = hl_state_resize(st, HL_C4_ENC_BYTES)) == 0 &&
	    (rc = commit_pos(st, root, &id)) == 0) {
		hl_c4_search_config(&cfg);
		if ((rc = hl_mcts_open(a, HL_C4_SEARCH_NAME, id, &cfg, &s)) == 0)
			hl_mcts_close(s);
	}
	hl_state_free(st);
	return rc;
}

/* ---- a worker ------------------------------------------------------------------ */

struct worker {
	hl_arena *a;
	hl_mcts *s;
	hl_state *st;
	struct hl_c4_pos root;
	struct hl_c4_rng rng;
};

static int worker_open(struct worker *w, hl_arena *a, uint64_t seed)
{
	hl_mcts_config cfg;
	memset(w, 0, sizeof *w);
	w->a = a;
	hl_c4_search_config(&cfg);
	int rc = hl_mcts_open(a, HL_C4_SEARCH_NAME, (hl_id){0, 0}, &cfg, &w->s);
	if (rc)
		return rc;
	uint8_t enc[HL_C4_ENC_BYTES];
	if ((rc = hl_state_new(a, &w->st)) == 0 &&
	    (rc = hl_restore(w->st, hl_mcts_root(w->s))) == 0 &&
	    (rc = hl_state_read(w->st, 0, enc, sizeof enc)) == 0)
		rc = hl_c4_decode(enc, sizeof enc, &w->root);
	hl_c4_rng_seed(&w->rng, seed);
	return rc;
}

static void worker_close(struct worker *w)
{
	hl_state_free(w->st);
	hl_mcts_close(w->s);
}

/* Expands the leaf at position p (its id once committed) and returns its
 * value for the side to move there: exact when the game is over, else a
 * rollout's. */
static double expand_leaf(struct worker *w, hl_mcts_path *path,
			  const struct hl_c4_pos *p)
{
	enum hl_c4_status status = hl_c4_status(p);
	hl_mcts_move moves[HL_C4_COLS];
	unsigned n = 0;
	uint32_t result = status == HL_C4_WON ? HL_MCTS_LOSS
			  : status == HL_C4_DRAW ? HL_MCTS_DRAW : HL_MCTS_ONGOING;
	for (unsigned c = 0, legal = hl_c4_legal(p); c < HL_C4_COLS; c++)
		if (legal & (1u << c))
			moves[n++] = (hl_mcts_move){c, 0, {0, 0}};
	for (unsigned i = 0; i < n; i++)
		moves[i].prior = 1.0f / (float)n;
	hl_id id;
	/* no room for the position: statistics only (mcts.c) */
	if (commit_pos(w->st, p, &id) == 0)
		hl_mcts_expand_at(w->s, path, id, hl_state_root_off(w->st), moves, n,
				  result);
	if (status == HL_C4_WON)
		return -1;
	if (status == HL_C4_DRAW)
		return 0;
	return hl_c4_rollout(p, &w->rng, hl_c4_side_to_move(p));
}

/* One playout; false when the root is proven (nothing left to search). */
static int playout(struct worker *w, bool *root_proven)
{
	hl_mcts_path path;
	int rc = hl_mcts_select(w->s, &path);
	if (rc)
		return rc;
	double value = path.value;
	if (path.leaf != HL_MCTS_LEAF_KNOWN) {
		struct hl_c4_pos p = w->root;
		for (uint32_t i = 0; i < path.depth; i++) {
			/* the graph's edges are legal moves of positions still
			 * going on; a column that is not open is a damaged edge */
			if (!hl_c4_col_open(&p, path.action[i])) {
				hl_mcts_abandon(w->s, &path);
				return HL_ECORRUPT; /* not a move of this game */
			}
			hl_c4_play(&p, path.action[i]);
		}
		value = expand_leaf(w, &path, &p);
	}
	*root_proven = path.leaf == HL_MCTS_LEAF_KNOWN && path.depth == 0;
	return hl_mcts_backup(w->s, &path, value);
}

static bool budget_spent(hl_arena *a, uint64_t playouts)
{
	return playouts && hl_mcts_playouts(a) >= playouts;
}

int hl_c4_search_work(hl_arena *a, uint64_t playouts, uint64_t seed,
		      volatile sig_atomic_t *stop, uint64_t *done)
{
	struct worker w;
	uint64_t n = 0;
	bool proven = false;
	int rc = worker_open(&w, a, seed);
	while (!rc && !proven && !*stop && !budget_spent(a, playouts)) {
		for (unsigned i = 0; !rc && !proven && i < HL_C4_SEARCH_BATCH; i++) {
			rc = playout(&w, &proven);
			n += rc == 0;
		}
		hl_arena_heartbeat(a);
		hl_heap_map_new(a); /* the graph the others grew: no fault per page */
	}
	worker_close(&w);
	if (done)
		*done = n;
	return rc;
}

/* ---- the summary --------------------------------------------------------------- */

static void summary_root(hl_mcts *s, struct hl_c4_summary *out)
{
	hl_mcts_node root;
	if (hl_mcts_node_info(s, hl_mcts_root(s), &root))
		return;
	out->root_visits = root.visits;
	out->value = root.value;
	out->proven = root.result;
	hl_mcts_child c[HL_C4_COLS];
	unsigned n;
	if (hl_mcts_children(s, hl_mcts_root(s), c, HL_C4_COLS, &n) == 0)
		for (unsigned i = 0; i < n && i < HL_C4_COLS; i++)
			if (c[i].action < HL_C4_COLS)
				out->visits[c[i].action] = c[i].visits;
	hl_mcts_child best;
	if (hl_mcts_best(s, hl_mcts_root(s), &best) == 0 && best.action < HL_C4_COLS)
		out->best_move = (int)best.action + 1;
	uint32_t pv[HL_C4_CELLS];
	if (hl_mcts_pv(s, pv, HL_C4_CELLS, &n) == 0)
		for (unsigned i = 0; i < n && pv[i] < HL_C4_COLS; i++)
			out->pv[i] = (char)('1' + pv[i]);
}

int hl_c4_search_summary(hl_arena *a, struct hl_c4_summary *out)
{
	if (!a || !out)
		return HL_EINVAL;
	memset(out, 0, sizeof *out);
	hl_mcts_config cfg;
	hl_mcts *s;
	hl_c4_search_config(&cfg);
	int rc = hl_mcts_open(a, HL_C4_SEARCH_NAME, (hl_id){0, 0}, &cfg, &s);
	if (rc)
		return rc;
	summary_root(s, out);
	hl_mcts_close(s);
	hl_mcts_stats ms;
	hl_stats st;
	if ((rc = hl_mcts_stats_get(a, &ms)) != 0 || (rc = hl_arena_stats(a, &st)) != 0)
		return rc;
	out->playouts = ms.playouts;
	out->nodes = ms.records;
	out->record_bytes = ms.record_bytes;
	out->no_room = ms.no_room;
	/* every record's position is a leaf and a root of its own: the
	 * arena's node bytes are those snapshots (one search per arena) */
	if (ms.records)
		out->bytes_per_node = (ms.record_bytes + st.stored_bytes) / ms.records;
	return 0;
}
