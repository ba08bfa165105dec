/*
 * test_connect4.c - the Connect Four rules of workers/games/connect4.c, as
 * a search over them relies on:
 *
 *  1. Rules: wins in all four directions, at the board's edges; no line
 *     wraps between columns; full columns; draws; the immediate-win and
 *     forced-block helpers. Random games played move for move in
 *     connect4.c and in tests/c4_solver.h's independent array board agree
 *     at every ply on the legal moves and on who won, and between them end
 *     on every one of the board's 69 lines.
 *  2. The move-string parser names the bad move: its index, its character
 *     and why (not 1-7, column full, game over).
 *  3. The encoding: equal positions reached by different move orders get
 *     equal bytes, decode(encode(p)) == p, and bytes that are no position
 *     (wrong length or tag, stray or floating stones, wrong counts, a four
 *     for the side to move, an impossible win) are refused; random and
 *     bit-flipped bytes never crash, and whatever decodes re-encodes to the
 *     same bytes.
 *  4. Counting: the distinct positions after n = 0..8 plies are OEIS
 *     A212693 (1, 7, 49, 238, 1120, 4263, 16422, 54859, 184275), (a) by
 *     several processes committing every position of a depth-first
 *     expansion into one arena at once, the arena's dedup deciding who
 *     expands what, and the parent restoring and decoding every distinct
 *     id; (b) by a single-process count over the test solver's board and a
 *     plain hash set, no engine.
 *  5. Values: the test solver agrees with a brute-force minimax over
 *     connect4.c's rules on random positions near the end of the game, and
 *     solves positions with 14 empty cells quickly; rollouts return
 *     results for the side asked about.
 */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "testutil.h"
#include "multiproc_util.h"
#include "c4_solver.h"
#include "games/connect4.h"

TestSuite(connect4, .fini = tu_unlink_all);

#define SUITE "connect4"

static struct hl_c4_pos parsed(const char *moves)
{
	struct hl_c4_pos p;
	struct hl_c4_parse_error e;
	int rc = hl_c4_parse(moves, &p, &e);
	cr_assert_eq(rc, 0, "parse \"%s\": %s '%c' at %zu", moves,
		     hl_c4_parse_why_str(e.why), e.move, e.index);
	return p;
}

static void assert_won_after(const char *moves)
{
	size_t n = strlen(moves);
	char prefix[64];
	cr_assert_lt(n, sizeof prefix);
	memcpy(prefix, moves, n - 1);
	prefix[n - 1] = '\0';
	struct hl_c4_pos before = parsed(prefix), after = parsed(moves);
	cr_assert_eq(hl_c4_status(&before), HL_C4_ONGOING, "\"%s\"", prefix);
	unsigned last = (unsigned)(moves[n - 1] - '1');
	cr_assert(hl_c4_winning_cols(&before) & (1u << last),
		  "\"%s\": column %u wins at once", prefix, last + 1);
	cr_assert_eq(hl_c4_status(&after), HL_C4_WON, "\"%s\" is won", moves);
	cr_assert(hl_c4_last_won(&after));
	cr_assert_eq(hl_c4_legal(&after), 0u, "no moves after a win");
	struct c4s_board b;
	c4s_init(&b);
	cr_assert(c4s_play_string(&b, moves));
	cr_assert(b.over_won, "the solver's board agrees \"%s\" is won", moves);
}

/* ---- 1. rules ------------------------------------------------------------- */

Test(connect4, empty_board)
{
	struct hl_c4_pos p = parsed("");
	cr_assert_eq(p.plies, 0u);
	cr_assert_eq(hl_c4_side_to_move(&p), HL_C4_FIRST);
	cr_assert_eq(hl_c4_legal(&p), 0x7fu);
	cr_assert_eq(hl_c4_status(&p), HL_C4_ONGOING);
	cr_assert_eq(hl_c4_winning_cols(&p), 0u);
	char s[HL_C4_STRING_BYTES];
	hl_c4_to_string(&p, s);
	cr_assert_str_eq(s, ".......\n.......\n.......\n.......\n.......\n.......\n");
	p = parsed("4453");
	hl_c4_to_string(&p, s);
	cr_assert_str_eq(s, ".......\n.......\n.......\n.......\n...O...\n..OXX..\n");
	cr_assert_eq(hl_c4_side_to_move(&p), HL_C4_FIRST);
}

