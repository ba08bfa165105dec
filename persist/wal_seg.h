/*
 * wal_seg.h - the WAL as a chain of segment files in DIR (wal_seg.c).
 */
#ifndef HL_PERSIST_WAL_SEG_H
#define HL_PERSIST_WAL_SEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wal.h"

/* DIR/wal.NNNNNN of segment seg (>= 1). */
int hl_walseg_path(const char *dir, uint64_t seg, char *buf, size_t len);

/* The lowest and highest segment numbers in DIR and how many there are
 * (all 0: none, or no DIR). */
int hl_walseg_list(const char *dir, uint64_t *lo, uint64_t *hi, uint64_t *count);

/* Segment seg's header: HL_ENOENT, HL_ECORRUPT, HL_EVERSION, HL_EMISMATCH. */
int hl_walseg_header(const char *dir, uint64_t seg, uint64_t geometry,
		     struct hl_wal_info *info);

/* Makes segment seg a new, empty WAL generation starting at
 * cfg->start_lsn: wal.spare renamed into place and recycled when there is
 * one of the right size, else a new file; DIR is synced after. */
int hl_walseg_create(const char *dir, uint64_t seg,
		     const struct hl_wal_config *cfg, struct hl_wal **out);

/* Makes wal.spare, preallocated, when there is none (off the persister's
 * path: the checkpointer calls it). Racing a rotation is harmless: the
 * spare is renamed into place whole or not at all. */
int hl_walseg_prepare_spare(const char *dir, uint64_t file_bytes,
			    const struct hl_io_config *io);

/* Retires segment seg: kept as wal.spare if there is none, else deleted. */
int hl_walseg_retire(const char *dir, uint64_t seg);

int hl_walseg_sync_dir(const char *dir);

struct hl_walseg_scan {
	uint64_t records;      /* valid records delivered */
	uint64_t end_lsn;      /* just past the last valid one */
	uint64_t last_seg;     /* the last segment read (0: none) */
	uint64_t next_seg;     /* the one after it */
	uint64_t segments;     /* segments read */
	enum hl_wal_stop stop; /* why the last one's records stopped */
	bool broken;           /* a later segment does not continue the chain */
};

/* Delivers every valid record of segments from_seg, from_seg + 1, ...
 * (below upto_seg when it is not 0) to fn, following the chain from
 * from_lsn (invariant 1). Read-only. HL_ENOENT etc. only for from_seg's
 * own header; a later bad segment ends the chain (broken). */
int hl_walseg_scan(const char *dir, uint64_t from_seg, uint64_t from_lsn,
		   uint64_t geometry, uint64_t upto_seg, hl_wal_record_fn *fn,
		   void *ctx, struct hl_walseg_scan *out);

#endif /* HL_PERSIST_WAL_SEG_H */
