/*
 * checkpoint.c - checkpoints of a persisted arena: the pages changed since
 * the checkpoint before last copied into one of two page images in DIR,
 * then a meta page that makes the image current (formats in checkpoint.h).
 *
 * NOTES ON THE DESIGN
 *
 * Why checkpoints. The WAL (wal.c) is logical: replaying it republishes
 * everything through the ordinary publish path, so recovery time is the
 * whole history and the log grows without end, and search statistics are
 * not logged at all (a backup per playout would be a record per playout).
 * A checkpoint copies the arena's pages instead; recovery loads the image
 * and replays only the WAL written since, and the WAL before it is
 * recycled (wal_seg.c). Statistics come back as of the checkpoint.
 *
 * Why two images, alternating. Checkpoint k writes image k % 2. A crash in
 * the middle of it tears only that image; the other one, whose meta page
 * is the newest valid, is untouched, so recovery always has one whole
 * image (with the WAL from its own L). Writing in place into a single
 * image would leave no whole one during the write.
 *
 * Why the union of two intervals. Image k % 2 last received checkpoint
 * k - 2. So checkpoint k writes every page dirtied since checkpoint k - 2
 * began taking bits: this interval's bits (taken now) and the previous
 * interval's (kept from checkpoint k - 1 in `prev`). Each page a writer
 * marks is written into both images, once by each of the next two
 * checkpoints.
 *
 * Why the dirty bitmap in the arena (shm/dirty.c): writers are many
 * processes; a checkpoint costs the pages that changed, not the arena.
 *
 * The copy is fuzzy (writers go on) but consistent where recovery needs it:
 *
 *   1. L = the start of a fresh WAL segment: the persister has flushed
 *      every record below L and rotated (persister.c), so L is a segment
 *      boundary and recycling works per file.
 *   2. hl_epoch_barrier: every commit that pushed a record below L has
 *      finished its index CASes (records are pushed before the publishing
 *      CAS, both inside one critical section), every ref set that logged
 *      below L has stored its slot.
 *   3. The index pages first, then the refs, the slab map, the header
 *      (heap_next), then the heap pages. An entry the index copy holds was
 *      CASed before that copy, after its node's bytes were written and
 *      marked (shm/dirty.c invariant 1): the heap copy, later, has them. A
 *      node indexed in the copy lies in a slab that the slab map copy
 *      (later than the index copy) holds.
 *   4. Replay from L re-applies everything after (idempotent: a record for
 *      a node the image holds is a dedup hit).
 *
 * What a fuzzy copy does not give, recovery repairs (ckpt_recover.c): an
 * entry copied for a parent whose child's entry page was copied before the
 * child's CAS (both after L) - the child's bytes are in the image, its
 * entry is not, so recovery re-indexes what kept nodes name; and anything
 * belonging to processes (slots, cursors, in-flight tables, virtual
 * losses, the ring, the free lists) is reset or rebuilt.
 *
 * Invariants:
 *  1. A meta page is written only after every page and CRC of its image
 *     is durable (one batch each, flushed; io.c), so a valid meta page
 *     names a whole image.
 *  2. The newest complete image is never written while it is the newest:
 *     checkpoint k writes image k % 2, and k - 1 (the newest) is in the
 *     other.
 *  3. ckpt_begun = k is stored (release) after the grace period and
 *     before any page of k is copied; ckpt_done = k only after meta k is
 *     durable (release; hl_ckpt_counters loads both acquire). The
 *     collector's rule follows: a node tombstoned and freed while
 *     ckpt_begun was B is in the index copy of no checkpoint after B; once
 *     ckpt_done > B, the newest image (k > B) does not name it, and the
 *     older one (k - 1 >= B) is only overwritten by checkpoint k + 1,
 *     which copies whatever the object holds by then. So reusing the
 *     object after ckpt_done > B leaves every image recovery may use
 *     consistent; reusing it sooner could put another node's bytes under
 *     an entry of the image being written (recovery then drops that entry:
 *     ckpt_recover.c checks every entry's tag and node).
 *  4. A page's CRC is seeded with its page number and never 0; 0 in the
 *     array means the page was never written (absent, reads as zeros).
 *
 * State machine of one checkpoint (the checkpoint thread, persister.c):
 *   IDLE --trigger (interval, WAL half used, stop)--> ROTATING (persister
 *   thread flushes, opens segment s at L) --> COPYING (hl_ckpt_take: begun
 *   = k, barrier, pages, CRCs) --> META (meta k % 2 durable, done = k)
 *   --> RECYCLING (segments below hl_ckpt_oldest_segment) --> IDLE.
 *   A failed write in COPYING or META is the persister's sticky error.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "crc32c.h"
#include "shm.h"

#define PAGE HL_CKPT_PAGE_BYTES
#define CRCS_PER_PAGE (PAGE / sizeof(uint32_t))

struct stage {
	unsigned char *buf;        /* HL_CKPT_BATCH_PAGES pages */
	struct hl_io_write w[HL_IO_BATCH_WRITES_MAX];
	unsigned n;                /* writes */
	uint64_t used;             /* pages filled */
};

