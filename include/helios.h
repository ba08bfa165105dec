/*
 * helios.h - the one public header of Helios, a shared-memory state engine
 * for parallel search.
 *
 * Model
 * -----
 * An *arena* is one shared mapping (POSIX shm under /dev/shm, or a file you
 * name) that many processes attach to. Inside it live immutable,
 * content-addressed *nodes* found through a lock-free hash index: leaves hold
 * fixed-size chunks of state bytes, inner nodes hold their children's hashes,
 * and a root node records a state's length. A snapshot is named by its root's
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
	uint32_t chunk_bytes;    /* power of two, 64 B..1 MiB; default 4096 */
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
				  * for the page tables). 0 (default): pages are
				  * faulted in as first used, on the using
				  * process's node. */
} hl_config;

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

#ifdef __cplusplus
}
#endif

#endif /* HELIOS_H */
