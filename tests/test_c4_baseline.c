/*
 * test_c4_baseline.c - the private-memory Connect Four MCTS of
 * bench/c4_baseline.c, as the benchmark and a reader of its numbers rely
 * on:
 *
 *  1. Its graph is consistent after any run (hl_c4_baseline_check: visits
 *     add up over edges, edges link the right positions, the root's visits
 *     are 1 + the playouts), also when the node limit stops its growth.
 *  2. It plays, with UCT and with PUCT: a win in one, a forced block, a
 *     lost position seen as lost, from the empty board the
 *     centre column (which perfect play says is the only winning move),
 *     and on random late positions with exactly one winning move (by the
 *     test solver) that move.
 *  3. Results are what they say: playouts as asked, no visits on full
 *     columns, the same seed the same search, a duration respected.
 *  4. Bad arguments are errors, never crashes.
 */
#include <criterion/criterion.h>
#include <math.h>

#include "testutil.h"
#include "c4_baseline.h"
#include "c4_solver.h"

TestSuite(c4_baseline);

static struct hl_c4_pos pos(const char *moves)
{
	struct hl_c4_pos p;
	cr_assert_eq(hl_c4_parse(moves, &p, NULL), 0, "\"%s\"", moves);
	return p;
}

/* hl_c4_baseline_search with a selection rule. */
static int search_rule(const struct hl_c4_pos *p, uint64_t playouts,
		       uint64_t seed, enum hl_c4_baseline_rule rule,
		       struct hl_c4_baseline_result *r)
{
	struct hl_c4_baseline_opts o = {.seed = seed, .rule = rule};
	struct hl_c4_baseline *b;
	int rc = hl_c4_baseline_new(p, &o, &b);
	if (rc)
		return rc;
	if (!(rc = hl_c4_baseline_run(b, playouts, 0)))
		hl_c4_baseline_result(b, r);
	hl_c4_baseline_free(b);
	return rc;
}

static const enum hl_c4_baseline_rule rules[2] = {HL_C4_BASELINE_UCT,
						  HL_C4_BASELINE_PUCT};
static const char *const rule_names[2] = {"UCT", "PUCT"};

static void run_checked(const char *moves, uint64_t playouts,
			const struct hl_c4_baseline_opts *o,
			struct hl_c4_baseline_result *r)
{
	struct hl_c4_pos p = pos(moves);
	struct hl_c4_baseline *b;
	char msg[256] = "";
	cr_assert_eq(hl_c4_baseline_new(&p, o, &b), 0);
	cr_assert_eq(hl_c4_baseline_run(b, playouts, 0), 0);
	int rc = hl_c4_baseline_check(b, msg, sizeof msg);
	cr_assert_eq(rc, 0, "\"%s\" after %llu playouts: %s", moves,
		     (unsigned long long)playouts, msg);
	hl_c4_baseline_result(b, r);
	hl_c4_baseline_free(b);
	uint64_t sum = 0;
	for (int c = 0; c < HL_C4_COLS; c++)
		sum += r->visits[c];
	cr_assert_eq(r->playouts, playouts);
	if (!r->full)
		cr_assert_eq(sum, playouts, "root edge visits = playouts");
	cr_assert(r->value >= -1 && r->value <= 1);
	if (r->nodes > 1)
		cr_assert(r->best_move >= 1 && r->best_move <= 7);
	else
		cr_assert_eq(r->best_move, 0, "no edges, no best move");
}

Test(c4_baseline, graph_is_consistent_after_a_run)
{
	struct hl_c4_baseline_result r;
	const char *starts[] = {"", "4453", "444444", "34435526"};
	for (size_t i = 0; i < 2 * sizeof starts / sizeof *starts; i++) {
		struct hl_c4_baseline_opts o = {.seed = i, .rule = rules[i & 1]};
		run_checked(starts[i / 2], 20000, &o, &r);
		cr_assert_lt(r.nodes, 20001u, "at most one node per playout");
		cr_assert_gt(r.bytes_per_node, 96.0);
		cr_assert_eq(r.pv[0], '0' + r.best_move, "pv starts with the best move");
	}
	/* ten moves before the end of a drawn game: the search reaches
	 * terminal nodes often */
	run_checked("54712566226127126621574377157631", 20000, NULL, &r);
}

