/*
 * harness_game.c - Connect Four in `helios bench`: playouts per second of
 * the shared search graph with each worker count of the sweep, beside the
 * private-memory baseline (c4_baseline.c: the same rules and rollouts, one
 * process, a plain hash table, no shared memory) measured in the same run.
 *
 * One run at n workers:
 *   1. A fresh arena with the defaults (hl_config_init: no prefault) but
 *      the 64-byte chunk a 16-byte position wants, sized by
 *      hl_arena_bytes_for for the nodes the run will make; the search is
 *      created from the empty board.
 *   2. n `helios-bench worker-game` processes through the supervisor
 *      (pinned, watched by pidfd). Each attaches, says it is ready (the
 *      ref "bench/ready/<i>"), and waits for "bench/go".
 *   3. The harness publishes "bench/go" (the clock starts), sleeps the
 *      duration, sends SIGTERM (each worker ends its batch of
 *      HL_C4_SEARCH_BATCH playouts and exits) and waits: the clock stops
 *      when the last has exited.
 *   4. playouts / elapsed, from the arena's counters; the graph's summary
 *      (nodes, bytes per node, the root's visits per column: the share of
 *      the centre column, the only winning first move under perfect play).
 *
 * Invariants:
 *  1. Everything a run makes (arena, workers) is gone when it returns,
 *     on every path, interrupted ones too.
 *  2. The baseline runs alone, after the sweep, for the same duration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "c4_baseline.h"
#include "games/c4_search.h"
#include "mcts.h"
#include "harness.h"
#include "kit.h"
#include "shm.h"

#define GAME_READY_WAIT_NS (60ull * 1000000000ull)
#define GAME_STOP_GRACE_NS (5ull * 1000000000ull)
/* Heap one playout may add: a record (256 B), a leaf and a root (160 B),
 * with slack; and the most playouts a busy core makes per second. */
#define GAME_BYTES_PER_PLAYOUT 512u
#define GAME_PLAYOUTS_PER_S_CORE 400000.0

struct game_run {
	const struct opts *o;
	unsigned n;
	char tag[32];
	char arena[96];
	hl_arena *a;
	struct hl_sup sup;
};

static int game_arena(struct game_run *r)
{
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.chunk_bytes = HL_CHUNK_BYTES_MIN; /* a position is 16 bytes */
	cfg.numa = (uint32_t)r->o->numa;
	cfg.max_processes = r->n + 16 > 64 ? r->n + 16 : 64;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	double busy = (double)(r->n < (unsigned)(cpus > 0 ? cpus : 1) ? r->n : (unsigned)cpus);
	double content = busy * GAME_PLAYOUTS_PER_S_CORE * r->o->duration_s *
			 GAME_BYTES_PER_PLAYOUT;
	uint64_t bytes;
	if (hl_arena_bytes_for(&cfg, r->n + 1, (uint64_t)content, &bytes))
		return HL_EFULL;
	cfg.arena_bytes = r->o->size ? r->o->size : bytes;
	snprintf(r->arena, sizeof r->arena, "bench-%d-c4-%u-%llu", (int)getpid(),
		 r->n, (unsigned long long)hl_now_ns());
	int rc = hl_arena_create(r->arena, &cfg, &r->a);
	if (rc) {
		hl_say("bench: %s: cannot create the arena: %s", r->tag, hl_strerror(rc));
		r->arena[0] = '\0';
		return rc;
	}
	hl_slot_set_role(r->a, HL_ROLE_COORDINATOR, 0);
	struct hl_c4_pos root;
	hl_c4_init(&root);
	if ((rc = hl_c4_search_create(r->a, &root)) != 0)
		hl_say("bench: %s: cannot create the search: %s", r->tag, hl_strerror(rc));
	return rc;
}

static unsigned ready_count(struct game_run *r)
{
	unsigned ready = 0;
	for (unsigned i = 0; i < r->n; i++) {
		char name[32];
		hl_id id;
		snprintf(name, sizeof name, "bench/ready/%u", i);
		ready += hl_ref_get(r->a, name, &id) == 0;
	}
	return ready;
}

static const char *wait_ready(struct game_run *r)
{
	uint64_t deadline = hl_now_ns() + GAME_READY_WAIT_NS;
	while (ready_count(r) < r->n) {
		if (hl_bench_interrupted)
			return "interrupted";
		if (hl_sup_count(&r->sup, HL_W_RUNNING) < r->n)
			return "a worker ended before it was ready";
		if (hl_now_ns() > deadline)
			return "workers not ready within 60 s";
		hl_sup_wait(&r->sup, -1, 5);
	}
	return NULL;
}

/* The share of the root's visits on the centre column (column 4). */
static double centre_share(const uint64_t visits[HL_C4_COLS])
{
	uint64_t sum = 0;
	for (int c = 0; c < HL_C4_COLS; c++)
		sum += visits[c];
	return sum ? (double)visits[3] / (double)sum : 0;
}

