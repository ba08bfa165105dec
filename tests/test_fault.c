/*
 * test_fault.c - faults, corruption and bad input: what a user relies on
 * when things go wrong.
 *
 *  - Resource exhaustion: a full index and a full heap answer HL_EFULL,
 *    harm nothing already stored, and leave the failing state as it was.
 *  - Corrupt arenas: a wrong format version, garbage, zeros, a header whose
 *    checksum fails, a header that checksums but lies about its geometry, a
 *    truncated or extended file: each is a clear error on attach, never a
 *    crash.
 *  - Bad arguments, names and configurations: HL_EINVAL, nothing created.
 *  - Ranges, unknown ids, ids that name nodes but not snapshots, refs.
 *  - Access: read-only attaches, the shm object's mode, process slots
 *    (full, freed, held by a dead or zombie process).
 *
 * Every arena is named through testutil.h and unlinked by the suite's fini.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"
#include "testutil.h"

TestSuite(fault, .fini = tu_unlink_all, .timeout = 60);

#define MiB (1ull << 20)
static const hl_id ZERO_ID = {0, 0};

/* ---- helpers -------------------------------------------------------------- */

static void shm_path(const char *name, char *out, size_t len)
{
	snprintf(out, len, "/dev/shm/helios.%s", name);
}

static hl_arena *arena_small(const char **name, uint64_t bytes, uint32_t chunk)
{
	return tu_arena_new("fault", bytes, chunk, name);
}

static int attach_rc(const char *name, unsigned flags)
{
	hl_arena *a = NULL;
	int rc = hl_arena_attach(name, flags, &a);
	if (rc == 0)
		hl_arena_close(a);
	else
		cr_assert_null(a, "a failed attach must not hand out a handle");
	return rc;
}

/* Maps the arena file of `name` (closed by every handle) read-write. */
static void *map_file(const char *name, size_t *len)
{
	char path[256];
	shm_path(name, path, sizeof path);
	int fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0);
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);
	cr_assert_neq(p, MAP_FAILED);
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

static uint64_t header_checksum(const struct hl_arena_hdr *h)
{
	return hl_hash64((const char *)h + HL_HDR_CHECKSUMMED_FROM,
			 HL_HDR_CHECKSUMMED_TO - HL_HDR_CHECKSUMMED_FROM, 0);
}

/* Writes `gen`'s pattern over [0, size) of s. */
static void fill_state(hl_state *s, uint64_t size, uint32_t gen,
		       unsigned char *buf)
{
	cr_assert_eq(hl_state_resize(s, size), 0);
	tu_pattern_fill(buf, 0, (size_t)size, gen);
	cr_assert_eq(hl_state_write(s, 0, buf, (size_t)size), 0);
}

/* Asserts s holds exactly size bytes of gen's pattern. */
static void assert_state_is(hl_state *s, uint64_t size, uint32_t gen,
			    unsigned char *buf, const char *what)
{
	cr_assert_eq(hl_state_size(s), size, "%s: size %" PRIu64 ", want %" PRIu64,
		     what, hl_state_size(s), size);
	int rc = hl_state_read(s, 0, buf, (size_t)size);
	cr_assert_eq(rc, 0, "%s: read: %s", what, hl_strerror(rc));
	int64_t bad = tu_pattern_check(buf, 0, (size_t)size, gen);
	cr_assert_eq(bad, -1, "%s: byte %" PRId64 " is not generation %u's", what,
		     bad, gen);
}

/* ---- resource exhaustion -------------------------------------------------- */

/*
 * Commits distinct states of `size` bytes until HL_EFULL, then checks that
 * the failure harmed nothing: every earlier snapshot restores to its bytes,
 * the failing state still holds its own bytes and base, content already
 * stored still commits (dedup needs no room), the books balance and the
 * checker passes. Returns the number of successful commits.
 */
static unsigned fill_until_full(hl_arena *a, uint64_t size, unsigned max_commits)
{
	hl_id *ids = calloc(max_commits, sizeof *ids);
	unsigned char *buf = malloc(size);
	cr_assert(ids && buf);
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	unsigned n = 0;
	int rc = 0;
	hl_commit_info info;
	for (; n < max_commits; n++) {
		fill_state(s, size, n + 1, buf);
		rc = hl_commit(s, &ids[n], &info);
		if (rc)
			break;
		cr_assert_gt(info.new_nodes, 0);
	}
	cr_assert_eq(rc, HL_EFULL, "after %u commits: %s (want HL_EFULL)", n,
		     hl_strerror(rc));
	cr_assert_gt(n, 10, "full after only %u commits", n);
	const uint32_t failed_gen = n + 1;

	/* the failing state is unchanged: its bytes, its base */
	assert_state_is(s, size, failed_gen, buf, "failed state");
	cr_assert(hl_id_eq(hl_state_base(s), ids[n - 1]),
		  "a failed commit moved the base");
	/* still no room: failing again changes nothing either */
	hl_id again;
	cr_assert_eq(hl_commit(s, &again, NULL), HL_EFULL);
	assert_state_is(s, size, failed_gen, buf, "failed state, twice");

	/* everything stored before restores byte-identical */
	hl_state *t;
	cr_assert_eq(hl_state_new(a, &t), 0);
	for (unsigned i = 0; i < n; i++) {
		rc = hl_restore(t, ids[i]);
		cr_assert_eq(rc, 0, "restore #%u: %s", i, hl_strerror(rc));
		assert_state_is(t, size, i + 1, buf, "old snapshot");
	}
	/* content already there commits with no room left: to the same id */
	rc = hl_restore(s, ids[n / 2]);
	cr_assert_eq(rc, 0, "restore of an old id into the failed state: %s",
		     hl_strerror(rc));
	assert_state_is(s, size, n / 2 + 1, buf, "failed state after restore");
	fill_state(s, size, n / 2 + 1, buf); /* dirty, same bytes */
	rc = hl_commit(s, &again, &info);
	cr_assert_eq(rc, 0, "recommit of stored content: %s", hl_strerror(rc));
	cr_assert(hl_id_eq(again, ids[n / 2]));
	cr_assert_eq(info.new_nodes, 0);
	/* and so does the empty state */
	cr_assert_eq(hl_state_resize(s, 0), 0);
	cr_assert_eq(hl_commit(s, &again, NULL), 0);
	cr_assert(hl_id_is_zero(again));

	hl_state_free(t);
	hl_state_free(s);
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.nodes, hl_index_used(a), "nodes %" PRIu64 " index_used %" PRIu64,
		     st.nodes, hl_index_used(a));
	tu_assert_arena_ok(a, "after HL_EFULL");
	free(ids);
	free(buf);
	return n;
}

