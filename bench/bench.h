/*
 * bench.h - the benchmark harness, `helios bench`: latency histograms,
 * workloads and their results, the peers run side by side, and reports.
 *
 * Shape of a run (bench.c): for each workload and each worker count of the
 * sweep, a fresh arena is created and N bench workers are started through
 * the coordinator's supervisor (pinned, watched by pidfd). Each worker runs
 * the workload for --ops or --duration, timing every operation into its
 * own histograms, checking its own results, and writes them into its slot
 * of a shared results file; the harness merges them. Then each installed
 * peer runs W1 and W2 in one process, and every figure is reported with its
 * ratio to Helios from the same run.
 *
 * Everything in a struct here that crosses processes (hl_hist,
 * hl_bench_worker_result) is fixed-size and pointer-free: it lives in a
 * MAP_SHARED results file.
 */
#ifndef HL_BENCH_H
#define HL_BENCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "workloads.h"

/* ---- latency histograms (hist.c) -------------------------------------------
 *
 * Log-linear buckets over nanoseconds: values below 2^HL_HIST_SUB_BITS get
 * a bucket each; above, every power of two is split into 2^HL_HIST_SUB_BITS
 * equal sub-buckets, so any value is recorded within 1/32 (3.1%) of itself.
 * Up to 2^HL_HIST_MAX_EXP ns (18 minutes); larger values count in the last
 * bucket. Merging is adding counts, so per-worker histograms merge exactly.
 */
#define HL_HIST_SUB_BITS 5u
#define HL_HIST_MAX_EXP 40u
#define HL_HIST_BUCKETS ((HL_HIST_MAX_EXP - HL_HIST_SUB_BITS + 2u) << HL_HIST_SUB_BITS)

struct hl_hist {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t min_ns; /* UINT64_MAX when empty */
	uint64_t max_ns;
	uint64_t bucket[HL_HIST_BUCKETS];
};

void hl_hist_init(struct hl_hist *h);
void hl_hist_add(struct hl_hist *h, uint64_t ns);
void hl_hist_merge(struct hl_hist *into, const struct hl_hist *from);
/* The value at percentile pct (0..100): the upper bound of the bucket that
 * holds the ceil(pct/100 * count)-th smallest sample, clamped to [min, max];
 * 0 for an empty histogram. */
uint64_t hl_hist_percentile(const struct hl_hist *h, double pct);
double hl_hist_mean_ns(const struct hl_hist *h);
/* Bucket index of ns, and the largest value bucket b holds. */
unsigned hl_hist_bucket_of(uint64_t ns);
uint64_t hl_hist_bucket_upper(unsigned b);

/* ---- workloads -------------------------------------------------------------- */

/* The workloads (enum hl_workload, their shapes and names) are
 * workers/workloads.h's one table. What the harness does with each:
 *   w1     restore a random earlier id after every commit
 *   w2     the same, plus a diff of two ids one chunk apart every 4th pair
 *   mixed  commit 40%, restore 40%, fork 10%, diff 10% */

enum hl_bench_op {
	HL_OP_COMMIT = 0, /* write + hl_commit, timed together */
	HL_OP_RESTORE,
	HL_OP_FORK,
	HL_OP_DIFF,
	/* W1's restores timed a second way: hl_restore and the read of the
	 * whole 4 KiB state into private memory, together (DESIGN.md's
	 * "restore + read", what a peer's get + copy does). Not an operation
	 * of its own: it counts in no ops total and no ops/s. */
	HL_OP_RESTORE_READ,
	HL_OP_COUNT,
};

/* "commit", "restore", "fork", "diff", "restore+read". */
const char *hl_bench_op_name(enum hl_bench_op op);

/* What one worker measured: its slot in the shared results file. */
enum hl_bench_worker_state {
	HL_BWS_RUNNING = 0,
	HL_BWS_DONE = 1,
	HL_BWS_FAILED = 2,
};

