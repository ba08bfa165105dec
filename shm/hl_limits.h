/*
 * hl_limits.h - every limit Helios enforces, in one place, each with its reason.
 *
 * A limit here is part of the arena format when it sizes something in shared
 * memory (marked FORMAT): changing it means bumping HL_FORMAT_VERSION.
 */
#ifndef HL_SHM_LIMITS_H
#define HL_SHM_LIMITS_H

/* Chunk sizes: 32 B to 1 MiB. 32 B is the heap granule: a game position of
 * 16 bytes (Connect Four's) is then a 64-byte leaf, not a 96-byte one
 * (smaller chunks would spend more on node headers than on data); 1 MiB
 * keeps one chunk copy on a first write well under a millisecond. Powers
 * of two so chunk arithmetic is shifts. */
#define HL_CHUNK_BYTES_MIN 32u
#define HL_CHUNK_BYTES_MAX (1u << 20)
#define HL_CHUNK_BYTES_DEFAULT 4096u

/* FORMAT: children per inner node. 16 keeps a full inner node at 160 bytes
 * (a 32-byte header and 16 child offsets: two and a half cache lines) and a
 * 1 MiB state of 4 KiB chunks two levels deep, so a one-chunk commit
 * rehashes 2 x 256 bytes of child hashes (read from the children). */
#define HL_FANOUT 16u
#define HL_FANOUT_SHIFT 4u

/* A state's size: 1 TiB. With 64 B chunks that is 2^34 chunks, 9 levels of
 * fanout 16; the recursion in commit and diff is bounded by HL_LEVELS_MAX. */
#define HL_STATE_BYTES_MAX (1ull << 40)
#define HL_LEVELS_MAX 16u

/* Arena size: 1 MiB (room for the metadata and a few slabs) to 16 TiB (index
 * entries store offsets in HL_HEAP_ALIGN = 32-byte units in 40 bits, which
 * reach 32 TiB; the limit keeps a factor of two in hand). */
#define HL_ARENA_BYTES_MIN (1ull << 20)
#define HL_ARENA_BYTES_MAX (1ull << 44)
#define HL_ARENA_BYTES_DEFAULT (1ull << 30)

/* Sizes hl_arena_bytes_for suggests are whole MiB (what --size shows), and
 * it grows its guess at most this many times (each round adds what the heap
 * lacked, so two or three suffice). */
#define HL_ARENA_SIZE_STEP (1ull << 20)
#define HL_ARENA_SIZE_ROUNDS 16u

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
/* Generic heap classes are powers of two from 32 B to 4 KiB, plus the
 * 1.5x steps between them up to this (96, 192, 384, 768): 15 classes with
 * the three exact node classes, within HL_CLASSES_MAX. */
#define HL_HALF_CLASSES_MAX 1024u
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

/* A full heap looks for dead processes' slab tails at most this often per
 * handle (each look reads /proc for every slot). */
#define HL_FULL_RECLAIM_NS (100ull * 1000 * 1000)

/* hl_heap_map_new maps the new part of the heap in steps of at least this:
 * one madvise per 4 MiB instead of a fault per 4 KiB page. */
#define HL_MAP_AHEAD_MIN_BYTES (4ull << 20)

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

/* FORMAT: edges of one search record. The count lives in a node's u16;
 * 1024 covers every common game's branching (Go 19x19: 362), and a record
 * must also fit one heap class: the arena's largest bounds it further. */
#define HL_MCTS_EDGES_MAX 1024u
/* FORMAT: records on one selected path: a search deeper than this stops
 * there and evaluates (a 7x6 Connect Four game is at most 42 plies). */
#define HL_MCTS_DEPTH_MAX ((unsigned)HL_MCTS_PATH_MAX) /* helios.h: 96 */
/* FORMAT: paths one process may hold in flight at once (batch select).
 * Each slot's in-flight table is rows x depth entries of 8 B: 12 KiB, so
 * 768 KiB of metadata for the default 64 slots. */
#define HL_MCTS_INFLIGHT_ROWS ((unsigned)HL_MCTS_INFLIGHT_MAX) /* helios.h: 16 */
/* A record's value is stored again only when it moved by more than this
 * (1/4096 of the value range's half): below the noise of any playout count
 * a search reaches, and it spares the hot records' cache lines. */
