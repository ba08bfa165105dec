/*
 * workloads.h - the built-in workloads: their shapes (the one table every
 * program reads: `helios run`, `helios bench`, helios-bench-micro, the
 * peers), the game `helios run --workload` plays (workloads.c), and the
 * worker runtime a built-in worker runs as (runtime.c).
 *
 * The shapes are DESIGN.md's: W1 a 4 KiB state with 64 B written per
 * commit, W2 a 1 MiB state with one 4 KiB chunk written per commit, and the
 * harness's mixed workload, a 64 KiB state with 64 B writes. They are
 * macros as well as a table so that programs linking only the public
 * library (helios-bench-micro) size static buffers from the same numbers.
 */
#ifndef HL_WORKERS_WORKLOADS_H
#define HL_WORKERS_WORKLOADS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#include "helios.h"

#define HL_W1_STATE_BYTES 4096u
#define HL_W1_WRITE_BYTES 64u
#define HL_W2_STATE_BYTES (1u << 20)
#define HL_W2_WRITE_BYTES 4096u
#define HL_MIXED_STATE_BYTES (64u << 10)
#define HL_MIXED_WRITE_BYTES 64u

enum hl_workload {
	HL_WORKLOAD_W1 = 0,
	HL_WORKLOAD_W2 = 1,
	HL_WORKLOAD_MIXED = 2, /* the harness's op mix; no game plays it */
	HL_WORKLOAD_COUNT = 3,
};

struct hl_workload_shape {
	const char *name;     /* "w1", "w2", "mixed" */
	uint64_t state_bytes; /* the working state's size */
	uint32_t write_bytes; /* bytes one move writes before a commit */
};

/* The shape of w, or NULL for a value that names no workload. */
static inline const struct hl_workload_shape *
hl_workload_shape(enum hl_workload w)
{
	static const struct hl_workload_shape shapes[HL_WORKLOAD_COUNT] = {
		[HL_WORKLOAD_W1] = {"w1", HL_W1_STATE_BYTES, HL_W1_WRITE_BYTES},
		[HL_WORKLOAD_W2] = {"w2", HL_W2_STATE_BYTES, HL_W2_WRITE_BYTES},
		[HL_WORKLOAD_MIXED] = {"mixed", HL_MIXED_STATE_BYTES,
				       HL_MIXED_WRITE_BYTES},
	};
	return (unsigned)w < HL_WORKLOAD_COUNT ? &shapes[w] : NULL;
}

/* "w1", "w2", "mixed"; "unknown" for a value that names none. */
static inline const char *hl_workload_name(enum hl_workload w)
{
	return hl_workload_shape(w) ? hl_workload_shape(w)->name : "unknown";
}

/* "w1" (any case) -> HL_WORKLOAD_W1, ...; -1 for NULL or an unknown name. */
static inline int hl_workload_parse(const char *name)
{
	for (int w = 0; name && w < HL_WORKLOAD_COUNT; w++)
		if (!strcasecmp(name, hl_workload_name((enum hl_workload)w)))
			return w;
	return -1;
}

/* ---- the game (workloads.c) ----------------------------------------------- */

/* Whether `helios run --workload` can play w (W1 and W2). */
static inline int hl_workload_playable(int w)
{
	return w == HL_WORKLOAD_W1 || w == HL_WORKLOAD_W2;
}
/* One line describing playable workload w, for logs and summaries. */
const char *hl_workload_describe(enum hl_workload w);
/* Runs playable workload w as worker `index` on arena a until *stop becomes
 * non-zero (set from a signal handler): play moves, commit, backtrack by
 * restoring earlier snapshots and verify they read back what was
 * committed, publish "worker-<index>/latest" every so often. Returns 0, or
 * an HL_E* code after printing what went wrong (a failed verification is
 * HL_ECORRUPT; HL_EINVAL for a workload it cannot play). */
int hl_workload_run(hl_arena *a, enum hl_workload w, unsigned index,
		    uint64_t seed, volatile sig_atomic_t *stop);

/* ---- the worker runtime (runtime.c) --------------------------------------- */

/* The exit status of a worker that found the arena full (HL_EFULL: its
 * index, heap, slots or refs): its supervisor does not restart it into the
 * same arena. 125, beside the shell's 126 and 127. */
#define HL_WORKER_EXIT_FULL 125

/*
 * The body of a built-in worker process (`helios worker-builtin`): attaches
 * to the arena its coordinator named (HELIOS_ARENA, HELIOS_WORKER), stops
 * cleanly on SIGTERM or SIGINT, runs playable workload w, closes. Returns
 * the process's exit status: 0, HL_WORKER_EXIT_FULL when the arena is full,
 * or 1 after saying on stderr what failed.
 */
int hl_worker_run_builtin(enum hl_workload w, uint64_t seed);
/* The same for a Connect Four search worker (`helios worker-builtin --game
 * connect4`): playouts on the arena's search until `playouts` are done
 * between all workers (0: no limit), the root is proven, or a stop signal;
 * with selfplay (--selfplay 1), the self-play driver's budgets until a
 * stop signal (c4_search.h). */
int hl_worker_run_game(uint64_t playouts, uint64_t seed, bool selfplay);

#endif /* HL_WORKERS_WORKLOADS_H */
