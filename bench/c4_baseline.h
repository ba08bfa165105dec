/*
 * c4_baseline.h - the private-memory Connect Four MCTS that issue 10's
 * benchmark measures the shared search against: the same rules and the
 * same uniform random rollouts (workers/games/connect4.h), one process,
 * one thread, the search graph in a plain in-process hash table keyed by
 * the position. No shared memory, no atomics, no snapshots.
 *
 * It is a graph search (KataGo's docs/GraphSearch.md), as the shared one
 * will be: transpositions meet in one node; visit counts live on the
 * edges; a node's value is recomputed from its children's values weighted
 * by edge visits. Selection is UCT or PUCT (uniform priors, as a search
 * without a network has). See c4_baseline.c for the details.
 *
 * Use hl_c4_baseline_search for one search with the defaults, or
 * new / run / result / check / free to look at the graph in between
 * (the tests do).
 */
#ifndef HL_BENCH_C4_BASELINE_H
#define HL_BENCH_C4_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#include "games/connect4.h"

/* UCT's exploration constant for values in [-1, 1]: argmax over edges of
 * Q + c * sqrt(ln N / n). UCB1's sqrt(2) is for rewards in [0, 1]; the
 * values here span twice that, so c = 2 sqrt(2). (Measured from the empty
 * board at 200k playouts, seeds 1-6: c = 1.0 put the most visits on
 * column 3 or 5 in two of three runs, 1.4 on column 4 with 54-66% of the
 * visits, 2.0 with 79-84%, 2.83 with 85-88%.) */
#define HL_C4_BASELINE_UCT_C 2.8284271247461903

/* PUCT's (AlphaZero's) constant: argmax of Q + c * P * sqrt(N) / (1 + n)
 * with P = 1 / (legal moves) and an unvisited edge's Q the node's own
 * value. (Measured like UCT's, seeds 1-6 at 200k playouts: c = 1, 2 and 4
 * put the most visits on column 3 in one or two runs of six; 6 on column
 * 4 with 73-86% of the visits, 8 with 86-89%, 12 with 84-86%, 16 with
 * 79-82%.) */
#define HL_C4_BASELINE_PUCT_C 8.0

enum hl_c4_baseline_rule {
	HL_C4_BASELINE_UCT = 0,
	HL_C4_BASELINE_PUCT = 1,
};

struct hl_c4_baseline_opts {
	double uct_c;       /* exploration constant of the rule; <= 0: its
			     * default (HL_C4_BASELINE_UCT_C or _PUCT_C) */
	uint64_t max_nodes; /* 0: HL_C4_BASELINE_NODES_MAX; at most that */
	uint64_t seed;      /* of the rollouts' and tie-breaks' PRNG */
	enum hl_c4_baseline_rule rule; /* 0: UCT */
};

struct hl_c4_baseline_result {
	uint64_t playouts;        /* root-to-leaf descents, one evaluation each */
	double elapsed_s;         /* wall time of the playouts */
	double playouts_per_s;
	uint64_t visits[HL_C4_COLS]; /* root edge visits in column order; 0 for
				      * illegal columns */
	int best_move;            /* most visited column, 1..7; 0 while no
				   * edge has a visit (a node limit of 1) */
	double value;             /* the root's value for its side to move,
				   * in [-1, 1] */
	char pv[HL_C4_CELLS + 1]; /* principal variation: most visited edges
				   * from the root, as a move string */
	uint64_t nodes;           /* positions in the graph */
	uint64_t bytes;           /* memory held: node array and hash table */
	double bytes_per_node;    /* bytes / nodes */
	int full;                 /* 1: the node limit was reached and later
				   * leaves were evaluated without expanding */
};

struct hl_c4_baseline;

/* A search from root (a valid, unfinished position; checked by encoding
 * and decoding it). opts may be NULL for the defaults. Errors: HL_EINVAL
 * (NULL, a finished or malformed position), HL_ENOMEM. */
int hl_c4_baseline_new(const struct hl_c4_pos *root,
		       const struct hl_c4_baseline_opts *opts,
		       struct hl_c4_baseline **out);
void hl_c4_baseline_free(struct hl_c4_baseline *b);

/* Runs playouts until `playouts` more have been made (0: no limit) or
 * `seconds` have passed (<= 0: no limit); one of them must be set, else
 * HL_EINVAL. Running out of memory never fails a run: the search goes on
 * without expanding and the result says full. */
int hl_c4_baseline_run(struct hl_c4_baseline *b, uint64_t playouts,
		       double seconds);

/* Statistics of everything run so far. */
void hl_c4_baseline_result(const struct hl_c4_baseline *b,
			   struct hl_c4_baseline_result *out);

/* Verifies every node: visits == its own evaluations + the sum of its
 * edge visits; edges only on legal columns, each visited edge linked to
 * the node of the position it leads to; values in [-1, 1] (a terminal
 * node's its exact result); the root's visits are 1 + the playouts; the
 * hash table finds every node by its key. (A value is not compared with a
 * recomputation from its children: under transpositions a child changes
 * through other parents, and a parent catches up on its next visit.)
 * 0 or HL_ECORRUPT with msg (may be NULL) saying what. O(nodes). */
int hl_c4_baseline_check(const struct hl_c4_baseline *b, char *msg,
			 size_t msg_bytes);

/* new + run + result + free with opts {0, 0, seed}. */
int hl_c4_baseline_search(const struct hl_c4_pos *root, uint64_t playouts,
			  double seconds, uint64_t seed,
			  struct hl_c4_baseline_result *out);

#endif /* HL_BENCH_C4_BASELINE_H */