/* A tiny index (1024 entries) fills long before the heap: 1-chunk states,
 * two nodes (leaf, root) per commit. */
Test(fault, full_index)
{
	hl_config cfg;
	tu_config_small(&cfg, 8 * MiB, 64);
	cfg.index_capacity = 1024;
	hl_arena *a = tu_arena_create_cfg(tu_arena_name("fault"), &cfg);
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.index_capacity, 1024);
	unsigned n = fill_until_full(a, 64, 4096);
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_leq(st.index_used, st.index_capacity);
	cr_assert_lt(st.heap_used_bytes, st.heap_bytes / 2,
		     "the heap, not the index, filled up");
	cr_assert_geq(2 * n, 256, "full before one probe window's worth");
	/* refs live outside the index: still usable */
	hl_id id;
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	unsigned char b = 7;
	cr_assert_eq(hl_state_resize(s, 64), 0);
	cr_assert_eq(hl_state_write(s, 0, &b, 1), 0);
	int rc = hl_commit(s, &id, NULL);
	cr_assert(rc == 0 || rc == HL_EFULL, "%s", hl_strerror(rc));
	hl_state_free(s);
	cr_assert_eq(hl_ref_set(a, "still-works", ZERO_ID), 0);
	cr_assert_eq(hl_ref_get(a, "still-works", &id), 0);
	hl_arena_close(a);
}

/* A 4 MiB arena with a roomy index: the heap fills first. 4-chunk states:
 * four leaves, an inner node and a root per commit. */
Test(fault, full_heap)
{
	hl_config cfg;
	tu_config_small(&cfg, 4 * MiB, 4096);
	cfg.index_capacity = 1 << 16;
	hl_arena *a = tu_arena_create_cfg(tu_arena_name("fault"), &cfg);
	fill_until_full(a, 4 * 4096, 4096);
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_lt(st.index_used, st.index_capacity / 8,
		     "the index, not the heap, filled up");
	cr_assert_leq(st.heap_used_bytes, st.heap_bytes);
	/* a ref needs a heap object for its name: room or HL_EFULL, no harm */
	int rc = hl_ref_set(a, "maybe", ZERO_ID);
	cr_assert(rc == 0 || rc == HL_EFULL, "%s", hl_strerror(rc));
	tu_assert_arena_ok(a, "after a ref on a full heap");
	hl_arena_close(a);
}

/* ---- corrupt arenas -------------------------------------------------------- */

Test(fault, wrong_version)
{
	const char *name;
	hl_arena *a = arena_small(&name, 4 * MiB, 4096);
	hl_arena_close(a);
	size_t len;
	struct hl_arena_hdr *h = map_file(name, &len);
	cr_assert_eq(h->version, HL_FORMAT_VERSION);
	h->version++;
	cr_assert_eq(attach_rc(name, 0), HL_EVERSION);
	cr_assert_eq(attach_rc(name, HL_RDONLY), HL_EVERSION);
	h->version--;
	h->features |= 1u << 31; /* a feature this build does not know */
	cr_assert_eq(attach_rc(name, 0), HL_EVERSION);
	h->features = HL_FEATURES_KNOWN;
	cr_assert_eq(attach_rc(name, 0), 0, "restored header must attach");
	munmap(h, len);
}

/* Creates the raw file of arena `name` with `bytes` bytes (zeros). */
static int raw_file(const char *name, uint64_t bytes)
{
	char path[256];
	shm_path(name, path, sizeof path);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0, "create %s: %s", path, strerror(errno));
	cr_assert_eq(ftruncate(fd, (off_t)bytes), 0);
	return fd;
}

Test(fault, garbage_arena)
{
	const char *name = tu_arena_name("fault");
	int fd = raw_file(name, 4 * MiB);
	unsigned char *buf = malloc(4 * MiB);
	cr_assert_not_null(buf);
	struct tu_rng rng;
	tu_rng_seed(&rng, 99);
	tu_rng_fill(&rng, buf, 4 * MiB);
	cr_assert_eq(pwrite(fd, buf, 4 * MiB, 0), (ssize_t)(4 * MiB));
	cr_assert_eq(attach_rc(name, 0), HL_ECORRUPT);
	cr_assert_eq(attach_rc(name, HL_RDONLY), HL_ECORRUPT);

	/* garbage behind a valid magic, version and feature word: caught by
	 * the checksum, not trusted */
	struct hl_arena_hdr *h = (struct hl_arena_hdr *)buf;
	h->magic = HL_ARENA_MAGIC;
	h->version = HL_FORMAT_VERSION;
	h->features = HL_FEATURES_KNOWN;
	cr_assert_eq(pwrite(fd, buf, sizeof *h, 0), (ssize_t)sizeof *h);
	cr_assert_eq(attach_rc(name, 0), HL_ECORRUPT);
	/* hl_arena_create refuses to take the name over */
	hl_config cfg;
	tu_config_small(&cfg, 4 * MiB, 4096);
	hl_arena *a = NULL;
	cr_assert_eq(hl_arena_create(name, &cfg, &a), HL_EEXIST);
	close(fd);
	free(buf);
}

/* A zero-filled file, or an empty one, looks like an arena whose creator
 * has not published its header (or its size) yet: attach waits, bounded,
 * then answers HL_EBUSY (helios.h: retry, or unlink it). */
static void assert_busy_after_bounded_wait(const char *name, unsigned flags)
{
	uint64_t t0 = hl_now_ns();
	cr_assert_eq(attach_rc(name, flags), HL_EBUSY);
	uint64_t waited = hl_now_ns() - t0;
	cr_assert_geq(waited, HL_ATTACH_WAIT_NS / 2, "gave up after %" PRIu64 " ns",
		      waited);
	cr_assert_lt(waited, 10 * HL_ATTACH_WAIT_NS + 2000000000ull,
		     "waited %" PRIu64 " ns: the wait must be bounded", waited);
}

Test(fault, zero_filled_arena)
{
	const char *name = tu_arena_name("fault");
	close(raw_file(name, 4 * MiB));
	assert_busy_after_bounded_wait(name, 0);
	assert_busy_after_bounded_wait(name, HL_RDONLY);
	cr_assert_eq(hl_arena_unlink(name), 0, "a stuck arena can be unlinked");
	name = tu_arena_name("fault");
	close(raw_file(name, 0));
	assert_busy_after_bounded_wait(name, 0);
}

