/*
 * layout.h - the arena's shared-memory format, drawn and pinned.
 *
 * Everything in the arena is addressed by a 64-bit offset from its base,
 * never by a pointer: every process maps it at its own address, and a page
 * image written to disk reads back the same. All integers are little-endian
 * (the only byte order Helios runs on; checked at build time below).
 *
 * The arena
 * ---------
 *
 *   0             +-----------------------------------------------+
 *                 | struct hl_arena_hdr              (one page)   |
 *   slots.off     +-----------------------------------------------+
 *                 | struct hl_slot [max_processes]   384 B each   |
 *   refs.off      +-----------------------------------------------+
 *                 | struct hl_ref_slot [refs_capacity] 16 B each  |
 *   index.off     +-----------------------------------------------+
 *                 | struct hl_bucket [index_buckets]  64 B each   |
 *   inflight.off  +-----------------------------------------------+
 *                 | in-flight tables [max_processes]  12 KiB each |
 *   slabmap.off   +-----------------------------------------------+
 *                 | uint16_t entry [heap.bytes / slab_unit_bytes] |
 *   heap.off      +-----------------------------------------------+
 *                 | slab | slab | ...  class_slab_bytes[cls] each |
 *                 +-----------------------------------------------+
 *                 | in-flight tables, then with HL_FEATURE_PERSIST |
 *                 | the persist region and the dirty-page bitmap  |
 *   arena_bytes   +-----------------------------------------------+
 *
 * Every region starts on a page boundary (so NUMA policy can be set per
 * region). A slab is a whole number of slab units; each class has its own
 * slab size, so 1 MiB leaves do not make every slab 32 MiB. Slab map entry
 * u describes heap unit u: 0 unused, else [index in its slab : 11 | class
 * + 1 : 5] (shm/slabs.h). The region table in the header is the only source of these
 * offsets; attach re-derives nothing.
 *
 * Nodes
 * -----
 * A node is one heap object, 32-byte aligned (HL_HEAP_ALIGN):
 *
 *   0   hash.lo  hash.hi          16 B  content address (XXH3-128)
 *   16  kind u8, level u8, count u16
 *   20  payload_bytes u32
 *   24  aux u64                   root: the state's size in bytes
 *   32  payload
 *
 *   leaf  (kind 1, level 0): chunk_bytes of state, zero past the state end
 *   inner (kind 2, level L>=1, count 1..16): uint64_t off[count], the
 *         children; off 0 names a full all-zero subtree. Its hash is
 *         XXH3-128 over the children's hashes (read from their headers),
 *         so ids are content addresses, the same in every arena; storing
 *         only offsets is enough to verify an inner node on dedup because
 *         the index holds one node per content: equal child offsets are
 *         equal child contents.
 *   root  (kind 3, level = height of the tree): hl_id top_hash, u64 top_off
 *
 * Nodes are immutable once their index entry is published.
 */
#ifndef HL_SHM_LAYOUT_H
#define HL_SHM_LAYOUT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "helios.h"
#include "hl_limits.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "Helios arenas are little-endian; this target is not"
#endif

_Static_assert(sizeof(_Atomic uint64_t) == 8, "64-bit atomics are plain words");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

#define HL_ARENA_MAGIC 0x414e455241534c48ull /* "HLSARENA" little-endian */
#define HL_FORMAT_VERSION 5u /* 2: 16-byte free-list heads, per-class slabs,
			      * search records, the slot's search line;
			      * 3: epochs, holds and marks (the collector);
			      * 4: retired tombstones (index.c);
			      * 5: search records' seen words */
#define HL_FEATURE_PERSIST 1u /* the persist region (HL_REGION_PERSIST) */
#define HL_FEATURES_KNOWN HL_FEATURE_PERSIST
#define HL_PAGE_BYTES 4096u
#define HL_CACHE_LINE 64u

/* ---- the header ----------------------------------------------------------- */

/* A free list's head: empty when top is 0, whatever the tag. The tag counts
 * every successful CAS and never resets (resetting would reopen the ABA
 * window it closes); at 10^9 CASes a second it wraps after 584 years. */
struct hl_free_head {
	alignas(16) uint64_t top;
	uint64_t tag;
};
_Static_assert(sizeof(struct hl_free_head) == 16, "free head is one 16-byte CAS");
_Static_assert(offsetof(struct hl_free_head, tag) == 8, "free head layout");

/* The collector's words, in the header (gc.c draws the cycle and who
 * writes what):
 *
 *   0   state        atomic u64 [cycle : 56 | phase : 8] (enum hl_gc_phase)
 *   8   collector    atomic u64: the owner word (slots) of the slot running
 *                    a collection; 0 when none runs
 *   16  cycles       collections completed        24  freed_nodes (total)
 *   32  freed_bytes  (total)                      40  last_ns (duration)
 *   48  last_freed_bytes                          56  live_bytes (marked by
 *                                                     the last collection)
 *   64  retired_bytes  swept but never reused: a persister that did not
 *                      make the records before the sweep durable (gc.c)
 *   72  pause_max_ns   the longest shading pause a worker has reported
 *   80  live_nodes     nodes marked by the last collection
 *   88  last_pause_ns  the collection's longest own wait (barriers)
 *   96  reserved, zero to 128
 */