Test(c4_baseline, node_limit_stops_growth_not_the_search)
{
	struct hl_c4_baseline_opts o = {.max_nodes = 50, .seed = 3};
	struct hl_c4_baseline_result r;
	run_checked("", 5000, &o, &r);
	cr_assert_eq(r.full, 1);
	cr_assert_eq(r.nodes, 50u);
	o.max_nodes = 1; /* the root alone: every playout evaluates it */
	run_checked("", 300, &o, &r);
	cr_assert_eq(r.nodes, 1u);
	cr_assert_eq(r.full, 1);
}

Test(c4_baseline, wins_in_one_and_blocks)
{
	for (uint64_t seed = 1; seed <= 10; seed++) {
		struct hl_c4_baseline_result r;
		enum hl_c4_baseline_rule rule = rules[seed & 1];
		const char *name = rule_names[seed & 1];
		struct hl_c4_pos p = pos("121212"); /* X wins in column 1 */
		cr_assert_eq(search_rule(&p, 3000, seed, rule, &r), 0);
		cr_assert_eq(r.best_move, 1, "%s seed %llu: win in one", name,
			     (unsigned long long)seed);
		cr_assert_gt(r.value, 0.5, "a win in one is worth nearly 1: %f", r.value);
		p = pos("12121"); /* O must block column 1 */
		cr_assert_eq(search_rule(&p, 20000, seed, rule, &r), 0);
		cr_assert_eq(r.best_move, 1, "%s seed %llu: forced block", name,
			     (unsigned long long)seed);
		p = pos("33445"); /* X on 3-5 of row 0 threatens 2 and 6 */
		cr_assert_eq(search_rule(&p, 20000, seed, rule, &r), 0);
		cr_assert_lt(r.value, -0.5, "%s: two threats: lost, %f", name, r.value);
	}
}

Test(c4_baseline, prefers_the_centre_from_the_empty_board, .timeout = 60)
{
	for (int i = 0; i < 2; i++) {
		struct hl_c4_baseline_result r;
		struct hl_c4_pos p = pos("");
		cr_assert_eq(search_rule(&p, 200000, 42, rules[i], &r), 0);
		uint64_t sum = 0;
		for (int c = 0; c < HL_C4_COLS; c++)
			sum += r.visits[c];
		cr_assert_eq(r.best_move, 4, "%s: best move %d", rule_names[i], r.best_move);
		cr_assert_gt(r.visits[3], sum / 2, "%s: centre share %llu of %llu",
			     rule_names[i], (unsigned long long)r.visits[3],
			     (unsigned long long)sum);
		cr_assert(r.value > 0 && r.value < 0.5, "%s: first player ahead a little: %f",
			  rule_names[i], r.value);
	}
}

/* Random positions with 12 empty cells that the test solver says the side
 * to move wins by exactly one column, not at once: the search finds it.
 * (Measured before: 100 of 100 such positions at 20000 playouts with
 * 8, 10 and 12 empty cells for UCT, 10 and 12 for PUCT.) */