#define HL_MCTS_Q_EPSILON (1.0f / 4096)
/* Release after a death waits this many rounds (1 ms apart) for a live
 * process to finish adding or removing a loss on the same edge. */
#define HL_INFLIGHT_SETTLE_ROUNDS 1000u

/* A prefaulted arena is reserved and populated in pieces of this size, so a
 * stop request ends a creation of many GiB (about 1 s per GiB on a small
 * VM) within a piece: 256 MiB is a tenth to a quarter of a second, and few
 * enough calls not to cost anything measurable. */
#define HL_PREFAULT_STEP_BYTES (256ull << 20)

/* Creation populates a metadata region this large or larger (the index:
 * 64 MiB of a 4 GiB arena) in two halves at once, the second on a thread
 * of its own, when the process may run on two CPUs: a fresh shm page
 * costs ~3.5 us of kernel time, which is most of a 4 GiB creation, and
 * shmem allocation scales across CPUs. Below it a thread costs more than
 * it saves (a thread start is ~50 us; 8 MiB is ~7 ms of populating). */
#define HL_POPULATE_SPLIT_MIN_BYTES (8ull << 20)

/* A line of /proc/self/mountinfo that shm/huge.c reads (mount points and
 * options of any length exist; a longer line is skipped, and an arena on
 * that mount is taken as not huge: a lost hint, never an error). */
#define HL_MOUNTINFO_LINE_BYTES 4096u

/* The window of unused heap the helper thread (shm/ahead.c) keeps
 * allocated past heap_next: 8 leaf slabs of a 4 KiB-chunk arena, about
 * 250 W1 commits, so a grab finds its slab ready after any pause of the
 * commits as short as a millisecond; small enough (1 MiB per arena) that
 * an arena left unused costs nothing worth counting. */
#define HL_AHEAD_BYTES (1ull << 20)

/* A grab wakes the helper only when less than this much of its window is
 * left past heap_next (or its slab was not ready): half the window, so a
 * helper that keeps up is woken once per ~4 leaf slabs (~125 W1 commits)
 * instead of at every grab. The wake is the cost: a FUTEX_WAKE of a
 * thread asleep on an idle vCPU took ~7 us of the grabbing commit here
 * (perf: try_to_wake_up), which made every 31st W1 commit the p99. */
#define HL_AHEAD_WAKE_BYTES (HL_AHEAD_BYTES / 2)

/* Names of shm arenas (the file path form is bounded by PATH_MAX). */
#define HL_ARENA_NAME_MAX 200u

/* The private-memory Connect Four baseline (bench/c4_baseline.c): 2^23
 * nodes of 96 B (768 MiB, plus a 64 MiB hash table) hold a search of tens
 * of millions of playouts while leaving room for the shared arena beside
 * it on a small machine; past it the search goes on without expanding.
 * Visit counts are 32-bit, so a search stops at 2^32 - 2 playouts. */
#define HL_C4_BASELINE_NODES_MAX (1ull << 23)
#define HL_C4_BASELINE_PLAYOUTS_MAX 0xfffffffeull

/* ---- persistence (persist/) ---------------------------------------------- */

/* O_DIRECT alignment of buffers, lengths and offsets: 4 KiB, the page size
 * and the logical block size of every current SSD (512 B devices accept it
 * too), so one rule fits all devices. */
#define HL_IO_ALIGN 4096u
/* Buffers in one I/O batch: a WAL flush writes one (two across a
 * generation's end); checkpoints write runs of dirty pages. 64 keeps the
 * io_uring submission queue at 128 entries. */
#define HL_IO_BATCH_WRITES_MAX 64u
/* FORMAT: the WAL's block (and header block) size, HL_IO_ALIGN. */
#define HL_WAL_BLOCK_BYTES 4096u
/* FORMAT: a record's payload: a leaf of the largest chunk (1 MiB) with its
 * node header and room for the persister's framing, four times over. */
#define HL_WAL_PAYLOAD_BYTES_MAX (4u << 20)
/* A WAL file: at least the header and 16 blocks, at most 1 TiB (LSNs are
 * 64-bit byte positions and never wrap in practice). */
