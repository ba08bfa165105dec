/*
 * test_mcts.c - the shared search graph (hl_mcts_*) on small games whose
 * answers are known exactly, in one process and in several:
 *
 *   Nim (take 1..3 from a pile; who takes the last wins): a pile that is a
 *   multiple of 4 is lost for the player to move, any other is won by
 *   taking pile % 4. The search must prove exactly that (MCTS-Solver), and
 *   never prove a wrong result.
 *   A wide game (branching 10, fixed depth, results by a hash), to check
 *   virtual loss spreading selectors and the graph's invariants.
 *
 * Both games and the playout loop are mcts_util.h's (test_mcts_seen.c
 * uses them too).
 *
 * Invariants checked after quiescence, over every record reachable from
 * the root: N = 1 + the sum of its edges' visits (graph search: one own
 * evaluation per record), the root's N = the playouts, no virtual loss left
 * anywhere, and hl_arena_check passes (record keys, links, positions).
 * Crash: a process killed with paths in flight has its losses released by
 * the reclaim of its slot, and the others' statistics stay consistent.
 */
#include "testutil.h"

#include <sys/wait.h>

#include "mcts_util.h"
#include "shm.h"

TestSuite(mcts, .fini = tu_unlink_all, .timeout = 120);

/* ---- invariants ------------------------------------------------------------------ */

struct walk {
	hl_mcts *m;
	uint64_t records;
	hl_id seen[4096];
	unsigned nseen;
};

static bool seen_before(struct walk *w, hl_id id)
{
	for (unsigned i = 0; i < w->nseen; i++)
		if (hl_id_eq(w->seen[i], id))
			return true;
	if (w->nseen < 4096)
		w->seen[w->nseen++] = id;
	return false;
}

/* Every record below pos: N = 1 + sum of edge visits; nothing in flight. */
static void check_below(struct walk *w, hl_id pos)
{
	if (seen_before(w, pos))
		return;
	hl_mcts_node n;
	cr_assert_eq(hl_mcts_node_info(w->m, pos, &n), 0);
	w->records++;
	hl_mcts_child c[16];
	unsigned k;
	cr_assert_eq(hl_mcts_children(w->m, pos, c, 16, &k), 0);
	cr_assert_eq(k, n.edges);
	uint64_t sum = 0;
	for (unsigned i = 0; i < k; i++) {
		sum += c[i].visits;
		cr_assert_eq(c[i].in_flight, 0, "a virtual loss left on an edge");
		if (!hl_id_is_zero(c[i].child))
			check_below(w, c[i].child);
	}
	if (!n.terminal)
		cr_assert_eq(n.visits, 1 + sum, "N %llu != 1 + %llu edge visits",
			     (unsigned long long)n.visits, (unsigned long long)sum);
	cr_assert_eq(n.in_flight, 0);
	cr_assert(n.value >= -1 && n.value <= 1);
}

static uint64_t check_graph(hl_mcts *m, hl_arena *a, uint64_t playouts)
{
	struct walk *w = calloc(1, sizeof *w);
	w->m = m;
	hl_mcts_node root;
	cr_assert_eq(hl_mcts_node_info(m, hl_mcts_root(m), &root), 0);
	cr_assert_eq(root.visits, playouts, "root N %llu, playouts %llu",
		     (unsigned long long)root.visits, (unsigned long long)playouts);
	check_below(w, hl_mcts_root(m));
	hl_mcts_stats ms;
	cr_assert_eq(hl_mcts_stats_get(a, &ms), 0);
	cr_assert_eq(ms.in_flight, 0);
	tu_assert_arena_ok(a, "after the search");
	uint64_t r = w->records;
	free(w);
	return r;
}

/* ---- tests ----------------------------------------------------------------------- */

Test(mcts, nim_is_solved_exactly)
{
	for (uint64_t pile = 1; pile <= 13; pile++) {
		struct setup t;
		char name[32];
		snprintf(name, sizeof name, "nim-%llu", (unsigned long long)pile);
		open_search(&t, pile, name, 16u << 20, NULL);
		uint64_t visited = search(t.m, t.st, &nim, pile, 3000, pile);
		hl_mcts_node n;
		cr_assert_eq(hl_mcts_node_info(t.m, t.root_id, &n), 0);
		uint32_t want = pile % 4 == 0 ? HL_MCTS_LOSS : HL_MCTS_WIN;
		cr_assert_eq(n.result, want, "pile %llu: proven %u, not %u",
			     (unsigned long long)pile, n.result, want);
		hl_mcts_child best;
		cr_assert_eq(hl_mcts_best(t.m, t.root_id, &best), 0);
		if (want == HL_MCTS_WIN) {
			cr_assert_eq(best.action, pile % 4, "pile %llu: took %u",
				     (unsigned long long)pile, best.action);
			cr_assert_eq(best.result, HL_MCTS_WIN);
		}
		check_graph(t.m, t.a, 1 + visited);
		close_search(&t);
	}
}

