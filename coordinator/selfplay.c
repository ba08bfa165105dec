/*
 * selfplay.c - `helios run --game connect4 --selfplay G [--playouts P]`:
 * whole games played by the shared search against itself, with the tree
 * kept from move to move.
 *
 * Who drives. The coordinator plays the games; the workers only search.
 * For each move the driver publishes a budget (c4_search.h: the root and
 * the arena's playout count to stop at, P past the count now), waits until
 * the count reaches it, reads the root's children from the graph, picks
 * the move, plays it on its own board, commits the new position (or takes
 * the child's id from the graph) and moves the search's root there with
 * hl_mcts_set_root. The workers follow the root at their next select
 * (workers/mcts_root.c) and search the next budget. The statistics grown
 * below the move played stay: the next move starts from them (tree reuse).
 * After each move the driver calls hl_run_after_move (run_arena.c), the
 * place for work on the arena between moves: it reads the memory through
 * hl_arena_stats and hl_mcts_stats_get and says once when the arena is full.
 *
 * The driver's states, per game:
 *
 *   START    the start position committed, the root moved to it (sp_game)
 *   SEARCH   a budget published; waiting for its playouts (sp_search),
 *            while supervising the workers (signals, deaths, restarts);
 *            skipped when the root is proven already (a proven win, loss
 *            or draw has every child it needs linked and proven)
 *   PICK     the move chosen (sp_pick): the most visited, a proven win
 *            first, never a proven loss while another move exists; in the
 *            first SELFPLAY_SAMPLED_PLIES plies, drawn in proportion to the
 *            visits with the driver's own generator (seeded from --seed),
 *            so games differ and a run is reproducible
 *   ADVANCE  the move played and the root moved (sp_advance), then
 *            hl_run_after_move; back to SEARCH until the game is over
 *   OVER     the result recorded and reported on stderr; the next game
 *
 * Invariants:
 *  1. A budget is published only after the root it names is the search's
 *     root (c4_search.c invariant 6), and the driver reads the graph only
 *     once the count has reached the budget's target: with one worker,
 *     no playout runs while it reads, so a run with --seed and one worker
 *     plays the same games every time.
 *  2. Every move played is legal on the driver's own board: an action the
 *     graph offers that is not is a damaged graph (HL_ECORRUPT, the run
 *     stops), never a move.
 *  3. A full arena never stops a game: a search with no room goes on with
 *     statistics only (mcts.c); a budget that cannot be committed is
 *     replaced by the any-root budget committed at the start (the workers
 *     then search whatever root there is until the driver moves it); a
 *     position that cannot be committed ends the search for the rest of
 *     that game (the workers get the idle budget and wait), whose moves
 *     (and those of a root with no record) are then chosen by plain
 *     rollouts in the driver, P a move (sp_flat; counted as unsearched,
 *     said once).
 *  4. Totals add up: first-player wins + second-player wins + draws =
 *     games played; the moves and playouts are the games' sums.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "games/c4_search.h"
#include "mcts.h"
#include "run.h"
#include "shm.h"

/* Playouts a move when --playouts is not given: enough for the search to
 * find the tactics of a move or two ahead on 2 workers in about 10 ms. */
#define SELFPLAY_PLAYOUTS_DEFAULT 2000u
/* Plies at the start of each game drawn in proportion to the visits. */
#define SELFPLAY_SAMPLED_PLIES 4u
/* The driver looks at the playout count this often while it waits. */
#define SELFPLAY_POLL_NS 50000l
/* ... and supervises (heartbeat, restarts, hangs) this often. */
#define SELFPLAY_TICK_NS 100000000ull
/* Mixed into --seed: the driver's draws differ from every worker's. */
#define SELFPLAY_SEED_SALT 0x5e1f91a7c0ffee11ull
/* The refs that keep the any-root and the idle budgets reachable (refs are
 * a collector's roots). */
#define SELFPLAY_ANY_REF HL_C4_BUDGET_REF "/any"
#define SELFPLAY_IDLE_REF HL_C4_BUDGET_REF "/idle"

