/*
 * wal.c - the write-ahead log: records appended into 4 KiB blocks, chained
 * and salted, flushed by group commit, scanned back to the first bad one.
 *
 * NOTES ON THE DESIGN OF THE WAL (the format is drawn in wal.h)
 *
 * Why records, not blocks, carry the checks. SQLite's WAL frames and
 * PostgreSQL's records each carry the salt/checksum chain themselves; the
 * blocks here have no header at all. So a payload runs across block
 * boundaries without being cut into pieces, and the scanner hands each
 * record over as one contiguous range of the file image (zero copy). A
 * torn write shows up as the first record whose crc covers a bad sector.
 *
 * Why a chain and a salt on top of the crc:
 *   - salt: recycling a file starts a new generation with a new random salt
 *     at log offset 0 again; every block of the old generation still holds
 *     well-formed records with good crcs. They carry the old salt, and the
 *     salt is inside the crc, so none can pass as new.
 *   - lsn: a record must name the position it sits at, so a valid record
 *     of this generation read from the wrong place (a misdirected write)
 *     fails.
 *   - chain (prev_crc): within one generation, a reopened WAL rewrites its
 *     torn tail block and goes on from there; if that rewrite is torn
 *     again, the blocks after it may still hold the old, well-formed
 *     continuation of the first attempt. Its first record links to the crc
 *     of the record the first attempt wrote before it, not to the one that
 *     is there now, so the chain breaks where the histories diverge (fails
 *     to catch it with probability 2^-32, per divergence).
 *
 * Why every flush seals its last block (pad record): the next flush then
 * starts on a new block, so no write ever covers a block holding records a
 * completed flush acknowledged, and a write torn by a power loss can only
 * damage records that were never acknowledged. The cost is up to one block
 * per flush; group commit (one flush for everything appended while the
 * previous one ran) keeps flushes few when the load is high, which is when
 * the space matters.
 *
 * Writer state. Two append buffers, each covering a block-aligned run of
 * the log: `fill` takes appends at log offset `pos`, starting at
 * `fill_base`; the other one may be in flight, covering [fill_base - its
 * bytes, fill_base).
 *
 *   append:       writes the record at pos (into fill), pos advances
 *   flush_begin:  no flight: seal fill to a block boundary, submit
 *                 [fill_base, pos), flight_end = pos, swap buffers,
 *                 fill_base = pos
 *   poll:         the flight completed: durable = flight_end
 *
 * Invariants:
 *   1. fill_base is block aligned, fill_base <= pos, and pos - fill_base <=
 *      buffer_bytes; the bytes of fill in [0, pos - fill_base) are exactly
 *      the log's bytes there (gaps zeroed when written).
 *   2. durable <= flight_end <= fill_base <= pos; every byte below durable
 *      was written by a batch the engine reported complete.
 *   3. Every record in the file below pos was chained from the header's
 *      crc: last_crc is the crc of the record ending nearest below pos.
 *   4. After a write error the engine's error is sticky (io.c inv. 3) and
 *      every append, flush and poll returns it.
 *
 * Opening an existing WAL scans it and positions pos at the scanned end.
 * If that end is inside a block (a torn tail: the flush that wrote it
 * never completed, so nothing there was acknowledged), the valid part of
 * that block is loaded into fill, sealed and rewritten before open
 * returns: the caller replayed those records and may build on them, so
 * they must not depend on a later flush that a second power loss could
 * tear (test_persist_io's torn-tail test failed before this).
 *
 * Recycling (hl_wal_create on an existing file) writes the new header in
 * place. If that write is torn the file's header fails its crc and the
 * old generation is gone with it; the persister checkpoints before it
 * recycles, so by then nothing in the old generation is needed.
 *
 * Single-threaded: one persister owns a WAL handle. No memory orders.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "shm.h"
#include "wal.h"

/* Header field offsets (wal.h draws them). */
enum {
	H_MAGIC = 0, H_VERSION = 8, H_BLOCK = 12, H_FEATURES = 16, H_SALT = 24,
	H_GENERATION = 32, H_GEOMETRY = 40, H_START_LSN = 48, H_FILE_BYTES = 56,
	H_CRC = 124, H_USED = 128,
};
/* Record header field offsets. */
enum {
	R_LSN = 0, R_SALT = 8, R_LEN = 16, R_TYPE = 20, R_FLAGS = 22,
	R_PREV = 24, R_CRC = 28,
};
_Static_assert(H_CRC + 4 == H_USED, "header crc closes the used part");
_Static_assert(H_USED <= HL_WAL_HDR_BYTES, "header fits its block");
_Static_assert(R_CRC + 4 == HL_WAL_REC_HDR_BYTES, "record crc closes it");
_Static_assert(HL_WAL_BLOCK_BYTES % HL_IO_ALIGN == 0, "blocks are direct");
_Static_assert(HL_WAL_BLOCK_BYTES % HL_WAL_REC_ALIGN == 0, "aligned records");
_Static_assert(HL_WAL_BUFFER_BYTES_MIN % HL_WAL_BLOCK_BYTES == 0,
	       "buffers are whole blocks");