/* The exact negamax value of a wide position for its mover. */
static int negamax(uint64_t s)
{
	uint32_t mv[16];
	unsigned n = wide.moves(s, mv);
	if (n == 0) {
		uint32_t r = wide.result(s);
		return r == HL_MCTS_WIN ? 1 : r == HL_MCTS_LOSS ? -1 : 0;
	}
	int best = -2;
	for (unsigned i = 0; i < n; i++) {
		int v = -negamax(wide.play(s, mv[i]));
		if (v > best)
			best = v;
	}
	return best;
}

/* Every proven record below state s agrees with negamax. */
static unsigned check_proofs(hl_mcts *m, hl_state *st, uint64_t s)
{
	hl_mcts_node n;
	if (hl_mcts_node_info(m, commit_pos(st, s), &n))
		return 0;
	unsigned proven = 0;
	if (n.result != HL_MCTS_ONGOING) {
		int want = negamax(s);
		int got = n.result == HL_MCTS_WIN ? 1 : n.result == HL_MCTS_LOSS ? -1 : 0;
		cr_assert_eq(got, want, "state %#llx proven %d, exact %d",
			     (unsigned long long)s, got, want);
		proven++;
	}
	uint32_t mv[16];
	unsigned k = wide.moves(s, mv);
	for (unsigned i = 0; i < k; i++)
		proven += check_proofs(m, st, wide.play(s, mv[i]));
	return proven;
}

Test(mcts, proofs_agree_with_negamax)
{
	g_wide_depth = 4;
	for (uint64_t seed = 1; seed <= 3; seed++) {
		struct setup t;
		char name[32];
		snprintf(name, sizeof name, "wide-proof-%llu", (unsigned long long)seed);
		open_search(&t, 0, name, 64u << 20, NULL);
		search(t.m, t.st, &wide, 0, 20000, seed);
		unsigned proven = check_proofs(t.m, t.st, 0);
		cr_assert_gt(proven, 100, "only %u proofs to check", proven);
		close_search(&t);
	}
}

Test(mcts, uct_solves_nim_too)
{
	hl_mcts_config cfg;
	hl_mcts_config_init(&cfg);
	cfg.policy = HL_MCTS_UCT;
	cfg.c_explore = 1.4;
	struct setup t;
	open_search(&t, 11, "nim-uct", 16u << 20, &cfg);
	search(t.m, t.st, &nim, 11, 3000, 7);
	hl_mcts_child best;
	cr_assert_eq(hl_mcts_best(t.m, t.root_id, &best), 0);
	cr_assert_eq(best.action, 3);
	cr_assert_eq(best.result, HL_MCTS_WIN);
	uint32_t pv[16];
	unsigned n;
	cr_assert_eq(hl_mcts_pv(t.m, pv, 16, &n), 0);
	cr_assert_geq(n, 1);
	cr_assert_eq(pv[0], 3);
	close_search(&t);
}

Test(mcts, batch_select_spreads_over_leaves)
{
	struct setup t;
	open_search(&t, 0, "wide-batch", 32u << 20, NULL);
	search(t.m, t.st, &wide, 0, 1, 1); /* the root record, 10 edges */
	hl_mcts_path p[10];
	unsigned got;
	cr_assert_eq(hl_mcts_select_batch(t.m, p, 10, &got), 0);
	cr_assert_eq(got, 10);
	bool taken[10] = {false};
	for (unsigned i = 0; i < 10; i++) {
		cr_assert_eq(p[i].leaf, HL_MCTS_LEAF_NEW);
		cr_assert_eq(p[i].depth, 1);
		cr_assert(!taken[p[i].action[0]], "two of ten selections on move %u",
			  p[i].action[0]);
		taken[p[i].action[0]] = true;
	}
	hl_mcts_node root;
	cr_assert_eq(hl_mcts_node_info(t.m, t.root_id, &root), 0);
	cr_assert_eq(root.in_flight, 10);
	for (unsigned i = 0; i < 10; i++)
		hl_mcts_abandon(t.m, &p[i]);
	cr_assert_eq(hl_mcts_node_info(t.m, t.root_id, &root), 0);
	cr_assert_eq(root.in_flight, 0);
	cr_assert_eq(root.visits, 1, "abandoned paths visited nothing");
	close_search(&t);
}

