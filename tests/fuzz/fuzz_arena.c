/*
 * fuzz_arena.c - what the fuzz targets do with one input: damage a real
 * arena file as the input says, then use it the way a user would.
 *
 * An input is a recipe, not a whole arena (a random 1 MiB file never gets
 * past the magic and checksum, so that would test one compare):
 *
 *   byte 0      mode: bit 0  recompute the header checksum after patching
 *                            (reaches every geometry check behind it)
 *                     bit 1  attach read-only (HL_RDONLY) instead of read-write
 *                     bit 2  attach: the rest of the input is the whole
 *                            file, raw (arbitrary bytes, any length)
 *   then        patches, each: u32 offset (little-endian), u8 length n, n
 *               bytes. The offset is taken modulo the patched span: the
 *               whole file (HL_FUZZ_ATTACH) or the index, slab map and
 *               heap (HL_FUZZ_HEAP, so the header stays valid and the
 *               damage reaches the node walks). A short last patch is
 *               applied as far as it goes.
 *
 * The template is a small arena (1 MiB, 256-byte chunks, so states of a
 * few KiB are trees of two levels) holding SNAPSHOTS states with known
 * bytes and two refs, made once per process and kept as a byte image; each
 * input copies it to a work file, patches it and attaches by path.
 *
 * What each target then calls, and what it promises:
 *  - ATTACH: hl_arena_attach, then hl_arena_check, hl_arena_stats and
 *    hl_arena_process for every slot, hl_ref_get of both refs. Nothing may
 *    crash, assert or read outside the mapping (ASan watches).
 *  - HEAP: the same attach, then for every known snapshot hl_restore,
 *    hl_state_read of all of it and of a slice, hl_diff against the next;
 *    a commit of a fresh state when read-write. And the oracle: when
 *    hl_arena_check passes, every restore that succeeds reads back exactly
 *    the bytes committed (the checker rehashes every node, so a passing
 *    check over wrong bytes is a checker that lies). Violations abort.
 *
 * A header whose magic is 0 is skipped: attach then waits HL_ATTACH_WAIT_NS
 * for a creator to publish it (the fault suite tests that path), which at
 * 200 ms per input would stall the fuzzer on it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_arena.h"
#include "shm.h"

#define ARENA_BYTES (1u << 20)
#define CHUNK_BYTES 256u
#define SNAPSHOTS 6
#define STATE_MAX (6u * 1024)

static unsigned char *tmpl;      /* the template arena's bytes */
static unsigned char *work_img;  /* one input's image */
static char work_path[128];
static hl_id ids[SNAPSHOTS];
static uint64_t sizes[SNAPSHOTS];
static const char *const refs[2] = {"best", "worker-0/latest"};

/* The bytes of snapshot k: each 8-byte word names k and its offset. */
static void snapshot_bytes(unsigned k, unsigned char *buf, uint64_t len)
{
	for (uint64_t i = 0; i < len; i += 8) {
		uint64_t w = (i * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)k << 56) ^ 0x5a5a;
		memcpy(buf + i, &w, len - i < 8 ? len - i : 8);
	}
}

static int commit_all(hl_arena *a)
{
	static unsigned char buf[STATE_MAX];
	hl_state *s;
	int rc = hl_state_new(a, &s);
	for (unsigned k = 0; !rc && k < SNAPSHOTS; k++) {
		sizes[k] = 1000 + (uint64_t)k * 1000; /* 1000 .. 6000 B */
		snapshot_bytes(k, buf, sizes[k]);
		rc = hl_state_resize(s, sizes[k]);
		if (!rc)
			rc = hl_state_write(s, 0, buf, sizes[k]);
		if (!rc)
			rc = hl_commit(s, &ids[k], NULL);
	}
	if (!rc)
		rc = hl_ref_set(a, refs[0], ids[1]);
	if (!rc)
		rc = hl_ref_set(a, refs[1], ids[SNAPSHOTS - 1]);
	if (!rc)
		hl_state_free(s);
	return rc;
}

static int read_file(const char *path, unsigned char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : pread(fd, buf, len, 0);
	if (fd >= 0)
		close(fd);
	return n == (ssize_t)len ? 0 : HL_EIO;
}

/* libFuzzer leaves by exit(): do not leave a work arena per run behind. */
static void unlink_work(void)
{
	unlink(work_path);
}

int hl_fuzz_init(enum hl_fuzz_target t)
{
	char path[128];
	hl_config c;
	hl_arena *a;
	int rc;

	(void)t;
	if (tmpl)
		return 0;
	snprintf(path, sizeof path, "/dev/shm/helios-fuzz-tmpl-%d", (int)getpid());
	snprintf(work_path, sizeof work_path, "/dev/shm/helios-fuzz-work-%d",
		 (int)getpid());
	unlink(path);
	atexit(unlink_work);
	hl_config_init(&c);
	c.arena_bytes = ARENA_BYTES;
	c.chunk_bytes = CHUNK_BYTES;
	c.max_processes = 4;
	c.refs_capacity = HL_REFS_MIN;
	c.numa = HL_NUMA_OFF;
	rc = hl_arena_create(path, &c, &a);
	if (rc)
		return rc;
	rc = commit_all(a);
	hl_arena_close(a);
	tmpl = malloc(ARENA_BYTES);
	work_img = malloc(ARENA_BYTES);
	if (!rc && (!tmpl || !work_img))
		rc = HL_ENOMEM;
	if (!rc)
		rc = read_file(path, tmpl, ARENA_BYTES);
	unlink(path);
	return rc;
}

void hl_fuzz_fini(void)
{
	unlink(work_path);
	free(tmpl);
	free(work_img);
	tmpl = work_img = NULL;
}