/* chunk_bytes 4096 -> 8192 is a valid geometry: only the checksum can tell. */
Test(fault, header_checksum_mismatch)
{
	const char *name;
	hl_arena *a = arena_small(&name, 4 * MiB, 4096);
	hl_arena_close(a);
	size_t len;
	struct hl_arena_hdr *h = map_file(name, &len);
	unsigned char *p = (unsigned char *)h +
			   offsetof(struct hl_arena_hdr, chunk_bytes) + 1;
	cr_assert_eq(*p, 0x10);
	*p = 0x20;
	cr_assert_eq(attach_rc(name, 0), HL_ECORRUPT);
	cr_assert_eq(attach_rc(name, HL_RDONLY), HL_ECORRUPT);
	*p = 0x10;
	cr_assert_eq(attach_rc(name, 0), 0, "restored header must attach");
	/* a flip in the stored checksum itself */
	h->hdr_checksum ^= 1u << 7;
	cr_assert_eq(attach_rc(name, 0), HL_ECORRUPT);
	h->hdr_checksum ^= 1u << 7;
	cr_assert_eq(attach_rc(name, 0), 0);
	munmap(h, len);
}

/* Headers that checksum correctly but describe an impossible arena: every
 * geometry check stands on its own (each is undone before the next). */
Test(fault, header_lies_with_valid_checksum)
{
	const char *name;
	hl_arena *a = arena_small(&name, 4 * MiB, 4096);
	hl_arena_close(a);
	size_t len;
	struct hl_arena_hdr *h = map_file(name, &len);
	struct hl_arena_hdr saved;
	memcpy(&saved, h, sizeof saved);
	for (int m = 0;; m++) {
		const char *what;
		switch (m) {
		case 0: what = "arena_bytes doubled"; h->arena_bytes *= 2; break;
		case 1: what = "chunk_bytes 100"; h->chunk_bytes = 100; break;
		case 2: what = "chunk_bytes 2 MiB"; h->chunk_bytes = 2u << 20; break;
		case 3: what = "fanout 8"; h->fanout = 8; break;
		case 4: what = "page_bytes 8192"; h->page_bytes = 8192; break;
		case 5: what = "max_processes 0"; h->max_processes = 0; break;
		case 6: what = "index_buckets 3"; h->index_buckets = 3; break;
		case 7:
			what = "index_buckets x4";
			h->index_buckets *= 4;
			break;
		case 8: what = "slab_bytes 100"; h->slab_bytes = 100; break;
		case 9:
			what = "heap off unaligned";
			h->regions[HL_REGION_HEAP].off += 64;
			break;
		case 10:
			what = "heap past the end";
			h->regions[HL_REGION_HEAP].off += 4 * MiB;
			break;
		case 11:
			what = "heap bytes huge";
			h->regions[HL_REGION_HEAP].bytes = UINT64_MAX - 4095;
			break;
		case 12:
			what = "regions out of order";
			h->regions[HL_REGION_SLOTS].off =
				h->regions[HL_REGION_INDEX].off;
			break;
		case 13:
			what = "slots region too small";
			h->regions[HL_REGION_SLOTS].bytes = 0;
			break;
		case 14: what = "class_count 0"; h->class_count = 0; break;
		case 15:
			what = "class_count 17";
			h->class_count = HL_CLASSES_MAX + 1;
			break;
		case 16:
			what = "classes not increasing";
			h->class_bytes[1] = h->class_bytes[0];
			break;
		case 17: what = "refs_capacity 0"; h->refs_capacity = 0; break;
		default: what = NULL;
		}
		if (!what)
			break;
		h->hdr_checksum = header_checksum(h);
		cr_assert_eq(attach_rc(name, 0), HL_ECORRUPT, "%s", what);
		cr_assert_eq(attach_rc(name, HL_RDONLY), HL_ECORRUPT, "%s", what);
		memcpy(h, &saved, sizeof saved);
		cr_assert_eq(attach_rc(name, 0), 0, "restored after %s", what);
	}
	munmap(h, len);
}

Test(fault, truncated_and_extended_arena)
{
	const uint64_t bytes = 4 * MiB;
	const uint64_t sizes[] = {bytes / 2, 100, 1, bytes + 4096, bytes - 4096};
	for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		const char *name;
		hl_arena *a = arena_small(&name, bytes, 4096);
		hl_arena_close(a);
		char path[256];
		shm_path(name, path, sizeof path);
		cr_assert_eq(truncate(path, (off_t)sizes[i]), 0);
		cr_assert_eq(attach_rc(name, 0), HL_ECORRUPT,
			     "file of %" PRIu64 " bytes", sizes[i]);
		cr_assert_eq(attach_rc(name, HL_RDONLY), HL_ECORRUPT,
			     "file of %" PRIu64 " bytes", sizes[i]);
	}
}

Test(fault, missing_arena)
{
	const char *name = tu_arena_name("fault");
	cr_assert_eq(attach_rc(name, 0), HL_ENOENT);
	cr_assert_eq(attach_rc(name, HL_RDONLY), HL_ENOENT);
	cr_assert_eq(hl_arena_unlink(name), HL_ENOENT);
	cr_assert_eq(attach_rc("/nonexistent-dir-helios/arena", 0), HL_ENOENT);
	/* an unlinked arena is gone for attach, kept by who holds it */
	hl_arena *a = arena_small(&name, 4 * MiB, 4096);
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	cr_assert_eq(hl_arena_unlink(name), 0);
	cr_assert_eq(attach_rc(name, 0), HL_ENOENT);
	hl_id id;
	unsigned char b = 1;
	cr_assert_eq(hl_state_resize(s, 10), 0);
	cr_assert_eq(hl_state_write(s, 3, &b, 1), 0);
	cr_assert_eq(hl_commit(s, &id, NULL), 0);
	cr_assert_eq(hl_restore(s, id), 0);
	hl_state_free(s);
	hl_arena_close(a);
}

