/*
 * test_mcts_root.c - moving a search's root (hl_mcts_set_root, tree reuse
 * between moves; workers/mcts_root.c), in one process and in several. What
 * a self-play driver relies on:
 *
 *  1. After the move the new root's record is the one grown below it: its
 *     visits, value and edges are kept, and new playouts go below it.
 *  2. Another process searching the same search follows the move at its
 *     next select: no playout of it goes through the old root afterwards.
 *  3. Processes racing to move the root from one position: exactly one
 *     wins, the others get HL_EBUSY (or 0 when they wanted the winner's
 *     root) and follow the winner's.
 *  4. A path selected before the move backs up as usual; a new root with
 *     no record yet is a ROOT leaf; bad calls are refused.
 *  5. With a collector: after a move, a collection frees what only the old
 *     root reached and keeps everything below the new root with its
 *     statistics; searches that grow the graph while the root moves and
 *     collections run (Connect Four, whose transpositions link records
 *     that already exist) never follow a link into freed memory.
 *
 * The game: a wide tree (10 moves a position, 8 plies, results by a hash
 * of the path), deep enough not to be solved in these budgets.
 */
#include "testutil.h"

#include <signal.h>
#include <sys/wait.h>

#include "games/c4_search.h"

TestSuite(mcts_root, .fini = tu_unlink_all, .timeout = 120);

#define WIDE 10u
#define DEPTH 8u

struct pos {
	uint64_t state, zero;
};

static uint64_t play(uint64_t s, uint32_t a)
{
	uint64_t h = (uint32_t)s * 2654435761u + a + 1;
	return ((s >> 32) + 1) << 32 | (uint32_t)h;
}

static uint32_t result_at(uint64_t s)
{
	uint32_t h = (uint32_t)s ^ (uint32_t)s >> 13;
	return h % 3 == 0 ? HL_MCTS_WIN : h % 3 == 1 ? HL_MCTS_LOSS : HL_MCTS_DRAW;
}

static double result_value(uint32_t r)
{
	return r == HL_MCTS_WIN ? 1 : r == HL_MCTS_LOSS ? -1 : 0;
}

static int commit_pos(hl_state *st, uint64_t state, hl_id *id)
{
	struct pos p = {state, 0};
	int rc = hl_state_write(st, 0, &p, sizeof p);
	return rc ? rc : hl_commit(st, id, NULL);
}

static hl_id commit_ok(hl_state *st, uint64_t state)
{
	hl_id id;
	int rc = commit_pos(st, state, &id);
	cr_assert_eq(rc, 0, "commit: %s", hl_strerror(rc));
	return id;
}

/* One playout from root state `root` (the state the handle's root holds):
 * 0, or a code naming the step that failed (for children's exit status). */
static int playout(hl_mcts *m, hl_state *st, uint64_t root, struct tu_rng *r,
		   hl_mcts_path *p)
{
	if (hl_mcts_select(m, p))
		return 10;
	double v = p->value;
	if (p->leaf != HL_MCTS_LEAF_KNOWN) {
		uint64_t s = root;
		for (uint32_t i = 0; i < p->depth; i++)
			s = play(s, p->action[i]);
		unsigned n = (s >> 32) < DEPTH ? WIDE : 0;
		hl_mcts_move mv[WIDE];
		for (unsigned i = 0; i < n; i++)
			mv[i] = (hl_mcts_move){i, 1.0f / WIDE, {0, 0}};
		hl_id id;
		uint32_t res = n ? HL_MCTS_ONGOING : result_at(s);
		if (commit_pos(st, s, &id))
			return 11;
		int rc = hl_mcts_expand(m, p, id, mv, n, res);
		if (rc != 0 && rc != 1)
			return 12;
		v = n ? (double)(int)(tu_rng_below(r, 3)) - 1 : result_value(res);
	}
	return hl_mcts_backup(m, p, v) ? 13 : 0;
}

static void search(hl_mcts *m, hl_state *st, uint64_t root, unsigned n,
		   uint64_t seed)
{
	struct tu_rng r;
	tu_rng_seed(&r, seed);
	for (unsigned i = 0; i < n; i++) {
		hl_mcts_path p;
		cr_assert_eq(playout(m, st, root, &r, &p), 0, "playout %u", i);
	}
}

struct setup {
	hl_arena *a;
	const char *name;
	hl_state *st;
	hl_mcts *m;
	hl_id root_id;
};

