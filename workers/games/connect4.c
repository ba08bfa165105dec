/*
 * connect4.c - Connect Four on bitboards: the rules, the committed
 * encoding, the move-string parser, a PRNG and random rollouts.
 *
 * The board layout and the position's invariants are connect4.h's. How the
 * rules use them:
 *
 *  - Playing column c: the new stone is the lowest empty cell of c, which
 *    is (mask + bottom(c)) & column(c): adding 1 at the column's bottom
 *    carries through its stones into the first empty row. Then the side to
 *    move flips: cur ^= mask (before adding the stone) turns "my stones"
 *    into "the opponent's stones", which is the new side to move's. So the
 *    side that just moved owns cur ^ mask.
 *  - Four in a row in a board b, in direction d (1 vertical, 7 horizontal,
 *    6 and 8 the diagonals): m = b & (b >> d) marks the first cell of every
 *    pair, m & (m >> 2d) the first of every four. The sentinel row keeps
 *    lines from wrapping between columns: a vertical pair ending in row 5
 *    meets the always-empty row 6, and a diagonal step of 6 or 8 from row 0
 *    or row 5 lands on a sentinel.
 *  - The game is over when the side that just moved has four (HL_C4_WON)
 *    or all 42 cells are full (HL_C4_DRAW). A position whose last mover
 *    won has no legal moves, so search and rollouts never play past it.
 *
 * Invariants (connect4.h's, as the code here keeps them):
 *  1. cur and mask never have a bit outside the 42 cells: hl_c4_play adds
 *     only drop_cell(), which is inside its column's six rows, and only to
 *     a column whose top row is empty.
 *  2. cur is a subset of mask, and plies == popcount(mask): play flips cur
 *     within the old mask and adds one cell to mask and one to plies.
 *  3. Nothing is played past the end: hl_c4_legal is 0 once the game is
 *     won or drawn, hl_c4_play_checked and hl_c4_parse refuse the move,
 *     and a rollout stops there. So the side to move never has four.
 *  4. Bytes from outside (hl_c4_decode, hl_c4_parse, hl_c4_play_checked)
 *     are validated and refused with an error, never trusted; the
 *     unchecked hl_c4_play is for moves the caller took from hl_c4_legal
 *     (a full column there is a programmer error: hl_assert).
 */
#include <string.h>

#include "connect4.h"
#include "shm.h"

/* Bit (7 * col + row). */
#define BOTTOM_ROW 0x0040810204081ull  /* row 0 of every column */
#define BOARD_CELLS (BOTTOM_ROW * 0x3f) /* rows 0..5 of every column */

_Static_assert(BOTTOM_ROW == ((1ull << 0) | (1ull << 7) | (1ull << 14) |
			      (1ull << 21) | (1ull << 28) | (1ull << 35) |
			      (1ull << 42)),
	       "bottom row: bit 7 * col of each column");
_Static_assert(BOARD_CELLS >> (HL_C4_COLS * HL_C4_COL_BITS) == 0,
	       "the board fits in bits 0..48");
_Static_assert(HL_C4_COLS * HL_C4_COL_BITS <= 56,
	       "the mask fits in the encoding's 7 bytes");
_Static_assert(HL_C4_ENC_BYTES == 8 + 7 + 1, "stones, mask, tag");
_Static_assert(HL_C4_STRING_BYTES == 6 * 8 + 1, "six lines of 7 + newline, NUL");

static inline uint64_t col_cells(unsigned col)
{
	return 0x3full << (HL_C4_COL_BITS * col);
}

static inline uint64_t col_top(unsigned col)
{
	return 1ull << (HL_C4_COL_BITS * col + HL_C4_ROWS - 1);
}

static inline uint64_t col_bottom(unsigned col)
{
	return 1ull << (HL_C4_COL_BITS * col);
}

/* The cell a stone dropped into col lands on (0 when col is full). */
static inline uint64_t drop_cell(uint64_t mask, unsigned col)
{
	return (mask + col_bottom(col)) & col_cells(col);
}

static bool has_four(uint64_t b)
{
	static const unsigned dirs[4] = {1, HL_C4_COL_BITS, HL_C4_COL_BITS - 1,
					 HL_C4_COL_BITS + 1};
	for (unsigned i = 0; i < 4; i++) {
		uint64_t m = b & (b >> dirs[i]);
		if (m & (m >> (2 * dirs[i])))
			return true;
	}
	return false;
}

/* Open columns c (bit c) where adding a stone to b makes four. */
static unsigned completing_cols(uint64_t b, uint64_t mask)
{
	unsigned cols = 0;
	for (unsigned c = 0; c < HL_C4_COLS; c++) {
		uint64_t cell = drop_cell(mask, c);
		if (cell && has_four(b | cell))
			cols |= 1u << c;
	}
	return cols;
}

