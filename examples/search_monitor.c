/*
 * search_monitor.c - helios-search-monitor: attaches read-only to an arena
 * where a search is running (`helios run --game connect4 --keep`, or your
 * own workers) and reads the shared search graph the way a solver or a
 * monitor in another process would: through the public calls of helios.h
 * only, never writing a byte.
 *
 *   helios-search-monitor ARENA [SEARCH] [--watch SECONDS]
 *
 * SEARCH defaults to "connect4". Prints the root's visits, value and
 * proof, each move's visits, share, value and proof, and the principal
 * variation; with --watch, again every SECONDS until interrupted. Actions
 * are printed as the game's moves plus one (Connect Four's columns 1-7).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <helios.h>

#define MOVES_MAX 64

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static const char *result_name(uint32_t r)
{
	return r == HL_MCTS_WIN ? "win" : r == HL_MCTS_LOSS ? "loss"
	       : r == HL_MCTS_DRAW ? "draw" : "-";
}

static int show(hl_arena *a, hl_mcts *s)
{
	hl_mcts_node root;
	int rc = hl_mcts_node_info(s, hl_mcts_root(s), &root);
	if (rc == HL_ENOENT) {
		printf("the search has not evaluated its root yet\n");
		return 0;
	}
	if (rc)
		return rc;
	char hex[33];
	hl_id_to_hex(root.id, hex);
	printf("root %s: %llu visits, value %+.3f, proven %s, %u in flight\n", hex,
	       (unsigned long long)root.visits, root.value, result_name(root.result),
	       root.in_flight);
	hl_mcts_child c[MOVES_MAX];
	unsigned n;
	if ((rc = hl_mcts_children(s, hl_mcts_root(s), c, MOVES_MAX, &n)) != 0)
		return rc;
	uint64_t sum = 0;
	for (unsigned i = 0; i < n && i < MOVES_MAX; i++)
		sum += c[i].visits;
	printf("  move   visits   share   value  proven\n");
	for (unsigned i = 0; i < n && i < MOVES_MAX; i++)
		printf("  %4u %8llu  %5.1f%%  %+.3f  %s\n", c[i].action + 1,
		       (unsigned long long)c[i].visits,
		       sum ? 100.0 * (double)c[i].visits / (double)sum : 0.0,
		       c[i].value == c[i].value ? c[i].value : 0.0,
		       result_name(c[i].result));
	hl_mcts_child best;
	if (hl_mcts_best(s, hl_mcts_root(s), &best) == 0)
		printf("  best move %u\n", best.action + 1);
	uint32_t pv[MOVES_MAX];
	if (hl_mcts_pv(s, pv, MOVES_MAX, &n) == 0) {
		printf("  pv ");
		for (unsigned i = 0; i < n; i++)
			printf("%u", pv[i] + 1);
		printf("\n");
	}
	hl_mcts_stats ms;
	if (hl_mcts_stats_get(a, &ms) == 0)
		printf("  graph: %llu records (%llu bytes), %llu playouts\n",
		       (unsigned long long)ms.records,
		       (unsigned long long)ms.record_bytes,
		       (unsigned long long)ms.playouts);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	const char *arena = NULL, *search = "connect4";
	double watch = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--watch") && i + 1 < argc)
			watch = atof(argv[++i]);
		else if (!arena)
			arena = argv[i];
		else
			search = argv[i];
	}
	if (!arena || watch < 0) {
		fprintf(stderr, "usage: helios-search-monitor ARENA [SEARCH] "
			"[--watch SECONDS]\n");
		return 2;
	}
	hl_arena *a;
	int rc = hl_arena_attach(arena, HL_RDONLY, &a);
	if (rc) {
		fprintf(stderr, "helios-search-monitor: %s: %s\n", arena, hl_strerror(rc));
		return 1;
	}
	hl_mcts *s;
	if ((rc = hl_mcts_open(a, search, (hl_id){0, 0}, NULL, &s)) != 0) {
		fprintf(stderr, "helios-search-monitor: search %s: %s\n", search,
			hl_strerror(rc));
		hl_arena_close(a);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	do {
		if ((rc = show(a, s)) != 0)
			break;
		if (watch > 0) {
			struct timespec ts = {(time_t)watch,
					      (long)((watch - (double)(time_t)watch) * 1e9)};
			nanosleep(&ts, NULL);
			if (!stop)
				printf("\n");
		}
	} while (watch > 0 && !stop);
	hl_mcts_close(s);
	hl_arena_close(a);
	if (rc)
		fprintf(stderr, "helios-search-monitor: %s\n", hl_strerror(rc));
	return rc ? 1 : 0;
}