Test(fault, path_form_arena)
{
	char dir[] = "/tmp/helios-fault-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof path, "%s/arena", dir);
	tu_arena_name_register(path);
	hl_config cfg;
	tu_config_small(&cfg, 4 * MiB, 4096);
	hl_arena *a = NULL;
	int rc = hl_arena_create(path, &cfg, &a);
	cr_assert_eq(rc, 0, "create %s: %s", path, hl_strerror(rc));
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
	cr_assert_eq((uint64_t)st.st_size, 4 * MiB);

	hl_state *s;
	unsigned char buf[10000];
	cr_assert_eq(hl_state_new(a, &s), 0);
	fill_state(s, sizeof buf, 5, buf);
	hl_id id;
	cr_assert_eq(hl_commit(s, &id, NULL), 0);
	cr_assert_eq(hl_ref_set(a, "p", id), 0);
	hl_state_free(s);
	hl_arena *b = NULL;
	cr_assert_eq(hl_arena_create(path, &cfg, &b), HL_EEXIST);
	hl_arena_close(a);

	cr_assert_eq(hl_arena_attach(path, 0, &b), 0);
	hl_id got;
	cr_assert_eq(hl_ref_get(b, "p", &got), 0);
	cr_assert(hl_id_eq(got, id));
	cr_assert_eq(hl_state_new(b, &s), 0);
	cr_assert_eq(hl_restore(s, id), 0);
	assert_state_is(s, sizeof buf, 5, buf, "path-form arena");
	hl_state_free(s);
	hl_arena_close(b);

	cr_assert_eq(hl_arena_unlink(path), 0);
	cr_assert_neq(stat(path, &st), 0, "unlink left the file");
	cr_assert_eq(attach_rc(path, 0), HL_ENOENT);
	cr_assert_eq(hl_arena_unlink(path), HL_ENOENT);
	/* a directory that does not exist */
	char bad[300];
	snprintf(bad, sizeof bad, "%s/no/such/arena", dir);
	cr_assert_eq(hl_arena_create(bad, &cfg, &a), HL_ENOENT);
	cr_assert_eq(rmdir(dir), 0);
}

/* ---- bad input ------------------------------------------------------------ */

static int never_called(uint64_t off, uint64_t len, void *ctx)
{
	(void)off, (void)len, (void)ctx;
	cr_assert_fail("diff callback called");
	return 0;
}

Test(fault, null_arguments)
{
	const char *name;
	hl_arena *a = arena_small(&name, 4 * MiB, 4096);
	hl_arena *out = NULL;
	hl_config cfg;
	tu_config_small(&cfg, 4 * MiB, 4096);
	cr_assert_eq(hl_arena_create(NULL, &cfg, &out), HL_EINVAL);
	cr_assert_eq(hl_arena_create(tu_arena_name("fault"), &cfg, NULL), HL_EINVAL);
	cr_assert_eq(hl_arena_attach(NULL, 0, &out), HL_EINVAL);
	cr_assert_eq(hl_arena_attach(name, 0, NULL), HL_EINVAL);
	cr_assert_eq(hl_arena_attach(name, 2, &out), HL_EINVAL, "unknown flag");
	cr_assert_eq(hl_arena_unlink(NULL), HL_EINVAL);
	hl_stats st;
	cr_assert_eq(hl_arena_stats(NULL, &st), HL_EINVAL);
	cr_assert_eq(hl_arena_stats(a, NULL), HL_EINVAL);
	cr_assert_eq(hl_arena_check(NULL, NULL, 0), HL_EINVAL);
	cr_assert_eq(hl_arena_check(a, NULL, 0), 0, "msg may be NULL");
	hl_arena_close(NULL);
	hl_config_init(NULL);

	hl_state *s = NULL, *f = NULL;
	cr_assert_eq(hl_state_new(NULL, &s), HL_EINVAL);
	cr_assert_eq(hl_state_new(a, NULL), HL_EINVAL);
	cr_assert_eq(hl_state_new(a, &s), 0);
	unsigned char buf[64] = {1, 2, 3};
	const void *p;
	size_t len;
	cr_assert_eq(hl_state_resize(s, sizeof buf), 0);
	cr_assert_eq(hl_state_write(s, 0, buf, sizeof buf), 0);
	cr_assert_eq(hl_state_write(NULL, 0, buf, 1), HL_EINVAL);
	cr_assert_eq(hl_state_write(s, 0, NULL, 1), HL_EINVAL);
	cr_assert_eq(hl_state_read(NULL, 0, buf, 1), HL_EINVAL);
	cr_assert_eq(hl_state_read(s, 0, NULL, 1), HL_EINVAL);
	cr_assert_eq(hl_state_view(NULL, 0, &p, &len), HL_EINVAL);
	cr_assert_eq(hl_state_view(s, 0, NULL, &len), HL_EINVAL);
	cr_assert_eq(hl_state_view(s, 0, &p, NULL), HL_EINVAL);
	cr_assert_eq(hl_state_resize(NULL, 10), HL_EINVAL);
	cr_assert_eq(hl_state_size(NULL), 0);
	cr_assert(hl_id_is_zero(hl_state_base(NULL)));
	hl_id id;
	cr_assert_eq(hl_commit(NULL, &id, NULL), HL_EINVAL);
	cr_assert_eq(hl_commit(s, NULL, NULL), HL_EINVAL);
	cr_assert_eq(hl_restore(NULL, ZERO_ID), HL_EINVAL);
	cr_assert_eq(hl_fork(NULL, &f), HL_EINVAL);
	cr_assert_eq(hl_fork(s, NULL), HL_EINVAL);
	/* none of that touched the state */
	unsigned char back[64];
	cr_assert_eq(hl_state_size(s), sizeof buf);
	cr_assert_eq(hl_state_read(s, 0, back, sizeof back), 0);
	cr_assert_arr_eq(back, buf, sizeof buf);
	cr_assert_eq(hl_commit(s, &id, NULL), 0);

	cr_assert_eq(hl_diff(NULL, id, id, never_called, NULL), HL_EINVAL);
	cr_assert_eq(hl_diff(a, id, ZERO_ID, NULL, NULL), HL_EINVAL);

	char n64[65];
	memset(n64, 'r', 64);
	n64[64] = '\0';
	cr_assert_eq(hl_ref_set(NULL, "x", id), HL_EINVAL);
	cr_assert_eq(hl_ref_set(a, NULL, id), HL_EINVAL);
	cr_assert_eq(hl_ref_set(a, "", id), HL_EINVAL);
	cr_assert_eq(hl_ref_set(a, n64, id), HL_EINVAL, "64-byte ref name");
	n64[63] = '\0';
	cr_assert_eq(hl_ref_set(a, n64, id), 0, "63-byte ref name");
	hl_id got;
	cr_assert_eq(hl_ref_get(a, n64, &got), 0);
	cr_assert(hl_id_eq(got, id));
	cr_assert_eq(hl_ref_get(NULL, "x", &got), HL_EINVAL);
	cr_assert_eq(hl_ref_get(a, NULL, &got), HL_EINVAL);
	cr_assert_eq(hl_ref_get(a, "", &got), HL_EINVAL);
	cr_assert_eq(hl_ref_get(a, n64, NULL), HL_EINVAL);
	cr_assert_eq(hl_ref_cas(a, "x", NULL, id), HL_EINVAL);
	cr_assert_eq(hl_ref_cas(NULL, "x", &got, id), HL_EINVAL);

	hl_state_free(NULL);
	hl_state_free(s);
	hl_arena_close(a);
}

