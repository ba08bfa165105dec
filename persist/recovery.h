/*
 * recovery.h - recovery's internal door for the persister (recovery.c).
 */
#ifndef HL_PERSIST_RECOVERY_H
#define HL_PERSIST_RECOVERY_H

#include "persister.h"
#include "wal.h"

/* The WAL the persister appends to after recovery. */
struct hl_persist_log {
	struct hl_wal *wal;   /* the last segment, positioned at its end */
	uint64_t seg;         /* its number */
	uint64_t seg_start;   /* its first LSN */
	uint64_t first_seg;   /* the oldest segment DIR keeps */
};

/* Recovers DIR into a (its checkpoint, if any, then the WAL after it,
 * published without logging), seals the WAL's torn tail, retires segments
 * past a break in the chain, and opens the last segment for appending (a
 * new DIR: segment 1, created). Fills info. */
int hl_persist_recover_open(hl_arena *a, const char *dir,
			    const struct hl_wal_config *wc,
			    hl_persist_apply_fn *apply, void *apply_ctx,
			    struct hl_recovery_info *info,
			    struct hl_persist_log *log);

#endif /* HL_PERSIST_RECOVERY_H */
