/*
 * helios.h - the one public header of Helios, a shared-memory state engine
 * for parallel search.
 *
 * Model
 * -----
 * An *arena* is one shared mapping (POSIX shm under /dev/shm, or a file you
 * name) that many processes attach to. Inside it live immutable,
 * content-addressed *nodes* found through a lock-free hash index: leaves hold
 * fixed-size chunks of state bytes, inner nodes hold their children's
 * offsets (and their own hash covers the children's hashes), and a root
 * node records a state's length. A snapshot is named by its root's
 * 128-bit hash, an hl_id; equal content always gets the equal id, in any
 * process, whatever order of writes produced it.
 *
 * A *working state* (hl_state) is process-private: a base snapshot plus the
 * chunks written since. hl_commit publishes the dirty chunks and returns the
 * new id; hl_restore points the state at any id in O(1) and copies nothing;
 * hl_fork copies only the dirty list; hl_diff walks two snapshots and skips
 * every subtree they share.
 *
 * Conventions
 * -----------
 * - Every function that can fail returns 0 or a negative HL_E* code;
 *   hl_strerror() names the code. Bad input never crashes.
 * - Costs are stated per call. "O(1)" never depends on the state's size.
 * - Threads: an hl_arena handle and the states made from it belong to one
 *   thread at a time. Open one handle per thread (each takes its own process
 *   slot) for parallelism inside one process. Distinct handles need no
 *   locking among themselves: the arena is lock-free.
 * - fork(2): a child process must not use its parent's handle; it attaches
 *   anew (hl_arena_attach). Closing an inherited handle in the child only
 *   unmaps it and leaves the parent's slot alone.
 */
#ifndef HELIOS_H
#define HELIOS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HL_VERSION_MAJOR 0
#define HL_VERSION_MINOR 1
#define HL_VERSION_PATCH 0

/* ---- errors --------------------------------------------------------------- */

enum hl_error {
	HL_OK = 0,
	HL_EINVAL = -1,      /* bad argument: NULL, bad name, bad config */
	HL_ENOMEM = -2,      /* process-private memory exhausted */
	HL_ENOENT = -3,      /* no such arena, snapshot id or ref */
	HL_EEXIST = -4,      /* arena name already taken */
	HL_EFULL = -5,       /* arena index, heap, process slots or refs full */
	HL_ERANGE = -6,      /* offset or length past the state's size or limit */
	HL_EVERSION = -7,    /* arena of another format version */
	HL_ECORRUPT = -8,    /* arena header or node failed validation */
	HL_ECOLLISION = -9,  /* equal 128-bit hash, different bytes: not shared */
	HL_EACCES = -10,     /* the OS denied access to the arena object */
	HL_EROFS = -11,      /* a change through a read-only attach */
	HL_EIO = -12,        /* a system call failed unexpectedly */
	HL_EBUSY = -13,      /* the arena is still being created */
	HL_EMISMATCH = -14,  /* object from another arena */
	HL_EFTYPE = -15,     /* the arena's name is no regular file or shm object
			      * (a FIFO, a device, a directory) */
	HL_ENOSPC = -16,     /* the file system has no room for the arena */
};

/* Static English name of rc ("HL_EFULL: arena full ..."); never NULL. */
const char *hl_strerror(int rc);

/* ---- ids ------------------------------------------------------------------ */

/* The content address of a snapshot. All-zero names the empty state. */
typedef struct hl_id {
	uint64_t lo, hi;
} hl_id;

/* 32 lowercase hex digits and a NUL: hi then lo, most significant first. */
int hl_id_to_hex(hl_id id, char out[33]);
/* Parses exactly 32 hex digits (either case); HL_EINVAL otherwise. */
int hl_id_from_hex(const char *hex, hl_id *out);
/* 1 when equal, else 0. */
int hl_id_eq(hl_id a, hl_id b);
/* 1 for the empty state's id. */
int hl_id_is_zero(hl_id id);

/* ---- arenas --------------------------------------------------------------- */

typedef struct hl_arena hl_arena;
typedef struct hl_state hl_state;

#define HL_RDONLY 1u  /* hl_arena_attach: map PROT_READ, take no slot */

