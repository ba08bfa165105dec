/*
 * hl_limits.h - every limit Helios enforces, in one place, each with its reason.
 *
 * A limit here is part of the arena format when it sizes something in shared
 * memory (marked FORMAT): changing it means bumping HL_FORMAT_VERSION.
 */
#ifndef HL_SHM_LIMITS_H
#define HL_SHM_LIMITS_H

/* Chunk sizes: 64 B is one cache line (smaller chunks spend more on node
 * headers than on data); 1 MiB keeps one chunk copy on a first write well
 * under a millisecond. Powers of two so chunk arithmetic is shifts. */
#define HL_CHUNK_BYTES_MIN 64u
#define HL_CHUNK_BYTES_MAX (1u << 20)
#define HL_CHUNK_BYTES_DEFAULT 4096u

/* FORMAT: children per inner node. 16 keeps an inner node in 7 cache lines
 * (16 hashes + 16 offsets + header) and a 1 MiB state of 4 KiB chunks two
 * levels deep, so a one-chunk commit rehashes 2 x 256 bytes of hashes. */
#define HL_FANOUT 16u
#define HL_FANOUT_SHIFT 4u

/* A state's size: 1 TiB. With 64 B chunks that is 2^34 chunks, 9 levels of
 * fanout 16; the recursion in commit and diff is bounded by HL_LEVELS_MAX. */
#define HL_STATE_BYTES_MAX (1ull << 40)
#define HL_LEVELS_MAX 16u

/* Arena size: 1 MiB (room for the metadata and a few slabs) to 16 TiB (index
 * entries store offsets in 64-byte units in 40 bits = 64 TiB). */
#define HL_ARENA_BYTES_MIN (1ull << 20)
#define HL_ARENA_BYTES_MAX (1ull << 44)
#define HL_ARENA_BYTES_DEFAULT (1ull << 30)

/* Process slots: the coordinator scans them all to find dead processes, so
 * keep the table a few hundred KiB at most. */
#define HL_PROCESSES_MIN 1u
#define HL_PROCESSES_MAX 1024u
#define HL_PROCESSES_DEFAULT 64u

/* Named refs: a small directory for workers to publish results, probed
 * linearly. */
#define HL_REFS_MIN 8u
#define HL_REFS_MAX (1u << 20)
#define HL_REFS_DEFAULT 1024u

/* FORMAT: index entries per 64-byte bucket. */
#define HL_BUCKET_ENTRIES 8u
/* Buckets probed before an insert gives up with HL_EFULL and a look-up
 * answers "absent": 32 buckets = 256 entries, 2 KiB of memory. Past that the
 * table is too loaded to be fast anyway. */
#define HL_INDEX_PROBE_BUCKETS 32u
/* Index size bounds, in entries: at least 1024 so a small arena still dedups
 * many nodes, at most 2^36 (512 GiB of index) so capacities stay sane. */
#define HL_INDEX_ENTRIES_MIN 1024ull
#define HL_INDEX_ENTRIES_MAX (1ull << 36)

/* FORMAT: heap size classes per arena (the class table lives in the header;
 * each slot keeps one slab cursor per class). */
#define HL_CLASSES_MAX 16u
/* Allocation granule: 32 bytes, so a node's 32-byte header (hash, kind,
 * size) never straddles a cache line, while a 4 KiB leaf costs 4128 bytes
 * and an inner node 160 (a 64-byte granule made them 4160 and 192 and put
 * W2's space over DESIGN.md's 1.1x). Nodes are immutable once published,
 * so two sharing a cache line never contend. */
#define HL_HEAP_ALIGN 32u
/* Slabs: at least 64 KiB (the slab unit) so the atomic bump and the mbind
 * that binds a slab to its node are paid once per many nodes; at least 16
 * objects of their class so a slab is not mostly tail waste. Each class
 * sizes its own slabs, so small classes keep 64 KiB slabs when leaves are
 * 1 MiB (one size for all made every process hold three 32 MiB slabs). */
#define HL_SLAB_BYTES_MIN (64u << 10)
#define HL_SLAB_OBJECTS_MIN 16u
/* FORMAT: units in one slab: a slab map entry keeps a unit's index in its
 * slab in 11 bits. The largest slab, 16 leaves of 1 MiB + 32 B rounded to a
 * power of two, is 32 MiB = 512 units of 64 KiB. */
#define HL_SLAB_UNITS_MAX 2048u

/* Attach with every slot held: rounds of (look for a free slot, reclaim
 * the dead) while another process is mid-claim or mid-reclaim, 1 ms apart,
 * before answering HL_EFULL. Its slot frees in microseconds; a process
 * stopped there forever is only waited for this long. */
#define HL_SLOT_CLAIM_ROUNDS 50u

/* Slabs a heap must have room for at least (each of its own class's size):
 * a commit allocates leaves, inner nodes and a root, each from a slab of
 * its own class, and a ref's name needs a fourth; with less, an arena is
 * created that cannot commit a state of more than one chunk. */
#define HL_HEAP_SLABS_MIN 4u

/* Free-list pops retried before an allocation falls back to a fresh slab:
 * a lock-free pop can lose its CAS to other processes forever in theory. */
#define HL_HEAP_POP_TRIES 64u

/* Attaching to an arena whose creator has not yet published its header:
 * poll this long before answering HL_EBUSY. */
#define HL_ATTACH_WAIT_NS (200ull * 1000 * 1000)

/* Names of shm arenas (the file path form is bounded by PATH_MAX). */
#define HL_ARENA_NAME_MAX 200u

#endif /* HL_SHM_LIMITS_H */
