/*
 * test_persister.c - the persister on real files under /var/tmp: sync and
 * async commits and refs come back byte-identical after the arena is gone,
 * a persister restarted on its DIR recovers first, a failed write or flush
 * is sticky, the forced fallbacks persist the same, and memory-only
 * arenas have no persist region.
 */
#include <criterion/criterion.h>

#include "persister.h" /* io.h first: it declares struct hl_iofault */
#include "iofault.h"
#include "persist_util.h"
#include "shm.h"
#include "testutil.h"
#include "workers.h"

#define KiB 1024ull
#define MiB (1024ull * 1024ull)
#define CHUNK PU_CHUNK
#define STATE_CHUNKS PU_STATE_CHUNKS

static void fini(void)
{
	tu_unlink_all();
	pu_dir_remove();
}

TestSuite(persister, .fini = fini, .timeout = 60);

static hl_arena *arena_persisted(const char **name, unsigned durability)
{
	hl_config c;
	tu_config_small(&c, 16 * MiB, CHUNK);
	c.persist_ring_bytes = 1 * MiB;
	c.durability = durability;
	*name = tu_arena_name("persister");
	return tu_arena_create_cfg(*name, &c);
}

static hl_arena *arena_plain(void)
{
	return tu_arena_new("persister", 16 * MiB, CHUNK, NULL);
}

static struct hl_persister *start(hl_arena *a, struct hl_iofault *f,
				  struct hl_recovery_info *info)
{
	struct hl_persister_config pc;
	hl_persister_config_init(&pc);
	/* the WAL alone, as this suite tests it (test_checkpoint*.c: checkpoints) */
	pc.no_ckpt = true;
	pc.wal_bytes = 8 * MiB;
	pc.io.fault = f;
	struct hl_persister *p = NULL;
	int rc = hl_persister_start(a, pu_dir, &pc, hl_replay_record, a, info, &p);
	cr_assert_eq(rc, 0, "hl_persister_start: %s", hl_strerror(rc));
	return p;
}

static void assert_gen(hl_arena *a, hl_id id, uint32_t gen)
{
	static unsigned char buf[STATE_CHUNKS * CHUNK];
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	int rc = hl_restore(s, id);
	cr_assert_eq(rc, 0, "restore of gen %u: %s", gen, hl_strerror(rc));
	cr_assert_eq(hl_state_size(s), sizeof buf);
	cr_assert_eq(hl_state_read(s, 0, buf, sizeof buf), 0);
	cr_assert_eq(tu_pattern_check(buf, 0, CHUNK, 0), -1);
	cr_assert_eq(tu_pattern_check(buf + CHUNK, CHUNK,
				      (STATE_CHUNKS - 1) * CHUNK, gen), -1,
		     "gen %u restored other bytes", gen);
	hl_state_free(s);
}

/* A fresh memory-only arena with DIR's WAL replayed into it. */
static hl_arena *recover_fresh(struct hl_recovery_info *info)
{
	hl_arena *r = arena_plain();
	int rc = hl_recover_dir(pu_dir, CHUNK, hl_replay_record, r, info);
	cr_assert_eq(rc, 0, "hl_recover_dir: %s", hl_strerror(rc));
	tu_assert_arena_ok(r, "after recovery");
	return r;
}

Test(persister, memory_only_arena_has_no_region)
{
	hl_arena *a = arena_plain();
	cr_assert_not(hl_persisted(a));
	cr_assert_eq(a->hdr->features & HL_FEATURE_PERSIST, 0u);
	cr_assert_eq(hl_persist_sync(a, 0), 0);
	hl_state *s;
	hl_id id;
	cr_assert_eq(hl_state_new(a, &s), 0);
	cr_assert_eq(pu_gen_commit(s, 1, HL_COMMIT_SYNC, &id), 0);
	hl_state_free(s);
	hl_arena_close(a);
}

Test(persister, bad_persist_config_is_einval)
{
	hl_config c;
	tu_config_small(&c, 16 * MiB, CHUNK);
	hl_arena *a = NULL;
	c.persist_ring_bytes = 1000; /* below the minimum */
	cr_assert_eq(hl_arena_create(tu_arena_name("persister"), &c, &a), HL_EINVAL);
	c.persist_ring_bytes = 1 * MiB;
	c.durability = 7;
	cr_assert_eq(hl_arena_create(tu_arena_name("persister"), &c, &a), HL_EINVAL);
	c.durability = HL_DURABILITY_SYNC;
	c.persist_lag_ns = HL_PERSIST_LAG_NS_MAX + 1;
	cr_assert_eq(hl_arena_create(tu_arena_name("persister"), &c, &a), HL_EINVAL);
}