struct hl_bench_worker_result {
	_Atomic uint32_t state;  /* enum hl_bench_worker_state, stored last */
	uint32_t worker;
	uint64_t ops;            /* operations of every kind */
	uint64_t count[HL_OP_COUNT];
	uint64_t elapsed_ns;     /* first timed op to last */
	uint64_t verified;       /* self-checks that passed */
	uint64_t unique_bytes;   /* state bytes this worker wrote fresh */
	char error[160];         /* why, when FAILED */
	struct hl_hist op[HL_OP_COUNT];
};

/* The results file: a header then one slot per worker. */
#define HL_BENCH_RESULTS_MAGIC 0x53544c5345524248ull /* "HBRESLTS" */
struct hl_bench_results_file {
	uint64_t magic;
	uint32_t workers;
	uint32_t workload;       /* enum hl_workload */
	uint64_t ops_per_worker; /* 0: run for duration_ns */
	uint64_t duration_ns;
	uint64_t seed;
	_Atomic uint32_t go;     /* workers wait (bounded) for 1 before timing */
	uint32_t pad;
	struct hl_bench_worker_result w[]; /* [workers] */
};

/* One measured configuration of Helios: a workload at a worker count. */
struct hl_bench_run {
	enum hl_workload workload;
	unsigned workers;
	double seconds;             /* wall time of the slowest worker */
	uint64_t ops;
	uint64_t count[HL_OP_COUNT];
	double ops_per_s;           /* sum over workers of ops / own elapsed */
	double commits_per_s;
	struct hl_hist op[HL_OP_COUNT]; /* merged over workers */
	uint64_t verified;
	uint64_t unique_bytes;      /* bytes written fresh, over workers */
	uint64_t stored_bytes;      /* hl_stats after the run */
	uint64_t dedup_bytes;
	uint64_t heap_used_bytes;
	uint64_t nodes;
	bool prefault;              /* hl_config.prefault = 1; else the default */
	bool one_core;              /* HELIOS_PAGE_HELPER=0: the worker's process
				     * runs nothing on another core */
	uint64_t create_ns;         /* hl_arena_create of the run's arena */
	uint64_t arena_bytes;
	unsigned durability;        /* HL_DURABILITY_*: persistence rows */
	uint64_t wal_bytes;         /* the WAL's log bytes after the run */
	uint64_t arena_commits;     /* every commit in the arena, warm-up's too */
};

/* ---- peers (peers/...) -------------------------------------------------------
 *
 * A peer stores a snapshot the way a user of it would: the whole state as
 * one value under a 16-byte key, and reads it back by key. "commit" is the
 * write of the changed bytes into the private state plus the put, timed
 * together (as Helios's commit is timed with its write); "restore" is the
 * get of a random earlier key into the private state. Every restore is
 * checked against a fingerprint of what was stored. Each peer runs in its
 * fastest configuration that still keeps every acknowledged write in its
 * own memory (no fsync per operation), with its data in a temporary
 * directory the harness makes (on tmpfs, as Helios's arena is) and removes.
 */
struct hl_peer_workload {
	enum hl_workload workload; /* HL_WORKLOAD_W1 or HL_WORKLOAD_W2 */
	uint64_t state_bytes;
	uint32_t write_bytes;    /* bytes changed before each commit */
	uint64_t ops;            /* commits; then as many restores */
	uint64_t seed;
	const char *dir;         /* an empty temporary directory, the peer's */
	bool durable;            /* the peer's durable configuration: every
				  * acknowledged commit on disk (fsync'd) */
};

struct hl_peer_result {
	struct hl_hist commit;
	struct hl_hist restore;
	uint64_t ops;
	uint64_t verified;
	double seconds;
	char config[160];        /* what was run: version and settings */
};

struct hl_peer {
	const char *name;        /* "lmdb", "rocksdb", "redis", "postgresql" */
	/* 0 when the peer can run here; else fills why with one line: what is
	 * missing and how to install it ("apt-get install ...", or
	 * bench/peers/setup.sh). Cheap: no server is started. */
	int (*probe)(char *why, size_t len);
	/* Runs the workload (starting and stopping any server it needs inside
	 * w->dir, on a unix socket or loopback). 0, or -1 with err filled.
	 * Called only after probe returned 0; NULL for a peer whose client
	 * library was missing at build time (its probe says so). */
	int (*run)(const struct hl_peer_workload *w, struct hl_peer_result *out,
		   char *err, size_t len);
};