struct hl_wal {
	struct hl_io *io;
	struct hl_wal_info info;
	unsigned char *buf[2];
	uint64_t buf_bytes;
	unsigned fill;          /* index of the append buffer */
	uint64_t fill_base;     /* log offset of buf[fill][0] */
	uint64_t pos;           /* log offset of the next append */
	uint64_t flight_end;    /* log offset the flush in flight ends at */
	uint64_t durable;       /* log offset: all below is durable */
	uint64_t log_bytes;     /* capacity of the log: file_bytes - header */
	uint32_t last_crc;
};

/* ---- little-endian fields --------------------------------------------------- */

static inline uint64_t ld64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? v : __builtin_bswap64(v);
}

static inline uint32_t ld32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? v : __builtin_bswap32(v);
}

static inline uint16_t ld16(const unsigned char *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? v : __builtin_bswap16(v);
}

static inline void st64(unsigned char *p, uint64_t v)
{
	if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__)
		v = __builtin_bswap64(v);
	memcpy(p, &v, 8);
}

static inline void st32(unsigned char *p, uint32_t v)
{
	if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__)
		v = __builtin_bswap32(v);
	memcpy(p, &v, 4);
}

static inline void st16(unsigned char *p, uint16_t v)
{
	if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__)
		v = __builtin_bswap16(v);
	memcpy(p, &v, 2);
}

static inline uint64_t block_rem(uint64_t x)
{
	return HL_WAL_BLOCK_BYTES - x % HL_WAL_BLOCK_BYTES;
}

/* ---- the header ------------------------------------------------------------- */

static void header_encode(unsigned char *b, struct hl_wal_info *info)
{
	memset(b, 0, HL_WAL_HDR_BYTES);
	st64(b + H_MAGIC, HL_WAL_MAGIC);
	st32(b + H_VERSION, info->version);
	st32(b + H_BLOCK, HL_WAL_BLOCK_BYTES);
	st64(b + H_FEATURES, info->features);
	st64(b + H_SALT, info->salt);
	st64(b + H_GENERATION, info->generation);
	st64(b + H_GEOMETRY, info->geometry);
	st64(b + H_START_LSN, info->start_lsn);
	st64(b + H_FILE_BYTES, info->file_bytes);
	info->hdr_crc = hl_crc32c(0, b, H_CRC);
	st32(b + H_CRC, info->hdr_crc);
}

int hl_wal_header_parse(const void *buf, size_t len, struct hl_wal_info *out)
{
	const unsigned char *b = buf;
	struct hl_wal_info i;
	if (!b || !out || len < HL_WAL_HDR_BYTES)
		return HL_ECORRUPT;
	if (ld64(b + H_MAGIC) != HL_WAL_MAGIC)
		return HL_ECORRUPT;
	/* Version before crc: a newer version may place its crc elsewhere. */
	i.version = ld32(b + H_VERSION);
	if (i.version > HL_WAL_VERSION)
		return HL_EVERSION;
	i.hdr_crc = ld32(b + H_CRC);
	if (i.version == 0 || hl_crc32c(0, b, H_CRC) != i.hdr_crc)
		return HL_ECORRUPT;
	i.features = ld64(b + H_FEATURES);
	if (i.features & ~HL_WAL_FEATURES_KNOWN)
		return HL_EVERSION;
	i.salt = ld64(b + H_SALT);
	i.generation = ld64(b + H_GENERATION);
	i.geometry = ld64(b + H_GEOMETRY);
	i.start_lsn = ld64(b + H_START_LSN);
	i.file_bytes = ld64(b + H_FILE_BYTES);
	uint64_t end;
	if (ld32(b + H_BLOCK) != HL_WAL_BLOCK_BYTES || i.salt == 0 ||
	    i.file_bytes < HL_WAL_FILE_BYTES_MIN ||
	    i.file_bytes > HL_WAL_FILE_BYTES_MAX ||
	    i.file_bytes % HL_WAL_BLOCK_BYTES ||
	    hl_add_overflows(i.start_lsn, i.file_bytes, &end))
		return HL_ECORRUPT;
	*out = i;
	return 0;
}