Test(persister, sync_commits_and_refs_survive_the_arena)
{
	pu_dir_make();
	const char *name;
	hl_arena *a = arena_persisted(&name, HL_DURABILITY_SYNC);
	struct hl_persister *p = start(a, NULL, NULL);
	hl_state *s;
	hl_id ids[64];
	cr_assert_eq(hl_state_new(a, &s), 0);
	for (uint32_t g = 1; g <= 64; g++) {
		int rc = pu_gen_commit(s, g, 0, &ids[g - 1]);
		cr_assert_eq(rc, 0, "commit %u: %s", g, hl_strerror(rc));
		/* sync: on disk when it returns */
		cr_assert_geq(atomic_load(&a->pslots[a->slot_index].durable), a->pseq);
	}
	cr_assert_eq(pu_gen_commit(s, 5, 0, &ids[0]), 0); /* all found: a marker */
	cr_assert_eq(hl_ref_set(a, "best", ids[41]), 0);
	hl_state_free(s);
	cr_assert_eq(hl_persister_stop(p), 0);
	hl_arena_close(a);
	hl_arena_unlink(name);

	struct hl_recovery_info info;
	hl_arena *r = recover_fresh(&info);
	cr_assert_eq(info.stop, HL_WAL_STOP_END);
	cr_assert_gt(info.records, 64u);
	for (uint32_t g = 2; g <= 64; g++)
		assert_gen(r, ids[g - 1], g);
	assert_gen(r, ids[0], 5);
	hl_id best;
	cr_assert_eq(hl_ref_get(r, "best", &best), 0);
	cr_assert(hl_id_eq(best, ids[41]));
	hl_arena_close(r);
}

Test(persister, async_commits_are_durable_after_persist_sync)
{
	pu_dir_make();
	const char *name;
	hl_arena *a = arena_persisted(&name, HL_DURABILITY_ASYNC);
	struct hl_persister *p = start(a, NULL, NULL);
	hl_state *s;
	hl_id ids[200];
	cr_assert_eq(hl_state_new(a, &s), 0);
	for (uint32_t g = 1; g <= 200; g++)
		cr_assert_eq(pu_gen_commit(s, g, 0, &ids[g - 1]), 0);
	cr_assert_eq(hl_persist_sync(a, 0), 0);
	cr_assert_geq(atomic_load(&a->pslots[a->slot_index].durable), a->pseq);
	hl_state_free(s);
	cr_assert_eq(hl_persister_stop(p), 0);
	hl_arena_close(a);
	hl_arena_unlink(name);
	struct hl_recovery_info info;
	hl_arena *r = recover_fresh(&info);
	for (uint32_t g = 1; g <= 200; g++)
		assert_gen(r, ids[g - 1], g);
	hl_arena_close(r);
}

Test(persister, restart_on_its_dir_recovers_first)
{
	pu_dir_make();
	const char *name;
	hl_arena *a = arena_persisted(&name, HL_DURABILITY_SYNC);
	struct hl_persister *p = start(a, NULL, NULL);
	hl_state *s;
	hl_id id1, id2;
	cr_assert_eq(hl_state_new(a, &s), 0);
	cr_assert_eq(pu_gen_commit(s, 1, 0, &id1), 0);
	hl_state_free(s);
	cr_assert_eq(hl_persister_stop(p), 0);
	cr_assert_eq(atomic_load(&a->pctl->state), HL_PERSISTER_STOPPED);
	hl_arena_close(a);
	hl_arena_unlink(name);

	/* a new arena, the same DIR: recovered, then persisting on */
	a = arena_persisted(&name, HL_DURABILITY_SYNC);
	struct hl_recovery_info info;
	p = start(a, NULL, &info);
	cr_assert(info.existed);
	cr_assert_gt(info.records, 0u);
	assert_gen(a, id1, 1);
	cr_assert_eq(hl_state_new(a, &s), 0);
	cr_assert_eq(pu_gen_commit(s, 2, 0, &id2), 0);
	hl_state_free(s);
	cr_assert_eq(hl_persister_stop(p), 0);
	hl_arena_close(a);
	hl_arena_unlink(name);

	hl_arena *r = recover_fresh(&info);
	assert_gen(r, id1, 1);
	assert_gen(r, id2, 2);
	hl_arena_close(r);
}