Test(connect4, wins_in_four_directions_at_edges)
{
	assert_won_after("1212121");      /* vertical, left edge, bottom */
	assert_won_after("17177171727");  /* vertical, right edge, top row */
	assert_won_after("4455667");      /* horizontal, bottom row, right edge */
	assert_won_after("12233434544");  /* diagonal /, from the bottom-left */
	assert_won_after("76655454344");  /* diagonal \, from the bottom-right */
	/* horizontal on the top row, columns 1-4 (a random game that ended
	 * there, found once and kept) */
	assert_won_after("356252432627141454714733422663763155151");
}

Test(connect4, lines_do_not_wrap_between_columns)
{
	/* X on rows 4-5 of column 1 and rows 0-1 of column 2: without the
	 * sentinel row these would be four consecutive bits */
	struct hl_c4_pos p = parsed("212111151");
	char s[HL_C4_STRING_BYTES];
	hl_c4_to_string(&p, s);
	cr_assert_str_eq(s, "X......\nX......\nO......\nX......\nOX.....\nOX..O..\n");
	cr_assert_eq(hl_c4_status(&p), HL_C4_ONGOING, "%s", s);
	cr_assert_eq(hl_c4_winning_cols(&p), 0u, "%s", s);
}

Test(connect4, full_column_and_forced_block)
{
	struct hl_c4_pos p = parsed("121212");
	cr_assert_eq(hl_c4_winning_cols(&p), 1u, "X wins in column 1");
	p = parsed("12121");
	cr_assert_eq(hl_c4_threat_cols(&p), 1u, "O must block column 1");
	cr_assert_eq(hl_c4_winning_cols(&p), 0u);
	p = parsed("111222");
	cr_assert_eq(hl_c4_open_cols(&p), 0x7fu);
	p = parsed("111111");
	cr_assert_eq(hl_c4_legal(&p), 0x7eu, "column 1 full");
	struct hl_c4_pos q = p;
	cr_assert_eq(hl_c4_play_checked(&q, 0), HL_ERANGE);
	cr_assert_eq(hl_c4_play_checked(&q, 7), HL_EINVAL);
	cr_assert(q.cur == p.cur && q.mask == p.mask && q.plies == p.plies,
		  "unchanged on an error");
	cr_assert_eq(hl_c4_play_checked(&q, 1), 0);
	cr_assert_eq(q.plies, 7u);
}

/* A drawn game (a random game that filled the board, found once and kept;
 * checked move by move by the solver's board too). */
static const char *const drawn = "547125662261271266215743771576315353334444";

Test(connect4, draw_on_full_board)
{
	struct c4s_board b;
	c4s_init(&b);
	cr_assert(c4s_play_string(&b, drawn), "the solver's board plays it");
	cr_assert_not(b.over_won);
	struct hl_c4_pos p = parsed(drawn);
	cr_assert_eq(p.plies, 42u);
	cr_assert_eq(hl_c4_status(&p), HL_C4_DRAW);
	cr_assert_eq(hl_c4_legal(&p), 0u);
	cr_assert_eq(hl_c4_open_cols(&p), 0u);
	struct hl_c4_rng r;
	hl_c4_rng_seed(&r, 1);
	cr_assert_eq(hl_c4_rollout(&p, &r, HL_C4_FIRST), 0);
	cr_assert_eq(hl_c4_play_checked(&p, 3), HL_ENOENT);
}

/* The 69 lines of four, as cell lists for the solver's board. */
struct line {
	int c[4], r[4];
};

static int all_lines(struct line *out)
{
	static const int d[4][2] = {{1, 0}, {0, 1}, {1, 1}, {1, -1}};
	int n = 0;
	for (int c = 0; c < 7; c++)
		for (int r = 0; r < 6; r++)
			for (int k = 0; k < 4; k++) {
				int ec = c + 3 * d[k][0], er = r + 3 * d[k][1];
				if (ec < 0 || ec > 6 || er < 0 || er > 5)
					continue;
				for (int i = 0; i < 4; i++) {
					out[n].c[i] = c + i * d[k][0];
					out[n].r[i] = r + i * d[k][1];
				}
				n++;
			}
	return n;
}

