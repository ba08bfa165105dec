/*
 * arena.c - creating, validating, attaching and closing arenas.
 *
 * An arena is one file: a POSIX shm object (/dev/shm/helios.NAME) or a
 * regular file named by a path. Creation lays the regions out (layout.h),
 * writes the header and publishes it by storing the magic last; attach
 * validates every header field before it trusts any offset from it.
 *
 * Invariants:
 *  1. The magic is stored last, with release, after the header and its
 *     checksum; attach loads it with acquire. An attacher that sees the
 *     magic sees a complete header.
 *  2. Nothing is read through an offset from the header until the region
 *     table has been checked: regions page-aligned, in order, inside the
 *     file, each big enough for what the header says it holds. A garbage,
 *     truncated or resized file is HL_ECORRUPT, never a fault.
 *  3. Only zero-filled pages are handed out by ftruncate, and a zero region
 *     is a valid empty one (empty slots, refs, index entries and slab map),
 *     so creation writes nothing but the header. It allocates the pages of
 *     every region but the heap (populate.c: about 15 ms per GiB of arena,
 *     so no commit faults on a fresh index bucket), after their NUMA
 *     policy is set; heap pages wait for the slab that uses them.
 *  4. The file under the arena - its name, opening it (regular files only,
 *     never blocking), making it exclusively and complete or not at all,
 *     room for it, the coordinator lock - is arena_file.c, with its own
 *     invariants.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"

void hl_config_init(hl_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof *cfg);
	cfg->arena_bytes = HL_ARENA_BYTES_DEFAULT;
	cfg->chunk_bytes = HL_CHUNK_BYTES_DEFAULT;
	cfg->index_capacity = 0;
	cfg->max_processes = HL_PROCESSES_DEFAULT;
	cfg->refs_capacity = HL_REFS_DEFAULT;
	cfg->numa = HL_NUMA_AUTO;
	cfg->mode = 0600;
	cfg->durability = HL_DURABILITY_SYNC;
	cfg->persist_lag_ns = HL_PERSIST_LAG_NS_DEFAULT;
	cfg->holds_per_process = HL_HOLDS_PER_SLOT_DEFAULT;
}

/* ---- layout --------------------------------------------------------------- */

static int check_config(const hl_config *c)
{
	if (c->arena_bytes < HL_ARENA_BYTES_MIN ||
	    c->arena_bytes > HL_ARENA_BYTES_MAX)
		return HL_EINVAL;
	if (c->chunk_bytes < HL_CHUNK_BYTES_MIN ||
	    c->chunk_bytes > HL_CHUNK_BYTES_MAX ||
	    (c->chunk_bytes & (c->chunk_bytes - 1)))
		return HL_EINVAL;
	if (c->max_processes < HL_PROCESSES_MIN ||
	    c->max_processes > HL_PROCESSES_MAX)
		return HL_EINVAL;
	if (c->refs_capacity < HL_REFS_MIN || c->refs_capacity > HL_REFS_MAX)
		return HL_EINVAL;
	if (c->index_capacity > HL_INDEX_ENTRIES_MAX)
		return HL_EINVAL;
	if (c->numa != HL_NUMA_AUTO && c->numa != HL_NUMA_OFF)
		return HL_EINVAL;
	if (c->mode & ~0777u)
		return HL_EINVAL;
	if (c->prefault > 1)
		return HL_EINVAL;
	if (c->persist_ring_bytes &&
	    hl_persist_region_bytes(c->persist_ring_bytes, c->max_processes) == 0)
		return HL_EINVAL;
	/* a leaf's record must fit the ring: two chunks of room at least */
	if (c->persist_ring_bytes && c->persist_ring_bytes / 2 < c->chunk_bytes)
		return HL_EINVAL;
	if (c->durability > HL_DURABILITY_SYNC ||
	    c->persist_lag_ns > HL_PERSIST_LAG_NS_MAX)
		return HL_EINVAL;
	if (c->holds_per_process &&
	    (c->holds_per_process < HL_HOLDS_PER_SLOT_MIN ||
	     c->holds_per_process > HL_HOLDS_PER_SLOT_MAX))
		return HL_EINVAL;
	return 0;
}

/* Index entries: room for every node a full heap could hold when each
 * commit rewrites one chunk of a two-level tree (a leaf, two inner nodes
 * and a root: DESIGN.md's W2), at a load of at most 1/2. Deeper trees or
 * wider writes store more bytes per node, so they fit too. */
