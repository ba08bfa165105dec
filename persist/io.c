/*
 * io.c - the write engine: batches of aligned writes made durable.
 *
 * NOTES ON THE DESIGN OF THE ENGINE
 *
 * A batch is up to HL_IO_BATCH_WRITES_MAX (buffer, length, offset) writes
 * that complete together and are durable when the batch is. One batch is
 * in flight at a time: the WAL fills its second buffer while the first is
 * written, and the next flush covers everything appended meanwhile (group
 * commit: one device flush per batch, however many records it carries).
 *
 * Backends (hl_io_stats.backend), chosen at open:
 *
 *   URING   the writes go into one io_uring submission; hl_io_poll reaps
 *           their completions. The caller does not block while the device
 *           works.
 *   PWRITE  pwritev2 at submit, synchronously; the batch is complete when
 *           hl_io_submit returns and hl_io_poll just collects it. Used when
 *           io_uring_queue_init fails (seccomp in containers answers EPERM,
 *           old kernels ENOSYS) or when configured.
 *
 * and, independently, O_DIRECT (no page-cache copy, no writeback later) or
 * buffered writes when the file system refuses O_DIRECT: at open (EINVAL:
 * tmpfs before Linux 6.6, some FUSE and network file systems), or by
 * failing the first direct write with EINVAL, which is then done again
 * buffered on a reopened descriptor (drop_direct; only before any batch
 * completed, so a later EINVAL is an error like any other).
 *
 * Durability (hl_io_stats.sync). O_DIRECT alone bypasses the page cache but
 * not the device's volatile write cache, so every batch ends with a
 * device-level flush, one of:
 *
 *   DSYNC      RWF_DSYNC on each write. On a device with FUA the kernel
 *              sends the data as FUA writes; else one cache flush after
 *              them. One round trip per write, and writes of one batch
 *              run in parallel.
 *   FDATASYNC  the writes, then one datasync: with io_uring an
 *              IORING_OP_FSYNC (IORING_FSYNC_DATASYNC) linked after the
 *              writes with IOSQE_IO_LINK, so it runs only once they have
 *              all completed; with pwrite, fdatasync(2). Two round trips,
 *              and the linked writes run one after another.
 *
 * The default is FDATASYNC, from bench/wal_speed.c on this machine
 * (virtio disk, volatile write cache, no FUA, ext4; 2026-12-01, medians of
 * 3-5 runs interleaved across backends). On a quiet machine the two are
 * within 10%: a one-record flush took 72-86 us with RWF_DSYNC and 73-105
 * us with the linked fsync, 256 KiB flushes ran at 1.24-1.61 GB/s either
 * way. With the CPUs saturated by other processes (load average 7-9 on 2
 * cores) - which is the persister's normal life, beside workers that keep
 * every core busy - io_uring with the linked IORING_OP_FSYNC kept its
 * one-record flush at 74-95 us p50 in all four such runs, while RWF_DSYNC
 * writes (io_uring or pwritev2), pwrite + fdatasync and buffered writes
 * went to 0.8-4 ms p50, most often 4.0 ms exactly (one scheduler tick at
 * HZ=250: something on those paths sleeps a tick; we did not trace what).
 * DSYNC stays selectable: on a device with real FUA it saves the second
 * request. FDATASYNC also suits checkpoints'
 * many-write batches, where one flush beats one per write. When
 * pwritev2 refuses RWF_DSYNC (EOPNOTSUPP/ENOSYS/EINVAL) the PWRITE backend
 * uses fdatasync instead and reports it; io_uring has taken RWF_DSYNC
 * since it exists (5.1), so it needs no such probe.
 *
 * Every fallback is reported once, through cfg->report and in
 * hl_io_stats.fallbacks / fallback_msg, and each can be forced by the
 * configuration (or by a fault layer refusing io_uring or O_DIRECT) so the
 * tests run every backend.
 *
 * Batch state machine (struct batch):
 *
 *   IDLE --hl_io_submit--> IN_FLIGHT --hl_io_poll sees last CQE--> IDLE
 *     ^                        |
 *     |                        +--an error--> FAILED (sticky; never left)
 *     +-- PWRITE: submit does the writes and leaves IN_FLIGHT with the
 *         result, so poll's contract is the same for both backends.
 *
 * Invariants:
 *   1. At most one batch is in flight; its buffers belong to the kernel
 *      until hl_io_poll returns something other than HL_EBUSY.
 *   2. A batch is reported complete (poll returns 0) only after every byte
 *      of it was written and its device flush returned success.
 *   3. Once a write or flush fails, io->error is set and never cleared: a
 *      failed fsync may have dropped dirty pages the kernel will not write
 *      again (the PostgreSQL "fsyncgate" lesson), so nothing after it can
 *      be called durable.
 *   4. A short write or a link broken by one (-ECANCELED) is not an error:
 *      the remainder is written synchronously and flushed, keeping 2.
 *
 * Memory orders: none of our own. io_uring's submission and completion
 * rings are shared with the kernel; liburing's io_uring_submit and
 * io_uring_peek_cqe carry the barriers that pair with the kernel's.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io.h"
#include "iofault.h"
#include "shm.h"

/* user_data of the linked datasync; writes use their batch index. */
#define UD_FSYNC HL_IO_BATCH_WRITES_MAX
#define RING_ENTRIES (2u * HL_IO_BATCH_WRITES_MAX)
#define ZERO_FILL_BYTES (1u << 20)

