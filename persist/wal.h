/*
 * wal.h - the write-ahead log: format and API.
 *
 * THE FILE FORMAT (version 1; every integer little-endian)
 *
 * A WAL file is a header block followed by a stream of records laid out in
 * 4 KiB blocks. It is preallocated and zero-filled at creation.
 *
 *   file offset 0: the header block (HL_WAL_BLOCK_BYTES)
 *
 *     off  size  field
 *       0     8  magic        "HLWALog1" (HL_WAL_MAGIC)
 *       8     4  version      HL_WAL_VERSION; a newer one is HL_EVERSION
 *      12     4  block_bytes  4096
 *      16     8  features     feature bits; any unknown bit is HL_EVERSION
 *      24     8  salt         random, new for every generation, never 0
 *      32     8  generation   1 for a new file, +1 for each recycling
 *      40     8  geometry     the arena's fingerprint, opaque, from the caller
 *      48     8  start_lsn    LSN of the first record of this generation
 *      56     8  file_bytes   the preallocated size, header included
 *      64    60  reserved     zero
 *     124     4  hdr_crc      CRC32C of bytes [0, 124)
 *     128  3968  zero
 *
 *   file offset 4096 + x: log byte x, LSN start_lsn + x
 *
 * The log is a byte stream of records, each 8-byte aligned:
 *
 *     off  size  field
 *       0     8  lsn          this record's LSN (its own log position)
 *       8     8  salt         the header's salt
 *      16     4  len          payload bytes, <= HL_WAL_PAYLOAD_BYTES_MAX
 *      20     2  type         HL_WAL_TYPE_PAD, or >= HL_WAL_TYPE_USER
 *      22     2  flags        zero
 *      24     4  prev_crc     crc of the previous record; for the first
 *                             record of a generation, the header's hdr_crc
 *      28     4  crc          CRC32C of bytes [0, 28) and then the payload
 *                             (a pad record: of bytes [0, 28) only)
 *      32   len  payload
 *          0..7  zero, to the next multiple of 8
 *
 * Placement: a record's 32-byte header never crosses a block boundary;
 * when fewer than 32 bytes are left in a block, they are zero and the next
 * record starts at the next block. A payload does cross blocks freely, so a
 * record is any size up to the limit and the scanner hands it over as one
 * contiguous range, without reassembly. Every flush ends its last block
 * with a pad record (or the zero tail), so the next flush starts on a fresh
 * block and no write ever covers a block that holds acknowledged records.
 *
 * A record is valid when it sits where the previous one ended (its lsn),
 * carries this generation's salt, links to the previous record's crc, has a
 * sane length and type, and its crc matches. The scanner stops at the
 * first record that is not valid; everything before it is the log.
 */
#ifndef HL_PERSIST_WAL_H
#define HL_PERSIST_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hl_limits.h"
#include "io.h"

#define HL_WAL_MAGIC 0x31676f4c41574c48ull /* the bytes "HLWALog1", LE */
#define HL_WAL_VERSION 1u
#define HL_WAL_FEATURES_KNOWN 0ull
#define HL_WAL_HDR_BYTES HL_WAL_BLOCK_BYTES
#define HL_WAL_REC_HDR_BYTES 32u
#define HL_WAL_REC_ALIGN 8u

/* Record types. 0 never appears (a zeroed block reads as type 0 and is the
 * log's end); 1-15 are the WAL's own; the persister defines the rest. */
#define HL_WAL_TYPE_PAD 1u   /* fills a flush's last block */
#define HL_WAL_TYPE_USER 16u
#define HL_WAL_TYPE_MAX 0xffffu

struct hl_wal;

/* The header's fields, decoded. */
struct hl_wal_info {
	uint32_t version;
	uint64_t features;
	uint64_t salt;
	uint64_t generation;
	uint64_t geometry;
	uint64_t start_lsn;
	uint64_t file_bytes;
	uint32_t hdr_crc;
};

/* Why a scan stopped. END is the normal end: zeros (never written, or the
 * tail of a block) or the end of the file. The others name the first check
 * the first invalid record failed. */
enum hl_wal_stop {
	HL_WAL_STOP_END = 0,
	HL_WAL_STOP_SALT,     /* another generation's record: stale */
	HL_WAL_STOP_LSN,      /* not the record that belongs here */
	HL_WAL_STOP_CHAIN,    /* does not follow its predecessor */
	HL_WAL_STOP_LENGTH,   /* length, type or flags out of range */
	HL_WAL_STOP_CRC,      /* torn or damaged */
	HL_WAL_STOP_CALLBACK, /* the callback asked to stop */
};

