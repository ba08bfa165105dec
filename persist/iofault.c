/*
 * iofault.c - injected write and flush errors, refused backends, and a
 * power-loss simulation under the write engine (tests only; see iofault.h).
 *
 * Power loss. Until the engine has seen a flush complete, nothing it wrote
 * since the previous one is promised: the device may have kept any subset
 * of its sectors, in any order, and a sector whose write was cut may read
 * back as zeros or as garbage. The layer therefore records each write (its
 * offset, the new bytes and the bytes it replaced, read from the file just
 * before) and, on hl_iofault_crash, decides the fate of each:
 *
 *   kept     every sector new: the write made it;
 *   dropped  every sector as before the write;
 *   torn     a random prefix of its sectors new; each later sector old,
 *            zeroed or garbled, at random.
 *
 * Invariants:
 *   1. A write recorded before the last completed flush is never touched:
 *      on_durable forgets every record (the engine calls it only after the
 *      batch's device flush returned success, io.c invariant 2).
 *   2. The result is what some real power loss could leave: per sector,
 *      the content is the newest recorded write that landed there, else
 *      the content from before the first recorded write, else a zeroed or
 *      garbled sector of a torn write. crash() gets this by first undoing
 *      every recorded write, newest first, then replaying the sectors
 *      that landed, oldest first.
 *   3. The same seed gives the same crash (tests replay failures).
 *
 * Counters and fail_at triggers count every write and flush the layer saw,
 * from 1; each trigger fires once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "iofault.h"
#include "shm.h"

struct record {
	uint64_t off, len;
	unsigned char *old_bytes, *new_bytes;
};

struct hl_iofault {
	struct hl_iofault_config cfg;
	uint64_t writes, flushes;
	struct record *rec;
	size_t rec_count, rec_cap;
};

int hl_iofault_new(const struct hl_iofault_config *cfg, struct hl_iofault **out)
{
	if (!cfg || !out)
		return HL_EINVAL;
	struct hl_iofault *f = calloc(1, sizeof *f);
	if (!f)
		return HL_ENOMEM;
	f->cfg = *cfg;
	*out = f;
	return 0;
}

static void forget(struct hl_iofault *f)
{
	for (size_t i = 0; i < f->rec_count; i++) {
		hl_io_buf_free(f->rec[i].old_bytes);
		hl_io_buf_free(f->rec[i].new_bytes);
	}
	f->rec_count = 0;
}

void hl_iofault_free(struct hl_iofault *f)
{
	if (!f)
		return;
	forget(f);
	free(f->rec);
	free(f);
}

uint64_t hl_iofault_writes(const struct hl_iofault *f) { return f->writes; }
uint64_t hl_iofault_flushes(const struct hl_iofault *f) { return f->flushes; }

bool hl_iofault_refuses_uring(const struct hl_iofault *f)
{
	return f->cfg.refuse_uring;
}

bool hl_iofault_refuses_direct(const struct hl_iofault *f)
{
	return f->cfg.refuse_direct;
}

bool hl_iofault_refuses_direct_writes(const struct hl_iofault *f)
{
	return f->cfg.refuse_direct_writes;
}

/* Saves the write's new bytes and the bytes it replaces. A record that
 * cannot be made (no memory) is a test failure, not a silent gap: it fails
 * the write with ENOMEM. */