enum batch_state { BATCH_IDLE, BATCH_IN_FLIGHT };

struct batch {
	enum batch_state state;
	unsigned n;
	unsigned pending;        /* CQEs not reaped yet (URING) */
	bool finish_sync;        /* short or canceled: finish synchronously */
	int rc;                  /* 0 or the first error, HL_E* */
	int err;                 /* its errno */
	uint64_t t0_ns;
	struct hl_io_write w[HL_IO_BATCH_WRITES_MAX];
	uint64_t done[HL_IO_BATCH_WRITES_MAX]; /* bytes known written */
};

struct hl_io {
	int fd;
	bool readonly;
	char *path;              /* to reopen without O_DIRECT */
	struct hl_io_config cfg;
	struct hl_io_stats st;
	struct io_uring ring;
	bool ring_ok;
	struct batch b;
};

void hl_io_config_init(struct hl_io_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
}

int hl_io_errno_rc(int err)
{
	switch (err) {
	case ENOSPC: case EDQUOT: return HL_EFULL;
	case EACCES: case EPERM: return HL_EACCES;
	case ENOENT: return HL_ENOENT;
	case EEXIST: return HL_EEXIST;
	case ENOMEM: return HL_ENOMEM;
	default: return HL_EIO;
	}
}

void *hl_io_buf_alloc(uint64_t bytes)
{
	void *p = NULL;
	if (bytes == 0 || bytes > SIZE_MAX - HL_IO_ALIGN)
		return NULL;
	bytes = hl_align_up(bytes, HL_IO_ALIGN);
	if (posix_memalign(&p, HL_IO_ALIGN, bytes))
		return NULL;
	memset(p, 0, bytes);
	return p;
}

void hl_io_buf_free(void *p)
{
	free(p);
}

/* ---- reporting and the sticky error -------------------------------------- */

static void report_fallback(struct hl_io *io, unsigned bit, const char *msg)
{
	size_t used = strlen(io->st.fallback_msg);
	if (io->st.fallbacks & bit)
		return;
	io->st.fallbacks |= bit;
	snprintf(io->st.fallback_msg + used, sizeof io->st.fallback_msg - used,
		 "%s%s", used ? "; " : "", msg);
	if (io->cfg.report)
		io->cfg.report(io->cfg.report_ctx, msg);
}

/* Records the first failure for good (invariant 3). */
static int fail(struct hl_io *io, int err)
{
	if (!io->st.error) {
		io->st.error = hl_io_errno_rc(err);
		io->st.error_errno = err;
	}
	return io->st.error;
}

/* ---- open ----------------------------------------------------------------- */

