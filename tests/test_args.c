/*
 * test_args.c - bad input and access: what a user relies on when a call is
 * wrong rather than the arena.
 *
 *  - Bad arguments, names and configurations: HL_EINVAL, nothing created;
 *    NULL arguments are errors, never crashes; ids print and parse as hex.
 *  - Ranges, unknown ids, ids that name nodes but not snapshots, refs, and
 *    creating an arena that exists.
 *  - Access: read-only attaches, the shm object's mode, process slots
 *    (full, freed, held by a dead or zombie process).
 *  - Every error code has its name (hl_strerror).
 *
 * Exhaustion and corrupt arenas are test_fault.c; the helpers both use are
 * fault_util.h. Every arena is named through testutil.h and unlinked by the
 * suite's fini.
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

TestSuite(args, .fini = tu_unlink_all, .timeout = 60);

/* ---- bad input ------------------------------------------------------------ */

static int never_called(uint64_t off, uint64_t len, void *ctx)
{
	(void)off, (void)len, (void)ctx;
	cr_assert_fail("diff callback called");
	return 0;
}

Test(args, null_arguments)
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

Test(args, id_hex)
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

Test(args, bad_names)
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

Test(args, bad_configs)
{
	for (int m = 0;; m++) {
		hl_config cfg;
		tu_config_small(&cfg, 4 * MiB, 4096);
		const char *what;
		switch (m) {
		case 0: what = "chunk 100"; cfg.chunk_bytes = 100; break;
		case 1: what = "chunk 16"; cfg.chunk_bytes = 16; break;
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

Test(args, out_of_range)
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

Test(args, unknown_ids)
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

Test(args, create_existing)
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

Test(args, read_only_attach)
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

Test(args, shm_mode)
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

Test(args, process_slots_full)
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

Test(args, dead_slot_reclaimed) { reclaim_dead_slot(true); }
Test(args, zombie_slot_reclaimed) { reclaim_dead_slot(false); }

/* ---- error names ----------------------------------------------------------- */

Test(args, strerror_names_every_code)
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
		{HL_EMISMATCH, "HL_EMISMATCH"}, {HL_EFTYPE, "HL_EFTYPE"},
		{HL_ENOSPC, "HL_ENOSPC"},
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
	const int unknown[] = {1, -17, -1000, 2147483647, -2147483647 - 1};
	for (unsigned i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		const char *s = hl_strerror(unknown[i]);
		cr_assert_not_null(s);
		for (unsigned j = 0; j < n; j++)
			cr_assert_str_neq(s, hl_strerror(codes[j].rc),
					  "unknown %d named like %s", unknown[i],
					  codes[j].name);
	}
}