static void open_search(struct setup *t, const char *search_name)
{
	t->a = tu_arena_new("mcts_root", 64u << 20, 64, &t->name);
	cr_assert_eq(hl_state_new(t->a, &t->st), 0);
	cr_assert_eq(hl_state_resize(t->st, sizeof(struct pos)), 0);
	t->root_id = commit_ok(t->st, 0);
	int rc = hl_mcts_open(t->a, search_name, t->root_id, NULL, &t->m);
	cr_assert_eq(rc, 0, "open: %s", hl_strerror(rc));
}

static void close_search(struct setup *t)
{
	hl_mcts_close(t->m);
	hl_state_free(t->st);
	hl_arena_close(t->a);
}

static hl_mcts_node info(hl_mcts *m, hl_id pos)
{
	hl_mcts_node n;
	int rc = hl_mcts_node_info(m, pos, &n);
	cr_assert_eq(rc, 0, "node info: %s", hl_strerror(rc));
	return n;
}

/* The root's most visited child: its action and position. */
static hl_mcts_child most_visited(hl_mcts *m, hl_id pos)
{
	hl_mcts_child c;
	cr_assert_eq(hl_mcts_best(m, pos, &c), 0);
	cr_assert(!hl_id_is_zero(c.child), "the best child is not linked");
	return c;
}

Test(mcts_root, the_child_keeps_its_statistics_and_the_search_goes_on_below_it)
{
	struct setup t;
	open_search(&t, "reuse");
	search(t.m, t.st, 0, 3000, 1);
	hl_mcts_child c = most_visited(t.m, t.root_id);
	hl_mcts_node before = info(t.m, c.child);
	hl_mcts_node old_root = info(t.m, t.root_id);
	hl_mcts_child kids_before[WIDE], kids_after[WIDE];
	unsigned nb, na;
	cr_assert_eq(hl_mcts_children(t.m, c.child, kids_before, WIDE, &nb), 0);
	cr_assert_gt(before.visits, 100, "too few visits to see reuse");

	cr_assert_eq(hl_mcts_set_root(t.m, c.child), 0);
	cr_assert(hl_id_eq(hl_mcts_root(t.m), c.child));
	/* nothing was lost in the move: the same record, edges and values */
	hl_mcts_node after = info(t.m, c.child);
	cr_assert_eq(after.visits, before.visits);
	cr_assert_float_eq(after.value, before.value, 1e-9);
	cr_assert_eq(hl_mcts_children(t.m, c.child, kids_after, WIDE, &na), 0);
	cr_assert_eq(na, nb);
	for (unsigned i = 0; i < na; i++)
		cr_assert_eq(kids_after[i].visits, kids_before[i].visits);
	/* the principal variation starts below the new root */
	uint32_t pv[DEPTH];
	unsigned npv;
	cr_assert_eq(hl_mcts_pv(t.m, pv, DEPTH, &npv), 0);
	cr_assert_geq(npv, 1);
	cr_assert_eq(pv[0], most_visited(t.m, c.child).action);

	/* new playouts go below the new root, none through the old one */
	search(t.m, t.st, play(0, c.action), 1000, 2);
	cr_assert_eq(info(t.m, c.child).visits, before.visits + 1000);
	cr_assert_eq(info(t.m, t.root_id).visits, old_root.visits);
	close_search(&t);
}

/* A searcher in another process: `before` playouts, says so and waits;
 * then `after` playouts from whatever the root is, checking that its handle
 * names the root the parent moved to (sh->moved_to). */
struct follow_shared {
	_Atomic int ready, go;
	hl_id moved_to;
	uint64_t moved_state;
};

static int follower(const char *arena, struct follow_shared *sh,
		    unsigned before, unsigned after)
{
	hl_arena *a;
	hl_state *st;
	hl_mcts *m;
	if (hl_arena_attach(arena, 0, &a) || hl_state_new(a, &st) ||
	    hl_state_resize(st, sizeof(struct pos)) ||
	    hl_mcts_open(a, "follow", (hl_id){0, 0}, NULL, &m))
		return 2;
	struct tu_rng r;
	tu_rng_seed(&r, 77);
	hl_mcts_path p;
	for (unsigned i = 0; i < before; i++)
		if (playout(m, st, 0, &r, &p))
			return 3;
	atomic_store(&sh->ready, 1);
	uint64_t deadline = tu_now_ns() + 20000000000ull;
	while (!atomic_load(&sh->go))
		if (tu_now_ns() > deadline)
			return 4;
	for (unsigned i = 0; i < after; i++) {
		if (playout(m, st, sh->moved_state, &r, &p))
			return 5;
		if (!hl_id_eq(hl_mcts_root(m), sh->moved_to))
			return 6; /* selected from a root it should have left */
	}
	hl_mcts_close(m);
	hl_state_free(st);
	hl_arena_close(a);
	return 0;
}

