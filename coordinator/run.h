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
	uint64_t selfplay;   /* --selfplay G: games to play (0: one search) */
	uint64_t move_playouts; /* self-play: --playouts, per move */
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

/* What a run knows of its arena's memory, read through public calls
 * (hl_arena_stats, hl_mcts_stats_get, hl_gc_stats_get) by
 * hl_run_after_move. */
struct hl_run_memory {
	uint64_t heap_bytes, heap_used_bytes, heap_peak_bytes;
	uint64_t nodes;      /* the arena's nodes (snapshots' leaves, inner and
			      * root nodes, search records) */
	uint64_t records;    /* search records */
	uint64_t no_room;    /* expansions refused for want of room */
	uint64_t gc_cycles;  /* collections completed (hl_gc_stats_get) */
	uint64_t gc_freed_bytes; /* their total */
	uint64_t live_bytes; /* found reachable by the last collection */
	bool said_full;      /* "the arena is full", said once */
};
/* A game driver calls this after each move it plays, when the root has
 * moved and before the workers get the next move's budget (selfplay.c):
 * the place between moves for work on the arena as a whole. It reads the
 * memory into *mem (the peak too) and says once when the arena has
 * filled. 0 or an HL_E* code. */
int hl_run_after_move(hl_arena *a, struct hl_run_memory *mem);

/* Self-play (selfplay.c): checks and completes a --selfplay command line
 * after the --game part (NULL, or why it is a usage error); then drives
 * the games on the run's workers (spawning them) and prints the report;
 * returns why it stopped, *failed when that is a failure of its own. */
const char *hl_selfplay_opts(struct run_opts *o);
struct hl_sup;
const char *hl_selfplay_run(const struct run_opts *o, struct hl_sup *sup,
			    int sfd, bool *failed);

/* The persister of a --persist run (persist_cmd.c): recovers DIR into the
 * run's arena and starts persisting, saying so; *out stays NULL without
 * --persist. 0 or an HL_E* code (said). */
struct hl_persister;
int hl_run_persist_start(const struct run_opts *o, struct run_arena *ra,
			 struct hl_persister **out);
/* Flushes and stops it (NULL: nothing); says a sticky error. */
int hl_run_persist_stop(struct hl_persister *p);


#endif /* HL_COORDINATOR_RUN_H */