enum hl_numa_mode {
	HL_NUMA_AUTO = 0, /* interleave metadata, bind slabs to the local node */
	HL_NUMA_OFF = 1,  /* leave memory policy to the kernel */
};

typedef struct hl_config {
	uint64_t arena_bytes;    /* whole mapping; default 1 GiB */
	uint32_t chunk_bytes;    /* power of two, 32 B..1 MiB; default 4096 */
	uint64_t index_capacity; /* index entries; 0: derived from arena_bytes */
	uint32_t max_processes;  /* process slots; default 64 */
	uint32_t refs_capacity;  /* named refs; default 1024 */
	uint32_t numa;           /* enum hl_numa_mode; default HL_NUMA_AUTO */
	uint32_t mode;           /* file mode of the shm object; default 0600 */
	/* added after the contract's fields */
	uint32_t prefault;       /* 1: allocate and zero every page of the arena
				  * at creation (interleaved across NUMA nodes),
				  * and map them all at each attach, so no commit
				  * ever takes a page fault; costs the memory and
				  * about 0.3-2 s per GiB up front (and per attach
				  * for the page tables). 0 (default): the
				  * metadata (index, slots, refs: ~1.6%) is
				  * allocated at creation and mapped at attach;
				  * heap pages a slab at a time as a process
				  * grabs one, on its node, or ahead of need by
				  * a helper thread when the process may run on
				  * two or more CPUs (HELIOS_PAGE_HELPER=0 in
				  * the environment: none). */
	uint64_t persist_ring_bytes; /* 0 (default): memory only, no persist
				      * region. Else the ring commits hand the
				      * persister their records through, in
				      * bytes (>= 64 KiB, and room for a
				      * leaf record: 2 chunks at least) */
	uint32_t durability;     /* enum hl_durability: the default of every
				  * commit when persist_ring_bytes > 0;
				  * default HL_DURABILITY_SYNC */
	uint64_t persist_lag_ns; /* async: the most a flush waits to gather
				  * more records; default 2 ms */
	uint32_t holds_per_process; /* distinct snapshots one process may keep
				     * alive at once (pins and working states'
				     * bases; states sharing a base count
				     * once); 0: 256. 16 B of arena each,
				     * per process slot */
} hl_config;

/* Durability of commits and ref changes (hl_config.durability, per arena;
 * hl_commit_ex's flags, per commit). */
enum hl_durability {
	HL_DURABILITY_NONE = 0,  /* memory only: nothing is written */
	HL_DURABILITY_ASYNC = 1, /* acknowledged at once; on disk within the
				  * persister's lag; hl_persist_sync waits */
	HL_DURABILITY_SYNC = 2,  /* acknowledged once on disk */
};

/* Fills cfg with the defaults above. */
void hl_config_init(hl_config *cfg);

/*
 * Creates arena `name` and attaches to it (the creator takes a slot).
 * A name without '/' is a POSIX shm object (/dev/shm/helios.NAME): 1-200
 * characters of [A-Za-z0-9._-], not starting with '.'. A name containing
 * '/' is a file path (use it for hugetlbfs or a chosen directory).
 * Errors: HL_EINVAL (name, config, or an arena too small for its chunk
 * size: it needs room for 4 slabs of 16 leaves), HL_EEXIST, HL_ENOENT (a
 * path in a directory that does not exist), HL_EACCES, HL_EIO.
 * Cost: one ftruncate and mmap; pages are touched lazily.
 */
int hl_arena_create(const char *name, const hl_config *cfg, hl_arena **out);

/*
 * Attaches to an existing arena. flags: 0, or HL_RDONLY for an observer
 * that maps the arena read-only and takes no slot (every change through it
 * fails with HL_EROFS). The header is validated first: HL_ENOENT (no such
 * arena), HL_EVERSION (other format), HL_ECORRUPT (garbage, truncated or
 * resized file), HL_EACCES, HL_EBUSY (no header published yet: creation in
 * progress, or a creator that died before finishing; retry, or unlink it;
 * attach waits up to 200 ms for a creator first), HL_EFULL
 * (every slot is held by a live process; slots of dead ones are reclaimed).
 */
int hl_arena_attach(const char *name, unsigned flags, hl_arena **out);

/* Frees the handle's slot and unmaps. NULL is a no-op. States made from the
 * handle must be freed first. */