static uint64_t index_entries_for(const hl_config *c,
				  const struct hl_arena_hdr *h)
{
	uint64_t e = c->index_capacity;
	if (e == 0) {
		int leaf = hl_heap_class_of(h, sizeof(struct hl_node) + c->chunk_bytes);
		int inner = hl_heap_class_of(h, sizeof(struct hl_node) +
						     hl_inner_payload_bytes(HL_FANOUT));
		int root = hl_heap_class_of(h, sizeof(struct hl_node) +
						     sizeof(struct hl_root_payload));
		hl_assert(leaf >= 0 && inner >= 0 && root >= 0);
		uint64_t commit_bytes = (uint64_t)h->class_bytes[leaf] +
					2ull * h->class_bytes[inner] +
					h->class_bytes[root];
		e = 2 * 4 * (c->arena_bytes / commit_bytes);
		uint64_t cap = c->arena_bytes / 4 / sizeof(uint64_t);
		if (e > cap)
			e = cap;
	}
	if (e < HL_INDEX_ENTRIES_MIN)
		e = HL_INDEX_ENTRIES_MIN;
	e = hl_pow2_ceil(e);
	return e > HL_INDEX_ENTRIES_MAX ? HL_INDEX_ENTRIES_MAX : e;
}

static uint64_t place(struct hl_arena_hdr *h, enum hl_region_id r,
		      uint64_t at, uint64_t bytes)
{
	h->regions[r].off = at;
	h->regions[r].bytes = hl_align_up(bytes, HL_PAGE_BYTES);
	return at + h->regions[r].bytes;
}

/* The heap starts on a 2 MiB boundary (or a slab's, if smaller) so that a
 * huge-page-backed arena can bind whole huge pages per slab, without
 * wasting a whole slab of address space when slabs are large. */
static uint64_t heap_alignment(const struct hl_arena_hdr *h)
{
	uint64_t huge = 2ull << 20;
	return h->slab_bytes < huge ? h->slab_bytes : huge;
}

/* The heap one commit can need: a slab for each node kind it allocates
 * (leaf, inner, root) and one for a ref's name (HL_HEAP_SLABS_MIN), each
 * of its own class's size. 0 when the class table lacks one of them. */
static uint64_t heap_min_bytes(const struct hl_arena_hdr *h)
{
	const uint64_t sizes[HL_HEAP_SLABS_MIN] = {
		sizeof(struct hl_node) + h->chunk_bytes,
		sizeof(struct hl_node) + hl_inner_payload_bytes(HL_FANOUT),
		sizeof(struct hl_node) + sizeof(struct hl_root_payload),
		sizeof(struct hl_ref_name),
	};
	uint64_t sum = 0;
	for (unsigned i = 0; i < HL_HEAP_SLABS_MIN; i++) {
		int cls = hl_heap_class_of(h, sizes[i]);
		if (cls < 0)
			return 0;
		sum += h->class_slab_bytes[cls]; /* <= 16 x 2^31: no overflow */
	}
	return sum;
}

/* Fills the header's geometry; HL_EINVAL when the metadata leaves less
 * heap than heap_min_bytes. The heap is a whole number of slab units, the
 * slab map one 16-bit entry per unit. */