/* Children: `playouts` playouts each on one search, by name; *visited
 * gets those that visited the root. */
static int child_search(const char *arena, const char *name, unsigned playouts,
			uint64_t seed, _Atomic uint64_t *visited)
{
	hl_arena *a;
	hl_state *st;
	hl_mcts *m;
	if (hl_arena_attach(arena, 0, &a) || hl_state_new(a, &st) ||
	    hl_state_resize(st, sizeof(struct pos)) ||
	    hl_mcts_open(a, name, (hl_id){0, 0}, NULL, &m))
		return 2;
	struct tu_rng r;
	tu_rng_seed(&r, seed);
	for (unsigned i = 0; i < playouts; i++) {
		hl_mcts_path p;
		if (hl_mcts_select(m, &p))
			return 3;
		double v;
		if (p.leaf == HL_MCTS_LEAF_KNOWN) {
			v = p.value;
		} else {
			uint64_t s = leaf_state(&wide, 0, &p);
			uint32_t mv[16];
			unsigned n = wide.moves(s, mv);
			hl_mcts_move moves[16];
			for (unsigned j = 0; j < n; j++)
				moves[j] = (hl_mcts_move){mv[j], 0.1f, {0, 0}};
			struct pos ps = {s, 0};
			hl_id id;
			if (hl_state_write(st, 0, &ps, sizeof ps) || hl_commit(st, &id, NULL))
				return 4;
			uint32_t res = n ? HL_MCTS_ONGOING : wide.result(s);
			int rc = hl_mcts_expand(m, &p, id, moves, n, res);
			if (rc != 0 && rc != 1)
				return 5;
			v = n ? rollout(&wide, s, &r) : (res == HL_MCTS_WIN ? 1 : res == HL_MCTS_LOSS ? -1 : 0);
		}
		if (hl_mcts_backup(m, &p, v))
			return 6;
		if (visits_root(&p))
			atomic_fetch_add(visited, 1);
	}
	hl_mcts_close(m);
	hl_state_free(st);
	hl_arena_close(a);
	return 0;
}

Test(mcts, processes_grow_one_graph)
{
	struct setup t;
	open_search(&t, 0, "wide-mp", 64u << 20, NULL);
	enum { KIDS = 4, EACH = 2500 };
	g_wide_depth = 8; /* not solved in this budget */
	_Atomic uint64_t *visited = tu_shared_map(sizeof *visited);
	pid_t kid[KIDS];
	for (int k = 0; k < KIDS; k++)
		if ((kid[k] = tu_fork()) == 0)
			_exit(child_search(t.name, "wide-mp", EACH, 100 + (uint64_t)k,
					   visited));
	for (int k = 0; k < KIDS; k++) {
		int status;
		cr_assert_eq(waitpid(kid[k], &status, 0), kid[k]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "child %d: status %d", k, status);
	}
	uint64_t n = atomic_load(visited);
	tu_shared_unmap(visited, sizeof *visited);
	cr_assert_gt(n, KIDS * EACH / 2);
	uint64_t records = check_graph(t.m, t.a, 1 + n);
	hl_mcts_stats ms;
	cr_assert_eq(hl_mcts_stats_get(t.a, &ms), 0);
	cr_assert_eq(ms.playouts, KIDS * EACH);
	/* one record per position, however many processes reached it */
	cr_assert_eq(ms.records, records, "records %llu, reachable %llu",
		     (unsigned long long)ms.records, (unsigned long long)records);
	close_search(&t);
}

