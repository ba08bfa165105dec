/*
 * test_arena.c - arenas: creation, the header and region table, attach
 * (read-write and read-only), names, modes, the index capacity rule and the
 * prefault option.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "testutil.h"
#include "shm.h"

TestSuite(arena, .fini = tu_unlink_all);

Test(arena, config_defaults_match_the_header_doc)
{
	hl_config c;
	memset(&c, 0xff, sizeof c);
	hl_config_init(&c);
	cr_assert_eq(c.arena_bytes, 1ull << 30);
	cr_assert_eq(c.chunk_bytes, 4096);
	cr_assert_eq(c.index_capacity, 0);
	cr_assert_eq(c.max_processes, 64);
	cr_assert_eq(c.refs_capacity, 1024);
	cr_assert_eq(c.numa, HL_NUMA_AUTO);
	cr_assert_eq(c.mode, 0600);
	cr_assert_eq(c.prefault, 0);
}

Test(arena, create_attach_close_unlink)
{
	const char *name;
	hl_arena *a = tu_arena_new("arena", 16 << 20, 4096, &name);
	cr_assert_eq(hl_arena_slot(a), 0);
	cr_assert_eq(hl_arena_chunk_bytes(a), 4096);

	hl_arena *b;
	cr_assert_eq(hl_arena_attach(name, 0, &b), 0);
	cr_assert_eq(hl_arena_slot(b), 1, "a second handle takes its own slot");
	hl_stats st;
	cr_assert_eq(hl_arena_stats(b, &st), 0);
	cr_assert_eq(st.processes, 2);
	cr_assert_eq(st.nodes, 0);
	cr_assert_eq(st.arena_bytes, 16 << 20);
	cr_assert_gt(st.heap_bytes, 8 << 20, "metadata leaves most to the heap");
	cr_assert_eq(st.heap_used_bytes, 0);
	hl_arena_close(b);
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.processes, 1, "close frees the slot");
	tu_assert_arena_ok(a, "fresh");
	hl_arena_close(a);
	cr_assert_eq(hl_arena_unlink(name), 0);
	cr_assert_eq(hl_arena_attach(name, 0, &b), HL_ENOENT);
	cr_assert_eq(hl_arena_unlink(name), HL_ENOENT);
}

Test(arena, regions_are_page_aligned_ordered_and_inside)
{
	hl_arena *a = tu_arena_new("arena", 32 << 20, 256, NULL);
	const struct hl_arena_hdr *h = a->hdr;
	uint64_t at = HL_PAGE_BYTES;
	for (int r = 0; r < HL_REGION_COUNT; r++) {
		cr_assert_eq(h->regions[r].off % HL_PAGE_BYTES, 0, "region %d", r);
		cr_assert_geq(h->regions[r].off, at, "region %d overlaps", r);
		at = h->regions[r].off + h->regions[r].bytes;
	}
	cr_assert_leq(at, h->arena_bytes);
	cr_assert_eq(h->regions[HL_REGION_INDEX].bytes,
		     h->index_buckets * sizeof(struct hl_bucket));
	cr_assert_eq(h->version, HL_FORMAT_VERSION);
	cr_assert_eq(h->magic, HL_ARENA_MAGIC);
	cr_assert_eq(h->creator_uid, getuid());
	hl_arena_close(a);
}

Test(arena, index_capacity_explicit_rounds_up_to_a_power_of_two)
{
	hl_config c;
	tu_config_small(&c, 16 << 20, 4096);
	c.index_capacity = 3000;
	hl_arena *a = tu_arena_create_cfg(tu_arena_name("arena"), &c);
	hl_stats st;
	hl_arena_stats(a, &st);
	cr_assert_eq(st.index_capacity, 4096);
	hl_arena_close(a);

	c.index_capacity = 0; /* derived: room for a heap full of leaves */
	a = tu_arena_create_cfg(tu_arena_name("arena"), &c);
	hl_arena_stats(a, &st);
	cr_assert_geq(st.index_capacity, 2 * st.heap_bytes / (4096 + 128));
	cr_assert_eq(st.index_capacity & (st.index_capacity - 1), 0);
	hl_arena_close(a);
}