static int lay_out(struct hl_arena_hdr *h, const hl_config *c)
{
	h->arena_bytes = c->arena_bytes;
	h->page_bytes = HL_PAGE_BYTES;
	h->chunk_bytes = c->chunk_bytes;
	h->fanout = HL_FANOUT;
	h->max_processes = c->max_processes;
	h->refs_capacity = c->refs_capacity;
	h->numa_mode = c->numa;
	h->flags = c->prefault ? HL_ARENA_F_PREFAULT : 0;
	hl_heap_layout(h, c->chunk_bytes);
	uint64_t entries = index_entries_for(c, h);
	h->index_buckets = entries / HL_BUCKET_ENTRIES;

	uint64_t at = HL_PAGE_BYTES, unit = h->slab_unit_bytes;
	at = place(h, HL_REGION_SLOTS, at,
		   (uint64_t)c->max_processes * sizeof(struct hl_slot));
	at = place(h, HL_REGION_REFS, at,
		   (uint64_t)c->refs_capacity * sizeof(struct hl_ref_slot));
	at = place(h, HL_REGION_INDEX, at,
		   h->index_buckets * sizeof(struct hl_bucket));
	/* the per-slot tables (in-flight, holds) and the mark bitmap go last,
	 * at the arena's end, so the heap keeps its alignment and its place
	 * between the slab map and them; the bitmap is sized for the whole
	 * arena (an upper bound of the heap), a bit per 32 B */
	h->holds_per_slot = c->holds_per_process ? c->holds_per_process
						 : HL_HOLDS_PER_SLOT_DEFAULT;
	uint64_t inflight = (uint64_t)c->max_processes * HL_INFLIGHT_TABLE_BYTES;
	uint64_t holds = hl_align_up((uint64_t)c->max_processes *
					     hl_holds_stride(h->holds_per_slot),
				     HL_PAGE_BYTES);
	uint64_t marks = hl_align_up(c->arena_bytes / HL_HEAP_ALIGN / 8, HL_PAGE_BYTES);
	uint64_t tables = inflight + holds + marks; /* each < 2^40: no overflow */
	uint64_t dirty = c->persist_ring_bytes ? hl_dirty_region_bytes(c->arena_bytes) : 0;
	uint64_t persist = c->persist_ring_bytes
		? hl_persist_region_bytes(c->persist_ring_bytes, c->max_processes) + dirty : 0;
	if (at >= c->arena_bytes || tables >= c->arena_bytes - at ||
	    persist >= c->arena_bytes - at - tables)
		return HL_EINVAL;
	/* the persist region after them, then the dirty bitmap (layout.h) */
	h->regions[HL_REGION_PERSIST].off = c->arena_bytes - persist;
	h->regions[HL_REGION_PERSIST].bytes = persist - dirty;
	h->regions[HL_REGION_DIRTY].off = c->arena_bytes - dirty;
	h->regions[HL_REGION_DIRTY].bytes = dirty;
	h->regions[HL_REGION_MARKS].off = c->arena_bytes - persist - marks;
	h->regions[HL_REGION_MARKS].bytes = marks;
	h->regions[HL_REGION_HOLDS].off = h->regions[HL_REGION_MARKS].off - holds;
	h->regions[HL_REGION_HOLDS].bytes = holds;
	uint64_t top = c->arena_bytes - persist - tables;
	uint64_t units = (top - at) / unit;
	at = place(h, HL_REGION_SLABMAP, at, units * sizeof(uint16_t));
	if (at >= top)
		return HL_EINVAL;
	uint64_t heap_off = hl_align_up(at, heap_alignment(h));
	units = heap_off < top ? (top - heap_off) / unit : 0;
	if (units * unit < heap_min_bytes(h) || heap_min_bytes(h) == 0)
		return HL_EINVAL;
	h->regions[HL_REGION_HEAP].off = heap_off;
	h->regions[HL_REGION_HEAP].bytes = units * unit;
	h->regions[HL_REGION_INFLIGHT].off = top;
	h->regions[HL_REGION_INFLIGHT].bytes = inflight;
	return 0;
}

int hl_arena_bytes_for(const hl_config *cfg, unsigned processes,
		       uint64_t content_bytes, uint64_t *out)
{
	hl_config c = *cfg;
	struct hl_arena_hdr h;
	uint64_t per, need, guess;

	c.arena_bytes = HL_ARENA_BYTES_MIN;
	if (check_config(&c))
		return HL_EINVAL;
	memset(&h, 0, sizeof h);
	hl_heap_layout(&h, c.chunk_bytes);
	per = hl_heap_process_bytes(&h);
	if (hl_mul_overflows(per, processes ? processes : 1, &need) ||
	    hl_add_overflows(need, content_bytes, &need) ||
	    need > HL_ARENA_BYTES_MAX)
		return HL_EFULL;
	/* the persist ring and its dirty bitmap lie outside the heap: counted
	 * from the start, so a small content with a large ring fits too */
	uint64_t ring = c.persist_ring_bytes
		? hl_persist_region_bytes(c.persist_ring_bytes, c.max_processes) : 0;
	if (hl_add_overflows(need + need / 32, ring, &guess) || guess > HL_ARENA_BYTES_MAX)
		return HL_EFULL;
	guess = hl_align_up(guess + (ring ? hl_dirty_region_bytes(guess) : 0),
			    HL_ARENA_SIZE_STEP);
	/* The metadata grows with the arena (the index is derived from it),
	 * so grow by what the heap still lacks until it fits: a few rounds. */
	for (unsigned round = 0; round < HL_ARENA_SIZE_ROUNDS; round++) {
		if (guess < HL_ARENA_BYTES_MIN)
			guess = HL_ARENA_BYTES_MIN;
		if (guess > HL_ARENA_BYTES_MAX)
			return HL_EFULL;
		c.arena_bytes = guess;
		memset(&h, 0, sizeof h);
		uint64_t heap = lay_out(&h, &c) ? 0 : h.regions[HL_REGION_HEAP].bytes;
		if (heap >= need) {
			*out = guess;
			return 0;
		}
		uint64_t lack = need - heap > h.slab_bytes ? need - heap : h.slab_bytes;
		guess += hl_align_up(lack, HL_ARENA_SIZE_STEP);
	}
	return HL_EFULL;
}

static uint64_t header_checksum(const struct hl_arena_hdr *h)
{
	return hl_hash64((const char *)h + HL_HDR_CHECKSUMMED_FROM,
			 HL_HDR_CHECKSUMMED_TO - HL_HDR_CHECKSUMMED_FROM, 0);
}

/* ---- validation ----------------------------------------------------------- */

/* True when region g has room for count elements of elem bytes; the
 * product is overflow-checked (a header from elsewhere may hold any count:
 * index_buckets 2^58 made index_buckets * 64 wrap to 0). */