void hl_arena_close(hl_arena *a);

/* Removes the name; attached processes keep their mapping. HL_ENOENT if
 * absent. */
int hl_arena_unlink(const char *name);

typedef struct hl_stats {
	uint64_t nodes;           /* nodes published (leaves, inner, roots) */
	uint64_t stored_bytes;    /* bytes of those nodes in the heap */
	uint64_t dedup_bytes;     /* bytes committed that were already there */
	uint64_t index_capacity;  /* index entries */
	uint64_t index_used;      /* index entries in use */
	uint64_t heap_bytes;      /* heap region size */
	uint64_t heap_used_bytes; /* heap handed out as slabs */
	uint64_t processes;       /* slots held by live processes */
	/* added after the contract's fields */
	uint64_t processes_dead;  /* slots whose process died without closing */
	uint64_t commits;
	uint64_t restores;
	uint64_t hashed_bytes;    /* bytes hashed by commits */
	uint64_t dedup_hits;      /* nodes found already present */
	uint64_t arena_bytes;
	uint32_t chunk_bytes;
	uint32_t max_processes;
	uint64_t refs;            /* named refs in use */
	uint64_t refs_capacity;
	uint32_t huge_pages;      /* 1: the arena's file is backed by 2 MiB
				   * pages (a tmpfs mounted huge=always or
				   * huge=within_size, or shmem_enabled=force) */
} hl_stats;

/* Sums every slot's counters: a consistent-enough view while others run,
 * exact when they are quiet (index_used may exceed the index's true count
 * by one node per process killed mid-commit; hl_arena_check scans it).
 * Cost: O(max_processes + refs_capacity). */
int hl_arena_stats(hl_arena *a, hl_stats *out);

/*
 * Runs the consistency checkers over the arena: every index entry points
 * at a node inside the heap whose hash matches its bucket and tag, no key
 * appears twice, every node's header is well formed, slab cursors and free
 * lists stay in their slabs, process slots hold valid states (a free one no
 * cursor), and every named ref is reachable and names a published root
 * (or the zero id). Writes the first problem into msg (when not
 * NULL). Returns 0 or HL_ECORRUPT. Cost: O(index capacity); run it when
 * the arena is quiet or accept that it sees a moving target.
 */
int hl_arena_check(hl_arena *a, char *msg, size_t msg_len);

/* The slot index this handle holds, or -1 for a read-only handle. */
int hl_arena_slot(const hl_arena *a);

/* The arena's chunk size (bytes). */
uint32_t hl_arena_chunk_bytes(const hl_arena *a);

/* Marks the handle's slot alive now: for processes that may go long without
 * committing (a coordinator treats a worker whose heartbeat is older than its
 * hang timeout as hung). hl_commit does this itself. */
void hl_arena_heartbeat(hl_arena *a);

/* ---- processes ------------------------------------------------------------ */

enum hl_process_state {
	HL_PROCESS_FREE = 0,  /* slot unused */
	HL_PROCESS_LIVE = 1,  /* held by a running process */
	HL_PROCESS_DEAD = 2,  /* held by a process that died without closing */
};

enum hl_process_role {
	HL_PROCESS_ROLE_PLAIN = 0,       /* attached through hl_arena_attach */
	HL_PROCESS_ROLE_WORKER = 1,      /* attached through hl_worker_attach_env */
	HL_PROCESS_ROLE_COORDINATOR = 2, /* `helios run` */
};

typedef struct hl_process_info {
	uint32_t state;        /* enum hl_process_state */
	uint32_t role;         /* enum hl_process_role */
	uint32_t pid;          /* 0 when free */
	uint32_t worker;       /* worker index, for role WORKER */
	uint32_t numa_node;
	uint64_t heartbeat_age_ns; /* since the last commit or heartbeat */
	/* counters of the slot, over every process that ever held it */
	uint64_t commits, restores, hashed_bytes, dedup_hits, dedup_bytes;
	uint64_t nodes, stored_bytes;
} hl_process_info;

/* Describes slot i (0 <= i < hl_stats.max_processes); HL_ERANGE past the
 * table. Works on read-only handles. Cost: O(1) plus one /proc read for a
 * held slot. */