Test(connect4, random_games_agree_with_independent_board)
{
	struct line lines[80];
	bool seen[80] = {false};
	int nlines = all_lines(lines);
	cr_assert_eq(nlines, 69);
	struct hl_c4_rng r;
	hl_c4_rng_seed(&r, 20261201);
	int draws = 0;
	for (int g = 0; g < 30000; g++) {
		struct hl_c4_pos p;
		struct c4s_board b;
		hl_c4_init(&p);
		c4s_init(&b);
		for (;;) {
			unsigned legal = 0, wins = 0;
			for (int c = 0; c < 7; c++)
				if (c4s_can_play(&b, c)) {
					legal |= 1u << c;
					wins |= c4s_wins_at(&b, c) ? 1u << c : 0;
				}
			cr_assert_eq(hl_c4_legal(&p), legal, "game %d ply %d", g, b.plies);
			cr_assert_eq(hl_c4_winning_cols(&p), wins, "game %d ply %d", g, b.plies);
			cr_assert_eq(hl_c4_last_won(&p), b.over_won, "game %d ply %d", g, b.plies);
			if (!legal)
				break;
			unsigned k = hl_c4_rng_below(&r, (uint32_t)__builtin_popcount(legal));
			unsigned c = 0;
			for (unsigned left = k;; c++)
				if ((legal >> c & 1) && left-- == 0)
					break;
			hl_c4_play(&p, c);
			c4s_play(&b, (int)c);
		}
		if (!b.over_won) {
			draws++;
			cr_assert_eq(hl_c4_status(&p), HL_C4_DRAW);
			continue;
		}
		int who = 3 - c4s_turn(&b);
		for (int i = 0; i < nlines; i++) {
			int k = 0;
			while (k < 4 && b.cell[lines[i].c[k]][lines[i].r[k]] == who)
				k++;
			seen[i] |= k == 4;
		}
	}
	for (int i = 0; i < nlines; i++)
		cr_assert(seen[i], "line %d (from col %d row %d to col %d row %d) never won",
			  i, lines[i].c[0], lines[i].r[0], lines[i].c[3], lines[i].r[3]);
	cr_assert_gt(draws, 0, "random games draw now and then");
}

/* ---- 2. the parser -------------------------------------------------------- */

static void assert_bad(const char *moves, enum hl_c4_parse_why why,
		       size_t index, char move)
{
	struct hl_c4_pos p = {.cur = 1, .mask = 1, .plies = 77};
	struct hl_c4_parse_error e;
	cr_assert_eq(hl_c4_parse(moves, &p, &e), HL_EINVAL, "\"%s\"", moves);
	cr_assert_eq(e.why, why, "\"%s\": why %d (%s)", moves, e.why,
		     hl_c4_parse_why_str(e.why));
	cr_assert_eq(e.index, index, "\"%s\": index %zu", moves, e.index);
	cr_assert_eq(e.move, move, "\"%s\": move '%c'", moves, e.move);
	cr_assert_eq(p.plies, 77u, "*out untouched on an error");
}

Test(connect4, parser_names_the_bad_move)
{
	assert_bad("4458", HL_C4_PARSE_CHAR, 3, '8');
	assert_bad("0", HL_C4_PARSE_CHAR, 0, '0');
	assert_bad("44 5", HL_C4_PARSE_CHAR, 2, ' ');
	assert_bad("4a", HL_C4_PARSE_CHAR, 1, 'a');
	assert_bad("1111111", HL_C4_PARSE_FULL, 6, '1');
	assert_bad("12121212", HL_C4_PARSE_OVER, 7, '2'); /* X won at ply 7 */
	assert_bad("12121211", HL_C4_PARSE_OVER, 7, '1'); /* over before full */
	assert_bad("1212121x", HL_C4_PARSE_CHAR, 7, 'x'); /* not a move at all */
	char buf[64];
	snprintf(buf, sizeof buf, "%s4", drawn);
	assert_bad(buf, HL_C4_PARSE_OVER, 42, '4');
	struct hl_c4_pos p;
	cr_assert_eq(hl_c4_parse(NULL, &p, NULL), HL_EINVAL);
	cr_assert_eq(hl_c4_parse("4", NULL, NULL), HL_EINVAL);
	cr_assert_eq(hl_c4_parse("4453", &p, NULL), 0);
	cr_assert_str_eq(hl_c4_parse_why_str(HL_C4_PARSE_FULL), "column full");
}

/* ---- 3. the encoding ------------------------------------------------------ */

static void enc(const char *moves, uint8_t out[HL_C4_ENC_BYTES])
{
	struct hl_c4_pos p = parsed(moves);
	hl_c4_encode(&p, out);
}