Test(mcts_root, another_process_follows_the_move_at_its_next_select)
{
	struct setup t;
	open_search(&t, "follow");
	search(t.m, t.st, 0, 1, 1); /* the root record */
	struct follow_shared *sh = tu_shared_map(sizeof *sh);
	pid_t kid = tu_fork();
	if (kid == 0)
		_exit(follower(t.name, sh, 2000, 1500));
	uint64_t deadline = tu_now_ns() + 20000000000ull;
	while (!atomic_load(&sh->ready))
		cr_assert_lt(tu_now_ns(), deadline, "the follower never searched");
	hl_mcts_child c = most_visited(t.m, t.root_id);
	uint64_t old_root_n = info(t.m, t.root_id).visits;
	uint64_t child_n = info(t.m, c.child).visits;
	sh->moved_to = c.child;
	sh->moved_state = play(0, c.action);
	cr_assert_eq(hl_mcts_set_root(t.m, c.child), 0);
	atomic_store(&sh->go, 1);
	int status;
	cr_assert_eq(waitpid(kid, &status, 0), kid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "follower: status %#x", status);
	/* every playout after the move went below the new root */
	cr_assert_eq(info(t.m, t.root_id).visits, old_root_n,
		     "the old root gained %llu visits after the move",
		     (unsigned long long)(info(t.m, t.root_id).visits - old_root_n));
	cr_assert_eq(info(t.m, c.child).visits, child_n + 1500);
	tu_shared_unmap(sh, sizeof *sh);
	close_search(&t);
}

/* Racers: each opens the search, waits at the start line, and moves the
 * root from the same position to its own target. */
enum { RACERS = 4, ROUNDS = 40 };

struct race_shared {
	_Atomic int round_ready[ROUNDS];
	_Atomic int opened[ROUNDS];
	_Atomic int start[ROUNDS];
	hl_id from[ROUNDS];
	hl_id target[ROUNDS][RACERS];
	int rc[ROUNDS][RACERS];
	hl_id after[ROUNDS][RACERS]; /* the racer's root after its call */
	_Atomic int done[ROUNDS];
};

static int racer(const char *arena, struct race_shared *sh, int k)
{
	hl_arena *a;
	if (hl_arena_attach(arena, 0, &a))
		return 2;
	uint64_t deadline = tu_now_ns() + 60000000000ull;
	for (int r = 0; r < ROUNDS; r++) {
		hl_mcts *m;
		while (!atomic_load(&sh->round_ready[r]))
			if (tu_now_ns() > deadline)
				return 3;
		if (hl_mcts_open(a, "race", (hl_id){0, 0}, NULL, &m))
			return 4;
		if (!hl_id_eq(hl_mcts_root(m), sh->from[r]))
			return 5;
		atomic_fetch_add(&sh->opened[r], 1);
		while (!atomic_load(&sh->start[r]))
			;
		sh->rc[r][k] = hl_mcts_set_root(m, sh->target[r][k]);
		sh->after[r][k] = hl_mcts_root(m);
		hl_mcts_close(m);
		atomic_fetch_add(&sh->done[r], 1);
	}
	hl_arena_close(a);
	return 0;
}