/* ---- rules ---------------------------------------------------------------- */

void hl_c4_init(struct hl_c4_pos *p)
{
	p->cur = 0;
	p->mask = 0;
	p->plies = 0;
}

enum hl_c4_side hl_c4_side_to_move(const struct hl_c4_pos *p)
{
	return (p->plies & 1) ? HL_C4_SECOND : HL_C4_FIRST;
}

unsigned hl_c4_open_cols(const struct hl_c4_pos *p)
{
	unsigned cols = 0;
	for (unsigned c = 0; c < HL_C4_COLS; c++)
		if (!(p->mask & col_top(c)))
			cols |= 1u << c;
	return cols;
}

bool hl_c4_last_won(const struct hl_c4_pos *p)
{
	return has_four(p->cur ^ p->mask);
}

enum hl_c4_status hl_c4_status(const struct hl_c4_pos *p)
{
	if (hl_c4_last_won(p))
		return HL_C4_WON;
	if (p->plies >= HL_C4_CELLS)
		return HL_C4_DRAW;
	return HL_C4_ONGOING;
}

unsigned hl_c4_legal(const struct hl_c4_pos *p)
{
	return hl_c4_status(p) == HL_C4_ONGOING ? hl_c4_open_cols(p) : 0;
}

void hl_c4_play(struct hl_c4_pos *p, unsigned col)
{
	hl_assert(col < HL_C4_COLS && !(p->mask & col_top(col)));
	uint64_t cell = drop_cell(p->mask, col);
	p->cur ^= p->mask;
	p->mask |= cell;
	p->plies++;
}

int hl_c4_play_checked(struct hl_c4_pos *p, unsigned col)
{
	if (!p || col >= HL_C4_COLS)
		return HL_EINVAL;
	if (hl_c4_status(p) != HL_C4_ONGOING)
		return HL_ENOENT;
	if (p->mask & col_top(col))
		return HL_ERANGE;
	hl_c4_play(p, col);
	return 0;
}

unsigned hl_c4_winning_cols(const struct hl_c4_pos *p)
{
	if (hl_c4_status(p) != HL_C4_ONGOING)
		return 0;
	return completing_cols(p->cur, p->mask);
}

unsigned hl_c4_threat_cols(const struct hl_c4_pos *p)
{
	if (hl_c4_status(p) != HL_C4_ONGOING)
		return 0;
	return completing_cols(p->cur ^ p->mask, p->mask);
}

uint64_t hl_c4_key(const struct hl_c4_pos *p)
{
	return p->cur + p->mask + BOTTOM_ROW;
}

/* ---- encoding ------------------------------------------------------------- */

/* The first player's stones: the side to move's at even plies. */
static uint64_t first_stones(const struct hl_c4_pos *p)
{
	return (p->plies & 1) ? p->cur ^ p->mask : p->cur;
}

static void put_le(uint8_t *out, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *in, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)in[i] << (8 * i);
	return v;
}

void hl_c4_encode(const struct hl_c4_pos *p, uint8_t out[HL_C4_ENC_BYTES])
{
	put_le(out, first_stones(p), 8);
	put_le(out + 8, p->mask, 7);
	out[15] = HL_C4_ENC_TAG;
}

/* Invariant 1: cells only, columns filled from the bottom, x within mask. */
static bool shape_ok(uint64_t x, uint64_t mask)
{
	if ((mask & ~BOARD_CELLS) || (x & ~mask))
		return false;
	for (unsigned c = 0; c < HL_C4_COLS; c++) {
		uint64_t col = (mask >> (HL_C4_COL_BITS * c)) & 0x7f;
		if (col & (col + 1)) /* not of the form 2^h - 1 */
			return false;
	}
	return true;
}

/* Invariant 3 for the side that just moved, owning `last`: a four must run
 * through one of its top stones, without which it has none. */
static bool win_possible(uint64_t last, uint64_t mask)
{
	if (!has_four(last))
		return true;
	for (unsigned c = 0; c < HL_C4_COLS; c++) {
		uint64_t col = mask & col_cells(c);
		if (!col)
			continue;
		uint64_t top = 1ull << (63 - __builtin_clzll(col));
		if ((last & top) && !has_four(last & ~top))
			return true;
	}
	return false;
}

