/*
 * c4_search.h - Connect Four on the shared search graph: what one search
 * worker does (select, play the path's moves on bitboards, commit the leaf
 * position, expand, roll out, back up), and the summary any process reads
 * from the graph (best move, value, proof, visits per column, principal
 * variation, memory). `helios run --game connect4` runs N workers of it;
 * `helios stat --search` and examples/ read the summary.
 */
#ifndef HL_WORKERS_GAMES_C4_SEARCH_H
#define HL_WORKERS_GAMES_C4_SEARCH_H

#include <signal.h>
#include <stdint.h>

#include "connect4.h"

/* The search's name in the arena (its root is the ref "mcts/connect4"). */
#define HL_C4_SEARCH_NAME "connect4"
/* UCT's exploration constant for values in [-1, 1]. The baseline's 2 sqrt(2)
 * (bench/c4_baseline.h, measured at 200k playouts) drifts off the centre
 * in the millions of playouts a few seconds of two workers make: random
 * rollouts undervalue column 4 as the tree deepens, and a greedier search
 * deepens faster. Measured with `helios run --game connect4 --workers 2`
 * from the empty board (one run each, a loaded 2-core VM), best move and
 * its share of the root's visits:
 *   c = 2.83: column 5 at 1.7M and 1.8M playouts (56-63%)
 *   c = 4:    column 4 at 1.35M (55%) and 2.1M (42%); column 5 at 2.1M
 *             once the engine was faster (34%)
 *   c = 5.66: column 4 at 1.7M (46%) and 3.6M (31%, column 6 at 29%)
 *   c = 8:    column 4 at 0.97M (67%) and 1.8M (50%)
 * so 8: the centre stays well ahead at the playout counts a demo and the
 * bench reach. The bench runs the baseline with this constant too, so both
 * search alike. */
#define HL_C4_SEARCH_UCT_C 8.0
/* Playouts a worker runs between looks at the shared total and the stop
 * flag: the budget is overshot by at most this per worker. */
#define HL_C4_SEARCH_BATCH 256u

/* The search configuration every process of a Connect Four search uses. */
void hl_c4_search_config(hl_mcts_config *cfg);

/* Commits position p in st (a state of HL_C4_ENC_BYTES): *id gets its id,
 * the key of its search record. 0 or hl_commit's error. */
int hl_c4_search_commit(hl_state *st, const struct hl_c4_pos *p, hl_id *id);

/* Creates (or finds) the search from position `root` on arena a: the root
 * committed as a snapshot and published as the search's root. */
int hl_c4_search_create(hl_arena *a, const struct hl_c4_pos *root);

/*
 * One worker: playouts on the search until *stop, until the arena-wide
 * playout count reaches `playouts` (0: no limit), or until the root is
 * proven. Returns 0 or an HL_E* code; *done (may be NULL) gets the
 * playouts this worker backed up.
 */
int hl_c4_search_work(hl_arena *a, uint64_t playouts, uint64_t seed,
		      volatile sig_atomic_t *stop, uint64_t *done);

/* ---- self-play (coordinator/selfplay.c drives, these workers search) ------
 *
 * The driver moves the search's root from move to move (hl_mcts_set_root)
 * and tells the workers how far to search each one through a *budget*: a
 * snapshot named by the ref HL_C4_BUDGET_REF holding the root it is for
 * and the arena's playout count (hl_mcts_playouts) to stop at. A worker
 * searches while the root it selects from is the budget's and the count is
 * below the target, in batches that never pass it, and waits otherwise;
 * so with one worker each move gets exactly its playouts, and a seeded
 * run is reproducible. A budget with a zero root (the driver could not
 * commit one: the arena is full) lets the workers search any root without
 * a bound until the driver moves it. */
#define HL_C4_BUDGET_REF "selfplay/" HL_C4_SEARCH_NAME
#define HL_C4_BUDGET_BYTES 32u
#define HL_C4_BUDGET_TAG 0x7465676475626334ull /* "4cbudget" */
/* Playouts a self-play worker runs between looks at the budget: its
 * overshoot of a move's budget with several workers, at most. */
#define HL_C4_SELFPLAY_BATCH 16u
/* A waiting self-play worker looks at the budget this often (50 us: a
 * move's wait for its workers is then a few percent of a 300-playout
 * move, and a waiting worker costs no core). */
#define HL_C4_SELFPLAY_IDLE_NS 50000l

/* Commits a budget {root, target} in st (resized to HL_C4_BUDGET_BYTES);
 * *out gets its id. 0 or hl_commit's error (HL_EFULL). */
int hl_c4_budget_commit(hl_state *st, hl_id root, uint64_t target, hl_id *out);
/* Points HL_C4_BUDGET_REF at a committed budget (hl_ref_set). */
int hl_c4_budget_set(hl_arena *a, hl_id budget);
/* Both: commits the budget and points the ref at it. */
int hl_c4_budget_publish(hl_arena *a, hl_state *st, hl_id root, uint64_t target);

/* A self-play worker: searches each budget the driver publishes (above)
 * until *stop. 0 or an HL_E* code; *done (may be NULL) gets the playouts
 * it backed up. */
int hl_c4_selfplay_work(hl_arena *a, uint64_t seed, volatile sig_atomic_t *stop,
			uint64_t *done);

/* What the graph says now, from the side to move at the root. */
struct hl_c4_summary {
	char position[HL_C4_CELLS + 1]; /* the root's move string, if known */
	uint64_t playouts;        /* backups completed, all workers */
	uint64_t root_visits;
	int best_move;            /* column 1..7; 0 when nothing is known */
	double value;             /* the root's Q in [-1, 1] */
	uint32_t proven;          /* enum hl_mcts_result of the root */
	uint64_t visits[HL_C4_COLS]; /* per column; 0 for full ones */
	char pv[HL_C4_CELLS + 1]; /* principal variation, columns 1..7 */
	uint64_t nodes;           /* search records */
	uint64_t record_bytes;    /* their heap bytes */
	uint64_t bytes_per_node;  /* record + position snapshot, per record */
	uint64_t no_room;         /* expansions refused for want of room */
	int root_plies;           /* stones on the root's board; -1: unknown */
};

/* Reads the search's summary (any process, read-only ones too). */
int hl_c4_search_summary(hl_arena *a, struct hl_c4_summary *out);

#endif /* HL_WORKERS_GAMES_C4_SEARCH_H */
