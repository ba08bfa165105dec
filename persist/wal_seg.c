/*
 * wal_seg.c - the WAL as a chain of segment files in DIR, so checkpoints
 * can recycle it a file at a time.
 *
 *   DIR/wal.000001, DIR/wal.000002, ...   segments (each a wal.h file)
 *   DIR/wal.spare                         a retired segment kept for reuse
 *
 * Why segments. One preallocated file fills up (sticky ENOSPC) however
 * often one checkpoints, unless the log wraps; wrapping in place needs the
 * oldest needed LSN tracked inside the file. Segments keep wal.c's format
 * unchanged: each checkpoint starts a new one (its first LSN is the
 * checkpoint's L, so a meta page names a segment, and recovery opens it by
 * name), and a segment every recovery may still need is never touched.
 * Preallocating a new file writes it whole (io.c zero-fills so appends
 * change no metadata), so a retired segment is renamed to wal.spare and
 * the next rotation renames it into place and recycles it (wal.c: new
 * generation and salt; its old blocks fail as stale), as PostgreSQL
 * recycles its WAL files. When there is no retired one yet, the
 * checkpointer makes a spare ahead of need (hl_walseg_prepare_spare), so
 * the zero-filling never stalls the persister's rotation.
 *
 * Invariants:
 *  1. Segment s + 1 starts at the LSN where segment s ends (its header's
 *     start_lsn; the scanner's end may stop short of it by a block's zero
 *     tail, under a record header's 32 bytes): a reader follows the chain
 *     only while that holds, so a
 *     segment recycled but not yet written, or a damaged one, ends the log
 *     (the first record that fails, as within a file).
 *  2. A segment is retired only when both meta pages name later ones
 *     (hl_ckpt_oldest_segment): recovery may fall back to the older meta
 *     page, which needs the WAL from its own L.
 *  3. Renames and creations are followed by an fsync of DIR before any
 *     record in the new segment is acknowledged (hl_walseg_sync_dir).
 *  4. A fresh segment's name never names a file without its header: it
 *     is zero-filled (70-90 ms for 64 MiB here, up to ~0.5 s beside
 *     another disk writer) and given its header as wal.NNNNNN.new, which
 *     no listing counts, and renamed into place only then, as the spare
 *     is. A process killed while its first segment was being made left
 *     wal.000001 all zeros, and every later recovery and persister start
 *     on DIR failed with HL_ECORRUPT (recovery.c: segment 1's header gives
 *     the LSN replay starts from).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helios.h"
#include "wal_seg.h"

int hl_walseg_path(const char *dir, uint64_t seg, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/wal.%06" PRIu64, dir, seg);
	return n < 0 || (size_t)n >= len ? HL_EINVAL : 0;
}

static int spare_path(const char *dir, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/wal.spare", dir);
	return n < 0 || (size_t)n >= len ? HL_EINVAL : 0;
}

/* A segment file's number, 0 if the name is not one. */
static uint64_t seg_of(const char *name)
{
	if (strncmp(name, "wal.", 4) != 0)
		return 0;
	const char *d = name + 4;
	uint64_t v = 0;
	size_t n = 0;
	for (; d[n] >= '0' && d[n] <= '9' && n < 19; n++)
		v = v * 10 + (uint64_t)(d[n] - '0');
	return d[n] == '\0' && n >= 6 ? v : 0;
}

int hl_walseg_list(const char *dir, uint64_t *lo, uint64_t *hi, uint64_t *count)
{
	*lo = *hi = *count = 0;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : hl_io_errno_rc(errno);
	for (struct dirent *e; (e = readdir(d));) {
		uint64_t s = seg_of(e->d_name);
		if (!s)
			continue;
		if (!*lo || s < *lo)
			*lo = s;
		if (s > *hi)
			*hi = s;
		++*count;
	}
	closedir(d);
	return 0;
}

int hl_walseg_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return hl_io_errno_rc(errno);
	int rc = fsync(fd) == 0 ? 0 : hl_io_errno_rc(errno);
	close(fd);
	return rc;
}

int hl_walseg_create(const char *dir, uint64_t seg,
		     const struct hl_wal_config *cfg, struct hl_wal **out)
{
	char path[PATH_MAX], spare[PATH_MAX];
	int rc = hl_walseg_path(dir, seg, path, sizeof path);
	if (!rc)
		rc = spare_path(dir, spare, sizeof spare);
	if (rc)
		return rc;
	struct stat st;
	if (stat(spare, &st) == 0 && (uint64_t)st.st_size == cfg->file_bytes) {
		if (rename(spare, path) != 0)
			return hl_io_errno_rc(errno);
		rc = hl_wal_create(path, cfg, out); /* recycles a renamed spare */
	} else if (access(path, F_OK) == 0) {
		rc = hl_wal_create(path, cfg, out); /* there already: reused */
	} else {
		/* invariant 4: zero-filled and headed under a temporary name,
		 * renamed into place only then */
		char tmp[PATH_MAX];
		int n = snprintf(tmp, sizeof tmp, "%s.new", path);
		if (n < 0 || (size_t)n >= sizeof tmp)
			return HL_EINVAL;
		unlink(tmp); /* a half-made one of a crash */
		rc = hl_wal_create(tmp, cfg, out);
		if (!rc && rename(tmp, path) != 0) {
			rc = hl_io_errno_rc(errno);
			unlink(tmp);
		}
	}
	if (!rc)
		rc = hl_walseg_sync_dir(dir); /* invariant 3 */
	if (rc && *out) {
		hl_wal_close(*out);
		*out = NULL;
	}
	return rc;
}