enum hl_gc_phase {
	HL_GC_IDLE = 0,     /* no collection: marks mean nothing */
	HL_GC_MARK = 1,     /* tracing: new nodes born marked, targets shaded
			     * onto the gray rings */
	HL_GC_MARK_END = 2, /* the same, but shading traces at once */
	HL_GC_SWEEP = 3,    /* marks final: an unmarked node is garbage */
};
#define HL_GC_STATE(cycle, phase) (((uint64_t)(cycle) << 8) | (uint64_t)(phase))
#define HL_GC_PHASE(w) ((unsigned)((w) & 0xffu))
#define HL_GC_CYCLE(w) ((w) >> 8)

/* Buckets of the workers' pause histogram: bucket b counts pauses of
 * [2^b, 2^(b+1)) ns (b = 0 also counts shorter ones). */
#define HL_GC_PAUSE_BUCKETS 32u

struct hl_gc_ctl {
	_Atomic uint64_t state;
	_Atomic uint64_t collector;
	_Atomic uint64_t cycles;
	_Atomic uint64_t freed_nodes;
	_Atomic uint64_t freed_bytes;
	_Atomic uint64_t last_ns;
	_Atomic uint64_t last_freed_bytes;
	_Atomic uint64_t live_bytes;
	_Atomic uint64_t retired_bytes;
	_Atomic uint64_t pause_max_ns;
	_Atomic uint64_t live_nodes;
	_Atomic uint64_t last_pause_ns;
	_Atomic uint64_t released_slabs; /* slabs given back to the pool, and
					  * slabs assembled from its units */
	uint64_t reserved[3];
};
_Static_assert(offsetof(struct hl_gc_ctl, collector) == 8, "gc ctl layout");
_Static_assert(offsetof(struct hl_gc_ctl, retired_bytes) == 64, "gc ctl layout");
_Static_assert(offsetof(struct hl_gc_ctl, last_pause_ns) == 88, "gc ctl layout");
_Static_assert(sizeof(struct hl_gc_ctl) == 128, "gc ctl layout");

enum hl_region_id {
	HL_REGION_SLOTS = 0,
	HL_REGION_REFS = 1,
	HL_REGION_INDEX = 2,
	HL_REGION_SLABMAP = 3,
	HL_REGION_HEAP = 4,
	HL_REGION_INFLIGHT = 5, /* per-slot tables of virtual losses in flight */
	HL_REGION_HOLDS = 6,    /* per-slot tables of pins and states' bases */
	HL_REGION_MARKS = 7,    /* the collector's mark bitmap: a bit per 32 B */
	HL_REGION_COUNT = 8, /* regions every arena has */
	HL_REGION_PERSIST = 8, /* with HL_FEATURE_PERSIST only: the persist
				* control block and ring, at the arena's end */
	HL_REGION_DIRTY = 9,   /* with HL_FEATURE_PERSIST only, after it: one
				* bit per arena page written since the
				* checkpointer last took it (shm/dirty.c) */
	HL_REGION_TABLE = 12, /* room for the persist ring and others */
};

struct hl_region {
	uint64_t off;
	uint64_t bytes;
};

/*
 *   0    magic            8    version   12  features
 *   16   arena_bytes      24   page_bytes 28  chunk_bytes
 *   32   fanout           36   max_processes
 *   40   refs_capacity    44   creator_uid
 *   48   index_buckets    56   slab_bytes (the largest class's slab)
 *   64   regions[12]  (192 B)
 *   256  class_count      260  class_bytes[16] (64 B)
 *   324  numa_mode        328  created_ns
 *   336  flags            340  slab_unit_bytes
 *   344  class_slab_bytes[16] (64 B)   408  holds_per_slot
 *   412  .. reserved ..
 *   504  hdr_checksum     XXH3-64 of bytes [8, 504)
 *   512  generation       (own cache line; mutable from here on)
 *   576  heap_next        heap-relative offset of the next unused slab unit
 *   640  free_list[16]    Treiber-stack heads, one line each, 16-byte aligned:
 *                         +0 top (arena offset of the top object; 0: empty)
 *                         +8 tag (successful CASes on this head, 64 bits)
 *  1664  gc_epoch         the global reclamation epoch (epoch.c), own line
 *  1728  gc               struct hl_gc_ctl, the collector's words (gc.c)
 *  1856  gc_pause[32]     workers' pauses for the collector, by log2 of
 *                         their nanoseconds (atomic counters, gc.c)
 *  2112  free_slabs       Treiber-stack head of released slab units
 *                         (heap_release.c): +0 top (arena offset of the
 *                         unit; 0: empty), +8 tag
 *  2128  heap_starved     bit c: a grab of class c found no slab left
 *  2136  pool_taken       the pool's chain an assembling collector holds
 *                         (0: none), for its successor (heap_release.c)
 *  2176  free_taken[16]   per class, the free-list chain a releasing
 *                         collector holds (0: none), for its successor
 *  2304  end; the rest of the page is zero (what an arena made before
 *        these words holds there: an empty pool, nothing taken)
 */
