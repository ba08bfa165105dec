/*
 * persist_util.h - helpers of the persistence suites (test_wal.c,
 * test_persist_io.c): a scratch directory on a real file system, WAL
 * records that check themselves, and a model of what was appended.
 *
 * The scratch directory lives under /var/tmp (HELIOS_TEST_DIR overrides
 * it), never /dev/shm: O_DIRECT and device flushes are what these suites
 * test. Each test makes its own directory (Criterion forks every test);
 * register pu_dir_remove as the suite's .fini so it goes even after a
 * failed assertion.
 *
 * Record i of a run has type HL_WAL_TYPE_USER + i % 7, a length that
 * varies with i, and payload bytes that encode i and their own position,
 * so a record read back from the wrong place or the wrong run names itself.
 *
 * Header-only (static functions), like testutil.h.
 */
#ifndef HELIOS_TESTS_PERSIST_UTIL_H
#define HELIOS_TESTS_PERSIST_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helios.h"
#include "testutil.h"
#include "wal.h"

#define PU_GEOMETRY 0x6765306d65747279ull

static char pu_dir[512];

static inline int pu_rm_one(const char *p, const struct stat *st, int flag,
			    struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(p);
}

static inline void pu_dir_remove(void)
{
	if (pu_dir[0])
		nftw(pu_dir, pu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	pu_dir[0] = 0;
}

/* A fresh directory for this test. */
static inline const char *pu_dir_make(void)
{
	const char *base = getenv("HELIOS_TEST_DIR");
	snprintf(pu_dir, sizeof pu_dir, "%s/helios-persist-XXXXXX",
		 base ? base : "/var/tmp");
	cr_assert_not_null(mkdtemp(pu_dir), "mkdtemp %s", pu_dir);
	return pu_dir;
}

/* dir/name in a static buffer of 4 (enough for any one test's paths). */
static inline const char *pu_path(const char *name)
{
	static char paths[4][600];
	static unsigned next;
	char *p = paths[next++ % 4];
	snprintf(p, sizeof paths[0], "%s/%s", pu_dir, name);
	return p;
}

/* ---- self-checking records ---------------------------------------------------- */

static inline uint32_t pu_len(uint64_t i)
{
	static const uint32_t lens[] = { 0, 1, 7, 8, 24, 100, 4000, 4064,
					 4096, 5000, 9000, 13 };
	return lens[i % 12] + (uint32_t)(i % 5);
}

static inline unsigned pu_type(uint64_t i)
{
	return HL_WAL_TYPE_USER + (unsigned)(i % 7);
}

static inline unsigned char pu_byte(uint64_t i, uint32_t at)
{
	uint64_t z = (i + 1) * 0x9e3779b97f4a7c15ull + at * 0xbf58476d1ce4e5b9ull;
	return (unsigned char)(z >> 56);
}

static inline void pu_fill(unsigned char *p, uint64_t i, uint32_t len)
{
	for (uint32_t k = 0; k < len; k++)
		p[k] = pu_byte(i, k);
}

static inline int pu_append(struct hl_wal *w, uint64_t i, uint64_t *lsn)
{
	static unsigned char buf[16384];
	uint32_t len = pu_len(i);
	pu_fill(buf, i, len);
	return hl_wal_append(w, pu_type(i), buf, len, lsn);
}

/* What a scan delivered, checked as it goes against records first, first +
 * 1, ...: counts matches, and the first mismatch stops the scan. */
struct pu_seen {
	uint64_t first;     /* index of the first record expected */
	uint64_t count;     /* records delivered and matching */
	uint64_t last_lsn;
	int bad;            /* a record did not match */
	char why[160];
};

static inline int pu_check_record(void *ctx, uint64_t lsn, unsigned type,
				  const void *payload, uint32_t len)
{
	struct pu_seen *s = ctx;
	uint64_t i = s->first + s->count;
	const unsigned char *p = payload;
	if (type != pu_type(i) || len != pu_len(i) ||
	    (s->count && lsn <= s->last_lsn)) {
		snprintf(s->why, sizeof s->why, "record %llu: type %u len %u lsn %llu",
			 (unsigned long long)i, type, len, (unsigned long long)lsn);
		s->bad = 1;
		return 1;
	}
	for (uint32_t k = 0; k < len; k++)
		if (p[k] != pu_byte(i, k)) {
			snprintf(s->why, sizeof s->why, "record %llu byte %u",
				 (unsigned long long)i, k);
			s->bad = 1;
			return 1;
		}
	s->count++;
	s->last_lsn = lsn;
	return 0;
}

static inline void pu_wal_config(struct hl_wal_config *cfg, uint64_t file_bytes)
{
	hl_wal_config_init(cfg);
	cfg->geometry = PU_GEOMETRY;
	cfg->file_bytes = file_bytes;
	cfg->start_lsn = 1ull << 20;
}

/* The whole file, read into memory (free()). */
static inline unsigned char *pu_read_file(const char *path, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0, "open %s", path);
	cr_assert_eq(fstat(fd, &st), 0);
	unsigned char *b = malloc((size_t)st.st_size + 1);
	cr_assert_not_null(b);
	cr_assert_eq(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static inline void pu_write_at(const char *path, const void *p, size_t len,
			       uint64_t off)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, p, len, (off_t)off), (ssize_t)len);
	cr_assert_eq(fsync(fd), 0);
	close(fd);
}

/* ---- the persister suites' states (test_persister.c, test_persist_torn.c,
 * test_persist_crash.c) -------------------------------------------------
 *
 * State `gen`: PU_STATE_CHUNKS chunks of PU_CHUNK bytes; chunk 0 is the
 * same for every gen (so states share a leaf, as a search's do), the rest
 * hold gen's own self-checking pattern (testutil.h). */
#define PU_CHUNK 4096u
#define PU_STATE_CHUNKS 3u

static inline void pu_gen_fill(unsigned char *buf, uint32_t gen)
{
	tu_pattern_fill(buf, 0, PU_CHUNK, 0);
	tu_pattern_fill(buf + PU_CHUNK, PU_CHUNK, (PU_STATE_CHUNKS - 1) * PU_CHUNK, gen);
}

/* Writes state gen into s and commits it with flags (hl_commit_ex). */
static inline int pu_gen_commit(hl_state *s, uint32_t gen, unsigned flags,
				hl_id *id)
{
	static unsigned char buf[PU_STATE_CHUNKS * PU_CHUNK];
	pu_gen_fill(buf, gen);
	int rc = hl_state_resize(s, sizeof buf);
	if (!rc)
		rc = hl_state_write(s, 0, buf, sizeof buf);
	return rc ? rc : hl_commit_ex(s, id, NULL, flags);
}

/* 0 when id restores in a as state gen byte for byte; hl_restore's error,
 * or -1 for other bytes. */
static inline int pu_gen_restores(hl_arena *a, hl_id id, uint32_t gen)
{
	static unsigned char got[PU_STATE_CHUNKS * PU_CHUNK], want[sizeof got];
	hl_state *s;
	int rc = hl_state_new(a, &s);
	if (!rc)
		rc = hl_restore(s, id);
	if (!rc && hl_state_size(s) != sizeof got)
		rc = -1;
	if (!rc)
		rc = hl_state_read(s, 0, got, sizeof got);
	if (!rc) {
		pu_gen_fill(want, gen);
		rc = memcmp(got, want, sizeof got) ? -1 : 0;
	}
	hl_state_free(s);
	return rc;
}

#endif
