/*
 * coordinator.h - internals of the `helios` program: the subcommands, the
 * worker supervisor, NUMA placement and the built-in workloads.
 *
 * The program links the static libhelios, so it may read the arena's slots
 * directly (shm.h); everything a *user* process needs goes through the
 * public header.
 */
#ifndef HL_COORDINATOR_H
#define HL_COORDINATOR_H

#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <sys/types.h>

#include <hwloc.h>

#include "helios.h"

/* Exit codes of the program. */
enum hl_exit {
	HL_EXIT_OK = 0,
	HL_EXIT_FAILED = 1, /* a worker failed, or a runtime error */
	HL_EXIT_USAGE = 2,  /* bad command line */
};

/* ---- subcommands (each returns an exit code) ------------------------------ */

int hl_cmd_run(int argc, char **argv);
int hl_cmd_stat(int argc, char **argv);
int hl_cmd_check(int argc, char **argv);
/* The hidden subcommand a built-in worker runs as: `helios worker-builtin
 * --workload w1` with HELIOS_ARENA / HELIOS_WORKER in its environment. */
int hl_cmd_worker_builtin(int argc, char **argv);

/* One line "helios: <what>: <why>" on stderr. */
void hl_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Command-line values (args.c): the whole string or false. */
/* A decimal count <= max. */
bool hl_parse_u64(const char *s, uint64_t max, uint64_t *out);
/* Bytes: "4096", "64k", "512M", "2G", "1T", optionally "KiB"/"GB"-style
 * suffixes; false on overflow. */
bool hl_parse_size(const char *s, uint64_t *out);
/* Seconds, fractional, 0 <= value <= max. */
bool hl_parse_seconds(const char *s, double max, double *out);

/* "helios: <cmd>: <why>: <what>" (the line only when why is set), then the
 * usage text, on stderr; returns HL_EXIT_USAGE. */
int hl_usage(const char *cmd, const char *text, const char *why,
	     const char *what);

/* "1.5 GiB", "512 B". */
void hl_fmt_bytes(char *buf, size_t len, uint64_t bytes);
/* "1.23M", "45.6k", "789". */
void hl_fmt_count(char *buf, size_t len, double n);
/* Length of the valid multi-byte UTF-8 sequence at p, or 0 (say.c). */
size_t hl_utf8_len(const unsigned char *p, size_t n);
/* Percentage of committed node bytes that were found already stored. */
double hl_dedup_ratio(uint64_t dedup_bytes, uint64_t stored_bytes);

/* ---- placement (placement.c) -----------------------------------------------
 *
 * Worker i is placed on one core (bound to all its hardware threads),
 * chosen to spread workers across NUMA nodes first, then packages, then
 * cores: worker 0 on
 * node 0, worker 1 on node 1, ... wrapping round, and within a node across
 * its packages and cores before any core gets a second worker. With more
 * workers than cores the assignment wraps (oversubscription).
 */
struct hl_placement {
	int core;          /* logical index of the chosen core */
	int pu_os_index;   /* OS index of the first PU of that core */
	int numa_node;     /* OS index of the core's NUMA node, 0 if none */
	int package;       /* logical index of the core's package, 0 if none */
	hwloc_bitmap_t cpuset; /* the PUs the worker is bound to; owned */
};

/* Loads this machine's topology (synthetic == NULL) or an hwloc synthetic
 * description such as "pack:2 numa:2 core:4 pu:1". 0, HL_EINVAL (bad
 * description; says why through hl_say), HL_ENOMEM or HL_EIO. Free the
 * topology with hwloc_topology_destroy. */
int hl_topology_load(hwloc_topology_t *topo, const char *synthetic);
/* Fills out[0..n) for n workers. 0 or HL_EINVAL (no cores) / HL_ENOMEM. */
int hl_place_workers(hwloc_topology_t topo, unsigned n,
		     struct hl_placement *out);
/* Frees the cpusets of out[0..n). */
void hl_placement_free(struct hl_placement *out, unsigned n);
/* Binds process pid to p's cpuset (hwloc_set_proc_cpubind). 0, HL_EINVAL
 * (no cpuset) or HL_EIO (errno as the system set it). */
int hl_placement_bind(hwloc_topology_t topo, pid_t pid,
		      const struct hl_placement *p);
/* "core 3 (pu 6, node 1, package 0)" for logs. */
void hl_placement_describe(const struct hl_placement *p, char *buf,
			   size_t len);

/* ---- built-in workloads (workloads.c) ------------------------------------- */

enum hl_workload {
	HL_WORKLOAD_W1 = 1, /* 4 KiB state, 64 B written per commit */
	HL_WORKLOAD_W2 = 2, /* 1 MiB state, 4 KiB written per commit */
};

/* "w1" -> HL_WORKLOAD_W1; -1 if unknown. */
int hl_workload_parse(const char *name);
/* One line describing workload w, for logs and summaries. */
const char *hl_workload_describe(enum hl_workload w);
/* Runs workload w as worker `index` on arena a until *stop becomes non-zero
 * (set from a signal handler): play moves, commit, backtrack by restoring
 * earlier snapshots and verify they read back what was committed, publish
 * "worker-<index>/latest" every so often. Returns 0, or an HL_E* code after
 * printing what went wrong (a failed verification is HL_ECORRUPT). */
int hl_workload_run(hl_arena *a, enum hl_workload w, unsigned index,
		    uint64_t seed, volatile sig_atomic_t *stop);

#endif /* HL_COORDINATOR_H */