int hl_arena_process(hl_arena *a, uint32_t i, hl_process_info *out);

/*
 * For a worker spawned by `helios run`: attaches to the arena named by the
 * environment variable HELIOS_ARENA and records the worker index given in
 * HELIOS_WORKER in its slot (so `helios stat` shows it per worker).
 * *worker_index (may be NULL) receives that index. HL_EINVAL when either
 * variable is missing or malformed; else as hl_arena_attach.
 */
int hl_worker_attach_env(hl_arena **out, unsigned *worker_index);

/* ---- working states ------------------------------------------------------- */

typedef struct hl_commit_info {
	uint64_t hashed_bytes;  /* bytes fed to the hash (dirty chunks, nodes) */
	uint64_t new_bytes;     /* bytes of nodes this commit added */
	uint64_t dedup_bytes;   /* bytes of nodes found already present */
	uint64_t new_nodes;     /* nodes this commit added */
	uint64_t ns;            /* wall time of the commit */
	/* added after the contract's fields */
	uint64_t chunks_touched; /* dirty chunks hashed */
} hl_commit_info;

/* A new, empty working state (size 0, base = zero id). Private memory only.
 * Errors: HL_EINVAL, HL_ENOMEM. */
int hl_state_new(hl_arena *a, hl_state **out);
/* Frees the state and its private chunks. NULL is a no-op. */
void hl_state_free(hl_state *s);
/* Current size in bytes. */
uint64_t hl_state_size(const hl_state *s);
/* Grows (new bytes read as zero) or shrinks the state. HL_ERANGE above
 * 1 TiB. Cost: O(1) plus the dirty chunks dropped. */
int hl_state_resize(hl_state *s, uint64_t size);
/* Copies len bytes in at off. off+len must be <= size, else HL_ERANGE and
 * nothing changes. Cost: O(len) plus one chunk copy per clean chunk first
 * touched since the last commit/restore. */
int hl_state_write(hl_state *s, uint64_t off, const void *buf, size_t len);
/* Copies len bytes out from off; HL_ERANGE past the size. */
int hl_state_read(hl_state *s, uint64_t off, void *buf, size_t len);
/*
 * Zero-copy read: *ptr points at the bytes at off, valid for *len bytes
 * (to the end of off's chunk or of the state). For clean chunks that is the
 * shared leaf itself. Valid until the state is next written, resized,
 * committed, restored or freed. HL_ERANGE when off >= size.
 */
int hl_state_view(hl_state *s, uint64_t off, const void **ptr, size_t *len);
/*
 * Publishes the state as an immutable snapshot and returns its id in *out.
 * Hashes only the chunks written since the last commit/restore and the
 * inner nodes above them; an unchanged state commits to the same id with
 * nothing hashed. After it the state's base is *out and nothing is dirty.
 * info may be NULL. Errors: HL_EFULL (index or heap; the state is unchanged
 * and can be committed again once there is room), HL_ECOLLISION, HL_EROFS.
 */
int hl_commit(hl_state *s, hl_id *out, hl_commit_info *info);

/* hl_commit_ex flags: the durability of this one commit, overriding the
 * arena's (on an arena without persistence both are ignored). */
#define HL_COMMIT_ASYNC 1u /* return at once; durable within the lag */
#define HL_COMMIT_SYNC 2u  /* return once durable */
/*
 * hl_commit with flags (0: the arena's durability). On a persisted arena a
 * commit hands its new nodes to the persister before publishing them; a
 * sync commit then waits (futex) until the persister says they are on
 * disk. Errors, besides hl_commit's: the persister's sticky error (HL_EIO,
 * HL_ENOSPC: a write or flush failed; the snapshot is published in memory
 * but not durable, and every later durable commit returns it too).
 */
int hl_commit_ex(hl_state *s, hl_id *out, hl_commit_info *info,
		 unsigned flags);
/*
 * Waits until everything committed (and every ref set) so far by any live
 * process of the arena is durable. 0 at once on an arena without
 * persistence; the sticky error; HL_EBUSY when no persister drained the
 * ring within timeout_ns (0: wait as long as it takes).
 */
int hl_persist_sync(hl_arena *a, uint64_t timeout_ns);
/* Points the state at snapshot id, dropping dirty chunks. O(1): one index
 * look-up, no state bytes copied. HL_ENOENT for an unknown id. */
