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
/* The hidden subcommand a built-in worker runs as: `helios worker-builtin
 * --workload w1` with HELIOS_ARENA / HELIOS_WORKER in its environment. */
int hl_cmd_worker_builtin(int argc, char **argv);
/* `helios bench`: runs the harness, helios-bench, found beside this
 * program (bench_exec.c). */
int hl_cmd_bench(int argc, char **argv);

#endif /* HL_COORDINATOR_H */
