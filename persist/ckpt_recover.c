/*
 * ckpt_recover.c - loading a checkpoint image into a fresh arena, and the
 * repairs a fuzzy copy and a damaged page need (checkpoint.c draws the
 * files and why the copy is fuzzy).
 *
 * Steps (hl_ckpt_load):
 *   1. The newest meta page whose CRC and geometry pass; the other one if
 *      not (it names the other image, and the WAL from its own L, which
 *      recycling kept: wal_seg.c invariant 2).
 *   2. The image's present pages (CRC != 0) of the refs, index, slab map
 *      and heap below heap_next, read in runs of up to a batch straight
 *      into the arena; the header's heap word from the meta page. Slots,
 *      in-flight tables, the persist region and the free lists are not
 *      read: they belong to processes, and the fresh arena's are empty.
 *   3. Each page's CRC: a page that fails is kept, and every node in it,
 *      or named by an index entry in it, is verified by its hash
 *      (hl_node_check); every entry's node must carry the entry's tag and
 *      be found at its offset, and every inner node, root and search
 *      record is checked against what it names (hashes of hashes: cheap);
 *      a node that fails is tombstoned, and so is every
 *      node that names one (to the top: a root above a bad leaf would
 *      restore wrong bytes), a ref to it is cleared, a search edge to it
 *      unlinked. What was dropped is counted (info).
 *   4. Re-indexing: a node named by a kept node but absent from the
 *      image's index (its entry's page was copied before its CAS, its
 *      parent's after) is verified and indexed, so every reachable node
 *      is indexed again and replay's dedup finds it.
 *   5. Slab map entries past heap_next are cleared (a torn image's map
 *      may be newer than its heap); virtual losses are cleared (their
 *      holders are gone); every heap
 *      object of every slab below heap_next that no live node, no ref name
 *      uses goes on its class's free list (this also returns what dead
 *      processes leaked); the counters take the nodes loaded.
 *
 * Invariants:
 *  1. Nothing loaded is trusted to be in bounds: every offset read from
 *     the image goes through hl_node_fault / hl_node_get, every slab map
 *     entry through hl_heap_free's validation, so a damaged image is
 *     dropped data, never a crash.
 *  2. No lookup ever returns a node whose bytes fail their hash: only
 *     pages whose CRC passed hold unverified nodes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "shm.h"
#include "slabs.h"

#define PAGE HL_CKPT_PAGE_BYTES
_Static_assert(HL_FANOUT <= HL_MCTS_EDGES_MAX + 1, "named() holds any node's names");

struct load {
	hl_arena *a;
	const struct hl_ckpt_meta *m;
	uint32_t *crc;
	uint64_t *bad_page;   /* pages whose CRC failed */
	uint64_t *live, *bad; /* heap granules (HL_HEAP_ALIGN): reached, failed */
	uint64_t heap_off, granules;
	uint64_t *work;       /* node offsets still to follow */
	uint64_t nwork, capwork;
	struct hl_ckpt_load_info *info;
};

static bool bit(const uint64_t *m, uint64_t i) { return m[i / 64] >> (i % 64) & 1; }
static void bit_set(uint64_t *m, uint64_t i) { m[i / 64] |= 1ull << (i % 64); }

static uint64_t granule(const struct load *l, uint64_t off)
{
	return (off - l->heap_off) / HL_HEAP_ALIGN;
}

static _Atomic uint64_t *entries(const hl_arena *a)
{
	return (_Atomic uint64_t *)hl_at(a, a->hdr->regions[HL_REGION_INDEX].off);
}

static uint64_t entry_count(const hl_arena *a)
{
	return a->hdr->index_buckets * HL_BUCKET_ENTRIES;
}

static uint64_t entry_node(uint64_t e)
{
	return e == HL_ENTRY_EMPTY || HL_ENTRY_IS_TOMB(e)
		       ? 0 : (e & HL_ENTRY_OFF_MASK) * HL_HEAP_ALIGN;
}

/* ---- step 1: the meta page ------------------------------------------------ */