static bool region_holds(const struct hl_region *g, uint64_t count,
			 uint64_t elem)
{
	uint64_t need;
	return !hl_mul_overflows(count, elem, &need) && g->bytes >= need;
}

/* Invariant 2: regions page-aligned, in order and disjoint (each starts at
 * or past its predecessor's end), inside the file (arena_bytes, checked
 * against the file's size before this), and each big enough for what the
 * header says it holds. Every sum and product is overflow-checked. */
static bool regions_sane(const struct hl_arena_hdr *h)
{
	uint64_t at = HL_PAGE_BYTES;
	int count = (h->features & HL_FEATURE_PERSIST) ? HL_REGION_DIRTY + 1
						       : HL_REGION_COUNT;
	for (int r = 0; r < count; r++) {
		const struct hl_region *g = &h->regions[r];
		if (g->off < at || g->off % HL_PAGE_BYTES ||
		    g->bytes > h->arena_bytes || g->off > h->arena_bytes - g->bytes)
			return false;
		at = g->off + g->bytes; /* <= arena_bytes: no overflow */
	}
	const struct hl_region *heap = &h->regions[HL_REGION_HEAP];
	return region_holds(&h->regions[HL_REGION_SLOTS], h->max_processes,
			    sizeof(struct hl_slot)) &&
	       region_holds(&h->regions[HL_REGION_REFS], h->refs_capacity,
			    sizeof(struct hl_ref_slot)) &&
	       region_holds(&h->regions[HL_REGION_INDEX], h->index_buckets,
			    sizeof(struct hl_bucket)) &&
	       heap->off % heap_alignment(h) == 0 &&
	       heap->bytes % h->slab_unit_bytes == 0 &&
	       heap_min_bytes(h) != 0 && heap->bytes >= heap_min_bytes(h) &&
	       region_holds(&h->regions[HL_REGION_SLABMAP],
			    heap->bytes / h->slab_unit_bytes, sizeof(uint16_t)) &&
	       region_holds(&h->regions[HL_REGION_INFLIGHT], h->max_processes,
			    HL_INFLIGHT_TABLE_BYTES) &&
	       h->holds_per_slot >= HL_HOLDS_PER_SLOT_MIN &&
	       h->holds_per_slot <= HL_HOLDS_PER_SLOT_MAX &&
	       region_holds(&h->regions[HL_REGION_HOLDS], h->max_processes,
			    hl_holds_stride(h->holds_per_slot)) &&
	       region_holds(&h->regions[HL_REGION_MARKS],
			    heap->bytes / HL_HEAP_ALIGN / 8, 1) &&
	       (!(h->features & HL_FEATURE_PERSIST) ||
		h->regions[HL_REGION_DIRTY].bytes >= hl_dirty_region_bytes(h->arena_bytes));
}

/* Classes ascending, each with a slab of whole units that holds at least
 * one of its objects, no more than HL_SLAB_UNITS_MAX units (a map entry's
 * index field) and no larger than slab_bytes (the largest, which sizing
 * estimates use). */
static bool classes_sane(const struct hl_arena_hdr *h)
{
	uint64_t unit = h->slab_unit_bytes;
	if (h->class_count == 0 || h->class_count > HL_CLASSES_MAX)
		return false;
	for (uint32_t i = 0; i < h->class_count; i++) {
		uint32_t b = h->class_bytes[i];
		uint64_t slab = h->class_slab_bytes[i];
		if (b == 0 || b % HL_HEAP_ALIGN || b > slab ||
		    (i && b <= h->class_bytes[i - 1]) || slab % unit ||
		    slab / unit > HL_SLAB_UNITS_MAX || slab > h->slab_bytes)
			return false;
	}
	return true;
}

static bool geometry_sane(const struct hl_arena_hdr *h)
{
	uint32_t c = h->chunk_bytes;
	uint64_t b = h->index_buckets;
	return h->page_bytes == HL_PAGE_BYTES && h->fanout == HL_FANOUT &&
	       c >= HL_CHUNK_BYTES_MIN && c <= HL_CHUNK_BYTES_MAX &&
	       (c & (c - 1)) == 0 && h->max_processes >= HL_PROCESSES_MIN &&
	       h->max_processes <= HL_PROCESSES_MAX &&
	       h->refs_capacity >= HL_REFS_MIN &&
	       h->refs_capacity <= HL_REFS_MAX && (b & (b - 1)) == 0 &&
	       b >= HL_INDEX_ENTRIES_MIN / HL_BUCKET_ENTRIES &&
	       b <= HL_INDEX_ENTRIES_MAX / HL_BUCKET_ENTRIES &&
	       h->slab_bytes >= HL_SLAB_BYTES_MIN &&
	       (h->slab_bytes & (h->slab_bytes - 1)) == 0 &&
	       h->slab_bytes % HL_PAGE_BYTES == 0 &&
	       h->slab_unit_bytes >= HL_SLAB_BYTES_MIN &&
	       (h->slab_unit_bytes & (h->slab_unit_bytes - 1)) == 0 &&
	       h->slab_unit_bytes % HL_PAGE_BYTES == 0 &&
	       h->slab_unit_bytes <= h->slab_bytes &&
	       h->arena_bytes >= HL_ARENA_BYTES_MIN &&
	       h->arena_bytes <= HL_ARENA_BYTES_MAX;
}