Test(mcts_root, racing_moves_one_wins_and_the_others_follow_it)
{
	struct setup t;
	open_search(&t, "race");
	struct race_shared *sh = tu_shared_map(sizeof *sh);
	pid_t kid[RACERS];
	for (int k = 0; k < RACERS; k++)
		if ((kid[k] = tu_fork()) == 0)
			_exit(racer(t.name, sh, k));
	hl_id start = t.root_id;
	for (int r = 0; r < ROUNDS; r++) {
		/* targets: children of the start position, racers 0 and 1 want
		 * the same one, so a loser may also be satisfied */
		sh->from[r] = start;
		for (int k = 0; k < RACERS; k++)
			sh->target[r][k] = commit_ok(t.st, play(0, (uint32_t)(r + (k ? k - 1 : 0)) % WIDE));
		atomic_store(&sh->round_ready[r], 1);
		uint64_t deadline = tu_now_ns() + 20000000000ull;
		while (atomic_load(&sh->opened[r]) < RACERS) /* all on `start` */
			cr_assert_lt(tu_now_ns(), deadline, "round %d: racers late", r);
		atomic_store(&sh->start[r], 1);
		while (atomic_load(&sh->done[r]) < RACERS) {
			for (int k = 0; k < RACERS; k++) {
				int status = 0;
				if (kid[k] && waitpid(kid[k], &status, WNOHANG) == kid[k]) {
					cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
						  "round %d: racer %d failed: status %#x", r,
						  k, status);
					kid[k] = 0; /* done with every round */
				}
			}
			cr_assert_lt(tu_now_ns(), deadline, "round %d never ended", r);
		}
		hl_id now;
		cr_assert_eq(hl_ref_get(t.a, "mcts/race", &now), 0);
		unsigned wins = 0, satisfied = 0;
		for (int k = 0; k < RACERS; k++) {
			int rc = sh->rc[r][k];
			cr_assert(rc == 0 || rc == HL_EBUSY, "round %d racer %d: %s", r,
				  k, hl_strerror(rc));
			/* whoever won, every racer follows the ref's root now */
			cr_assert(hl_id_eq(sh->after[r][k], now), "round %d racer %d "
				  "follows another root", r, k);
			if (rc == 0 && hl_id_eq(sh->target[r][k], now))
				wins++;
			if (rc == 0)
				satisfied++;
			else
				cr_assert(!hl_id_eq(sh->target[r][k], now));
		}
		cr_assert_geq(wins, 1, "round %d: nobody's target is the root", r);
		/* one winner; racer 0 and 1 share a target, so both may say 0 */
		bool shared_won = hl_id_eq(now, sh->target[r][0]);
		cr_assert_eq(satisfied, shared_won ? 2u : 1u, "round %d: %u said 0",
			     r, satisfied);
		/* back to the start for the next round (X -> Y -> X) */
		hl_mcts_set_root(t.m, now); /* follows: may answer EBUSY */
		cr_assert(hl_id_eq(hl_mcts_root(t.m), now));
		cr_assert_eq(hl_mcts_set_root(t.m, start), 0);
	}
	for (int k = 0; k < RACERS; k++) {
		int status;
		if (!kid[k])
			continue; /* reaped above, with status 0 */
		cr_assert_eq(waitpid(kid[k], &status, 0), kid[k]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "racer %d: status %#x", k, status);
	}
	tu_shared_unmap(sh, sizeof *sh);
	close_search(&t);
}

Test(mcts_root, a_path_selected_before_the_move_backs_up_as_usual)
{
	struct setup t;
	open_search(&t, "inflight");
	search(t.m, t.st, 0, 200, 3);
	hl_mcts_path held;
	cr_assert_eq(hl_mcts_select(t.m, &held), 0);
	cr_assert_gt(held.depth, 0);
	uint64_t old_n = info(t.m, t.root_id).visits;
	cr_assert_eq(info(t.m, t.root_id).in_flight, 1);
	/* a root that has no record yet: the next select is its ROOT leaf */
	hl_id fresh = commit_ok(t.st, play(play(0, 9), 9) + 12345);
	cr_assert_eq(hl_mcts_set_root(t.m, fresh), 0);
	hl_mcts_path p;
	cr_assert_eq(hl_mcts_select(t.m, &p), 0);
	cr_assert_eq(p.leaf, HL_MCTS_LEAF_ROOT);
	cr_assert(hl_id_eq(p.leaf_id, fresh));
	hl_mcts_move mv = {0, 1.0f, {0, 0}};
	/* the ROOT path is checked against its own root, not the old one */
	cr_assert_eq(hl_mcts_expand(t.m, &p, t.root_id, &mv, 1, HL_MCTS_ONGOING),
		     HL_EINVAL);
	cr_assert_eq(hl_mcts_expand(t.m, &p, fresh, &mv, 1, HL_MCTS_ONGOING), 0);
	cr_assert_eq(hl_mcts_backup(t.m, &p, 0.5), 0);
	cr_assert_eq(info(t.m, fresh).visits, 1);
	/* the old path: its loss comes off and its visit lands where it was
	 * selected, below the old root */
	cr_assert_eq(hl_mcts_backup(t.m, &held, 0.25), 0);
	hl_mcts_node old = info(t.m, t.root_id);
	cr_assert_eq(old.in_flight, 0);
	cr_assert_eq(old.visits, old_n + 1);
	hl_mcts_stats ms;
	cr_assert_eq(hl_mcts_stats_get(t.a, &ms), 0);
	cr_assert_eq(ms.in_flight, 0);
	tu_assert_arena_ok(t.a, "after moves with paths in flight");
	close_search(&t);
}