/* The probe answer of a peer built without its client library: "<peer>:
 * not built: apt-get install <package>, then rebuild
 * (bench/peers/setup.sh)". Returns 1 (not available). */
int hl_peer_not_built(const char *peer, const char *package, char *why,
		      size_t len);

extern const struct hl_peer hl_peer_lmdb;
extern const struct hl_peer hl_peer_rocksdb;
extern const struct hl_peer hl_peer_redis;
extern const struct hl_peer hl_peer_postgresql;

/* Shared helpers for peers (peers/common.c): the private state and its
 * changes, identical across peers and to Helios's W1/W2 for a seed. */
struct hl_peer_state {
	unsigned char *bytes;    /* state_bytes */
	uint64_t state_bytes;
	uint32_t write_bytes;
	uint64_t rng;
	uint64_t *fingerprint;   /* [ops]: XXH3-64 of the state stored as op i */
	uint64_t ops;
};
int hl_peer_state_init(struct hl_peer_state *ps, const struct hl_peer_workload *w);
void hl_peer_state_free(struct hl_peer_state *ps);
/* Applies op i's change to the private state (random bytes at a random
 * offset for W1, one random whole chunk for W2). */
void hl_peer_state_step(struct hl_peer_state *ps, uint64_t i);
/* The 16-byte key of op i. */
void hl_peer_key(uint64_t i, unsigned char key[16]);
/* A random earlier op to restore, for restore number r. */
uint64_t hl_peer_pick(struct hl_peer_state *ps, uint64_t r);
uint64_t hl_peer_now_ns(void);
uint64_t hl_peer_fingerprint(const void *p, size_t len);

/* ---- reports (report.c, plot.c) --------------------------------------------- */

struct hl_bench_peer_row {
	const char *peer;                 /* hl_peer.name */
	enum hl_workload workload;  /* W1 or W2 */
	bool skipped;
	char why[256];                    /* when skipped or failed */
	bool failed;
	bool durable;                     /* its durable configuration, on disk */
	struct hl_peer_result r;
};

/* Connect Four playouts (harness_game.c): one row per worker count of the
 * sweep, and one for the private-memory baseline (workers 0). */
struct hl_bench_game_row {
	unsigned workers;      /* 0: the baseline, one process, private memory */
	bool failed;
	bool no_room;          /* the graph filled its memory during the run */
	double seconds;
	uint64_t playouts;
	double playouts_per_s;
	uint64_t nodes;
	double bytes_per_node; /* shared: record + position snapshot */
	int best_move;         /* column 1..7 from the empty board */
	double centre_share;   /* root visits on column 4 / all root visits */
};

#define HL_BENCH_GAME_ROWS_MAX 17u
#define HL_BENCH_RUNS_MAX 64u
#define HL_BENCH_PEER_ROWS_MAX 16u

/* The persistence section (persist_rows.c, report_persist.c): a row is a
 * workload at a worker count with one durability, the median of its
 * repetitions. */
#define HL_BENCH_PERSIST_MODES 3u      /* off, async, sync */
#define HL_BENCH_PERSIST_ROWS_MAX 12u  /* 2 workloads x 2 counts x 3 modes */
#define HL_BENCH_PERSIST_REPS_MAX 9u

struct hl_bench_persist_row {
	enum hl_workload workload;
	unsigned workers;
	unsigned durability;         /* HL_DURABILITY_* */
	unsigned reps;               /* repetitions that ran */
	uint32_t rep_ok;             /* bit i: repetition i ran */
	double commits_per_s[HL_BENCH_PERSIST_REPS_MAX]; /* [repetition] */
	double median_commits_per_s;
	struct hl_bench_run run;     /* the median repetition, whole */
};

