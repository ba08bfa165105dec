/*
 * wal_engine.c - how fast this disk takes writes: the device's raw
 * O_DIRECT sequential speed and the WAL's append speed, measured the same
 * way for helios-wal-speed (every backend) and for `helios bench`'s
 * persistence section (the default backend, beside the raw figure, in the
 * same run).
 *
 * Invariants:
 *  1. Every figure covers its durability point: the raw writes end with an
 *     fdatasync inside the timed region, the WAL's appends with a flush
 *     (which is durable by the WAL's own contract, wal.h).
 *  2. Nothing here exits or prints: every failure is a negative HL_E*
 *     for the caller to report; buffers and descriptors are released on
 *     every path.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "shm.h"
#include "wal_engine.h"

#define RAW_CHUNK_BYTES (1u << 20)

static int raw_write(int fd, void *buf, uint64_t bytes)
{
	for (uint64_t off = 0; off < bytes; off += RAW_CHUNK_BYTES)
		if (pwrite(fd, buf, RAW_CHUNK_BYTES, (off_t)off) != (ssize_t)RAW_CHUNK_BYTES)
			return hl_io_errno_rc(errno ? errno : EIO);
	return fdatasync(fd) == 0 ? 0 : hl_io_errno_rc(errno);
}

int hl_wal_engine_raw_mbps(const char *path, uint64_t bytes, double *mbps)
{
	if (!path || !mbps || bytes < RAW_CHUNK_BYTES)
		return HL_EINVAL;
	bytes = bytes / RAW_CHUNK_BYTES * RAW_CHUNK_BYTES;
	int fd = open(path, O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
	if (fd < 0)
		return hl_io_errno_rc(errno);
	int rc = 0;
	void *buf = hl_io_buf_alloc(RAW_CHUNK_BYTES);
	if (!buf) {
		rc = HL_ENOMEM;
		goto out_close;
	}
	memset(buf, 0x5a, RAW_CHUNK_BYTES);
	uint64_t t0 = hl_now_ns();
	errno = 0;
	rc = raw_write(fd, buf, bytes); /* invariant 1 */
	uint64_t ns = hl_now_ns() - t0;
	if (!rc)
		*mbps = (double)bytes * 1e3 / (double)(ns ? ns : 1);
	hl_io_buf_free(buf);
out_close:
	close(fd);
	return rc;
}

int hl_wal_engine_fresh(const char *path, const struct hl_io_config *io,
			uint64_t file_bytes, struct hl_wal **out)
{
	struct hl_wal_config cfg;
	hl_wal_config_init(&cfg);
	cfg.geometry = 1;
	cfg.file_bytes = file_bytes;
	cfg.buffer_bytes = HL_WAL_BUFFER_BYTES_MIN;
	if (io)
		cfg.io = *io;
	return hl_wal_create(path, &cfg, out);
}

int hl_wal_engine_append_mbps(struct hl_wal *w, uint64_t bytes, double *mbps)
{
	static unsigned char rec[HL_WAL_ENGINE_RECORD_BYTES];
	uint64_t n = bytes / HL_WAL_ENGINE_RECORD_BYTES, t0 = hl_now_ns();
	int rc = 0;
	for (uint64_t i = 0; i < n && !rc; i++) {
		memset(rec, (int)i, 16);
		rc = hl_wal_append(w, HL_WAL_TYPE_USER, rec, sizeof rec, NULL);
		if (!rc && i % HL_WAL_ENGINE_GROUP_RECORDS == HL_WAL_ENGINE_GROUP_RECORDS - 1)
			rc = hl_wal_flush(w);
	}
	if (!rc)
		rc = hl_wal_flush(w); /* invariant 1 */
	uint64_t ns = hl_now_ns() - t0;
	if (!rc)
		*mbps = (double)(n * HL_WAL_ENGINE_RECORD_BYTES) * 1e3 /
			(double)(ns ? ns : 1);
	return rc;
}

uint64_t hl_wal_engine_file_bytes(uint64_t bytes)
{
	/* record headers, flush pads and the header block: under 1/8 + 4 MiB */
	return hl_align_up(bytes + bytes / 8 + (4u << 20), HL_WAL_BLOCK_BYTES);
}
