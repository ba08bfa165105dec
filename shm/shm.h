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
#include <sys/stat.h>
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
	/* the file mapped, as fstat saw it at attach (hl_arena_lock's caller
	 * checks its lock is on this very file; owner checks read file_uid) */
	uint64_t file_dev, file_ino;
	uint32_t file_uid;
	bool huge_pages;  /* its file is backed by 2 MiB pages (huge.c) */
	/* bit r: row r of this handle's slot's in-flight table holds a path
	 * (of any search opened on this handle: inflight.c) */
	uint32_t inflight_rows;
	/* hl_heap_alloc: when it last reclaimed dead slots on a full heap */
	uint64_t full_reclaim_ns;
	/* hl_heap_map_new: the heap bytes this process has mapped ahead */
	uint64_t mapped_heap_bytes;
	bool map_ahead_off;
	/* the persist region (persist_ring.c); NULL without HL_FEATURE_PERSIST */
	struct hl_persist_ctl *pctl;
	struct hl_persist_slot *pslots;
	void *ring;
	uint64_t pseq;               /* this handle's last record's sequence */
	struct hl_ahead *ahead;      /* the page helper thread (ahead.c) or NULL */
	bool ahead_tried;            /* its start was decided (the first grab) */
	/* epoch.c: nesting depth of this handle's critical sections */
	uint32_t epoch_depth;
	/* holds.c: the private map of this handle's pins and states' bases */
	struct hl_holds_priv *holds;
	bool no_auto_gc;             /* HELIOS_GC=off: a full heap is HL_EFULL */
	/* gc.c, hl_gc_for_room: our last collection freed next to nothing,
	 * when the arena had published gc_futile_at bytes */
	bool gc_futile;
	bool gc_futile_room; /* ... or left no room for full_cls (may_refuse) */
	uint64_t gc_futile_at;
	/* hl_heap_alloc: the class whose allocation last found the heap full
	 * (HL_HEAP_CLASS_NONE before any), for hl_gc_for_room's futility */
	unsigned full_cls;
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

/* The node at off, unchecked: for a node this process has just allocated
 * or one hl_node_get has validated. Everything else goes through
 * hl_node_get. */
static inline struct hl_node *hl_node_at(const hl_arena *a, uint64_t off)
{
	return (struct hl_node *)hl_at(a, off);
}

/* ---- validated node reads (node.c) ----------------------------------------
 *
 * The one door by which a reader follows an offset it took from shared
 * memory (an index entry, a child offset, a ref) into a node: bounds, kind,
 * level, count and the exact payload length that kind and count carry, all
 * from one table (hl_node_rule). A node whose header passes but whose
 * payload is short or long never reaches a reader, who would otherwise copy
 * chunk_bytes, or count children, past its end. A new kind of node is one
 * more row in the table.
 */
#define HL_NODE_KIND_ANY 0u    /* hl_node_get: whatever kind it is */
#define HL_NODE_LEVEL_ANY 0xffu /* hl_node_get: at whatever level */

enum hl_node_fault {
	HL_NODE_OK = 0,
	HL_NODE_F_OUTSIDE,   /* its header is not inside the heap, or unaligned */
	HL_NODE_F_KIND,      /* no such kind, or not the kind asked for */
	HL_NODE_F_LEVEL,     /* level outside its kind's range, or not the asked one */
	HL_NODE_F_COUNT,     /* count outside its kind's range */
	HL_NODE_F_PAYLOAD,   /* payload length is not what its kind and count carry */
	HL_NODE_F_AUX,       /* a root's state size is 0 or past HL_STATE_BYTES_MAX */
	HL_NODE_F_PAST_HEAP, /* its payload runs past the heap */
};

enum hl_payload_rule {
	HL_PAYLOAD_CHUNK = 1, /* exactly the arena's chunk_bytes */
	HL_PAYLOAD_LINEAR,    /* fixed_bytes + per_count_bytes x count */
};

struct hl_node_rule {
	uint8_t level_min, level_max;
	uint16_t count_min, count_max;
	uint8_t payload;          /* enum hl_payload_rule */
	uint32_t fixed_bytes;     /* HL_PAYLOAD_LINEAR */
	uint32_t per_count_bytes; /* HL_PAYLOAD_LINEAR */
	bool aux_is_size;         /* aux holds the state's size (roots) */
};