struct hl_ckpt {
	hl_arena *a;
	char dir[PATH_MAX];
	struct hl_io *img[2], *meta;
	uint32_t *crc[2];          /* per image: pages entries (aligned) */
	uint64_t pages, words, crc_off, crc_bytes;
	uint64_t *prev, *cur;      /* bits of the last interval, of this one */
	uint64_t *crc_dirty;       /* CRC pages changed by this checkpoint */
	struct hl_ckpt_meta m[2];
	bool valid[2];
	uint64_t last;             /* the newest valid checkpoint's number */
	struct stage st[2];
	unsigned cur_stage;
	bool flying;               /* st[1 - cur_stage] is in flight on img */
	struct hl_io_config io;
	uint64_t written;
};

uint32_t hl_ckpt_page_crc(uint64_t page, const void *bytes)
{
	uint32_t c = hl_crc32c((uint32_t)page ^ (uint32_t)(page >> 32), bytes, PAGE);
	return c ? c : 1u;
}

/* ---- meta pages ------------------------------------------------------------- */

static uint32_t meta_crc(const struct hl_ckpt_meta *m)
{
	return hl_crc32c(0, m, offsetof(struct hl_ckpt_meta, crc));
}

void hl_ckpt_meta_hdr(const struct hl_ckpt_meta *m, struct hl_arena_hdr *out)
{
	memset(out, 0, sizeof *out); /* aligned, unlike the meta page's copy */
	memcpy(out, m->hdr, HL_CKPT_HDR_BYTES);
}

int hl_ckpt_meta_check(const struct hl_ckpt_meta *m, unsigned slot)
{
	if (m->magic != HL_CKPT_MAGIC)
		return HL_ECORRUPT;
	if (meta_crc(m) != m->crc)
		return HL_ECORRUPT;
	if (m->version > HL_CKPT_VERSION)
		return HL_EVERSION;
	if (m->version != HL_CKPT_VERSION || m->image != slot ||
	    m->ckpt == 0 || m->ckpt % 2 != slot || m->segment == 0 ||
	    m->arena_bytes % PAGE || m->pages != m->arena_bytes / PAGE ||
	    m->crc_off != m->arena_bytes || m->arena_bytes < HL_ARENA_BYTES_MIN ||
	    m->arena_bytes > HL_ARENA_BYTES_MAX)
		return HL_ECORRUPT;
	struct hl_arena_hdr h;
	hl_ckpt_meta_hdr(m, &h);
	if (h.magic != HL_ARENA_MAGIC || h.arena_bytes != m->arena_bytes)
		return HL_ECORRUPT;
	return h.version != HL_FORMAT_VERSION ? HL_EVERSION : 0;
}

static int meta_path(const char *dir, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", dir, HL_CKPT_META_NAME);
	return n < 0 || (size_t)n >= len ? HL_EINVAL : 0;
}

int hl_ckpt_meta_read(const char *dir, struct hl_ckpt_meta m[2], int rc[2],
		      int *newest)
{
	char path[PATH_MAX];
	*newest = -1;
	rc[0] = rc[1] = HL_ENOENT;
	memset(m, 0, 2 * sizeof *m);
	int e = meta_path(dir, path, sizeof path);
	if (e)
		return e;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : hl_io_errno_rc(errno);
	for (unsigned i = 0; i < 2; i++) {
		ssize_t got = pread(fd, &m[i], sizeof m[i], (off_t)i * PAGE);
		static const struct hl_ckpt_meta zero;
		if (got <= 0 || (got == (ssize_t)sizeof m[i] &&
				 memcmp(&m[i], &zero, sizeof zero) == 0))
			rc[i] = HL_ENOENT; /* never written */
		else
			rc[i] = got == (ssize_t)sizeof m[i]
					? hl_ckpt_meta_check(&m[i], i) : HL_ECORRUPT;
		if (rc[i] == 0 && (*newest < 0 || m[i].ckpt > m[*newest].ckpt))
			*newest = (int)i;
	}
	close(fd);
	return 0;
}