struct hl_wal_scan_result {
	uint64_t end_lsn;     /* LSN just past the last valid record */
	uint64_t records;     /* valid records delivered (pads not counted) */
	uint64_t last_lsn;    /* LSN of the last valid record (0: none) */
	uint32_t last_crc;    /* its crc (the header's when none) */
	enum hl_wal_stop stop;
};

/* Called for every valid record except pads, in log order. The payload
 * points into the scanned bytes and lives until the callback returns.
 * Non-zero stops the scan, which then returns that value. */
typedef int hl_wal_record_fn(void *ctx, uint64_t lsn, unsigned type,
			     const void *payload, uint32_t len);

struct hl_wal_config {
	uint64_t geometry;      /* checked on open: HL_EMISMATCH if it differs */
	uint64_t start_lsn;     /* create: the first record's LSN */
	uint64_t file_bytes;    /* create: size to preallocate */
	uint64_t buffer_bytes;  /* each of the two append buffers; 0: min */
	struct hl_io_config io;
};

void hl_wal_config_init(struct hl_wal_config *cfg);

/* ---- the format, on bytes in memory (fuzzed) ------------------------------ */

/* Decodes and checks a header block: HL_ECORRUPT (bad magic, crc, block
 * size, or len < HL_WAL_HDR_BYTES), HL_EVERSION (newer version, unknown
 * feature bits). */
int hl_wal_header_parse(const void *buf, size_t len, struct hl_wal_info *out);

/* Scans a whole file image of len bytes: the header, then every valid
 * record (fn may be NULL). Returns 0 with *res filled however early the
 * records stop, a header error, or fn's non-zero value. */
int hl_wal_scan_buf(const void *buf, size_t len, struct hl_wal_info *info,
		    hl_wal_record_fn *fn, void *ctx,
		    struct hl_wal_scan_result *res);

/* Reads the WAL at path without changing it (recovery checks, `helios
 * check`): as hl_wal_scan_buf, plus HL_ENOENT, HL_EMISMATCH (geometry).
 * The file is mapped: nobody may shrink it during the scan. */
int hl_wal_scan_file(const char *path, uint64_t geometry,
		     struct hl_wal_info *info, hl_wal_record_fn *fn, void *ctx,
		     struct hl_wal_scan_result *res);

/* ---- writing -------------------------------------------------------------- */

/* Makes path a new, empty WAL generation: a new file preallocated to
 * cfg->file_bytes, or an existing one recycled (its generation + 1, a
 * fresh salt, its blocks left to be rejected as stale). The header is
 * durable when this returns. Errors: HL_EINVAL, HL_EFULL (no disk space),
 * HL_EIO, HL_EACCES, HL_ENOMEM. */
int hl_wal_create(const char *path, const struct hl_wal_config *cfg,
		  struct hl_wal **out);

/* Opens an existing WAL for appending (one opener at a time; the file is
 * mapped for the scan): checks the header (HL_ECORRUPT, HL_EVERSION,
 * HL_EMISMATCH for another geometry), replays every valid record to fn
 * (may be NULL), and positions appends just past them. A torn tail is
 * sealed and rewritten before it returns, so every record replayed is
 * durable (or the write's error is returned); a file cut short gets its
 * preallocation back. */
int hl_wal_open(const char *path, const struct hl_wal_config *cfg,
		hl_wal_record_fn *fn, void *ctx,
		struct hl_wal_scan_result *res, struct hl_wal **out);

/* Adds a record to the append buffer and returns its LSN; it is durable
 * once hl_wal_durable_lsn() passes it. May wait for a flush in flight when
 * the buffer is full. HL_EINVAL (type, len), HL_EFULL (the file is full:
 * checkpoint and recycle), or the engine's sticky error. */
int hl_wal_append(struct hl_wal *w, unsigned type, const void *payload,
		  uint32_t len, uint64_t *lsn);

/* Group commit, in two halves: flush_begin seals what was appended and
 * submits it unless a flush is already in flight (then the records wait for
 * the next one); poll reaps a finished flush (wait: block until it ends).
 * Both return 0, HL_EBUSY (poll, still running) or the sticky error. */
int hl_wal_flush_begin(struct hl_wal *w);
int hl_wal_poll(struct hl_wal *w, bool wait);

/* Everything appended before the call is durable when it returns 0. */
int hl_wal_flush(struct hl_wal *w);

uint64_t hl_wal_end_lsn(const struct hl_wal *w);      /* next append's LSN */
uint64_t hl_wal_durable_lsn(const struct hl_wal *w);  /* all below: durable */
void hl_wal_info_get(const struct hl_wal *w, struct hl_wal_info *out);
void hl_wal_io_stats(const struct hl_wal *w, struct hl_io_stats *out);

/* Closes without flushing: what was not flushed is not durable. */
void hl_wal_close(struct hl_wal *w);

#endif