enum sp_winner { SP_FIRST = 0, SP_SECOND = 1, SP_DRAW = 2 };

struct sp_game {
	char moves[HL_C4_CELLS + 1]; /* the moves played, columns 1-7 */
	uint8_t plies;               /* how many */
	uint8_t winner;              /* enum sp_winner */
	uint16_t unsearched;         /* moves chosen by sp_flat (invariant 3) */
	uint16_t proven;             /* moves from a root proven already */
	uint64_t playouts;
	uint64_t reused;             /* the root's visits when each search
				      * began: kept from the moves before */
	double elapsed_s;
};

struct selfplay {
	const struct run_opts *o;
	struct hl_sup *sup;
	int sfd;
	hl_arena *a;
	hl_mcts *s;
	hl_state *pos_st;    /* the positions the driver commits */
	hl_state *budget_st; /* the budgets */
	hl_id any_budget;    /* invariant 3: any root, no bound */
	hl_id idle_budget;   /* no playouts: the workers wait */
	struct hl_c4_rng rng;
	struct sp_game *games;
	uint64_t played;     /* games over */
	uint64_t start_ns, tick_ns, playouts_first;
	bool said_unsearched;
	struct hl_run_memory mem;
};

/* ---- the command line ----------------------------------------------------- */

const char *hl_selfplay_opts(struct run_opts *o)
{
	if (!o->selfplay)
		return NULL;
	if (o->duration_given)
		return "--duration does not go with --selfplay: the run ends "
		       "after its games";
	if (hl_c4_status(&o->root) != HL_C4_ONGOING)
		return "--selfplay: the game is already over at --position";
	if (o->playouts > HL_SELFPLAY_PLAYOUTS_MAX)
		return "--playouts takes at most 1000000000 a move with --selfplay";
	o->move_playouts = o->playouts ? o->playouts : SELFPLAY_PLAYOUTS_DEFAULT;
	o->playouts = 0;   /* the workers' bound comes move by move */
	o->duration_s = 0; /* the games end the run */
	return NULL;
}

/* ---- setting up ------------------------------------------------------------ */

static void sp_close(struct selfplay *sp)
{
	free(sp->games);
	hl_state_free(sp->budget_st);
	hl_state_free(sp->pos_st);
	hl_mcts_close(sp->s);
}

/* The handle, the states, the any-root budget and the idle one (no
 * playouts), published first so that workers that start wait for the
 * first move's budget. */
static int sp_open(struct selfplay *sp, const struct run_opts *o,
		   struct hl_sup *sup, int sfd)
{
	*sp = (struct selfplay){.o = o, .sup = sup, .sfd = sfd, .a = sup->a};
	hl_mcts_config cfg;
	hl_c4_search_config(&cfg);
	int rc = hl_mcts_open(sp->a, HL_C4_SEARCH_NAME, (hl_id){0, 0}, &cfg, &sp->s);
	if (rc || (rc = hl_state_new(sp->a, &sp->pos_st)) != 0 ||
	    (rc = hl_state_new(sp->a, &sp->budget_st)) != 0 ||
	    (rc = hl_state_resize(sp->pos_st, HL_C4_ENC_BYTES)) != 0)
		return rc;
	if ((rc = hl_c4_budget_commit(sp->budget_st, (hl_id){0, 0}, UINT64_MAX,
				      &sp->any_budget)) != 0 ||
	    (rc = hl_c4_budget_commit(sp->budget_st, (hl_id){0, 0}, 0,
				      &sp->idle_budget)) != 0 ||
	    (rc = hl_ref_set(sp->a, SELFPLAY_ANY_REF, sp->any_budget)) != 0 ||
	    (rc = hl_ref_set(sp->a, SELFPLAY_IDLE_REF, sp->idle_budget)) != 0 ||
	    (rc = hl_c4_budget_set(sp->a, sp->idle_budget)) != 0)
		return rc;
	if (!(sp->games = calloc(o->selfplay, sizeof *sp->games)))
		return HL_ENOMEM;
	hl_c4_rng_seed(&sp->rng, o->seed ^ SELFPLAY_SEED_SALT);
	return hl_run_after_move(sp->a, &sp->mem);
}