/* ---- records ---------------------------------------------------------------- */

static uint32_t record_crc(const unsigned char *h, const void *payload,
			   uint32_t len, unsigned type)
{
	uint32_t c = hl_crc32c(0, h, R_CRC);
	return type == HL_WAL_TYPE_PAD ? c : hl_crc32c(c, payload, len);
}

static void record_header(unsigned char *h, uint64_t lsn, uint64_t salt,
			  uint32_t len, unsigned type, uint32_t prev)
{
	st64(h + R_LSN, lsn);
	st64(h + R_SALT, salt);
	st32(h + R_LEN, len);
	st16(h + R_TYPE, (uint16_t)type);
	st16(h + R_FLAGS, 0);
	st32(h + R_PREV, prev);
}

/* Bytes a record of payload len takes, alignment included. */
static inline uint64_t record_span(uint64_t len)
{
	return hl_align_up(HL_WAL_REC_HDR_BYTES + len, HL_WAL_REC_ALIGN);
}

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Checks the record whose header is at log offset x (the header is in the
 * image and not all zero); returns HL_WAL_STOP_END for a valid one, with
 * its length, else the check that failed. */
static enum hl_wal_stop record_check(const unsigned char *log, uint64_t x,
				     uint64_t log_len,
				     const struct hl_wal_info *info,
				     uint32_t prev, uint32_t *len_out)
{
	const unsigned char *h = log + x;
	if (ld64(h + R_SALT) != info->salt)
		return HL_WAL_STOP_SALT;
	if (ld64(h + R_LSN) != info->start_lsn + x)
		return HL_WAL_STOP_LSN;
	if (ld32(h + R_PREV) != prev)
		return HL_WAL_STOP_CHAIN;
	uint32_t len = ld32(h + R_LEN);
	unsigned type = ld16(h + R_TYPE);
	if (ld16(h + R_FLAGS) || len > HL_WAL_PAYLOAD_BYTES_MAX ||
	    (type != HL_WAL_TYPE_PAD && type < HL_WAL_TYPE_USER) ||
	    record_span(len) > log_len - x)
		return HL_WAL_STOP_LENGTH;
	/* A pad fills its block exactly. */
	if (type == HL_WAL_TYPE_PAD &&
	    HL_WAL_REC_HDR_BYTES + (uint64_t)len != block_rem(x))
		return HL_WAL_STOP_LENGTH;
	if (record_crc(h, h + HL_WAL_REC_HDR_BYTES, len, type) != ld32(h + R_CRC))
		return HL_WAL_STOP_CRC;
	*len_out = len;
	return HL_WAL_STOP_END;
}

/* A mapped file's pages ahead of the scan are asked for (MADV_WILLNEED)
 * a window at a time, so the disk reads them while the records before
 * them are checked and applied: with MADV_SEQUENTIAL alone each fault
 * waited for its own readahead, and a cold 1 GiB WAL took seconds more
 * than a warm one. */
struct readahead {
	const unsigned char *map;   /* NULL: a buffer, nothing to ask */
	uint64_t map_len, asked;    /* bytes from map asked for so far */
};

static void read_ahead(struct readahead *ra, const unsigned char *at)
{
	if (!ra || !ra->map)
		return;
	uint64_t pos = (uint64_t)(at - ra->map);
	if (ra->asked >= ra->map_len || pos + HL_WAL_READAHEAD_BYTES / 2 < ra->asked)
		return;
	uint64_t from = ra->asked > pos ? ra->asked : pos / HL_PAGE_BYTES * HL_PAGE_BYTES;
	uint64_t to = pos + HL_WAL_READAHEAD_BYTES;
	if (to > ra->map_len)
		to = ra->map_len;
	if (to > from)
		(void)madvise((void *)(ra->map + from), to - from, MADV_WILLNEED);
	ra->asked = to;
}