Test(arena, read_only_attach_takes_no_slot_and_changes_nothing)
{
	const char *name;
	hl_arena *a = tu_arena_new("arena", 16 << 20, 4096, &name);
	hl_arena *r;
	cr_assert_eq(hl_arena_attach(name, HL_RDONLY, &r), 0);
	cr_assert_eq(hl_arena_slot(r), -1);
	hl_stats st;
	cr_assert_eq(hl_arena_stats(r, &st), 0);
	cr_assert_eq(st.processes, 1, "observers are invisible");
	uint64_t off;
	cr_assert_eq(hl_heap_alloc(r, 0, &off), HL_EROFS);
	hl_arena_close(r);
	cr_assert_eq(hl_arena_attach(name, 0x80, &r), HL_EINVAL, "unknown flag");
	hl_arena_close(a);
}

Test(arena, created_with_mode_0600_or_as_configured)
{
	const char *name = tu_arena_name("arena");
	hl_config c;
	tu_config_small(&c, 4 << 20, 4096);
	mode_t old = umask(0); /* the mode must not depend on the umask */
	hl_arena *a = tu_arena_create_cfg(name, &c);
	char path[256];
	snprintf(path, sizeof path, "/dev/shm/helios.%s", name);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	hl_arena_close(a);

	name = tu_arena_name("arena");
	c.mode = 0640;
	a = tu_arena_create_cfg(name, &c);
	snprintf(path, sizeof path, "/dev/shm/helios.%s", name);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0640);
	umask(old);
	hl_arena_close(a);
}

Test(arena, a_taken_name_is_refused_and_left_intact)
{
	const char *name;
	hl_arena *a = tu_arena_new("arena", 8 << 20, 4096, &name);
	hl_config c;
	tu_config_small(&c, 8 << 20, 4096);
	hl_arena *b = NULL;
	cr_assert_eq(hl_arena_create(name, &c, &b), HL_EEXIST);
	cr_assert_null(b);
	tu_assert_arena_ok(a, "after the refused create");
	hl_arena_close(a);
}

Test(arena, path_names_make_plain_files)
{
	char dir[] = "/tmp/helios-arena-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof path, "%s/arena", dir);
	tu_arena_name_register(path);
	hl_config c;
	tu_config_small(&c, 8 << 20, 1024);
	hl_arena *a = tu_arena_create_cfg(path, &c);
	hl_arena *b;
	cr_assert_eq(hl_arena_attach(path, 0, &b), 0);
	cr_assert_eq(hl_arena_chunk_bytes(b), 1024);
	hl_arena_close(b);
	hl_arena_close(a);
	cr_assert_eq(hl_arena_unlink(path), 0);
	cr_assert_eq(access(path, F_OK), -1);
	rmdir(dir);
}

Test(arena, too_small_for_its_config_is_einval)
{
	hl_config c;
	tu_config_small(&c, 4 << 20, 1 << 20); /* a slab of 1 MiB leaves > arena */
	hl_arena *a = NULL;
	cr_assert_eq(hl_arena_create(tu_arena_name("arena"), &c, &a), HL_EINVAL);
	cr_assert_null(a);
}

Test(arena, prefault_arena_commits_and_reattaches)
{
	hl_config c;
	tu_config_small(&c, 16 << 20, 4096);
	c.prefault = 1;
	const char *name = tu_arena_name("arena");
	hl_arena *a = tu_arena_create_cfg(name, &c);
	cr_assert(a->hdr->flags & HL_ARENA_F_PREFAULT);
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	cr_assert_eq(hl_state_resize(s, 10000), 0);
	cr_assert_eq(hl_state_write(s, 9999, "z", 1), 0);
	hl_id id;
	cr_assert_eq(hl_commit(s, &id, NULL), 0);
	hl_arena *b;
	cr_assert_eq(hl_arena_attach(name, HL_RDONLY, &b), 0);
	hl_state *t;
	cr_assert_eq(hl_state_new(b, &t), 0);
	cr_assert_eq(hl_restore(t, id), 0);
	char ch;
	cr_assert_eq(hl_state_read(t, 9999, &ch, 1), 0);
	cr_assert_eq(ch, 'z');
	hl_state_free(t);
	hl_arena_close(b);
	hl_state_free(s);
	hl_arena_close(a);
	c.prefault = 2;
	cr_assert_eq(hl_arena_create(tu_arena_name("arena"), &c, &a), HL_EINVAL);
}