Test(c4_baseline, finds_the_only_winning_move_late_in_the_game, .timeout = 60)
{
	struct c4s_solver s;
	cr_assert(c4s_solver_init(&s));
	struct hl_c4_rng r;
	hl_c4_rng_seed(&r, 77);
	for (int done = 0; done < 25;) {
		struct hl_c4_pos p;
		struct c4s_board b;
		hl_c4_init(&p);
		c4s_init(&b);
		while (b.plies < 30 && hl_c4_legal(&p)) {
			unsigned open = hl_c4_legal(&p), c;
			do
				c = hl_c4_rng_below(&r, 7);
			while (!(open >> c & 1));
			hl_c4_play(&p, c);
			c4s_play(&b, (int)c);
		}
		if (hl_c4_status(&p) != HL_C4_ONGOING || hl_c4_winning_cols(&p) ||
		    c4s_solve(&s, &b) != 1)
			continue;
		unsigned wins = 0, moves = 0;
		for (int c = 0; c < 7; c++)
			if (c4s_can_play(&b, c)) {
				struct c4s_board ch = b;
				c4s_play(&ch, c);
				moves++;
				wins |= c4s_solve(&s, &ch) == -1 ? 1u << c : 0;
			}
		if (__builtin_popcount(wins) != 1 || moves < 3)
			continue;
		for (int i = 0; i < 2; i++) {
			struct hl_c4_baseline_result res;
			cr_assert_eq(search_rule(&p, 20000, (uint64_t)done, rules[i], &res), 0);
			cr_assert(wins >> (res.best_move - 1) & 1,
				  "%s position %d: best move %d, the only win is column %d",
				  rule_names[i], done, res.best_move, __builtin_ctz(wins) + 1);
			cr_assert_gt(res.value, 0.0, "%s position %d: a won position",
				     rule_names[i], done);
		}
		done++;
	}
	c4s_solver_free(&s);
}

Test(c4_baseline, results_are_what_they_say)
{
	struct hl_c4_baseline_result a, b;
	struct hl_c4_pos p = pos("111111"); /* column 1 full */
	cr_assert_eq(hl_c4_baseline_search(&p, 5000, 0, 9, &a), 0);
	cr_assert_eq(a.visits[0], 0u, "no visits on a full column");
	cr_assert_eq(hl_c4_baseline_search(&p, 5000, 0, 9, &b), 0);
	cr_assert_eq(memcmp(a.visits, b.visits, sizeof a.visits), 0, "same seed, same search");
	cr_assert_eq(a.nodes, b.nodes);
	cr_assert_str_eq(a.pv, b.pv);
	cr_assert_eq(hl_c4_baseline_search(&p, 0, 0.2, 9, &a), 0);
	cr_assert(a.elapsed_s >= 0.19 && a.playouts > 0,
		  "a 0.2 s search ran %f s, %llu playouts", a.elapsed_s,
		  (unsigned long long)a.playouts);
	cr_assert_gt(a.playouts_per_s, 0.0);
}

Test(c4_baseline, bad_arguments_are_errors)
{
	struct hl_c4_baseline_result r;
	struct hl_c4_pos p = pos("4453"), won = pos("1212121");
	struct hl_c4_baseline *b;
	cr_assert_eq(hl_c4_baseline_search(NULL, 10, 0, 1, &r), HL_EINVAL);
	cr_assert_eq(hl_c4_baseline_search(&p, 10, 0, 1, NULL), HL_EINVAL);
	cr_assert_eq(hl_c4_baseline_search(&p, 0, 0, 1, &r), HL_EINVAL, "no limit");
	cr_assert_eq(hl_c4_baseline_search(&p, 0, NAN, 1, &r), HL_EINVAL);
	cr_assert_eq(hl_c4_baseline_search(&won, 10, 0, 1, &r), HL_EINVAL, "game over");
	struct hl_c4_pos bad = {.cur = 2, .mask = 1, .plies = 1};
	cr_assert_eq(hl_c4_baseline_search(&bad, 10, 0, 1, &r), HL_EINVAL, "malformed");
	bad = (struct hl_c4_pos){.cur = 0, .mask = 1, .plies = 5};
	cr_assert_eq(hl_c4_baseline_search(&bad, 10, 0, 1, &r), HL_EINVAL, "wrong plies");
	cr_assert_eq(hl_c4_baseline_new(&p, NULL, NULL), HL_EINVAL);
	struct hl_c4_baseline_opts o = {.rule = (enum hl_c4_baseline_rule)2};
	cr_assert_eq(hl_c4_baseline_new(&p, &o, &b), HL_EINVAL, "no such rule");
	cr_assert_eq(hl_c4_baseline_new(&p, NULL, &b), 0);
	cr_assert_eq(hl_c4_baseline_run(b, 0, -1), HL_EINVAL);
	cr_assert_eq(hl_c4_baseline_check(NULL, NULL, 0), HL_EINVAL);
	hl_c4_baseline_free(b);
	hl_c4_baseline_free(NULL);
}