Test(connect4, encoding_is_canonical_and_round_trips)
{
	uint8_t a[16], b[16];
	enc("4453", a);
	enc("4354", b);
	cr_assert_eq(memcmp(a, b, 16), 0, "two move orders, one position");
	enc("4435", b);
	cr_assert_neq(memcmp(a, b, 16), 0, "another position");
	enc("", a);
	cr_assert_eq(a[15], HL_C4_ENC_TAG);
	struct hl_c4_rng r;
	hl_c4_rng_seed(&r, 7);
	for (int g = 0; g < 2000; g++) {
		struct hl_c4_pos p, q;
		hl_c4_init(&p);
		while (hl_c4_legal(&p)) {
			uint8_t e[16];
			hl_c4_encode(&p, e);
			cr_assert_eq(hl_c4_decode(e, 16, &q), 0, "game %d ply %u", g, p.plies);
			cr_assert(q.cur == p.cur && q.mask == p.mask && q.plies == p.plies);
			cr_assert_eq(hl_c4_key(&q), hl_c4_key(&p));
			unsigned open = hl_c4_legal(&p), c;
			do
				c = hl_c4_rng_below(&r, 7);
			while (!(open >> c & 1));
			hl_c4_play(&p, c);
		}
		uint8_t e[16]; /* the finished game too: won or drawn */
		hl_c4_encode(&p, e);
		cr_assert_eq(hl_c4_decode(e, 16, &q), 0, "final position of game %d", g);
		cr_assert_eq(hl_c4_status(&q), hl_c4_status(&p));
	}
}

static void put64(uint8_t *b, uint64_t x, uint64_t mask)
{
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(x >> (8 * i));
	for (int i = 0; i < 7; i++)
		b[8 + i] = (uint8_t)(mask >> (8 * i));
	b[15] = HL_C4_ENC_TAG;
}

static int dec(uint64_t x, uint64_t mask)
{
	uint8_t b[16];
	struct hl_c4_pos p;
	put64(b, x, mask);
	return hl_c4_decode(b, 16, &p);
}

#define CELL(c, r) (1ull << (7 * (c) + (r)))

Test(connect4, decode_refuses_bad_encodings)
{
	uint8_t b[17] = {0};
	struct hl_c4_pos p;
	enc("4453", b);
	cr_assert_eq(hl_c4_decode(b, 15, &p), HL_ERANGE);
	cr_assert_eq(hl_c4_decode(b, 17, &p), HL_ERANGE);
	cr_assert_eq(hl_c4_decode(NULL, 16, &p), HL_EINVAL);
	cr_assert_eq(hl_c4_decode(b, 16, NULL), HL_EINVAL);
	b[15] = 0;
	cr_assert_eq(hl_c4_decode(b, 16, &p), HL_ECORRUPT, "wrong tag");
	memset(b, 0, 16);
	cr_assert_eq(hl_c4_decode(b, 16, &p), HL_ECORRUPT, "zero bytes");
	cr_assert_eq(dec(0, 0), 0, "the empty board");
	cr_assert_eq(dec(CELL(0, 0), CELL(0, 0)), 0, "one X stone");
	cr_assert_eq(dec(0, CELL(0, 0)), HL_ECORRUPT, "O moved first");
	cr_assert_eq(dec(CELL(0, 0), CELL(0, 0) | CELL(0, 6)), HL_ECORRUPT,
		     "sentinel bit");
	cr_assert_eq(dec(CELL(0, 0), CELL(0, 0) | (1ull << 50)), HL_ECORRUPT,
		     "a bit past the board");
	cr_assert_eq(dec(CELL(0, 1), CELL(0, 1)), HL_ECORRUPT, "floating stone");
	cr_assert_eq(dec(CELL(1, 0), CELL(0, 0)), HL_ECORRUPT, "X outside mask");
	cr_assert_eq(dec(CELL(0, 0) | CELL(1, 0), CELL(0, 0) | CELL(1, 0)),
		     HL_ECORRUPT, "two X, no O");
	/* X four on row 0 (cols 0-3), O three on row 1: X just moved and won */
	uint64_t x4 = CELL(0, 0) | CELL(1, 0) | CELL(2, 0) | CELL(3, 0);
	uint64_t o3 = CELL(0, 1) | CELL(1, 1) | CELL(2, 1);
	cr_assert_eq(dec(x4, x4 | o3), 0, "a won position");
	/* X four and O four: equal counts, so X is to move with four */
	uint64_t o4 = o3 | CELL(3, 1);
	cr_assert_eq(dec(x4, x4 | o4), HL_ECORRUPT, "both have four");
	/* O to move... X has four with 4 vs 4 stones: X did not move last */
	uint64_t o4b = CELL(4, 0) | CELL(5, 0) | CELL(6, 0) | CELL(0, 1);
	cr_assert_eq(dec(x4, x4 | o4b), HL_ECORRUPT, "four for the side to move");
	/* X with two separate fours (columns 1 and 7, rows 0-3), O on columns
	 * 2-4 without one: no single last stone made both */
	uint64_t x8 = 0, o7 = CELL(3, 0);
	for (int r = 0; r < 4; r++)
		x8 |= CELL(0, r) | CELL(6, r);
	for (int r = 0; r < 3; r++)
		o7 |= CELL(1, r) | CELL(2, r);
	cr_assert_eq(dec(x8, x8 | o7), HL_ECORRUPT, "two disjoint fours");
}