static int choose_meta(const char *dir, const hl_arena *a,
		       struct hl_ckpt_meta *out, struct hl_ckpt_load_info *info,
		       uint64_t *want_bytes)
{
	struct hl_ckpt_meta m[2];
	int rc[2], newest;
	int e = hl_ckpt_meta_read(dir, m, rc, &newest);
	if (e)
		return e;
	if (newest < 0)
		return rc[0] == HL_EVERSION || rc[1] == HL_EVERSION ? HL_EVERSION
								    : HL_ENOENT;
	if (!hl_ckpt_geometry_eq(m[newest].hdr, a->hdr)) {
		if (want_bytes)
			*want_bytes = m[newest].arena_bytes;
		return HL_EMISMATCH;
	}
	*out = m[newest];
	info->meta_used = (unsigned)newest;
	info->fell_back = rc[1 - newest] != 0 && rc[1 - newest] != HL_ENOENT;
	return 0;
}

/* ---- step 2, 3: pages ---------------------------------------------------- */

static int image_open(const char *dir, unsigned i, const struct hl_io_config *io,
		      struct hl_io **out)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof path, "%s/" HL_CKPT_IMAGE_NAME, dir, i);
	if (n < 0 || (size_t)n >= sizeof path)
		return HL_EINVAL;
	return hl_io_open(path, HL_IO_RDONLY, 0, io, out);
}

/* Reads pages [first, end) that are present, in runs, into the arena. */
static int read_pages(struct load *l, struct hl_io *img, uint64_t first,
		      uint64_t end)
{
	for (uint64_t p = first; p < end;) {
		if (!l->crc[p]) {
			p++;
			continue;
		}
		uint64_t q = p;
		while (q < end && l->crc[q] && q - p < HL_CKPT_BATCH_PAGES)
			q++;
		int rc = hl_io_pread(img, hl_at(l->a, p * PAGE), (q - p) * PAGE,
				     p * PAGE);
		if (rc)
			return rc;
		for (uint64_t r = p; r < q; r++)
			if (hl_ckpt_page_crc(r, hl_at(l->a, r * PAGE)) != l->crc[r]) {
				bit_set(l->bad_page, r);
				l->info->bad_pages++;
			}
		l->info->pages_read += q - p;
		p = q;
	}
	return 0;
}

static int load_pages(struct load *l, const char *dir,
		      const struct hl_io_config *io)
{
	struct hl_io *img;
	int rc = image_open(dir, l->m->image, io, &img);
	if (rc)
		return rc;
	uint64_t crc_bytes = hl_align_up(l->m->pages * sizeof(uint32_t), PAGE);
	l->crc = hl_io_buf_alloc(crc_bytes);
	rc = l->crc ? hl_io_pread(img, l->crc, crc_bytes, l->m->crc_off) : HL_ENOMEM;
	const struct hl_arena_hdr *h = l->a->hdr;
	uint64_t first = h->regions[HL_REGION_REFS].off / PAGE;
	uint64_t end = (h->regions[HL_REGION_HEAP].off + l->m->heap_next +
			PAGE - 1) / PAGE;
	if (!rc)
		rc = read_pages(l, img, first, end);
	hl_io_close(img);
	return rc;
}

/* ---- step 3, 4: verifying and re-indexing ------------------------------------ */

static bool node_in_bad_page(const struct load *l, uint64_t off)
{
	const struct hl_node *n = hl_node_at(l->a, off);
	uint64_t last = (off + sizeof *n + n->payload_bytes - 1) / PAGE;
	for (uint64_t p = off / PAGE; p <= last; p++)
		if (bit(l->bad_page, p))
			return true;
	return false;
}

/* A node fit to keep under entry word e: well formed, its hash the one
 * the entry was made for (its tag) and findable at this very offset, an
 * inner node, root or search record verified against what it names (cheap:
 * hashes of hashes), and a leaf that lies in a bad page rehashed. This
 * catches, besides damage, an object reused by another node between the
 * index copy and the heap copy (a collector that does not wait for
 * checkpoints: hl_ckpt_counters). */