/* The rule of kind, or NULL for a kind that does not exist. */
static inline const struct hl_node_rule *hl_node_rule(unsigned kind)
{
	static const struct hl_node_rule rules[] = {
		[HL_NODE_LEAF] = {0, 0, 0, 0, HL_PAYLOAD_CHUNK, 0, 0, false},
		[HL_NODE_INNER] = {1, HL_LEVELS_MAX - 1, 1, HL_FANOUT,
				   HL_PAYLOAD_LINEAR, 0, sizeof(uint64_t), false},
		[HL_NODE_ROOT] = {0, HL_LEVELS_MAX - 1, 1, 1, HL_PAYLOAD_LINEAR,
				  sizeof(struct hl_root_payload), 0, true},
		[HL_NODE_SEARCH] = {0, 0, 0, HL_MCTS_EDGES_MAX, HL_PAYLOAD_LINEAR,
				    sizeof(struct hl_search_payload),
				    HL_SREC_EDGE_BYTES, false},
	};
	return kind >= HL_NODE_LEAF && kind < sizeof rules / sizeof rules[0]
		       ? &rules[kind] : NULL;
}

/* What is wrong with the node at off, read as kind at level (either may be
 * _ANY), or HL_NODE_OK. Reads only its header; a handful of compares. */
static inline enum hl_node_fault hl_node_fault(const hl_arena *a, uint64_t off,
					       unsigned kind, unsigned level)
{
	if (!hl_heap_contains(a, off, sizeof(struct hl_node)))
		return HL_NODE_F_OUTSIDE;
	const struct hl_node *n = hl_node_at(a, off);
	const struct hl_node_rule *r = hl_node_rule(n->kind);
	if (!r || (kind != HL_NODE_KIND_ANY && n->kind != kind))
		return HL_NODE_F_KIND;
	if (n->level < r->level_min || n->level > r->level_max ||
	    (level != HL_NODE_LEVEL_ANY && n->level != level))
		return HL_NODE_F_LEVEL;
	if (n->count < r->count_min || n->count > r->count_max)
		return HL_NODE_F_COUNT;
	uint64_t want = r->payload == HL_PAYLOAD_CHUNK
				? a->chunk_bytes
				: r->fixed_bytes + (uint64_t)r->per_count_bytes * n->count;
	if (n->payload_bytes != want)
		return HL_NODE_F_PAYLOAD;
	if (r->aux_is_size && (n->aux == 0 || n->aux > HL_STATE_BYTES_MAX))
		return HL_NODE_F_AUX;
	if (!hl_heap_contains(a, off, sizeof *n + want))
		return HL_NODE_F_PAST_HEAP;
	return HL_NODE_OK;
}

/* The node at off if it is a well-formed node of that kind and level
 * (either may be _ANY), else NULL. */
static inline const struct hl_node *hl_node_get(const hl_arena *a, uint64_t off,
						unsigned kind, unsigned level)
{
	return hl_node_fault(a, off, kind, level) == HL_NODE_OK ? hl_node_at(a, off)
								: NULL;
}

/* The kind of node found one level down from level: a leaf at 0. */
static inline unsigned hl_node_kind_at(unsigned level)
{
	return level == 0 ? HL_NODE_LEAF : HL_NODE_INNER;
}

/* "payload length is not what its kind and count carry", for checkers. */
const char *hl_node_fault_str(enum hl_node_fault f);

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

/* ---- epochs (epoch.c) -----------------------------------------------------
 *
 * Critical sections of a handle (nesting; no-ops for a read-only handle)
 * and grace periods: nothing reached through shared words inside a
 * section is freed or reused until the section ends. */
void hl_epoch_enter(hl_arena *a);
void hl_epoch_exit(hl_arena *a);
/* Waits until every section open (in any process) when it was called has
 * ended or its process died: 0, or HL_EBUSY after timeout_ns (0: no
 * timeout). Must be called outside a section. */
int hl_epoch_barrier(hl_arena *a, uint64_t timeout_ns);
/* The global epoch, and the one this handle's section entered at (0:
 * outside any). */
uint64_t hl_epoch_now(const hl_arena *a);
uint64_t hl_epoch_announced(const hl_arena *a);
/* Slots whose section entered before epoch `before` (for stat and tests). */
unsigned hl_epoch_holders(const hl_arena *a, uint64_t before);

/* ---- holds: pins and states' bases (holds.c) ------------------------------ */

