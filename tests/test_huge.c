/*
 * test_huge.c - huge pages where the system allows them (shm/huge.c): an
 * arena file on a tmpfs mounted huge=always is backed by 2 MiB pages,
 * hl_stats (and so helios stat) says so, and its heap is mapped 2 MiB at
 * a time in the default configuration (NUMA auto: no per-slab policy
 * splitting the mapping into slabs); on a huge=never tmpfs it says 4 KiB.
 *
 * Each tmpfs is mounted in a private mount namespace of the test's own
 * process (unshare, as root), so nothing outlives the test, whatever
 * happens to it. Without the privilege to do so: skipped.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>

#include "testutil.h"
#include "shm.h"

TestSuite(huge);

/* A fresh tmpfs with option `huge` in a namespace of this process; its
 * directory in dir. False (and the test skipped) without privilege. */
static void mount_tmpfs(const char *huge, char *dir, size_t dir_len)
{
	if (unshare(CLONE_NEWNS) != 0)
		cr_skip_test("no private mount namespace (not root)");
	cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	snprintf(dir, dir_len, "/tmp/helios-huge-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	char opts[64];
	snprintf(opts, sizeof opts, "size=128m,huge=%s", huge);
	if (mount("helios-huge-test", dir, "tmpfs", 0, opts) != 0)
		cr_skip_test("tmpfs with %s refused", opts);
}

/* kB mapped with 2 MiB page-table entries in the mappings over
 * [base, base+bytes). */
static uint64_t pmd_mapped_kb(const void *base, uint64_t bytes)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	cr_assert_not_null(f);
	char line[512];
	uintptr_t lo = (uintptr_t)base, hi = lo + bytes;
	bool inside = false;
	uint64_t kb = 0;
	while (fgets(line, sizeof line, f)) {
		uintptr_t s, e;
		unsigned long long v;
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2)
			inside = s < hi && e > lo; /* a mapping over the range */
		else if (inside && sscanf(line, "ShmemPmdMapped: %llu kB", &v) == 1)
			kb += v;
	}
	fclose(f);
	return kb;
}

static hl_arena *arena_in(const char *dir, char *name, size_t name_len)
{
	snprintf(name, name_len, "%s/arena", dir);
	hl_config c;
	hl_config_init(&c); /* the default configuration: NUMA auto */
	c.arena_bytes = 64ull << 20;
	hl_arena *a = NULL;
	int rc = hl_arena_create(name, &c, &a);
	cr_assert_eq(rc, 0, "create %s: %s", name, hl_strerror(rc));
	return a;
}

/* 1000 W1 commits: about 4 MiB of leaves, past two 2 MiB pages. */
static void commit_w1(hl_arena *a)
{
	hl_state *s = NULL;
	cr_assert_eq(hl_state_new(a, &s), 0);
	cr_assert_eq(hl_state_resize(s, 4096), 0);
	hl_id id;
	for (unsigned i = 0; i < 1000; i++) {
		cr_assert_eq(hl_state_write(s, (i * 64u) % 4096, &i, sizeof i), 0);
		cr_assert_eq(hl_commit(s, &id, NULL), 0);
	}
	hl_state_free(s);
}

Test(huge, an_arena_on_a_huge_tmpfs_is_mapped_in_2_mib_pages)
{
	char dir[64], name[128];
	mount_tmpfs("always", dir, sizeof dir);
	/* each grab prepares its own slab: the helper's pages ahead would be
	 * mapped before the grab's policy could split them */
	cr_assert_eq(setenv("HELIOS_PAGE_HELPER", "0", 1), 0);
	hl_arena *a = arena_in(dir, name, sizeof name);
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.huge_pages, 1, "hl_stats says the arena has huge pages");
	commit_w1(a);
	const struct hl_region *heap = hl_region(a, HL_REGION_HEAP);
	uint64_t kb = pmd_mapped_kb(hl_at(a, heap->off), hl_heap_used(a));
	cr_assert_geq(kb, 2048, "the heap is mapped 2 MiB at a time: %llu kB of %llu kB used",
		      (unsigned long long)kb, (unsigned long long)hl_heap_used(a) >> 10);
	hl_arena *b = NULL;
	cr_assert_eq(hl_arena_attach(name, HL_RDONLY, &b), 0);
	cr_assert_eq(hl_arena_stats(b, &st), 0);
	cr_assert_eq(st.huge_pages, 1, "an attacher sees it too");
	hl_arena_close(b);
	hl_arena_close(a);
	hl_arena_unlink(name);
}

Test(huge, an_arena_on_a_plain_tmpfs_says_4_kib_pages)
{
	char dir[64], name[128];
	mount_tmpfs("never", dir, sizeof dir);
	hl_arena *a = arena_in(dir, name, sizeof name);
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.huge_pages, 0);
	commit_w1(a);
	cr_assert_eq(pmd_mapped_kb(a->base, a->bytes), 0);
	hl_arena_close(a);
	hl_arena_unlink(name);
}
