/*
 * run.h - what `helios run`'s two files share: its options (parsed in
 * run.c) and its arena (run_arena.c: create or reuse, owner, lock, room).
 */
#ifndef HL_COORDINATOR_RUN_H
#define HL_COORDINATOR_RUN_H

#include "coordinator.h"
#include "games/connect4.h"

struct run_opts {
	const char *arena;
	char arena_buf[64];
	bool arena_default;  /* no --arena: a fresh random name, never reused */
	uint64_t size;
	uint32_t chunk;
	bool size_given, chunk_given;
	unsigned workers;
	int numa;
	double duration_s;   /* 0: until a signal */
	bool restart;
	unsigned max_restarts;
	double grace_s, hang_s;
	bool keep, prefault, quiet, trust_owner;
	uint64_t seed;
	int workload;        /* enum hl_workload; -1: a user command */
	char **command;      /* after -- */
	/* a game search (--game connect4) */
	const char *game;    /* NULL: a workload or a command */
	const char *position; /* the move string searched from ("" default) */
	uint64_t playouts;   /* 0: until --duration */
	bool json;           /* the summary as one JSON object on stdout */
	struct hl_c4_pos root; /* the position, parsed */
	bool duration_given;
	/* persistence (persist_cmd.c) */
	const char *persist; /* --persist DIR; NULL: memory only */
	unsigned durability; /* --durability: HL_DURABILITY_ASYNC or _SYNC */
	uint64_t wal_bytes;  /* --wal-size; 0: the persister's default */
};

/* The run's arena and the coordinator lock on it. */
struct run_arena {
	hl_arena *a;
	int lock_fd;         /* holds the flock (hl_arena_lock); -1: none */
	bool created;        /* by this run (else a kept arena reused) */
	int stop_fd;         /* the caller's signalfd: a signal pending ends
			      * a --prefault creation (HL_EBUSY); -1: none */
};

/* Creates the arena, or reuses a kept one (run_arena.c's design comment);
 * says why on stderr when it cannot. 0 or an HL_E* code; HL_EBUSY without a
 * word when a stop signal (ra->stop_fd) ended the creation. */
int hl_run_arena_open(struct run_opts *o, struct run_arena *ra);
/* Closes the handle, unlinks the arena unless kept, drops the lock. */
void hl_run_arena_close(const struct run_opts *o, struct run_arena *ra);
/* Says which part of the arena is full and what --size would fit, after
 * workers found it full (HL_WORKER_EXIT_FULL). */
void hl_run_arena_full(const struct run_opts *o, const struct run_arena *ra);

/* The persister of a --persist run (persist_cmd.c): recovers DIR into the
 * run's arena and starts persisting, saying so; *out stays NULL without
 * --persist. 0 or an HL_E* code (said). */
struct hl_persister;
int hl_run_persist_start(const struct run_opts *o, struct run_arena *ra,
			 struct hl_persister **out);
/* Flushes and stops it (NULL: nothing); says a sticky error. */
int hl_run_persist_stop(struct hl_persister *p);


#endif /* HL_COORDINATOR_RUN_H */
