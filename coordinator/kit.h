/*
 * kit.h - the coordinator kit: what every Helios program shares, built as
 * one small internal library (libhelios_kit.a) that `helios` and
 * `helios-bench` both link, and nothing else does:
 *
 *   say.c        one-line messages, usage errors, numbers and bytes for
 *                people, the one UTF-8 check
 *   json.c       the one JSON writer (its own small library, helios_json,
 *                so helios-bench-micro links it without libhelios)
 *   args.c       command-line values ("2G", "0.5", "64"), the same in
 *                every subcommand
 *   placement.c  spreading workers over NUMA nodes, packages and cores
 *                (hwloc), and pinning them
 *   supervise.c  spawning workers, watching them by pidfd, reclaiming
 *                what a dead one held, restarting by policy
 *
 * It links libhelios (static) and hwloc, never a benchmark peer: the
 * `helios` program stays free of LMDB, RocksDB, Redis and PostgreSQL
 * clients (bench/ depends on this, not the other way round).
 */
#ifndef HL_COORDINATOR_KIT_H
#define HL_COORDINATOR_KIT_H

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

/* ---- messages and values (say.c, args.c) ---------------------------------- */

/* One line "helios: <what>: <why>" on stderr. */
void hl_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Command-line values (args.c): the whole string or false. */
/* A decimal count <= max: digits only (no sign, no space). */
bool hl_parse_u64(const char *s, uint64_t max, uint64_t *out);
/* Bytes: "4096", "64k", "512M", "2G", "1T", optionally "KiB"/"GB"-style
 * suffixes; false on overflow. */
bool hl_parse_size(const char *s, uint64_t *out);
/* Seconds, fractional ("2", "0.5"), 0 <= value <= max. */
bool hl_parse_seconds(const char *s, double max, double *out);
/* A comma list of decimal counts, each min..max ("1,2,4"): 0 with *n of
 * them in out[0..cap), HL_EINVAL for a bad or empty item ("1,,2"),
 * HL_ERANGE for more than cap. */
int hl_parse_u64_list(const char *s, uint64_t min, uint64_t max,
		      uint64_t *out, unsigned cap, unsigned *n);

/* "helios: <cmd>: <why>: <what>" (the line only when why is set), then the
 * usage text, on stderr; returns HL_EXIT_USAGE. */
int hl_usage(const char *cmd, const char *text, const char *why,
	     const char *what);

/* "1.5 GiB", "512 B". */
void hl_fmt_bytes(char *buf, size_t len, uint64_t bytes);
/* "1.23M", "45.6k", "789". */
void hl_fmt_count(char *buf, size_t len, double n);
/* s as printable text for a message (say.c): control bytes, DEL and
 * invalid UTF-8 as \xNN, a backslash as two; cut with "..." to fit len
 * (>= 8). A name from the command line or an arena never reaches a
 * terminal raw. Returns buf. */
const char *hl_fmt_name(char *buf, size_t len, const char *s);
/* Length (2..4) of the valid multi-byte UTF-8 sequence at p (n bytes
 * available), or 0: RFC 3629, no overlong forms, no surrogates, nothing
 * above U+10FFFF. The one UTF-8 check (say.c). */
size_t hl_utf8_len(const unsigned char *p, size_t n);
/* Percentage of committed node bytes that were found already stored. */
double hl_dedup_ratio(uint64_t dedup_bytes, uint64_t stored_bytes);

/* ---- JSON text (json.c) ----------------------------------------------------
 *
 * The one JSON writer: it places the commas and escapes every string, so
 * the output always parses (json.c's invariants). Members of objects take a
 * key; array elements and the top value take NULL. Strings are bounded by
 * `max` bytes (SIZE_MAX for a NUL-terminated one of ours).
 */
#define HL_JSON_DEPTH_MAX 16

struct hl_json {
	FILE *f;
	bool pretty;             /* one member a line, indented */
	int depth;
	bool first[HL_JSON_DEPTH_MAX]; /* no member written yet at that depth */
	char close[HL_JSON_DEPTH_MAX]; /* '}' or ']' */
};

void hl_json_begin(struct hl_json *j, FILE *f, bool pretty);
void hl_json_open(struct hl_json *j, const char *key, char bracket);
void hl_json_close(struct hl_json *j);
/* The separator and key of the next member, for a value written by hand. */
void hl_json_key(struct hl_json *j, const char *key);
void hl_json_u64(struct hl_json *j, const char *key, uint64_t v);
/* %.10g; null when v is not finite (NAN: "does not apply"). */
void hl_json_num(struct hl_json *j, const char *key, double v);
/* A fixed number of decimals (percentages); null when not finite. */
void hl_json_fixed(struct hl_json *j, const char *key, double v, int decimals);
void hl_json_str(struct hl_json *j, const char *key, const char *s, size_t max);
void hl_json_bool(struct hl_json *j, const char *key, bool v);
void hl_json_null(struct hl_json *j, const char *key);
/* Ends the top value with a newline: 0, or HL_EIO when the stream failed. */
int hl_json_end(struct hl_json *j);
/* A JSON string literal of at most max bytes of s (NULL: ""). */
void hl_json_string(FILE *f, const char *s, size_t max);

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