int hl_restore(hl_state *s, hl_id id);
/* A new state with the same base, size and dirty chunks. O(1) plus one copy
 * per dirty chunk. */
int hl_fork(hl_state *s, hl_state **out);
/* The id the state was last committed to or restored from. */
hl_id hl_state_base(const hl_state *s);

/*
 * Calls fn(off, len, ctx) for every maximal run of bytes that differ between
 * snapshots x and y, in increasing order; bytes present in only one of them
 * (different sizes) count as differing. Subtrees with equal hashes are
 * skipped: cost is proportional to the change. A non-zero return from fn
 * stops the walk and is returned. HL_ENOENT for an unknown id.
 */
int hl_diff(hl_arena *a, hl_id x, hl_id y,
	    int (*fn)(uint64_t off, uint64_t len, void *ctx), void *ctx);

/* ---- named refs ----------------------------------------------------------- */

/* Names are 1..63 bytes, no NUL. */
#define HL_REF_NAME_MAX 63

/* Points ref `name` at id (creating the name on first use). The id must be
 * a snapshot in this arena (or zero): HL_ENOENT otherwise. One atomic store:
 * readers see the old id or the new one. HL_EFULL when no ref is free. */
int hl_ref_set(hl_arena *a, const char *name, hl_id id);
/* Reads ref `name`. HL_ENOENT if it was never set. */
int hl_ref_get(hl_arena *a, const char *name, hl_id *out);
/* Sets name to desired only if it currently holds expected (a name never
 * set holds the zero id). HL_EBUSY when it held something else; *expected
 * then receives the current id. */
int hl_ref_cas(hl_arena *a, const char *name, hl_id *expected, hl_id desired);

/* ---- garbage collection ----------------------------------------------------
 *
 * A snapshot is kept while something reaches it: a named ref, a pin, the
 * base of a live working state in any process, or a search (its root ref,
 * the records below it, the paths in flight). Anything else may be
 * reclaimed by a collection; its id then answers HL_ENOENT, never wrong
 * bytes. Collections run alongside committing and reading processes: no
 * lock, and a worker's share of the work (marking what it touches while a
 * collection traces) is bounded by what it touches.
 *
 * Read-only handles cannot announce what they read: a snapshot they
 * restore should be held by someone else (a ref, a pin) while they read.
 */
/* Keeps snapshot id (and all it shares) alive until hl_unpin, or until
 * this process closes the arena or dies. Counted. HL_ENOENT (no such
 * snapshot), HL_EFULL (this process holds hl_config.holds_per_process
 * distinct snapshots), HL_EROFS. The zero id needs no pin: 0. */
int hl_pin(hl_arena *a, hl_id id);
/* Drops one pin of id taken by this process: HL_ENOENT if it holds none. */
int hl_unpin(hl_arena *a, hl_id id);

typedef struct hl_gc_info {
	uint64_t freed_nodes;  /* nodes (and search records) reclaimed */
	uint64_t freed_bytes;  /* their heap bytes, back on the free lists */
	uint64_t ns;           /* the collection's wall time */
	/* added after the contract's fields */
	uint64_t live_nodes;   /* nodes found reachable */
	uint64_t live_bytes;   /* their bytes */
	uint64_t cycle;        /* the collection's number in this arena */
	uint64_t wait_ns;      /* its longest wait for other processes */
} hl_gc_info;

/* Runs one collection from this process (read-write handles). HL_EBUSY
 * when another process is collecting right now (its results will do) or
 * a stopped process kept the collection from finishing (nothing was
 * freed early; try later). info may be NULL. */
int hl_gc(hl_arena *a, hl_gc_info *info);