/* A flush that fails (EIO) or a write that finds the disk full (ENOSPC):
 * the commit waiting on it and every durable commit after it fail with the
 * sticky error, and what was durable before is intact. */
static void sticky(bool flush, int err, int want)
{
	pu_dir_make();
	const char *name;
	hl_arena *a = arena_persisted(&name, HL_DURABILITY_SYNC);
	struct hl_iofault_config fc = {0};
	struct hl_iofault *f;
	cr_assert_eq(hl_iofault_new(&fc, &f), 0);
	struct hl_persister *p = start(a, NULL, NULL);
	hl_state *s;
	hl_id good, id;
	cr_assert_eq(hl_state_new(a, &s), 0);
	cr_assert_eq(pu_gen_commit(s, 1, 0, &good), 0);
	cr_assert_eq(hl_persister_stop(p), 0);
	/* again with the fault layer: the next write or flush fails */
	if (flush) {
		fc.flush_fail_at = 1;
		fc.flush_errno = err;
	} else {
		fc.write_fail_at = 1;
		fc.write_errno = err;
	}
	hl_iofault_free(f);
	cr_assert_eq(hl_iofault_new(&fc, &f), 0);
	p = start(a, f, NULL);
	int rc = pu_gen_commit(s, 2, 0, &id);
	cr_assert_eq(rc, want, "the failed commit: %s", hl_strerror(rc));
	cr_assert_eq(atomic_load(&a->pctl->state), HL_PERSISTER_ERROR);
	cr_assert_eq(pu_gen_commit(s, 3, 0, &id), want, "sticky");
	cr_assert_eq(pu_gen_commit(s, 4, HL_COMMIT_ASYNC, &id), want, "sticky");
	cr_assert_eq(hl_persist_sync(a, 0), want);
	cr_assert_eq(hl_persister_stop(p), want);
	hl_iofault_free(f);
	hl_state_free(s);
	hl_arena_close(a);
	hl_arena_unlink(name);
	struct hl_recovery_info info;
	hl_arena *r = recover_fresh(&info);
	assert_gen(r, good, 1);
	hl_arena_close(r);
}

Test(persister, failed_flush_is_sticky) { sticky(true, EIO, HL_EIO); }
Test(persister, full_disk_is_sticky) { sticky(false, ENOSPC, HL_ENOSPC); }

/* The fallbacks forced through the fault layer: the same commits come
 * back, and the control page says which fallback ran. */
static void fallback(bool uring, bool direct)
{
	pu_dir_make();
	const char *name;
	hl_arena *a = arena_persisted(&name, HL_DURABILITY_SYNC);
	struct hl_iofault_config fc = {.refuse_uring = uring,
				       .refuse_direct = direct};
	struct hl_iofault *f;
	cr_assert_eq(hl_iofault_new(&fc, &f), 0);
	struct hl_persister *p = start(a, f, NULL);
	unsigned want = (uring ? HL_IO_FELL_BACK_URING : 0) |
			(direct ? HL_IO_FELL_BACK_DIRECT : 0);
	cr_assert_eq(atomic_load(&a->pctl->io_fallbacks) & want, want);
	hl_state *s;
	hl_id ids[16];
	cr_assert_eq(hl_state_new(a, &s), 0);
	for (uint32_t g = 1; g <= 16; g++)
		cr_assert_eq(pu_gen_commit(s, g, 0, &ids[g - 1]), 0);
	hl_state_free(s);
	cr_assert_eq(hl_persister_stop(p), 0);
	hl_iofault_free(f);
	hl_arena_close(a);
	hl_arena_unlink(name);
	struct hl_recovery_info info;
	hl_arena *r = recover_fresh(&info);
	for (uint32_t g = 1; g <= 16; g++)
		assert_gen(r, ids[g - 1], g);
	hl_arena_close(r);
}

Test(persister, pwrite_fallback_persists) { fallback(true, false); }
Test(persister, buffered_fallback_persists) { fallback(false, true); }

