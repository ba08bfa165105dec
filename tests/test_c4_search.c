/*
 * test_c4_search.c - Connect Four on the shared search graph, with real
 * worker processes on one arena (hl_c4_search_work in forked children):
 *
 *  1. Proofs: from random positions with few moves left, every result the
 *     search proves, on every record reachable from the root, equals the
 *     exact value of the independent solver (tests/c4_solver.h, shares no
 *     code with the engine). No wrong proof, ever.
 *  2. Tactics: a win in one, a forced block, a win in three: the shared
 *     search with 2 and 4 workers picks the right column. Budgets are
 *     generous (the win is proven long before them), so the test is
 *     reliable, not lucky.
 *  3. The summary agrees with the graph: per-column visits add up to the
 *     root's visits less its own evaluation, the playouts are counted.
 */
#include "testutil.h"

#include <sys/wait.h>

#include "c4_solver.h"
#include "games/c4_search.h"
#include "shm.h"

TestSuite(c4_search, .fini = tu_unlink_all, .timeout = 120);

static hl_arena *new_arena(const char **name)
{
	return tu_arena_new("c4s", 256u << 20, 64, name);
}

/* An arena of `bytes` holding the search from the empty board, searched
 * by this process: `playouts` of hl_c4_search_work with seed. */
static hl_arena *search_here(uint64_t bytes, uint64_t playouts, uint64_t seed)
{
	hl_arena *a = tu_arena_new("c4s", bytes, 64, NULL);
	struct hl_c4_pos root;
	hl_c4_init(&root);
	cr_assert_eq(hl_c4_search_create(a, &root), 0);
	volatile sig_atomic_t stop = 0;
	cr_assert_eq(hl_c4_search_work(a, playouts, seed, &stop, NULL), 0);
	return a;
}

/* n worker processes, `playouts` between them, then waits for all. */
static void run_workers(const char *name, unsigned n, uint64_t playouts)
{
	pid_t kid[8];
	cr_assert_leq(n, 8);
	for (unsigned k = 0; k < n; k++) {
		if ((kid[k] = tu_fork()) == 0) {
			hl_arena *a;
			volatile sig_atomic_t stop = 0;
			if (hl_arena_attach(name, 0, &a))
				_exit(2);
			int rc = hl_c4_search_work(a, playouts, 1000 + k, &stop, NULL);
			hl_arena_close(a);
			_exit(rc ? 3 : 0);
		}
	}
	for (unsigned k = 0; k < n; k++) {
		int status;
		cr_assert_eq(waitpid(kid[k], &status, 0), kid[k]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "worker %u: status %#x", k, status);
	}
}

static void search_from(const char *moves, unsigned workers, uint64_t playouts,
			struct hl_c4_summary *out)
{
	const char *name;
	hl_arena *a = new_arena(&name);
	struct hl_c4_pos root;
	cr_assert_eq(hl_c4_parse(moves, &root, NULL), 0, "bad test position %s", moves);
	cr_assert_eq(hl_c4_search_create(a, &root), 0);
	run_workers(name, workers, playouts);
	cr_assert_eq(hl_c4_search_summary(a, out), 0);
	tu_assert_arena_ok(a, "after the search");
	hl_arena_close(a);
}

/* ---- tactics -------------------------------------------------------------------- */

static void expect_move(const char *moves, unsigned workers, int want1, int want2,
			bool proven_win)
{
	struct hl_c4_summary s;
	search_from(moves, workers, 60000, &s);
	cr_assert(s.best_move == want1 || s.best_move == want2,
		  "%s with %u workers: played %d, want %d", moves, workers,
		  s.best_move, want1);
	if (proven_win)
		cr_assert_eq(s.proven, HL_MCTS_WIN, "%s: not proven won", moves);
}

Test(c4_search, win_in_one)
{
	/* X has 4, 5, 6 on the bottom row: 3 or 7 wins at once */
	expect_move("445566", 2, 3, 7, true);
	expect_move("445566", 4, 3, 7, true);
}

Test(c4_search, forced_block)
{
	/* X has 1, 2, 3 on the bottom row; O must take 4 */
	expect_move("11223", 2, 4, 4, false);
	expect_move("11223", 4, 4, 4, false);
}