struct hl_arena_hdr {
	/* immutable after creation: covered by hdr_checksum */
	uint64_t magic;
	uint32_t version;
	uint32_t features;
	uint64_t arena_bytes;
	uint32_t page_bytes;
	uint32_t chunk_bytes;
	uint32_t fanout;
	uint32_t max_processes;
	uint32_t refs_capacity;
	uint32_t creator_uid;
	uint64_t index_buckets;
	uint64_t slab_bytes;
	struct hl_region regions[HL_REGION_TABLE];
	uint32_t class_count;
	uint32_t class_bytes[HL_CLASSES_MAX];
	uint32_t numa_mode;
	uint64_t created_ns;
	uint32_t flags;              /* HL_ARENA_F_* */
	uint32_t slab_unit_bytes;    /* slab map granule; power of two */
	uint32_t class_slab_bytes[HL_CLASSES_MAX]; /* multiples of the unit */
	uint32_t holds_per_slot;     /* entries of each slot's holds table */
	uint8_t reserved[504 - 412];
	uint64_t hdr_checksum;

	/* mutable: each hot word alone on its cache line */
	alignas(64) _Atomic uint64_t generation;
	alignas(64) _Atomic uint64_t heap_next;
	struct {
		/* changed only as a whole, by a 16-byte CAS (heap.c) */
		alignas(64) struct hl_free_head head;
	} free_list[HL_CLASSES_MAX];
	alignas(64) _Atomic uint64_t gc_epoch;
	alignas(64) struct hl_gc_ctl gc;
	_Atomic uint64_t gc_pause[HL_GC_PAUSE_BUCKETS];
	alignas(64) struct hl_free_head free_slabs;
	_Atomic uint32_t heap_starved;
	_Atomic uint64_t pool_taken;
	alignas(64) _Atomic uint64_t free_taken[HL_CLASSES_MAX];
};

/* hl_arena_hdr.flags */
#define HL_ARENA_F_PREFAULT 1u /* heap populated at creation: attach maps it
				* populated too, so no commit faults */

#define HL_HDR_CHECKSUMMED_FROM 8u
#define HL_HDR_CHECKSUMMED_TO 504u

_Static_assert(offsetof(struct hl_arena_hdr, version) == 8, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, arena_bytes) == 16, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, chunk_bytes) == 28, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, index_buckets) == 48, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, regions) == 64, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, class_count) == 256, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, class_bytes) == 260, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, numa_mode) == 324, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, created_ns) == 328, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, flags) == 336, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, slab_unit_bytes) == 340, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, class_slab_bytes) == 344, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, reserved) == 412, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, hdr_checksum) == 504, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, generation) == 512, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, heap_next) == 576, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, free_list) == 640, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, free_list[1]) == 704, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, holds_per_slot) == 408, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, gc_epoch) == 1664, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, gc) == 1728, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, gc_pause) == 1856, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, free_slabs) == 2112, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, heap_starved) == 2128, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, pool_taken) == 2136, "hdr layout");
_Static_assert(offsetof(struct hl_arena_hdr, free_taken) == 2176, "hdr layout");
_Static_assert(sizeof(struct hl_arena_hdr) == 2304, "hdr layout");
_Static_assert(sizeof(struct hl_arena_hdr) <= HL_PAGE_BYTES, "hdr fits a page");

/* ---- process slots ---------------------------------------------------------
 *
 * One per attached read-write handle. `owner` is the claim word:
 *
 *   63            32 31             0
 *   +---------------+----------------+
 *   | generation    | pid (0: free)  |
 *   +---------------+----------------+
 *
 * Every claim bumps the generation, so a reaper's CAS from "dead pid P at
 * generation G" can never free a slot that P's recycled pid claimed since.
 * It is the only word written by anyone but the owner (claim, release,
 * reclaim of a dead owner's slot). Everything else is written by the owner
 * alone, so counters are plain relaxed stores (no read-modify-write) and
 * readers sum them relaxed.
 *
 *   0   owner u64 (atomic)     8  start_time u64 (/proc starttime, ticks)
 *   16  heartbeat_ns (atomic)  24  epoch (atomic; 0 or the reclamation
 *                              epoch the owner's critical section entered
 *                              at: epoch.c)
 *   32  state u32 (atomic)     36  numa_node u32
 *   40  claims u64             48  role u32    52  worker u32
 *   56  start_pid u32          60  start_gen u32
 *   64  counters [8] (atomic)  one cache line
 *   128 slab[16] {cur, end}    the owner's bump cursors, per size class
 *   384 search counters [4]    (atomic: records published, their bytes,
 *                              expansions that found no room, playouts
 *                              backed up), then room for more
 *   448 end
 *
 * Counters live as long as the slot index, across owners: a slot taken over
 * from a dead process keeps counting on top, so arena-wide sums never go
 * backwards and never lose what a dead process did.
 */
enum hl_slot_state {
	HL_SLOT_FREE = 0,
	HL_SLOT_LIVE = 1,
};

/* What a slot's process is. The same values are public as hl_process_role
 * (helios.h), which hl_arena_process reports unconverted: the asserts below
 * keep the two in step. */
