/*
 * connect4.h - Connect Four (7 columns x 6 rows), the reference game: rules
 * on bitboards, the position's canonical byte encoding (the working state a
 * search commits, so its id is the transposition key), a move-string
 * parser, a PRNG and uniform random rollouts.
 *
 * Internal to libhelios (hl_c4_*; libhelios.map does not export them): the
 * search graph, its tests and the private-memory baseline in bench/ link
 * them from the static library.
 *
 * The board
 * ---------
 * Bit (7 * col + row) of a 64-bit word is the cell in column col (0..6,
 * left to right) and row row (0..5, bottom up); row 6 of every column is a
 * sentinel that is always 0, so shifting a line of stones by 1, 6, 7 or 8
 * never carries it into the next column. Bits 49..63 are always 0.
 *
 *        col 0  1  2  3  4  5  6
 *   row 6    6 13 20 27 34 41 48   sentinel row, always empty
 *   row 5    5 12 19 26 33 40 47
 *   ...
 *   row 0    0  7 14 21 28 35 42
 *
 * A position is the side to move's stones (`cur`), the occupied cells
 * (`mask`) and the plies played (popcount(mask)). The first player ("X")
 * moves at even plies, so who is to move follows from the position itself.
 *
 * Invariants of a struct hl_c4_pos made by these functions (hl_c4_decode
 * checks them on bytes from outside):
 *  1. mask has no bit outside the 42 cells; each column of mask is filled
 *     from row 0 up without gaps; cur is a subset of mask.
 *  2. plies == popcount(mask); the side to move has as many stones as the
 *     other side when plies is even, one fewer when it is odd.
 *  3. The side to move has no four in a row (the game would have ended
 *     before it got the move), and if the side that just moved has one, it
 *     runs through a stone that could have been its last move (a top stone
 *     of its colour without which it has no four).
 *
 * These are what every function here relies on, and what decode checks.
 * They do not prove that a legal game reaches the position (an X stone on
 * top of every column when O moved last, say, passes them): that takes a
 * search, and nothing here needs it.
 */
#ifndef HL_WORKERS_GAMES_CONNECT4_H
#define HL_WORKERS_GAMES_CONNECT4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "helios.h"

#define HL_C4_COLS 7
#define HL_C4_ROWS 6
#define HL_C4_CELLS (HL_C4_COLS * HL_C4_ROWS)
/* Bits per column: six rows and the sentinel. */
#define HL_C4_COL_BITS (HL_C4_ROWS + 1)

struct hl_c4_pos {
	uint64_t cur;   /* the stones of the side to move */
	uint64_t mask;  /* every stone on the board */
	uint32_t plies; /* stones on the board; even: the first player moves */
};

/* The two players: the first moves at ply 0 ('X' in hl_c4_to_string). */
enum hl_c4_side {
	HL_C4_FIRST = 0,
	HL_C4_SECOND = 1,
};

/* What hl_c4_status says about a position. */
enum hl_c4_status {
	HL_C4_ONGOING = 0, /* the side to move has a legal move */
	HL_C4_WON = 1,     /* the side that just moved made four in a row */
	HL_C4_DRAW = 2,    /* the board is full and nobody has four */
};

/* ---- rules ---------------------------------------------------------------- */

/* The empty board: the first player to move. */
void hl_c4_init(struct hl_c4_pos *p);

/* The side to move. */
enum hl_c4_side hl_c4_side_to_move(const struct hl_c4_pos *p);

/* Columns that are not full, as bits 0..6 (bit c: column c). Whether the
 * game is over is hl_c4_status's business: this is about the board only. */
unsigned hl_c4_open_cols(const struct hl_c4_pos *p);

/* Whether column col (0..6) has room for a stone: its top cell is empty.
 * Inline, for loops that replay moves known to be legal but check them. */
static inline bool hl_c4_col_open(const struct hl_c4_pos *p, unsigned col)
{
	return col < HL_C4_COLS &&
	       !(p->mask & (1ull << (HL_C4_COL_BITS * col + HL_C4_ROWS - 1)));
}

/* Legal moves: hl_c4_open_cols while the game is ongoing, else 0. */
unsigned hl_c4_legal(const struct hl_c4_pos *p);

/* Drops a stone of the side to move into column col (0..6). The caller
 * makes sure col is in hl_c4_legal(p): a full column is a programmer error
 * (use hl_c4_play_checked for moves from outside). */
void hl_c4_play(struct hl_c4_pos *p, unsigned col);

/* hl_c4_play for moves from outside: HL_EINVAL for a column past 6,
 * HL_ERANGE for a full column, HL_ENOENT when the game is already over
 * (won or drawn); p is unchanged on an error. */
int hl_c4_play_checked(struct hl_c4_pos *p, unsigned col);

/* True when the side that just moved has four in a row. */
bool hl_c4_last_won(const struct hl_c4_pos *p);