Test(mcts_root, bad_moves_are_refused)
{
	struct setup t;
	open_search(&t, "bad");
	search(t.m, t.st, 0, 50, 4);
	cr_assert_eq(hl_mcts_set_root(NULL, t.root_id), HL_EINVAL);
	cr_assert_eq(hl_mcts_set_root(t.m, (hl_id){0, 0}), HL_EINVAL);
	cr_assert_eq(hl_mcts_set_root(t.m, (hl_id){0x1234, 0x5678}), HL_ENOENT);
	cr_assert(hl_id_eq(hl_mcts_root(t.m), t.root_id), "a refused move moved it");
	hl_arena *ro;
	cr_assert_eq(hl_arena_attach(t.name, HL_RDONLY, &ro), 0);
	hl_mcts *m;
	cr_assert_eq(hl_mcts_open(ro, "bad", (hl_id){0, 0}, NULL, &m), 0);
	hl_id child = commit_ok(t.st, play(0, 1));
	cr_assert_eq(hl_mcts_set_root(m, child), HL_EROFS);
	/* a read-only reader follows a move made elsewhere too (pv follows) */
	cr_assert_eq(hl_mcts_set_root(t.m, child), 0);
	uint32_t pv[4];
	unsigned n;
	cr_assert_eq(hl_mcts_pv(m, pv, 4, &n), 0);
	cr_assert(hl_id_eq(hl_mcts_root(m), child));
	/* moving to where it already is: nothing to do, 0 */
	cr_assert_eq(hl_mcts_set_root(t.m, child), 0);
	hl_mcts_close(m);
	hl_arena_close(ro);
	close_search(&t);
}

/* Every record below pos, counted; their visits summed into *visits. */
static unsigned count_below(hl_mcts *m, hl_id pos, uint64_t *visits,
			    hl_id *seen, unsigned *nseen, unsigned cap)
{
	for (unsigned i = 0; i < *nseen; i++)
		if (hl_id_eq(seen[i], pos))
			return 0;
	cr_assert_lt(*nseen, cap, "more records than the test expected");
	seen[(*nseen)++] = pos;
	hl_mcts_node n = info(m, pos);
	*visits += n.visits;
	hl_mcts_child c[WIDE];
	unsigned k, count = 1;
	cr_assert_eq(hl_mcts_children(m, pos, c, WIDE, &k), 0);
	for (unsigned i = 0; i < k; i++)
		if (!hl_id_is_zero(c[i].child))
			count += count_below(m, c[i].child, visits, seen, nseen, cap);
	return count;
}

Test(mcts_root, a_collection_after_a_move_keeps_the_new_root_and_frees_the_rest)
{
	struct setup t;
	open_search(&t, "collect");
	search(t.m, t.st, 0, 4000, 5);
	hl_mcts_child c = most_visited(t.m, t.root_id);
	enum { CAP = 8192 };
	hl_id *seen = calloc(CAP, sizeof *seen);
	unsigned nseen = 0;
	uint64_t v_before = 0;
	unsigned kept = count_below(t.m, c.child, &v_before, seen, &nseen, CAP);
	hl_mcts_stats ms;
	cr_assert_eq(hl_mcts_stats_get(t.a, &ms), 0);
	cr_assert_gt(ms.records, kept + 100, "the old root reaches little else");

	cr_assert_eq(hl_mcts_set_root(t.m, c.child), 0);
	hl_gc_info gi;
	int rc = hl_gc(t.a, &gi);
	cr_assert_eq(rc, 0, "gc: %s", hl_strerror(rc));
	cr_assert_gt(gi.freed_nodes, 0);
	/* the old root and its other children are gone... */
	hl_mcts_node gone;
	cr_assert_eq(hl_mcts_node_info(t.m, t.root_id, &gone), HL_ENOENT);
	/* ...and everything below the new root is there, unchanged */
	uint64_t v_after = 0;
	nseen = 0;
	cr_assert_eq(count_below(t.m, c.child, &v_after, seen, &nseen, CAP), kept);
	cr_assert_eq(v_after, v_before);
	free(seen);
	tu_assert_arena_ok(t.a, "after the collection");
	/* the search goes on from the kept statistics */
	uint64_t n0 = info(t.m, c.child).visits;
	search(t.m, t.st, play(0, c.action), 500, 6);
	cr_assert_eq(info(t.m, c.child).visits, n0 + 500);
	close_search(&t);
}