Test(mcts, a_killed_process_has_its_losses_released)
{
	struct setup t;
	open_search(&t, 0, "wide-kill", 64u << 20, NULL);
	g_wide_depth = 6;
	uint64_t visited = search(t.m, t.st, &wide, 0, 200, 3);
	for (int round = 0; round < 20; round++) {
		int pipefd[2];
		cr_assert_eq(pipe(pipefd), 0);
		pid_t kid = tu_fork();
		if (kid == 0) {
			/* select a batch, say so, and wait to be killed */
			hl_arena *a;
			hl_mcts *m;
			hl_mcts_path p[8];
			unsigned got;
			if (hl_arena_attach(t.name, 0, &a) ||
			    hl_mcts_open(a, "wide-kill", (hl_id){0, 0}, NULL, &m) ||
			    hl_mcts_select_batch(m, p, 8, &got))
				_exit(2);
			char c = 'x';
			if (write(pipefd[1], &c, 1) != 1)
				_exit(3);
			pause();
			_exit(4);
		}
		char c;
		cr_assert_eq(read(pipefd[0], &c, 1), 1);
		hl_mcts_stats ms;
		hl_mcts_stats_get(t.a, &ms);
		cr_assert_gt(ms.in_flight, 0, "the child holds losses");
		kill(kid, SIGKILL);
		waitpid(kid, NULL, 0);
		close(pipefd[0]);
		close(pipefd[1]);
		cr_assert_geq(hl_slots_reclaim_dead(t.a, kid), 1);
		hl_mcts_stats_get(t.a, &ms);
		cr_assert_eq(ms.in_flight, 0, "round %d: %llu entries left", round,
			     (unsigned long long)ms.in_flight);
		visited += search(t.m, t.st, &wide, 0, 50, 10 + (uint64_t)round);
	}
	check_graph(t.m, t.a, 1 + visited);
	close_search(&t);
}

Test(mcts, a_full_arena_goes_on_with_statistics)
{
	struct setup t;
	/* an arena with room for few records: the search must never fail */
	open_search(&t, 0, "wide-full", 3u << 20, NULL);
	g_wide_depth = 8;
	cr_assert_eq(search(t.m, t.st, &wide, 0, 20000, 5), 20000 - 1); /* the first: the root */
	hl_mcts_stats ms;
	cr_assert_eq(hl_mcts_stats_get(t.a, &ms), 0);
	cr_assert_gt(ms.no_room, 0, "the arena never filled: make it smaller");
	cr_assert_eq(ms.playouts, 20000);
	hl_mcts_node root;
	cr_assert_eq(hl_mcts_node_info(t.m, t.root_id, &root), 0);
	cr_assert_eq(root.visits, 20000);
	cr_assert_eq(root.in_flight, 0);
	close_search(&t);
}

Test(mcts, read_only_process_reads_the_search)
{
	struct setup t;
	open_search(&t, 6, "nim-ro", 16u << 20, NULL);
	search(t.m, t.st, &nim, 6, 2000, 9);
	hl_arena *ro;
	cr_assert_eq(hl_arena_attach(t.name, HL_RDONLY, &ro), 0);
	hl_mcts *m;
	cr_assert_eq(hl_mcts_open(ro, "nim-ro", (hl_id){0, 0}, NULL, &m), 0);
	hl_mcts_child best;
	cr_assert_eq(hl_mcts_best(m, t.root_id, &best), 0);
	cr_assert_eq(best.action, 2);
	hl_mcts_path p;
	cr_assert_eq(hl_mcts_select(m, &p), HL_EROFS);
	hl_mcts *none;
	cr_assert_eq(hl_mcts_open(ro, "nobody", (hl_id){0, 0}, NULL, &none), HL_ENOENT);
	hl_mcts_close(m);
	hl_arena_close(ro);
	close_search(&t);
}