Test(arena, numa_auto_arena_works_on_any_machine)
{
	hl_config c;
	tu_config_small(&c, 16 << 20, 4096);
	c.numa = HL_NUMA_AUTO; /* the policy calls are made, even on one node */
	hl_arena *a = tu_arena_create_cfg(tu_arena_name("arena"), &c);
	cr_assert_geq(a->numa_node, 0);
	hl_state *s;
	hl_state_new(a, &s);
	hl_state_resize(s, 1 << 20);
	hl_id id;
	cr_assert_eq(hl_commit(s, &id, NULL), 0);
	tu_assert_arena_ok(a, "numa auto");
	hl_state_free(s);
	hl_arena_close(a);
}

Test(arena, strerror_names_every_code)
{
	for (int rc = 0; rc >= HL_ENOSPC; rc--) {
		const char *m = hl_strerror(rc);
		cr_assert_not_null(m);
		cr_assert_neq(strstr(m, "HL_"), NULL, "code %d: %s", rc, m);
	}
	cr_assert_str_eq(hl_strerror(-999), "unknown Helios error");
}

Test(arena, ids_print_and_parse)
{
	hl_id id = {.lo = 0x0123456789abcdefull, .hi = 0xfedcba9876543210ull};
	char hex[33];
	cr_assert_eq(hl_id_to_hex(id, hex), 0);
	cr_assert_str_eq(hex, "fedcba98765432100123456789abcdef");
	hl_id back;
	cr_assert_eq(hl_id_from_hex("FEDCBA98765432100123456789ABCDEF", &back), 0);
	cr_assert(hl_id_eq(id, back));
	cr_assert_eq(hl_id_from_hex("xyz", &back), HL_EINVAL);
	cr_assert_eq(hl_id_from_hex("fedcba98765432100123456789abcdef0", &back),
		     HL_EINVAL);
	cr_assert_eq(hl_id_from_hex("fedcba9876543210g123456789abcdef", &back),
		     HL_EINVAL);
	cr_assert(hl_id_is_zero((hl_id){0, 0}));
	cr_assert_not(hl_id_is_zero(id));
}

/* The one sizing rule counts the persist ring (and its dirty bitmap): a
 * small content with the default 64 MiB ring gets an arena that is made
 * and has the heap asked for (it answered HL_EFULL for anything under
 * ~16 MiB of content, and callers added the ring themselves). */
Test(arena, bytes_for_counts_the_persist_ring)
{
	hl_config c;
	hl_config_init(&c);
	c.numa = HL_NUMA_OFF;
	c.persist_ring_bytes = HL_PERSIST_RING_BYTES_DEFAULT;
	c.durability = HL_DURABILITY_ASYNC;
	for (uint64_t content = 1u << 20; content <= (64u << 20); content *= 8) {
		uint64_t bytes = 0;
		int rc = hl_arena_bytes_for(&c, 2, content, &bytes);
		cr_assert_eq(rc, 0, "content %llu: %s", (unsigned long long)content,
			     hl_strerror(rc));
		c.arena_bytes = bytes;
		hl_arena *a = tu_arena_create_cfg(tu_arena_name("arena"), &c);
		hl_stats st;
		cr_assert_eq(hl_arena_stats(a, &st), 0);
		cr_assert_geq(st.heap_bytes, content, "content %llu, heap %llu",
			      (unsigned long long)content,
			      (unsigned long long)st.heap_bytes);
		hl_arena_close(a);
	}
}