/* Connect Four workers in child processes, searching until told to stop. */
static pid_t c4_worker(const char *arena, int k, _Atomic int *stop_all)
{
	pid_t kid = tu_fork();
	if (kid)
		return kid;
	hl_arena *a;
	if (hl_arena_attach(arena, 0, &a))
		_exit(2);
	static volatile sig_atomic_t stop;
	int rc = 0;
	while (!rc && !atomic_load(stop_all)) {
		/* batches of 2000 playouts, so the stop flag is looked at */
		hl_mcts_stats ms;
		if ((rc = hl_mcts_stats_get(a, &ms)) == 0)
			rc = hl_c4_search_work(a, ms.playouts + 2000, 100 + (uint64_t)k,
					       &stop, NULL);
	}
	hl_arena_close(a);
	_exit(rc ? 10 + (rc < 0 ? -rc : rc) % 100 : 0);
}

Test(mcts_root, searches_racing_moves_and_collections_never_follow_a_freed_link)
{
	const char *name;
	hl_arena *a = tu_arena_new("mcts_root", 24u << 20, 32, &name);
	struct hl_c4_pos pos;
	hl_c4_init(&pos);
	cr_assert_eq(hl_c4_search_create(a, &pos), 0);
	hl_mcts_config cfg;
	hl_c4_search_config(&cfg);
	hl_mcts *m;
	cr_assert_eq(hl_mcts_open(a, HL_C4_SEARCH_NAME, (hl_id){0, 0}, &cfg, &m), 0);
	hl_state *st;
	cr_assert_eq(hl_state_new(a, &st), 0);
	cr_assert_eq(hl_state_resize(st, HL_C4_ENC_BYTES), 0);
	_Atomic int *stop_all = tu_shared_map(sizeof *stop_all);
	enum { KIDS = 2 };
	pid_t kid[KIDS];
	for (int k = 0; k < KIDS; k++)
		kid[k] = c4_worker(name, k, stop_all);
	/* a few games' worth of moves down the most visited line, a
	 * collection after each, back to the start when a game ends */
	unsigned moves = 0, collections = 0;
	uint64_t deadline = tu_now_ns() + 60000000000ull; /* a loaded machine */
	while ((moves < 40 || collections < 6) && tu_now_ns() < deadline) {
		tu_sleep_us(20000);
		hl_mcts_child best;
		unsigned col;
		if (hl_c4_status(&pos) != HL_C4_ONGOING ||
		    hl_mcts_best(m, hl_mcts_root(m), &best) || best.visits == 0) {
			hl_c4_init(&pos); /* over, or nothing known: start again */
		} else {
			col = best.action;
			cr_assert(col < HL_C4_COLS && (hl_c4_legal(&pos) & (1u << col)));
			hl_c4_play(&pos, col);
		}
		hl_id id;
		if (hl_c4_search_commit(st, &pos, &id) == 0 &&
		    hl_mcts_set_root(m, id) == 0)
			moves++;
		collections += hl_gc(a, NULL) == 0;
	}
	atomic_store(stop_all, 1);
	for (int k = 0; k < KIDS; k++) {
		int status;
		cr_assert_eq(waitpid(kid[k], &status, 0), kid[k]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "worker %d: status %#x (10 + |rc|: %d)", k, status,
			  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	cr_assert_geq(moves, 40, "only %u moves", moves);
	cr_assert_geq(collections, 6, "only %u collections", collections);
	hl_mcts_stats ms;
	cr_assert_eq(hl_mcts_stats_get(a, &ms), 0);
	cr_assert_eq(ms.in_flight, 0);
	tu_assert_arena_ok(a, "after racing moves and collections");
	tu_shared_unmap(stop_all, sizeof *stop_all);
	hl_state_free(st);
	hl_mcts_close(m);
	hl_arena_close(a);
}