enum hl_c4_status hl_c4_status(const struct hl_c4_pos *p);

/* Columns where the side to move wins at once (bits 0..6), 0 when the game
 * is over. */
unsigned hl_c4_winning_cols(const struct hl_c4_pos *p);

/* Columns where the opponent would win if it were its move: the side to
 * move must play one of them or lose (two or more and it loses anyway). */
unsigned hl_c4_threat_cols(const struct hl_c4_pos *p);

/* ---- encoding: the committed working state --------------------------------
 *
 *   offset  bytes  field
 *        0      8  first player's stones, uint64 little-endian (bits as above)
 *        8      7  occupied mask, bits 0..55 of a uint64 little-endian
 *                  (bits 49..55 zero)
 *       15      1  HL_C4_ENC_TAG
 *
 * The first player's stones, not the side to move's: equal boards encode
 * equally whatever move order reached them, and the side to move is the
 * parity of popcount(mask). The tag makes a zero-filled or foreign state
 * fail to decode instead of reading as the empty board. */
#define HL_C4_ENC_BYTES 16u
#define HL_C4_ENC_TAG 0xc4u

void hl_c4_encode(const struct hl_c4_pos *p, uint8_t out[HL_C4_ENC_BYTES]);

/* Decodes len bytes: HL_EINVAL for a NULL argument, HL_ERANGE for a length
 * other than HL_C4_ENC_BYTES, HL_ECORRUPT for bytes breaking any invariant
 * above (wrong tag, stray bits, a floating stone, wrong counts, an
 * impossible win). *out is written only on success. */
int hl_c4_decode(const void *buf, size_t len, struct hl_c4_pos *out);

/* A 64-bit key that identifies the position: cur + mask + the bottom row.
 * Column by column that is 2^h + (cur's stones there), for a column of
 * height h: its top set bit marks the height and the bits below it are the
 * side to move's stones, so no two positions share a key (and it never
 * carries into the next column, 2^7 - 1 at most). For private hash tables
 * like the baseline's. */
uint64_t hl_c4_key(const struct hl_c4_pos *p);

/* ---- text ----------------------------------------------------------------- */

/* Why hl_c4_parse refused a move string. */
enum hl_c4_parse_why {
	HL_C4_PARSE_OK = 0,
	HL_C4_PARSE_CHAR = 1, /* not a digit 1..7 */
	HL_C4_PARSE_FULL = 2, /* the column is full */
	HL_C4_PARSE_OVER = 3, /* the game was already won or drawn */
};

struct hl_c4_parse_error {
	enum hl_c4_parse_why why;
	size_t index; /* 0-based position of the bad move in the string */
	char move;    /* the character found there */
};

/* Plays a move string of columns '1'..'7' (as the common solvers write
 * them, "4453": column 4, 4, 5, 3) from the empty board. On success *out
 * is the position and returns 0. A bad move returns HL_EINVAL with *err
 * (may be NULL) naming it, so a program can print "bad move '8' at 3";
 * NULL arguments are HL_EINVAL with why HL_C4_PARSE_OK. *out is written
 * only on success. */
int hl_c4_parse(const char *moves, struct hl_c4_pos *out,
		struct hl_c4_parse_error *err);

/* A short English phrase for why: "not a column 1-7", "column full",
 * "game already over". */
const char *hl_c4_parse_why_str(enum hl_c4_parse_why why);

/* The board as six lines of seven cells, top row first, each ending in
 * '\n': 'X' the first player, 'O' the second, '.' empty; NUL-terminated. */
#define HL_C4_STRING_BYTES (HL_C4_ROWS * (HL_C4_COLS + 1) + 1)
void hl_c4_to_string(const struct hl_c4_pos *p, char out[HL_C4_STRING_BYTES]);

/* ---- randomness and rollouts ---------------------------------------------- */

/* xoshiro256** seeded through splitmix64: fast, 256 bits of state, never
 * all-zero. Not for cryptography. */
struct hl_c4_rng {
	uint64_t s[4];
};

void hl_c4_rng_seed(struct hl_c4_rng *r, uint64_t seed);
uint64_t hl_c4_rng_next(struct hl_c4_rng *r);
/* Uniform in [0, n), 1 <= n <= 2^32 - 1 (Lemire's multiply-shift of the
 * top 32 bits: bias below n / 2^32, nothing at the sizes used here). */
uint32_t hl_c4_rng_below(struct hl_c4_rng *r, uint32_t n);

/* Plays uniformly random legal moves from p to the end of the game and
 * returns the result for side pov: +1 a win, -1 a loss, 0 a draw. A
 * finished p returns its result at once. p is not changed. */
int hl_c4_rollout(const struct hl_c4_pos *p, struct hl_c4_rng *r,
		  enum hl_c4_side pov);

#endif /* HL_WORKERS_GAMES_CONNECT4_H */