/* ---- the worker supervisor (supervise.c) ---------------------------------- */

/* Workers per coordinator: bounded by the poll set and by process slots. */
#define HL_SUP_WORKERS_MAX 1000u

/* Exit codes a worker child uses for failures before the workload runs. */
#define HL_WORKER_EXIT_EXEC 127  /* its command could not be executed */
#define HL_WORKER_EXIT_ORPHAN 126 /* the coordinator died before exec */
/* A worker (built-in or a user's command) that exits with
 * HL_WORKER_EXIT_FULL (workloads.h, 125) found the arena full (HL_EFULL):
 * it is not restarted, since a restart into the same arena fails the same
 * way, and the run ends with exit 1 (hl_sup.full counts them). */

/* The grace a worker has between SIGTERM and SIGKILL, when the caller sets
 * none: used by hl_sup_stop's caller and by the watchdog (supervise.c). */
#define HL_SUP_GRACE_DEFAULT_NS (5ull * 1000 * 1000 * 1000)

enum hl_worker_state {
	HL_W_IDLE = 0,
	HL_W_RUNNING,
	HL_W_BACKOFF,
	HL_W_DONE,
	HL_W_FAILED,
};

struct hl_worker {
	unsigned index;
	enum hl_worker_state state;
	pid_t pid;          /* 0 when not running */
	int pidfd;          /* -1 when not running */
	uint64_t started_ns;
	uint64_t restart_at_ns;
	unsigned starts, restarts, backoff_level;
	int last_status;    /* waitpid status of the last death */
	bool last_status_exec;
};

struct hl_sup {
	hl_arena *a;              /* the coordinator's own handle */
	const char *arena_name;
	char **argv;              /* what each worker executes */
	struct hl_worker *w;
	unsigned n;
	bool restart;             /* restart failed workers */
	unsigned max_restarts;    /* per worker */
	uint64_t hang_timeout_ns; /* 0: no hang detection */
	hwloc_topology_t topo;    /* NULL: no pinning */
	struct hl_placement *place;
	/* the CPUs no worker is pinned to, as an hwloc list ("1", "2-3", ""),
	 * given to each pinned worker as HELIOS_PAGE_HELPER_CPUS (shm/ahead.c):
	 * made at the first spawn, in the coordinator, never in a child */
	char helper_cpus[128];
	bool helper_cpus_tried, helper_cpus_made;
	bool stopping;
	/* SIGTERM to SIGKILL, also after the coordinator died (the watchdog
	 * reads it when the first worker is spawned) */
	uint64_t grace_ns;
	pid_t watchdog;           /* 0: not started; its pid is the workers'
				   * process group */
	int watchdog_fd;          /* write end of its pipe, -1: none */
	/* what happened, for the summary */
	unsigned deaths, failed, reclaimed;
	unsigned full;            /* workers that found the arena full */
};

int hl_sup_init(struct hl_sup *sup, unsigned n);
void hl_sup_fini(struct hl_sup *sup);
/* Starts worker i (fork, pin, exec); the first spawn starts the watchdog.
 * 0 or HL_EIO. */
int hl_sup_spawn(struct hl_sup *sup, unsigned i);
/* Reaps worker i if it died: reclaims its slots, decides restart. */
void hl_sup_reap(struct hl_sup *sup, unsigned i);
/* Restarts workers whose backoff ran out; kills hung ones. */
int hl_sup_tick(struct hl_sup *sup);
/* Waits up to timeout_ms for a worker death (reaped here) or for extra_fd
 * (-1: none) to be readable; returns whether extra_fd is readable. */
bool hl_sup_wait(struct hl_sup *sup, int extra_fd, int timeout_ms);
/* Monotonic time of the next pending restart, or UINT64_MAX. */
uint64_t hl_sup_next_event_ns(const struct hl_sup *sup);
unsigned hl_sup_count(const struct hl_sup *sup, enum hl_worker_state st);
void hl_sup_signal_all(struct hl_sup *sup, int sig);
/* SIGTERM, a grace period, SIGKILL; every worker reaped and reclaimed. */
void hl_sup_stop(struct hl_sup *sup, uint64_t grace_ns);
/* The CPUs this process may run on (its affinity mask), at least 1: the
 * default worker count, so a default run never oversubscribes. */
unsigned hl_sup_cpus(void);

/* ---- the background collector (run_gc.c) --------------------------------- */

/* A thread with its own handle on arena that collects once `at` of the
 * heap is carved and an eighth of it was published since its last
 * collection: `helios run`'s, and `helios bench gc`'s. */
struct hl_run_gc;
#define HL_RUN_GC_AT 0.75
int hl_run_gc_start(const char *arena, double at, struct hl_run_gc **out);
void hl_run_gc_stop(struct hl_run_gc *g); /* NULL: nothing */

#endif /* HL_COORDINATOR_KIT_H */