Test(fault, id_hex)
{
	hl_id id = {0x0123456789abcdefull, 0xfedcba9876543210ull}, out;
	char hex[33];
	cr_assert_eq(hl_id_to_hex(id, hex), 0);
	cr_assert_str_eq(hex, "fedcba98765432100123456789abcdef");
	cr_assert_eq(hl_id_from_hex(hex, &out), 0);
	cr_assert(hl_id_eq(out, id));
	cr_assert_eq(hl_id_from_hex("FEDCBA98765432100123456789ABCDEF", &out), 0);
	cr_assert(hl_id_eq(out, id));
	cr_assert_eq(hl_id_to_hex(id, NULL), HL_EINVAL);
	cr_assert_eq(hl_id_from_hex(hex, NULL), HL_EINVAL);
	const char *bad[] = {
		"",
		"0",
		"fedcba98765432100123456789abcde",   /* 31 */
		"fedcba98765432100123456789abcdef0", /* 33 */
		"gedcba98765432100123456789abcdef",
		"fedcba9876543210 123456789abcdef",
		"fedcba9876543210-123456789abcdef",
		"0xdcba98765432100123456789abcdef",
		"fedcba98765432100123456789abcde\n",
	};
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(hl_id_from_hex(bad[i], &out), HL_EINVAL, "\"%s\"",
			     bad[i]);
	cr_assert_eq(hl_id_from_hex(NULL, &out), HL_EINVAL);
	/* round trips */
	struct tu_rng rng;
	tu_rng_seed(&rng, 3);
	for (int i = 0; i < 1000; i++) {
		id = (hl_id){tu_rng_next(&rng), tu_rng_next(&rng)};
		cr_assert_eq(hl_id_to_hex(id, hex), 0);
		cr_assert_eq(strlen(hex), 32);
		cr_assert_eq(hl_id_from_hex(hex, &out), 0);
		cr_assert(hl_id_eq(out, id));
	}
	cr_assert(hl_id_is_zero(ZERO_ID));
	cr_assert_not(hl_id_is_zero((hl_id){0, 1}));
	cr_assert_not(hl_id_eq((hl_id){1, 0}, (hl_id){0, 1}));
}

Test(fault, bad_names)
{
	char long_name[202];
	memset(long_name, 'n', 201);
	long_name[201] = '\0';
	const char *bad[] = {"", ".hidden", "a b", long_name, "tab\there",
			     "quote\"", "star*", "caf\xc3\xa9"};
	hl_config cfg;
	tu_config_small(&cfg, 4 * MiB, 4096);
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		hl_arena *a = NULL;
		cr_assert_eq(hl_arena_create(bad[i], &cfg, &a), HL_EINVAL,
			     "create \"%s\"", bad[i]);
		cr_assert_null(a);
		cr_assert_eq(hl_arena_attach(bad[i], 0, &a), HL_EINVAL,
			     "attach \"%s\"", bad[i]);
		cr_assert_eq(hl_arena_unlink(bad[i]), HL_EINVAL, "unlink \"%s\"",
			     bad[i]);
	}
	/* the longest valid name, and every allowed character */
	char name200[201];
	int n = snprintf(name200, sizeof name200, "t-fault-%d-", (int)getpid());
	memset(name200 + n, 'x', 200 - (size_t)n);
	name200[200] = '\0';
	const char *good[] = {name200, NULL};
	char every[128];
	snprintf(every, sizeof every, "t-fault-%d-AZaz09._-", (int)getpid());
	good[1] = every;
	for (unsigned i = 0; i < 2; i++) {
		tu_arena_name_register(good[i]);
		hl_arena_unlink(good[i]);
		hl_arena *a = NULL;
		int rc = hl_arena_create(good[i], &cfg, &a);
		cr_assert_eq(rc, 0, "create \"%s\": %s", good[i], hl_strerror(rc));
		hl_arena_close(a);
		cr_assert_eq(attach_rc(good[i], 0), 0);
		cr_assert_eq(hl_arena_unlink(good[i]), 0);
	}
}

Test(fault, bad_configs)
{
	for (int m = 0;; m++) {
		hl_config cfg;
		tu_config_small(&cfg, 4 * MiB, 4096);
		const char *what;
		switch (m) {
		case 0: what = "chunk 100"; cfg.chunk_bytes = 100; break;
		case 1: what = "chunk 32"; cfg.chunk_bytes = 32; break;
		case 2: what = "chunk 0"; cfg.chunk_bytes = 0; break;
		case 3: what = "chunk 2 MiB"; cfg.chunk_bytes = 2u << 20; break;
		case 4: what = "arena 1000 bytes"; cfg.arena_bytes = 1000; break;
		case 5: what = "arena 0 bytes"; cfg.arena_bytes = 0; break;
		case 6:
			what = "arena 32 TiB";
			cfg.arena_bytes = 32ull << 40;
			break;
		case 7: what = "max_processes 0"; cfg.max_processes = 0; break;
		case 8:
			what = "max_processes 1025";
			cfg.max_processes = HL_PROCESSES_MAX + 1;
			break;
		case 9: what = "refs_capacity 7"; cfg.refs_capacity = 7; break;
		case 10: what = "numa 2"; cfg.numa = 2; break;
		case 11: what = "mode 01777"; cfg.mode = 01777; break;
		case 12:
			what = "index_capacity 2^40";
			cfg.index_capacity = 1ull << 40;
			break;
		case 13:
			/* the metadata alone would not leave two slabs of heap */
			what = "1 MiB arena, 1024 slots, 2^16 refs";
			cfg.arena_bytes = MiB;
			cfg.max_processes = HL_PROCESSES_MAX;
			cfg.refs_capacity = 1 << 16;
			break;
		case 14: what = "prefault 2"; cfg.prefault = 2; break;
		default: what = NULL;
		}
		if (!what)
			break;
		const char *name = tu_arena_name("fault");
		hl_arena *a = NULL;
		cr_assert_eq(hl_arena_create(name, &cfg, &a), HL_EINVAL, "%s", what);
		cr_assert_null(a, "%s", what);
		cr_assert_eq(attach_rc(name, 0), HL_ENOENT,
			     "%s: a refused create left a file behind", what);
	}
	/* the smallest legal ones work */
	hl_config cfg;
	tu_config_small(&cfg, 4 * MiB, HL_CHUNK_BYTES_MIN);
	cfg.max_processes = 1;
	cfg.refs_capacity = HL_REFS_MIN;
	hl_arena *a = tu_arena_create_cfg(tu_arena_name("fault"), &cfg);
	cr_assert_eq(hl_arena_chunk_bytes(a), HL_CHUNK_BYTES_MIN);
	hl_arena_close(a);
	/* the largest chunk: 32 MiB slabs, and leaves, inner nodes and roots
	 * each take a slab of their own */
	tu_config_small(&cfg, 160 * MiB, HL_CHUNK_BYTES_MAX);
	a = tu_arena_create_cfg(tu_arena_name("fault"), &cfg);
	cr_assert_eq(hl_arena_chunk_bytes(a), HL_CHUNK_BYTES_MAX);
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	unsigned char b = 1, out = 0;
	cr_assert_eq(hl_state_resize(s, HL_CHUNK_BYTES_MAX + 1), 0);
	cr_assert_eq(hl_state_write(s, HL_CHUNK_BYTES_MAX, &b, 1), 0);
	hl_id id;
	int rc = hl_commit(s, &id, NULL);
	cr_assert_eq(rc, 0, "commit with 1 MiB chunks: %s", hl_strerror(rc));
	cr_assert_eq(hl_restore(s, id), 0);
	cr_assert_eq(hl_state_read(s, HL_CHUNK_BYTES_MAX, &out, 1), 0);
	cr_assert_eq(out, 1);
	hl_state_free(s);
	hl_arena_close(a);
}