/* Waits (bounded) for a creator to publish the magic (invariant 1). */
static uint64_t wait_for_magic(const struct hl_arena_hdr *h)
{
	const _Atomic uint64_t *m = (const _Atomic uint64_t *)&h->magic;
	uint64_t deadline = hl_now_ns() + HL_ATTACH_WAIT_NS;
	uint64_t magic;
	while ((magic = atomic_load_explicit(m, memory_order_acquire)) == 0 &&
	       hl_now_ns() < deadline) {
		struct timespec ts = {0, 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return magic;
}

static int validate_header(const struct hl_arena_hdr *h, uint64_t file_bytes)
{
	uint64_t magic = wait_for_magic(h);
	if (magic == 0)
		return HL_EBUSY; /* no header yet: being created (or its
				  * creator died before publishing it) */
	if (magic != HL_ARENA_MAGIC)
		return HL_ECORRUPT; /* garbage */
	if (h->version != HL_FORMAT_VERSION || (h->features & ~HL_FEATURES_KNOWN))
		return HL_EVERSION;
	if (h->hdr_checksum != header_checksum(h))
		return HL_ECORRUPT;
	if (h->arena_bytes != file_bytes)
		return HL_ECORRUPT; /* truncated or extended since creation */
	if (!geometry_sane(h) || !classes_sane(h) || !regions_sane(h))
		return HL_ECORRUPT;
	return 0;
}

/* ---- the handle ----------------------------------------------------------- */

static void compute_zero_hashes(hl_arena *a)
{
	a->zero_hash[0] = hl_hash_leaf(a->zero_chunk, a->chunk_bytes);
	hl_id kids[HL_FANOUT];
	for (unsigned level = 1; level < HL_LEVELS_MAX; level++) {
		for (unsigned i = 0; i < HL_FANOUT; i++)
			kids[i] = a->zero_hash[level - 1];
		a->zero_hash[level] = hl_hash_inner(level, kids, HL_FANOUT);
	}
}

static int class_exact(const struct hl_arena_hdr *h, uint64_t bytes,
		       uint32_t *cls)
{
	int c = hl_heap_class_of(h, bytes);
	if (c < 0)
		return HL_ECORRUPT;
	*cls = (uint32_t)c;
	return 0;
}

/* Builds the private handle over a mapping whose header validated. */
static int handle_init(hl_arena *a, const char *name)
{
	const struct hl_arena_hdr *h = a->hdr;
	if (!hl_heap_cas16_supported())
		return HL_EIO; /* no 16-byte CAS: the free lists cannot work */
	snprintf(a->name, sizeof a->name, "%s", name);
	a->chunk_bytes = h->chunk_bytes;
	a->chunk_shift = (uint32_t)__builtin_ctz(h->chunk_bytes);
	a->slot_index = -1;
	a->pid = getpid();
	a->numa_node = h->numa_mode == HL_NUMA_AUTO ? hl_numa_local_node() : 0;
	int rc = class_exact(h, sizeof(struct hl_node) + h->chunk_bytes,
			     &a->class_leaf);
	if (!rc)
		rc = class_exact(h, sizeof(struct hl_node) +
					    hl_inner_payload_bytes(HL_FANOUT),
				 &a->class_inner);
	if (!rc)
		rc = class_exact(h, sizeof(struct hl_node) +
					    sizeof(struct hl_root_payload),
				 &a->class_root);
	if (rc)
		return rc;
	unsigned char *zero = calloc(1, a->chunk_bytes);
	if (!zero)
		return HL_ENOMEM;
	a->zero_chunk = zero;
	compute_zero_hashes(a);
	return hl_persist_region_attach(a);
}

/* Automatic collection (a commit that finds the heap full collects) is on
 * unless HELIOS_GC=off (or 0): then a full heap answers HL_EFULL at once,
 * for programs that want to see it (the crash suites, whose every id is
 * kept outside the arena and so would be garbage). hl_gc collects on
 * request either way. */
static bool gc_off_by_environment(void)
{
	const char *v = getenv("HELIOS_GC");
	return v && (!strcmp(v, "off") || !strcmp(v, "0"));
}

static void handle_free(hl_arena *a)
{
	hl_holds_free_priv(a);
	hl_ahead_stop(a); /* before the unmap: the helper works in the mapping */
	if (a->base)
		munmap(a->base, a->bytes);
	free((void *)a->zero_chunk);
	free(a);
}

/* For a prefaulted arena: fills this process's page tables for the whole
 * arena now (the pages exist already), so first touches do not fault.
 * Costs about 0.1-0.8 s per GiB per attaching process, paid once. Best
 * effort: a kernel without MADV_POPULATE_* just faults later. */
static void populate_arena(hl_arena *a)
{
	int advice = (a->flags & HL_RDONLY) ? MADV_POPULATE_READ
					    : MADV_POPULATE_WRITE;
	(void)madvise(a->base, a->bytes, advice);
}

/* A creator makes the object, then sizes it: an empty object is one being
 * created, so wait (bounded) for its size. HL_EBUSY if it stays empty,
 * HL_ECORRUPT if it is too short to hold a header (truncated). */
static int wait_for_size(int fd, struct stat *st)
{
	uint64_t deadline = hl_now_ns() + HL_ATTACH_WAIT_NS;
	for (;;) {
		if (fstat(fd, st) != 0)
			return HL_EIO;
		if (st->st_size != 0 || hl_now_ns() >= deadline)
			break;
		struct timespec ts = {0, 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (st->st_size == 0)
		return HL_EBUSY;
	return (uint64_t)st->st_size < HL_PAGE_BYTES ? HL_ECORRUPT : 0;
}

/* Maps an open arena file, validates it and builds the handle. */
/* Maps the arena in fd (or takes `mapped`, the creator's own mapping of
 * mapped_bytes with its pages already populated, and owns it from here
 * on), validates it and makes the handle. */
static int map_and_validate(int fd, const char *name, unsigned flags,
			    void *mapped, uint64_t mapped_bytes, hl_arena **out)
{
	struct stat st;
	int rc = wait_for_size(fd, &st);
	if (!rc && mapped && (uint64_t)st.st_size != mapped_bytes)
		rc = HL_ECORRUPT; /* resized under its creator */
	hl_arena *a = rc ? NULL : calloc(1, sizeof *a);
	if (!a) {
		if (mapped)
			munmap(mapped, mapped_bytes);
		return rc ? rc : HL_ENOMEM;
	}
	int prot = (flags & HL_RDONLY) ? PROT_READ : PROT_READ | PROT_WRITE;
	void *p = mapped ? mapped
			 : mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		free(a);
		return errno == EACCES ? HL_EACCES : HL_EIO;
	}
	a->base = p;
	a->full_cls = HL_HEAP_CLASS_NONE;
	a->bytes = (uint64_t)st.st_size;
	a->file_dev = (uint64_t)st.st_dev;
	a->file_ino = (uint64_t)st.st_ino;
	a->file_uid = (uint32_t)st.st_uid;
	a->huge_pages = hl_huge_backed(a->file_dev);
	a->hdr = p;
	a->flags = flags;
	rc = validate_header(a->hdr, a->bytes);
	if (!rc && mapped)
		; /* creation populated it through this very mapping */
	else if (!rc && (a->hdr->flags & HL_ARENA_F_PREFAULT))
		populate_arena(a);
	else if (!rc)
		hl_populate_metadata_attach(a);
	if (!rc)
		rc = handle_init(a, name);
	if (!rc && !(flags & HL_RDONLY))
		rc = hl_slot_claim(a);
	if (!rc)
		rc = hl_holds_prepare(a);
	if (!rc)
		a->no_auto_gc = gc_off_by_environment();
	if (rc) {
		if (a->slot)
			hl_slot_release(a);
		handle_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

int hl_arena_attach(const char *name, unsigned flags, hl_arena **out)
{
	if (!name || !out || (flags & ~HL_RDONLY))
		return HL_EINVAL;
	int fd = hl_arena_file_open(name, (flags & HL_RDONLY) ? O_RDONLY : O_RDWR, 0);
	if (fd < 0)
		return fd;
	int rc = map_and_validate(fd, name, flags, NULL, 0, out);
	close(fd);
	return rc;
}

/* Writes the header of a fresh, zero-filled, mapped arena and publishes it
 * by storing the magic last (invariant 1). */
static void publish_header(struct hl_arena_hdr *mapped,
			   const struct hl_arena_hdr *h)
{
	size_t from = HL_HDR_CHECKSUMMED_FROM;
	size_t to = offsetof(struct hl_arena_hdr, hdr_checksum) + sizeof(uint64_t);
	memcpy((char *)mapped + from, (const char *)h + from, to - from);
	atomic_store_explicit(&mapped->gc_epoch, HL_EPOCH_FIRST, memory_order_relaxed);
	atomic_store_explicit((_Atomic uint64_t *)&mapped->magic, HL_ARENA_MAGIC,
			      memory_order_release);
}

/* Allocates and zeroes every page of [base, base+bytes) now - heap,
 * index, slots and all - so no commit ever takes a first-touch fault (on
 * a VM one can cost tens of microseconds while the host backs the page).
 * The arena is still all zero afterwards: what it holds is unchanged. */
static int prefault(unsigned char *base, uint64_t bytes)
{
	if (madvise(base, bytes, MADV_POPULATE_WRITE) == 0)
		return 0;
	/* EFAULT: a page could not be backed (what a touch would take as
	 * SIGBUS): the file system ran out of room after reserve_room */
	if (errno == EFAULT)
		return HL_ENOSPC;
	if (errno != EINVAL)
		return errno == ENOMEM ? HL_ENOMEM : HL_EIO;
	/* kernels before 5.14: touch each page; it is zero, write it back
	 * (the header is not published yet: its magic is still 0) */
	volatile unsigned char *p = base;
	for (uint64_t at = 0; at < bytes; at += HL_PAGE_BYTES)
		p[at] = 0;
	return 0;
}

/* --prefault: reserve and populate piece by piece, so that a caller's stop
 * request (stop->asked answering true: a flag its signal handler set, a
 * signalfd with a signal pending) ends a creation of many GiB within one
 * piece (HL_PREFAULT_STEP_BYTES) with HL_EBUSY. */
static int prefault_arena(int fd, unsigned char *base, uint64_t bytes,
			  const struct hl_create_stop *stop)
{
	bool reserve = true;
	for (uint64_t at = 0; at < bytes; at += HL_PREFAULT_STEP_BYTES) {
		uint64_t len = bytes - at < HL_PREFAULT_STEP_BYTES
				       ? bytes - at : HL_PREFAULT_STEP_BYTES;
		if (stop && stop->asked(stop->arg))
			return HL_EBUSY;
		int rc = reserve ? hl_arena_file_reserve(fd, at, len, bytes, &reserve) : 0;
		if (!rc)
			rc = prefault(base + at, len);
		if (rc)
			return rc;
	}
	return 0;
}

/* Sizes, maps, populates and publishes a new arena in fd. On success
 * *mapped is the mapping, its metadata (or, prefaulted, every page)
 * populated: the creator's handle keeps it, so creation neither unmaps
 * the pages it has just mapped nor maps them again (an unmap and a
 * MADV_POPULATE_READ of 4 GiB's 64 MiB of metadata: 5-16 ms). */
static int init_new_arena(int fd, const hl_config *c,
			  const struct hl_arena_hdr *h,
			  const struct hl_create_stop *stop, void **mapped)
{
	if (ftruncate(fd, (off_t)c->arena_bytes) != 0)
		return errno == EFBIG || errno == EINVAL ? HL_EINVAL : HL_EIO;
	int rc = c->prefault ? 0 : hl_arena_file_check_room(fd, c->arena_bytes);
	if (rc)
		return rc;
	void *p = mmap(NULL, c->arena_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
		       fd, 0);
	if (p == MAP_FAILED)
		return HL_EIO;
	if (c->numa == HL_NUMA_AUTO) /* invariant 3: before first touch */
		rc = hl_numa_interleave(p, c->prefault ? c->arena_bytes
						       : h->regions[HL_REGION_HEAP].off);
	if (!rc && c->prefault)
		rc = prefault_arena(fd, p, c->arena_bytes, stop);
	else if (!rc) /* invariant 3: metadata now, the heap a slab at a time */
		rc = hl_populate_metadata_create(p, h);
	if (!rc && (h->features & HL_FEATURE_PERSIST))
		rc = hl_persist_region_format((char *)p +
						      h->regions[HL_REGION_PERSIST].off,
					      h->regions[HL_REGION_PERSIST].bytes, c);
	if (rc) {
		munmap(p, c->arena_bytes);
		return rc;
	}
	publish_header(p, h);
	*mapped = p;
	return 0;
}

int hl_arena_create(const char *name, const hl_config *cfg, hl_arena **out)
{
	return hl_arena_create_stoppable(name, cfg, NULL, out);
}

int hl_arena_create_stoppable(const char *name, const hl_config *cfg,
			      const struct hl_create_stop *stop, hl_arena **out)
{
	hl_config def;
	if (!cfg) {
		hl_config_init(&def);
		cfg = &def;
	}
	if (!name || !out || check_config(cfg))
		return HL_EINVAL;
	hl_config c = *cfg;
	c.arena_bytes = hl_align_up(c.arena_bytes, HL_PAGE_BYTES);

	struct hl_arena_hdr *h = calloc(1, sizeof *h);
	if (!h)
		return HL_ENOMEM;
	int rc = lay_out(h, &c);
	if (rc)
		goto out_free;
	h->version = HL_FORMAT_VERSION;
	h->features = c.persist_ring_bytes ? HL_FEATURE_PERSIST : 0;
	h->creator_uid = (uint32_t)getuid();
	h->created_ns = (uint64_t)time(NULL) * 1000000000ull;
	h->hdr_checksum = header_checksum(h);

	bool named = false;
	void *mapped = NULL;
	int fd = hl_arena_file_new(name, c.mode, &named);
	if (fd < 0) {
		rc = fd;
		goto out_free;
	}
	if (fchmod(fd, c.mode) != 0) { /* the umask must not widen or narrow */
		rc = HL_EIO;
		goto out_close;
	}
	rc = init_new_arena(fd, &c, h, stop, &mapped);
	if (rc)
		goto out_close;
	if (!named) {
		rc = hl_arena_file_link(fd, name); /* arena_file.c invariant 3 */
		if (rc)
			goto out_unmap;
		named = true;
	}
	rc = map_and_validate(fd, name, 0, mapped, c.arena_bytes, out);
	if (rc)
		goto out_close; /* it unmapped `mapped` */
	close(fd);
	free(h);
	return 0;

out_unmap:
	munmap(mapped, c.arena_bytes);
out_close:
	close(fd);
	if (named) /* ours: made at the name, or linked there */
		hl_arena_unlink(name);
out_free:
	free(h);
	return rc;
}

void hl_arena_close(hl_arena *a)
{
	if (!a)
		return;
	if (a->slot && getpid() == a->pid)
		hl_slot_release(a);
	handle_free(a);
}

int hl_arena_slot(const hl_arena *a)
{
	return a ? a->slot_index : -1;
}

uint32_t hl_arena_chunk_bytes(const hl_arena *a)
{
	return a ? a->chunk_bytes : 0;
}

/* ---- stats and checks ----------------------------------------------------- */

static uint64_t refs_in_use(const hl_arena *a)
{
	const struct hl_ref_slot *r =
		hl_at(a, a->hdr->regions[HL_REGION_REFS].off);
	uint64_t n = 0;
	for (uint32_t i = 0; i < a->hdr->refs_capacity; i++)
		n += atomic_load_explicit(&r[i].name_off, memory_order_relaxed) != 0;
	return n;
}

static void sum_slots(const hl_arena *a, hl_stats *st)
{
	uint64_t c[HL_CTR_COUNT];
	hl_slots_sum(a, c);
	st->commits = c[HL_CTR_COMMITS];
	st->restores = c[HL_CTR_RESTORES];
	st->hashed_bytes = c[HL_CTR_HASHED_BYTES];
	st->dedup_hits = c[HL_CTR_DEDUP_HITS];
	st->dedup_bytes = c[HL_CTR_DEDUP_BYTES];
	st->nodes = c[HL_CTR_NODES];
	st->stored_bytes = c[HL_CTR_STORED_BYTES];
	/* Entries in use, from the counters: nodes published minus removed.
	 * Exact but for a process killed between its index insert and its
	 * counter update (one node per such death); hl_index_used scans for
	 * the exact figure, at O(index) cost, for the checkers. */
	st->index_used = st->nodes > c[HL_CTR_INDEX_REMOVED]
				 ? st->nodes - c[HL_CTR_INDEX_REMOVED] : 0;
	for (uint32_t i = 0; i < hl_slot_count(a); i++) {
		if (hl_slot_pid(a, i) == 0)
			continue;
		if (hl_slot_is_dead(a, i))
			st->processes_dead++;
		else
			st->processes++;
	}
}

int hl_arena_stats(hl_arena *a, hl_stats *out)
{
	if (!a || !out)
		return HL_EINVAL;
	memset(out, 0, sizeof *out);
	sum_slots(a, out);
	out->index_capacity = hl_index_capacity(a);
	out->heap_bytes = hl_heap_bytes(a);
	out->heap_used_bytes = hl_heap_used(a);
	out->arena_bytes = a->hdr->arena_bytes;
	out->chunk_bytes = a->chunk_bytes;
	out->max_processes = a->hdr->max_processes;
	out->refs = refs_in_use(a);
	out->refs_capacity = a->hdr->refs_capacity;
	out->huge_pages = a->huge_pages;
	return 0;
}

int hl_arena_check(hl_arena *a, char *msg, size_t msg_len)
{
	if (!a)
		return HL_EINVAL;
	if (msg && msg_len)
		msg[0] = '\0';
	int rc = validate_header(a->hdr, a->bytes);
	if (rc)
		return hl_check_fail(msg, msg_len, "header: %s", hl_strerror(rc));
	rc = hl_slots_check(a, msg, msg_len);
	if (!rc)
		rc = hl_heap_check(a, msg, msg_len);
	if (!rc)
		rc = hl_index_check(a, msg, msg_len);
	if (!rc)
		rc = hl_nodes_check(a, msg, msg_len);
	if (!rc)
		rc = hl_refs_check(a, msg, msg_len);
	return rc;
}