/* Scans the log bytes (the image after the header block). */
static int scan_log(const unsigned char *log, uint64_t log_len,
		    const struct hl_wal_info *info, hl_wal_record_fn *fn,
		    void *ctx, struct hl_wal_scan_result *res,
		    struct readahead *ra)
{
	uint64_t x = 0;
	memset(res, 0, sizeof *res);
	res->last_crc = info->hdr_crc;
	for (;;) {
		read_ahead(ra, log + x);
		res->end_lsn = info->start_lsn + x;
		if (block_rem(x) < HL_WAL_REC_HDR_BYTES)
			x += block_rem(x);    /* the zero tail of a block */
		if (x > log_len || log_len - x < HL_WAL_REC_HDR_BYTES)
			return 0;             /* end of the image */
		const unsigned char *h = log + x;
		uint32_t len = 0;
		if (all_zero(h, HL_WAL_REC_HDR_BYTES))
			return 0;
		res->stop = record_check(log, x, log_len, info, res->last_crc,
					 &len);
		if (res->stop != HL_WAL_STOP_END)
			return 0;
		unsigned type = ld16(h + R_TYPE);
		if (type != HL_WAL_TYPE_PAD) {
			int rc = fn ? fn(ctx, info->start_lsn + x, type,
					 h + HL_WAL_REC_HDR_BYTES, len) : 0;
			if (rc) {
				res->stop = HL_WAL_STOP_CALLBACK;
				return rc;
			}
			res->records++;
			res->last_lsn = info->start_lsn + x;
		}
		res->last_crc = ld32(h + R_CRC);
		x += record_span(len);
	}
}

static int scan_image(const void *buf, size_t len, struct hl_wal_info *info,
		      hl_wal_record_fn *fn, void *ctx,
		      struct hl_wal_scan_result *res, struct readahead *ra);

int hl_wal_scan_buf(const void *buf, size_t len, struct hl_wal_info *info,
		    hl_wal_record_fn *fn, void *ctx,
		    struct hl_wal_scan_result *res)
{
	return scan_image(buf, len, info, fn, ctx, res, NULL);
}

/* hl_wal_scan_buf of a mapped file (ra) or of a buffer (NULL). */
static int scan_image(const void *buf, size_t len, struct hl_wal_info *info,
		      hl_wal_record_fn *fn, void *ctx,
		      struct hl_wal_scan_result *res, struct readahead *ra)
{
	struct hl_wal_info local;
	struct hl_wal_scan_result rlocal;
	if (!info)
		info = &local;
	if (!res)
		res = &rlocal;
	int rc = hl_wal_header_parse(buf, len, info);
	if (rc)
		return rc;
	uint64_t image = len < info->file_bytes ? len : info->file_bytes;
	return scan_log((const unsigned char *)buf + HL_WAL_HDR_BYTES,
			image - HL_WAL_HDR_BYTES, info, fn, ctx, res, ra);
}

/* Maps path read-only (a private, page-cache view: the scanner never
 * writes). */
static int map_file(const char *path, const unsigned char **p, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return hl_io_errno_rc(errno);
	int rc = 0;
	if (fstat(fd, &st) != 0) {
		rc = hl_io_errno_rc(errno);
		goto out_close;
	}
	if ((uint64_t)st.st_size < HL_WAL_HDR_BYTES ||
	    (uint64_t)st.st_size > HL_WAL_FILE_BYTES_MAX) {
		rc = HL_ECORRUPT;
		goto out_close;
	}
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED) {
		rc = hl_io_errno_rc(errno);
		goto out_close;
	}
	madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
	*p = m;
	*len = (size_t)st.st_size;
out_close:
	close(fd);
	return rc;
}

int hl_wal_scan_file(const char *path, uint64_t geometry,
		     struct hl_wal_info *info, hl_wal_record_fn *fn, void *ctx,
		     struct hl_wal_scan_result *res)
{
	struct hl_wal_info local;
	const unsigned char *m;
	size_t len;
	if (!path)
		return HL_EINVAL;
	if (!info)
		info = &local;
	int rc = map_file(path, &m, &len);
	if (rc)
		return rc;
	rc = hl_wal_header_parse(m, len, info);
	if (!rc && info->geometry != geometry)
		rc = HL_EMISMATCH;
	struct readahead ra = {m, len, 0};
	if (!rc)
		rc = scan_image(m, len, info, fn, ctx, res, &ra);
	munmap((void *)m, len);
	return rc;
}