enum hl_slot_role {
	HL_ROLE_PROCESS = 0,     /* any attached process */
	HL_ROLE_WORKER = 1,      /* a worker spawned by a coordinator */
	HL_ROLE_COORDINATOR = 2, /* the `helios run` that owns the arena */
};
_Static_assert((int)HL_ROLE_PROCESS == (int)HL_PROCESS_ROLE_PLAIN, "roles agree");
_Static_assert((int)HL_ROLE_WORKER == (int)HL_PROCESS_ROLE_WORKER, "roles agree");
_Static_assert((int)HL_ROLE_COORDINATOR == (int)HL_PROCESS_ROLE_COORDINATOR,
	       "roles agree");

enum hl_counter {
	HL_CTR_COMMITS = 0,
	HL_CTR_RESTORES,
	HL_CTR_HASHED_BYTES,
	HL_CTR_DEDUP_HITS,
	HL_CTR_DEDUP_BYTES,
	HL_CTR_NODES,        /* nodes published (index inserts won) */
	HL_CTR_STORED_BYTES, /* bytes of those nodes */
	HL_CTR_INDEX_REMOVED,
	HL_CTR_COUNT,
};

/* The slot's search counters (sctr), summed like ctr. */
enum hl_search_counter {
	HL_SCTR_RECORDS = 0,  /* search records published (index inserts won) */
	HL_SCTR_RECORD_BYTES, /* their heap bytes */
	HL_SCTR_NO_ROOM,      /* expansions refused for want of room */
	HL_SCTR_PLAYOUTS,     /* backups completed */
	HL_SCTR_COUNT,
};

#define HL_OWNER_PID(w) ((uint32_t)(w))
#define HL_OWNER_GEN(w) ((uint32_t)((w) >> 32))
#define HL_OWNER_WORD(gen, pid) (((uint64_t)(uint32_t)(gen) << 32) | (uint32_t)(pid))

struct hl_slab_cursor {
	uint64_t cur; /* arena offset of the next object; 0: no slab */
	uint64_t end; /* arena offset just past the slab */
};

struct hl_slot {
	_Atomic uint64_t owner;
	uint64_t start_time;
	_Atomic uint64_t heartbeat_ns;
	_Atomic uint64_t epoch;
	_Atomic uint32_t state;
	uint32_t numa_node;
	uint64_t claims;
	uint32_t role;   /* enum hl_slot_role, set by the owner after its claim */
	uint32_t worker; /* worker index given by the coordinator (HELIOS_WORKER) */
	uint32_t start_pid; /* the owner word (pid and generation) that */
	uint32_t start_gen; /* start_time was recorded for */
	alignas(64) _Atomic uint64_t ctr[HL_CTR_COUNT];
	struct hl_slab_cursor slab[HL_CLASSES_MAX];
	alignas(64) _Atomic uint64_t sctr[HL_SCTR_COUNT];
	uint64_t search_reserved[8 - HL_SCTR_COUNT];
};

_Static_assert(offsetof(struct hl_slot, start_time) == 8, "slot layout");
_Static_assert(offsetof(struct hl_slot, heartbeat_ns) == 16, "slot layout");
_Static_assert(offsetof(struct hl_slot, state) == 32, "slot layout");
_Static_assert(offsetof(struct hl_slot, claims) == 40, "slot layout");
_Static_assert(offsetof(struct hl_slot, role) == 48, "slot layout");
_Static_assert(offsetof(struct hl_slot, worker) == 52, "slot layout");
_Static_assert(offsetof(struct hl_slot, start_pid) == 56, "slot layout");
_Static_assert(offsetof(struct hl_slot, start_gen) == 60, "slot layout");
_Static_assert(offsetof(struct hl_slot, ctr) == 64, "slot layout");
_Static_assert(offsetof(struct hl_slot, slab) == 128, "slot layout");
_Static_assert(offsetof(struct hl_slot, sctr) == 384, "slot layout");
_Static_assert(sizeof(struct hl_slot) == 448, "slot layout");
_Static_assert(sizeof(struct hl_slot) % HL_CACHE_LINE == 0, "slot padded");

/* ---- named refs ------------------------------------------------------------
 *
 *   0  name_off (atomic)  heap offset of a struct hl_ref_name; 0: empty
 *   8  root_off (atomic)  offset of the root node named; 0: the zero id
 *
 * A name is written into a private heap object first and published by one
 * CAS of name_off from 0, so a reader never sees half a name. Slots are
 * probed linearly from hash(name) and never emptied.
 */
struct hl_ref_slot {
	_Atomic uint64_t name_off;
	_Atomic uint64_t root_off;
};
_Static_assert(sizeof(struct hl_ref_slot) == 16, "ref slot layout");

struct hl_ref_name {
	uint64_t name_hash; /* XXH3-64 of the name */
	uint32_t len;
	char name[HL_REF_NAME_MAX + 1];
	uint32_t pad;
};
_Static_assert(sizeof(struct hl_ref_name) == 80, "ref name layout");