Test(c4_search, win_in_three)
{
	/* X has 2 and 3 at the bottom: 4 makes two threats (1 and 5) */
	expect_move("2233", 2, 4, 4, true);
	expect_move("2233", 4, 4, 4, true);
}

/* ---- proofs against the independent solver -------------------------------- */

static void board_of(const struct hl_c4_pos *p, struct c4s_board *b)
{
	uint64_t first = (p->plies & 1) ? p->cur ^ p->mask : p->cur;
	c4s_init(b);
	/* replaying column by column bottom up gives the right cells; the
	 * solver only needs cells, heights, whose turn and "already won" */
	for (int c = 0; c < 7; c++)
		for (int r = 0; r < 6; r++) {
			uint64_t bit = 1ull << (7 * c + r);
			if (!(p->mask & bit))
				break;
			b->cell[c][r] = (first & bit) ? 1 : 2;
			b->height[c]++;
			b->plies++;
		}
	b->over_won = hl_c4_last_won(p);
}

struct proof_walk {
	hl_mcts *m;
	hl_state *st;
	struct c4s_solver solver;
	unsigned checked, records;
};

static void check_proofs_below(struct proof_walk *w, hl_id id, unsigned depth)
{
	hl_mcts_node n;
	if (depth > 42 || hl_mcts_node_info(w->m, id, &n))
		return;
	w->records++;
	if (n.result != HL_MCTS_ONGOING) {
		uint8_t enc[HL_C4_ENC_BYTES];
		struct hl_c4_pos p;
		struct c4s_board b;
		cr_assert_eq(hl_restore(w->st, id), 0);
		cr_assert_eq(hl_state_read(w->st, 0, enc, sizeof enc), 0);
		cr_assert_eq(hl_c4_decode(enc, sizeof enc, &p), 0);
		board_of(&p, &b);
		int exact = c4s_solve(&w->solver, &b);
		int got = n.result == HL_MCTS_WIN ? 1 : n.result == HL_MCTS_LOSS ? -1 : 0;
		char text[HL_C4_STRING_BYTES];
		hl_c4_to_string(&p, text);
		cr_assert_eq(got, exact, "proved %d, exact %d, side to move %s:\n%s",
			     got, exact, p.plies & 1 ? "O" : "X", text);
		w->checked++;
	}
	hl_mcts_child c[7];
	unsigned k;
	cr_assert_eq(hl_mcts_children(w->m, id, c, 7, &k), 0);
	for (unsigned i = 0; i < k && i < 7; i++)
		if (!hl_id_is_zero(c[i].child))
			check_proofs_below(w, c[i].child, depth + 1);
}

/* A random unfinished position `empty` cells from the end, as a move
 * string; false if the random game ended first. */
static bool late_position(struct hl_c4_rng *r, int empty, char *moves)
{
	struct hl_c4_pos p;
	hl_c4_init(&p);
	int n = 0;
	while ((int)p.plies < 42 - empty) {
		unsigned open = hl_c4_legal(&p), c;
		if (!open)
			return false;
		do
			c = hl_c4_rng_below(r, 7);
		while (!(open >> c & 1));
		hl_c4_play(&p, c);
		moves[n++] = (char)('1' + c);
	}
	moves[n] = '\0';
	return hl_c4_status(&p) == HL_C4_ONGOING;
}