/* Steps 3 and 4: the timed part; NULL or why it failed. */
static const char *timed(struct game_run *r, struct hl_bench_game_row *row)
{
	hl_id go;
	if (hl_ref_get(r->a, "mcts/" HL_C4_SEARCH_NAME, &go))
		return "the search has no root";
	uint64_t before = hl_mcts_playouts(r->a);
	uint64_t t0 = hl_now_ns();
	if (hl_ref_set(r->a, "bench/go", go))
		return "cannot publish the go";
	uint64_t until = t0 + (uint64_t)(r->o->duration_s * 1e9);
	while (hl_now_ns() < until && !hl_bench_interrupted) {
		if (hl_sup_count(&r->sup, HL_W_RUNNING) < r->n)
			return "a worker died during the run";
		uint64_t left_ms = (until - hl_now_ns()) / 1000000 + 1;
		hl_sup_wait(&r->sup, -1, left_ms > 100 ? 100 : (int)left_ms);
	}
	if (hl_bench_interrupted)
		return "interrupted";
	hl_sup_stop(&r->sup, GAME_STOP_GRACE_NS);
	uint64_t t1 = hl_now_ns();
	if (r->sup.failed)
		return "a worker failed";
	struct hl_c4_summary s;
	if (hl_c4_search_summary(r->a, &s))
		return "the search cannot be read";
	row->workers = r->n;
	row->seconds = (double)(t1 - t0) / 1e9;
	row->playouts = hl_mcts_playouts(r->a) - before;
	row->playouts_per_s = (double)row->playouts / row->seconds;
	row->nodes = s.nodes;
	row->bytes_per_node = (double)s.bytes_per_node;
	row->best_move = s.best_move;
	row->centre_share = centre_share(s.visits);
	row->no_room = s.no_room != 0;
	return NULL;
}

static void game_cleanup(struct game_run *r)
{
	if (r->sup.w) {
		if (hl_sup_count(&r->sup, HL_W_RUNNING))
			hl_sup_stop(&r->sup, GAME_STOP_GRACE_NS);
		hl_sup_fini(&r->sup);
	}
	if (r->a)
		hl_arena_close(r->a);
	if (r->arena[0])
		hl_arena_unlink(r->arena);
}

/* One worker count (steps 1-4). 0, 1 (failed, said why), -1 interrupted. */
static int game_run(const struct opts *o, unsigned n, char **argv,
		    struct hl_bench_game_row *row)
{
	struct game_run r = {.o = o, .n = n};
	snprintf(r.tag, sizeof r.tag, "[connect4 x%u]", n);
	int result = 1;
	const char *why = NULL;
	if (game_arena(&r))
		goto out;
	if (hl_sup_init(&r.sup, n)) {
		why = "cannot set up the workers";
		goto out;
	}
	r.sup.a = r.a;
	r.sup.arena_name = r.arena;
	r.sup.argv = argv;
	r.sup.restart = false;
	for (unsigned i = 0; i < n && !why; i++)
		if (hl_sup_spawn(&r.sup, i))
			why = "a worker could not be started";
	if (!why)
		why = wait_ready(&r);
	if (!why)
		why = timed(&r, row);
	if (!why)
		result = 0;
out:
	if (why && !hl_bench_interrupted)
		hl_say("bench: %s: %s", r.tag, why);
	if (hl_bench_interrupted)
		result = -1;
	game_cleanup(&r);
	return result;
}

static void baseline_row(const struct opts *o, struct hl_bench_game_row *row)
{
	struct hl_c4_pos root;
	struct hl_c4_baseline_result b;
	hl_c4_init(&root);
	memset(row, 0, sizeof *row);
	/* the same rule and constant as the shared search (c4_search.h) */
	struct hl_c4_baseline_opts bo = {.uct_c = HL_C4_SEARCH_UCT_C, .seed = o->seed,
					 .rule = HL_C4_BASELINE_UCT};
	struct hl_c4_baseline *base;
	if (hl_c4_baseline_new(&root, &bo, &base)) {
		row->failed = true;
		return;
	}
	int rc = hl_c4_baseline_run(base, 0, o->duration_s);
	hl_c4_baseline_result(base, &b);
	hl_c4_baseline_free(base);
	if (rc) {
		row->failed = true;
		return;
	}
	row->workers = 0;
	row->seconds = b.elapsed_s;
	row->playouts = b.playouts;
	row->playouts_per_s = b.playouts_per_s;
	row->nodes = b.nodes;
	row->bytes_per_node = b.bytes_per_node;
	row->best_move = b.best_move;
	row->centre_share = centre_share(b.visits);
	row->no_room = b.full != 0;
}

bool hl_harness_run_games(const struct opts *o, char *exe,
			  struct hl_bench_report *rep)
{
	char *argv[] = {exe, "worker-game", NULL};
	bool ok = true;
	for (unsigned i = 0; i < o->ncounts && !hl_bench_interrupted; i++) {
		if (rep->game_count >= HL_BENCH_GAME_ROWS_MAX)
			break;
		struct hl_bench_game_row *row = &rep->games[rep->game_count];
		memset(row, 0, sizeof *row);
		int rc = game_run(o, o->counts[i], argv, row);
		if (rc < 0)
			return false;
		if (rc) {
			row->workers = o->counts[i];
			row->failed = true;
			ok = false;
		} else if (!o->quiet) {
			fprintf(stderr, "[connect4 x%u] %.0f playouts/s, %llu nodes\n",
				row->workers, row->playouts_per_s,
				(unsigned long long)row->nodes);
		}
		rep->game_count++;
	}
	if (!hl_bench_interrupted && rep->game_count < HL_BENCH_GAME_ROWS_MAX) {
		baseline_row(o, &rep->games[rep->game_count]);
		ok &= !rep->games[rep->game_count].failed;
		rep->game_count++;
	}
	return ok && !hl_bench_interrupted;
}