/* ---- holds: pins and live states' bases ------------------------------------
 *
 * Each slot has a table of holds_per_slot entries (HL_REGION_HOLDS, slot i's
 * at i x holds_per_slot x 16 B): the snapshots its process keeps alive, by
 * root offset, each with a count (pins and states that share one root
 * share one entry). Entries never move: the owner keeps a private map from
 * offset to entry (holds.c), so the collector, reading the table while the
 * owner changes it, can never miss an entry that stayed held.
 *
 *   0  off    atomic u64  the held root's arena offset; 0: a free entry
 *   8  count  u64         owner-private bookkeeping (pins + states)
 */
struct hl_hold {
	_Atomic uint64_t off;
	uint64_t count;
};
_Static_assert(sizeof(struct hl_hold) == 16, "hold layout");

/* After each slot's holds, its gray ring (gc.c): nodes the slot's process
 * marked while a collection traced, for the collector to trace further.
 * Single producer (the slot's owner), single consumer (the collector):
 *
 *   0    head  atomic u64  entries taken by the collector (its own line)
 *   64   tail  atomic u64  entries pushed by the owner (its own line)
 *   128  off[HL_GRAY_ENTRIES]  ring of node offsets, index = count % size
 *
 * Slot i's holds and ring start at i x hl_holds_stride(holds_per_slot). */
struct hl_gray_ring {
	alignas(64) _Atomic uint64_t head;
	alignas(64) _Atomic uint64_t tail;
	alignas(64) _Atomic uint64_t off[HL_GRAY_ENTRIES];
};
_Static_assert(offsetof(struct hl_gray_ring, tail) == 64, "gray ring layout");
_Static_assert(offsetof(struct hl_gray_ring, off) == 128, "gray ring layout");
_Static_assert((HL_GRAY_ENTRIES & (HL_GRAY_ENTRIES - 1)) == 0, "ring size is 2^k");

static inline uint64_t hl_holds_stride(uint32_t holds_per_slot)
{
	uint64_t b = (uint64_t)holds_per_slot * sizeof(struct hl_hold);
	return (b + 63) / 64 * 64 + sizeof(struct hl_gray_ring);
}

/* ---- the node index --------------------------------------------------------
 *
 * Bucket b holds 8 entries; a key probes buckets b, b+1, ... (mod count) for
 * at most HL_INDEX_PROBE_BUCKETS. An entry word:
 *
 *   63          40 39                        0
 *   +-------------+---------------------------+
 *   | tag (24 b)  | node offset / 32 (40 b)   |
 *   +-------------+---------------------------+
 *
 * 0 is an empty entry, 1 a tombstone and 2 a retired tombstone (offsets 32
 * and 64 lie in the header, never a node). The tag is the top 24 bits of
 * hash.hi, the bucket the low bits of hash.lo, so they are independent; a
 * tombstone's tag holds the epoch of its remove instead.
 */
struct hl_bucket {
	_Atomic uint64_t entry[HL_BUCKET_ENTRIES];
};
_Static_assert(sizeof(struct hl_bucket) == 64, "bucket is one cache line");

#define HL_ENTRY_EMPTY 0ull
#define HL_ENTRY_TOMBSTONE 1ull /* offset field 1; the tag field holds the
				 * epoch of the remove, mod 2^24 (index.c) */
#define HL_ENTRY_OFF_BITS 40u
#define HL_ENTRY_OFF_MASK ((1ull << HL_ENTRY_OFF_BITS) - 1)
#define HL_ENTRY_TOMB(epoch)                                                   \
	((((uint64_t)(epoch) & 0xffffffull) << HL_ENTRY_OFF_BITS) | HL_ENTRY_TOMBSTONE)
#define HL_ENTRY_RETIRED 2ull   /* a tombstone old enough that any insert may
				 * take it, and that turns EMPTY once the
				 * entry after it is EMPTY (index.c) */
/* A tombstone of either kind: no key, passed by look-ups. A retired one
 * is the one word 2 (offset field 2 under a tag is a live entry in the
 * header: damage, which the checker reports). */
#define HL_ENTRY_IS_RETIRED(e) ((e) == HL_ENTRY_RETIRED)
#define HL_ENTRY_IS_TOMB(e)                                                    \
	(((e) & HL_ENTRY_OFF_MASK) == HL_ENTRY_TOMBSTONE || HL_ENTRY_IS_RETIRED(e))
#define HL_ENTRY_TOMB_EPOCH(e) ((e) >> HL_ENTRY_OFF_BITS)
/* A tombstone is reused by an insert whose section entered this many
 * epochs after the remove (index.c, "Reusing tombstones"): one grace
 * period (hl_epoch_barrier advances two) after the remove. */
#define HL_TOMB_REUSE_EPOCHS 2u
/* A tombstone is retired (any insert may take it, and it may turn EMPTY a
 * cycle later) once this many epochs have begun since its remove: every
 * section that read the entry live has ended by then (index.c, "Emptying
 * tombstones"). */
#define HL_TOMB_RETIRE_EPOCHS 3u

/* ---- nodes ---------------------------------------------------------------- */

enum hl_node_kind {
	HL_NODE_LEAF = 1,
	HL_NODE_INNER = 2,
	HL_NODE_ROOT = 3,
	HL_NODE_SEARCH = 4, /* a search record (below): mutable statistics */
};