/* Collection totals of the arena (for monitors: `helios stat`). */
typedef struct hl_gc_stats {
	uint64_t cycles;          /* collections completed */
	uint64_t freed_nodes, freed_bytes; /* totals */
	uint64_t last_ns;         /* the last collection's time */
	uint64_t last_freed_bytes;
	uint64_t live_nodes, live_bytes; /* found by the last collection */
	uint64_t pause_max_ns;    /* the longest a worker spent marking */
	uint64_t last_wait_ns;    /* the last collection's longest wait */
	uint32_t running;         /* a collection is running now */
	uint32_t reserved;
	uint64_t unreused_bytes;  /* swept but kept from reuse: on a persisted
				   * arena whose persister was not draining
				   * (its WAL may still need them) */
	uint64_t pauses;          /* workers' pauses for collections: their own
				   * marking, and full-heap collections their
				   * commits ran or waited for */
	uint64_t pause_p50_ns;    /* quantiles of those (upper bounds of */
	uint64_t pause_p99_ns;    /* power-of-two buckets) */
	uint64_t released_slabs;  /* slabs whose objects were all free, given
				   * back for any class to take (a class that
				   * ran out of slabs while others had room),
				   * and slabs assembled from those units for
				   * a class of bigger slabs that ran out */
} hl_gc_stats;
int hl_gc_stats_get(hl_arena *a, hl_gc_stats *out);

/* ---- the shared MCTS search graph ----------------------------------------
 *
 * Many processes grow one search graph in the arena, without locks. A
 * *search* is named; its root is a snapshot (the position searched from),
 * published as the ref "mcts/<name>", so several searches share an arena
 * and a monitor finds one by name. Each position the search reaches has
 * one *record* (found through the index by the position's id, so
 * transpositions share it): its own evaluation, its value Q, proofs, and
 * an edge per move (action, prior, visits, virtual losses, the child's
 * record once linked). A record's visit count N is its own evaluations
 * plus its edges' visits.
 *
 * One playout, from any process:
 *
 *   hl_mcts_select(s, &p)        walk from the root by PUCT or UCT, adding
 *                                a virtual loss on every edge taken
 *   switch (p.leaf):
 *   HL_MCTS_LEAF_NEW / _ROOT:    commit the leaf position (p.parent played
 *                                with p.action[p.depth - 1], or the root),
 *                                evaluate it (rollout, or a network in
 *                                another process), then
 *                                hl_mcts_expand(s, &p, id, moves, n, result)
 *   HL_MCTS_LEAF_KNOWN:          nothing to evaluate (proven, terminal)
 *   hl_mcts_backup(s, &p, value) visits and values up the path, losses off
 *
 * Values are in [-1, 1] from the view of the player to move at the
 * position they belong to; with `alternating` (the default) a child's value
 * is negated for its parent. Backup follows the graph-search formulation: a
 * record's Q is recomputed from its own evaluation and its children's Q
 * weighted by edge visits, so it is sound under transpositions and
 * idempotent under concurrent updates (workers/mcts.c). Proofs
 * (MCTS-Solver) are re-derived from the children on every backup. Select
 * and backup take each child's Q and proof as the last backup through its
 * edge saw them (kept in the parent's record), so they read no record off
 * the path; a child that moved through another parent is seen anew at the
 * next backup through this edge. The reading calls below read the
 * children themselves.
 *
 * A handle is used by one thread at a time, like its arena handle; each
 * process (or thread with its own arena handle) opens its own. Read-only
 * arena handles may open a search and read it; select, expand and backup
 * then answer HL_EROFS.
 */

#define HL_MCTS_PATH_MAX 96    /* moves on one selected path */
#define HL_MCTS_NAME_MAX 58    /* bytes of a search's name */

typedef struct hl_mcts hl_mcts;

enum hl_mcts_policy {
	HL_MCTS_PUCT = 0, /* AlphaZero's: Q + c * P * sqrt(N) / (1 + n) */
	HL_MCTS_UCT = 1,  /* UCB1: Q + c * sqrt(ln N / n); unvisited first */
};

/* Proven or terminal results, from the view of the player to move. */
enum hl_mcts_result {
	HL_MCTS_ONGOING = 0,
	HL_MCTS_WIN = 1,
	HL_MCTS_LOSS = 2,
	HL_MCTS_DRAW = 3,
};

typedef struct hl_mcts_config {
	uint32_t policy;      /* enum hl_mcts_policy; default PUCT */
	uint32_t alternating; /* 1 (default): players alternate every move */
	double c_explore;     /* default 1.5 for PUCT, 1.4 for UCT */
	double fpu_reduction; /* an edge never visited is valued at the parent's
			       * Q minus this (PUCT; default 0.2) */
	uint32_t skip_parent_id; /* 1: select leaves p.parent zero, for a caller
				  * that replays the path's moves from the root
				  * and needs no parent id (it saves a cold read
				  * a playout); default 0: filled */
} hl_mcts_config;