int hl_walseg_prepare_spare(const char *dir, uint64_t file_bytes,
			    const struct hl_io_config *io)
{
	char spare[PATH_MAX], tmp[PATH_MAX];
	int rc = spare_path(dir, spare, sizeof spare);
	if (rc)
		return rc;
	if (access(spare, F_OK) == 0)
		return 0;
	int n = snprintf(tmp, sizeof tmp, "%s.new", spare);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return HL_EINVAL;
	unlink(tmp); /* a half-made one of a crash */
	struct hl_io *f;
	if ((rc = hl_io_open(tmp, HL_IO_CREATE, file_bytes, io, &f)))
		return rc;
	hl_io_close(f);
	/* a spare already made meanwhile is kept; this one goes */
	if (access(spare, F_OK) == 0 || rename(tmp, spare) != 0) {
		unlink(tmp);
		return 0;
	}
	return hl_walseg_sync_dir(dir);
}

int hl_walseg_retire(const char *dir, uint64_t seg)
{
	char path[PATH_MAX], spare[PATH_MAX];
	int rc = hl_walseg_path(dir, seg, path, sizeof path);
	if (!rc)
		rc = spare_path(dir, spare, sizeof spare);
	if (rc)
		return rc;
	if (access(spare, F_OK) != 0 ? rename(path, spare) : unlink(path))
		return errno == ENOENT ? 0 : hl_io_errno_rc(errno);
	return 0;
}

/* ---- reading the chain --------------------------------------------------------- */

/* A segment's header alone: HL_ENOENT, HL_ECORRUPT, HL_EVERSION,
 * HL_EMISMATCH (another geometry). */
static int read_header(const char *path, uint64_t geometry,
		       struct hl_wal_info *info)
{
	unsigned char hdr[HL_WAL_HDR_BYTES];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return hl_io_errno_rc(errno);
	ssize_t got = pread(fd, hdr, sizeof hdr, 0);
	close(fd);
	int rc = hl_wal_header_parse(hdr, got < 0 ? 0 : (size_t)got, info);
	if (!rc && geometry && info->geometry != geometry)
		rc = HL_EMISMATCH;
	return rc;
}

int hl_walseg_header(const char *dir, uint64_t seg, uint64_t geometry,
		     struct hl_wal_info *info)
{
	char path[PATH_MAX];
	int rc = hl_walseg_path(dir, seg, path, sizeof path);
	return rc ? rc : read_header(path, geometry, info);
}

int hl_walseg_scan(const char *dir, uint64_t from_seg, uint64_t from_lsn,
		   uint64_t geometry, uint64_t upto_seg, hl_wal_record_fn *fn,
		   void *ctx, struct hl_walseg_scan *out)
{
	memset(out, 0, sizeof *out);
	out->end_lsn = from_lsn;
	out->next_seg = from_seg;
	for (uint64_t s = from_seg; !upto_seg || s < upto_seg; s++) {
		char path[PATH_MAX];
		struct hl_wal_info info;
		struct hl_wal_scan_result res;
		int rc = hl_walseg_path(dir, s, path, sizeof path);
		if (rc)
			return rc;
		if (access(path, F_OK) != 0)
			break; /* the chain's end */
		rc = read_header(path, geometry, &info);
		if (rc && s == from_seg)
			return rc; /* the first segment needed: say why */
		/* invariant 1: a segment that does not continue the chain ends
		 * it; so does one whose records stopped short of the next */
		if (rc || (s > from_seg && (info.start_lsn < out->end_lsn ||
					    info.start_lsn - out->end_lsn >=
						    HL_WAL_REC_HDR_BYTES)) ||
		    (s == from_seg && info.start_lsn > from_lsn)) {
			out->broken = true;
			break;
		}
		rc = hl_wal_scan_file(path, geometry, &info, fn, ctx, &res);
		if (rc)
			return rc;
		out->records += res.records;
		out->end_lsn = res.end_lsn;
		out->stop = res.stop;
		out->last_seg = s;
		out->next_seg = s + 1;
		out->segments++;
	}
	return 0;
}