Test(connect4, decode_never_crashes_on_random_or_flipped_bytes)
{
	struct tu_rng r;
	tu_rng_seed(&r, 99);
	int accepted = 0;
	for (int i = 0; i < 200000; i++) {
		uint8_t b[16], e[16];
		struct hl_c4_pos p;
		tu_rng_fill(&r, b, 16);
		if (i & 1) { /* a valid encoding with one bit flipped */
			struct hl_c4_pos v;
			hl_c4_init(&v);
			for (int k = (int)tu_rng_below(&r, 30); k > 0 && hl_c4_legal(&v); k--) {
				unsigned open = hl_c4_legal(&v), c;
				do
					c = (unsigned)tu_rng_below(&r, 7);
				while (!(open >> c & 1));
				hl_c4_play(&v, c);
			}
			hl_c4_encode(&v, b);
			unsigned bit = (unsigned)tu_rng_below(&r, 128);
			b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		} else {
			b[15] = HL_C4_ENC_TAG;
		}
		if (hl_c4_decode(b, 16, &p) != 0)
			continue;
		accepted++;
		hl_c4_encode(&p, e);
		cr_assert_eq(memcmp(b, e, 16), 0, "decode is the inverse of encode");
		cr_assert_eq((unsigned)__builtin_popcountll(p.mask), p.plies);
	}
	cr_assert_gt(accepted, 0, "some flipped encodings are positions too");
}

/* ---- 4. counting positions: OEIS A212693 ------------------------------------ */

#define COUNT_PLIES 8
static const uint64_t a212693[COUNT_PLIES + 1] = {1, 7, 49, 238, 1120, 4263,
						  16422, 54859, 184275};

#define COUNT_PROCS 4
#define COUNT_IDS_MAX 400000u /* per process; all 261234 positions fit */

/* Shared with the children: a start line, each child's report, and the
 * ids of the positions whose commit added nodes to the arena. */
struct count_page {
	_Atomic uint32_t attached;
	struct child_report rep[COUNT_PROCS];
	_Atomic uint64_t n_ids[COUNT_PROCS];
	uint64_t commits[COUNT_PROCS];
};

struct count_ctx {
	struct count_page *page;
	hl_id *ids[COUNT_PROCS];
};

struct count_walk {
	hl_state *s;
	hl_id *ids;
	uint64_t n_ids, commits;
	unsigned order[7];
};

/* Commits p; expands it only if this commit added nodes (the empty board
 * excepted: every process expands it, each in its own column order, so
 * they fan out over different subtrees instead of all stopping behind
 * whoever committed it first). Some process adds each position's root
 * node, and that one expands it, so every position up to COUNT_PLIES is
 * reached; two processes racing on one position may both add a node and
 * both expand it, which the parent's union of ids absorbs. */
static int count_dfs(struct count_walk *w, const struct hl_c4_pos *p)
{
	uint8_t e[HL_C4_ENC_BYTES];
	hl_commit_info info;
	hl_id id;
	hl_c4_encode(p, e);
	int rc = hl_state_write(w->s, 0, e, sizeof e);
	if (!rc)
		rc = hl_commit(w->s, &id, &info);
	if (rc)
		return rc;
	w->commits++;
	if (info.new_nodes) {
		if (w->n_ids >= COUNT_IDS_MAX)
			return HL_EFULL;
		w->ids[w->n_ids++] = id;
	} else if (p->plies > 0) {
		return 0; /* its creator expands it */
	}
	if (p->plies == COUNT_PLIES)
		return 0;
	unsigned legal = hl_c4_legal(p); /* 0 once the last move won */
	for (unsigned i = 0; i < 7; i++)
		if (legal >> w->order[i] & 1) {
			struct hl_c4_pos q = *p;
			hl_c4_play(&q, w->order[i]);
			if ((rc = count_dfs(w, &q)))
				return rc;
		}
	return 0;
}

