/*
 * runtime.c - the worker runtime: what a built-in worker process does
 * between exec and exit, so the `helios` program only parses its command
 * line (`helios worker-builtin --workload w1 --seed N`).
 *
 * A built-in worker runs a workload (--workload w1|w2) or a game search
 * (--game connect4: workers/games/c4_search.c, until the shared playout
 * budget is spent, the root is proven, or the stop flag is set; with
 * --selfplay, the budgets of a self-play driver until the stop flag).
 *
 * Life of a built-in worker:
 *   1. SIGTERM and SIGINT set a stop flag (the coordinator's grace period
 *      then ends the workload at its next move, not mid-commit).
 *   2. Attach read-write to the arena named by HELIOS_ARENA, recording the
 *      worker index HELIOS_WORKER in the slot (hl_worker_attach_env).
 *   3. Run the workload or the search until the flag is set, it ends, or
 *      it fails.
 *   4. Close the handle: the slot and the unused slab tails go back.
 *   5. Exit 0, HL_WORKER_EXIT_FULL if the arena was full (so the
 *      coordinator does not restart it into the same full arena), else 1.
 * A worker killed anywhere leaves its slot to the coordinator's reclaim.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "workloads.h"
#include "games/c4_search.h"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* The exit status for what a workload or search returned (step 5). */
static int exit_status(int rc)
{
	return rc == HL_EFULL ? HL_WORKER_EXIT_FULL : rc ? 1 : 0;
}

/* Steps 1 and 2: 0, or the exit status after saying why on stderr (a full
 * slot table is HL_WORKER_EXIT_FULL like any other full part). */
static int attach(hl_arena **a, unsigned *index)
{
	struct sigaction sa = {.sa_handler = on_stop};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	int rc = hl_worker_attach_env(a, index);
	if (rc) {
		const char *name = getenv("HELIOS_ARENA");
		fprintf(stderr, "helios: worker-builtin: cannot attach "
			"(HELIOS_ARENA=%s): %s\n", name ? name : "unset",
			hl_strerror(rc));
		return exit_status(rc);
	}
	return 0;
}

int hl_worker_run_builtin(enum hl_workload w, uint64_t seed)
{
	unsigned index;
	hl_arena *a;
	int code = attach(&a, &index);
	if (code)
		return code;
	int rc = hl_workload_run(a, w, index, seed, &stop_requested);
	hl_arena_close(a);
	return exit_status(rc);
}

int hl_worker_run_game(uint64_t playouts, uint64_t seed, bool selfplay)
{
	unsigned index;
	hl_arena *a;
	int code = attach(&a, &index);
	if (code)
		return code;
	/* each worker's rollouts differ: the seed mixed with its index */
	uint64_t mine = seed * 0x9e3779b97f4a7c15ull + index;
	int rc = selfplay ? hl_c4_selfplay_work(a, mine, &stop_requested, NULL)
			  : hl_c4_search_work(a, playouts, mine, &stop_requested, NULL);
	if (rc)
		fprintf(stderr, "helios: worker %u: connect4 search: %s\n", index,
			hl_strerror(rc));
	hl_arena_close(a);
	return exit_status(rc);
}