static const char *sp_signal(int sfd)
{
	struct signalfd_siginfo si;
	if (read(sfd, &si, sizeof si) != sizeof si)
		return "signal";
	return si.ssi_signo == SIGINT ? "SIGINT" : si.ssi_signo == SIGTERM ? "SIGTERM"
									     : "SIGHUP";
}

/* Signals and worker deaths at every look; heartbeat, restarts and hangs
 * every SELFPLAY_TICK_NS. NULL, or why the run stops. */
static const char *sp_supervise(struct selfplay *sp)
{
	if (hl_sup_wait(sp->sup, sp->sfd, 0))
		return sp_signal(sp->sfd);
	uint64_t now = hl_now_ns();
	if (now < sp->tick_ns)
		return NULL;
	sp->tick_ns = now + SELFPLAY_TICK_NS;
	hl_arena_heartbeat(sp->a);
	if (hl_sup_tick(sp->sup))
		return "a worker could not be restarted";
	if (!hl_sup_count(sp->sup, HL_W_RUNNING) && !hl_sup_count(sp->sup, HL_W_BACKOFF))
		return "every worker has ended";
	return NULL;
}

/* Starts the workers and waits until they have attached (the first
 * game's rate is then the search's, not the workers' start-up). */
static const char *sp_spawn(struct selfplay *sp)
{
	for (unsigned i = 0; i < sp->sup->n; i++) {
		if (hl_sup_wait(sp->sup, sp->sfd, 0))
			return sp_signal(sp->sfd);
		if (hl_sup_spawn(sp->sup, i))
			return "a worker could not be started";
	}
	hl_stats st;
	while (hl_arena_stats(sp->a, &st) == 0 && st.processes < 1 + (uint64_t)sp->sup->n) {
		const char *why = sp_supervise(sp);
		if (why)
			return why;
		struct timespec ts = {0, SELFPLAY_POLL_NS};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* ---- one move ----------------------------------------------------------------- */

/* SEARCH: publishes the budget of P playouts from the root and waits for
 * them (invariant 1); nothing when the root is proven already (a root
 * proven during its search spends the rest of its budget on a select and
 * a backup each, c4_search.c). */
static const char *sp_search(struct selfplay *sp, struct sp_game *g)
{
	hl_mcts_node root;
	if (hl_mcts_node_info(sp->s, hl_mcts_root(sp->s), &root) == 0) {
		g->reused += root.visits; /* tree reuse: what the search starts from */
		if (root.result != HL_MCTS_ONGOING) {
			g->proven++;
			return NULL; /* proven already: its children say the move */
		}
	}
	uint64_t target = hl_mcts_playouts(sp->a) + sp->o->move_playouts;
	int rc = hl_c4_budget_publish(sp->a, sp->budget_st, hl_mcts_root(sp->s),
				      target);
	if (rc == HL_EFULL) /* invariant 3: search whatever root, unbounded */
		rc = hl_c4_budget_set(sp->a, sp->any_budget);
	if (rc) {
		hl_say("run: self-play: cannot publish a move's budget: %s",
		       hl_strerror(rc));
		return "the budget could not be published";
	}
	while (hl_mcts_playouts(sp->a) < target) {
		const char *why = sp_supervise(sp);
		if (why)
			return why;
		struct timespec ts = {0, SELFPLAY_POLL_NS};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* A move chosen without the graph (invariant 3's unsearched moves): a
 * column that wins at once, else the one whose P / n uniform rollouts
 * (P the move's playouts, n the legal columns) score best for the side to
 * move, drawn with the driver's generator. */
static unsigned sp_flat(struct selfplay *sp, const struct hl_c4_pos *pos)
{
	unsigned legal = hl_c4_legal(pos), win = hl_c4_winning_cols(pos);
	if (win)
		return (unsigned)__builtin_ctz(win);
	uint64_t per = sp->o->move_playouts / (unsigned)__builtin_popcount(legal);
	per = per ? per : 1;
	enum hl_c4_side me = hl_c4_side_to_move(pos);
	unsigned best = 0;
	int64_t best_sum = INT64_MIN;
	for (unsigned c = 0; c < HL_C4_COLS; c++) {
		if (!(legal & (1u << c)))
			continue;
		struct hl_c4_pos q = *pos;
		hl_c4_play(&q, c);
		int64_t sum = 0;
		for (uint64_t i = 0; i < per; i++)
			sum += hl_c4_rollout(&q, &sp->rng, me);
		if (sum > best_sum)
			best = c, best_sum = sum;
	}
	return best;
}

/* Index of the child to play among c[0..n): a proven win, else the most
 * visited non-losing move (hl_mcts_best's rule), or in the first plies a
 * draw in proportion to the visits of the moves not proven lost. */
static unsigned sp_choose(struct selfplay *sp, const hl_mcts_child *c,
			  unsigned n, const hl_mcts_child *best, unsigned ply)
{
	unsigned bi = 0;
	uint64_t total = 0;
	for (unsigned i = 0; i < n; i++) {
		if (c[i].action == best->action)
			bi = i;
		if (c[i].result != HL_MCTS_LOSS)
			total += c[i].visits;
	}
	if (ply >= SELFPLAY_SAMPLED_PLIES || best->result == HL_MCTS_WIN ||
	    best->result == HL_MCTS_LOSS || total == 0)
		return bi;
	uint64_t x = hl_c4_rng_next(&sp->rng) % total;
	for (unsigned i = 0; i < n; i++) {
		if (c[i].result == HL_MCTS_LOSS)
			continue;
		if (x < c[i].visits)
			return i;
		x -= c[i].visits;
	}
	return bi;
}

/* PICK: the column to play at pos (the search's root) and, when the graph
 * links it, the child position's id (zero otherwise). 0, 1 when the graph
 * has nothing to say (no record, no visits: sp_flat chose), or
 * HL_ECORRUPT (invariant 2). */
static int sp_pick(struct selfplay *sp, const struct hl_c4_pos *pos,
		   unsigned ply, unsigned *col, hl_id *child)
{
	hl_mcts_child c[HL_C4_COLS], best;
	unsigned n = 0;
	hl_id root = hl_mcts_root(sp->s);
	*child = (hl_id){0, 0};
	if (hl_mcts_children(sp->s, root, c, HL_C4_COLS, &n) || n == 0 ||
	    n > HL_C4_COLS || hl_mcts_best(sp->s, root, &best) || best.visits == 0) {
		*col = sp_flat(sp, pos);
		return 1;
	}
	unsigned i = sp_choose(sp, c, n, &best, ply);
	if (c[i].action >= HL_C4_COLS || !(hl_c4_legal(pos) & (1u << c[i].action)))
		return HL_ECORRUPT;
	*col = c[i].action;
	*child = c[i].child;
	return 0;
}

/* ADVANCE: the root to the position after the move (child: its id from
 * the graph, or zero to commit it). *moved is false when there was no
 * room to commit it (invariant 3). */
static int sp_advance(struct selfplay *sp, const struct hl_c4_pos *pos,
		      hl_id child, bool *moved)
{
	hl_id id = child;
	int rc = 0;
	*moved = false;
	if (hl_id_is_zero(id))
		rc = hl_c4_search_commit(sp->pos_st, pos, &id);
	if (rc == HL_EFULL)
		return 0;
	if (rc || (rc = hl_mcts_set_root(sp->s, id)) != 0)
		return rc;
	*moved = true;
	return 0;
}

/* SEARCH, PICK and ADVANCE for one move of game g at *pos; *searched says
 * whether the search's root is still the game's position. */
static const char *sp_move(struct selfplay *sp, struct hl_c4_pos *pos,
			   struct sp_game *g, bool *searched)
{
	const char *why = *searched ? sp_search(sp, g) : sp_supervise(sp);
	if (why)
		return why;
	unsigned col;
	hl_id child = {0, 0};
	int rc = *searched ? sp_pick(sp, pos, g->plies, &col, &child) : 1;
	if (rc == 1) {
		col = *searched ? col : sp_flat(sp, pos);
		g->unsearched++;
	} else if (rc) {
		hl_say("run: self-play: the search graph offers an illegal move");
		return "the search graph is damaged";
	}
	hl_c4_play(pos, col);
	g->moves[g->plies++] = (char)('1' + col);
	if (*searched && (rc = sp_advance(sp, pos, child, searched)) != 0) {
		hl_say("run: self-play: cannot move the root: %s", hl_strerror(rc));
		return "the root could not be moved";
	}
	/* off the graph for the rest of the game: the workers wait, leaving
	 * the cores to the driver's rollouts */
	if (!*searched && (rc = hl_c4_budget_set(sp->a, sp->idle_budget)) != 0)
		return "the budget could not be published";
	if ((rc = hl_run_after_move(sp->a, &sp->mem)) != 0)
		return "the arena could not be read";
	if (g->unsearched && !sp->said_unsearched) {
		hl_say("run: self-play: no room for a position: moves the search "
		       "cannot reach are chosen by rollouts in the coordinator "
		       "(--size for more)");
		sp->said_unsearched = true;
	}
	return NULL;
}

/* ---- one game --------------------------------------------------------------- */

static const char *winner_name(unsigned w)
{
	return w == SP_FIRST ? "first" : w == SP_SECOND ? "second" : "draw";
}

static void sp_game_line(const struct selfplay *sp, uint64_t n)
{
	const struct sp_game *g = &sp->games[n];
	char rate[16], heap[16], nodes[16];
	hl_fmt_count(rate, sizeof rate, g->elapsed_s > 0 ? (double)g->playouts / g->elapsed_s : 0);
	hl_fmt_bytes(heap, sizeof heap, sp->mem.heap_used_bytes);
	hl_fmt_count(nodes, sizeof nodes, (double)sp->mem.nodes);
	fprintf(stderr, "[%6.1fs] game %llu/%llu: %s%s in %u moves (%s) | %s "
		"playouts/s | heap %s used, %s nodes\n",
		(double)(hl_now_ns() - sp->start_ns) / 1e9,
		(unsigned long long)n + 1, (unsigned long long)sp->o->selfplay,
		g->winner == SP_DRAW ? "draw" : winner_name(g->winner),
		g->winner == SP_DRAW ? "" : " player wins", g->plies, g->moves,
		rate, heap, nodes);
	fflush(stderr);
}

/* START to OVER for game n. */
static const char *sp_game(struct selfplay *sp, uint64_t n)
{
	struct sp_game *g = &sp->games[n];
	struct hl_c4_pos pos = sp->o->root;
	uint64_t t0 = hl_now_ns(), p0 = hl_mcts_playouts(sp->a);
	hl_id start;
	bool searched = false;
	/* START: committed again each game (a collector may have freed it) */
	int rc = hl_c4_search_commit(sp->pos_st, &pos, &start);
	if (rc == 0 && (rc = hl_mcts_set_root(sp->s, start)) == 0)
		searched = true;
	else if (rc != HL_EFULL) {
		hl_say("run: self-play: cannot start game %llu: %s",
		       (unsigned long long)n + 1, hl_strerror(rc));
		return "a game could not be started";
	}
	const char *why = NULL;
	while (!why && hl_c4_status(&pos) == HL_C4_ONGOING)
		why = sp_move(sp, &pos, g, &searched);
	if (why)
		return why; /* an unfinished game is not counted */
	g->winner = hl_c4_status(&pos) == HL_C4_DRAW ? SP_DRAW
		    : pos.plies % 2 ? SP_FIRST : SP_SECOND; /* who moved last */
	g->playouts = hl_mcts_playouts(sp->a) - p0;
	g->elapsed_s = (double)(hl_now_ns() - t0) / 1e9;
	sp->played++;
	if (!sp->o->quiet)
		sp_game_line(sp, n);
	return NULL;
}

/* ---- the report ----------------------------------------------------------------- */

struct sp_totals {
	uint64_t wins[3], moves, playouts, unsearched, proven, reused;
	double elapsed_s;
};

static void sp_sum(const struct selfplay *sp, struct sp_totals *t)
{
	memset(t, 0, sizeof *t);
	for (uint64_t i = 0; i < sp->played; i++) {
		t->wins[sp->games[i].winner]++;
		t->moves += sp->games[i].plies;
		t->unsearched += sp->games[i].unsearched;
		t->reused += sp->games[i].reused;
		t->proven += sp->games[i].proven;
	}
	t->playouts = hl_mcts_playouts(sp->a) - sp->playouts_first;
	t->elapsed_s = (double)(hl_now_ns() - sp->start_ns) / 1e9;
}

static void sp_json(const struct selfplay *sp, const struct sp_totals *t)
{
	struct hl_json j;
	const struct run_opts *o = sp->o;
	hl_json_begin(&j, stdout, false);
	hl_json_open(&j, NULL, '{');
	hl_json_str(&j, "game", "connect4", SIZE_MAX);
	hl_json_str(&j, "mode", "selfplay", SIZE_MAX);
	hl_json_str(&j, "position", o->position, SIZE_MAX);
	hl_json_u64(&j, "games", o->selfplay);
	hl_json_u64(&j, "games_played", sp->played);
	hl_json_u64(&j, "workers", sp->sup->n);
	hl_json_u64(&j, "playouts_per_move", o->move_playouts);
	hl_json_u64(&j, "seed", o->seed);
	hl_json_u64(&j, "first_wins", t->wins[SP_FIRST]);
	hl_json_u64(&j, "second_wins", t->wins[SP_SECOND]);
	hl_json_u64(&j, "draws", t->wins[SP_DRAW]);
	hl_json_u64(&j, "moves", t->moves);
	hl_json_u64(&j, "playouts", t->playouts);
	hl_json_fixed(&j, "elapsed_s", t->elapsed_s, 3);
	hl_json_fixed(&j, "playouts_per_s",
		      t->elapsed_s > 0 ? (double)t->playouts / t->elapsed_s : 0, 0);
	hl_json_u64(&j, "heap_bytes", sp->mem.heap_bytes);
	hl_json_u64(&j, "heap_used_bytes", sp->mem.heap_used_bytes);
	hl_json_u64(&j, "heap_peak_bytes", sp->mem.heap_peak_bytes);
	hl_json_u64(&j, "nodes", sp->mem.nodes);
	hl_json_u64(&j, "records", sp->mem.records);
	hl_json_u64(&j, "no_room", sp->mem.no_room);
	hl_json_u64(&j, "gc_cycles", sp->mem.gc_cycles);
	hl_json_u64(&j, "gc_freed_bytes", sp->mem.gc_freed_bytes);
	hl_json_u64(&j, "live_bytes", sp->mem.live_bytes);
	hl_json_u64(&j, "unsearched_moves", t->unsearched);
	hl_json_u64(&j, "proven_moves", t->proven);
	hl_json_u64(&j, "reused_visits", t->reused);
	hl_json_open(&j, "results", '[');
	for (uint64_t i = 0; i < sp->played; i++) {
		const struct sp_game *g = &sp->games[i];
		hl_json_open(&j, NULL, '{');
		hl_json_str(&j, "winner", winner_name(g->winner), SIZE_MAX);
		hl_json_u64(&j, "plies", g->plies);
		hl_json_str(&j, "moves", g->moves, sizeof g->moves);
		hl_json_u64(&j, "playouts", g->playouts);
		hl_json_u64(&j, "reused_visits", g->reused);
		hl_json_fixed(&j, "elapsed_s", g->elapsed_s, 3);
		hl_json_close(&j);
	}
	hl_json_close(&j);
	hl_json_close(&j);
	hl_json_end(&j);
}

static void sp_text(const struct selfplay *sp, const struct sp_totals *t)
{
	const struct run_opts *o = sp->o;
	char used[16], all[16], peak[16];
	hl_fmt_bytes(used, sizeof used, sp->mem.heap_used_bytes);
	hl_fmt_bytes(all, sizeof all, sp->mem.heap_bytes);
	hl_fmt_bytes(peak, sizeof peak, sp->mem.heap_peak_bytes);
	printf("helios run: self-play, %llu of %llu games of connect4 from \"%s\", "
	       "%u workers, %llu playouts a move, %.1f s\n",
	       (unsigned long long)sp->played, (unsigned long long)o->selfplay,
	       o->position, sp->sup->n, (unsigned long long)o->move_playouts,
	       t->elapsed_s);
	printf("  results   first player %llu, second player %llu, draws %llu\n",
	       (unsigned long long)t->wins[SP_FIRST],
	       (unsigned long long)t->wins[SP_SECOND],
	       (unsigned long long)t->wins[SP_DRAW]);
	printf("  moves     %llu (%.1f a game), %llu from a position proven "
	       "already (played without a search)\n", (unsigned long long)t->moves,
	       sp->played ? (double)t->moves / (double)sp->played : 0,
	       (unsigned long long)t->proven);
	printf("  playouts  %llu (%.0f/s)\n", (unsigned long long)t->playouts,
	       t->elapsed_s > 0 ? (double)t->playouts / t->elapsed_s : 0);
	printf("  reuse     a move's search began from %.0f visits on average, "
	       "kept from the moves before\n",
	       t->moves ? (double)t->reused / (double)t->moves : 0);
	printf("  memory    heap %s used of %s (peak %s), %llu nodes, %llu search "
	       "records\n", used, all, peak, (unsigned long long)sp->mem.nodes,
	       (unsigned long long)sp->mem.records);
	if (sp->mem.gc_cycles) {
		char freed[16], live[16];
		hl_fmt_bytes(freed, sizeof freed, sp->mem.gc_freed_bytes);
		hl_fmt_bytes(live, sizeof live, sp->mem.live_bytes);
		printf("  gc        %llu collections freed %s; the last found %s live\n",
		       (unsigned long long)sp->mem.gc_cycles, freed, live);
	}
	if (sp->mem.no_room)
		printf("  full      %llu expansions refused: the search went on with "
		       "statistics only\n", (unsigned long long)sp->mem.no_room);
	if (t->unsearched)
		printf("  unsearched %llu moves chosen by the coordinator's rollouts (no "
		       "record or no room for their position)\n",
		       (unsigned long long)t->unsearched);
	fflush(stdout);
}

static void sp_report(struct selfplay *sp, const char *why)
{
	struct sp_totals t;
	sp_sum(sp, &t);
	if (!sp->o->quiet)
		fprintf(stderr, "helios run: self-play stopped after %.1f s (%s)\n",
			t.elapsed_s, why);
	if (sp->o->json)
		sp_json(sp, &t);
	else
		sp_text(sp, &t);
}

/* ---- the driver --------------------------------------------------------------- */

const char *hl_selfplay_run(const struct run_opts *o, struct hl_sup *sup, int sfd,
			    bool *failed)
{
	struct selfplay sp;
	int rc = sp_open(&sp, o, sup, sfd);
	*failed = true;
	if (rc) {
		hl_say("run: cannot start self-play: %s", hl_strerror(rc));
		sp_close(&sp);
		return "self-play could not start";
	}
	const char *why = sp_spawn(&sp);
	sp.start_ns = hl_now_ns();
	sp.playouts_first = hl_mcts_playouts(sp.a);
	for (uint64_t g = 0; !why && g < o->selfplay; g++)
		why = sp_game(&sp, g);
	if (!why)
		why = "games played";
	/* a signal is a clean stop; a worker that failed for good is the
	 * supervisor's to count (sup->failed) */
	*failed = strcmp(why, "games played") && strcmp(why, "SIGINT") &&
		  strcmp(why, "SIGTERM") && strcmp(why, "SIGHUP") && !sup->failed;
	/* the search left at its start, as a kept arena's next run expects */
	hl_id start;
	if (hl_c4_search_commit(sp.pos_st, &o->root, &start) == 0)
		hl_mcts_set_root(sp.s, start);
	sp_report(&sp, why);
	sp_close(&sp);
	return why;
}