enum hl_hold_kind {
	HL_HOLD_PIN = 0,
	HL_HOLD_STATE = 1,
};
/* Counts one more hold of the root at off for this handle's slot: 0,
 * HL_EFULL (holds_per_slot distinct roots held), HL_ENOMEM. off 0 (the
 * empty state) and read-only handles: nothing to do. */
int hl_hold_add(hl_arena *a, uint64_t off, enum hl_hold_kind kind);
/* One less: 0, or HL_ENOENT when this handle holds no such kind of off. */
int hl_hold_drop(hl_arena *a, uint64_t off, enum hl_hold_kind kind);
/* Makes this handle's private map (at its slot's claim), faulted in. */
int hl_holds_prepare(hl_arena *a);
/* Free entries left in this handle's table (UINT32_MAX: read-only). */
unsigned hl_holds_room(hl_arena *a);
/* Pins this handle holds on off. */
uint32_t hl_holds_pins(hl_arena *a, uint64_t off);
/* Entry i of slot's table: the held root's offset or 0 (acquire). */
uint64_t hl_holds_entry(const hl_arena *a, uint32_t slot, uint32_t i);
/* Entries of slot's table in use. */
uint32_t hl_holds_count(const hl_arena *a, uint32_t slot);
/* Empties slot's table (its owner leaving, or dead); and this handle's
 * private map when it is this handle's slot. */
void hl_holds_clear(hl_arena *a, uint32_t slot);
void hl_holds_free_priv(hl_arena *a);

/* ---- the collector (gc.c) -------------------------------------------------
 *
 * What workers call, inside a section, so that a collection running beside
 * them keeps everything reachable (gc.c draws the phases): */
/* A node this handle is about to publish (before the index CAS), with the
 * n existing nodes it points at: born marked, its targets shaded, both
 * decided under one reading of the phase. */
void hl_gc_publish(hl_arena *a, uint64_t off, const uint64_t *targets, unsigned n);
/* An existing node this handle makes reachable: a child it references, a
 * duplicate it found, a root it holds. No-op unless a collection marks. */
void hl_gc_shade(hl_arena *a, uint64_t off);
/* Before making found node off reachable (a hold, a ref, a parent, a
 * link): shades it while a collection marks, and answers false when a
 * sweep has it as garbage - then it must not be used (gc.c). */
bool hl_gc_keep(hl_arena *a, uint64_t off);
/* True while a collection marks (shading is needed): lets a caller skip
 * a loop of hl_gc_shade calls in the common case. */
bool hl_gc_marking(const hl_arena *a);
/* True while a sweep may be removing unmarked entries: an unmarked node
 * found then is garbage (doomed). Read once, before the entries a look-up
 * judges by it (gc.c invariant 7). */
bool hl_gc_sweeping(const hl_arena *a);
bool hl_mark_test(const hl_arena *a, uint64_t off);
bool hl_mark_set(const hl_arena *a, uint64_t off);
/* One whole collection (hl_gc): 0, HL_EBUSY (another process collects, or
 * a stopped process held a grace period back), HL_EINVAL inside a section. */
int hl_gc_collect(hl_arena *a, hl_gc_info *info);
/* After an allocation found the heap full: runs a collection (or waits
 * for the one another process runs): true when it is worth trying again.
 * may_refuse: the caller can go on without the room (a search record),
 * so a stricter futility rule spares it collections. first: the caller's
 * first try since the failure, which another process's collection may
 * answer (later tries run their own). Never inside a section. */
bool hl_gc_for_room(hl_arena *a, bool may_refuse, bool first);
/* Counts a worker's pause for the collector (its own tracing, or a full
 * heap's collection it ran or waited for) in the arena's histogram. */
void hl_gc_pause_note(hl_arena *a, uint64_t ns);
/* Slot's in-flight table's records, each passed to fn. */
void hl_inflight_records(const hl_arena *a, uint32_t slot,
			 void (*fn)(void *ctx, uint64_t rec_off), void *ctx);
/* True when ref slot's name is a search's (HL_SEARCH_REF_PREFIX); *salt
 * gets its records' salt. */
bool hl_ref_search_salt(const hl_arena *a, uint32_t slot, uint64_t *salt);
/* The node off of live index entry e (false for EMPTY, tombstones, and an
 * entry whose offset or tag does not check out). */