static bool node_ok(struct load *l, uint64_t e, uint64_t off, bool suspect)
{
	char msg[128];
	if (hl_node_fault(l->a, off, HL_NODE_KIND_ANY, HL_NODE_LEVEL_ANY) != HL_NODE_OK)
		return false;
	const struct hl_node *n = hl_node_at(l->a, off);
	uint64_t found;
	if ((e >> HL_ENTRY_OFF_BITS) != (n->hash.hi >> HL_ENTRY_OFF_BITS) ||
	    hl_index_lookup(l->a, n->hash, &found) != 0 || found != off)
		return false;
	if (n->kind == HL_NODE_LEAF && !suspect && !node_in_bad_page(l, off))
		return true;
	return hl_node_check(l->a, off, msg, sizeof msg) == 0;
}

static void drop_entry(struct load *l, uint64_t i, uint64_t off)
{
	atomic_store_explicit(&entries(l->a)[i], HL_ENTRY_TOMBSTONE,
			      memory_order_relaxed);
	if (off && hl_heap_contains(l->a, off, sizeof(struct hl_node)))
		bit_set(l->bad, granule(l, off));
	l->info->nodes_dropped++;
}

static void verify_entries(struct load *l)
{
	_Atomic uint64_t *e = entries(l->a);
	for (uint64_t i = 0; i < entry_count(l->a); i++) {
		uint64_t w = atomic_load_explicit(&e[i], memory_order_relaxed);
		uint64_t off = entry_node(w);
		if (!off)
			continue;
		bool suspect = bit(l->bad_page, hl_off(l->a, &e[i]) / PAGE);
		if (!node_ok(l, w, off, suspect))
			drop_entry(l, i, off);
	}
}

static int push_work(struct load *l, uint64_t off)
{
	if (bit(l->live, granule(l, off)))
		return 0;
	bit_set(l->live, granule(l, off));
	if (l->nwork == l->capwork) {
		uint64_t cap = l->capwork ? 2 * l->capwork : 4096;
		uint64_t *w = realloc(l->work, cap * sizeof *w);
		if (!w)
			return HL_ENOMEM;
		l->work = w;
		l->capwork = cap;
	}
	l->work[l->nwork++] = off;
	return 0;
}

/* The offsets node n names (children, a root's top, a record's position
 * and linked records); 0 entries are none. */
static unsigned named(const struct hl_node *n, uint64_t out[HL_MCTS_EDGES_MAX + 1])
{
	switch (n->kind) {
	case HL_NODE_INNER:
		memcpy(out, n->payload, (size_t)n->count * sizeof *out);
		return n->count;
	case HL_NODE_ROOT:
		out[0] = ((const struct hl_root_payload *)(const void *)n->payload)->top_off;
		return 1;
	case HL_NODE_SEARCH: {
		const struct hl_search_payload *p = (const void *)n->payload;
		const struct hl_search_edge *e = hl_srec_edges(n);
		out[0] = p->pos_off;
		for (unsigned i = 0; i < n->count; i++)
			out[i + 1] = (atomic_load_explicit(&e[i].link, memory_order_relaxed) &
				      HL_LINK_CHILD_MASK) * HL_HEAP_ALIGN;
		return n->count + 1u;
	}
	default:
		return 0;
	}
}

/* Step 4 for one named node: indexed already, or verified and indexed. */
static int follow(struct load *l, uint64_t c)
{
	char msg[128];
	if (!c || hl_node_fault(l->a, c, HL_NODE_KIND_ANY, HL_NODE_LEVEL_ANY) != HL_NODE_OK)
		return 0; /* a bad name: its holder fails step 3's cascade */
	if (bit(l->live, granule(l, c)) || bit(l->bad, granule(l, c)))
		return 0;
	uint64_t found, won;
	hl_id h = hl_node_at(l->a, c)->hash;
	if (hl_index_lookup(l->a, h, &found) != 0) {
		if (hl_node_check(l->a, c, msg, sizeof msg) != 0) {
			bit_set(l->bad, granule(l, c));
			return 0;
		}
		int rc = hl_index_insert(l->a, h, c, &won);
		if (rc < 0)
			return rc;
		l->info->nodes_reindexed += rc == 0;
	}
	return push_work(l, c);
}

