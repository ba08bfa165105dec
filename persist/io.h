/*
 * io.h - the persistence write engine: batches of aligned writes made
 * durable, through io_uring with O_DIRECT, or through the fallbacks.
 *
 * The WAL (and later checkpoints) hand the engine one batch at a time: up to
 * HL_IO_BATCH_WRITES_MAX buffers, each written at its file offset, and the
 * whole batch made durable. hl_io_submit starts a batch and returns; the
 * caller goes on filling its next buffer (group commit) and learns of the
 * batch's end from hl_io_poll. See io.c for the design. A handle belongs
 * to one thread at a time.
 *
 * Errors: HL_EINVAL (arguments, misaligned direct buffers), HL_ENOMEM,
 * HL_EACCES, HL_ENOENT, HL_EBUSY (a batch is already in flight), HL_EFULL
 * (the device said ENOSPC or EDQUOT), HL_EIO (any other failed write or
 * flush). A failed write or flush is sticky: every later submit and poll
 * returns the same code, and hl_io_stats shows it with its errno.
 */
#ifndef HL_PERSIST_IO_H
#define HL_PERSIST_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hl_limits.h"

struct hl_iofault;
struct hl_io;

enum hl_io_backend {
	HL_IO_BACKEND_AUTO = 0, /* io_uring, else pwrite (reported once) */
	HL_IO_BACKEND_URING,    /* io_uring; refused: pwrite (reported once) */
	HL_IO_BACKEND_PWRITE,   /* synchronous pwritev2 / pwrite */
};

enum hl_io_direct {
	HL_IO_DIRECT_AUTO = 0,  /* O_DIRECT, else buffered (reported once) */
	HL_IO_DIRECT_OFF,       /* buffered writes through the page cache */
};

enum hl_io_sync {
	HL_IO_SYNC_AUTO = 0,    /* HL_IO_SYNC_FDATASYNC (io.c says why) */
	HL_IO_SYNC_DSYNC,       /* RWF_DSYNC on every write */
	HL_IO_SYNC_FDATASYNC,   /* writes, then one datasync after them
				   (io_uring: IORING_OP_FSYNC linked) */
};

/* Bits of hl_io_stats.fallbacks. */
#define HL_IO_FELL_BACK_URING  1u /* io_uring refused: pwrite in use */
#define HL_IO_FELL_BACK_DIRECT 2u /* O_DIRECT refused: buffered in use */
#define HL_IO_FELL_BACK_DSYNC  4u /* RWF_DSYNC refused: fdatasync in use */

/* Called once per fallback, with a one-line message; may be NULL. */
typedef void hl_io_report_fn(void *ctx, const char *msg);

struct hl_io_config {
	enum hl_io_backend backend;
	enum hl_io_direct direct;
	enum hl_io_sync sync;
	hl_io_report_fn *report;
	void *report_ctx;
	struct hl_iofault *fault; /* tests only (iofault.h); NULL otherwise */
};

/* Open flags. */
#define HL_IO_CREATE 1u    /* create the file (O_EXCL) */
#define HL_IO_RDONLY 2u    /* no writes (scanning, recovery) */

struct hl_io_write {
	const void *buf;  /* HL_IO_ALIGN-aligned when direct */
	uint64_t len;     /* a multiple of HL_IO_ALIGN when direct */
	uint64_t off;     /* a multiple of HL_IO_ALIGN when direct */
};

struct hl_io_stats {
	enum hl_io_backend backend; /* in use: URING or PWRITE */
	bool direct;                /* O_DIRECT in use */
	enum hl_io_sync sync;       /* in use: DSYNC or FDATASYNC */
	unsigned fallbacks;         /* HL_IO_FELL_BACK_* */
	char fallback_msg[256];     /* the messages reported, "; "-joined */
	int error;                  /* sticky: 0 or HL_E* */
	int error_errno;            /* the errno behind it */
	uint64_t batches, writes, write_bytes;
	uint64_t batch_ns_total, batch_ns_max; /* submit to completion seen */
};

void hl_io_config_init(struct hl_io_config *cfg);

/* Opens (or with HL_IO_CREATE creates) path. prealloc_bytes > 0 reserves
 * and zero-fills the file up to that size (durably; bytes already there
 * are kept) so that later writes below it change no file metadata;
 * HL_EFULL if the disk is full. */
int hl_io_open(const char *path, unsigned flags, uint64_t prealloc_bytes,
	       const struct hl_io_config *cfg, struct hl_io **out);

/* Starts writing the n buffers and making them durable. They must stay
 * unchanged until hl_io_poll reports the batch done. HL_EBUSY if a batch is
 * in flight; the sticky error if there is one. */
int hl_io_submit(struct hl_io *io, const struct hl_io_write *w, unsigned n);

/* Reaps the batch in flight: 0 when none is in flight any more (it
 * completed, durable), HL_EBUSY when wait is false and it is still running,
 * or the sticky error. */
int hl_io_poll(struct hl_io *io, bool wait);
bool hl_io_in_flight(const struct hl_io *io);

/* Synchronous read of [off, off + len); bytes past the end read as zero.
 * With O_DIRECT, buf, len and off must be aligned. */
int hl_io_pread(struct hl_io *io, void *buf, uint64_t len, uint64_t off);

/* The file's size in bytes, or a negative HL_E*. */
int64_t hl_io_file_bytes(const struct hl_io *io);

void hl_io_stats_get(const struct hl_io *io, struct hl_io_stats *out);

/* Waits for a batch in flight (its completion is not reported to a fault
 * layer: a process that closes without polling never saw it durable). */
void hl_io_close(struct hl_io *io);

/* HL_IO_ALIGN-aligned, zeroed buffers for direct writes. */
void *hl_io_buf_alloc(uint64_t bytes);
void hl_io_buf_free(void *p);

/* Maps an errno to HL_EFULL (ENOSPC, EDQUOT), HL_EACCES, HL_ENOENT,
 * HL_EEXIST, HL_ENOMEM or HL_EIO. */
int hl_io_errno_rc(int err);

#endif