/* ---- the writer ------------------------------------------------------------- */

void hl_wal_config_init(struct hl_wal_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	hl_io_config_init(&cfg->io);
}

static int wal_alloc(const struct hl_wal_config *cfg, struct hl_wal **out)
{
	uint64_t bytes = cfg->buffer_bytes ? cfg->buffer_bytes
					   : HL_WAL_BUFFER_BYTES_MIN;
	if (bytes < HL_WAL_BUFFER_BYTES_MIN || bytes > HL_WAL_BUFFER_BYTES_MAX)
		return HL_EINVAL;
	bytes = hl_align_up(bytes, HL_WAL_BLOCK_BYTES);
	struct hl_wal *w = calloc(1, sizeof *w);
	if (!w)
		return HL_ENOMEM;
	w->buf_bytes = bytes;
	w->buf[0] = hl_io_buf_alloc(bytes);
	w->buf[1] = hl_io_buf_alloc(bytes);
	if (!w->buf[0] || !w->buf[1]) {
		hl_io_buf_free(w->buf[0]);
		hl_io_buf_free(w->buf[1]);
		free(w);
		return HL_ENOMEM;
	}
	*out = w;
	return 0;
}

static void wal_free(struct hl_wal *w)
{
	hl_io_buf_free(w->buf[0]);
	hl_io_buf_free(w->buf[1]);
	free(w);
}

/* A salt that is not 0 and not the previous generation's. */
static uint64_t new_salt(uint64_t old)
{
	uint64_t s = 0;
	for (unsigned i = 0; i < HL_WAL_SALT_TRIES; i++) {
		if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s)
			s = hl_now_ns() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
		if (s != 0 && s != old)
			return s;
	}
	return old + 1 ? old + 1 : 1; /* a broken RNG still changes the salt */
}

/* Reads the old header of a recycled file, if it has a valid one. */
static void old_header(struct hl_io *io, unsigned char *blk,
		       struct hl_wal_info *old)
{
	memset(old, 0, sizeof *old);
	if (hl_io_pread(io, blk, HL_WAL_HDR_BYTES, 0) == 0)
		(void)hl_wal_header_parse(blk, HL_WAL_HDR_BYTES, old);
}

/* Writes one buffer durably, synchronously. */
static int write_sync(struct hl_io *io, const void *buf, uint64_t len,
		      uint64_t off)
{
	struct hl_io_write wr = { buf, len, off };
	int rc = hl_io_submit(io, &wr, 1);
	return rc ? rc : hl_io_poll(io, true);
}

static int check_config(const struct hl_wal_config *cfg)
{
	uint64_t end;
	if (cfg->file_bytes < HL_WAL_FILE_BYTES_MIN ||
	    cfg->file_bytes > HL_WAL_FILE_BYTES_MAX ||
	    cfg->file_bytes % HL_WAL_BLOCK_BYTES ||
	    hl_add_overflows(cfg->start_lsn, cfg->file_bytes, &end))
		return HL_EINVAL;
	return 0;
}

int hl_wal_create(const char *path, const struct hl_wal_config *cfg,
		  struct hl_wal **out)
{
	struct hl_wal *w;
	struct hl_wal_info old;
	bool fresh;
	int rc;
	if (!path || !cfg || !out || check_config(cfg))
		return HL_EINVAL;
	rc = wal_alloc(cfg, &w);
	if (rc)
		return rc;
	fresh = access(path, F_OK) != 0;
	rc = hl_io_open(path, fresh ? HL_IO_CREATE : 0, cfg->file_bytes,
			&cfg->io, &w->io);
	if (rc)
		goto out_free;
	old_header(w->io, w->buf[0], &old);
	w->info = (struct hl_wal_info){
		.version = HL_WAL_VERSION, .features = 0,
		.salt = new_salt(old.salt), .generation = old.generation + 1,
		.geometry = cfg->geometry, .start_lsn = cfg->start_lsn,
		.file_bytes = cfg->file_bytes,
	};
	header_encode(w->buf[0], &w->info);
	rc = write_sync(w->io, w->buf[0], HL_WAL_HDR_BYTES, 0);
	if (rc)
		goto out_close;
	memset(w->buf[0], 0, HL_WAL_HDR_BYTES);
	w->log_bytes = cfg->file_bytes - HL_WAL_HDR_BYTES;
	w->last_crc = w->info.hdr_crc;
	*out = w;
	return 0;
out_close:
	hl_io_close(w->io);
	if (fresh)
		unlink(path);
out_free:
	wal_free(w);
	return rc;
}

