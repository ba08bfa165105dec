/*
 * worker_game.c - `helios-bench worker-game`: one Connect Four search
 * worker of harness_game.c. It attaches (HELIOS_ARENA, HELIOS_WORKER),
 * says it is ready (the ref "bench/ready/<index>"), waits for "bench/go"
 * (bounded, heartbeating), then runs playouts on the arena's search until
 * SIGTERM (hl_c4_search_work ends its batch and returns).
 */
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "bench.h"
#include "games/c4_search.h"
#include "kit.h"

#define GO_WAIT_NS (120ull * 1000000000ull)

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Ready, then waits for go: 0, or 1 when go never came. */
static int ready_then_go(hl_arena *a, unsigned index)
{
	char name[32];
	hl_id root, go;
	snprintf(name, sizeof name, "bench/ready/%u", index);
	if (hl_ref_get(a, "mcts/" HL_C4_SEARCH_NAME, &root) || hl_ref_set(a, name, root))
		return 1;
	uint64_t deadline = now_ns() + GO_WAIT_NS;
	while (hl_ref_get(a, "bench/go", &go) != 0) {
		if (stop || now_ns() > deadline)
			return 1;
		hl_arena_heartbeat(a);
		struct timespec ts = {0, 200 * 1000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

int hl_bench_game_worker_main(int argc, char **argv)
{
	(void)argv;
	if (argc != 1) {
		hl_say("bench worker-game: takes no arguments (it is started by "
		       "helios bench)");
		return HL_EXIT_USAGE;
	}
	struct sigaction sa = {.sa_handler = on_stop};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	hl_arena *a;
	unsigned index;
	int rc = hl_worker_attach_env(&a, &index);
	if (rc) {
		hl_say("bench worker-game: cannot attach: %s", hl_strerror(rc));
		return HL_EXIT_FAILED;
	}
	if (ready_then_go(a, index)) {
		hl_arena_close(a);
		return stop ? HL_EXIT_OK : HL_EXIT_FAILED;
	}
	rc = hl_c4_search_work(a, 0, 0x5eed0000u + index, &stop, NULL);
	if (rc)
		hl_say("bench worker-game %u: %s", index, hl_strerror(rc));
	hl_arena_close(a);
	return rc ? HL_EXIT_FAILED : HL_EXIT_OK;
}