static int record_write(struct hl_iofault *f, int fd, const void *buf,
			uint64_t len, uint64_t off)
{
	if (f->rec_count == f->rec_cap) {
		size_t cap = f->rec_cap ? 2 * f->rec_cap : 16;
		struct record *r = realloc(f->rec, cap * sizeof *r);
		if (!r)
			return ENOMEM;
		f->rec = r;
		f->rec_cap = cap;
	}
	struct record *r = &f->rec[f->rec_count];
	r->off = off;
	r->len = len;
	r->old_bytes = hl_io_buf_alloc(len);
	r->new_bytes = hl_io_buf_alloc(len);
	if (!r->old_bytes || !r->new_bytes) {
		hl_io_buf_free(r->old_bytes);
		hl_io_buf_free(r->new_bytes);
		return ENOMEM;
	}
	memcpy(r->new_bytes, buf, len);
	for (uint64_t done = 0; done < len;) { /* short read: zeros past EOF */
		ssize_t n = pread(fd, r->old_bytes + done, len - done,
				  (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (uint64_t)n;
	}
	f->rec_count++;
	return 0;
}

int hl_iofault_on_write(struct hl_iofault *f, int fd, const void *buf,
			uint64_t len, uint64_t off)
{
	f->writes++;
	if (f->cfg.write_fail_at && f->writes == f->cfg.write_fail_at)
		return f->cfg.write_errno ? f->cfg.write_errno : EIO;
	return f->cfg.record ? record_write(f, fd, buf, len, off) : 0;
}

int hl_iofault_on_flush(struct hl_iofault *f)
{
	f->flushes++;
	if (f->cfg.flush_fail_at && f->flushes == f->cfg.flush_fail_at)
		return f->cfg.flush_errno ? f->cfg.flush_errno : EIO;
	return 0;
}

void hl_iofault_on_durable(struct hl_iofault *f)
{
	forget(f);
}

/* ---- the crash ------------------------------------------------------------- */

static uint64_t next_rand(uint64_t *s) /* splitmix64 */
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int write_at(int fd, const void *p, uint64_t len, uint64_t off)
{
	return pwrite(fd, p, len, (off_t)off) == (ssize_t)len ? 0 : HL_EIO;
}

enum fate { KEPT, DROPPED, TORN };

/* Replays the sectors of r that landed (invariant 2, second pass). */
static int land(int fd, const struct record *r, uint64_t *rng,
		struct hl_iofault_crash_info *info)
{
	enum fate fate = (enum fate)(next_rand(rng) % 3);
	uint64_t sectors = (r->len + HL_IOFAULT_SECTOR_BYTES - 1) /
			   HL_IOFAULT_SECTOR_BYTES;
	uint64_t prefix = fate == KEPT ? sectors
			: fate == DROPPED ? 0 : next_rand(rng) % (sectors + 1);
	unsigned char junk[HL_IOFAULT_SECTOR_BYTES];
	info->kept += fate == KEPT;
	info->dropped += fate == DROPPED;
	info->torn += fate == TORN;
	uint64_t keep = prefix * HL_IOFAULT_SECTOR_BYTES;
	if (keep > r->len)
		keep = r->len;
	if (keep && write_at(fd, r->new_bytes, keep, r->off))
		return HL_EIO;
	for (uint64_t s = prefix; fate == TORN && s < sectors; s++) {
		uint64_t at = s * HL_IOFAULT_SECTOR_BYTES;
		uint64_t n = r->len - at < HL_IOFAULT_SECTOR_BYTES
				     ? r->len - at : HL_IOFAULT_SECTOR_BYTES;
		switch (next_rand(rng) % 3) {
		case 0:
			info->sectors_old++;
			continue;
		case 1:
			memset(junk, 0, sizeof junk);
			info->sectors_zeroed++;
			break;
		default:
			for (size_t i = 0; i < sizeof junk; i++)
				junk[i] = (unsigned char)next_rand(rng);
			info->sectors_garbled++;
			break;
		}
		if (write_at(fd, junk, n, r->off + at))
			return HL_EIO;
	}
	return 0;
}

int hl_iofault_crash(struct hl_iofault *f, const char *path, uint64_t seed,
		     struct hl_iofault_crash_info *info)
{
	struct hl_iofault_crash_info local;
	int rc = 0;
	if (!f || !path)
		return HL_EINVAL;
	if (!info)
		info = &local;
	memset(info, 0, sizeof *info);
	info->writes = f->rec_count;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return hl_io_errno_rc(errno);
	for (size_t i = f->rec_count; i-- > 0 && !rc;)
		rc = write_at(fd, f->rec[i].old_bytes, f->rec[i].len,
			      f->rec[i].off);
	uint64_t rng = seed;
	for (size_t i = 0; i < f->rec_count && !rc; i++)
		rc = land(fd, &f->rec[i], &rng, info);
	if (!rc && fsync(fd) != 0)
		rc = hl_io_errno_rc(errno);
	close(fd);
	forget(f);
	return rc;
}