struct hl_node {
	hl_id hash;
	uint8_t kind;
	uint8_t level;
	uint16_t count;
	uint32_t payload_bytes;
	uint64_t aux;
	unsigned char payload[];
};
_Static_assert(offsetof(struct hl_node, kind) == 16, "node layout");
_Static_assert(offsetof(struct hl_node, count) == 18, "node layout");
_Static_assert(offsetof(struct hl_node, payload_bytes) == 20, "node layout");
_Static_assert(offsetof(struct hl_node, aux) == 24, "node layout");
_Static_assert(sizeof(struct hl_node) == 32, "node header is 32 bytes");

struct hl_root_payload {
	hl_id top_hash;
	uint64_t top_off;
};
_Static_assert(sizeof(struct hl_root_payload) == 24, "root payload layout");

/* ---- search records: the shared MCTS graph ---------------------------------
 *
 * One record per position per search, a node of kind HL_NODE_SEARCH found
 * through the index under hl_hash_search(position id, search salt), so the
 * position's content address is the transposition key and every process
 * that reaches the position finds the same record. Its header, position,
 * salt and each edge's action and prior never change once the record is
 * published (index insert); its statistics words change atomically
 * (workers/mcts*.c draws who writes what, and when).
 *
 *   0   hash        the record's key          16 B
 *   16  kind 4, level 0, count = edges u16
 *   20  payload_bytes = 24 + 18 x count
 *   24  aux         the search's salt (hl_hash64 of its name)
 *   32  pos_off     u64   the position's snapshot (its root node)
 *   40  own         atomic u64  [value f32 bits : 32 | count u32 : 32]:
 *                   the record's own evaluations, a running average
 *   48  q           atomic u32  f32 bits: the value (for the player to
 *                   move here) recomputed from own and the edges' seen
 *   52  flags       atomic u32  HL_SREC_*
 *   56  edge[count], 16 B each:
 *         0  stat   atomic u64  [prior u16 : 16 | vloss u8 : 8 | visits : 40]
 *         8  link   atomic u64  [action : 24 | child record off/32 : 40]
 *                   (child 0: not linked yet)
 *   56 + 16 x count
 *       seen[count], atomic u16 each: [result : 2 | q code : 14], the
 *                   child's proof (HL_MCTS_*) and q, both from the child's
 *                   mover's view, as the last backup through the edge left
 *                   them; 0 until then. Code c in 1..16383 stands for
 *                   q = (c - 1) / 8191 - 1, a step of 1.2e-4. Selection and
 *                   backup read it instead of the child record
 *                   (workers/mcts.c, "Seen values"). 2 B, so Connect
 *                   Four's 7-edge record (182 B) keeps its 192 B class.
 *
 * A record's visit count N is not stored: it is own.count plus the sum of
 * its edges' visits, so it can never disagree with them, whoever died
 * half-way through a backup.
 */
/* A search's root position is the ref HL_SEARCH_REF_PREFIX "<name>" and
 * its records' salt hl_hash64(name, HL_SEED_SEARCH): the collector's
 * roots include each such ref's root record. */
#define HL_SEARCH_REF_PREFIX "mcts/"

#define HL_SREC_TERMINAL 0x1u  /* no moves: own holds the exact result */
#define HL_SREC_WIN 0x2u       /* proven win for the player to move here */
#define HL_SREC_LOSS 0x4u      /* proven loss for the player to move here */
#define HL_SREC_DRAW 0x8u      /* proven draw */
#define HL_SREC_PROVEN (HL_SREC_WIN | HL_SREC_LOSS | HL_SREC_DRAW)

struct hl_search_payload {
	uint64_t pos_off;
	_Atomic uint64_t own;
	_Atomic uint32_t q;
	_Atomic uint32_t flags;
	/* struct hl_search_edge edge[count] follows */
};
_Static_assert(offsetof(struct hl_search_payload, own) == 8, "record layout");
_Static_assert(offsetof(struct hl_search_payload, q) == 16, "record layout");
_Static_assert(offsetof(struct hl_search_payload, flags) == 20, "record layout");
_Static_assert(sizeof(struct hl_search_payload) == 24, "record layout");
/* A record's header and statistics words (own, q, flags): what a backup
 * marks dirty besides the edge it took (shm/dirty.c). */
#define HL_SREC_HEAD_BYTES (sizeof(struct hl_node) + sizeof(struct hl_search_payload))

struct hl_search_edge {
	_Atomic uint64_t stat;
	_Atomic uint64_t link;
};
_Static_assert(sizeof(struct hl_search_edge) == 16, "edge layout");
_Static_assert(sizeof(_Atomic uint16_t) == 2 && ATOMIC_SHORT_LOCK_FREE == 2,
	       "seen words are lock-free u16");
/* Payload bytes per edge: the edge and its seen word. */
#define HL_SREC_EDGE_BYTES ((uint32_t)sizeof(struct hl_search_edge) + 2u)

static inline uint32_t hl_srec_payload_bytes(uint32_t count)
{
	return (uint32_t)sizeof(struct hl_search_payload) + count * HL_SREC_EDGE_BYTES;
}

