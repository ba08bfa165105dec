/*
 * main.c - the `helios` program: subcommand dispatch, `helios check`, and
 * the hidden `worker-builtin` a built-in worker runs as (its body is the
 * worker runtime, workers/runtime.c).
 */
#include <stdlib.h>
#include <string.h>

#include "coordinator.h"

static const char usage_text[] =
	"usage: helios <command> [options]\n"
	"\n"
	"  run    create an arena and supervise N search workers on it\n"
	"  stat   show an arena's counters, memory and processes (read-only)\n"
	"  check  verify every node's hash and the arena's structures\n"
	"  bench  the benchmark harness: N workers, scaling sweep, peers\n"
	"  recover  rebuild an arena from a --persist DIR and leave it\n"
	"\n"
	"  helios <command> --help for its options.\n";

int hl_cmd_worker_builtin(int argc, char **argv)
{
	int workload = -1;
	uint64_t seed = 1, playouts = 0;
	const char *game = NULL;
	bool selfplay = false;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--workload"))
			workload = hl_workload_parse(argv[i + 1]);
		else if (!strcmp(argv[i], "--seed"))
			seed = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--game"))
			game = argv[i + 1];
		else if (!strcmp(argv[i], "--playouts"))
			playouts = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--selfplay"))
			selfplay = !strcmp(argv[i + 1], "1");
	}
	if (game && !strcmp(game, "connect4"))
		return hl_worker_run_game(playouts, seed, selfplay);
	if (!hl_workload_playable(workload)) {
		hl_say("worker-builtin: --workload w1|w2 is required");
		return HL_EXIT_USAGE;
	}
	return hl_worker_run_builtin((enum hl_workload)workload, seed);
}

static const char check_usage[] =
	"usage: helios check NAME | --persist DIR [--chunk 4096]\n";

int hl_cmd_check(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(check_usage, stdout); /* asked for: exit 0, like stat --help */
		return HL_EXIT_OK;
	}
	if (argc >= 3 && !strcmp(argv[1], "--persist")) {
		uint64_t chunk = 0; /* 0: the chunk size DIR's WAL names */
		if (argc == 3 || (argc == 5 && !strcmp(argv[3], "--chunk") &&
				  hl_parse_size(argv[4], &chunk) && chunk <= UINT32_MAX))
			return hl_cmd_check_persist(argv[2], (uint32_t)chunk);
	}
	if (argc != 2 || argv[1][0] == '-') {
		fputs(check_usage, stderr);
		return HL_EXIT_USAGE;
	}
	/* names and messages reach the terminal escaped (say.c) */
	char shown[160], why[600];
	hl_fmt_name(shown, sizeof shown, argv[1]);
	hl_arena *a;
	int rc = hl_arena_attach(argv[1], HL_RDONLY, &a);
	if (rc) {
		hl_say("check: %s: %s", shown, hl_strerror(rc));
		return HL_EXIT_FAILED;
	}
	char msg[512] = "";
	rc = hl_arena_check(a, msg, sizeof msg);
	hl_stats st;
	hl_arena_stats(a, &st);
	hl_arena_close(a);
	if (rc) {
		hl_say("check: %s: %s", shown,
		       hl_fmt_name(why, sizeof why, msg[0] ? msg : hl_strerror(rc)));
		return HL_EXIT_FAILED;
	}
	printf("%s: ok: %llu nodes verified, index and heap consistent\n", shown,
	       (unsigned long long)st.nodes);
	return HL_EXIT_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? HL_EXIT_USAGE : HL_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("helios %d.%d.%d\n", HL_VERSION_MAJOR, HL_VERSION_MINOR,
		       HL_VERSION_PATCH);
		return HL_EXIT_OK;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "run"))
		return hl_cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "stat"))
		return hl_cmd_stat(argc - 1, argv + 1);
	if (!strcmp(cmd, "check"))
		return hl_cmd_check(argc - 1, argv + 1);
	if (!strcmp(cmd, "worker-builtin"))
		return hl_cmd_worker_builtin(argc - 1, argv + 1);
	if (!strcmp(cmd, "bench"))
		return hl_cmd_bench(argc - 1, argv + 1);
	if (!strcmp(cmd, "recover"))
		return hl_cmd_recover(argc - 1, argv + 1);
	hl_say("unknown command '%s'", cmd);
	fputs(usage_text, stderr);
	return HL_EXIT_USAGE;
}