static int count_child(const char *name, void *vctx, int idx)
{
	struct count_ctx *cx = vctx;
	struct count_page *pg = cx->page;
	struct child_report *rep = &pg->rep[idx];
	struct count_walk w = {.ids = cx->ids[idx]};
	hl_arena *a;
	int rc = hl_arena_attach(name, 0, &a);
	if (rc)
		CHILD_FAIL(rep, 1, rc);
	if ((rc = hl_state_new(a, &w.s)) || (rc = hl_state_resize(w.s, HL_C4_ENC_BYTES)))
		CHILD_FAIL(rep, 2, rc);
	for (unsigned i = 0; i < 7; i++) /* each process its own order */
		w.order[i] = (idx & 1) ? (7 - 1 - i + 2 * (unsigned)idx) % 7
				       : (i + 2 * (unsigned)idx) % 7;
	atomic_fetch_add(&pg->attached, 1);
	uint64_t deadline = tu_now_ns() + 30ull * 1000000000;
	while (atomic_load(&pg->attached) < COUNT_PROCS && tu_now_ns() < deadline)
		sched_yield();
	struct hl_c4_pos root;
	hl_c4_init(&root);
	if ((rc = count_dfs(&w, &root)))
		CHILD_FAIL(rep, 3, rc);
	pg->commits[idx] = w.commits;
	atomic_store(&pg->n_ids[idx], w.n_ids);
	hl_state_free(w.s);
	hl_arena_close(a);
	return 0;
}

/* A set of ids: open addressing on the id's low word (ids are XXH3
 * hashes); the zero id (the empty state) never occurs here. */
struct id_set {
	hl_id *slot;
	uint64_t mask, n;
};

static bool id_set_add(struct id_set *set, hl_id id)
{
	for (uint64_t i = id.lo & set->mask;; i = (i + 1) & set->mask) {
		if (hl_id_eq(set->slot[i], id))
			return false;
		if (hl_id_is_zero(set->slot[i])) {
			set->slot[i] = id;
			set->n++;
			return true;
		}
	}
}

/* The nodes one new position adds to the arena (its leaf and root). */
static uint64_t nodes_per_position(hl_arena *a, hl_state *s)
{
	struct hl_c4_pos p = parsed("444444555"); /* 9 plies: never counted */
	uint8_t e[HL_C4_ENC_BYTES];
	hl_stats before, after;
	hl_id id;
	hl_c4_encode(&p, e);
	cr_assert_eq(hl_arena_stats(a, &before), 0);
	cr_assert_eq(hl_state_write(s, 0, e, sizeof e), 0);
	cr_assert_eq(hl_commit(s, &id, NULL), 0);
	cr_assert_eq(hl_arena_stats(a, &after), 0);
	return after.nodes - before.nodes;
}

Test(connect4, a212693_by_processes_committing_into_one_arena, .timeout = 120)
{
	hl_config cfg;
	tu_config_small(&cfg, 256ull << 20, 64);
	cfg.index_capacity = 1u << 21;
	const char *name = tu_arena_name(SUITE);
	hl_arena *a = tu_arena_create_cfg(name, &cfg);
	struct count_ctx cx = {.page = tu_shared_map(sizeof *cx.page)};
	size_t ids_bytes = COUNT_IDS_MAX * sizeof(hl_id);
	for (int i = 0; i < COUNT_PROCS; i++)
		cx.ids[i] = tu_shared_map(ids_bytes);
	pid_t pid[COUNT_PROCS];
	for (int i = 0; i < COUNT_PROCS; i++)
		pid[i] = spawn(count_child, name, &cx, i);
	for (int i = 0; i < COUNT_PROCS; i++)
		reap_ok(pid[i], "counting child", i, &cx.page->rep[i]);

	/* the union of what the children added, each id restored and decoded */
	struct id_set set = {.slot = calloc(1u << 20, sizeof(hl_id)),
			     .mask = (1u << 20) - 1};
	cr_assert_not_null(set.slot);
	uint64_t found[COUNT_PLIES + 1] = {0}, reported = 0, commits = 0;
	int workers_adding = 0;
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	for (int i = 0; i < COUNT_PROCS; i++) {
		uint64_t n = atomic_load(&cx.page->n_ids[i]);
		reported += n;
		commits += cx.page->commits[i];
		workers_adding += n > 0;
		cr_log_info("child %d: %llu commits, %llu positions added", i,
			    (unsigned long long)cx.page->commits[i], (unsigned long long)n);
		for (uint64_t k = 0; k < n; k++) {
			if (!id_set_add(&set, cx.ids[i][k]))
				continue;
			uint8_t e[HL_C4_ENC_BYTES];
			struct hl_c4_pos p;
			cr_assert_eq(hl_restore(s, cx.ids[i][k]), 0);
			cr_assert_eq(hl_state_size(s), (uint64_t)HL_C4_ENC_BYTES);
			cr_assert_eq(hl_state_read(s, 0, e, sizeof e), 0);
			cr_assert_eq(hl_c4_decode(e, sizeof e, &p), 0, "a committed position decodes");
			cr_assert_leq(p.plies, COUNT_PLIES);
			found[p.plies]++;
		}
	}
	for (int n = 0; n <= COUNT_PLIES; n++)
		cr_expect_eq(found[n], a212693[n], "after %d plies: %llu distinct positions, A212693 says %llu",
			     n, (unsigned long long)found[n], (unsigned long long)a212693[n]);
	cr_assert_geq(workers_adding, 2, "the processes shared the work");
	/* the arena holds exactly these positions: nothing else, no copies */
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	uint64_t k = nodes_per_position(a, s);
	cr_assert_eq(st.nodes, k * set.n, "%llu nodes for %llu positions of %llu nodes each",
		     (unsigned long long)st.nodes, (unsigned long long)set.n,
		     (unsigned long long)k);
	cr_log_info("%llu positions, %llu reported (races), %llu commits",
		    (unsigned long long)set.n, (unsigned long long)reported,
		    (unsigned long long)commits);
	tu_assert_arena_ok(a, "after the count");
	free(set.slot);
	hl_state_free(s);
	for (int i = 0; i < COUNT_PROCS; i++)
		tu_shared_unmap(cx.ids[i], ids_bytes);
	tu_shared_unmap(cx.page, sizeof *cx.page);
	hl_arena_close(a);
}

