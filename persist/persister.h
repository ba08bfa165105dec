/*
 * persister.h - the persister: the one consumer of an arena's persist
 * ring, writing its records to the WAL in DIR with group commit and
 * telling committers when they are durable; and recovery, which reads
 * DIR's WAL back into an arena.
 *
 * DIR holds the WAL as segments wal.000001, wal.000002, ... (wal.h,
 * wal_seg.c) and the checkpoints: ckpt.meta, ckpt.0, ckpt.1
 * (checkpoint.h). The WAL's geometry word is the chunk size (records are
 * logical, persist_rec.h: any arena of the same chunk size can take them);
 * the checkpoints fix the whole geometry.
 */
#ifndef HL_PERSIST_PERSISTER_H
#define HL_PERSIST_PERSISTER_H

#include <stdbool.h>
#include <stdint.h>

#include "helios.h"
#include "io.h"
#include "wal.h"

struct hl_persister;

/* The first WAL segment of a new DIR (wal_seg.c names the others). */
#define HL_PERSIST_WAL_NAME "wal.000001"
/* A WAL segment's preallocation by default: 256 MiB. */
#define HL_PERSIST_WAL_BYTES_DEFAULT (256ull << 20)

struct hl_persister_config {
	uint64_t wal_bytes;     /* each WAL segment's size; 0: default */
	struct hl_io_config io; /* backend, O_DIRECT, sync, fault layer */
	/* a checkpoint every this long (0: HL_CKPT_INTERVAL_NS_DEFAULT; at
	 * most HL_CKPT_INTERVAL_NS_MAX, or UINT64_MAX: never by time, an
	 * HL_EINVAL else), and whenever the WAL segment is half
	 * full, and at hl_persister_stop (unless no_final_ckpt) */
	uint64_t ckpt_interval_ns;
	bool no_final_ckpt;
	/* no checkpoints at all (the WAL-only suites): no checkpointer, no
	 * WAL-usage trigger; a full segment is followed by a new one */
	bool no_ckpt;
};

void hl_persister_config_init(struct hl_persister_config *cfg);

/* The geometry word of an arena's WAL. */
uint64_t hl_persist_geometry(uint32_t chunk_bytes);

/* Applies one persist record to an arena (workers/replay.c provides it);
 * recovery hands it every valid record in log order. */
typedef int hl_persist_apply_fn(void *ctx, const void *rec, uint32_t len);

struct hl_recovery_info {
	bool existed;          /* DIR held a WAL or a checkpoint */
	uint64_t records;      /* valid records replayed */
	uint64_t end_lsn;      /* where the log ends */
	enum hl_wal_stop stop; /* why the scan stopped */
	uint64_t ns;           /* the whole recovery */
	/* the checkpoint loaded first (ckpt 0: none, the WAL from its start) */
	uint64_t ckpt, ckpt_lsn, segments;
	uint64_t image_ns, wal_ns;
	uint64_t image_read_ns; /* of image_ns: reading and checking pages */
	uint64_t pages_read, bad_pages, nodes_dropped, refs_dropped,
		 nodes_reindexed;
	bool fell_back;        /* the newest meta page failed: the older one */
};

/*
 * Opens DIR's WAL for the persister of arena a, creating DIR and the WAL
 * when there is none; an existing WAL is first replayed into a through
 * apply (recovery: a's handle pushes nothing while it replays), its torn
 * tail sealed. Then starts the persister thread, which drains a's ring
 * until hl_persister_stop. Errors: HL_EINVAL (a not persisted), HL_EEXIST
 * (another persister runs on a), HL_EMISMATCH (another chunk size),
 * HL_EVERSION, HL_ECORRUPT (a damaged WAL header), HL_EIO, HL_ENOSPC,
 * HL_EACCES, HL_ENOMEM, or apply's error.
 */
int hl_persister_start(hl_arena *a, const char *dir,
		       const struct hl_persister_config *cfg,
		       hl_persist_apply_fn *apply, void *apply_ctx,
		       struct hl_recovery_info *rec, struct hl_persister **out);

/* Drains what is in the ring, flushes it, stops the threads, takes a
 * final checkpoint, closes the WAL. Returns the sticky error if the
 * persister had one, else 0. */
int hl_persister_stop(struct hl_persister *p);

/* Takes a checkpoint now (on the checkpoint thread; waits for it): 0, the
 * sticky error, or the checkpoint's. *ckpt gets its number (may be NULL). */
int hl_persister_checkpoint(struct hl_persister *p, uint64_t *ckpt);

/* Stops the thread at once, flushing nothing more and leaving the state
 * RUNNING: what a crash of the persister leaves (the power-loss tests run
 * hl_iofault_crash after it). Committers waiting are not woken. */
void hl_persister_halt(struct hl_persister *p);

/* The chunk size DIR's WAL was written for (its geometry word): 0,
 * HL_ENOENT, HL_ECORRUPT, HL_EVERSION, HL_EMISMATCH (not a persister's). */
int hl_persist_dir_chunk(const char *dir, uint32_t *chunk_bytes);

/* Replays DIR's WAL from its newest checkpoint's L (from its start
 * without one) to apply, without changing DIR. Complete by itself only for
 * a DIR without checkpoints; with one, the image comes first
 * (hl_recover_into). HL_ENOENT: no WAL. */
int hl_recover_dir(const char *dir, uint32_t chunk_bytes,
		   hl_persist_apply_fn *apply, void *apply_ctx,
		   struct hl_recovery_info *info);

/* Every record of every WAL segment DIR still holds, from the oldest
 * (helios check --persist): as hl_recover_dir otherwise. */
int hl_recover_dir_all(const char *dir, uint32_t chunk_bytes,
		       hl_persist_apply_fn *apply, void *apply_ctx,
		       struct hl_recovery_info *info);

/* Recovers DIR into a, a fresh arena (of hl_ckpt_config's geometry when
 * DIR has a checkpoint): the checkpoint's image, then the WAL after it,
 * without changing DIR (helios recover). Errors as hl_ckpt_load's and
 * hl_recover_dir's; *want_bytes as hl_ckpt_load's. */
int hl_recover_into(hl_arena *a, const char *dir, hl_persist_apply_fn *apply,
		    void *apply_ctx, struct hl_recovery_info *info,
		    uint64_t *want_bytes);

#endif /* HL_PERSIST_PERSISTER_H */
