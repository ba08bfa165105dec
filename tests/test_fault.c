/*
 * test_fault.c - faults and corrupt arenas: what a user relies on when
 * the arena itself goes wrong.
 *
 *  - Resource exhaustion: a full index and a full heap answer HL_EFULL,
 *    harm nothing already stored, and leave the failing state as it was.
 *  - Corrupt arenas: a wrong format version, garbage, zeros, a header whose
 *    checksum fails, a header that checksums but lies about its geometry, a
 *    truncated or extended file: each is a clear error on attach, never a
 *    crash.
 *  - Missing arenas, and arenas named by a path.
 *
 * Bad arguments, names, configurations, ranges, refs and access (modes,
 * process slots) are test_args.c; the helpers both use are fault_util.h.
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
#include "fault_util.h"

TestSuite(fault, .fini = tu_unlink_all, .timeout = 60);

/* ---- helpers -------------------------------------------------------------- */

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
/* The full-arena tests keep every snapshot they made and check it after
 * the failure: without a collector (HELIOS_GC=off), as a process that
 * held them all would see it. The collector's side is tests/test_gc.c. */
static void gc_off(void)
{
	setenv("HELIOS_GC", "off", 1);
}

Test(fault, full_index, .init = gc_off)
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
Test(fault, full_heap, .init = gc_off)
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
	uint32_t features = h->features; /* none: a memory-only arena */
	h->features |= 1u << 31; /* a feature this build does not know */
	cr_assert_eq(attach_rc(name, 0), HL_EVERSION);
	h->features = features;
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

/* Issue 8 item 5: every class had the leaf class's slab size (32 MiB at
 * 1 MiB chunks), so each committing process held three 32 MiB slabs and a
 * 1 GiB arena ran out after ten of them. Slabs are sized per class now:
 * twenty handles at once commit 2 MiB states into a default-size arena. */
Test(fault, large_chunks_do_not_exhaust_the_heap_with_small_slabs)
{
	hl_config c;
	tu_config_small(&c, HL_ARENA_BYTES_DEFAULT, 1u << 20);
	hl_arena *a = tu_arena_create_cfg(tu_arena_name("fault"), &c);
	enum { HANDLES = 20 };
	hl_arena *h[HANDLES];
	static unsigned char buf[2u << 20];
	cr_assert_lt(a->hdr->class_slab_bytes[a->class_root], 1u << 20,
		     "root slabs are small");
	for (int i = 0; i < HANDLES; i++) {
		hl_state *s;
		hl_id id;
		cr_assert_eq(hl_arena_attach(a->name, 0, &h[i]), 0);
		cr_assert_eq(hl_state_new(h[i], &s), 0);
		fill_state(s, sizeof buf, 500 + (uint32_t)i, buf);
		int rc = hl_commit(s, &id, NULL);
		cr_assert_eq(rc, 0, "handle %d: %s", i, hl_strerror(rc));
		cr_assert_eq(hl_restore(s, id), 0);
		assert_state_is(s, sizeof buf, 500 + (uint32_t)i, buf, "read back");
		hl_state_free(s);
	}
	hl_stats st;
	hl_arena_stats(a, &st);
	cr_assert_lt(st.heap_used_bytes, 3 * st.heap_bytes / 4,
		     "20 processes hold %llu of %llu heap bytes",
		     (unsigned long long)st.heap_used_bytes,
		     (unsigned long long)st.heap_bytes);
	for (int i = 0; i < HANDLES; i++)
		hl_arena_close(h[i]);
	tu_assert_arena_ok(a, "after 20 processes at 1 MiB chunks");
	hl_arena_close(a);
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