/* Record n's edges, and its seen words after them (the drawing above). */
static inline struct hl_search_edge *hl_srec_edges(const struct hl_node *n)
{
	return (struct hl_search_edge *)(uintptr_t)(n->payload +
						    sizeof(struct hl_search_payload));
}

static inline _Atomic uint16_t *hl_srec_seen(const struct hl_node *n)
{
	return (_Atomic uint16_t *)(void *)(hl_srec_edges(n) + n->count);
}

#define HL_EDGE_VISITS_BITS 40u
#define HL_EDGE_VISITS_MASK ((1ull << HL_EDGE_VISITS_BITS) - 1)
#define HL_EDGE_VLOSS_SHIFT 40u
#define HL_EDGE_VLOSS_ONE (1ull << HL_EDGE_VLOSS_SHIFT)
#define HL_EDGE_VLOSS_MAX 255u
#define HL_EDGE_PRIOR_SHIFT 48u
#define HL_EDGE_PRIOR_ONE 65535u /* prior 1.0 */
#define HL_LINK_CHILD_BITS 40u
#define HL_LINK_CHILD_MASK ((1ull << HL_LINK_CHILD_BITS) - 1)
#define HL_LINK_ACTION_MAX ((1u << 24) - 1)
#define HL_SEEN_RESULT_SHIFT 14u /* bits 14-15: an enum hl_mcts_result */
#define HL_SEEN_Q_MASK 0x3fffu
#define HL_SEEN_Q_HALF 8191u     /* codes per unit of q: 1 + 2 x 8191 in all */

/* ---- in-flight tables: virtual losses held (shm/inflight.c) ---------------
 *
 * Slot i's table, at inflight.off + i x HL_INFLIGHT_TABLE_BYTES: one row
 * per path the slot's process has in flight, one entry per edge on that
 * path where it holds a virtual loss. Written only by the slot's owner; read
 * by whoever releases a dead owner's losses.
 *
 *   entry u64:  63          12 11       2 1     0
 *               +-------------+----------+-------+
 *               | record/32   | edge idx | state |   0: empty
 *               +-------------+----------+-------+
 *   state: 0 empty, 1 adding (the loss may or may not be on the edge),
 *          2 held (it is), 3 removing (it may or may not be off again)
 */
#define HL_INFLIGHT_EMPTY 0u
#define HL_INFLIGHT_ADDING 1u
#define HL_INFLIGHT_HELD 2u
#define HL_INFLIGHT_REMOVING 3u
#define HL_INFLIGHT_STATE_MASK 3ull
#define HL_INFLIGHT_EDGE_SHIFT 2u
#define HL_INFLIGHT_EDGE_BITS 10u
#define HL_INFLIGHT_REC_SHIFT 12u
#define HL_INFLIGHT_TABLE_BYTES                                                \
	((uint64_t)HL_MCTS_INFLIGHT_ROWS * HL_MCTS_DEPTH_MAX * sizeof(uint64_t))
_Static_assert(HL_MCTS_EDGES_MAX <= (1u << HL_INFLIGHT_EDGE_BITS),
	       "an edge index fits its entry field");
_Static_assert(HL_INFLIGHT_TABLE_BYTES % HL_PAGE_BYTES == 0,
	       "tables are whole pages");

/* Hash seeds: leaves, inner nodes (plus their level) and roots never hash
 * alike, so one kind can never be taken for another. */
#define HL_SEED_LEAF 0x6c6561662d68656cull  /* "leh-fael" */
#define HL_SEED_INNER 0x696e6e65722d686cull /* "lh-renni" */
#define HL_SEED_ROOT 0x726f6f742d68656cull  /* "leh-toor" */
#define HL_SEED_REF 0x7265662d6e616d65ull
#define HL_SEED_SEARCH 0x6c682d6863726173ull /* "sarch-hl" */

static inline uint32_t hl_inner_payload_bytes(uint32_t count)
{
	return count * (uint32_t)sizeof(uint64_t);
}