/* The header fields that fix offsets agree (not the creator, its time,
 * its NUMA mode, its prefault flag, nor the checksum over them). */
bool hl_ckpt_geometry_eq(const void *x, const void *y)
{
	struct hl_arena_hdr a, b;
	memcpy(&a, x, HL_CKPT_HDR_BYTES);
	memcpy(&b, y, HL_CKPT_HDR_BYTES);
	a.creator_uid = b.creator_uid = 0;
	a.created_ns = b.created_ns = 0;
	a.numa_mode = b.numa_mode = 0;
	a.flags = b.flags = 0;
	return memcmp(&a, &b, HL_CKPT_HDR_BYTES) == 0;
}

/* The persist_ring_bytes an arena was configured with: the largest ring
 * size whose region is the one the header records (hl_persist_region_bytes
 * grows with it), 0 if none matches. */
uint64_t hl_ckpt_ring_config(const struct hl_arena_hdr *h)
{
	uint64_t want = h->regions[HL_REGION_PERSIST].bytes;
	uint64_t lo = HL_PERSIST_RING_BYTES_MIN / HL_RING_UNIT_BYTES;
	uint64_t hi = HL_PERSIST_RING_BYTES_MAX / HL_RING_UNIT_BYTES;
	while (lo < hi) { /* the largest unit count whose region <= want */
		uint64_t mid = lo + (hi - lo + 1) / 2;
		uint64_t b = hl_persist_region_bytes(mid * HL_RING_UNIT_BYTES,
						     h->max_processes);
		if (b != 0 && b <= want)
			lo = mid;
		else
			hi = mid - 1;
	}
	uint64_t x = lo * HL_RING_UNIT_BYTES;
	return hl_persist_region_bytes(x, h->max_processes) == want ? x : 0;
}

/* ---- opening ----------------------------------------------------------------- */

static int image_open(struct hl_ckpt *c, unsigned i)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof path, "%s/" HL_CKPT_IMAGE_NAME, c->dir, i);
	if (n < 0 || (size_t)n >= sizeof path)
		return HL_EINVAL;
	bool fresh = access(path, F_OK) != 0;
	int rc = hl_io_open(path, fresh ? HL_IO_CREATE : 0, 0, &c->io, &c->img[i]);
	if (rc)
		return rc;
	c->crc[i] = hl_io_buf_alloc(c->crc_bytes);
	if (!c->crc[i])
		return HL_ENOMEM;
	if (fresh)
		return 0; /* all absent */
	/* bytes past the end read as zero: absent */
	return hl_io_pread(c->img[i], c->crc[i], c->crc_bytes, c->crc_off);
}

static int meta_open(struct hl_ckpt *c)
{
	char path[PATH_MAX];
	int rc = meta_path(c->dir, path, sizeof path);
	if (rc)
		return rc;
	bool fresh = access(path, F_OK) != 0;
	return hl_io_open(path, fresh ? HL_IO_CREATE : 0, 0, &c->io, &c->meta);
}

/* Reads the meta pages: the next checkpoint number, and HL_EMISMATCH
 * when a valid one was written for another geometry. */
static int metas_load(struct hl_ckpt *c)
{
	int rc[2], newest;
	int e = hl_ckpt_meta_read(c->dir, c->m, rc, &newest);
	if (e)
		return e;
	for (unsigned i = 0; i < 2; i++) {
		c->valid[i] = rc[i] == 0;
		if (rc[i] == HL_EVERSION)
			return HL_EVERSION;
		if (c->valid[i] && !hl_ckpt_geometry_eq(c->m[i].hdr, c->a->hdr))
			return HL_EMISMATCH;
	}
	c->last = newest < 0 ? 0 : c->m[newest].ckpt;
	return 0;
}

static int stages_alloc(struct hl_ckpt *c)
{
	for (unsigned i = 0; i < 2; i++) {
		c->st[i].buf = hl_io_buf_alloc((uint64_t)HL_CKPT_BATCH_PAGES * PAGE);
		if (!c->st[i].buf)
			return HL_ENOMEM;
	}
	return 0;
}