/* ---- ranges, ids, refs ---------------------------------------------------- */

Test(fault, out_of_range)
{
	hl_arena *a = arena_small(NULL, 4 * MiB, 256);
	hl_state *s;
	unsigned char buf[1000], back[1000];
	cr_assert_eq(hl_state_new(a, &s), 0);
	fill_state(s, 1000, 9, buf);
	hl_id id;
	cr_assert_eq(hl_commit(s, &id, NULL), 0);
	memset(back, 0xee, sizeof back);

	struct {
		uint64_t off;
		size_t len;
	} bad[] = {
		{990, 20}, {1000, 1}, {1001, 0}, {UINT64_MAX, 1},
		{UINT64_MAX - 4, 10}, {0, 1001}, {1ull << 40, 1},
	};
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_assert_eq(hl_state_write(s, bad[i].off, back, bad[i].len),
			     HL_ERANGE, "write [%" PRIu64 ", +%zu)", bad[i].off,
			     bad[i].len);
		cr_assert_eq(hl_state_read(s, bad[i].off, back, bad[i].len),
			     HL_ERANGE, "read [%" PRIu64 ", +%zu)", bad[i].off,
			     bad[i].len);
	}
	const void *p;
	size_t len;
	cr_assert_eq(hl_state_view(s, 1000, &p, &len), HL_ERANGE);
	cr_assert_eq(hl_state_view(s, UINT64_MAX, &p, &len), HL_ERANGE);
	/* the edges themselves are fine */
	cr_assert_eq(hl_state_write(s, 1000, back, 0), 0);
	cr_assert_eq(hl_state_read(s, 999, back, 1), 0);
	cr_assert_eq(hl_state_view(s, 999, &p, &len), 0);
	cr_assert_eq(len, 1);

	/* above 1 TiB */
	cr_assert_eq(hl_state_resize(s, (1ull << 40) + 1), HL_ERANGE);
	cr_assert_eq(hl_state_resize(s, UINT64_MAX), HL_ERANGE);

	/* nothing changed, not even a dirty chunk: the commit hashes nothing */
	assert_state_is(s, 1000, 9, back, "after refused calls");
	hl_id again;
	hl_commit_info info;
	cr_assert_eq(hl_commit(s, &again, &info), 0);
	cr_assert(hl_id_eq(again, id));
	cr_assert_eq(info.hashed_bytes, 0, "a refused call dirtied a chunk");
	hl_state_free(s);
	hl_arena_close(a);
}

Test(fault, unknown_ids)
{
	hl_arena *a = arena_small(NULL, 4 * MiB, 64);
	hl_state *s;
	unsigned char buf[3 * 64], back[3 * 64];
	cr_assert_eq(hl_state_new(a, &s), 0);
	fill_state(s, sizeof buf, 4, buf);
	hl_id id;
	cr_assert_eq(hl_commit(s, &id, NULL), 0);
	/* dirty data the failed restores must keep */
	unsigned char b = 0x42;
	cr_assert_eq(hl_state_write(s, 100, &b, 1), 0);
	buf[100] = 0x42;

	/* hashes of nodes that are in the arena but are not snapshots */
	hl_id leaf[3];
	for (int i = 0; i < 3; i++) {
		tu_pattern_fill(back, 0, sizeof back, 4);
		leaf[i] = hl_hash_leaf(back + 64 * i, 64);
		uint64_t off;
		cr_assert_eq(hl_index_lookup(a, leaf[i], &off), 0,
			     "leaf %d is not in the index: test is wrong", i);
	}
	hl_id inner = hl_hash_inner(1, leaf, 3);
	uint64_t off;
	cr_assert_eq(hl_index_lookup(a, inner, &off), 0,
		     "inner node is not in the index: test is wrong");
	hl_id unknown = {id.lo ^ 1, id.hi};
	const hl_id not_snapshots[] = {leaf[0], leaf[2], inner, unknown,
				       {0, 1}, {UINT64_MAX, UINT64_MAX}};

	hl_id got;
	for (unsigned i = 0; i < sizeof not_snapshots / sizeof not_snapshots[0];
	     i++) {
		hl_id x = not_snapshots[i];
		char hex[33];
		hl_id_to_hex(x, hex);
		cr_assert_eq(hl_restore(s, x), HL_ENOENT, "restore %s", hex);
		cr_assert_eq(hl_diff(a, x, id, never_called, NULL), HL_ENOENT,
			     "diff %s", hex);
		cr_assert_eq(hl_diff(a, id, x, never_called, NULL), HL_ENOENT,
			     "diff %s", hex);
		cr_assert_eq(hl_ref_set(a, "ref", x), HL_ENOENT, "ref_set %s", hex);
		cr_assert_eq(hl_ref_get(a, "ref", &got), HL_ENOENT,
			     "a refused ref_set created the ref");
		hl_id exp = ZERO_ID;
		cr_assert_eq(hl_ref_cas(a, "ref", &exp, x), HL_ENOENT,
			     "ref_cas %s", hex);
	}
	cr_assert_eq(hl_state_size(s), sizeof buf);
	cr_assert_eq(hl_state_read(s, 0, back, sizeof back), 0);
	cr_assert_arr_eq(back, buf, sizeof buf, "a failed restore changed the state");
	cr_assert(hl_id_eq(hl_state_base(s), id));

	/* refs: unset, set, moved, cas */
	cr_assert_eq(hl_ref_get(a, "never-set", &got), HL_ENOENT);
	cr_assert_eq(hl_ref_set(a, "ref", id), 0);
	cr_assert_eq(hl_ref_get(a, "ref", &got), 0);
	cr_assert(hl_id_eq(got, id));
	hl_id exp = ZERO_ID;
	cr_assert_eq(hl_ref_cas(a, "ref", &exp, ZERO_ID), HL_EBUSY);
	cr_assert(hl_id_eq(exp, id), "cas reports the current id");
	cr_assert_eq(hl_ref_cas(a, "ref", &exp, ZERO_ID), 0);
	cr_assert_eq(hl_ref_get(a, "ref", &got), 0);
	cr_assert(hl_id_is_zero(got));
	hl_state_free(s);
	tu_assert_arena_ok(a, "end");
	hl_arena_close(a);
}