Test(c4_search, every_proof_matches_the_solver)
{
	struct hl_c4_rng r;
	hl_c4_rng_seed(&r, 42);
	unsigned positions = 0, checked = 0;
	while (positions < 6) {
		char moves[43];
		if (!late_position(&r, 12, moves))
			continue;
		positions++;
		const char *name;
		hl_arena *a = new_arena(&name);
		struct hl_c4_pos root;
		cr_assert_eq(hl_c4_parse(moves, &root, NULL), 0);
		cr_assert_eq(hl_c4_search_create(a, &root), 0);
		run_workers(name, 2, 20000);
		struct proof_walk *w = calloc(1, sizeof *w);
		hl_mcts_config cfg;
		hl_c4_search_config(&cfg);
		cr_assert(c4s_solver_init(&w->solver));
		cr_assert_eq(hl_mcts_open(a, HL_C4_SEARCH_NAME, (hl_id){0, 0}, &cfg, &w->m), 0);
		cr_assert_eq(hl_state_new(a, &w->st), 0);
		check_proofs_below(w, hl_mcts_root(w->m), 0);
		checked += w->checked;
		cr_assert_geq(w->records, 1);
		hl_state_free(w->st);
		hl_mcts_close(w->m);
		c4s_solver_free(&w->solver);
		free(w);
		hl_arena_close(a);
	}
	cr_assert_geq(checked, 50, "only %u proofs checked", checked);
}

/* ---- the summary ------------------------------------------------------------------ */

Test(c4_search, summary_agrees_with_the_graph)
{
	struct hl_c4_summary s;
	search_from("", 2, 20000, &s);
	uint64_t sum = 0;
	for (int c = 0; c < 7; c++)
		sum += s.visits[c];
	cr_assert_eq(sum + 1, s.root_visits, "visits %llu + 1 != root %llu",
		     (unsigned long long)sum, (unsigned long long)s.root_visits);
	cr_assert_geq(s.playouts, 20000);
	cr_assert_lt(s.playouts, 20000 + 2 * HL_C4_SEARCH_BATCH + 1);
	cr_assert(s.best_move >= 1 && s.best_move <= 7);
	cr_assert(s.value >= -1 && s.value <= 1);
	cr_assert_gt(s.nodes, 1000);
	cr_assert_gt(s.bytes_per_node, 0);
	cr_assert_gt(strlen(s.pv), 0);
	for (const char *c = s.pv; *c; c++)
		cr_assert(*c >= '1' && *c <= '7');
}

/* ---- crash: workers SIGKILLed mid-search ------------------------------------ */

/* Every record reachable from pos (down to depth 6): nothing in flight,
 * and N = own evaluations + edge visits (mcts.c invariant 3) with at most
 * one own evaluation (the arena has room, so no statistics-only visit
 * folds in more). A record may be left with none: its expander, or the
 * walker backing up through it, was killed between the edge's visit and
 * the own word's CAS (mcts.c, "own"); such records are counted. */
static void check_consistent(hl_mcts *m, hl_id pos, unsigned depth, uint64_t *records,
			     uint64_t *unevaluated)
{
	hl_mcts_node n;
	if (depth > 42 || hl_mcts_node_info(m, pos, &n))
		return;
	(*records)++;
	cr_assert_eq(n.in_flight, 0, "a virtual loss left at depth %u", depth);
	hl_mcts_child c[7];
	unsigned k;
	cr_assert_eq(hl_mcts_children(m, pos, c, 7, &k), 0);
	uint64_t sum = 0;
	for (unsigned i = 0; i < k && i < 7; i++)
		sum += c[i].visits;
	if (!n.terminal) {
		cr_assert(n.visits == sum || n.visits == sum + 1,
			  "depth %u: N %llu, edges %llu", depth,
			  (unsigned long long)n.visits, (unsigned long long)sum);
		*unevaluated += n.visits == sum;
	} else {
		cr_assert_eq(n.visits, 1, "a terminal record at depth %u: N %llu", depth,
			     (unsigned long long)n.visits);
	}
	if (depth < 6) /* the top of the graph, where the workers meet */
		for (unsigned i = 0; i < k && i < 7; i++)
			if (!hl_id_is_zero(c[i].child))
				check_consistent(m, c[i].child, depth + 1, records, unevaluated);
}

/* A new leaf whose position another move order reached first is linked to
 * that position's record, and its position is not committed again: one
 * commit per record (and the root's), where committing every new leaf
 * made a third more (the share of transpositions among a search's new
 * leaves). The arena's check passes after. */
