/*
 * c4_solver.h - an independent Connect Four board and exact solver, for
 * the tests only. It shares no code and no representation with
 * workers/games/connect4.c: a 7 x 6 array of cells, a height per column,
 * and wins found by counting stones outward from the stone just dropped.
 * Where the two agree (who won, which moves are legal, how many distinct
 * positions there are after n plies, the value of a position), they agree
 * because both follow the rules, not because one copies the other.
 *
 * The solver is plain negamax with alpha-beta over the values -1 (the side
 * to move loses), 0 (draw), +1 (it wins), centre-first move order, an
 * immediate-win check, and a small transposition table (exact, lower or
 * upper bound per entry, keyed by the whole board: no false hits). That
 * solves positions with 14 empty cells in milliseconds.
 *
 * Header-only (static functions), like testutil.h.
 */
#ifndef HELIOS_TESTS_C4_SOLVER_H
#define HELIOS_TESTS_C4_SOLVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define C4S_W 7
#define C4S_H 6

struct c4s_board {
	uint8_t cell[C4S_W][C4S_H]; /* 0 empty, 1 first player, 2 second */
	uint8_t height[C4S_W];
	int plies;
	bool over_won; /* the last move made four */
};

static inline void c4s_init(struct c4s_board *b)
{
	memset(b, 0, sizeof *b);
}

/* 1 or 2: whose move it is. */
static inline int c4s_turn(const struct c4s_board *b)
{
	return (b->plies % 2) + 1;
}

static inline bool c4s_over(const struct c4s_board *b)
{
	return b->over_won || b->plies == C4S_W * C4S_H;
}

static inline bool c4s_can_play(const struct c4s_board *b, int col)
{
	return col >= 0 && col < C4S_W && b->height[col] < C4S_H && !c4s_over(b);
}

/* Stones of `who` in a line from (col, row) stepping (dc, dr), not
 * counting (col, row) itself. */
static inline int c4s_run(const struct c4s_board *b, int col, int row, int dc,
			  int dr, int who)
{
	int n = 0;
	for (int c = col + dc, r = row + dr;
	     c >= 0 && c < C4S_W && r >= 0 && r < C4S_H && b->cell[c][r] == who;
	     c += dc, r += dr)
		n++;
	return n;
}

/* Would a stone of the side to move at the top of col make four? */
static inline bool c4s_wins_at(const struct c4s_board *b, int col)
{
	static const int d[4][2] = {{1, 0}, {0, 1}, {1, 1}, {1, -1}};
	int row = b->height[col], who = c4s_turn(b);
	for (int i = 0; i < 4; i++)
		if (1 + c4s_run(b, col, row, d[i][0], d[i][1], who) +
			    c4s_run(b, col, row, -d[i][0], -d[i][1], who) >= 4)
			return true;
	return false;
}

/* Plays col (c4s_can_play must hold). */
static inline void c4s_play(struct c4s_board *b, int col)
{
	bool won = c4s_wins_at(b, col);
	b->cell[col][b->height[col]++] = (uint8_t)c4s_turn(b);
	b->plies++;
	b->over_won = won;
}

/* Takes back the top stone of col, which was the last move of a game
 * that was not over before it. */
static inline void c4s_undo(struct c4s_board *b, int col)
{
	b->cell[col][--b->height[col]] = 0;
	b->plies--;
	b->over_won = false;
}

/* Plays a move string of '1'..'7'; false at the first bad move. */
static inline bool c4s_play_string(struct c4s_board *b, const char *moves)
{
	for (; *moves; moves++) {
		int col = *moves - '1';
		if (!c4s_can_play(b, col))
			return false;
		c4s_play(b, col);
	}
	return true;
}

/* The board as two 42-bit sets (bit 6 * col + row), for hash keys. */
struct c4s_key {
	uint64_t first, second;
};

static inline struct c4s_key c4s_key_of(const struct c4s_board *b)
{
	struct c4s_key k = {0, 0};
	for (int c = 0; c < C4S_W; c++)
		for (int r = 0; r < b->height[c]; r++) {
			uint64_t bit = 1ull << (c * C4S_H + r);
			if (b->cell[c][r] == 1)
				k.first |= bit;
			else
				k.second |= bit;
		}
	return k;
}

static inline uint64_t c4s_key_hash(struct c4s_key k)
{
	uint64_t h = k.first * 0x9e3779b97f4a7c15ull ^ k.second;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

/* ---- the solver ----------------------------------------------------------- */

#define C4S_TT_BITS 18
enum { C4S_EXACT = 1, C4S_LOWER = 2, C4S_UPPER = 3 };

struct c4s_tt_entry {
	struct c4s_key key;
	int8_t value;
	uint8_t bound; /* 0: empty */
};

struct c4s_solver {
	struct c4s_tt_entry *tt; /* 1 << C4S_TT_BITS entries */
	uint64_t nodes;          /* negamax calls, for the curious */
};

/* false when out of memory. */
static inline bool c4s_solver_init(struct c4s_solver *s)
{
	s->nodes = 0;
	s->tt = calloc((size_t)1 << C4S_TT_BITS, sizeof *s->tt);
	return s->tt != NULL;
}

static inline void c4s_solver_free(struct c4s_solver *s)
{
	free(s->tt);
	s->tt = NULL;
}

static inline struct c4s_tt_entry *c4s_tt_slot(struct c4s_solver *s,
					       struct c4s_key k)
{
	return &s->tt[c4s_key_hash(k) & (((uint64_t)1 << C4S_TT_BITS) - 1)];
}

static int c4s_negamax(struct c4s_solver *s, struct c4s_board *b, int alpha,
		       int beta)
{
	static const int order[C4S_W] = {3, 2, 4, 1, 5, 0, 6};
	s->nodes++;
	if (b->over_won)
		return -1;
	if (b->plies == C4S_W * C4S_H)
		return 0;
	for (int c = 0; c < C4S_W; c++)
		if (b->height[c] < C4S_H && c4s_wins_at(b, c))
			return 1;
	struct c4s_key k = c4s_key_of(b);
	struct c4s_tt_entry *e = c4s_tt_slot(s, k);
	if (e->bound && e->key.first == k.first && e->key.second == k.second) {
		if (e->bound == C4S_EXACT)
			return e->value;
		if (e->bound == C4S_LOWER && e->value > alpha)
			alpha = e->value;
		if (e->bound == C4S_UPPER && e->value < beta)
			beta = e->value;
		if (alpha >= beta)
			return e->value;
	}
	/* The window as narrowed by the entry: a result outside it is a
	 * bound (fail-soft), inside it exact. */
	int alpha0 = alpha;
	int best = -2;
	for (int i = 0; i < C4S_W && alpha < beta; i++) {
		int c = order[i];
		if (b->height[c] >= C4S_H)
			continue;
		c4s_play(b, c);
		int v = -c4s_negamax(s, b, -beta, -alpha);
		c4s_undo(b, c);
		if (v > best)
			best = v;
		if (v > alpha)
			alpha = v;
	}
	e->key = k;
	e->value = (int8_t)best;
	e->bound = best <= alpha0 ? C4S_UPPER : best >= beta ? C4S_LOWER : C4S_EXACT;
	return best;
}

/* The exact value of b for the side to move: +1 win, 0 draw, -1 loss (a
 * position whose last move won is a loss; a full board a draw). */
static inline int c4s_solve(struct c4s_solver *s, const struct c4s_board *b)
{
	struct c4s_board w = *b;
	return c4s_negamax(s, &w, -1, 1);
}

#endif /* HELIOS_TESTS_C4_SOLVER_H */