Test(fault, create_existing)
{
	const char *name;
	hl_arena *a = arena_small(&name, 4 * MiB, 4096);
	hl_state *s;
	unsigned char buf[5000];
	cr_assert_eq(hl_state_new(a, &s), 0);
	fill_state(s, sizeof buf, 2, buf);
	hl_id id;
	cr_assert_eq(hl_commit(s, &id, NULL), 0);
	hl_state_free(s);
	hl_config cfg;
	tu_config_small(&cfg, 8 * MiB, 64); /* a different geometry, even */
	hl_arena *b = NULL;
	cr_assert_eq(hl_arena_create(name, &cfg, &b), HL_EEXIST);
	cr_assert_null(b);
	hl_arena_close(a);
	/* the existing arena is untouched */
	cr_assert_eq(hl_arena_attach(name, 0, &b), 0);
	cr_assert_eq(hl_arena_chunk_bytes(b), 4096);
	cr_assert_eq(hl_state_new(b, &s), 0);
	cr_assert_eq(hl_restore(s, id), 0);
	assert_state_is(s, sizeof buf, 2, buf, "after a refused create");
	hl_state_free(s);
	hl_arena_close(b);
}

/* ---- access ---------------------------------------------------------------- */

Test(fault, read_only_attach)
{
	const char *name;
	hl_arena *a = arena_small(&name, 4 * MiB, 256);
	hl_state *s;
	unsigned char buf[3000];
	cr_assert_eq(hl_state_new(a, &s), 0);
	fill_state(s, sizeof buf, 3, buf);
	hl_id id;
	cr_assert_eq(hl_commit(s, &id, NULL), 0);
	cr_assert_eq(hl_ref_set(a, "r", id), 0);
	hl_state_free(s);
	hl_stats st0;
	cr_assert_eq(hl_arena_stats(a, &st0), 0);

	hl_arena *ro = NULL;
	cr_assert_eq(hl_arena_attach(name, HL_RDONLY, &ro), 0);
	cr_assert_eq(hl_arena_slot(ro), -1, "a read-only handle takes no slot");
	hl_stats st;
	cr_assert_eq(hl_arena_stats(ro, &st), 0);
	cr_assert_eq(st.processes, st0.processes);
	cr_assert_eq(st.nodes, st0.nodes);

	/* reads and restores work */
	cr_assert_eq(hl_state_new(ro, &s), 0);
	hl_id got;
	cr_assert_eq(hl_ref_get(ro, "r", &got), 0);
	cr_assert(hl_id_eq(got, id));
	cr_assert_eq(hl_restore(s, id), 0);
	assert_state_is(s, sizeof buf, 3, buf, "read-only restore");
	cr_assert_eq(hl_diff(ro, id, id, never_called, NULL), 0);
	tu_assert_arena_ok(ro, "read-only");

	/* private changes are fine; publishing them is not */
	unsigned char b = 0x99;
	cr_assert_eq(hl_state_write(s, 7, &b, 1), 0);
	hl_id new_id;
	cr_assert_eq(hl_commit(s, &new_id, NULL), HL_EROFS);
	cr_assert_eq(hl_ref_set(ro, "r", ZERO_ID), HL_EROFS);
	cr_assert_eq(hl_ref_set(ro, "new", ZERO_ID), HL_EROFS);
	hl_id exp = id;
	cr_assert_eq(hl_ref_cas(ro, "r", &exp, ZERO_ID), HL_EROFS);
	/* the refused commit left the state as it was */
	buf[7] = 0x99;
	unsigned char back[3000];
	cr_assert_eq(hl_state_read(s, 0, back, sizeof back), 0);
	cr_assert_arr_eq(back, buf, sizeof buf);
	cr_assert(hl_id_eq(hl_state_base(s), id));
	cr_assert_eq(hl_ref_get(ro, "r", &got), 0);
	cr_assert(hl_id_eq(got, id), "a refused ref_set moved the ref");
	hl_state_free(s);
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.nodes, st0.nodes);
	hl_arena_close(ro);

	/* a read-only attach works with no writer attached at all */
	hl_arena_close(a);
	cr_assert_eq(attach_rc(name, HL_RDONLY), 0);
}

Test(fault, shm_mode)
{
	const char *name;
	hl_arena *a = arena_small(&name, 4 * MiB, 4096);
	char path[256];
	shm_path(name, path, sizeof path);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0, "%s: %s", path, strerror(errno));
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
	cr_assert_eq(st.st_uid, getuid());
	hl_arena_close(a);

	/* a configured mode is exact, whatever the umask */
	mode_t old = umask(0077);
	hl_config cfg;
	tu_config_small(&cfg, 4 * MiB, 4096);
	cfg.mode = 0640;
	name = tu_arena_name("fault");
	a = tu_arena_create_cfg(name, &cfg);
	umask(old);
	shm_path(name, path, sizeof path);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0640, "mode %o", st.st_mode & 07777);
	hl_arena_close(a);
}