struct hl_bench_persist {
	bool ran, full;
	unsigned reps;
	char dir[256];               /* where the WALs were (--persist-dir) */
	struct hl_bench_persist_row rows[HL_BENCH_PERSIST_ROWS_MAX];
	unsigned row_count;
	/* write speed, medians over the repetitions (wal_engine.c) */
	uint64_t write_bytes;
	double raw_mbps, wal_mbps;
	uint32_t io_fallbacks;       /* HL_IO_FELL_BACK_* of the WAL test */
	/* recovery of a WAL of W1 commits */
	uint64_t recovery_wal_bytes, recovery_records, recovery_replayed;
	uint64_t recovery_end_lsn;
	bool recovery_clean_end;
	uint64_t recovery_cold_ns, recovery_warm_ns, recovery_create_ns;
	/* durable peers */
	struct hl_bench_peer_row peers[HL_BENCH_PEER_ROWS_MAX];
	unsigned peer_count;
};

struct hl_bench_report {
	char date[32];                    /* "2026-11-20 23:30" */
	char command[512];                /* the command line, to reproduce */
	char machine[512];                /* cores, NUMA nodes, CPU, flags, kernel */
	unsigned cpus, numa_nodes;
	struct hl_bench_run runs[HL_BENCH_RUNS_MAX];
	unsigned run_count;
	struct hl_bench_peer_row peers[HL_BENCH_PEER_ROWS_MAX];
	unsigned peer_count;
	struct hl_bench_game_row games[HL_BENCH_GAME_ROWS_MAX];
	unsigned game_count;
	/* the second row of each workload: 1 worker, hl_config.prefault = 1
	 * (the headline runs above use hl_config_init and nothing else) */
	struct hl_bench_run prefault_runs[HL_WORKLOAD_COUNT];
	unsigned prefault_count;
	/* the third: 1 worker on one core, no page helper (HELIOS_PAGE_HELPER=0;
	 * a default worker's helper runs on another core), the scaling
	 * targets' baseline; none on a machine of one CPU */
	struct hl_bench_run one_core_runs[HL_WORKLOAD_COUNT];
	unsigned one_core_count;
	/* the floor of a W1 commit on this machine, measured in the same run
	 * (floor.c): XXH3-128 of 4 KiB + a cold 4 KiB copy + a cold CAS */
	struct hl_hist floor;
	struct hl_bench_persist persist;  /* --persist (persist_rows.c) */
};

/* Measures the floor row (floor.c): `samples` timed hash + copy + CAS
 * triples, each on cold lines, timer_ns (the empty timed region) taken
 * off each as the workers do. 0, or HL_ENOMEM. */
int hl_bench_floor(struct hl_hist *out, uint64_t samples, uint64_t timer_ns);

/* Shared by report.c and plot.c: the runs and peer rows in use (counts
 * clamped to the arrays), the run of (workload, workers) or NULL, and the
 * indices of workload w's runs ordered by worker count (returns how many). */
unsigned hl_report_run_count(const struct hl_bench_report *r);
unsigned hl_report_peer_count(const struct hl_bench_report *r);
const struct hl_bench_run *hl_report_find_run(const struct hl_bench_report *r,
					      enum hl_workload w,
					      unsigned workers);
unsigned hl_report_runs_of(const struct hl_bench_report *r,
			   enum hl_workload w, unsigned idx[]);

/* The Connect Four rows (report_game.c): a table section, and the "games"
 * array of the JSON report. */
struct hl_json;
void hl_report_games_table(FILE *out, const struct hl_bench_report *r);
void hl_report_games_json(struct hl_json *j, const struct hl_bench_report *r);

/* report.c's formatting, shared with report_rows.c: a duration ("975
 * ns", "1.02 us"), a table line (trailing blanks trimmed), one run's
 * latency row, and the JSON of a histogram, a run's totals and one op. */