static int open_file(struct hl_io *io, const char *path, unsigned flags)
{
	int oflags = O_CLOEXEC | ((flags & HL_IO_RDONLY) ? O_RDONLY : O_RDWR);
	if (flags & HL_IO_CREATE)
		oflags |= O_CREAT | O_EXCL;
	bool refuse = io->cfg.fault && hl_iofault_refuses_direct(io->cfg.fault);
	if (io->cfg.direct == HL_IO_DIRECT_AUTO) {
		int fd = refuse ? (errno = EINVAL, -1)
				: open(path, oflags | O_DIRECT, 0600);
		if (fd >= 0) {
			io->fd = fd;
			io->st.direct = true;
			return 0;
		}
		if (errno != EINVAL)
			return hl_io_errno_rc(errno);
		report_fallback(io, HL_IO_FELL_BACK_DIRECT,
				"O_DIRECT refused (EINVAL): buffered writes + "
				"datasync");
	}
	io->fd = open(path, oflags, 0600);
	if (io->fd < 0)
		return hl_io_errno_rc(errno);
	return 0;
}

/* Some file systems take O_DIRECT at open and refuse the writes (EINVAL).
 * Before anything was written through it, reopen the file buffered and
 * go on (reported once). Returns true if it did. */
static bool drop_direct(struct hl_io *io, int err)
{
	if (err != EINVAL || !io->st.direct || io->st.batches)
		return false;
	int fd = open(io->path, (io->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(io->fd);
	io->fd = fd;
	io->st.direct = false;
	report_fallback(io, HL_IO_FELL_BACK_DIRECT, "O_DIRECT write refused "
			"(EINVAL): buffered writes + datasync");
	return true;
}

/* EINVAL for a direct write the fault layer refuses, else 0. */
static int fault_direct_write(const struct hl_io *io)
{
	return io->st.direct && io->cfg.fault &&
	       hl_iofault_refuses_direct_writes(io->cfg.fault) ? EINVAL : 0;
}

static void setup_backend(struct hl_io *io)
{
	io->st.backend = HL_IO_BACKEND_PWRITE;
	if (io->readonly || io->cfg.backend == HL_IO_BACKEND_PWRITE)
		return;
	bool refuse = io->cfg.fault && hl_iofault_refuses_uring(io->cfg.fault);
	int rc = refuse ? -EPERM : io_uring_queue_init(RING_ENTRIES, &io->ring, 0);
	if (rc == 0) {
		io->ring_ok = true;
		io->st.backend = HL_IO_BACKEND_URING;
		return;
	}
	char msg[96];
	snprintf(msg, sizeof msg, "io_uring refused (%s): pwrite backend",
		 strerror(-rc));
	report_fallback(io, HL_IO_FELL_BACK_URING, msg);
}

/* Reserves and zero-fills the file from its end up to bytes, keeping what
 * is there (a WAL cut short keeps its valid prefix). fallocate alone
 * leaves unwritten extents whose first write is a metadata change (ext4,
 * XFS journal the conversion); writing zeros once makes every later write
 * a pure data write (PostgreSQL's wal_init_zero). */
static int preallocate(struct hl_io *io, uint64_t bytes)
{
	struct stat st;
	if (fstat(io->fd, &st) != 0)
		return hl_io_errno_rc(errno);
	uint64_t size = (uint64_t)st.st_size;
	uint64_t from = size / HL_IO_ALIGN * HL_IO_ALIGN;
	if (size >= bytes)
		return 0; /* already there: a recycled file keeps its blocks */
	if (fallocate(io->fd, 0, (off_t)from, (off_t)(bytes - from)) != 0 &&
	    errno != EOPNOTSUPP)
		return hl_io_errno_rc(errno);
	void *zero = hl_io_buf_alloc(ZERO_FILL_BYTES);
	if (!zero)
		return HL_ENOMEM;
	/* The first chunk starts with the file's last, partial block: read
	 * it so that writing the chunk keeps its bytes. */
	int rc = from < size ? hl_io_pread(io, zero, HL_IO_ALIGN, from) : 0;
	for (uint64_t off = from; off < bytes && !rc; off += ZERO_FILL_BYTES) {
		if (off > from)
			memset(zero, 0, HL_IO_ALIGN);
		uint64_t len = bytes - off < ZERO_FILL_BYTES ? bytes - off
							     : ZERO_FILL_BYTES;
		int err = fault_direct_write(io);
		ssize_t w = err ? (errno = err, -1)
				: pwrite(io->fd, zero, len, (off_t)off);
		if (w < 0 && drop_direct(io, errno))
			w = pwrite(io->fd, zero, len, (off_t)off);
		if (w < 0)
			rc = hl_io_errno_rc(errno);
		else if ((uint64_t)w != len)
			rc = HL_EFULL;
	}
	hl_io_buf_free(zero);
	if (!rc && fdatasync(io->fd) != 0)
		rc = hl_io_errno_rc(errno);
	return rc;
}

int hl_io_open(const char *path, unsigned flags, uint64_t prealloc_bytes,
	       const struct hl_io_config *cfg, struct hl_io **out)
{
	struct hl_io *io;
	int rc;
	if (!path || !out || (flags & ~(HL_IO_CREATE | HL_IO_RDONLY)) ||
	    ((flags & HL_IO_RDONLY) && prealloc_bytes) ||
	    prealloc_bytes % HL_IO_ALIGN)
		return HL_EINVAL;
	io = calloc(1, sizeof *io);
	if (!io)
		return HL_ENOMEM;
	if (cfg)
		io->cfg = *cfg;
	io->readonly = flags & HL_IO_RDONLY;
	io->path = strdup(path);
	if (!io->path) {
		free(io);
		return HL_ENOMEM;
	}
	io->st.sync = io->cfg.sync == HL_IO_SYNC_DSYNC ? HL_IO_SYNC_DSYNC
							: HL_IO_SYNC_FDATASYNC;
	rc = open_file(io, path, flags);
	if (rc)
		goto out_free;
	if (prealloc_bytes) {
		rc = preallocate(io, prealloc_bytes);
		if (rc)
			goto out_close;
	}
	setup_backend(io);
	*out = io;
	return 0;
out_close:
	close(io->fd);
	if (flags & HL_IO_CREATE)
		unlink(path);
out_free:
	free(io->path);
	free(io);
	return rc;
}

/* ---- the synchronous path (PWRITE, and finishing a URING batch) ----------- */

static int pwrite_all(struct hl_io *io, const struct hl_io_write *w,
		      uint64_t *done, bool dsync)
{
	while (*done < w->len) {
		struct iovec v = { (char *)w->buf + *done, w->len - *done };
		ssize_t r = pwritev2(io->fd, &v, 1, (off_t)(w->off + *done),
				     dsync ? RWF_DSYNC : 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && dsync && (errno == EOPNOTSUPP || errno == ENOSYS ||
				       errno == EINVAL)) {
			report_fallback(io, HL_IO_FELL_BACK_DSYNC,
					"RWF_DSYNC refused: writes + fdatasync");
			io->st.sync = HL_IO_SYNC_FDATASYNC;
			dsync = false;
			continue;
		}
		if (r < 0)
			return errno;
		if (r == 0)
			return ENOSPC; /* no progress on a regular file */
		*done += (uint64_t)r;
	}
	return 0;
}

/* Writes what is left of the batch and makes all of it durable. Returns 0
 * or an errno. */
static int finish_batch_sync(struct hl_io *io)
{
	struct batch *b = &io->b;
	bool dsync = io->st.sync == HL_IO_SYNC_DSYNC && !b->finish_sync;
	for (unsigned i = 0; i < b->n; i++) {
		int err = pwrite_all(io, &b->w[i], &b->done[i], dsync);
		if (err)
			return err;
		dsync = io->st.sync == HL_IO_SYNC_DSYNC && !b->finish_sync;
	}
	if ((io->st.sync == HL_IO_SYNC_FDATASYNC || b->finish_sync) &&
	    fdatasync(io->fd) != 0)
		return errno;
	return 0;
}

/* ---- the io_uring path ---------------------------------------------------- */

/* Queues the batch's writes (and the linked datasync) and submits them.
 * Returns 0, or an errno when the ring took nothing (the caller then does
 * the batch synchronously). */
static int uring_queue(struct hl_io *io)
{
	struct batch *b = &io->b;
	bool link = io->st.sync == HL_IO_SYNC_FDATASYNC;
	for (unsigned i = 0; i < b->n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
		hl_assert(sqe); /* RING_ENTRIES > batch + 1, ring drained */
		io_uring_prep_write(sqe, io->fd, b->w[i].buf,
				    (unsigned)b->w[i].len, b->w[i].off);
		if (link)
			sqe->flags |= IOSQE_IO_LINK;
		else
			sqe->rw_flags = RWF_DSYNC;
		io_uring_sqe_set_data64(sqe, i);
	}
	if (link) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
		hl_assert(sqe);
		io_uring_prep_fsync(sqe, io->fd, IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data64(sqe, UD_FSYNC);
	}
	b->pending = b->n + (link ? 1u : 0u);
	int rc;
	do
		rc = io_uring_submit(&io->ring);
	while (rc == -EINTR);
	if (rc == (int)b->pending)
		return 0;
	if (rc < 0) {
		/* The ring refused the submission (its SQEs may still sit in
		 * the shared queue and go out with a later enter): drop the
		 * ring and do this batch, and all later ones, synchronously. */
		io_uring_queue_exit(&io->ring);
		io->ring_ok = false;
		io->st.backend = HL_IO_BACKEND_PWRITE;
		report_fallback(io, HL_IO_FELL_BACK_URING,
				"io_uring submit refused: pwrite backend");
		b->pending = 0;
		return -rc;
	}
	/* A partial submit leaves the rest queued: the next submit (from
	 * the reaper) sends them. */
	return 0;
}

static void uring_complete(struct hl_io *io, uint64_t ud, int res)
{
	struct batch *b = &io->b;
	b->pending--;
	if (res == -ECANCELED) {
		b->finish_sync = true; /* a link broken by a short write */
		return;
	}
	if (res < 0) {
		if (!b->rc) {
			b->err = -res;
			b->rc = hl_io_errno_rc(-res);
		}
		return;
	}
	if (ud == UD_FSYNC || ud >= b->n)
		return;
	b->done[ud] = (uint64_t)res;
	if ((uint64_t)res < b->w[ud].len)
		b->finish_sync = true;
}

/* Reaps completions; returns true when none is pending. */
static bool uring_reap(struct hl_io *io, bool wait)
{
	struct batch *b = &io->b;
	while (b->pending) {
		struct io_uring_cqe *cqe;
		int rc = io_uring_peek_cqe(&io->ring, &cqe);
		if (rc == -EAGAIN) {
			if (!wait)
				return false;
			rc = io_uring_submit_and_wait(&io->ring, 1);
			if (rc < 0 && rc != -EINTR && rc != -EAGAIN &&
			    rc != -EBUSY) {
				/* The ring itself failed: no completion
				 * will come; the batch fails for good. */
				b->rc = hl_io_errno_rc(-rc);
				b->err = -rc;
				b->pending = 0;
				return false;
			}
			continue;
		}
		if (rc < 0)
			continue;
		uring_complete(io, io_uring_cqe_get_data64(cqe), cqe->res);
		io_uring_cqe_seen(&io->ring, cqe);
	}
	return true;
}

/* ---- batches -------------------------------------------------------------- */

static int check_write(const struct hl_io *io, const struct hl_io_write *w)
{
	uint64_t end;
	if (!w->buf || w->len == 0 || w->len > (1u << 30) ||
	    hl_add_overflows(w->off, w->len, &end) || end > INT64_MAX)
		return HL_EINVAL;
	if (io->st.direct && ((uintptr_t)w->buf % HL_IO_ALIGN ||
			      w->len % HL_IO_ALIGN || w->off % HL_IO_ALIGN))
		return HL_EINVAL;
	return 0;
}

/* Asks the fault layer about every write and the flush of the batch; an
 * injected error fails the batch before anything is written. */
static int fault_check(struct hl_io *io)
{
	struct batch *b = &io->b;
	struct hl_iofault *f = io->cfg.fault;
	if (!f)
		return 0;
	for (unsigned i = 0; i < b->n; i++) {
		int err = fault_direct_write(io);
		if (!err)
			err = hl_iofault_on_write(f, io->fd, b->w[i].buf,
						  b->w[i].len, b->w[i].off);
		if (err)
			return err;
	}
	return hl_iofault_on_flush(f);
}

int hl_io_submit(struct hl_io *io, const struct hl_io_write *w, unsigned n)
{
	if (!io || !w || n == 0 || n > HL_IO_BATCH_WRITES_MAX || io->readonly)
		return HL_EINVAL;
	if (io->st.error)
		return io->st.error;
	if (io->b.state != BATCH_IDLE)
		return HL_EBUSY;
	for (unsigned i = 0; i < n; i++)
		if (check_write(io, &w[i]))
			return HL_EINVAL;
	struct batch *b = &io->b;
	memset(b, 0, sizeof *b);
	memcpy(b->w, w, n * sizeof *w);
	b->n = n;
	b->t0_ns = hl_now_ns();
	b->state = BATCH_IN_FLIGHT;
	int err = fault_check(io);
	if (err) {
		b->rc = hl_io_errno_rc(err);
		b->err = err;
		return 0; /* reported by poll, like a real failure */
	}
	if (io->ring_ok && (err = uring_queue(io)) == 0)
		return 0;
	err = finish_batch_sync(io);
	if (err) {
		b->rc = hl_io_errno_rc(err);
		b->err = err;
	}
	return 0;
}

bool hl_io_in_flight(const struct hl_io *io)
{
	return io && io->b.state == BATCH_IN_FLIGHT;
}

/* The batch again, from its start, on the buffered file. */
static void redo_buffered(struct hl_io *io)
{
	struct batch *b = &io->b;
	b->rc = b->err = 0;
	b->finish_sync = false;
	memset(b->done, 0, sizeof b->done);
	int err = finish_batch_sync(io);
	if (err) {
		b->rc = hl_io_errno_rc(err);
		b->err = err;
	}
}

static void account(struct hl_io *io)
{
	struct batch *b = &io->b;
	uint64_t ns = hl_now_ns() - b->t0_ns;
	io->st.batches++;
	io->st.writes += b->n;
	for (unsigned i = 0; i < b->n; i++)
		io->st.write_bytes += b->w[i].len;
	io->st.batch_ns_total += ns;
	if (ns > io->st.batch_ns_max)
		io->st.batch_ns_max = ns;
}

int hl_io_poll(struct hl_io *io, bool wait)
{
	if (!io)
		return HL_EINVAL;
	struct batch *b = &io->b;
	if (b->state == BATCH_IDLE)
		return io->st.error;
	if (b->pending && !uring_reap(io, wait) && !b->rc)
		return HL_EBUSY;
	if (!b->rc && b->finish_sync) {
		int err = finish_batch_sync(io);
		if (err) {
			b->rc = hl_io_errno_rc(err);
			b->err = err;
		}
	}
	if (b->pending)
		return HL_EBUSY; /* an error seen, other CQEs still owed */
	if (b->rc && drop_direct(io, b->err))
		redo_buffered(io);
	b->state = BATCH_IDLE;
	if (b->rc)
		return fail(io, b->err ? b->err : EIO);
	account(io);
	if (io->cfg.fault)
		hl_iofault_on_durable(io->cfg.fault);
	return 0;
}

/* ---- reads, stats, close --------------------------------------------------- */

int hl_io_pread(struct hl_io *io, void *buf, uint64_t len, uint64_t off)
{
	uint64_t done = 0;
	if (!io || (!buf && len))
		return HL_EINVAL;
	if (io->st.direct && ((uintptr_t)buf % HL_IO_ALIGN ||
			      len % HL_IO_ALIGN || off % HL_IO_ALIGN))
		return HL_EINVAL;
	while (done < len) {
		ssize_t r = pread(io->fd, (char *)buf + done, len - done,
				  (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return hl_io_errno_rc(errno);
		if (r == 0)
			break;
		done += (uint64_t)r;
	}
	memset((char *)buf + done, 0, len - done);
	return 0;
}

int64_t hl_io_file_bytes(const struct hl_io *io)
{
	struct stat st;
	if (!io)
		return HL_EINVAL;
	if (fstat(io->fd, &st) != 0)
		return hl_io_errno_rc(errno);
	return st.st_size;
}

void hl_io_stats_get(const struct hl_io *io, struct hl_io_stats *out)
{
	if (io && out)
		*out = io->st;
}

void hl_io_close(struct hl_io *io)
{
	if (!io)
		return;
	if (io->b.pending && io->ring_ok)
		uring_reap(io, true);
	if (io->ring_ok)
		io_uring_queue_exit(&io->ring);
	close(io->fd);
	free(io->path);
	free(io);
}
