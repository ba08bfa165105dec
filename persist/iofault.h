/*
 * iofault.h - the fault layer the I/O tests put under the write engine.
 *
 * A struct hl_iofault passed in hl_io_config.fault sees every write and
 * every flush before the engine issues it. It can
 *
 *   - fail the Nth write or the Nth flush (1-based, counted over the
 *     layer's life) with an errno (ENOSPC, EIO, ...), once;
 *   - make the engine believe io_uring or O_DIRECT is refused (O_DIRECT
 *     at open, or at the first write), so the fallbacks run on a machine
 *     that has both;
 *   - record every write since the last flush the engine saw complete, with
 *     the bytes it overwrote, and on hl_iofault_crash leave the file as a
 *     power loss could: each of those writes kept whole, dropped, or torn
 *     (a prefix of its sectors kept, each sector after it old, zeroed or
 *     garbled), as SQLite's crash tests do.
 *
 * Tests only: nothing in the library creates one.
 */
#ifndef HL_PERSIST_IOFAULT_H
#define HL_PERSIST_IOFAULT_H

#include <stdbool.h>
#include <stdint.h>

/* The unit a power loss tears at: the smallest write a disk makes atomic. */
#define HL_IOFAULT_SECTOR_BYTES 512u

struct hl_iofault_config {
	uint64_t write_fail_at;   /* 0: never */
	int write_errno;
	uint64_t flush_fail_at;   /* 0: never */
	int flush_errno;
	bool refuse_uring;
	bool refuse_direct;       /* at open */
	bool refuse_direct_writes; /* open takes O_DIRECT, writes get EINVAL */
	bool record;              /* keep what a crash may tear */
};

struct hl_iofault_crash_info {
	uint64_t writes;          /* recorded, not durable */
	uint64_t kept, dropped, torn;
	uint64_t sectors_zeroed, sectors_garbled, sectors_old;
};

int hl_iofault_new(const struct hl_iofault_config *cfg, struct hl_iofault **out);
void hl_iofault_free(struct hl_iofault *f);

/* Writes and flushes seen so far. */
uint64_t hl_iofault_writes(const struct hl_iofault *f);
uint64_t hl_iofault_flushes(const struct hl_iofault *f);

/* Applies a power loss to path (the engine must be closed): every write
 * recorded since the last completed flush is kept, dropped or torn, chosen
 * by seed. Then forgets them. 0 or HL_E*. */
int hl_iofault_crash(struct hl_iofault *f, const char *path, uint64_t seed,
		     struct hl_iofault_crash_info *info);

/* ---- the engine's side (io.c) --------------------------------------------- */

bool hl_iofault_refuses_uring(const struct hl_iofault *f);
bool hl_iofault_refuses_direct(const struct hl_iofault *f);
bool hl_iofault_refuses_direct_writes(const struct hl_iofault *f);
/* Before a write: 0 to go on, or the errno to fail it with. fd is the
 * engine's, read to save the bytes the write replaces. */
int hl_iofault_on_write(struct hl_iofault *f, int fd, const void *buf,
			uint64_t len, uint64_t off);
/* Before a batch's flush: 0 or the errno to fail it with. */
int hl_iofault_on_flush(struct hl_iofault *f);
/* The engine saw a batch complete: everything recorded is durable. */
void hl_iofault_on_durable(struct hl_iofault *f);

#endif
