/*
 * supervise.h - the worker supervisor of `helios run` (supervise.c).
 */
#ifndef HL_COORDINATOR_SUPERVISE_H
#define HL_COORDINATOR_SUPERVISE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "coordinator.h"

/* Workers per coordinator: bounded by the poll set and by process slots. */
#define HL_SUP_WORKERS_MAX 1000u

/* Exit codes a worker child uses for failures before the workload runs. */
#define HL_WORKER_EXIT_EXEC 127  /* its command could not be executed */
#define HL_WORKER_EXIT_ORPHAN 126 /* the coordinator died before exec */

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
	bool stopping;
	/* what happened, for the summary */
	unsigned deaths, failed, reclaimed;
};

int hl_sup_init(struct hl_sup *sup, unsigned n);
void hl_sup_fini(struct hl_sup *sup);
/* Starts worker i (fork, pin, exec). 0 or HL_EIO. */
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

#endif /* HL_COORDINATOR_SUPERVISE_H */