void hl_mcts_config_init(hl_mcts_config *cfg);

/*
 * Opens search `name` on arena a. With a non-zero root (a snapshot of
 * this arena) the search is created if new (HL_EEXIST if it exists with
 * another root: hl_mcts_set_root moves it); with a zero root it must
 * exist (HL_ENOENT). cfg may be NULL (defaults); it is this handle's, and
 * every process of one search should use the same. Errors: HL_EINVAL (a
 * name of 1..HL_MCTS_NAME_MAX bytes), HL_ENOENT, HL_EEXIST, HL_ENOMEM,
 * HL_EFULL (no ref free), HL_EROFS (creating through a read-only handle).
 */
int hl_mcts_open(hl_arena *a, const char *name, hl_id root,
		 const hl_mcts_config *cfg, hl_mcts **out);
/* Abandons the paths still in flight (their losses come off, nothing is
 * visited) and frees the handle. NULL is a no-op. */
void hl_mcts_close(hl_mcts *s);
/* The search's root position, as this handle last followed it: at open,
 * at every select (which follows the root another process moved), at
 * hl_mcts_pv and at hl_mcts_set_root. */
hl_id hl_mcts_root(const hl_mcts *s);
/*
 * Moves the search's root to position new_root (a snapshot of this arena),
 * normally a child of the current root - the move actually played - so
 * the statistics grown below it are kept and the search goes on from them
 * (tree reuse). One compare-and-swap on the ref "mcts/<name>" from the
 * root this handle saw last: of processes racing to move it, one wins.
 * Every process's next select walks from the new root; paths selected
 * before the move back up as usual. Returns 0 (also when another process
 * moved it to new_root already), HL_EBUSY (another process moved it
 * elsewhere first: this handle now follows that root, see hl_mcts_root),
 * HL_EINVAL (zero new_root), HL_ENOENT (no such snapshot), HL_EROFS. Cost:
 * one ref CAS (and on a persisted arena, the ref's log record).
 */
int hl_mcts_set_root(hl_mcts *s, hl_id new_root);

typedef struct hl_mcts_path {
	uint32_t leaf;     /* HL_MCTS_LEAF_* */
	uint32_t depth;    /* moves from the root to the leaf */
	uint32_t action[HL_MCTS_PATH_MAX]; /* the moves, root first */
	hl_id parent;      /* NEW: the position the last move is played from
			    * (zero with hl_mcts_config.skip_parent_id) */
	hl_id leaf_id;     /* KNOWN and ROOT: the leaf's position */
	double value;      /* KNOWN: the value backup will use (leaf's view) */
	uint32_t result;   /* KNOWN: enum hl_mcts_result, ONGOING if not proven */
	/* private to the library */
	uint32_t row_;
	uint64_t rec_[HL_MCTS_PATH_MAX];
	uint16_t edge_[HL_MCTS_PATH_MAX];
	uint8_t held_[HL_MCTS_PATH_MAX];
	uint64_t leaf_rec_;
} hl_mcts_path;

enum hl_mcts_leaf {
	HL_MCTS_LEAF_NEW = 1,   /* an edge whose child is not in the graph */
	HL_MCTS_LEAF_ROOT = 2,  /* the root itself is not in the graph yet */
	HL_MCTS_LEAF_KNOWN = 3, /* in the graph with nothing to evaluate:
				 * proven, terminal, or HL_MCTS_PATH_MAX deep */
};

/*
 * Selects one path from the root to a leaf (see above), holding a virtual
 * loss on each edge until hl_mcts_backup or hl_mcts_abandon. Cost: one
 * record and its children's values read per level. Errors: HL_EBUSY (the
 * handle has HL_MCTS_INFLIGHT_MAX paths in flight: back some up first),
 * HL_EROFS, HL_ECORRUPT (a damaged record: nothing held).
 */
int hl_mcts_select(hl_mcts *s, hl_mcts_path *p);
/* Up to k paths at once, for batched evaluation: virtual losses keep them
 * on different leaves where the graph allows. *got paths are filled (k at
 * most HL_MCTS_INFLIGHT_MAX); 0 or the first error (paths already
 * selected stay selected). */