/* Applies the input's patches to img within [lo, hi). */
static void apply_patches(unsigned char *img, uint64_t lo, uint64_t hi,
			  const uint8_t *p, size_t n)
{
	while (n >= 5 && hi > lo) {
		uint32_t off;
		memcpy(&off, p, 4);
		size_t len = p[4], at = lo + off % (hi - lo);
		p += 5;
		n -= 5;
		if (len > n)
			len = n;
		if (len > hi - at)
			len = hi - at;
		memcpy(img + at, p, len);
		p += len;
		n -= len;
	}
}

static void fix_checksum(unsigned char *img, size_t len)
{
	struct hl_arena_hdr *h = (struct hl_arena_hdr *)img;
	if (len < sizeof *h)
		return;
	h->hdr_checksum = hl_hash64(img + HL_HDR_CHECKSUMMED_FROM,
				    HL_HDR_CHECKSUMMED_TO - HL_HDR_CHECKSUMMED_FROM, 0);
}

/* Builds the input's image; its length, or 0 to skip the input. */
static size_t build_image(enum hl_fuzz_target t, uint8_t mode,
			  const uint8_t *p, size_t n)
{
	const struct hl_arena_hdr *th = (const struct hl_arena_hdr *)tmpl;
	size_t len = ARENA_BYTES;

	if (t == HL_FUZZ_ATTACH && (mode & 4)) {
		len = n < ARENA_BYTES ? n : ARENA_BYTES;
		memcpy(work_img, p, len);
	} else {
		uint64_t lo = t == HL_FUZZ_HEAP ? th->regions[HL_REGION_INDEX].off : 0;
		memcpy(work_img, tmpl, ARENA_BYTES);
		apply_patches(work_img, lo, ARENA_BYTES, p, n);
	}
	if (len == 0)
		return 0; /* an empty file is one being created: attach waits */
	if (mode & 1)
		fix_checksum(work_img, len);
	if (len >= 8 && ((const struct hl_arena_hdr *)work_img)->magic == 0)
		return 0; /* see the comment at the top */
	return len;
}

static int write_image(size_t len)
{
	int fd = open(work_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n = fd < 0 ? -1 : pwrite(fd, work_img, len, 0);
	if (fd >= 0)
		close(fd);
	return n == (ssize_t)len ? 0 : HL_EIO;
}

static void fail(const char *what, unsigned k)
{
	fprintf(stderr, "fuzz: broken promise: %s (snapshot %u)\n", what, k);
	abort();
}

/* ATTACH's calls: every read-only entry point over the attached arena. */
static bool inspect(hl_arena *a)
{
	char msg[256];
	hl_stats st;
	hl_process_info pi;
	hl_id got;
	bool ok = hl_arena_check(a, msg, sizeof msg) == 0;

	hl_arena_stats(a, &st);
	for (uint32_t i = 0; i < a->hdr->max_processes; i++)
		hl_arena_process(a, i, &pi);
	for (unsigned r = 0; r < 2; r++)
		hl_ref_get(a, refs[r], &got);
	return ok;
}

static int count_ranges(uint64_t off, uint64_t len, void *ctx)
{
	(void)off;
	(void)len;
	++*(unsigned *)ctx;
	return 0;
}

/* HEAP's calls over every known snapshot, with the oracle when the checker
 * passed. */
static void walk_snapshots(hl_arena *a, bool checked)
{
	static unsigned char got[STATE_MAX], want[STATE_MAX];
	hl_state *s;
	unsigned ranges = 0;

	if (hl_state_new(a, &s))
		return;
	for (unsigned k = 0; k < SNAPSHOTS; k++) {
		hl_diff(a, ids[k], ids[(k + 1) % SNAPSHOTS], count_ranges, &ranges);
		if (hl_restore(s, ids[k]))
			continue;
		int rc = hl_state_read(s, 0, got, sizes[k]);
		hl_state_read(s, sizes[k] / 3, got, sizes[k] / 3);
		if (!checked)
			continue;
		if (hl_state_size(s) != sizes[k])
			fail("a checked arena restored a snapshot of another size", k);
		snapshot_bytes(k, want, sizes[k]);
		if (rc == 0 && (hl_state_read(s, 0, got, sizes[k]) ||
				memcmp(got, want, sizes[k])))
			fail("a checked arena read back wrong bytes", k);
	}
	hl_state_free(s);
}

static void commit_fresh(hl_arena *a)
{
	static unsigned char buf[3000];
	hl_state *s;
	hl_id id;

	if (hl_state_new(a, &s))
		return;
	snapshot_bytes(SNAPSHOTS + 1, buf, sizeof buf);
	if (!hl_state_resize(s, sizeof buf) && !hl_state_write(s, 0, buf, sizeof buf) &&
	    !hl_commit(s, &id, NULL) && !hl_restore(s, id) &&
	    !hl_state_read(s, 0, buf, sizeof buf))
		hl_ref_set(a, "fuzz", id);
	hl_state_free(s);
}

void hl_fuzz_one(enum hl_fuzz_target t, const uint8_t *data, size_t size)
{
	hl_arena *a;
	uint8_t mode;
	size_t len;

	if (size < 1 || hl_fuzz_init(t))
		return;
	mode = data[0];
	len = build_image(t, mode, data + 1, size - 1);
	if (len == 0 || write_image(len))
		return;
	if (hl_arena_attach(work_path, (mode & 2) ? HL_RDONLY : 0, &a))
		return;
	bool checked = inspect(a);
	if (t == HL_FUZZ_HEAP) {
		walk_snapshots(a, checked);
		if (!(mode & 2))
			commit_fresh(a);
	}
	hl_arena_close(a);
}