Test(c4_search, a_transposition_is_linked_without_committing_its_position)
{
	hl_arena *a = search_here(256u << 20, 20000, 77);
	hl_stats st;
	hl_mcts_stats ms;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(hl_mcts_stats_get(a, &ms), 0);
	cr_assert_gt(ms.records, 5000, "only %llu records", (unsigned long long)ms.records);
	cr_assert_leq(st.commits, ms.records + 1, "%llu commits for %llu records",
		      (unsigned long long)st.commits, (unsigned long long)ms.records);
	tu_assert_arena_ok(a, "after the search");
	hl_arena_close(a);
}

/* A search that fills its arena goes on with statistics only, and every
 * new leaf it cannot store counts as an expansion refused for want of room
 * (hl_mcts_stats.no_room, which `helios run` reports): the leaf whose
 * position cannot be committed as much as the one whose record finds no
 * room. Before, only the latter counted, and once transpositions stopped
 * needing a new record a full arena could go unreported. */
Test(c4_search, a_full_arena_counts_every_leaf_it_cannot_store)
{
	hl_arena *a = search_here(4u << 20, 200000, 5);
	hl_mcts_stats ms;
	cr_assert_eq(hl_mcts_stats_get(a, &ms), 0);
	cr_assert_geq(ms.playouts, 200000);
	/* past the full heap nearly every playout ends at a leaf it cannot
	 * store: far more than the records a heap this small holds */
	cr_assert_gt(ms.no_room, 4 * ms.records, "%llu refused for %llu records",
		     (unsigned long long)ms.no_room, (unsigned long long)ms.records);
	tu_assert_arena_ok(a, "after the full search");
	hl_arena_close(a);
}

Test(c4_search, killed_workers_release_their_losses)
{
	const char *name;
	hl_arena *a = new_arena(&name);
	struct hl_c4_pos root;
	hl_c4_init(&root);
	cr_assert_eq(hl_c4_search_create(a, &root), 0);
	struct hl_c4_rng r;
	hl_c4_rng_seed(&r, 7);
	enum { ROUNDS = 25 };
	for (int round = 0; round < ROUNDS; round++) {
		/* two workers search with no budget; one is killed at a random
		 * moment, the other stopped */
		pid_t kid[2];
		for (int k = 0; k < 2; k++) {
			if ((kid[k] = tu_fork()) == 0) {
				hl_arena *b;
				volatile sig_atomic_t stop = 0;
				signal(SIGTERM, SIG_DFL);
				if (hl_arena_attach(name, 0, &b))
					_exit(2);
				_exit(hl_c4_search_work(b, 0, (uint64_t)(round * 2 + k), &stop,
							NULL) ? 3 : 0);
			}
		}
		tu_sleep_us(5000 + hl_c4_rng_below(&r, 20000));
		for (int k = 0; k < 2; k++) {
			kill(kid[k], SIGKILL);
			waitpid(kid[k], NULL, 0);
			hl_slots_reclaim_dead(a, kid[k]); /* as the coordinator does */
		}
		hl_mcts_stats ms;
		cr_assert_eq(hl_mcts_stats_get(a, &ms), 0);
		cr_assert_eq(ms.in_flight, 0, "round %d: %llu losses left", round,
			     (unsigned long long)ms.in_flight);
	}
	hl_mcts_config cfg;
	hl_mcts *m;
	hl_c4_search_config(&cfg);
	cr_assert_eq(hl_mcts_open(a, HL_C4_SEARCH_NAME, (hl_id){0, 0}, &cfg, &m), 0);
	uint64_t records = 0, unevaluated = 0;
	check_consistent(m, hl_mcts_root(m), 0, &records, &unevaluated);
	cr_assert_gt(records, 100);
	/* at most one per path a killed worker had in flight */
	cr_assert_leq(unevaluated, 2ull * ROUNDS * HL_C4_SEARCH_BATCH,
		      "%llu of %llu records without an evaluation",
		      (unsigned long long)unevaluated, (unsigned long long)records);
	hl_mcts_close(m);
	/* and the survivors' search goes on: a budgeted run finishes */
	hl_mcts_stats ms;
	cr_assert_eq(hl_mcts_stats_get(a, &ms), 0);
	run_workers(name, 2, ms.playouts + 5000);
	tu_assert_arena_ok(a, "after the kills");
	hl_arena_close(a);
}
