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
 *      to move; a full board: a draw). A NEW leaf whose position another
 *      move order reached first (its id hashed without a commit,
 *      hl_one_chunk_id) is linked to the record that position has, with
 *      nothing committed.
 *   4. A uniform random rollout from the leaf gives its value for the side
 *      to move (connect4.c), and hl_mcts_backup takes it up the path.
 * When the arena has no room for the leaf's position or record, the
 * rollout's value still goes up (statistics only, mcts.c).
 *
 * A self-play worker (hl_c4_selfplay_work) runs the same playouts, but
 * for a budget the driver publishes per move (c4_search.h): it searches
 * while the root its select walked from is the budget's and the arena's
 * playout count is below the target, and waits otherwise. Its states:
 *
 *   WAITING   no budget yet, or the budget's target reached, or its root
 *             left  --(budget_read: a new snapshot)-->  SEARCHING
 *   SEARCHING batches of at most target - count playouts (a proven root
 *             too: a select and a backup each)
 *             --(count reaches the target, OTHER_ROOT)--> WAITING
 *
 * Invariants:
 *  1. Every process of the search uses hl_c4_search_config, so values mean
 *     the same everywhere (alternating players, UCT's constant).
 *  2. Actions are columns 0..6; the summary shows them as 1..7.
 *  3. A search worker stops at its stop flag, at the shared playout budget
 *     (looked at every HL_C4_SEARCH_BATCH playouts), or when the root is
 *     proven; a self-play worker only at its stop flag.
 *  4. A worker replays each path from the root the path was selected from:
 *     after a select that followed a moved root (hl_mcts_root changed) it
 *     decodes the new root before playing the path's moves.
 *  5. A self-play worker never backs up a path selected from a root other
 *     than its budget's (it abandons it: nothing visited), and never runs
 *     a batch past the budget's target: with one worker, each move gets
 *     exactly its playouts and nothing else touches the graph while the
 *     driver reads it.
 *  6. The driver moves the root before it publishes the budget for it
 *     (selfplay.c): a worker that reads the new budget (acquire, hl_ref_get)
 *     finds the root moved at its next select.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

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

/* Commits a position already encoded (connect4.h). */
static int commit_encoded(hl_state *st, const uint8_t enc[HL_C4_ENC_BYTES], hl_id *id)
{
	int rc = hl_state_write(st, 0, enc, HL_C4_ENC_BYTES);
	return rc ? rc : hl_commit(st, id, NULL);
}

int hl_c4_search_commit(hl_state *st, const struct hl_c4_pos *p, hl_id *id)
{
	uint8_t enc[HL_C4_ENC_BYTES];
	hl_c4_encode(p, enc);
	return commit_encoded(st, enc, id);
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
	    (rc = hl_c4_search_commit(st, root, &id)) == 0) {
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
	hl_id root_id;          /* the root w->root was decoded from */
	struct hl_c4_pos root;
	struct hl_c4_rng rng;
};

/* Decodes the root the handle follows now (invariant 4): once at open and
 * once after each move of the root, never per playout. */
static int worker_root(struct worker *w)
{
	uint8_t enc[HL_C4_ENC_BYTES];
	hl_id id = hl_mcts_root(w->s);
	int rc = hl_restore(w->st, id);
	if (!rc && (rc = hl_state_read(w->st, 0, enc, sizeof enc)) == 0 &&
	    (rc = hl_c4_decode(enc, sizeof enc, &w->root)) == 0)
		w->root_id = id;
	return rc;
}

static int worker_open(struct worker *w, hl_arena *a, uint64_t seed)
{
	hl_mcts_config cfg;
	memset(w, 0, sizeof *w);
	w->a = a;
	hl_c4_search_config(&cfg);
	cfg.skip_parent_id = 1; /* paths are replayed from the root (step 2) */
	hl_c4_rng_seed(&w->rng, seed);
	int rc = hl_mcts_open(a, HL_C4_SEARCH_NAME, (hl_id){0, 0}, &cfg, &w->s);
	if (rc)
		return rc;
	if ((rc = hl_state_new(a, &w->st)) != 0)
		return rc;
	/* a root moved on and collected between open and restore: follow */
	for (unsigned i = 0; (rc = worker_root(w)) == HL_ENOENT && i < 8; i++)
		if (hl_mcts_follow_root(w->s))
			break;
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
	uint8_t enc[HL_C4_ENC_BYTES];
	hl_id id;
	hl_c4_encode(p, enc);
	/* a position another move order reached first has its record: link
	 * it, committing nothing (a third of a search's new leaves); else
	 * commit and expand, or, with no room for the position, statistics
	 * only (mcts.c) */
	bool found = path->leaf == HL_MCTS_LEAF_NEW &&
		     hl_one_chunk_id(w->a, enc, sizeof enc, &id) == 0 &&
		     hl_mcts_expand_found(w->s, path, id) == 0;
	int rc = found ? 0 : commit_encoded(w->st, enc, &id);
	if (!found && rc == 0)
		hl_mcts_expand_at(w->s, path, id, hl_state_root_off(w->st), moves, n,
				  result);
	else if (rc == HL_EFULL) /* an expansion refused, like expand's */
		hl_sctr_add(w->a, HL_SCTR_NO_ROOM, 1);
	if (status == HL_C4_WON)
		return -1;
	if (status == HL_C4_DRAW)
		return 0;
	return hl_c4_rollout(p, &w->rng, hl_c4_side_to_move(p));
}

/* How a playout ended. */
enum playout_end {
	PLAYED,       /* backed up */
	ROOT_PROVEN,  /* backed up; the root is proven: nothing left to search */
	OTHER_ROOT,   /* selected from a root other than `want`: abandoned */
};

/* One playout. want (NULL: any) is the root the caller searches for: a
 * path selected from another one is abandoned, nothing visited. */
static int playout(struct worker *w, const hl_id *want, enum playout_end *end)
{
	hl_mcts_path path;
	int rc = hl_mcts_select(w->s, &path);
	if (rc)
		return rc;
	/* select followed a moved root: decode it before replaying moves (a
	 * root moved on again and collected meanwhile answers HL_ENOENT: the
	 * path is dropped, the next select follows the newer one) */
	if (!hl_id_eq(hl_mcts_root(w->s), w->root_id) && (rc = worker_root(w))) {
		hl_mcts_abandon(w->s, &path);
		*end = OTHER_ROOT;
		return rc == HL_ENOENT ? 0 : rc;
	}
	if (want && !hl_id_eq(w->root_id, *want)) {
		hl_mcts_abandon(w->s, &path);
		*end = OTHER_ROOT;
		return 0;
	}
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
	*end = path.leaf == HL_MCTS_LEAF_KNOWN && path.depth == 0 ? ROOT_PROVEN
								  : PLAYED;
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
	enum playout_end end = PLAYED;
	int rc = worker_open(&w, a, seed);
	while (!rc && end != ROOT_PROVEN && !*stop && !budget_spent(a, playouts)) {
		for (unsigned i = 0; !rc && end != ROOT_PROVEN && i < HL_C4_SEARCH_BATCH; i++) {
			rc = playout(&w, NULL, &end);
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

/* ---- self-play: the driver's budget and its workers ---------------------------- */

/* The budget snapshot, HL_C4_BUDGET_BYTES (host byte order: it never
 * leaves the arena except through the WAL, which is read on this host):
 *
 *   offset  bytes  field
 *        0      8  HL_C4_BUDGET_TAG
 *        8      8  target: the arena's playout count to stop at
 *       16     16  root: the position it is for; zero: any root
 */
struct budget_image {
	uint64_t tag;
	uint64_t target;
	hl_id root;
};
_Static_assert(sizeof(struct budget_image) == HL_C4_BUDGET_BYTES, "budget layout");
_Static_assert(offsetof(struct budget_image, target) == 8, "budget layout");
_Static_assert(offsetof(struct budget_image, root) == 16, "budget layout");

int hl_c4_budget_commit(hl_state *st, hl_id root, uint64_t target, hl_id *out)
{
	struct budget_image im = {HL_C4_BUDGET_TAG, target, root};
	int rc = hl_state_resize(st, sizeof im);
	if (!rc)
		rc = hl_state_write(st, 0, &im, sizeof im);
	return rc ? rc : hl_commit(st, out, NULL);
}

int hl_c4_budget_set(hl_arena *a, hl_id budget)
{
	return hl_ref_set(a, HL_C4_BUDGET_REF, budget);
}

int hl_c4_budget_publish(hl_arena *a, hl_state *st, hl_id root, uint64_t target)
{
	hl_id id;
	int rc = hl_c4_budget_commit(st, root, target, &id);
	return rc ? rc : hl_c4_budget_set(a, id);
}

/* What a self-play worker knows of the budget. */
struct budget {
	bool set;       /* a budget was read */
	bool spent;     /* its root was proven or left: wait for the next */
	hl_id id;       /* the snapshot read */
	hl_id root;     /* zero: any root (the driver could not commit one) */
	uint64_t target;
};

/* Reads the budget ref; a new snapshot replaces b (and ends `spent`). */
static int budget_read(hl_arena *a, hl_state *bst, struct budget *b)
{
	hl_id id;
	struct budget_image im;
	int rc = hl_ref_get(a, HL_C4_BUDGET_REF, &id);
	if (rc == HL_ENOENT)
		return 0; /* none yet: the driver has not started a move */
	if (rc || (b->set && hl_id_eq(id, b->id)))
		return rc;
	/* HL_ENOENT: the driver published another one and a collector took
	 * this one between the two calls; the next look reads the new one */
	if ((rc = hl_restore(bst, id)) != 0)
		return rc == HL_ENOENT ? 0 : rc;
	if (hl_state_size(bst) != sizeof im)
		return HL_ECORRUPT;
	if ((rc = hl_state_read(bst, 0, &im, sizeof im)) != 0)
		return rc;
	if (im.tag != HL_C4_BUDGET_TAG)
		return HL_ECORRUPT;
	*b = (struct budget){true, false, id, im.root, im.target};
	return 0;
}

/* Playouts to run before looking at the budget again: 0 to wait. */
static unsigned budget_batch(hl_arena *a, const struct budget *b)
{
	if (!b->set || b->spent)
		return 0;
	uint64_t done = hl_mcts_playouts(a);
	if (done >= b->target)
		return 0;
	return b->target - done < HL_C4_SELFPLAY_BATCH ? (unsigned)(b->target - done)
						       : HL_C4_SELFPLAY_BATCH;
}

static void idle_tick(void)
{
	struct timespec ts = {0, HL_C4_SELFPLAY_IDLE_NS};
	nanosleep(&ts, NULL);
}

/* One look at the budget and the playouts it allows. */
static int selfplay_step(struct worker *w, hl_state *bst, struct budget *b,
			 uint64_t *n)
{
	int rc = budget_read(w->a, bst, b);
	unsigned k = rc ? 0 : budget_batch(w->a, b);
	enum playout_end end = PLAYED;
	bool any = hl_id_is_zero(b->root);
	/* a proven root is searched to the target all the same (its playouts
	 * are a select and a backup each), so the count the driver waits for
	 * comes, and moves by exactly the budget (invariant 5) */
	for (unsigned i = 0; !rc && end != OTHER_ROOT && i < k; i++) {
		rc = playout(w, any ? NULL : &b->root, &end);
		*n += !rc && end != OTHER_ROOT;
	}
	/* a root left: its budget is spent (the driver has moved it and
	 * publishes the next); without a bound, a tick and another look */
	if (end == OTHER_ROOT && !any)
		b->spent = true;
	if (k == 0 || end == OTHER_ROOT)
		idle_tick();
	return rc;
}

int hl_c4_selfplay_work(hl_arena *a, uint64_t seed, volatile sig_atomic_t *stop,
			uint64_t *done)
{
	struct worker w;
	struct budget b = {0};
	hl_state *bst = NULL;
	uint64_t n = 0;
	int rc = worker_open(&w, a, seed);
	if (!rc)
		rc = hl_state_new(a, &bst);
	while (!rc && !*stop) {
		rc = selfplay_step(&w, bst, &b, &n);
		hl_arena_heartbeat(a);
		hl_heap_map_new(a);
	}
	hl_state_free(bst);
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

/* The stones on root's board (a moved root: self-play), -1 if unreadable. */
static int root_plies(hl_arena *a, hl_id root)
{
	hl_state *st;
	uint8_t enc[HL_C4_ENC_BYTES];
	struct hl_c4_pos p;
	int plies = -1;
	if (hl_state_new(a, &st))
		return -1;
	if (hl_restore(st, root) == 0 && hl_state_read(st, 0, enc, sizeof enc) == 0 &&
	    hl_c4_decode(enc, sizeof enc, &p) == 0)
		plies = (int)p.plies;
	hl_state_free(st);
	return plies;
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
	out->root_plies = root_plies(a, hl_mcts_root(s));
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