int hl_c4_decode(const void *buf, size_t len, struct hl_c4_pos *out)
{
	if (!buf || !out)
		return HL_EINVAL;
	if (len != HL_C4_ENC_BYTES)
		return HL_ERANGE;
	const uint8_t *in = buf;
	if (in[15] != HL_C4_ENC_TAG)
		return HL_ECORRUPT;
	uint64_t x = get_le(in, 8), mask = get_le(in + 8, 7);
	if (!shape_ok(x, mask))
		return HL_ECORRUPT;
	unsigned plies = (unsigned)__builtin_popcountll(mask);
	unsigned nx = (unsigned)__builtin_popcountll(x), no = plies - nx;
	if (nx != no && nx != no + 1) /* invariant 2 */
		return HL_ECORRUPT;
	uint64_t cur = (plies & 1) ? x ^ mask : x;
	if (has_four(cur) || !win_possible(cur ^ mask, mask))
		return HL_ECORRUPT;
	out->cur = cur;
	out->mask = mask;
	out->plies = plies;
	return 0;
}

/* ---- text ----------------------------------------------------------------- */

static void parse_fail(struct hl_c4_parse_error *err, enum hl_c4_parse_why why,
		       size_t index, char move)
{
	if (!err)
		return;
	err->why = why;
	err->index = index;
	err->move = move;
}

int hl_c4_parse(const char *moves, struct hl_c4_pos *out,
		struct hl_c4_parse_error *err)
{
	parse_fail(err, HL_C4_PARSE_OK, 0, 0);
	if (!moves || !out)
		return HL_EINVAL;
	struct hl_c4_pos p;
	hl_c4_init(&p);
	for (size_t i = 0; moves[i]; i++) {
		char m = moves[i];
		if (m < '1' || m > '7') {
			parse_fail(err, HL_C4_PARSE_CHAR, i, m);
			return HL_EINVAL;
		}
		int rc = hl_c4_play_checked(&p, (unsigned)(m - '1'));
		if (rc) {
			parse_fail(err, rc == HL_ERANGE ? HL_C4_PARSE_FULL
							: HL_C4_PARSE_OVER,
				   i, m);
			return HL_EINVAL;
		}
	}
	*out = p;
	return 0;
}

const char *hl_c4_parse_why_str(enum hl_c4_parse_why why)
{
	switch (why) {
	case HL_C4_PARSE_OK:
		return "no error";
	case HL_C4_PARSE_CHAR:
		return "not a column 1-7";
	case HL_C4_PARSE_FULL:
		return "column full";
	case HL_C4_PARSE_OVER:
		return "game already over";
	}
	return "unknown";
}

void hl_c4_to_string(const struct hl_c4_pos *p, char out[HL_C4_STRING_BYTES])
{
	uint64_t x = first_stones(p);
	char *o = out;
	for (int row = HL_C4_ROWS - 1; row >= 0; row--) {
		for (unsigned c = 0; c < HL_C4_COLS; c++) {
			uint64_t bit = 1ull << (HL_C4_COL_BITS * c + (unsigned)row);
			*o++ = !(p->mask & bit) ? '.' : (x & bit) ? 'X' : 'O';
		}
		*o++ = '\n';
	}
	*o = '\0';
}

/* ---- randomness and rollouts ---------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void hl_c4_rng_seed(struct hl_c4_rng *r, uint64_t seed)
{
	/* Four consecutive splitmix64 outputs are never all zero (it is a
	 * bijection of distinct counter values), so xoshiro never sticks. */
	for (unsigned i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, unsigned k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t hl_c4_rng_next(struct hl_c4_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint32_t hl_c4_rng_below(struct hl_c4_rng *r, uint32_t n)
{
	uint64_t x = hl_c4_rng_next(r) >> 32;
	return (uint32_t)((x * n) >> 32);
}

/* Each move is a uniformly random open column: draw one of the seven and
 * draw again while it is full (rejection sampling is uniform over the
 * open ones, and cheaper than counting them while most columns are open:
 * 1 + full / open draws on average). */
int hl_c4_rollout(const struct hl_c4_pos *start, struct hl_c4_rng *r,
		  enum hl_c4_side pov)
{
	uint64_t cur = start->cur, mask = start->mask;
	uint32_t plies = start->plies;
	for (;;) {
		if (has_four(cur ^ mask)) { /* the side that just moved won */
			enum hl_c4_side mover = (plies & 1) ? HL_C4_FIRST : HL_C4_SECOND;
			return mover == pov ? 1 : -1;
		}
		if (plies >= HL_C4_CELLS)
			return 0;
		unsigned c;
		do
			c = hl_c4_rng_below(r, HL_C4_COLS);
		while (mask & col_top(c));
		cur ^= mask;
		mask |= drop_cell(mask, c);
		plies++;
	}
}