#define HL_WAL_FILE_BYTES_MIN (17ull * HL_WAL_BLOCK_BYTES)
#define HL_WAL_FILE_BYTES_MAX (1ull << 40)
/* Each of the WAL's two append buffers holds at least one largest record
 * plus the block it may start in; 64 MiB at most (group commit past that
 * only adds latency). */
#define HL_WAL_BUFFER_BYTES_MIN (HL_WAL_PAYLOAD_BYTES_MAX + 2u * HL_WAL_BLOCK_BYTES)
#define HL_WAL_BUFFER_BYTES_MAX (64u << 20)
/* Fresh salts drawn when a new generation's salt equals the old one. */
#define HL_WAL_SALT_TRIES 8u
/* A WAL scan of a file asks for the next this many bytes ahead of it
 * (MADV_WILLNEED), again each time it is half way through: enough for the
 * disk to stream at full speed, little enough not to evict what replay
 * just touched (wal.c). */
#define HL_WAL_READAHEAD_BYTES (32ull << 20)

/* ---- the MPSC ring (shm/ring_mpsc.c) ------------------------------------ */

/* FORMAT: a ring's unit: one cache line, so records of different producers
 * never share a line; a record pays at most 63 bytes of rounding. */
#define HL_RING_UNIT_BYTES 64u
/* Units of a ring: at least 16 (room for a pad and a record), at most 2^30
 * (64 GiB of data, far past any persist ring). */
#define HL_RING_UNITS_MIN 16ull
#define HL_RING_UNITS_MAX (1ull << 30)
/* FORMAT: a record's units fit the descriptor's 20-bit field (64 MiB). */
#define HL_RING_RECORD_UNITS_MAX ((1u << 20) - 1)
/* FORMAT: owner ids fit the descriptor's 10 bits: one per process slot. */
#define HL_RING_OWNERS_MAX HL_PROCESSES_MAX
/* Lost claiming races before a reserve answers HL_EBUSY: each loss means
 * another producer made progress, so this bounds only unfairness. */
#define HL_RING_RESERVE_TRIES 256u
/* Records the consumer frees before it stores head (ring_mpsc.c): every
 * store takes head's line from the producers that read it in each
 * reserve, so once per record cost each async commit a miss; a batch only
 * holds back this many records' room. */
#define HL_RING_HEAD_BATCH 64u

/* ---- the persist region (shm/persist_ring.c) ----------------------------- */

/* The persist ring: at least 64 KiB (a burst of W1 commits while the
 * persister flushes), at most 4 GiB (seconds of the fastest device's
 * bandwidth: more only hides a persister that cannot keep up). */
#define HL_PERSIST_RING_BYTES_MIN (64ull << 10)
#define HL_PERSIST_RING_BYTES_MAX (4ull << 30)
/* The default ring of `helios run --persist`: 64 MiB. */
#define HL_PERSIST_RING_BYTES_DEFAULT (64ull << 20)
/* Async: a flush waits at most this long for more records (2 ms by
 * default, one device flush's time on a loaded machine); at most 1 s, the
 * most an acknowledged async commit may stay volatile. */
#define HL_PERSIST_LAG_NS_DEFAULT 2000000ull
#define HL_PERSIST_LAG_NS_MAX 1000000000ull
/* A committer waiting for room in the ring or for durability sleeps on the
 * futex at most this long between checks of the persister's state (so a
 * persister that died is noticed within it). */
#define HL_PERSIST_WAIT_SLICE_NS 20000000ull
/* Spins on the durable word before the first futex sleep: a group commit
 * on a fast device ends within a few microseconds of spinning. */
#define HL_PERSIST_WAIT_SPINS 2000u
/* Ring-full retries before a producer sleeps a slice. */
#define HL_PERSIST_PUSH_SPINS 64u
/* A producer gives up on a full ring after this long with no persister
 * draining it (HL_EBUSY): a persisted arena's commits block while it is
 * stopped, but never forever. */
#define HL_PERSIST_PUSH_TIMEOUT_NS (30ull * 1000000000ull)

/* ---- checkpoints (shm/dirty.c, persist/checkpoint.c) ---------------------- */

