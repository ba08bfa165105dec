/*
 * coordinator.h - the `helios` program's subcommands (main.c, run.c,
 * stat.c). What they share with helios-bench is the kit (kit.h); the
 * built-in workloads and the worker runtime are workers/ (workloads.h).
 */
#ifndef HL_COORDINATOR_H
#define HL_COORDINATOR_H

#include "kit.h"
#include "workloads.h"

/* Each returns the program's exit code (enum hl_exit). */
int hl_cmd_run(int argc, char **argv);
int hl_cmd_stat(int argc, char **argv);
int hl_cmd_check(int argc, char **argv);
/* `helios recover` and `helios check --persist DIR` (persist_cmd.c). */
int hl_cmd_recover(int argc, char **argv);
int hl_cmd_check_persist(const char *dir, uint32_t chunk_bytes);
/* The persister lines of `helios stat` (persist_cmd.c). */
void hl_stat_persister(FILE *f, hl_arena *a);
/* The hidden subcommand a built-in worker runs as: `helios worker-builtin
 * --workload w1` with HELIOS_ARENA / HELIOS_WORKER in its environment. */
int hl_cmd_worker_builtin(int argc, char **argv);
/* `helios bench`: runs the harness, helios-bench, found beside this
 * program (bench_exec.c). */
int hl_cmd_bench(int argc, char **argv);

/* ---- game searches (game.c) ------------------------------------------------ */

struct hl_c4_pos;

/* One run of a game search, for its summary. */
struct hl_game_run {
	const char *position;  /* the move string searched from */
	unsigned workers;
	double elapsed_s;
	uint64_t playouts;     /* this run's */
};

/* --game NAME --position MOVES into the root: 0, or HL_EXIT_USAGE after
 * saying which move is bad ("bad move '8' at 3"). */
int hl_game_parse(const char *game, const char *position, struct hl_c4_pos *out);
/* Creates the search on arena a from root (the move string `position`,
 * kept in the arena for monitors): 0 or an HL_E* code (said). */
int hl_game_prepare(hl_arena *a, const struct hl_c4_pos *root,
		    const char *position);
/* The move string the arena's search started from ("?" when unknown). */
void hl_game_position(hl_arena *a, char *out, size_t len);
/* One progress line: playouts, rate, nodes, best move, value, proof. */
void hl_game_progress(hl_arena *a, double elapsed_s, double rate, FILE *out);
/* The summary: text, or one JSON object (game.c draws it). 0 or HL_E*. */
int hl_game_report(hl_arena *a, const struct hl_game_run *g, bool json,
		   FILE *out);

#endif /* HL_COORDINATOR_H */