int hl_ckpt_open(hl_arena *a, const char *dir, const struct hl_io_config *io,
		 struct hl_ckpt **out)
{
	if (!a || !dir || !out || !a->pctl || strlen(dir) >= PATH_MAX - 32)
		return HL_EINVAL;
	struct hl_ckpt *c = calloc(1, sizeof *c);
	if (!c)
		return HL_ENOMEM;
	c->a = a;
	strcpy(c->dir, dir);
	if (io)
		c->io = *io;
	else
		hl_io_config_init(&c->io);
	c->pages = a->hdr->arena_bytes / PAGE;
	c->words = hl_dirty_words(a);
	c->crc_off = a->hdr->arena_bytes; /* page aligned (arena.c) */
	c->crc_bytes = hl_align_up(c->pages * sizeof(uint32_t), PAGE);
	c->prev = calloc(c->words, sizeof *c->prev);
	c->cur = calloc(c->words, sizeof *c->cur);
	c->crc_dirty = calloc(c->crc_bytes / PAGE / 64 + 1, sizeof *c->crc_dirty);
	int rc = !c->prev || !c->cur || !c->crc_dirty ? HL_ENOMEM : 0;
	if (!rc)
		rc = metas_load(c);
	if (!rc)
		rc = stages_alloc(c);
	for (unsigned i = 0; !rc && i < 2; i++)
		rc = image_open(c, i);
	if (!rc)
		rc = meta_open(c);
	if (rc) {
		hl_ckpt_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void hl_ckpt_close(struct hl_ckpt *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < 2; i++) {
		if (c->img[i])
			hl_io_close(c->img[i]);
		hl_io_buf_free(c->crc[i]);
		hl_io_buf_free(c->st[i].buf);
	}
	if (c->meta)
		hl_io_close(c->meta);
	free(c->prev);
	free(c->cur);
	free(c->crc_dirty);
	free(c);
}

uint64_t hl_ckpt_oldest_segment(const struct hl_ckpt *c)
{
	if (!c->valid[0] || !c->valid[1])
		return 0;
	return c->m[0].segment < c->m[1].segment ? c->m[0].segment
						 : c->m[1].segment;
}

void hl_ckpt_mark_all(struct hl_ckpt *c)
{
	/* both intervals: the next two checkpoints write every page */
	memset(c->prev, 0xff, c->words * sizeof *c->prev);
	hl_dirty_set_range(c->a, 0, c->a->hdr->arena_bytes);
}

/* ---- writing batches ------------------------------------------------------------ */

/* Waits for the batch in flight, if any (invariant 1: durable). */
static int stage_wait(struct hl_ckpt *c, struct hl_io *io)
{
	if (!c->flying)
		return 0;
	c->flying = false;
	return hl_io_poll(io, true);
}

/* Submits the current stage and switches to the other (waiting for it). */
static int stage_submit(struct hl_ckpt *c, struct hl_io *io)
{
	struct stage *s = &c->st[c->cur_stage];
	if (s->n == 0)
		return 0;
	int rc = stage_wait(c, io);
	if (!rc)
		rc = hl_io_submit(io, s->w, s->n);
	if (rc)
		return rc;
	c->flying = true;
	c->cur_stage ^= 1;
	c->st[c->cur_stage].n = 0;
	c->st[c->cur_stage].used = 0;
	return 0;
}

/* Copies arena page p into the stage, with its CRC into image i's array
 * (invariant 4); contiguous pages share one write. */
static int copy_page(struct hl_ckpt *c, unsigned i, uint64_t p)
{
	struct stage *s = &c->st[c->cur_stage];
	if (s->used == HL_CKPT_BATCH_PAGES || s->n == HL_IO_BATCH_WRITES_MAX) {
		int rc = stage_submit(c, c->img[i]);
		if (rc)
			return rc;
		s = &c->st[c->cur_stage];
	}
	unsigned char *dst = s->buf + s->used * PAGE;
	memcpy(dst, hl_at(c->a, p * PAGE), PAGE);
	c->crc[i][p] = hl_ckpt_page_crc(p, dst);
	c->crc_dirty[p / CRCS_PER_PAGE / 64] |= 1ull << (p / CRCS_PER_PAGE % 64);
	struct hl_io_write *w = s->n ? &s->w[s->n - 1] : NULL;
	if (w && w->off + w->len == p * PAGE &&
	    (const unsigned char *)w->buf + w->len == dst) {
		w->len += PAGE;
	} else {
		s->w[s->n++] = (struct hl_io_write){dst, PAGE, p * PAGE};
	}
	s->used++;
	c->written++;
	return 0;
}

/* Takes the bits of pages [first, end) just before they are copied
 * (shm/dirty.c invariant 1), and no others: a page past the heap's end
 * as this checkpoint read it keeps its bit, or neither image would get it
 * (it is not copied now, and the next checkpoint's `prev` would write it
 * into the other image only). A word shared with a region
 * copied earlier (the index's last word may cover the slab map and the
 * heap's first pages) is taken again: what was marked since its first
 * take - a node written there before its CAS reached the index copy -
 * must be copied too. */
static void take_words(struct hl_ckpt *c, uint64_t first, uint64_t end)
{
	for (uint64_t w = first / 64; w < (end + 63) / 64 && w < c->words; w++) {
		uint64_t lo = w * 64 < first ? first - w * 64 : 0;
		uint64_t hi = (w + 1) * 64 > end ? end - w * 64 : 64;
		uint64_t mask = (hi == 64 ? ~0ull : (1ull << hi) - 1) & ~((1ull << lo) - 1);
		c->cur[w] |= hl_dirty_take(c->a, w, mask); /* only [first, end) */
	}
}

/* Writes pages [off, off + bytes) of the arena into image i: every page
 * when whole, else those dirtied in this interval or the last. */
static int copy_range(struct hl_ckpt *c, unsigned i, uint64_t off,
		      uint64_t bytes, bool whole)
{
	uint64_t first = off / PAGE, end = (off + bytes + PAGE - 1) / PAGE;
	if (end > c->pages)
		end = c->pages;
	take_words(c, first, end);
	for (uint64_t p = first; p < end; p++) {
		uint64_t bit = 1ull << (p % 64);
		if (!whole && !((c->cur[p / 64] | c->prev[p / 64]) & bit))
			continue;
		int rc = copy_page(c, i, p);
		if (rc)
			return rc;
	}
	return 0;
}

/* Invariant 1: the CRC pages this checkpoint changed, after the pages. */
static int write_crcs(struct hl_ckpt *c, unsigned i)
{
	uint64_t n = c->crc_bytes / PAGE;
	struct hl_io_write w[HL_IO_BATCH_WRITES_MAX];
	unsigned k = 0;
	for (uint64_t q = 0; q < n; q++) {
		if (!(c->crc_dirty[q / 64] & (1ull << (q % 64))))
			continue;
		const unsigned char *src = (const unsigned char *)c->crc[i] + q * PAGE;
		if (k && w[k - 1].off + w[k - 1].len == c->crc_off + q * PAGE) {
			w[k - 1].len += PAGE;
			continue;
		}
		if (k == HL_IO_BATCH_WRITES_MAX) {
			int rc = hl_io_submit(c->img[i], w, k);
			if (!rc)
				rc = hl_io_poll(c->img[i], true);
			if (rc)
				return rc;
			k = 0;
		}
		w[k++] = (struct hl_io_write){src, PAGE, c->crc_off + q * PAGE};
	}
	memset(c->crc_dirty, 0, (n / 64 + 1) * sizeof *c->crc_dirty);
	if (k == 0)
		return 0;
	int rc = hl_io_submit(c->img[i], w, k);
	return rc ? rc : hl_io_poll(c->img[i], true);
}

/* ---- one checkpoint ---------------------------------------------------------------- */

/* Design point 2: the grace period, through a view of the handle that is
 * in no section and owns no slot, so the barrier waits for every slot -
 * this process's own included: its other threads (the coordinator's, a
 * test's) commit through the same handle and slot. HL_EBUSY when a
 * process stopped inside a section holds it past the timeout: this
 * checkpoint is skipped, not failed (nothing was written). */
static int take_barrier(hl_arena *a)
{
	hl_arena view = *a;
	view.slot_index = -1;
	view.epoch_depth = 0;
	return hl_epoch_barrier(&view, HL_CKPT_BARRIER_TIMEOUT_NS);
}

/* Design point 3: index, refs, slab map, header, heap. */
static int copy_all(struct hl_ckpt *c, unsigned i, uint64_t *heap_next)
{
	const struct hl_arena_hdr *h = c->a->hdr;
	const struct hl_region *ix = &h->regions[HL_REGION_INDEX];
	const struct hl_region *rf = &h->regions[HL_REGION_REFS];
	const struct hl_region *sm = &h->regions[HL_REGION_SLABMAP];
	const struct hl_region *hp = &h->regions[HL_REGION_HEAP];
	int rc = copy_range(c, i, ix->off, ix->bytes, false);
	if (!rc)
		rc = copy_range(c, i, rf->off, rf->bytes, false);
	if (!rc)
		rc = copy_range(c, i, sm->off, sm->bytes, true);
	*heap_next = atomic_load_explicit(&c->a->hdr->heap_next, memory_order_acquire);
	if (!rc)
		rc = copy_range(c, i, 0, PAGE, true);
	if (!rc && *heap_next)
		rc = copy_range(c, i, hp->off,
				*heap_next < hp->bytes ? *heap_next : hp->bytes, false);
	if (!rc)
		rc = stage_submit(c, c->img[i]);
	int w = stage_wait(c, c->img[i]);
	return rc ? rc : w;
}

static void meta_fill(struct hl_ckpt *c, struct hl_ckpt_meta *m, uint64_t k,
		      uint64_t lsn, uint64_t segment, uint64_t heap_next)
{
	const struct hl_persist_ctl *ctl = c->a->pctl;
	memset(m, 0, sizeof *m);
	m->magic = HL_CKPT_MAGIC;
	m->version = HL_CKPT_VERSION;
	m->image = (uint32_t)(k % 2);
	m->ckpt = k;
	m->lsn = lsn;
	m->segment = segment;
	m->arena_bytes = c->a->hdr->arena_bytes;
	m->pages = c->pages;
	m->crc_off = c->crc_off;
	m->ring_bytes = hl_ckpt_ring_config(c->a->hdr);
	m->durability = ctl->durability;
	m->lag_ns = ctl->lag_ns;
	m->pages_written = c->written;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	m->unix_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	m->heap_next = heap_next;
	memcpy(m->hdr, c->a->hdr, HL_CKPT_HDR_BYTES);
}

/* Invariant 1: meta k % 2 last, durable. */
static int meta_write(struct hl_ckpt *c, struct hl_ckpt_meta *m)
{
	m->crc = meta_crc(m);
	struct hl_io_write w = {m, PAGE, (uint64_t)m->image * PAGE};
	int rc = hl_io_submit(c->meta, &w, 1);
	return rc ? rc : hl_io_poll(c->meta, true);
}

static void publish_done(struct hl_ckpt *c, const struct hl_ckpt_meta *m)
{
	struct hl_persist_ctl *ctl = c->a->pctl;
	atomic_store_explicit(&ctl->ckpt_lsn, m->lsn, memory_order_relaxed);
	atomic_store_explicit(&ctl->ckpt_unix_ns, m->unix_ns, memory_order_relaxed);
	atomic_store_explicit(&ctl->ckpt_pages, m->pages_written, memory_order_relaxed);
	atomic_store_explicit(&ctl->ckpt_ns, m->ns, memory_order_relaxed);
	/* release: invariant 3, pairs with hl_ckpt_counters' acquire */
	atomic_store_explicit(&ctl->ckpt_done, m->ckpt, memory_order_release);
}

int hl_ckpt_take(struct hl_ckpt *c, uint64_t lsn, uint64_t segment,
		 struct hl_ckpt_result *res)
{
	uint64_t t0 = hl_now_ns(), k = c->last + 1, heap_next = 0;
	unsigned i = (unsigned)(k % 2);
	struct hl_ckpt_meta *m = hl_io_buf_alloc(PAGE);
	if (!m)
		return HL_ENOMEM;
	int rc = take_barrier(c->a);
	if (rc) {
		hl_io_buf_free(m);
		return rc;
	}
	/* release: invariant 3, before any copy */
	atomic_store_explicit(&c->a->pctl->ckpt_begun, k, memory_order_release);
	c->written = 0;
	memset(c->cur, 0, c->words * sizeof *c->cur);
	rc = copy_all(c, i, &heap_next);
	if (!rc)
		rc = write_crcs(c, i);
	if (!rc) {
		meta_fill(c, m, k, lsn, segment, heap_next);
		m->ns = hl_now_ns() - t0;
		rc = meta_write(c, m);
	}
	if (rc) {
		/* the bits taken are not lost: the next attempt writes them */
		for (uint64_t w = 0; w < c->words; w++)
			c->prev[w] |= c->cur[w];
		hl_io_buf_free(m);
		return rc;
	}
	uint64_t *t = c->prev;
	c->prev = c->cur;
	c->cur = t;
	c->m[i] = *m;
	c->valid[i] = true;
	c->last = k;
	publish_done(c, m);
	if (res)
		*res = (struct hl_ckpt_result){k, lsn, segment, m->pages_written, m->ns};
	hl_io_buf_free(m);
	return 0;
}