bool hl_index_entry_node(const hl_arena *a, uint64_t e, uint64_t *off);

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
/* Records what the handle's process is (coordinator, worker i). */
void hl_slot_set_role(hl_arena *a, enum hl_slot_role role, uint32_t worker);
/* Slots in the table (max_processes). */
static inline uint32_t hl_slot_count(const hl_arena *a)
{
	return a->hdr->max_processes;
}
static inline struct hl_slot *hl_slot_at(const hl_arena *a, uint32_t i)
{
	return (struct hl_slot *)hl_at(a, a->hdr->regions[HL_REGION_SLOTS].off) +
	       i;
}
/* The pid holding slot i, 0 when it is free (acquire: the slot's fields
 * its owner wrote before claiming are visible after). */
pid_t hl_slot_pid(const hl_arena *a, uint32_t i);
/* The first slot at or after `from` that pid holds, or -1. A process holds
 * one slot per read-write handle (threads may hold several). */
int hl_slot_find(const hl_arena *a, pid_t pid, uint32_t from);
/* How long ago slot i's owner last beat (commit, hl_arena_heartbeat). */
uint64_t hl_slot_heartbeat_age_ns(const hl_arena *a, uint32_t i, uint64_t now_ns);
/* Reclaims every slot held by a dead process (pid 0), or only those pid
 * held (it must be dead: reaped): their slab tails reach the free lists at
 * once. Returns how many this call freed. The heap calls it (pid 0) when
 * it finds itself full. */
unsigned hl_slots_reclaim_dead(hl_arena *a, pid_t pid);
/* Every slot's counters summed (enum hl_counter), relaxed: a moment's
 * lower bound while others count, exact when the arena is quiet. */