/* The same count with the test solver's board and a plain hash set of its
 * keys, level by level: no engine, no bitboards. */
struct key_set {
	struct c4s_key *slot;
	bool *used;
	uint64_t mask;
};

static bool key_set_add(struct key_set *set, struct c4s_key k)
{
	for (uint64_t i = c4s_key_hash(k) & set->mask;; i = (i + 1) & set->mask) {
		if (!set->used[i]) {
			set->used[i] = true;
			set->slot[i] = k;
			return true;
		}
		if (set->slot[i].first == k.first && set->slot[i].second == k.second)
			return false;
	}
}

Test(connect4, a212693_by_an_independent_count)
{
	const uint64_t cap = 1u << 19, max_level = 200000;
	struct key_set set = {.slot = calloc(cap, sizeof(struct c4s_key)),
			      .used = calloc(cap, 1), .mask = cap - 1};
	struct c4s_board *level = malloc(max_level * sizeof *level);
	struct c4s_board *next = malloc(max_level * sizeof *next);
	cr_assert(set.slot && set.used && level && next);
	uint64_t n = 1, n_next;
	c4s_init(&level[0]);
	cr_assert_eq(n, a212693[0]);
	for (int ply = 1; ply <= COUNT_PLIES; ply++, n = n_next) {
		memset(set.used, 0, cap); /* positions of one ply only meet their own */
		n_next = 0;
		for (uint64_t i = 0; i < n; i++)
			for (int c = 0; c < 7; c++) {
				if (!c4s_can_play(&level[i], c))
					continue;
				struct c4s_board b = level[i];
				c4s_play(&b, c);
				if (!key_set_add(&set, c4s_key_of(&b)))
					continue;
				cr_assert_lt(n_next, max_level);
				next[n_next++] = b;
			}
		cr_expect_eq(n_next, a212693[ply], "after %d plies: %llu, A212693 says %llu",
			     ply, (unsigned long long)n_next, (unsigned long long)a212693[ply]);
		struct c4s_board *t = level;
		level = next;
		next = t;
	}
	free(set.slot);
	free(set.used);
	free(level);
	free(next);
}

/* ---- 5. values and rollouts ----------------------------------------------- */

/* Plain minimax over connect4.c's rules: no pruning, no table. */
static int minimax(const struct hl_c4_pos *p)
{
	switch (hl_c4_status(p)) {
	case HL_C4_WON:
		return -1;
	case HL_C4_DRAW:
		return 0;
	case HL_C4_ONGOING:
		break;
	}
	int best = -1;
	unsigned legal = hl_c4_legal(p);
	for (unsigned c = 0; c < 7 && best < 1; c++)
		if (legal >> c & 1) {
			struct hl_c4_pos q = *p;
			hl_c4_play(&q, c);
			int v = -minimax(&q);
			best = v > best ? v : best;
		}
	return best;
}

/* A random unfinished position with `empty` empty cells, played into both
 * boards; false if the random game ended first. */