Test(persister, one_persister_per_arena)
{
	pu_dir_make();
	const char *name;
	hl_arena *a = arena_persisted(&name, HL_DURABILITY_SYNC);
	struct hl_persister *p = start(a, NULL, NULL), *q = NULL;
	cr_assert_eq(hl_persister_start(a, pu_dir, NULL, NULL, NULL, NULL, &q),
		     HL_EEXIST);
	cr_assert_eq(hl_persister_stop(p), 0);
	hl_arena_close(a);
}

/* A persister that died (halted: its thread gone, the state RUNNING) may
 * have dropped records it held: no new one takes its arena over. */
Test(persister, a_dead_persisters_arena_is_not_taken_over)
{
	pu_dir_make();
	const char *name;
	hl_arena *a = arena_persisted(&name, HL_DURABILITY_SYNC);
	hl_persister_halt(start(a, NULL, NULL));
	atomic_store(&a->pctl->pid, 0x7ffffff0u); /* a pid that is not alive */
	struct hl_persister *q = NULL;
	cr_assert_eq(hl_persister_start(a, pu_dir, NULL, hl_replay_record, a,
					NULL, &q), HL_ECORRUPT);
	hl_arena_close(a);
}

Test(persister, other_chunk_size_is_emismatch)
{
	pu_dir_make();
	const char *name;
	hl_arena *a = arena_persisted(&name, HL_DURABILITY_SYNC);
	cr_assert_eq(hl_persister_stop(start(a, NULL, NULL)), 0);
	hl_arena_close(a);
	struct hl_recovery_info info;
	cr_assert_eq(hl_recover_dir(pu_dir, 2 * CHUNK, NULL, NULL, &info),
		     HL_EMISMATCH);
	cr_assert_eq(hl_recover_dir("/var/tmp/helios-no-such-dir-x", CHUNK, NULL,
				    NULL, &info), HL_ENOENT);
}

/* A search graph's records come back with their moves and priors (and
 * fresh statistics) after the arena is gone; the search reopens by name. */
Test(persister, search_records_survive_with_fresh_statistics)
{
	pu_dir_make();
	const char *name;
	hl_arena *a = arena_persisted(&name, HL_DURABILITY_SYNC);
	struct hl_persister *p = start(a, NULL, NULL);
	hl_state *s;
	hl_id root, kid;
	cr_assert_eq(hl_state_new(a, &s), 0);
	cr_assert_eq(pu_gen_commit(s, 1, 0, &root), 0);
	cr_assert_eq(pu_gen_commit(s, 2, 0, &kid), 0);
	hl_state_free(s);
	hl_mcts *m;
	cr_assert_eq(hl_mcts_open(a, "g", root, NULL, &m), 0);
	hl_mcts_path path;
	cr_assert_eq(hl_mcts_select(m, &path), 0);
	cr_assert_eq(path.leaf, HL_MCTS_LEAF_ROOT);
	hl_mcts_move moves[3] = {{7, 0.5f, kid}, {8, 0.25f, {0, 0}},
				 {9, 0.25f, {0, 0}}};
	cr_assert_eq(hl_mcts_expand(m, &path, root, moves, 3, HL_MCTS_ONGOING), 0);
	cr_assert_eq(hl_mcts_backup(m, &path, 0.5), 0);
	cr_assert_eq(hl_persist_sync(a, 0), 0);
	hl_mcts_close(m);
	cr_assert_eq(hl_persister_stop(p), 0);
	hl_arena_close(a);
	hl_arena_unlink(name);

	struct hl_recovery_info info;
	hl_arena *r = recover_fresh(&info);
	cr_assert_eq(hl_mcts_open(r, "g", (hl_id){0, 0}, NULL, &m), 0,
		     "the search's root ref came back");
	cr_assert(hl_id_eq(hl_mcts_root(m), root));
	hl_mcts_node n;
	cr_assert_eq(hl_mcts_node_info(m, root, &n), 0, "the root's record");
	cr_assert_eq(n.edges, 3u);
	cr_assert_eq(n.visits, 0u, "statistics start fresh");
	hl_mcts_child c[3];
	unsigned got = 0;
	cr_assert_eq(hl_mcts_children(m, root, c, 3, &got), 0);
	cr_assert_eq(got, 3u);
	cr_assert_eq(c[0].action, 7u);
	cr_assert_float_eq(c[0].prior, 0.5f, 1e-3);
	cr_assert_eq(c[2].action, 9u);
	hl_mcts_close(m);
	hl_arena_close(r);
}