/* After a scan: appends go on at the scanned end (see "Opening"). */
static void position_at(struct hl_wal *w, const unsigned char *log,
			const struct hl_wal_scan_result *res)
{
	uint64_t end = res->end_lsn - w->info.start_lsn;
	w->pos = end;
	w->fill_base = end / HL_WAL_BLOCK_BYTES * HL_WAL_BLOCK_BYTES;
	w->durable = w->flight_end = w->fill_base; /* the tail block: rewritten */
	memcpy(w->buf[0], log + w->fill_base, end - w->fill_base);
	w->last_crc = res->last_crc;
}

int hl_wal_open(const char *path, const struct hl_wal_config *cfg,
		hl_wal_record_fn *fn, void *ctx,
		struct hl_wal_scan_result *res, struct hl_wal **out)
{
	struct hl_wal_scan_result rlocal;
	const unsigned char *m;
	size_t len;
	struct hl_wal *w;
	if (!path || !cfg || !out)
		return HL_EINVAL;
	if (!res)
		res = &rlocal;
	int rc = wal_alloc(cfg, &w);
	if (rc)
		return rc;
	rc = map_file(path, &m, &len);
	if (rc)
		goto out_free;
	rc = hl_wal_header_parse(m, len, &w->info);
	if (!rc && w->info.geometry != cfg->geometry)
		rc = HL_EMISMATCH;
	struct readahead ra = {m, len, 0};
	if (!rc)
		rc = scan_image(m, len, &w->info, fn, ctx, res, &ra);
	if (rc)
		goto out_unmap;
	w->log_bytes = w->info.file_bytes - HL_WAL_HDR_BYTES;
	position_at(w, m + HL_WAL_HDR_BYTES, res);
	munmap((void *)m, len);
	/* A file cut short (copied, truncated) keeps its valid prefix and
	 * gets its preallocation back. */
	rc = hl_io_open(path, 0, w->info.file_bytes, &cfg->io, &w->io);
	if (rc)
		goto out_free;
	/* A torn tail: seal and rewrite its block now, so that what the
	 * caller just replayed is durable before it builds on it. */
	rc = w->pos % HL_WAL_BLOCK_BYTES ? hl_wal_flush(w) : 0;
	if (rc) {
		hl_wal_close(w);
		return rc;
	}
	*out = w;
	return 0;
out_unmap:
	munmap((void *)m, len);
out_free:
	wal_free(w);
	return rc;
}

/* ---- appending and group commit --------------------------------------------- */

/* Bytes from pos to where a record of payload len would end, and the zero
 * tail to skip first when its header would cross a block. */
static uint64_t append_need(uint64_t pos, uint32_t len, uint64_t *skip)
{
	*skip = block_rem(pos) < HL_WAL_REC_HDR_BYTES ? block_rem(pos) : 0;
	return *skip + record_span(len);
}

static void put_record(struct hl_wal *w, unsigned type, const void *payload,
		       uint32_t len, uint64_t skip)
{
	unsigned char *b = w->buf[w->fill];
	memset(b + (w->pos - w->fill_base), 0, skip);
	w->pos += skip;
	unsigned char *h = b + (w->pos - w->fill_base);
	uint64_t span = type == HL_WAL_TYPE_PAD ? HL_WAL_REC_HDR_BYTES + len
						: record_span(len);
	record_header(h, w->info.start_lsn + w->pos, w->info.salt, len, type,
		      w->last_crc);
	if (type == HL_WAL_TYPE_PAD)
		memset(h + HL_WAL_REC_HDR_BYTES, 0, len);
	else
		memcpy(h + HL_WAL_REC_HDR_BYTES, payload, len);
	memset(h + HL_WAL_REC_HDR_BYTES + len, 0,
	       span - HL_WAL_REC_HDR_BYTES - len);
	w->last_crc = record_crc(h, h + HL_WAL_REC_HDR_BYTES, len, type);
	st32(h + R_CRC, w->last_crc);
	w->pos += span;
}

