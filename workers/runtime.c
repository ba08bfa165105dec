/*
 * runtime.c - the worker runtime: what a built-in worker process does
 * between exec and exit, so the `helios` program only parses its command
 * line (`helios worker-builtin --workload w1 --seed N`).
 *
 * Life of a built-in worker:
 *   1. SIGTERM and SIGINT set a stop flag (the coordinator's grace period
 *      then ends the workload at its next move, not mid-commit).
 *   2. Attach read-write to the arena named by HELIOS_ARENA, recording the
 *      worker index HELIOS_WORKER in the slot (hl_worker_attach_env).
 *   3. Run the workload until the flag is set or it fails.
 *   4. Close the handle: the slot and the unused slab tails go back.
 *   5. Exit 0, HL_WORKER_EXIT_FULL if the arena was full (so the
 *      coordinator does not restart it into the same full arena), else 1.
 * A worker killed anywhere leaves its slot to the coordinator's reclaim.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "workloads.h"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

int hl_worker_run_builtin(enum hl_workload w, uint64_t seed)
{
	struct sigaction sa = {.sa_handler = on_stop};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	hl_arena *a;
	unsigned index;
	int rc = hl_worker_attach_env(&a, &index);
	if (rc) {
		const char *name = getenv("HELIOS_ARENA");
		fprintf(stderr, "helios: worker-builtin: cannot attach "
			"(HELIOS_ARENA=%s): %s\n", name ? name : "unset",
			hl_strerror(rc));
		return rc == HL_EFULL ? HL_WORKER_EXIT_FULL : 1;
	}
	rc = hl_workload_run(a, w, index, seed, &stop_requested);
	hl_arena_close(a);
	return rc == HL_EFULL ? HL_WORKER_EXIT_FULL : rc ? 1 : 0;
}