int hl_mcts_select_batch(hl_mcts *s, hl_mcts_path *paths, unsigned k,
			 unsigned *got);
#define HL_MCTS_INFLIGHT_MAX 16

typedef struct hl_mcts_move {
	uint32_t action;   /* the game's move, < 2^24 */
	float prior;       /* policy prior in [0, 1] (UCT ignores it) */
	hl_id child;       /* the child position if committed, else zero */
} hl_mcts_move;

/*
 * Publishes the leaf of a NEW or ROOT path: `leaf` is the position's id
 * (committed in this arena), moves[0..n) its moves with their priors, and
 * result its exact result if it is terminal (then n is 0). One expander
 * wins: a process that finds the record already published (a race, or a
 * transposition reached another way) links to it and its own evaluation is
 * not used. Readers see a record with all its edges or none. Returns 0, 1
 * when the arena has no room for the record, after a collection as for a
 * full-heap commit (the search goes on with
 * statistics only: back up as usual), or HL_EINVAL (bad path, n, result,
 * or more moves than this arena's largest object holds), HL_ENOENT (leaf
 * is no snapshot here), HL_EROFS.
 */
int hl_mcts_expand(hl_mcts *s, hl_mcts_path *p, hl_id leaf,
		   const hl_mcts_move *moves, unsigned n, uint32_t result);
/* Backs up `value` (the leaf's own evaluation, from its mover's view;
 * ignored for KNOWN leaves and records already evaluated) along the path:
 * one visit per edge, losses off, values and proofs recomputed. 0 or
 * HL_EINVAL (a path not in flight). */
int hl_mcts_backup(hl_mcts *s, hl_mcts_path *p, double value);
/* Drops a selected path without visiting: its losses come off. */
void hl_mcts_abandon(hl_mcts *s, hl_mcts_path *p);

/* ---- reading a search (any process, read-only ones too) ---------------- */

typedef struct hl_mcts_node {
	hl_id id;          /* the position */
	uint64_t visits;   /* N: own evaluations + edge visits */
	double value;      /* Q, for the player to move here */
	uint32_t result;   /* enum hl_mcts_result: proven or terminal */
	uint32_t terminal; /* 1: no moves */
	uint32_t edges;
	uint32_t in_flight; /* virtual losses held on its edges */
} hl_mcts_node;

typedef struct hl_mcts_child {
	uint32_t action;
	float prior;
	uint64_t visits;   /* the edge's */
	double value;      /* the child's Q from the *parent's* mover's view;
			    * NAN when the child is not in the graph */
	uint32_t result;   /* the child's proof from the parent's view:
			    * HL_MCTS_WIN means this move wins */
	uint32_t in_flight;
	hl_id child;       /* zero when not linked yet */
} hl_mcts_child;

/* Position pos's record: HL_ENOENT when it is not in the graph. */
int hl_mcts_node_info(hl_mcts *s, hl_id pos, hl_mcts_node *out);
/* Its edges, in the order they were expanded: *n of them (at most cap are
 * written). HL_ENOENT when pos is not in the graph. */
int hl_mcts_children(hl_mcts *s, hl_id pos, hl_mcts_child *out, unsigned cap,
		     unsigned *n);
/* The move to play from pos: a proven win if any; else the most visited
 * move that is not a proven loss (ties: higher value). HL_ENOENT when pos
 * is not in the graph or has no moves. */
int hl_mcts_best(hl_mcts *s, hl_id pos, hl_mcts_child *out);
/* The principal variation from the root: best moves while the child is in
 * the graph, at most cap. */
int hl_mcts_pv(hl_mcts *s, uint32_t *actions, unsigned cap, unsigned *n);

typedef struct hl_mcts_stats {
	uint64_t records;      /* records published, all searches of the arena */
	uint64_t record_bytes; /* their heap bytes */
	uint64_t playouts;     /* backups completed */
	uint64_t no_room;      /* expansions refused for want of room */
	uint64_t in_flight;    /* virtual losses held now, all processes */
} hl_mcts_stats;

int hl_mcts_stats_get(hl_arena *a, hl_mcts_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* HELIOS_H */
