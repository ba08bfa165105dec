/*
 * harness.h - what the files of `helios bench` share, private to them:
 * the parsed command line (struct opts), what the report's notes collect
 * (struct notes), the stop flag and the two steps bench.c drives.
 *
 *   bench.c          the command line, the sweep, the report
 *   harness_run.c    one workload at one worker count: arena, workers, merge
 *   harness_peers.c  the peers (LMDB, RocksDB, Redis, PostgreSQL) on W1/W2
 */
#ifndef HL_BENCH_HARNESS_H
#define HL_BENCH_HARNESS_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "bench.h"

#define COUNTS_MAX 16u                 /* worker counts in one sweep */
#define PEER_COUNT 4u                  /* hl_bench_peers */
/* Untimed ops each worker runs first: worker.c's WARMUP_OPS. */
#define WORKER_WARMUP_OPS 2000u

/* Every peer, in the report's order (harness_peers.c). */
extern const struct hl_peer *const hl_bench_peers[PEER_COUNT];

struct opts {
	bool workload[HL_WORKLOAD_COUNT];
	unsigned counts[COUNTS_MAX], ncounts;
	uint64_t ops;          /* 0: duration_s */
	double duration_s;
	bool peer[PEER_COUNT];
	uint64_t seed;
	uint64_t size;         /* 0: sized per run */
	int numa;
	const char *json, *csv, *plot;
	bool quiet;
	bool game;             /* Connect Four playouts (--game connect4) */
	bool prefault;         /* this run's arena: hl_config.prefault = 1 */
	bool no_page_helper;   /* this run's workers: HELIOS_PAGE_HELPER=0 */
	/* the persistence rows (persist_rows.c): this run's arena persisted
	 * with this durability (HL_DURABILITY_NONE: memory only), its WAL
	 * of wal_bytes in a fresh directory under persist_dir */
	unsigned durability;
	uint64_t wal_bytes;
	const char *persist_dir;
	int persist_section;   /* --persist: PERSIST_NONE, _SHORT or _FULL */
	unsigned persist_reps; /* repetitions of each persistence row */
};

enum { PERSIST_NONE = 0, PERSIST_SHORT = 1, PERSIST_FULL = 2 };

/* What the report's notes say about how the numbers were made. */
struct notes {
	uint64_t timer_ns;
	char arenas[1024];
	size_t arenas_len;
	uint64_t peer_ops[HL_WORKLOAD_COUNT];
	bool peer_capped[HL_WORKLOAD_COUNT];
	bool early_stop;
	/* ops/s per busy core measured so far, per workload: sizes the next
	 * run's arena (0: none yet, use the shape's estimate) */
	double ops_per_s_core[HL_WORKLOAD_COUNT];
};

/* Set by SIGINT, SIGTERM, SIGHUP (bench.c): the current run ends cleanly. */
extern volatile sig_atomic_t hl_bench_interrupted;

/*
 * One workload at one worker count (harness_run.c). 0 and *out filled; 1
 * when the run failed (said why); -1 when interrupted.
 */
int hl_harness_run(const struct opts *o, enum hl_workload w, unsigned n,
		   char **worker_argv, struct hl_bench_run *out,
		   struct notes *nt);

/* Every selected peer on W1 and W2 (harness_peers.c). False when a peer
 * failed; true when all ran or were skipped. */
bool hl_harness_run_peers(const struct opts *o, struct hl_bench_report *rep,
			  struct notes *nt);

/* One peer on one workload (harness_peers.c): durable runs it with its
 * durable configuration and its data on persist_dir's disk, not tmpfs.
 * False when it failed (row says why). */
bool hl_harness_peer_run(const struct opts *o, const struct hl_peer *p,
			 enum hl_workload w, uint64_t ops, bool durable,
			 struct hl_bench_peer_row *row);

/* The persistence section (persist_rows.c): off, async and sync rows, the
 * WAL's and the device's write speed, recovery of a WAL, durable peers.
 * False when a run failed or the harness was interrupted. */
bool hl_harness_run_persist(const struct opts *o, char **worker_argv,
			    struct hl_bench_report *rep, struct notes *nt);

/* Connect Four playouts at each worker count, then the private-memory
 * baseline (harness_game.c); exe is this program, for the workers. False
 * when a run failed or the harness was interrupted. */
bool hl_harness_run_games(const struct opts *o, char *exe,
			  struct hl_bench_report *rep);

#endif