static bool random_late_position(struct hl_c4_rng *r, int empty,
				 struct hl_c4_pos *p, struct c4s_board *b)
{
	hl_c4_init(p);
	c4s_init(b);
	while (b->plies < 42 - empty) {
		unsigned open = hl_c4_legal(p), c;
		if (!open)
			return false;
		do
			c = hl_c4_rng_below(r, 7);
		while (!(open >> c & 1));
		hl_c4_play(p, c);
		c4s_play(b, (int)c);
	}
	return hl_c4_status(p) == HL_C4_ONGOING;
}

Test(connect4, solver_agrees_with_minimax_over_the_rules)
{
	struct c4s_solver s;
	cr_assert(c4s_solver_init(&s));
	struct hl_c4_rng r;
	hl_c4_rng_seed(&r, 4242);
	int counts[3] = {0, 0, 0}, done = 0;
	while (done < 300) {
		struct hl_c4_pos p;
		struct c4s_board b;
		int empty = 6 + (int)hl_c4_rng_below(&r, 5); /* 6..10 */
		if (!random_late_position(&r, empty, &p, &b))
			continue;
		int want = minimax(&p), got = c4s_solve(&s, &b);
		cr_assert_eq(got, want, "position %d (%d empty): solver %d, minimax %d",
			     done, empty, got, want);
		counts[want + 1]++;
		done++;
	}
	cr_assert(counts[0] && counts[1] && counts[2],
		  "losses %d, draws %d, wins %d: every value seen", counts[0],
		  counts[1], counts[2]);
	c4s_solver_free(&s);
}

Test(connect4, solver_is_fast_and_consistent_with_14_empty)
{
	struct c4s_solver s;
	cr_assert(c4s_solver_init(&s));
	struct hl_c4_rng r;
	hl_c4_rng_seed(&r, 314);
	uint64_t t0 = tu_now_ns();
	for (int done = 0; done < 40;) {
		struct hl_c4_pos p;
		struct c4s_board b;
		if (!random_late_position(&r, 14, &p, &b))
			continue;
		int v = c4s_solve(&s, &b), best = -1;
		for (int c = 0; c < 7; c++)
			if (c4s_can_play(&b, c)) {
				struct c4s_board ch = b;
				c4s_play(&ch, c);
				int cv = -c4s_solve(&s, &ch);
				best = cv > best ? cv : best;
			}
		cr_assert_eq(v, best, "value = best child's, position %d", done);
		if (hl_c4_winning_cols(&p))
			cr_assert_eq(v, 1, "a win in one is a win");
		done++;
	}
	uint64_t ms = (tu_now_ns() - t0) / 1000000;
	cr_assert_lt(ms, 20000u, "40 positions x 8 solves took %llu ms",
		     (unsigned long long)ms);
	c4s_solver_free(&s);
}

Test(connect4, rollouts_answer_for_the_side_asked)
{
	struct hl_c4_rng r;
	hl_c4_rng_seed(&r, 5);
	struct hl_c4_pos won = parsed("1212121"); /* X won */
	cr_assert_eq(hl_c4_rollout(&won, &r, HL_C4_FIRST), 1);
	cr_assert_eq(hl_c4_rollout(&won, &r, HL_C4_SECOND), -1);
	struct hl_c4_pos p = parsed("");
	long sum = 0;
	for (int i = 0; i < 20000; i++) {
		struct hl_c4_rng a = r, b = r;
		int x = hl_c4_rollout(&p, &a, HL_C4_FIRST);
		cr_assert_eq(hl_c4_rollout(&p, &b, HL_C4_SECOND), -x,
			     "the same game, the other side's view");
		r = a;
		sum += x;
	}
	/* random play favours the first player, about 0.11 on average */
	double mean = (double)sum / 20000;
	cr_assert(mean > 0.05 && mean < 0.18, "mean result %.3f", mean);
	cr_assert_eq(p.plies, 0u, "the start position is not changed");
}

Test(connect4, rng_is_deterministic_and_uniform)
{
	struct hl_c4_rng a, b;
	hl_c4_rng_seed(&a, 1);
	hl_c4_rng_seed(&b, 1);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(hl_c4_rng_next(&a), hl_c4_rng_next(&b));
	hl_c4_rng_seed(&b, 2);
	cr_assert_neq(hl_c4_rng_next(&a), hl_c4_rng_next(&b));
	unsigned n[7] = {0};
	for (int i = 0; i < 70000; i++)
		n[hl_c4_rng_below(&a, 7)]++;
	for (int c = 0; c < 7; c++)
		cr_assert(n[c] > 9500 && n[c] < 10500, "bucket %d: %u", c, n[c]);
}
