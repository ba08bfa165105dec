/*
 * main.c - helios-bench, the benchmark harness as its own program. Users
 * reach it as `helios bench ...` (the `helios` program finds and executes
 * this one, coordinator/bench_exec.c) or run it directly; each bench worker
 * is this program again, as `helios-bench worker`.
 *
 * It is a program of its own so that the peers' client libraries (LMDB,
 * RocksDB, hiredis, libpq and what they pull in) are linked here and never
 * into `helios`.
 */
#include <string.h>

#include "bench.h"

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "worker"))
		return hl_bench_worker_main(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "worker-game"))
		return hl_bench_game_worker_main(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "gc"))
		return hl_bench_gc_main(argc - 1, argv + 1);
	/* the harness's own messages and its report's command line read as
	 * the command users type: `helios bench ...` */
	argv[0] = "bench";
	return hl_bench_main(argc, argv);
}