Test(mcts, bad_calls_are_refused)
{
	struct setup t;
	open_search(&t, 5, "nim-bad", 16u << 20, NULL);
	hl_mcts *m;
	cr_assert_eq(hl_mcts_open(t.a, "", t.root_id, NULL, &m), HL_EINVAL);
	char longname[HL_MCTS_NAME_MAX + 2];
	memset(longname, 'n', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	cr_assert_eq(hl_mcts_open(t.a, longname, t.root_id, NULL, &m), HL_EINVAL);
	hl_id other = commit_pos(t.st, 7);
	cr_assert_eq(hl_mcts_open(t.a, "nim-bad", other, NULL, &m), HL_EEXIST);
	cr_assert_eq(hl_mcts_open(t.a, "never", (hl_id){0, 0}, NULL, &m), HL_ENOENT);
	hl_id junk = {1, 2};
	cr_assert_eq(hl_mcts_open(t.a, "junk", junk, NULL, &m), HL_ENOENT);
	hl_mcts_path p;
	cr_assert_eq(hl_mcts_select(t.m, &p), 0);
	cr_assert_eq(p.leaf, HL_MCTS_LEAF_ROOT);
	hl_mcts_move mv = {1, 0.5f, {0, 0}};
	/* moves with a result, a result without moves, a wrong root */
	cr_assert_eq(hl_mcts_expand(t.m, &p, t.root_id, &mv, 1, HL_MCTS_WIN), HL_EINVAL);
	cr_assert_eq(hl_mcts_expand(t.m, &p, t.root_id, NULL, 0, HL_MCTS_ONGOING), HL_EINVAL);
	cr_assert_eq(hl_mcts_expand(t.m, &p, other, &mv, 1, HL_MCTS_ONGOING), HL_EINVAL);
	cr_assert_eq(hl_mcts_expand(t.m, &p, t.root_id, &mv, 1, HL_MCTS_ONGOING), 0);
	cr_assert_eq(hl_mcts_backup(t.m, &p, 0.5), 0);
	cr_assert_eq(hl_mcts_backup(t.m, &p, 0.5), HL_EINVAL, "backed up twice");
	close_search(&t);
}

/* p.parent names the position a NEW leaf's last move is played from,
 * unless the handle was opened with skip_parent_id (a caller that replays
 * paths from the root): then it stays zero. 2 is no such setting. */
Test(mcts, skip_parent_id_leaves_a_new_leafs_parent_zero)
{
	g_wide_depth = 6;
	for (uint32_t skip = 0; skip <= 1; skip++) {
		hl_mcts_config cfg;
		hl_mcts_config_init(&cfg);
		cfg.skip_parent_id = skip;
		struct setup t;
		open_search(&t, 0, skip ? "parent-skip" : "parent-fill", 32u << 20, &cfg);
		search(t.m, t.st, &wide, 0, 30, 4); /* the root and some children */
		hl_mcts_path p;
		unsigned news = 0;
		for (unsigned i = 0; i < 40 && news < 5; i++) {
			cr_assert_eq(hl_mcts_select(t.m, &p), 0);
			if (p.leaf == HL_MCTS_LEAF_NEW && p.depth > 0) {
				news++;
				hl_id want = {0, 0};
				if (!skip) {
					/* the position before the last move, replayed */
					uint64_t st = 0;
					for (uint32_t d = 0; d + 1 < p.depth; d++)
						st = wide.play(st, p.action[d]);
					want = commit_pos(t.st, st);
				}
				cr_assert(hl_id_eq(p.parent, want), "skip %u: parent is not %s",
					  skip, skip ? "zero" : "the position before the move");
			}
			struct tu_rng r;
			tu_rng_seed(&r, i);
			cr_assert_eq(hl_mcts_backup(t.m, &p, evaluate(t.m, t.st, &wide, 0, &p, &r)), 0);
		}
		cr_assert_gt(news, 0);
		close_search(&t);
	}
	hl_mcts_config bad;
	hl_mcts_config_init(&bad);
	bad.skip_parent_id = 2;
	struct setup t;
	t.a = tu_arena_new("mcts", 16u << 20, 64, &t.name);
	cr_assert_eq(hl_state_new(t.a, &t.st), 0);
	cr_assert_eq(hl_state_resize(t.st, sizeof(struct pos)), 0);
	hl_mcts *m;
	cr_assert_eq(hl_mcts_open(t.a, "parent-bad", commit_pos(t.st, 0), &bad, &m), HL_EINVAL);
	hl_state_free(t.st);
	hl_arena_close(t.a);
}

/* ---- a user's evaluator: the AlphaZero-style loop ------------------------- */

/* The "network": priors and a value as pure functions of the position, so
 * every process that evaluates a position gets the same answer and the test
 * can check what the graph stored. */
static void fake_network(uint64_t s, unsigned n, float *priors, double *value)
{
	float sum = 0;
	for (unsigned i = 0; i < n; i++) {
		uint32_t h = (uint32_t)(s * 2654435761u) ^ (i * 40503u);
		priors[i] = 1.0f + (float)(h % 7);
		sum += priors[i];
	}
	for (unsigned i = 0; i < n; i++)
		priors[i] /= sum;
	*value = (double)((int)(s % 201) - 100) / 100.0;
}

/* One process: `rounds` of (select K leaves, evaluate them as one batch,
 * expand each with the network's priors, back each up). */
static int evaluator_loop(const char *arena, unsigned rounds, unsigned k)
{
	hl_arena *a;
	hl_state *st;
	hl_mcts *m;
	if (hl_arena_attach(arena, 0, &a) || hl_state_new(a, &st) ||
	    hl_state_resize(st, sizeof(struct pos)) ||
	    hl_mcts_open(a, "az", (hl_id){0, 0}, NULL, &m))
		return 2;
	hl_mcts_path *p = calloc(k, sizeof *p);
	for (unsigned r = 0; r < rounds; r++) {
		unsigned got;
		if (hl_mcts_select_batch(m, p, k, &got) || got != k)
			return 3;
		double value[HL_MCTS_INFLIGHT_MAX];
		for (unsigned i = 0; i < got; i++) { /* the batch goes to the net */
			value[i] = p[i].value;
			if (p[i].leaf == HL_MCTS_LEAF_KNOWN)
				continue;
			uint64_t s = leaf_state(&wide, 0, &p[i]);
			uint32_t mv[16];
			unsigned n = wide.moves(s, mv);
			float pri[16];
			fake_network(s, n, pri, &value[i]);
			hl_mcts_move moves[16];
			for (unsigned j = 0; j < n; j++)
				moves[j] = (hl_mcts_move){mv[j], pri[j], {0, 0}};
			struct pos ps = {s, 0};
			hl_id id;
			if (hl_state_write(st, 0, &ps, sizeof ps) || hl_commit(st, &id, NULL))
				return 4;
			uint32_t res = n ? HL_MCTS_ONGOING : wide.result(s);
			int rc = hl_mcts_expand(m, &p[i], id, moves, n, res);
			if (rc != 0)
				return 5;
			if (!n)
				value[i] = res == HL_MCTS_WIN ? 1 : res == HL_MCTS_LOSS ? -1 : 0;
		}
		for (unsigned i = 0; i < got; i++)
			if (hl_mcts_backup(m, &p[i], value[i]))
				return 6;
	}
	free(p);
	hl_mcts_close(m);
	hl_state_free(st);
	hl_arena_close(a);
	return 0;
}

Test(mcts, an_alphazero_style_evaluator_from_two_processes)
{
	struct setup t;
	g_wide_depth = 8;
	open_search(&t, 0, "az", 64u << 20, NULL);
	/* the root evaluated first, by the network: a batch selected before
	 * it has a record would be all root leaves, and only one of them can
	 * be its evaluation */
	hl_mcts_path first;
	hl_mcts_move rm[10];
	float rp[10];
	double rv;
	fake_network(0, 10, rp, &rv);
	for (unsigned j = 0; j < 10; j++)
		rm[j] = (hl_mcts_move){j, rp[j], {0, 0}};
	cr_assert_eq(hl_mcts_select(t.m, &first), 0);
	cr_assert_eq(hl_mcts_expand(t.m, &first, t.root_id, rm, 10, HL_MCTS_ONGOING), 0);
	cr_assert_eq(hl_mcts_backup(t.m, &first, rv), 0);
	enum { KIDS = 2, ROUNDS = 300, K = 8 };
	pid_t kid[KIDS];
	for (int i = 0; i < KIDS; i++)
		if ((kid[i] = tu_fork()) == 0)
			_exit(evaluator_loop(t.name, ROUNDS, K));
	for (int i = 0; i < KIDS; i++) {
		int status;
		cr_assert_eq(waitpid(kid[i], &status, 0), kid[i]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "evaluator %d: status %#x", i, status);
	}
	check_graph(t.m, t.a, 1 + KIDS * ROUNDS * K);
	/* the priors the network gave are the priors the graph holds */
	hl_mcts_child c[16];
	unsigned n;
	cr_assert_eq(hl_mcts_children(t.m, t.root_id, c, 16, &n), 0);
	cr_assert_eq(n, 10);
	float pri[16];
	double v;
	fake_network(0, 10, pri, &v);
	for (unsigned i = 0; i < n; i++)
		cr_assert_float_eq(c[i].prior, pri[i], 1.0 / 65535 + 1e-6,
				   "edge %u: prior %f, the network said %f", i,
				   c[i].prior, pri[i]);
	/* and every move of the root was tried by one process or the other */
	for (unsigned i = 0; i < n; i++)
		cr_assert_gt(c[i].visits, 0, "move %u never visited", i);
	close_search(&t);
}

Test(mcts, virtual_loss_spreads_processes_over_leaves)
{
	struct setup t;
	g_wide_depth = 8;
	open_search(&t, 0, "wide-spread", 32u << 20, NULL);
	search(t.m, t.st, &wide, 0, 1, 1); /* the root record, 10 edges */
	struct shared {
		_Atomic int ready;
		uint32_t action[5];
	} *sh = tu_shared_map(sizeof *sh);
	pid_t kid = tu_fork();
	if (kid == 0) {
		hl_arena *a;
		hl_mcts *m;
		hl_mcts_path p[5];
		unsigned got;
		if (hl_arena_attach(t.name, 0, &a) ||
		    hl_mcts_open(a, "wide-spread", (hl_id){0, 0}, NULL, &m) ||
		    hl_mcts_select_batch(m, p, 5, &got) || got != 5)
			_exit(2);
		for (int i = 0; i < 5; i++)
			sh->action[i] = p[i].action[0];
		atomic_store(&sh->ready, 1);
		pause(); /* holding the five leaves */
		_exit(0);
	}
	uint64_t deadline = tu_now_ns() + 10000000000ull;
	while (!atomic_load(&sh->ready))
		cr_assert_lt(tu_now_ns(), deadline, "the other process never selected");
	hl_mcts_path p[5];
	unsigned got;
	cr_assert_eq(hl_mcts_select_batch(t.m, p, 5, &got), 0);
	unsigned shared = 0;
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 5; j++)
			shared += p[i].action[0] == sh->action[j];
	cr_assert_eq(shared, 0, "%u of our leaves are the other process's", shared);
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	for (int i = 0; i < 5; i++)
		hl_mcts_abandon(t.m, &p[i]);
	cr_assert_geq(hl_slots_reclaim_dead(t.a, kid), 1);
	hl_mcts_node root;
	cr_assert_eq(hl_mcts_node_info(t.m, t.root_id, &root), 0);
	cr_assert_eq(root.in_flight, 0);
	tu_shared_unmap(sh, sizeof *sh);
	close_search(&t);
}

