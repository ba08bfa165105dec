/*
 * test_gc_persist.c - garbage collection on a persisted arena (shm/gc.c
 * invariants 5 and 6, persist/checkpoint.c invariant 3): collections
 * between checkpoints and commits, then a crash (the persister halted with
 * nothing more flushed, the shared memory dropped), and a recovery from
 * DIR that must have every acknowledged ref with its bytes, whatever the
 * collections reused in between.
 *
 * Files on a real file system (persist_util.h: /var/tmp), so O_DIRECT and
 * the flushes are real.
 */
#include <criterion/criterion.h>

#include "checkpoint.h"
#include "persister.h"
#include "persist_util.h"
#include "shm.h"
#include "testutil.h"
#include "workers.h"

#define MiB (1024ull * 1024ull)
#define STATE_BYTES (PU_STATE_CHUNKS * PU_CHUNK)
#define REFS 8u

static void fini(void)
{
	tu_unlink_all();
	pu_dir_remove();
}

static void init(void)
{
	unsetenv("HELIOS_GC"); /* full commits collect: the default */
}

TestSuite(gc_persist, .init = init, .fini = fini, .timeout = 240);

static struct hl_persister *start(hl_arena *a, bool checkpoints)
{
	struct hl_persister_config pc;
	hl_persister_config_init(&pc);
	pc.wal_bytes = 64 * MiB;
	pc.ckpt_interval_ns = UINT64_MAX; /* only when a collector (or we) ask */
	pc.no_final_ckpt = true;
	pc.no_ckpt = !checkpoints;
	struct hl_persister *p = NULL;
	int rc = hl_persister_start(a, pu_dir, &pc, hl_replay_record, a, NULL, &p);
	cr_assert_eq(rc, 0, "hl_persister_start: %s", hl_strerror(rc));
	return p;
}

/* Rounds of commits in a small arena, refs moved among them, collections
 * run by full commits and by hl_gc; then a crash and a recovery. */
static void collect_crash_recover(bool checkpoints)
{
	pu_dir_make();
	hl_config c;
	tu_config_small(&c, 12 * MiB, PU_CHUNK);
	c.persist_ring_bytes = 2 * MiB;
	c.durability = HL_DURABILITY_SYNC;
	const char *name = tu_arena_name("gcp");
	hl_arena *a = tu_arena_create_cfg(name, &c);
	struct hl_persister *p = start(a, checkpoints);
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	hl_id ref_id[REFS];
	uint32_t ref_gen[REFS] = {0};
	struct tu_rng r;
	tu_rng_seed(&r, checkpoints ? 11 : 12);
	uint32_t gen = 1;
	for (unsigned round = 0; round < 6; round++) {
		for (unsigned k = 0; k < 1500; k++, gen++) {
			hl_id id;
			int rc = pu_gen_commit(s, gen, 0, &id);
			cr_assert_eq(rc, 0, "commit %u: %s", gen, hl_strerror(rc));
			if (tu_rng_chance(&r, 3)) {
				unsigned i = (unsigned)tu_rng_below(&r, REFS);
				char ref[16];
				snprintf(ref, sizeof ref, "keep/%u", i);
				cr_assert_eq(hl_ref_set(a, ref, id), 0);
				ref_id[i] = id;
				ref_gen[i] = gen;
			}
		}
		hl_gc_info info;
		cr_assert_eq(hl_gc(a, &info), 0);
		cr_assert_gt(info.freed_nodes, 0);
	}
	hl_gc_stats gs;
	cr_assert_eq(hl_gc_stats_get(a, &gs), 0);
	cr_assert_gt(gs.cycles, 6, "the heap never filled: %llu collections",
		     (unsigned long long)gs.cycles);
	cr_assert_eq(gs.unreused_bytes, 0, "a collection could not reuse what it swept");
	uint64_t begun, done;
	hl_ckpt_counters(a, &begun, &done);
	if (checkpoints)
		cr_assert_gt(done, 3, "collections asked for %llu checkpoints",
			     (unsigned long long)done);
	/* the crash: nothing more flushed, the shared memory gone */
	hl_persister_halt(p);
	hl_state_free(s);
	hl_arena_close(a);
	hl_arena_unlink(name);

	hl_config rc_cfg = c;
	if (checkpoints)
		cr_assert_eq(hl_ckpt_config(pu_dir, &rc_cfg), 0);
	rc_cfg.numa = HL_NUMA_OFF;
	rc_cfg.arena_bytes = 256 * MiB; /* the whole history: garbage too */
	if (checkpoints)
		rc_cfg.arena_bytes = c.arena_bytes; /* an image: the same geometry */
	hl_arena *b = tu_arena_create_cfg(tu_arena_name("gcp"), &rc_cfg);
	struct hl_recovery_info info;
	int rc = hl_recover_into(b, pu_dir, hl_replay_record, b, &info, NULL);
	cr_assert_eq(rc, 0, "recovery: %s", hl_strerror(rc));
	tu_assert_arena_ok(b, "after recovery");
	for (unsigned i = 0; i < REFS; i++) {
		if (!ref_gen[i])
			continue;
		char ref[16];
		hl_id got;
		snprintf(ref, sizeof ref, "keep/%u", i);
		cr_assert_eq(hl_ref_get(b, ref, &got), 0, "ref %s lost", ref);
		cr_assert(hl_id_eq(got, ref_id[i]), "ref %s names another snapshot", ref);
		cr_assert_eq(pu_gen_restores(b, got, ref_gen[i]), 0,
			     "ref %s: generation %u does not restore", ref, ref_gen[i]);
	}
	/* and the recovered arena collects too: what no ref keeps goes */
	hl_gc_info gi;
	cr_assert_eq(hl_gc(b, &gi), 0);
	for (unsigned i = 0; i < REFS; i++)
		if (ref_gen[i])
			cr_assert_eq(pu_gen_restores(b, ref_id[i], ref_gen[i]), 0);
	hl_arena_close(b);
}

Test(gc_persist, collections_then_a_crash_keep_every_ref_with_checkpoints)
{
	collect_crash_recover(true);
}

Test(gc_persist, collections_then_a_crash_keep_every_ref_from_the_wal_alone)
{
	collect_crash_recover(false);
}
