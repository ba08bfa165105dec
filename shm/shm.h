/*
 * shm.h - internals of the arena layer: the per-process handle, and the
 * calls the arena's modules (arena.c, slots.c, index.c, heap.c, numa.c)
 * offer to each other and to workers/.
 *
 * Nothing here is exported from libhelios (see libhelios.map); tests link
 * the static library to reach it.
 */
#ifndef HL_SHM_SHM_H
#define HL_SHM_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "helios.h"
#include "layout.h"
#include "hl_limits.h"

/* Programmer errors crash loudly with file, line and expression; they are
 * never used for input from outside (a corrupt arena returns an error). */
#define hl_assert(expr)                                                        \
	((expr) ? (void)0 : hl_assert_fail(#expr, __FILE__, __LINE__, __func__))
_Noreturn void hl_assert_fail(const char *expr, const char *file, int line,
			      const char *func);

#define hl_likely(x) __builtin_expect(!!(x), 1)
#define hl_unlikely(x) __builtin_expect(!!(x), 0)

/* The per-process handle. Private memory; one thread at a time. */
struct hl_arena {
	unsigned char *base;         /* the mapping */
	uint64_t bytes;              /* its length */
	struct hl_arena_hdr *hdr;    /* == base */
	struct hl_slot *slot;        /* NULL for a read-only handle */
	int slot_index;              /* -1 for a read-only handle */
	unsigned flags;              /* HL_RDONLY */
	pid_t pid;                   /* who opened the handle */
	int numa_node;               /* the node this process allocates on */
	uint32_t chunk_bytes;
	uint32_t chunk_shift;
	uint32_t class_leaf;         /* size class of a leaf node */
	uint32_t class_inner;        /* size class of a full inner node */
	uint32_t class_root;         /* size class of a root node */
	hl_id zero_hash[HL_LEVELS_MAX]; /* hash of a full all-zero subtree */
	const unsigned char *zero_chunk; /* chunk_bytes of zeros, private */
	char name[HL_ARENA_NAME_MAX + 16];
};

/* ---- addressing ----------------------------------------------------------- */

static inline void *hl_at(const hl_arena *a, uint64_t off)
{
	return a->base + off;
}

static inline uint64_t hl_off(const hl_arena *a, const void *p)
{
	return (uint64_t)((const unsigned char *)p - a->base);
}

static inline const struct hl_region *hl_region(const hl_arena *a,
						enum hl_region_id r)
{
	return &a->hdr->regions[r];
}

/* True when [off, off+len) lies inside the heap region and off is aligned:
 * the test every offset read from shared memory passes before it is used. */
static inline bool hl_heap_contains(const hl_arena *a, uint64_t off,
				    uint64_t len)
{
	const struct hl_region *h = &a->hdr->regions[HL_REGION_HEAP];
	return off >= h->off && off % HL_HEAP_ALIGN == 0 && len <= h->bytes &&
	       off - h->off <= h->bytes - len;
}

static inline struct hl_node *hl_node_at(const hl_arena *a, uint64_t off)
{
	return (struct hl_node *)hl_at(a, off);
}

/* ---- overflow-checked size arithmetic ---------------------------------- */

static inline bool hl_add_overflows(uint64_t x, uint64_t y, uint64_t *sum)
{
	return __builtin_add_overflow(x, y, sum);
}

static inline bool hl_mul_overflows(uint64_t x, uint64_t y, uint64_t *prod)
{
	return __builtin_mul_overflow(x, y, prod);
}

static inline uint64_t hl_align_up(uint64_t x, uint64_t align)
{
	return (x + align - 1) & ~(align - 1);
}

static inline uint64_t hl_pow2_ceil(uint64_t x)
{
	return x <= 1 ? 1 : 1ull << (64 - __builtin_clzll(x - 1));
}

/* ---- time and process identity (util.c) ---------------------------------- */

uint64_t hl_now_ns(void);             /* CLOCK_MONOTONIC */
/* What /proc and kill(2) say of a pid (util.c). RUNNING sets *start_time to
 * its start time in clock ticks since boot (/proc/PID/stat field 22), which
 * tells a live owner from a recycled pid; GONE is positive proof that no
 * thread of the process is left; UNKNOWN (/proc unreadable: EMFILE,
 * hidepid, another pid namespace) must be taken as alive. */
enum hl_proc_state {
	HL_PROC_UNKNOWN = 0,
	HL_PROC_RUNNING = 1,
	HL_PROC_GONE = 2,
};
enum hl_proc_state hl_proc_identity(pid_t pid, uint64_t *start_time);
/* The start time when RUNNING, else 0. */
uint64_t hl_proc_start_time(pid_t pid);

/* ---- process slots (slots.c) ---------------------------------------------- */

/* Claims a free slot for the calling process, or takes over the slot of a
 * dead process. HL_EFULL when all are held by live processes. */
int hl_slot_claim(hl_arena *a);
/* Releases the handle's slot (only if this process still owns it). */
void hl_slot_release(hl_arena *a);
/* True when slot i is held (owner != 0) by a process that no longer exists
 * or whose pid was recycled (start time differs). */
bool hl_slot_is_dead(const hl_arena *a, uint32_t i);
/* Frees slot i if its owner is dead (CAS from the dead owner to 0): returns
 * true if this call reclaimed it. The unused tails of the dead process's
 * slabs go back to the free lists at once (hl_heap_release_cursors). */
bool hl_slot_reclaim_if_dead(hl_arena *a, uint32_t i);
/* Consistency checker of the slot table (see hl_arena_check): states and
 * roles in range, a free slot holds no slab cursor, and no cursor of a
 * class the arena does not have. 0 or HL_ECORRUPT with msg. */
int hl_slots_check(const hl_arena *a, char *msg, size_t msg_len);
/* Reclaims the slot of every dead process (hl_slot_reclaim_if_dead over
 * the table): their slab tails reach the free lists at once. Returns how
 * many it reclaimed. The heap calls it when it finds itself full. */
unsigned hl_slots_reclaim_dead(hl_arena *a);
/* Records what the handle's process is (coordinator, worker i). */
void hl_slot_set_role(hl_arena *a, enum hl_slot_role role, uint32_t worker);
static inline struct hl_slot *hl_slot_at(const hl_arena *a, uint32_t i)
{
	return (struct hl_slot *)hl_at(a, a->hdr->regions[HL_REGION_SLOTS].off) +
	       i;
}
/* Single-writer counter add (owner only): relaxed load + store, no RMW. */
static inline void hl_ctr_add(hl_arena *a, enum hl_counter c, uint64_t n)
{
	_Atomic uint64_t *p = &a->slot->ctr[c];
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* ---- node hashing (hash.c) ------------------------------------------------ */

hl_id hl_hash_leaf(const void *chunk, size_t len);
hl_id hl_hash_inner(unsigned level, const hl_id *child_hashes, unsigned count);
hl_id hl_hash_root(uint64_t state_bytes, unsigned height, hl_id top_hash);
/* XXH3-64 of plain bytes (header checksum, ref names). */
uint64_t hl_hash64(const void *p, size_t len, uint64_t seed);
/* Checks every node reachable from the index: header well formed for its
 * kind, hash recomputed from its bytes, children present with the hashes
 * recorded. 0 or HL_ECORRUPT (nodecheck.c). */
int hl_nodes_check(const hl_arena *a, char *msg, size_t msg_len);

/* ---- the node index (index.c) ----------------------------------------------
 *
 * Keys are 128-bit node hashes; values are node offsets. The full key is the
 * node's own header hash: an entry whose tag matches is confirmed by reading
 * it. Lock-free; never blocks; bounded probing.
 */

/* Sets *off to the node with hash h: 0 or HL_ENOENT. Never stores. */
int hl_index_lookup(const hl_arena *a, hl_id h, uint64_t *off);
/*
 * Publishes node off (whose header already holds hash h and whose bytes are
 * complete) if no node with hash h is present. Returns 0 when it inserted,
 * 1 when a node with hash h was there first (*winner gets its offset; the
 * caller still owns off), HL_EFULL when the probe window has no empty entry
 * (nothing changed), HL_EROFS for a read-only handle. The publishing CAS is a release: it pairs with the
 * acquire load in look-ups, so a reader that finds the entry sees the node.
 */
int hl_index_insert(hl_arena *a, hl_id h, uint64_t off, uint64_t *winner);
/* Replaces the entry for (h, off) with a tombstone: 0 or HL_ENOENT. For the
 * garbage collector; the node must then be retired through epochs. */
int hl_index_remove(hl_arena *a, hl_id h, uint64_t off);
/* Starts loading h's home bucket into the cache, so a caller with several
 * look-ups to make can overlap their misses. */
static inline void hl_index_prefetch(const hl_arena *a, hl_id h)
{
	const struct hl_bucket *b = hl_at(a, a->hdr->regions[HL_REGION_INDEX].off);
	__builtin_prefetch(&b[h.lo & (a->hdr->index_buckets - 1)]);
}
/* Entries in use (full scan). */
uint64_t hl_index_used(const hl_arena *a);
/* Index capacity in entries. */
uint64_t hl_index_capacity(const hl_arena *a);
/* Consistency checker; see hl_arena_check. 0, HL_ECORRUPT with msg, or
 * HL_ENOMEM (its private key set). */
int hl_index_check(const hl_arena *a, char *msg, size_t msg_len);

/* ---- the shared heap (heap.c) --------------------------------------------- */

/* Chooses slab size and class table for a new arena (fills hdr fields
 * slab_bytes, class_count, class_bytes). leaf/inner/root node sizes get
 * exact classes so a 4 KiB leaf wastes no more than its alignment. */
void hl_heap_layout(struct hl_arena_hdr *hdr, uint32_t chunk_bytes);
/* The smallest class holding `bytes`, or -1 if none does. */
int hl_heap_class_of(const struct hl_arena_hdr *hdr, uint64_t bytes);
/* Allocates an object of size class cls for the handle's slot: a free-list
 * pop, else a bump in the slot's slab, else a new slab by one atomic
 * fetch-add on heap_next (bound to the local NUMA node). HL_EFULL when the
 * heap is exhausted (nothing changed), HL_EROFS for a read-only handle. */
int hl_heap_alloc(hl_arena *a, unsigned cls, uint64_t *off);
/* A free-list pop in its two halves, for a test to stall a popper between
 * them (hl_heap_alloc runs both, retrying): begin reads the head and its
 * object's next word (0, 1 for an empty list, 2 when the object lacks the
 * free mark - taken meanwhile, or a damaged head - HL_ECORRUPT for a head
 * that names no object of the class); finish tries to swing the head from what
 * begin read to that next object: 0 when it did (head_off is the object's,
 * now the caller's), 1 when the list changed meanwhile. */
struct hl_free_pop {
	uint64_t head_off; /* the object at the head */
	uint64_t head_tag; /* the head's tag as read */
	uint64_t next;     /* its next word as read */
};
int hl_heap_pop_begin(hl_arena *a, unsigned cls, struct hl_free_pop *p);
int hl_heap_pop_finish(hl_arena *a, unsigned cls, struct hl_free_pop *p);
/* Returns an object of class cls: rewinds the slot's cursor when it was the
 * last bump, else pushes it on the class's lock-free free list. */
void hl_heap_free(hl_arena *a, unsigned cls, uint64_t off);
/* Gives the unused tails of slot s's slabs back to the free lists (the
 * caller owns s): called when its process closes or is reclaimed. */
void hl_heap_release_cursors(hl_arena *a, struct hl_slot *s);
/* Drops every cursor a freshly claimed slot still holds: a free slot has
 * none unless the arena is damaged (slots.c calls it right after a claim). */
void hl_heap_adopt_cursors(hl_arena *a);
/* Whether this CPU has the 16-byte CAS the free lists need (CMPXCHG16B);
 * create and attach refuse with HL_EIO where it does not. */
bool hl_heap_cas16_supported(void);
/* True when off is the start of an object of class cls in a slab the slab
 * map gives to cls: how a checker places an offset read from the arena. */
bool hl_heap_object_valid(const hl_arena *a, unsigned cls, uint64_t off);
/* Bytes handed out as slabs. */
uint64_t hl_heap_used(const hl_arena *a);
/* Consistency checker; see hl_arena_check. */
int hl_heap_check(const hl_arena *a, char *msg, size_t msg_len);

/* ---- the refs checker (refcheck.c) ---------------------------------------- */

/* Every named ref is well formed, reachable by its probe and names a
 * published root (refcheck.c). 0 or HL_ECORRUPT with msg. */
int hl_refs_check(const hl_arena *a, char *msg, size_t msg_len);

/* ---- NUMA (numa.c) -------------------------------------------------------- */

/* The node the calling thread runs on (0 where NUMA is unavailable). */
int hl_numa_local_node(void);
/* Interleaves [p, p+len) across all nodes; page-aligned. No-op result on one
 * node, but the policy call is made. Returns 0, HL_EINVAL (unaligned),
 * HL_ENOMEM or HL_EIO. */
int hl_numa_interleave(void *p, size_t len);
/* Prefers node for [p, p+len) (MPOL_PREFERRED: falls back rather than OOM). */
int hl_numa_prefer(void *p, size_t len, int node);

/* ---- arena internals (arena.c) -------------------------------------------- */

/* Whether the handle may change the arena. */
static inline int hl_arena_writable(const hl_arena *a)
{
	return (a->flags & HL_RDONLY) ? HL_EROFS : 0;
}

/* Formats msg like snprintf; for checkers. Always returns HL_ECORRUPT. */
int hl_check_fail(char *msg, size_t msg_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* HL_SHM_SHM_H */
