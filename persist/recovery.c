/*
 * recovery.c - an arena rebuilt from DIR: the newest checkpoint's image
 * (ckpt_recover.c), then the WAL's segments from that checkpoint's L
 * (wal_seg.c), replayed through apply (workers/replay.c) and stopping at
 * the first record that fails.
 *
 * Where replay starts:
 *   a checkpoint loaded     its segment and L (the meta page's)
 *   none, segment 1 there   segment 1 from its start: the whole history
 *   none, segment 1 gone    HL_ECORRUPT: both meta pages are damaged and
 *                           the WAL they replaced was recycled; nothing
 *                           complete can be rebuilt (said, never guessed)
 *
 * Invariants:
 *  1. Read-only recovery (hl_recover_dir, hl_recover_into) never writes
 *     DIR; only the persister's (hl_persist_recover_open) seals a torn
 *     tail and retires segments past a break, so its appends continue the
 *     chain that a later recovery follows.
 *  2. Replay applies records with LSN >= L only (a record below L is in
 *     the image; replaying it would be a dedup hit anyway).
 *  3. The recovering handle pushes nothing while it replays (pctl is NULL
 *     meanwhile): the records are in the WAL already.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "persist_rec.h"
#include "recovery.h"
#include "shm.h"
#include "wal_seg.h"

struct replay_ctx {
	hl_persist_apply_fn *apply;
	void *ctx;
	uint64_t records, from_lsn;
};

static int replay_one(void *ctx, uint64_t lsn, unsigned type,
		      const void *payload, uint32_t len)
{
	struct replay_ctx *r = ctx;
	if (type != HL_WAL_TYPE_PREC || lsn < r->from_lsn)
		return 0; /* invariant 2 */
	r->records++;
	return r->apply ? r->apply(r->ctx, payload, len) : 0;
}

/* Where replay starts (the table above); *none: DIR has no WAL at all. */
static int wal_start(const char *dir, uint64_t geometry,
		     const struct hl_ckpt_load_info *ck, uint64_t *seg,
		     uint64_t *lsn, uint64_t *lo)
{
	uint64_t hi, n;
	int rc = hl_walseg_list(dir, lo, &hi, &n);
	if (rc)
		return rc;
	if (ck->segment) {
		*seg = ck->segment;
		*lsn = ck->lsn;
		if (!*lo || *lo > *seg)
			*lo = *seg;
		return 0;
	}
	*seg = 1;
	*lsn = 0;
	if (!*lo) {
		*lo = 1;
		return 0;
	}
	if (*lo != 1)
		return HL_ECORRUPT; /* the table's last row */
	struct hl_wal_info wi;
	rc = hl_walseg_header(dir, 1, geometry, &wi);
	if (!rc)
		*lsn = wi.start_lsn;
	return rc;
}

static void fill_ckpt(struct hl_recovery_info *info,
		      const struct hl_ckpt_load_info *li)
{
	info->ckpt = li->loaded ? li->ckpt : 0; /* its image loaded */
	info->ckpt_lsn = li->lsn;
	info->image_ns = li->ns;
	info->image_read_ns = li->read_ns;
	info->pages_read = li->pages_read;
	info->bad_pages = li->bad_pages;
	info->nodes_dropped = li->nodes_dropped;
	info->refs_dropped = li->refs_dropped;
	info->nodes_reindexed = li->nodes_reindexed;
	info->fell_back = li->fell_back;
}

/* The newest checkpoint's L and segment, without its image: read-only
 * scans, and an arena that holds data already (a persister restarted on
 * the arena DIR persisted: it has everything up to the checkpoint). */
static int ckpt_position(const char *dir, struct hl_ckpt_load_info *li)
{
	struct hl_ckpt_meta m[2];
	int mrc[2], newest;
	int rc = hl_ckpt_meta_read(dir, m, mrc, &newest);
	if (!rc && newest >= 0)
		*li = (struct hl_ckpt_load_info){.ckpt = m[newest].ckpt,
			.lsn = m[newest].lsn, .segment = m[newest].segment};
	return rc;
}

/* The checkpoint (if a is given and DIR has one), then the WAL scan. */
static int recover(hl_arena *a, const char *dir, uint64_t geometry,
		   const struct hl_io_config *io, hl_persist_apply_fn *apply,
		   void *apply_ctx, struct hl_recovery_info *info,
		   struct hl_walseg_scan *sc, uint64_t *lo, uint64_t *want_bytes)
{
	uint64_t t0 = hl_now_ns();
	struct hl_ckpt_load_info li = {0};
	int rc = a ? hl_ckpt_load(a, dir, io, &li, want_bytes) : HL_EBUSY;
	if (rc == HL_ENOENT)
		rc = 0; /* no checkpoint: the WAL from its start */
	else if (rc == HL_EBUSY)
		rc = ckpt_position(dir, &li);
	if (rc)
		return rc;
	fill_ckpt(info, &li);
	uint64_t seg, lsn;
	if ((rc = wal_start(dir, geometry, &li, &seg, &lsn, lo)))
		return rc;
	uint64_t t1 = hl_now_ns();
	struct replay_ctx r = {apply, apply_ctx, 0, lsn};
	struct hl_persist_ctl *ctl = a ? a->pctl : NULL;
	if (a)
		a->pctl = NULL; /* invariant 3 */
	rc = hl_walseg_scan(dir, seg, lsn, geometry, 0, replay_one, &r, sc);
	if (a)
		a->pctl = ctl;
	info->existed = li.segment || sc->segments > 0;
	info->records = r.records;
	info->end_lsn = sc->segments ? sc->end_lsn : lsn;
	info->stop = sc->stop;
	info->segments = sc->segments;
	info->wal_ns = hl_now_ns() - t1;
	info->ns = hl_now_ns() - t0;
	if (!sc->last_seg) /* nothing read: appends start the chain at L */
		sc->next_seg = seg;
	return rc;
}