/* FORMAT: the dirty bitmap and the page images track 4 KiB pages, the
 * smallest unit O_DIRECT writes and the arena's own page. */
#define HL_CKPT_PAGE_BYTES 4096u
/* A checkpoint every 30 s by default: the WAL since it is what recovery
 * replays, and at W1 rates 30 s of it replays in well under a second. At
 * most an hour: longer only lets the WAL grow without bound. */
#define HL_CKPT_INTERVAL_NS_DEFAULT (30ull * 1000000000ull)
#define HL_CKPT_INTERVAL_NS_MAX (3600ull * 1000000000ull)
/* Pages copied per write batch: 2048 (8 MiB, two staging buffers of it
 * per checkpointer): each batch ends with a device flush, so a 1 GiB image
 * costs 128 flushes, and copying one batch overlaps writing the other. */
#define HL_CKPT_BATCH_PAGES 2048u
/* A checkpoint's grace period (commits that pushed a record before L end
 * their CASes) gives up after 10 s: only a process stopped inside a
 * critical section holds it that long; the checkpoint is tried later. */
#define HL_CKPT_BARRIER_TIMEOUT_NS (10ull * 1000000000ull)
/* WAL segments in DIR at most: a checkpoint recycles segments, so more
 * than this means checkpoints are failing; the persister then stops with
 * HL_ENOSPC rather than fill the disk. */
#define HL_WAL_SEGMENTS_MAX 4096u

/* ---- reclamation and the collector (shm/epoch.c, holds.c, gc.c) ---------- */

/* The global epoch starts here, not at 0 (0 is "outside a section" in a
 * slot) and high enough that "three epochs before" never underflows for
 * a tombstone stamped at the start. */
#define HL_EPOCH_FIRST 8ull
/* A grace period asks whether a slot that holds it back is dead only after
 * waiting this long: a live section ends within microseconds, and the
 * /proc read costs more than that. */
#define HL_EPOCH_DEAD_CHECK_NS 2000000ull
/* How long the collector waits for one grace period before it gives up
 * and tries later (a stopped process holds every grace period back). */
#define HL_EPOCH_BARRIER_TIMEOUT_NS 2000000000ull
/* Holds (pins and states' bases) per process slot by default: each a
 * distinct snapshot kept alive by one process; 16 B each, so 256 cost
 * 4 KiB a slot (256 KiB for 64 slots). At least 16, at most 2^20. */
#define HL_HOLDS_PER_SLOT_DEFAULT 256u
#define HL_HOLDS_PER_SLOT_MIN 16u
#define HL_HOLDS_PER_SLOT_MAX (1u << 20)
/* Each slot's gray ring: nodes a worker shaded while a collection marks,
 * waiting for the collector to trace them. A worker that
 * finds it full traces the node itself (rare: the collector drains the
 * rings between every step of its own trace). 1 KiB a slot. */
#define HL_GRAY_ENTRIES 128u
/* A commit that found the heap full while another process collects waits
 * at most this long for that collection before it tries again. */
#define HL_GC_WAIT_NS (10ull * 1000000000ull)
/* A full heap's collection that found all but heap / FUTILE of it live,
 * or half of it live and freed less than heap / FUTILE, is futile; after
 * one, the next waits until heap / AGAIN more was published (gc.c,
 * hl_gc_for_room). */
#define HL_GC_FUTILE_FRACTION 64u
/* Collections a commit that finds the heap full runs (or waits for) before
 * it answers HL_EFULL: each one's room may go to other processes first. */
#define HL_GC_COMMIT_RETRIES 4u
#define HL_GC_AGAIN_FRACTION 16u

/* ---- self-play (coordinator/selfplay.c) --------------------------------- */

/* Games of one `helios run --selfplay G`: the driver keeps each game's
 * record (its moves and counts, 80 bytes) for the report, so a million
 * games is 80 MB of the coordinator's memory at most. */
#define HL_SELFPLAY_GAMES_MAX 1000000ull
/* Playouts a move: 10^9 keeps a move's target (the arena's playout count
 * plus this) far from overflow and a move under an hour at the rates of
 * this engine. */
#define HL_SELFPLAY_PLAYOUTS_MAX 1000000000ull

#endif /* HL_SHM_LIMITS_H */
