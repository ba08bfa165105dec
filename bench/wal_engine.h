/*
 * wal_engine.h - the two write-speed measurements helios-wal-speed and the
 * persistence section of `helios bench` share (wal_engine.c): the device's
 * raw sequential O_DIRECT write speed, and the WAL's own append speed.
 */
#ifndef HL_BENCH_WAL_ENGINE_H
#define HL_BENCH_WAL_ENGINE_H

#include <stdint.h>

#include "io.h"
#include "wal.h"

/* 4 KiB records, flushed in groups of 64 (256 KiB per flush). */
#define HL_WAL_ENGINE_RECORD_BYTES 4096u
#define HL_WAL_ENGINE_GROUP_RECORDS 64u

/* MB/s (1e6 bytes) of plain pwrite(2) to path opened O_DIRECT: bytes in
 * 1 MiB sequential writes, then one fdatasync, all timed. The file is
 * left for the caller to remove. 0 and *mbps, or a negative HL_E*
 * (HL_EINVAL for a file system that refuses O_DIRECT, as tmpfs does). */
int hl_wal_engine_raw_mbps(const char *path, uint64_t bytes, double *mbps);

/* A fresh WAL at path (recycled when one is there) of file_bytes, with
 * the given I/O configuration. 0 or hl_wal_create's error. */
int hl_wal_engine_fresh(const char *path, const struct hl_io_config *io,
			uint64_t file_bytes, struct hl_wal **out);

/* MB/s of payload appended to w: bytes in 4 KiB records, a flush after
 * every 64 and one at the end, all timed. 0, or the append's or flush's
 * error. */
int hl_wal_engine_append_mbps(struct hl_wal *w, uint64_t bytes, double *mbps);

/* The WAL file that holds bytes of 4 KiB records with room to spare. */
uint64_t hl_wal_engine_file_bytes(uint64_t bytes);

#endif