/* Invariant 1: segments past a break would never be read again. */
static void retire_after(const char *dir, uint64_t last)
{
	uint64_t lo, hi, n;
	if (hl_walseg_list(dir, &lo, &hi, &n) != 0)
		return;
	for (uint64_t s = hi; s > last && s >= lo; s--)
		hl_walseg_retire(dir, s);
}

int hl_persist_recover_open(hl_arena *a, const char *dir,
			    const struct hl_wal_config *wc,
			    hl_persist_apply_fn *apply, void *apply_ctx,
			    struct hl_recovery_info *info,
			    struct hl_persist_log *log)
{
	memset(log, 0, sizeof *log);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return hl_io_errno_rc(errno);
	struct hl_walseg_scan sc;
	uint64_t lo = 0;
	int rc = recover(a, dir, wc->geometry, &wc->io, apply, apply_ctx, info,
			 &sc, &lo, NULL);
	if (rc)
		return rc;
	uint64_t t0 = hl_now_ns();
	retire_after(dir, sc.last_seg ? sc.last_seg : sc.next_seg - 1);
	log->first_seg = lo;
	if (!sc.last_seg) {
		struct hl_wal_config c = *wc;
		c.start_lsn = info->end_lsn;
		log->seg = sc.next_seg;
		log->seg_start = c.start_lsn;
		rc = hl_walseg_create(dir, log->seg, &c, &log->wal);
	} else {
		char path[PATH_MAX];
		struct hl_wal_info wi;
		log->seg = sc.last_seg;
		rc = hl_walseg_path(dir, log->seg, path, sizeof path);
		if (!rc) /* seals a torn tail (invariant 1) */
			rc = hl_wal_open(path, wc, NULL, NULL, NULL, &log->wal);
		if (!rc) {
			hl_wal_info_get(log->wal, &wi);
			log->seg_start = wi.start_lsn;
		}
	}
	info->ns += hl_now_ns() - t0;
	return rc;
}

int hl_recover_dir(const char *dir, uint32_t chunk_bytes,
		   hl_persist_apply_fn *apply, void *apply_ctx,
		   struct hl_recovery_info *info)
{
	memset(info, 0, sizeof *info);
	struct hl_walseg_scan sc;
	uint64_t lo;
	int rc = recover(NULL, dir, hl_persist_geometry(chunk_bytes), NULL, apply,
			 apply_ctx, info, &sc, &lo, NULL);
	if (!rc && !info->existed)
		rc = HL_ENOENT;
	return rc;
}

int hl_recover_into(hl_arena *a, const char *dir, hl_persist_apply_fn *apply,
		    void *apply_ctx, struct hl_recovery_info *info,
		    uint64_t *want_bytes)
{
	memset(info, 0, sizeof *info);
	if (!a || !dir)
		return HL_EINVAL;
	struct hl_io_config io;
	hl_io_config_init(&io);
	struct hl_walseg_scan sc;
	uint64_t lo;
	int rc = recover(a, dir, hl_persist_geometry(a->chunk_bytes), &io, apply,
			 apply_ctx, info, &sc, &lo, want_bytes);
	if (!rc && !info->existed)
		rc = HL_ENOENT;
	return rc;
}

int hl_persist_dir_chunk(const char *dir, uint32_t *chunk_bytes)
{
	uint64_t lo, hi, n;
	int rc = hl_walseg_list(dir, &lo, &hi, &n);
	if (rc)
		return rc;
	if (!lo) { /* no WAL: a checkpoint's geometry, if any */
		hl_config cfg;
		if ((rc = hl_ckpt_config(dir, &cfg)))
			return rc;
		*chunk_bytes = cfg.chunk_bytes;
		return 0;
	}
	struct hl_wal_info wi;
	if ((rc = hl_walseg_header(dir, lo, 0, &wi)))
		return rc;
	uint32_t c = (uint32_t)wi.geometry;
	if (hl_persist_geometry(c) != wi.geometry || c < HL_CHUNK_BYTES_MIN ||
	    c > HL_CHUNK_BYTES_MAX || (c & (c - 1)))
		return HL_EMISMATCH; /* not a persister's WAL */
	*chunk_bytes = c;
	return 0;
}

int hl_recover_dir_all(const char *dir, uint32_t chunk_bytes,
		       hl_persist_apply_fn *apply, void *apply_ctx,
		       struct hl_recovery_info *info)
{
	memset(info, 0, sizeof *info);
	uint64_t lo, hi, n, geometry = hl_persist_geometry(chunk_bytes);
	int rc = hl_walseg_list(dir, &lo, &hi, &n);
	if (rc)
		return rc;
	if (!lo)
		return HL_ENOENT;
	struct hl_wal_info wi;
	if ((rc = hl_walseg_header(dir, lo, geometry, &wi)))
		return rc;
	uint64_t t0 = hl_now_ns();
	struct replay_ctx r = {apply, apply_ctx, 0, 0};
	struct hl_walseg_scan sc;
	rc = hl_walseg_scan(dir, lo, wi.start_lsn, geometry, 0, replay_one, &r, &sc);
	info->existed = true;
	info->records = r.records;
	info->end_lsn = sc.end_lsn;
	info->stop = sc.stop;
	info->segments = sc.segments;
	info->ns = info->wal_ns = hl_now_ns() - t0;
	return rc;
}