Test(fault, process_slots_full)
{
	hl_config cfg;
	tu_config_small(&cfg, 4 * MiB, 4096);
	cfg.max_processes = 2;
	const char *name = tu_arena_name("fault");
	hl_arena *a = tu_arena_create_cfg(name, &cfg);
	hl_arena *b = NULL, *c = NULL;
	cr_assert_eq(hl_arena_attach(name, 0, &b), 0);
	cr_assert_neq(hl_arena_slot(a), hl_arena_slot(b));
	cr_assert_eq(hl_arena_attach(name, 0, &c), HL_EFULL);
	cr_assert_null(c);
	/* an observer needs no slot */
	cr_assert_eq(attach_rc(name, HL_RDONLY), 0);
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.processes, 2);
	int freed = hl_arena_slot(b);
	hl_arena_close(b);
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.processes, 1);
	cr_assert_eq(hl_arena_attach(name, 0, &c), 0);
	cr_assert_eq(hl_arena_slot(c), freed);
	cr_assert_eq(hl_arena_attach(name, 0, &b), HL_EFULL);
	hl_arena_close(c);
	hl_arena_close(a);
}

/* A child attaches, commits and dies holding its slot. With every slot
 * taken, the next attach reclaims the dead one: for a zombie (exited, not
 * yet reaped) and for a reaped child alike. The dead process's counters
 * stay in the sums. */
static pid_t child_attach_and_die(const char *name, hl_id *committed)
{
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(pfd[0]);
		hl_arena *ca = NULL;
		hl_state *cs = NULL;
		hl_id id = {0, 0};
		unsigned char b = 0x31;
		if (hl_arena_attach(name, 0, &ca) || hl_state_new(ca, &cs) ||
		    hl_state_resize(cs, 100) || hl_state_write(cs, 50, &b, 1) ||
		    hl_commit(cs, &id, NULL))
			_exit(10);
		if (write(pfd[1], &id, sizeof id) != sizeof id)
			_exit(11);
		_exit(0); /* no hl_arena_close: the slot stays held */
	}
	close(pfd[1]);
	cr_assert_eq(read(pfd[0], committed, sizeof *committed),
		     (ssize_t)sizeof *committed, "child failed before committing");
	close(pfd[0]);
	return pid;
}

static void reclaim_dead_slot(bool reap_first)
{
	hl_config cfg;
	tu_config_small(&cfg, 4 * MiB, 4096);
	cfg.max_processes = 2;
	const char *name = tu_arena_name("fault");
	hl_arena *a = tu_arena_create_cfg(name, &cfg);
	hl_id child_id;
	pid_t pid = child_attach_and_die(name, &child_id);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	cr_assert_eq(waitid(P_PID, (id_t)pid, &si,
			    WEXITED | (reap_first ? 0 : WNOWAIT)), 0);
	cr_assert_eq(si.si_code, CLD_EXITED);
	cr_assert_eq(si.si_status, 0, "child status %d", si.si_status);

	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.processes, 1);
	cr_assert_eq(st.processes_dead, 1);
	cr_assert_eq(st.commits, 1, "the child's commit is counted");
	int dead_slot = -1;
	for (uint32_t i = 0; i < 2; i++) {
		hl_process_info pi;
		cr_assert_eq(hl_arena_process(a, i, &pi), 0);
		if (pi.pid == (uint32_t)pid) {
			cr_assert_eq(pi.state, HL_PROCESS_DEAD);
			dead_slot = (int)i;
		} else {
			cr_assert_eq(pi.state, HL_PROCESS_LIVE);
			cr_assert_eq(pi.pid, (uint32_t)getpid());
		}
	}
	cr_assert_geq(dead_slot, 0, "the dead child's slot is not listed");

	hl_arena *b = NULL;
	int rc = hl_arena_attach(name, 0, &b);
	cr_assert_eq(rc, 0, "attach with a dead slot: %s", hl_strerror(rc));
	cr_assert_eq(hl_arena_slot(b), dead_slot, "the dead slot was taken over");
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.processes, 2);
	cr_assert_eq(st.processes_dead, 0);
	cr_assert_eq(st.commits, 1, "counters survive the reclaim");
	/* what the dead child committed is still there */
	hl_state *s;
	cr_assert_eq(hl_state_new(b, &s), 0);
	cr_assert_eq(hl_restore(s, child_id), 0);
	unsigned char out = 0;
	cr_assert_eq(hl_state_read(s, 50, &out, 1), 0);
	cr_assert_eq(out, 0x31);
	hl_state_free(s);
	hl_arena *c = NULL;
	cr_assert_eq(hl_arena_attach(name, 0, &c), HL_EFULL, "live slots are kept");
	if (!reap_first)
		cr_assert_eq(waitpid(pid, NULL, 0), pid);
	tu_assert_arena_ok(a, "after reclaim");
	hl_arena_close(b);
	hl_arena_close(a);
}

Test(fault, dead_slot_reclaimed) { reclaim_dead_slot(true); }
Test(fault, zombie_slot_reclaimed) { reclaim_dead_slot(false); }

/* ---- error names ----------------------------------------------------------- */

Test(fault, strerror_names_every_code)
{
	static const struct {
		int rc;
		const char *name;
	} codes[] = {
		{HL_OK, "HL_OK"},           {HL_EINVAL, "HL_EINVAL"},
		{HL_ENOMEM, "HL_ENOMEM"},   {HL_ENOENT, "HL_ENOENT"},
		{HL_EEXIST, "HL_EEXIST"},   {HL_EFULL, "HL_EFULL"},
		{HL_ERANGE, "HL_ERANGE"},   {HL_EVERSION, "HL_EVERSION"},
		{HL_ECORRUPT, "HL_ECORRUPT"}, {HL_ECOLLISION, "HL_ECOLLISION"},
		{HL_EACCES, "HL_EACCES"},   {HL_EROFS, "HL_EROFS"},
		{HL_EIO, "HL_EIO"},         {HL_EBUSY, "HL_EBUSY"},
		{HL_EMISMATCH, "HL_EMISMATCH"},
	};
	const unsigned n = sizeof codes / sizeof codes[0];
	for (unsigned i = 0; i < n; i++) {
		const char *s = hl_strerror(codes[i].rc);
		cr_assert_not_null(s, "%s", codes[i].name);
		cr_assert_neq(strstr(s, codes[i].name), NULL, "%d: \"%s\"",
			      codes[i].rc, s);
		for (unsigned j = 0; j < i; j++)
			cr_assert_str_neq(s, hl_strerror(codes[j].rc), "%s and %s",
					  codes[i].name, codes[j].name);
	}
	const int unknown[] = {1, -15, -1000, 2147483647, -2147483647 - 1};
	for (unsigned i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		const char *s = hl_strerror(unknown[i]);
		cr_assert_not_null(s);
		for (unsigned j = 0; j < n; j++)
			cr_assert_str_neq(s, hl_strerror(codes[j].rc),
					  "unknown %d named like %s", unknown[i],
					  codes[j].name);
	}
}