/* Ends the fill buffer on a block boundary: a pad record, or the zero tail
 * when less than a record header is left. */
static void seal(struct hl_wal *w)
{
	uint64_t rem = block_rem(w->pos);
	if (rem == HL_WAL_BLOCK_BYTES)
		return;
	if (rem < HL_WAL_REC_HDR_BYTES) {
		memset(w->buf[w->fill] + (w->pos - w->fill_base), 0, rem);
		w->pos += rem;
		return;
	}
	put_record(w, HL_WAL_TYPE_PAD, NULL,
		   (uint32_t)(rem - HL_WAL_REC_HDR_BYTES), 0);
}

static int sticky_error(const struct hl_wal *w)
{
	struct hl_io_stats st;
	hl_io_stats_get(w->io, &st);
	return st.error;
}

int hl_wal_poll(struct hl_wal *w, bool wait)
{
	if (!w)
		return HL_EINVAL;
	bool was = hl_io_in_flight(w->io);
	int rc = hl_io_poll(w->io, wait);
	if (rc == 0 && was)
		w->durable = w->flight_end;
	return rc;
}

int hl_wal_flush_begin(struct hl_wal *w)
{
	if (!w)
		return HL_EINVAL;
	int rc = hl_wal_poll(w, false);
	if (rc == HL_EBUSY)
		return 0;             /* group commit: the next flush takes them */
	if (rc)
		return rc;
	if (w->pos == w->fill_base)
		return 0;             /* nothing new since the last flush */
	seal(w);
	struct hl_io_write wr = { w->buf[w->fill], w->pos - w->fill_base,
				  HL_WAL_HDR_BYTES + w->fill_base };
	rc = hl_io_submit(w->io, &wr, 1);
	if (rc)
		return rc;
	w->flight_end = w->pos;
	w->fill ^= 1;
	w->fill_base = w->pos;
	return 0;
}

int hl_wal_flush(struct hl_wal *w)
{
	if (!w)
		return HL_EINVAL;
	uint64_t target = w->pos;
	while (w->durable < target) {
		int rc = hl_io_in_flight(w->io) ? hl_wal_poll(w, true)
						: hl_wal_flush_begin(w);
		if (rc)
			return rc;
	}
	return sticky_error(w);
}

/* Makes room in the fill buffer for need bytes: flushes it (after the one
 * in flight) so the other, empty buffer takes the record. */
static int make_room(struct hl_wal *w, uint64_t need)
{
	if (w->pos - w->fill_base + need <= w->buf_bytes)
		return 0;
	int rc = hl_wal_poll(w, true);
	if (!rc)
		rc = hl_wal_flush_begin(w);
	return rc;
}

int hl_wal_append(struct hl_wal *w, unsigned type, const void *payload,
		  uint32_t len, uint64_t *lsn)
{
	uint64_t skip, need, end;
	if (!w || (!payload && len) || type < HL_WAL_TYPE_USER ||
	    type > HL_WAL_TYPE_MAX || len > HL_WAL_PAYLOAD_BYTES_MAX)
		return HL_EINVAL;
	int rc = sticky_error(w);
	if (rc)
		return rc;
	rc = make_room(w, append_need(w->pos, len, &skip));
	if (rc)
		return rc;
	need = append_need(w->pos, len, &skip); /* pos moved if we flushed */
	/* The record and the seal after it must fit in the file. */
	if (hl_add_overflows(w->pos, need, &end) ||
	    hl_align_up(end, HL_WAL_BLOCK_BYTES) > w->log_bytes)
		return HL_EFULL;
	if (lsn)
		*lsn = w->info.start_lsn + w->pos + skip;
	put_record(w, type, payload, len, skip);
	return 0;
}

uint64_t hl_wal_end_lsn(const struct hl_wal *w)
{
	return w->info.start_lsn + w->pos;
}

uint64_t hl_wal_durable_lsn(const struct hl_wal *w)
{
	return w->info.start_lsn + w->durable;
}

void hl_wal_info_get(const struct hl_wal *w, struct hl_wal_info *out)
{
	*out = w->info;
}

void hl_wal_io_stats(const struct hl_wal *w, struct hl_io_stats *out)
{
	hl_io_stats_get(w->io, out);
}

void hl_wal_close(struct hl_wal *w)
{
	if (!w)
		return;
	hl_io_close(w->io);
	wal_free(w);
}