Test(mcts, two_searches_on_one_handle_keep_their_own_losses)
{
	struct setup t;
	g_wide_depth = 8;
	open_search(&t, 0, "wide-one", 32u << 20, NULL);
	search(t.m, t.st, &wide, 0, 1, 1);
	hl_mcts *other;
	cr_assert_eq(hl_mcts_open(t.a, "wide-two", t.root_id, NULL, &other), 0);
	search(other, t.st, &wide, 0, 1, 2);
	hl_mcts_path p[6], q[6];
	unsigned got;
	cr_assert_eq(hl_mcts_select_batch(t.m, p, 6, &got), 0);
	cr_assert_eq(hl_mcts_select_batch(other, q, 6, &got), 0);
	/* the handle's 16 rows are shared by its searches: 12 taken */
	hl_mcts_path more[5];
	cr_assert_eq(hl_mcts_select_batch(t.m, more, 5, &got), HL_EBUSY);
	cr_assert_eq(got, 4);
	for (unsigned i = 0; i < got; i++)
		hl_mcts_abandon(t.m, &more[i]);
	hl_mcts_node a, b;
	cr_assert_eq(hl_mcts_node_info(t.m, t.root_id, &a), 0);
	cr_assert_eq(hl_mcts_node_info(other, t.root_id, &b), 0);
	cr_assert_eq(a.in_flight, 6);
	cr_assert_eq(b.in_flight, 6);
	hl_mcts_close(other); /* its six come off; ours stay */
	cr_assert_eq(hl_mcts_node_info(t.m, t.root_id, &a), 0);
	cr_assert_eq(a.in_flight, 6);
	hl_mcts_stats ms;
	cr_assert_eq(hl_mcts_stats_get(t.a, &ms), 0);
	cr_assert_eq(ms.in_flight, 6);
	for (unsigned i = 0; i < 6; i++)
		cr_assert_eq(hl_mcts_backup(t.m, &p[i], 0.25), 0);
	cr_assert_eq(hl_mcts_node_info(t.m, t.root_id, &a), 0);
	cr_assert_eq(a.in_flight, 0);
	/* six edge visits, and (backed up unexpanded: statistics only) six
	 * more own evaluations folded into the root */
	cr_assert_eq(a.visits, 1 + 6 + 6);
	close_search(&t);
}