static int reindex(struct load *l)
{
	_Atomic uint64_t *e = entries(l->a);
	int rc = 0;
	for (uint64_t i = 0; !rc && i < entry_count(l->a); i++) {
		uint64_t off = entry_node(atomic_load_explicit(&e[i], memory_order_relaxed));
		if (off)
			rc = push_work(l, off);
	}
	const struct hl_ref_slot *r = hl_refs_table(l->a);
	for (uint32_t i = 0; !rc && i < hl_refs_capacity(l->a); i++)
		rc = follow(l, atomic_load_explicit(&r[i].root_off, memory_order_relaxed));
	uint64_t kids[HL_MCTS_EDGES_MAX + 1];
	while (!rc && l->nwork) {
		const struct hl_node *n = hl_node_at(l->a, l->work[--l->nwork]);
		unsigned k = named(n, kids);
		for (unsigned j = 0; !rc && j < k; j++)
			rc = follow(l, kids[j]);
	}
	return rc;
}

/* A named offset that must not be used: failed, or not a node at all. */
static bool name_bad(const struct load *l, uint64_t c)
{
	return c && (hl_node_fault(l->a, c, HL_NODE_KIND_ANY, HL_NODE_LEVEL_ANY) !=
			     HL_NODE_OK || bit(l->bad, granule(l, c)));
}

/* Step 3's cascade, to the top: a node naming a dropped one is dropped; a
 * search record's edge to one is unlinked instead. */
static void cascade(struct load *l)
{
	_Atomic uint64_t *e = entries(l->a);
	uint64_t kids[HL_MCTS_EDGES_MAX + 1];
	for (bool changed = true; changed;) {
		changed = false;
		for (uint64_t i = 0; i < entry_count(l->a); i++) {
			uint64_t off = entry_node(atomic_load_explicit(&e[i], memory_order_relaxed));
			if (!off)
				continue;
			struct hl_node *n = hl_node_at(l->a, off);
			unsigned k = named(n, kids);
			bool search = n->kind == HL_NODE_SEARCH;
			for (unsigned j = 0; j < k; j++) {
				if (!name_bad(l, kids[j]))
					continue;
				if (search && j > 0) {
					atomic_fetch_and(&hl_srec_edges(n)[j - 1].link,
							 ~HL_LINK_CHILD_MASK);
					/* and what was seen of the child dropped */
					atomic_store(&hl_srec_seen(n)[j - 1], 0);
					continue;
				}
				drop_entry(l, i, off);
				changed = true;
				break;
			}
		}
	}
	struct hl_ref_slot *r = hl_refs_table(l->a);
	for (uint32_t i = 0; i < hl_refs_capacity(l->a); i++)
		if (name_bad(l, atomic_load(&r[i].root_off))) {
			atomic_store(&r[i].root_off, 0);
			l->info->refs_dropped++;
		}
}

/* ---- step 5: what belonged to processes ---------------------------------------- */

static void clear_losses(const struct hl_node *n)
{
	struct hl_search_edge *e = hl_srec_edges(n);
	for (unsigned i = 0; i < n->count; i++)
		atomic_fetch_and(&e[i].stat, ~(0xffull << HL_EDGE_VLOSS_SHIFT));
}

/* Marks what stays allocated (live nodes, ref names), counts the nodes. */
static void mark_live(struct load *l)
{
	/* live holds what step 4 reached: every indexed node and what they
	 * name; dropped ones stay allocated (leaked, never reused under a
	 * name that survived) */
	_Atomic uint64_t *e = entries(l->a);
	uint64_t nodes = 0, bytes = 0, records = 0;
	for (uint64_t i = 0; i < entry_count(l->a); i++) {
		uint64_t off = entry_node(atomic_load_explicit(&e[i], memory_order_relaxed));
		if (!off)
			continue;
		const struct hl_node *n = hl_node_at(l->a, off);
		bit_set(l->live, granule(l, off));
		int cls = hl_heap_class_of(l->a->hdr, sizeof *n + n->payload_bytes);
		bytes += cls >= 0 ? hl_heap_class_bytes(l->a, (unsigned)cls) : 0;
		if (n->kind == HL_NODE_SEARCH) {
			clear_losses(n);
			records++;
		} else {
			nodes++;
		}
	}
	const struct hl_ref_slot *r = hl_refs_table(l->a);
	for (uint32_t i = 0; i < hl_refs_capacity(l->a); i++) {
		uint64_t off = atomic_load_explicit(&r[i].name_off, memory_order_relaxed);
		if (off && hl_heap_contains(l->a, off, sizeof(struct hl_ref_name)))
			bit_set(l->live, granule(l, off));
	}
	hl_ctr_add(l->a, HL_CTR_NODES, nodes);
	hl_ctr_add(l->a, HL_CTR_STORED_BYTES, bytes);
	hl_sctr_add(l->a, HL_SCTR_RECORDS, records);
}