const char *hl_report_fmt_ns(char *buf, size_t len, uint64_t ns);
void hl_report_line(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hl_report_latency_row(FILE *out, const struct hl_bench_run *run,
			   enum hl_bench_op op);
void hl_report_json_hist(struct hl_json *j, const struct hl_hist *h, double rate);
/* {"key": applies ? pass : null}. */
void hl_report_json_pass(struct hl_json *j, const char *key, bool applies, bool pass);
/* A peer row's histogram of op (commit or restore), whether it was
 * measured (neither skipped nor failed), and an op's rate (its count over
 * the peer's seconds). */
const struct hl_hist *hl_report_peer_hist(const struct hl_bench_peer_row *p,
					  enum hl_bench_op op);
bool hl_report_peer_measured(const struct hl_bench_peer_row *p);
double hl_report_peer_op_rate(const struct hl_peer_result *p, const struct hl_hist *h);
/* The peers (report_peers.c): their table, and one "peers" object. */
void hl_report_peers_table(FILE *out, const struct hl_bench_report *r);
void hl_report_json_peer(struct hl_json *j, const struct hl_bench_report *r,
			 const struct hl_bench_peer_row *p);
void hl_report_json_totals(struct hl_json *j, const struct hl_bench_run *run);
void hl_report_json_op(struct hl_json *j, const struct hl_bench_run *run,
		       enum hl_bench_op op);
/* The persistence section (report_persist.c): its table, and the
 * "persistence" object of the JSON report. */
void hl_report_persist_table(FILE *out, const struct hl_bench_report *r);
void hl_report_persist_json(struct hl_json *j, const struct hl_bench_report *r);
/* The floor row and the prefault rows (report_rows.c). */
void hl_report_floor_row(FILE *out, const struct hl_bench_report *r);
void hl_report_prefault_rows(FILE *out, const struct hl_bench_report *r,
			     enum hl_workload w);
void hl_report_json_prefault_run(struct hl_json *j, const struct hl_bench_run *run);
/* Workload w's one-core run, or NULL; its rows under the prefault rows. */
const struct hl_bench_run *hl_report_one_core_run(const struct hl_bench_report *r,
						  enum hl_workload w);
void hl_report_one_core_rows(FILE *out, const struct hl_bench_report *r,
			     enum hl_workload w);
void hl_report_json_floor(struct hl_json *j, const struct hl_bench_report *r);

/* Fills r->machine, cpus, numa_nodes, date. */
void hl_bench_describe_machine(struct hl_bench_report *r);
/* The terminal table: machine header, per-workload latency table (p50,
 * p90, p99, p99.9, max, ops/s) for each worker count, the scaling sweep with
 * each count's throughput ratio to one worker (and DESIGN.md's targets: 2
 * workers >= 1.8x, 8 >= 1.5x, judged against one worker on one core), dedup and memory, then the peers with their
 * ratios to Helios's W1/W2 from the same run. */
int hl_bench_report_table(FILE *out, const struct hl_bench_report *r);
/* One JSON object (schema documented at the top of report.c). */
int hl_bench_report_json(FILE *out, const struct hl_bench_report *r);
/* One row per (system, workload, workers, op) with the percentiles. */
int hl_bench_report_csv(FILE *out, const struct hl_bench_report *r);
/* An SVG (written directly, no external tool): the scaling curve (ops/s
 * against workers, per workload) and the latency distributions (CDF of
 * commit and restore per workload at one worker, log time axis). */
int hl_bench_report_svg(const char *path, const struct hl_bench_report *r);

/* ---- the harness (bench.c, worker.c) ------------------------------------ */

/* `helios bench ARGS` (argv[0] is "bench"): the sweep, the peers, the
 * reports. Returns the exit code. */
int hl_bench_main(int argc, char **argv);
/* Hidden subcommand a bench worker runs as: `helios-bench worker`, with
 * HELIOS_ARENA, HELIOS_WORKER and HELIOS_BENCH_RESULTS (the results file)
 * in its environment. */
int hl_bench_worker_main(int argc, char **argv);
/* Hidden subcommand of a Connect Four bench worker (`helios-bench
 * worker-game`, harness_game.c's step 2). */
int hl_bench_game_worker_main(int argc, char **argv);

/* `helios bench gc` (gc_rows.c): W1 under collection pressure beside the
 * same content in an arena that fits it. */
int hl_bench_gc_main(int argc, char **argv);

/* Removes dir and everything in it (a peer's data, a persister's DIR:
 * its WAL segments, spare and checkpoint images), saying so if it cannot. */
void hl_bench_rm_rf(const char *dir);

#endif /* HL_BENCH_H */