/* ---- the persist region (HL_FEATURE_PERSIST; shm/persist_ring.c) ---------
 *
 * At the arena's end, after the in-flight tables:
 *
 *   persist.off  +--------------------------------------------------+
 *                | struct hl_persist_ctl                (one page)  |
 *                +--------------------------------------------------+
 *                | struct hl_persist_slot [max_processes] 64 B each |
 *   + ring_off   +--------------------------------------------------+
 *                | the MPSC ring (shm/ring_mpsc.c)   ring_bytes     |
 *                +--------------------------------------------------+
 *
 *   hl_persist_ctl
 *     0  magic u64   8  version u32   12  durability u32 (the arena's
 *                                          default: HL_DURABILITY_*)
 *    16  lag_ns u64 (async: the most a flush may wait to gather more)
 *    24  ring_off u64   32  ring_bytes u64
 *    40  flush_asks u32 (atomic: bumped by a sync waiter, so an async
 *        arena's persister flushes at once rather than after the lag)
 *    44  reserved, zero to 64
 *    64  state u32 (atomic: enum hl_persister_state)   68 error i32
 *        (atomic: the sticky HL_E*, 0 none)   72 pid u32 (atomic)
 *        76 io_fallbacks u32 (HL_IO_FELL_BACK_*)
 *    80  heartbeat_ns  88 durable_lsn  96 records  104 flushes
 *   112  wal_bytes (all atomic u64, written by the persister only)
 *   120  ckpt_begun 128 ckpt_done (atomic u64: checkpoint numbers, the
 *        last one begun and the last one complete; the collector's hook,
 *        shm/dirty.c)   136 ckpt_lsn (the last complete one's LSN)
 *   144  ckpt_unix_ns (when it completed, CLOCK_REALTIME)  152 ckpt_pages
 *        (pages it wrote)  160 ckpt_ns (how long it took)  168 wal_segments
 *        (WAL files in DIR)  (all atomic u64, the persister's)
 *   176  ckpt_asks u32 (atomic: bumped by a collector waiting to reuse
 *        swept memory; the checkpoint thread starts one when it changed)
 *   180  ckpt_running u32 (atomic: 1 while a checkpoint thread serves asks)
 *   184  reserved, zero to 4096
 *
 *   hl_persist_slot i (the producer side of process slot i)
 *     0  pushed u64 (atomic; the owner's: sequence of its last record)
 *     8  durable u64 (atomic; the persister's: all of slot i's records
 *        up to this sequence are on disk)
 *    16  wake u32 (atomic futex word: bumped after each durable store)
 *    20  reserved, zero to 64
 *
 * Every record a producer pushes carries its slot and sequence; sequences
 * of a slot grow by one per record across owners (like the counters), so
 * `durable` is one word that a sync committer compares with its own last
 * sequence.
 */
#define HL_PERSIST_MAGIC 0x5453525045534c48ull /* "HLSEPRST" */
#define HL_PERSIST_VERSION 1u

enum hl_persister_state {
	HL_PERSISTER_NONE = 0,    /* never started: records wait in the ring */
	HL_PERSISTER_RUNNING = 1, /* draining the ring into the WAL */
	HL_PERSISTER_ERROR = 2,   /* sticky: a write or flush failed */
	HL_PERSISTER_STOPPED = 3, /* ended cleanly; records wait in the ring */
};

struct hl_persist_ctl {
	uint64_t magic;
	uint32_t version;
	uint32_t durability;
	uint64_t lag_ns;
	uint64_t ring_off;
	uint64_t ring_bytes;
	_Atomic uint32_t flush_asks;
	uint8_t reserved0[20];
	_Atomic uint32_t state;
	_Atomic int32_t error;
	_Atomic uint32_t pid;
	_Atomic uint32_t io_fallbacks;
	_Atomic uint64_t heartbeat_ns;
	_Atomic uint64_t durable_lsn;
	_Atomic uint64_t records;
	_Atomic uint64_t flushes;
	_Atomic uint64_t wal_bytes;
	_Atomic uint64_t ckpt_begun;
	_Atomic uint64_t ckpt_done;
	_Atomic uint64_t ckpt_lsn;
	_Atomic uint64_t ckpt_unix_ns;
	_Atomic uint64_t ckpt_pages;
	_Atomic uint64_t ckpt_ns;
	_Atomic uint64_t wal_segments;
	_Atomic uint32_t ckpt_asks;    /* bumped by a collector that needs one */
	_Atomic uint32_t ckpt_running; /* 1 while a checkpoint thread serves */
	uint8_t reserved1[HL_PAGE_BYTES - 184];
};
_Static_assert(offsetof(struct hl_persist_ctl, durability) == 12, "ctl layout");
_Static_assert(offsetof(struct hl_persist_ctl, lag_ns) == 16, "ctl layout");
_Static_assert(offsetof(struct hl_persist_ctl, ring_off) == 24, "ctl layout");
_Static_assert(offsetof(struct hl_persist_ctl, flush_asks) == 40, "ctl layout");
_Static_assert(offsetof(struct hl_persist_ctl, state) == 64, "ctl layout");
_Static_assert(offsetof(struct hl_persist_ctl, io_fallbacks) == 76, "ctl layout");
_Static_assert(offsetof(struct hl_persist_ctl, heartbeat_ns) == 80, "ctl layout");
_Static_assert(offsetof(struct hl_persist_ctl, wal_bytes) == 112, "ctl layout");
_Static_assert(offsetof(struct hl_persist_ctl, ckpt_begun) == 120, "ctl layout");
_Static_assert(offsetof(struct hl_persist_ctl, wal_segments) == 168, "ctl layout");
_Static_assert(offsetof(struct hl_persist_ctl, ckpt_asks) == 176, "ctl layout");
_Static_assert(sizeof(struct hl_persist_ctl) == HL_PAGE_BYTES, "ctl is a page");

struct hl_persist_slot {
	_Atomic uint64_t pushed;
	_Atomic uint64_t durable;
	_Atomic uint32_t wake;
	uint8_t reserved[44];
};
_Static_assert(offsetof(struct hl_persist_slot, durable) == 8, "pslot layout");
_Static_assert(offsetof(struct hl_persist_slot, wake) == 16, "pslot layout");
_Static_assert(sizeof(struct hl_persist_slot) == HL_CACHE_LINE, "pslot is a line");

#endif /* HL_SHM_LAYOUT_H */