static void rebuild_free_lists(struct load *l)
{
	hl_arena *a = l->a;
	const struct hl_arena_hdr *h = a->hdr;
	uint64_t unit = h->slab_unit_bytes;
	uint64_t units = l->m->heap_next / unit;
	for (uint64_t u = 0, span = 0; u < units && u < hl_slab_units(h); u++) {
		uint16_t e = hl_slab_entry(a, u);
		unsigned cls = hl_slab_entry_class(e);
		if (span && span--)
			continue; /* inside the slab before, whatever its entry */
		if (e == 0) {
			/* a slab released to the pool (or a grab that died before
			 * marking it): back to the pool (heap.c) */
			hl_heap_pool_unit(a, l->heap_off + u * unit);
			continue;
		}
		if (hl_slab_entry_index(e) != 0 || cls >= h->class_count)
			continue;
		span = hl_class_slab_bytes(h, cls) / unit - 1;
		uint64_t obj = hl_class_bytes(h, cls);
		uint64_t n = hl_class_slab_bytes(h, cls) / obj;
		for (uint64_t j = 0; j < n; j++) {
			uint64_t off = l->heap_off + u * unit + j * obj;
			if (off + obj > l->heap_off + l->m->heap_next ||
			    bit(l->live, granule(l, off)))
				continue;
			hl_heap_free(a, cls, off); /* validates (invariant 1) */
			l->info->objects_freed++;
		}
	}
}

/* ---- the whole ------------------------------------------------------------------ */

static int load_alloc(struct load *l, hl_arena *a)
{
	const struct hl_region *hp = hl_region(a, HL_REGION_HEAP);
	l->a = a;
	l->heap_off = hp->off;
	l->granules = hp->bytes / HL_HEAP_ALIGN;
	uint64_t pages = a->hdr->arena_bytes / PAGE;
	l->bad_page = calloc(pages / 64 + 1, sizeof *l->bad_page);
	l->live = calloc(l->granules / 64 + 1, sizeof *l->live);
	l->bad = calloc(l->granules / 64 + 1, sizeof *l->bad);
	return l->bad_page && l->live && l->bad ? 0 : HL_ENOMEM;
}

static void load_free(struct load *l)
{
	hl_io_buf_free(l->crc);
	free(l->bad_page);
	free(l->live);
	free(l->bad);
	free(l->work);
}

/* Slab map entries past heap_next describe slabs this image does not
 * have: a torn older image (its slab map written by the checkpoint that
 * died, its heap not yet) carries them. A grab there would find them. */
static void trim_slab_map(struct load *l)
{
	const struct hl_arena_hdr *h = l->a->hdr;
	_Atomic uint16_t *map = hl_slab_map(l->a);
	uint64_t units = hl_slab_units(h);
	for (uint64_t u = l->m->heap_next / h->slab_unit_bytes; u < units; u++)
		if (atomic_load_explicit(&map[u], memory_order_relaxed))
			atomic_store_explicit(&map[u], 0, memory_order_relaxed);
}

static int repair(struct load *l)
{
	trim_slab_map(l);
	verify_entries(l);
	int rc = reindex(l);
	if (rc)
		return rc;
	if (l->info->bad_pages || l->info->nodes_dropped)
		cascade(l);
	mark_live(l);
	rebuild_free_lists(l);
	return 0;
}