void hl_slots_sum(const hl_arena *a, uint64_t sum[HL_CTR_COUNT]);
/* The search counters, likewise (enum hl_search_counter). */
void hl_slots_sum_search(const hl_arena *a, uint64_t sum[HL_SCTR_COUNT]);
static inline void hl_sctr_add(hl_arena *a, enum hl_search_counter c, uint64_t n)
{
	_Atomic uint64_t *p = &a->slot->sctr[c];
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + n,
			      memory_order_relaxed);
}
/* Single-writer counter add (owner only): relaxed load + store, no RMW. */
static inline void hl_ctr_add(hl_arena *a, enum hl_counter c, uint64_t n)
{
	_Atomic uint64_t *p = &a->slot->ctr[c];
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* ---- the refs table ------------------------------------------------------- */

static inline struct hl_ref_slot *hl_refs_table(const hl_arena *a)
{
	return (struct hl_ref_slot *)hl_at(a, a->hdr->regions[HL_REGION_REFS].off);
}
static inline uint32_t hl_refs_capacity(const hl_arena *a)
{
	return a->hdr->refs_capacity;
}

/* ---- virtual losses in flight (inflight.c) ---------------------------------
 *
 * Each process records in its slot's table every virtual loss it holds, so
 * that the losses of one that dies are released exactly (inflight.c's
 * design notes). Rows are paths, private to the process; entry i of a row
 * is the i-th edge of that path.
 */

/* Adds one virtual loss on edge `edge` of record rec_off (its stat word
 * stat), recorded as entry (row, i) of this process's table. 0, or
 * HL_EBUSY when the edge holds HL_EDGE_VLOSS_MAX already (nothing held). */
int hl_inflight_add(hl_arena *a, unsigned row, unsigned i, uint64_t rec_off,
		    unsigned edge, _Atomic uint64_t *stat);
/* Takes entry (row, i)'s loss off its edge, adding one visit with it when
 * `visit`, in one atomic step; the entry becomes empty. */
void hl_inflight_remove(hl_arena *a, unsigned row, unsigned i,
			_Atomic uint64_t *stat, bool visit);
/* Releases every loss slot's table holds, by recounting each edge it names
 * from the other tables, and empties the table. For a slot whose owner is
 * dead (the caller has taken it over) or is closing. Returns the edges
 * recounted. */
unsigned hl_inflight_release(hl_arena *a, uint32_t slot);
/* Takes a free row of this handle's table for a path: 0 or HL_EBUSY (all
 * HL_MCTS_INFLIGHT_ROWS rows hold paths, of any search on the handle). */
int hl_inflight_row_take(hl_arena *a, unsigned *row);
/* Gives back a row whose entries are all empty. */
void hl_inflight_row_give(hl_arena *a, unsigned row);
/* Takes every loss row still holds off its edge (no visit) and gives the
 * row back: a path abandoned without its per-edge bookkeeping (a search
 * handle closed with paths in flight). */
void hl_inflight_row_drop(hl_arena *a, unsigned row);
/* Entries in slot's table that are not empty (losses held or in motion). */
unsigned hl_inflight_held(const hl_arena *a, uint32_t slot);

/* ---- node hashing (hash.c) ------------------------------------------------ */

hl_id hl_hash_leaf(const void *chunk, size_t len);
hl_id hl_hash_inner(unsigned level, const hl_id *child_hashes, unsigned count);
hl_id hl_hash_root(uint64_t state_bytes, unsigned height, hl_id top_hash);
/* The key of position `pos`'s search record in the search salted `salt`. */
hl_id hl_hash_search(hl_id pos, uint64_t salt);
/* XXH3-64 of plain bytes (header checksum, ref names). */
uint64_t hl_hash64(const void *p, size_t len, uint64_t seed);
/* Checks every node reachable from the index: header well formed for its
 * kind, hash recomputed from its bytes, children present with the hashes
 * recorded. 0 or HL_ECORRUPT (nodecheck.c). */
int hl_nodes_check(const hl_arena *a, char *msg, size_t msg_len);
/* One node, as hl_nodes_check checks each (recovery: a damaged page's). */
int hl_node_check(const hl_arena *a, uint64_t off, char *msg, size_t msg_len);

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
 * (nothing changed), HL_EROFS for a read-only handle. The publishing CAS is
 * a release: it pairs with the acquire load in look-ups, so a reader that
 * finds the entry sees the node.
 */
int hl_index_insert(hl_arena *a, hl_id h, uint64_t off, uint64_t *winner);
/* Replaces the entry for (h, off) with a tombstone: 0 or HL_ENOENT. For the
 * garbage collector; the node must then be retired through epochs. */
int hl_index_remove(hl_arena *a, hl_id h, uint64_t off);
/* The collector's walk of the table (gc.c): entries in probe order (entry
 * i is bucket i / 8, place i % 8), and the tending of a tombstone e read at
 * i: retired once old enough, emptied once retired and followed by an
 * EMPTY entry (index.c, "Emptying tombstones"). 1 when it changed. */
uint64_t hl_index_entries(const hl_arena *a);
uint64_t hl_index_entry_load(const hl_arena *a, uint64_t i);
/* The node offset a live entry word names (not validated). */
static inline uint64_t hl_index_entry_off(uint64_t e)
{
	return (e & HL_ENTRY_OFF_MASK) * HL_HEAP_ALIGN;
}
int hl_index_tomb_tend(hl_arena *a, uint64_t i, uint64_t e, uint64_t now);
/* Tombstones entry i if it still holds the live word e (the sweep, which
 * read it there: no second walk of the key's window). 0 or HL_ENOENT. */
int hl_index_remove_at(hl_arena *a, uint64_t i, uint64_t e);
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
/* Whether an allocation of class cls could succeed now: its free list holds
 * an object, a slab of its size is left unused, or (a one-unit class) the
 * pool holds a unit. A moment's answer, for judging a collection (gc.c),
 * never a promise. */
bool hl_heap_has_room(const hl_arena *a, unsigned cls);
#define HL_HEAP_CLASS_NONE UINT32_MAX
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
/* n objects of class cls onto its free list with one CAS (the collector). */
void hl_heap_free_batch(hl_arena *a, unsigned cls, const uint64_t *offs, size_t n);
/* Gives the unused tails of slot s's slabs back to the free lists (the
 * caller owns s): called when its process closes or is reclaimed. */
void hl_heap_release_cursors(hl_arena *a, struct hl_slot *s);
/* The collector's, when classes starved (bit c: a grab of class c found no
 * slab): releases slabs of the other classes whose objects are all on
 * their free lists (half of each class's free objects at most) to the pool
 * of units the starved one-unit classes grab from, and assembles slabs for
 * starved classes of several units from the pool's adjacent units (half
 * the pool at most) onto their free lists (heap_release.c). Returns the
 * slabs released and assembled. */
uint64_t hl_heap_release_slabs(hl_arena *a, uint32_t starved);
/* A collector taking over a dead one's word gives back the free chains
 * that one had taken off the lists. */
void hl_heap_return_taken(hl_arena *a);
/* Recovery's: the unit at arena offset start, below heap_next and in no
 * slab, goes to the pool. */
void hl_heap_pool_unit(hl_arena *a, uint64_t start);
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
/* Maps into this process, in one call per step, the heap pages handed out
 * since it last looked, so reading what other processes wrote does not
 * fault page by page (populate.c). Cheap when nothing is new. */
void hl_heap_map_new(hl_arena *a);
/* The heap region's size, and the bytes of it not yet handed out as slabs
 * (what new slabs can still come from; free lists are on top of it). */
static inline uint64_t hl_heap_bytes(const hl_arena *a)
{
	return a->hdr->regions[HL_REGION_HEAP].bytes;
}
static inline uint64_t hl_heap_room(const hl_arena *a)
{
	uint64_t used = hl_heap_used(a), all = hl_heap_bytes(a);
	return all > used ? all - used : 0;
}
/* Heap bytes one committing process may hold in partly used slabs: a slab
 * of each class a commit and a ref allocate from (leaf, inner, root, ref
 * name). What an arena must have per process on top of its content. */
uint64_t hl_heap_process_bytes(const struct hl_arena_hdr *hdr);
/* The size in bytes of heap class cls (the header's class table). */
static inline uint64_t hl_heap_class_bytes(const hl_arena *a, unsigned cls)
{
	return a->hdr->class_bytes[cls];
}
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

/* ---- the persist region (persist_ring.c) ----------------------------------- */

/* The region's bytes for a ring of ring_bytes and max_processes slots
 * (page-aligned); 0 when ring_bytes is out of range. */
uint64_t hl_persist_region_bytes(uint64_t ring_bytes, uint32_t max_processes);
/* Formats a fresh, zero region of a new arena at p (mapped, unpublished). */
int hl_persist_region_format(void *p, uint64_t bytes, const hl_config *c);
/* Checks the region of an attached arena and points the handle at it:
 * HL_ECORRUPT, HL_EVERSION; 0 with nothing set for an arena without one. */
int hl_persist_region_attach(hl_arena *a);

static inline bool hl_persisted(const hl_arena *a)
{
	return a->pctl != NULL;
}
/* The persister's sticky error, 0 if none (or no persistence). Inline: a
 * memory-only commit pays one predictable branch for it. */
static inline int hl_persist_error(const hl_arena *a)
{
	if (hl_likely(!a->pctl))
		return 0;
	/* acquire: pairs with the persister's release store (persist_ring.c) */
	return atomic_load_explicit(&a->pctl->error, memory_order_acquire);
}
/* Pushes a record of a node about to be published (persist_rec.h); ident
 * as the record's. 0, HL_EBUSY (no persister drained a full ring within
 * HL_PERSIST_PUSH_TIMEOUT_NS), the sticky error. */
int hl_persist_push_node(hl_arena *a, hl_id hash, unsigned kind,
			 unsigned level, unsigned count, uint64_t aux,
			 const void *ident, uint32_t ident_bytes);
/* Pushes a leaf about to be published by reference (HL_PREC_LEAF_REF):
 * the node at off, filled, that only this process holds until its index
 * CAS. The persister copies its chunk into the WAL (hl_persist_expand).
 * Errors as push_node's. */
int hl_persist_push_leaf(hl_arena *a, hl_id hash, uint64_t off);
/* What the persister writes for ring record rec: rec itself (*out = rec),
 * or for a HL_PREC_LEAF_REF the HL_PREC_NODE it stands for, built in buf
 * (sizeof(struct hl_prec_node) + chunk_bytes): 0. 1 when the leaf no
 * longer holds the content its hash names (its publisher lost the index
 * race, failed, or died, and the copy went back to the heap): the record
 * is redundant and is not logged. */
int hl_persist_expand(const hl_arena *a, const void *rec, uint32_t len,
		      void *buf, const void **out, uint32_t *out_len);
/* A record of `bytes` (header included) of the given type: reserve fills
 * its header (slot, sequence) and returns where it goes (r->payload);
 * the caller fills the rest and publishes it. Errors as push_node's. */
struct hl_ring_resv;
int hl_persist_reserve(hl_arena *a, unsigned type, uint32_t bytes,
		       struct hl_ring_resv *r);
void hl_persist_publish(hl_arena *a, const struct hl_ring_resv *r);
/* Pushes a marker record (HL_PREC_MARK): waiting for it waits for every
 * record pushed before it by anyone. */
int hl_persist_push_mark(hl_arena *a);
/* Pushes a record of a ref set to id. */
int hl_persist_push_ref(hl_arena *a, const char *name, size_t len, hl_id id);
/* Waits until this handle's records up to a->pseq are durable: 0, the
 * sticky error, HL_EBUSY (no live persister within the timeout). */
int hl_persist_wait_own(hl_arena *a);
/* True while a persister is running on the arena (state RUNNING, and its
 * heartbeat recent): records pushed now will become durable. */
bool hl_persist_draining(const hl_arena *a);
/* The arena's durability of a commit made with flags (HL_COMMIT_*). */
unsigned hl_persist_mode(const hl_arena *a, unsigned flags);

/* ---- dirty pages for checkpoints (dirty.c) ---------------------------------
 *
 * hl_dirty_mark: [off, off + len) was just written with plain stores (a
 * node filled before its index CAS); hl_dirty_mark_rmw: with atomic
 * read-modify-writes (seq_cst, x86 locked), which need no fence. No-ops
 * without HL_FEATURE_PERSIST (and while a->pctl is NULL: replay). */
void hl_dirty_mark_slow(hl_arena *a, uint64_t off, uint64_t len, bool fence);
static inline void hl_dirty_mark(hl_arena *a, uint64_t off, uint64_t len)
{
	if (hl_unlikely(a->pctl != NULL))
		hl_dirty_mark_slow(a, off, len, true);
}
static inline void hl_dirty_mark_rmw(hl_arena *a, uint64_t off, uint64_t len)
{
	if (hl_unlikely(a->pctl != NULL))
		hl_dirty_mark_slow(a, off, len, false);
}
/* The bitmap's bytes for an arena of arena_bytes (whole pages). */
uint64_t hl_dirty_region_bytes(uint64_t arena_bytes);
/* The bitmap's 64-bit words (one per 64 pages), and word i taken: its
 * bits in mask returned and cleared (the checkpointer's, before it
 * copies those pages). */
uint64_t hl_dirty_words(const hl_arena *a);
uint64_t hl_dirty_take(hl_arena *a, uint64_t i, uint64_t mask);
/* Sets every bit of [off, off + len) (recovery: what it loaded). */
void hl_dirty_set_range(hl_arena *a, uint64_t off, uint64_t len);
/* The collector's hook: the last checkpoint begun and the last complete
 * (0, 0 without a persister). A node freed while ckpt_begun was B may be
 * reused once ckpt_done > B: no image recovery may use still needs it. */
void hl_ckpt_counters(const hl_arena *a, uint64_t *begun, uint64_t *done);
/* ---- populating ahead of need (populate.c) --------------------------------- */

/* Creation: allocates every page but the heap's (MADV_POPULATE_WRITE).
 * HL_ENOSPC when the file system cannot back them. */
int hl_populate_metadata_create(unsigned char *base, const struct hl_arena_hdr *h);
/* Attach: maps the metadata's existing pages (MADV_POPULATE_READ). */
void hl_populate_metadata_attach(const hl_arena *a);
/* A freshly grabbed slab [off, off+bytes), all of it, in one call. */
void hl_populate_slab(hl_arena *a, uint64_t off, uint64_t bytes);

/* The helper that allocates the heap's next pages ahead (ahead.c): kicked
 * (and at the first, started) by each slab grab, slab_rel and bytes the
 * grabbed slab's heap-relative offset and size; true when the helper has
 * already populated that slab (the grab then populates nothing itself).
 * Stopped by close. */
bool hl_ahead_kick(hl_arena *a, uint64_t slab_rel, uint64_t bytes);
void hl_ahead_stop(hl_arena *a);
/* The grabs that kicked this handle's helper, and the wakes they made
 * (ahead.c invariant 6); both 0 without a helper. */
void hl_ahead_counts(const hl_arena *a, uint64_t *kicks, uint64_t *wakes);
/* For tests: true when the helper has filled its window for every kick so
 * far and sleeps (ahead.c invariant 7), *done its heap-relative end; false
 * while it works, and without a helper. Meaningful while no other thread
 * of the process grabs. */
bool hl_ahead_settled(const hl_arena *a, uint64_t *done);

/* True when files on device dev are backed by 2 MiB pages: a tmpfs
 * mounted huge=always or huge=within_size, or shmem_enabled=force
 * (huge.c). A hint; false when unknown. */
bool hl_huge_backed(uint64_t dev);

/* ---- arena internals (arena.c) -------------------------------------------- */

/* Whether the handle may change the arena. */
static inline int hl_arena_writable(const hl_arena *a)
{
	return (a->flags & HL_RDONLY) ? HL_EROFS : 0;
}

/* The smallest arena (a multiple of HL_ARENA_SIZE_STEP) made with cfg's
 * chunk size, index capacity, slots and refs whose heap holds content_bytes
 * plus a slab of each class for each of `processes` committing processes
 * (cfg->arena_bytes is ignored). The one sizing rule `helios run` and
 * `helios bench` share. 0, HL_EINVAL (bad cfg) or HL_EFULL (past
 * HL_ARENA_BYTES_MAX). */
int hl_arena_bytes_for(const hl_config *cfg, unsigned processes,
		       uint64_t content_bytes, uint64_t *out);

/* The uid that created the arena (its header), for owner checks. */
static inline uint32_t hl_arena_creator_uid(const hl_arena *a)
{
	return a->hdr->creator_uid;
}

/* A caller's way to end a long creation: asked(arg) is true once it wants
 * to stop (a flag its signal handler set, a signalfd with a signal). */
struct hl_create_stop {
	bool (*asked)(void *arg);
	void *arg;
};
/* hl_arena_create whose prefault (cfg->prefault) gives up with HL_EBUSY,
 * leaving nothing behind, within HL_PREFAULT_STEP_BYTES of stop->asked
 * turning true; stop may be NULL. */
int hl_arena_create_stoppable(const char *name, const hl_config *cfg,
			      const struct hl_create_stop *stop, hl_arena **out);

/* ---- the arena's file (arena_file.c) --------------------------------------- */

/* Opens arena name's file: an fd of a regular file (never blocking on what
 * is at the name), or a negative HL_E* (HL_EFTYPE: not a regular file). */
int hl_arena_file_open(const char *name, int oflags, mode_t mode);
/* The file of a new arena: unnamed (O_TMPFILE; *named false, link it with
 * hl_arena_file_link once complete), or created at the name (*named true)
 * where the file system has no O_TMPFILE. HL_EEXIST if the name is taken. */
int hl_arena_file_new(const char *name, mode_t mode, bool *named);
/* Names a complete unnamed arena file: 0, HL_EEXIST (taken meanwhile), ... */
int hl_arena_file_link(int fd, const char *name);
/* HL_ENOSPC if the file system of fd has less than bytes free. */
int hl_arena_file_check_room(int fd, uint64_t bytes);
/* Reserves [at, at+len) of fd's file (posix_fallocate): 0 or HL_ENOSPC.
 * Where the file system cannot, checks free room for bytes - at once and
 * sets *reserve false. */
int hl_arena_file_reserve(int fd, uint64_t at, uint64_t len, uint64_t bytes,
			  bool *reserve);

/* Whether name is one hl_arena_create could take: a shm name (letters,
 * digits, '.', '_', '-'; not starting with '.') or a path. */
bool hl_arena_name_valid(const char *name);

/* Whether the handle maps the file st describes (a lock taken on a name
 * is on the file attached, not on one swapped in between). */
static inline bool hl_arena_same_file(const hl_arena *a, const struct stat *st)
{
	return a->file_dev == (uint64_t)st->st_dev &&
	       a->file_ino == (uint64_t)st->st_ino;
}

/* Opens arena `name` as attach would (regular files only, never blocking)
 * and takes the coordinator lock: an exclusive flock, without waiting
 * (arena_file.c invariant 5). 0 with *fd holding the lock until it is closed
 * (or the process dies), HL_EBUSY when another open file holds it, or
 * attach's open errors (HL_ENOENT, HL_EFTYPE, HL_EACCES, ...). *st gets
 * the file's fstat (owner, inode). */
int hl_arena_lock(const char *name, int *fd, struct stat *st);

/* Bytes free (to an unprivileged user) on the file system that holds arena
 * `name` or would hold it (/dev/shm, or the directory of a path). 0,
 * HL_EINVAL (bad name) or HL_EIO. */
int hl_arena_fs_free(const char *name, uint64_t *free_bytes);

/* Formats msg like snprintf; for checkers. Always returns HL_ECORRUPT. */
int hl_check_fail(char *msg, size_t msg_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* HL_SHM_SHM_H */