int hl_ckpt_load(hl_arena *a, const char *dir, const struct hl_io_config *io,
		 struct hl_ckpt_load_info *info, uint64_t *want_bytes)
{
	struct hl_io_config def;
	if (!io) {
		hl_io_config_init(&def);
		io = &def;
	}
	memset(info, 0, sizeof *info);
	if (!a || !dir || a->slot_index < 0)
		return HL_EINVAL;
	uint64_t t0 = hl_now_ns();
	struct hl_ckpt_meta *m = hl_io_buf_alloc(PAGE);
	if (!m)
		return HL_ENOMEM;
	struct load l = {.m = m, .info = info};
	int rc = choose_meta(dir, a, m, info, want_bytes);
	if (!rc && (atomic_load(&a->hdr->heap_next) != 0 || hl_index_used(a) != 0))
		rc = HL_EBUSY; /* not a fresh arena */
	if (!rc && m->heap_next > hl_heap_bytes(a))
		rc = HL_ECORRUPT;
	if (!rc)
		rc = load_alloc(&l, a);
	uint64_t t1 = hl_now_ns();
	if (!rc)
		rc = load_pages(&l, dir, io);
	info->read_ns = hl_now_ns() - t1;
	if (!rc) {
		atomic_store_explicit(&a->hdr->heap_next, m->heap_next,
				      memory_order_release);
		rc = repair(&l);
	}
	if (!rc) {
		info->loaded = true;
		info->ckpt = m->ckpt;
		info->lsn = m->lsn;
		info->segment = m->segment;
	}
	info->ns = hl_now_ns() - t0;
	load_free(&l);
	hl_io_buf_free(m);
	return rc;
}

int hl_ckpt_config(const char *dir, hl_config *cfg)
{
	struct hl_ckpt_meta m[2];
	int rc[2], newest;
	int e = hl_ckpt_meta_read(dir, m, rc, &newest);
	if (e)
		return e;
	if (newest < 0)
		return rc[0] == HL_EVERSION || rc[1] == HL_EVERSION ? HL_EVERSION
								    : HL_ENOENT;
	const struct hl_ckpt_meta *x = &m[newest];
	struct hl_arena_hdr hdr, *h = &hdr;
	hl_ckpt_meta_hdr(x, h);
	hl_config_init(cfg);
	cfg->arena_bytes = x->arena_bytes;
	cfg->chunk_bytes = h->chunk_bytes;
	cfg->index_capacity = h->index_buckets * HL_BUCKET_ENTRIES;
	cfg->max_processes = h->max_processes;
	cfg->refs_capacity = h->refs_capacity;
	cfg->prefault = (h->flags & HL_ARENA_F_PREFAULT) != 0;
	cfg->persist_ring_bytes = x->ring_bytes;
	cfg->durability = x->durability;
	cfg->persist_lag_ns = x->lag_ns;
	return 0;
}

int hl_ckpt_check_images(const char *dir, struct hl_ckpt_check *out)
{
	memset(out, 0, sizeof *out);
	int rc = hl_ckpt_meta_read(dir, out->meta, out->meta_rc, &out->newest);
	if (rc || out->newest < 0)
		return rc;
	const struct hl_ckpt_meta *m = &out->meta[out->newest];
	struct hl_io_config io;
	hl_io_config_init(&io);
	struct hl_io *img;
	if ((rc = image_open(dir, m->image, &io, &img)))
		return rc;
	uint64_t crc_bytes = hl_align_up(m->pages * sizeof(uint32_t), PAGE);
	uint32_t *crc = hl_io_buf_alloc(crc_bytes);
	unsigned char *buf = hl_io_buf_alloc(PAGE);
	rc = crc && buf ? hl_io_pread(img, crc, crc_bytes, m->crc_off) : HL_ENOMEM;
	for (uint64_t p = 0; !rc && p < m->pages; p++) {
		if (!crc[p])
			continue;
		rc = hl_io_pread(img, buf, PAGE, p * PAGE);
		out->pages++;
		out->bad_pages += !rc && hl_ckpt_page_crc(p, buf) != crc[p];
	}
	hl_io_buf_free(crc);
	hl_io_buf_free(buf);
	hl_io_close(img);
	return rc;
}
