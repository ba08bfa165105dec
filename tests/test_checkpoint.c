/*
 * test_checkpoint.c - checkpoints (persist/checkpoint.c, ckpt_recover.c,
 * wal_seg.c, the persister's checkpoint thread) on real files under
 * /var/tmp: what a checkpoint saves comes back byte-identical with the
 * search statistics, recovery replays only the WAL since the checkpoint,
 * a small WAL is recycled instead of filling, and damage to an image page
 * or a meta page is detected and never returns wrong bytes.
 *
 * The crash suites (kills in the middle of checkpoints, the crash loop
 * with checkpoints at random moments) are test_checkpoint_crash.c.
 */
#include <criterion/criterion.h>
#include <dirent.h>

#include "checkpoint.h"
#include "crc32c.h"
#include "persister.h"
#include "persist_util.h"
#include "shm.h"
#include "testutil.h"
#include "workers.h"

#define MiB (1024ull * 1024ull)
#define CHUNK PU_CHUNK
#define STATE_BYTES (PU_STATE_CHUNKS * PU_CHUNK)

static void fini(void)
{
	tu_unlink_all();
	pu_dir_remove();
}

TestSuite(checkpoint, .fini = fini, .timeout = 120);

static hl_arena *arena_persisted(const char **name, uint64_t bytes)
{
	hl_config c;
	tu_config_small(&c, bytes, CHUNK);
	c.persist_ring_bytes = 1 * MiB;
	c.durability = HL_DURABILITY_SYNC;
	*name = tu_arena_name("ckpt");
	return tu_arena_create_cfg(*name, &c);
}

/* A persister that checkpoints only when asked (and, with final, at stop). */
static struct hl_persister *start(hl_arena *a, uint64_t wal_bytes, bool final,
				  struct hl_recovery_info *info)
{
	struct hl_persister_config pc;
	hl_persister_config_init(&pc);
	pc.wal_bytes = wal_bytes;
	pc.ckpt_interval_ns = UINT64_MAX;
	pc.no_final_ckpt = !final;
	struct hl_persister *p = NULL;
	int rc = hl_persister_start(a, pu_dir, &pc, hl_replay_record, a, info, &p);
	cr_assert_eq(rc, 0, "hl_persister_start: %s", hl_strerror(rc));
	return p;
}

static uint64_t checkpoint(struct hl_persister *p)
{
	uint64_t k = 0;
	int rc = hl_persister_checkpoint(p, &k);
	cr_assert_eq(rc, 0, "hl_persister_checkpoint: %s", hl_strerror(rc));
	return k;
}

/* A fresh arena of DIR's checkpoint geometry, DIR recovered into it. */
static hl_arena *recover(const char *name, struct hl_recovery_info *info)
{
	hl_config c;
	int rc = hl_ckpt_config(pu_dir, &c);
	cr_assert_eq(rc, 0, "hl_ckpt_config: %s", hl_strerror(rc));
	c.numa = HL_NUMA_OFF;
	hl_arena *r = tu_arena_create_cfg(name, &c);
	rc = hl_recover_into(r, pu_dir, hl_replay_record, r, info, NULL);
	cr_assert_eq(rc, 0, "hl_recover_into: %s", hl_strerror(rc));
	tu_assert_arena_ok(r, "after recovery");
	return r;
}

/* 0 restored byte-identical, or hl_restore's error; any other bytes fail. */
static void commit_gens(hl_arena *a, uint32_t from, uint32_t n, hl_id *ids)
{
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	for (uint32_t g = from; g < from + n; g++) {
		int rc = pu_gen_commit(s, g, 0, &ids[g]);
		cr_assert_eq(rc, 0, "commit %u: %s", g, hl_strerror(rc));
	}
	hl_state_free(s);
}

/* ---- a search with statistics ------------------------------------------- */

/* Root gen 1 with three children (gens 2-4), each expanded with two moves
 * whose children are not snapshots: playouts fold into the kids. */
static void search_playouts(hl_mcts *m, const hl_id *ids, unsigned n)
{
	hl_mcts_move root_moves[3] = {{7, 0.5f, ids[2]}, {8, 0.3f, ids[3]},
				      {9, 0.2f, ids[4]}};
	hl_mcts_move kid_moves[2] = {{1, 0.5f, {0, 0}}, {2, 0.5f, {0, 0}}};
	for (unsigned i = 0; i < n; i++) {
		hl_mcts_path p;
		cr_assert_eq(hl_mcts_select(m, &p), 0);
		if (p.leaf == HL_MCTS_LEAF_ROOT)
			cr_assert_eq(hl_mcts_expand(m, &p, ids[1], root_moves, 3,
						    HL_MCTS_ONGOING), 0);
		else if (p.leaf == HL_MCTS_LEAF_NEW && p.depth == 1)
			cr_assert_eq(hl_mcts_expand(m, &p, ids[2 + p.action[0] - 7],
						    kid_moves, 2, HL_MCTS_ONGOING), 0);
		cr_assert_eq(hl_mcts_backup(m, &p, (i % 3) * 0.25 - 0.25), 0);
	}
}

struct search_seen {
	hl_mcts_node root;
	hl_mcts_child kids[3];
};

static void search_look(hl_mcts *m, hl_id root, struct search_seen *out)
{
	unsigned got;
	cr_assert_eq(hl_mcts_node_info(m, root, &out->root), 0);
	cr_assert_eq(hl_mcts_children(m, root, out->kids, 3, &got), 0);
	cr_assert_eq(got, 3u);
}

/* ---- the tests ------------------------------------------------------------- */

Test(checkpoint, checkpoint_then_recover_restores_ids_refs_and_visit_counts)
{
	pu_dir_make();
	const char *name;
	hl_arena *a = arena_persisted(&name, 32 * MiB);
	struct hl_persister *p = start(a, 8 * MiB, false, NULL);
	static hl_id ids[400];
	commit_gens(a, 1, 300, ids);
	cr_assert_eq(hl_ref_set(a, "best", ids[123]), 0);
	hl_mcts *m;
	cr_assert_eq(hl_mcts_open(a, "g", ids[1], NULL, &m), 0);
	search_playouts(m, ids, 60);
	struct search_seen before;
	search_look(m, ids[1], &before);
	cr_assert_gt(before.root.visits, 50u, "the playouts backed up");
	hl_mcts_close(m);
	cr_assert_eq(checkpoint(p), 1u);
	/* after the checkpoint: the WAL's, replayed on top of the image */
	commit_gens(a, 300, 50, ids);
	cr_assert_eq(hl_ref_set(a, "late", ids[349]), 0);
	cr_assert_eq(hl_persister_stop(p), 0);
	hl_arena_close(a);
	hl_arena_unlink(name);

	struct hl_recovery_info info;
	hl_arena *r = recover(tu_arena_name("ckpt"), &info);
	cr_assert_eq(info.ckpt, 1u, "recovered through the checkpoint");
	cr_assert_gt(info.pages_read, 0u);
	cr_assert_eq(info.bad_pages, 0u);
	for (uint32_t g = 1; g < 350; g++)
		cr_assert_eq(pu_gen_restores(r, ids[g], g), 0, "gen %u lost", g);
	hl_id got;
	cr_assert_eq(hl_ref_get(r, "best", &got), 0);
	cr_assert(hl_id_eq(got, ids[123]));
	cr_assert_eq(hl_ref_get(r, "late", &got), 0);
	cr_assert(hl_id_eq(got, ids[349]));
	cr_assert_eq(hl_mcts_open(r, "g", (hl_id){0, 0}, NULL, &m), 0);
	struct search_seen after;
	search_look(m, ids[1], &after);
	cr_assert_eq(after.root.visits, before.root.visits,
		     "visit counts come back as of the checkpoint");
	cr_assert_eq(after.root.in_flight, 0u);
	for (unsigned i = 0; i < 3; i++) {
		cr_assert_eq(after.kids[i].visits, before.kids[i].visits);
		cr_assert_eq(after.kids[i].action, before.kids[i].action);
		cr_assert(hl_id_eq(after.kids[i].child, before.kids[i].child));
	}
	/* the search goes on from there */
	search_playouts(m, ids, 5);
	hl_mcts_close(m);
	tu_assert_arena_ok(r, "after more playouts");
	hl_arena_close(r);
}

/* Recovery's cost follows the WAL since the checkpoint, not the history:
 * counted in records replayed, which no load can make noisy. */
Test(checkpoint, recovery_replays_only_the_wal_since_the_checkpoint)
{
	pu_dir_make();
	const char *name;
	hl_arena *a = arena_persisted(&name, 64 * MiB);
	struct hl_persister *p = start(a, 64 * MiB, false, NULL);
	static hl_id ids[1100];
	commit_gens(a, 1, 1000, ids);
	uint64_t k = checkpoint(p);
	uint64_t at_ckpt = atomic_load(&a->pctl->records);
	commit_gens(a, 1000, 20, ids);
	cr_assert_eq(hl_persister_stop(p), 0);
	uint64_t total = atomic_load(&a->pctl->records);
	hl_arena_close(a);
	hl_arena_unlink(name);

	struct hl_recovery_info info;
	hl_arena *r = recover(tu_arena_name("ckpt"), &info);
	cr_assert_eq(info.records, total - at_ckpt,
		     "replayed %llu records: the %llu logged after the checkpoint",
		     (unsigned long long)info.records,
		     (unsigned long long)(total - at_ckpt));
	cr_assert_lt(info.records * 20, total, "not the history");
	for (uint32_t g = 1; g < 1020; g += 7)
		cr_assert_eq(pu_gen_restores(r, ids[g], g), 0, "gen %u lost", g);
	cr_assert_eq(pu_gen_restores(r, ids[1019], 1019), 0);
	hl_arena_close(r);

	/* a clean stop checkpoints last: nothing left to replay */
	a = arena_persisted(&name, 64 * MiB);
	struct hl_recovery_info first;
	p = start(a, 64 * MiB, true, &first);
	cr_assert_eq(first.ckpt, k);
	cr_assert_eq(hl_persister_stop(p), 0);
	hl_arena_close(a);
	hl_arena_unlink(name);
	r = recover(tu_arena_name("ckpt"), &info);
	cr_assert_eq(info.ckpt, k + 1);
	cr_assert_eq(info.records, 0u, "a final checkpoint leaves no WAL to replay");
	cr_assert_eq(pu_gen_restores(r, ids[500], 500), 0);
	hl_arena_close(r);
}

/* WAL files in DIR: the segments, and all of them (with the spare). */
static unsigned wal_files(bool segments_only)
{
	DIR *d = opendir(pu_dir);
	cr_assert_not_null(d);
	unsigned n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += strncmp(e->d_name, "wal.", 4) == 0 &&
		     (!segments_only || (e->d_name[4] >= '0' && e->d_name[4] <= '9'));
	closedir(d);
	return n;
}

/* 40 MB of WAL through 1 MiB segments: no ENOSPC (the single preallocated
 * WAL of before ended every such run in a sticky HL_ENOSPC), and the
 * segments in DIR stay a handful. */
Test(checkpoint, long_run_in_a_small_wal_is_recycled_not_full)
{
	pu_dir_make();
	const char *name;
	hl_arena *a = arena_persisted(&name, 128 * MiB);
	struct hl_persister *p = start(a, 1 * MiB, true, NULL);
	static hl_id ids[5001];
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	unsigned most = 0;
	for (uint32_t g = 1; g <= 5000; g++) {
		int rc = pu_gen_commit(s, g, 0, &ids[g]);
		cr_assert_eq(rc, 0, "commit %u: %s", g, hl_strerror(rc));
		if (g % 250 == 0) {
			unsigned n = wal_files(false);
			most = n > most ? n : most;
		}
	}
	hl_state_free(s);
	uint64_t done = atomic_load(&a->pctl->ckpt_done);
	uint64_t logged = atomic_load(&a->pctl->wal_bytes);
	cr_assert_eq(hl_persister_stop(p), 0, "no sticky error");
	cr_assert_gt(logged, 30 * MiB, "the run logged %llu bytes",
		     (unsigned long long)logged);
	cr_assert_geq(done, 5u, "the WAL-usage trigger checkpointed");
	cr_assert_leq(most, 8u, "WAL files stayed bounded (%u)", most);
	cr_assert_leq(wal_files(true), 5u, "%u segments left", wal_files(true));
	cr_assert_leq(wal_files(false), 7u, "%u WAL files left", wal_files(false));
	cr_log_info("small WAL: %llu bytes logged, %llu checkpoints, at most %u "
		    "WAL files", (unsigned long long)logged,
		    (unsigned long long)done, most);
	hl_arena_close(a);
	hl_arena_unlink(name);
	struct hl_recovery_info info;
	hl_arena *r = recover(tu_arena_name("ckpt"), &info);
	for (uint32_t g = 1; g <= 5000; g += 13)
		cr_assert_eq(pu_gen_restores(r, ids[g], g), 0, "gen %u lost", g);
	cr_assert_eq(pu_gen_restores(r, ids[5000], 5000), 0);
	hl_arena_close(r);
}

/* The image page holding a leaf of one state, one bit flipped: the page
 * fails its CRC, the leaf its hash, and it and everything naming it are
 * dropped; every other state restores byte-identical, none wrongly. */
Test(checkpoint, flipped_bit_in_an_image_page_never_returns_wrong_bytes)
{
	pu_dir_make();
	const char *name;
	hl_arena *a = arena_persisted(&name, 32 * MiB);
	struct hl_persister *p = start(a, 8 * MiB, false, NULL);
	static hl_id ids[101];
	commit_gens(a, 1, 100, ids);
	checkpoint(p);
	cr_assert_eq(hl_persister_stop(p), 0);
	/* gen 50's last chunk: a leaf only it has */
	static unsigned char buf[STATE_BYTES];
	pu_gen_fill(buf, 50);
	uint64_t leaf;
	cr_assert_eq(hl_index_lookup(a, hl_hash_leaf(buf + 2 * CHUNK, CHUNK), &leaf), 0);
	hl_arena_close(a);
	hl_arena_unlink(name);
	const char *img = pu_path("ckpt.1"); /* checkpoint 1's image */
	size_t len;
	unsigned char *b = pu_read_file(img, &len);
	unsigned char x = b[leaf + 100] ^ 0x10;
	free(b);
	pu_write_at(img, &x, 1, leaf + 100);

	struct hl_recovery_info info;
	hl_arena *r = recover(tu_arena_name("ckpt"), &info);
	cr_assert_eq(info.bad_pages, 1u, "the flipped page is found");
	cr_assert_geq(info.nodes_dropped, 2u, "the leaf and what names it");
	cr_assert_eq(pu_gen_restores(r, ids[50], 50), HL_ENOENT,
		     "gen 50 is gone, not wrong");
	unsigned kept = 0;
	for (uint32_t g = 1; g <= 100; g++) {
		int rc = pu_gen_restores(r, ids[g], g); /* wrong bytes fail inside */
		cr_assert(rc == 0 || rc == HL_ENOENT, "gen %u: %s", g, hl_strerror(rc));
		kept += rc == 0;
	}
	cr_assert_geq(kept, 98u, "only what lay in the page is dropped (%u kept)",
		      kept);
	hl_arena_close(r);
}

/* The newest meta page damaged: recovery takes the older checkpoint and
 * its WAL (kept: wal_seg.c invariant 2), and loses nothing. */
Test(checkpoint, damaged_newest_meta_page_falls_back_to_the_older)
{
	pu_dir_make();
	const char *name;
	hl_arena *a = arena_persisted(&name, 32 * MiB);
	struct hl_persister *p = start(a, 8 * MiB, false, NULL);
	static hl_id ids[301];
	commit_gens(a, 1, 100, ids);
	cr_assert_eq(checkpoint(p), 1u);
	commit_gens(a, 100, 100, ids);
	cr_assert_eq(checkpoint(p), 2u);
	commit_gens(a, 200, 100, ids);
	cr_assert_eq(hl_persister_stop(p), 0);
	hl_arena_close(a);
	hl_arena_unlink(name);
	/* checkpoint 2 is meta page 0 */
	const char *meta = pu_path(HL_CKPT_META_NAME);
	size_t len;
	unsigned char *b = pu_read_file(meta, &len);
	unsigned char x = b[30] ^ 0x01; /* inside its lsn */
	free(b);
	pu_write_at(meta, &x, 1, 30);

	struct hl_recovery_info info;
	hl_arena *r = recover(tu_arena_name("ckpt"), &info);
	cr_assert(info.fell_back, "the damage is said");
	cr_assert_eq(info.ckpt, 1u, "the older checkpoint");
	for (uint32_t g = 1; g < 300; g++)
		cr_assert_eq(pu_gen_restores(r, ids[g], g), 0, "gen %u lost", g);
	hl_arena_close(r);
}

/* A DIR of another arena geometry and a newer meta format: clear errors. */
Test(checkpoint, other_geometry_and_newer_version_are_clear_errors)
{
	pu_dir_make();
	const char *name;
	hl_arena *a = arena_persisted(&name, 32 * MiB);
	struct hl_persister *p = start(a, 8 * MiB, true, NULL);
	static hl_id ids[11];
	commit_gens(a, 1, 10, ids);
	cr_assert_eq(hl_persister_stop(p), 0);
	hl_arena_close(a);

	hl_arena *big = arena_persisted(&name, 64 * MiB);
	struct hl_persister_config pc;
	hl_persister_config_init(&pc);
	cr_assert_eq(hl_persister_start(big, pu_dir, &pc, hl_replay_record, big,
					NULL, &p), HL_EMISMATCH);
	struct hl_ckpt_load_info li;
	uint64_t want = 0;
	cr_assert_eq(hl_ckpt_load(big, pu_dir, NULL, &li, &want), HL_EMISMATCH);
	cr_assert_eq(want, 32 * MiB, "the size DIR needs is said");
	hl_arena_close(big);

	/* meta page 1 (checkpoint 1) says version 2, with a valid crc */
	const char *meta = pu_path(HL_CKPT_META_NAME);
	size_t len;
	unsigned char *b = pu_read_file(meta, &len);
	struct hl_ckpt_meta m;
	memcpy(&m, b + 4096, sizeof m);
	free(b);
	m.version = HL_CKPT_VERSION + 1;
	m.crc = hl_crc32c(0, &m, offsetof(struct hl_ckpt_meta, crc));
	pu_write_at(meta, &m, sizeof m, 4096);
	hl_config c;
	cr_assert_eq(hl_ckpt_config(pu_dir, &c), HL_EVERSION);
	hl_arena *again = arena_persisted(&name, 32 * MiB);
	cr_assert_eq(hl_persister_start(again, pu_dir, &pc, hl_replay_record,
					again, NULL, &p), HL_EVERSION);
	hl_arena_close(again);
}

/* The collector's hook: begun before any page of a checkpoint, done only
 * after its meta page; and dirty bits are what commits wrote. */
Test(checkpoint, counters_and_dirty_bits_follow_the_writes)
{
	pu_dir_make();
	const char *name;
	hl_arena *a = arena_persisted(&name, 32 * MiB);
	uint64_t begun, done;
	hl_ckpt_counters(a, &begun, &done);
	cr_assert_eq(begun, 0u);
	cr_assert_eq(done, 0u);
	struct hl_persister *p = start(a, 8 * MiB, true, NULL);
	/* a commit marks its nodes' pages and its index entries' pages */
	hl_id ids[3];
	commit_gens(a, 1, 2, ids);
	uint64_t leaf;
	static unsigned char buf[STATE_BYTES];
	pu_gen_fill(buf, 2);
	cr_assert_eq(hl_index_lookup(a, hl_hash_leaf(buf + CHUNK, CHUNK), &leaf), 0);
	uint64_t pg = leaf / HL_CKPT_PAGE_BYTES;
	uint64_t w = hl_dirty_take(a, pg / 64, ~0ull);
	cr_assert(w & (1ull << (pg % 64)), "the leaf's page is dirty");
	cr_assert_eq(hl_dirty_take(a, pg / 64, ~0ull), 0u, "taking clears");
	hl_dirty_mark(a, leaf, 1);
	cr_assert_eq(hl_dirty_take(a, pg / 64, ~(1ull << (pg % 64))), 0u,
		     "a take clears only the pages asked for");
	cr_assert_eq(hl_dirty_take(a, pg / 64, ~0ull), 1ull << (pg % 64));
	uint64_t index_words = 0;
	const struct hl_region *ix = hl_region(a, HL_REGION_INDEX);
	for (uint64_t i = ix->off / HL_CKPT_PAGE_BYTES / 64;
	     i <= (ix->off + ix->bytes - 1) / HL_CKPT_PAGE_BYTES / 64; i++)
		index_words |= hl_dirty_take(a, i, ~0ull);
	cr_assert_neq(index_words, 0u, "index entry pages are dirty");

	checkpoint(p);
	hl_ckpt_counters(a, &begun, &done);
	cr_assert_eq(begun, 1u);
	cr_assert_eq(done, 1u);
	checkpoint(p);
	hl_ckpt_counters(a, &begun, &done);
	cr_assert_eq(done, 2u);
	cr_assert_eq(hl_persister_stop(p), 0);
	hl_ckpt_counters(a, &begun, &done);
	cr_assert_eq(done, 3u, "stop checkpoints");

	/* a memory-only arena has no bitmap and marking is a no-op */
	hl_arena *m = tu_arena_new("ckpt", 16 * MiB, CHUNK, NULL);
	hl_dirty_mark(m, HL_PAGE_BYTES, 100);
	cr_assert_eq(hl_dirty_words(m), 0u);
	hl_ckpt_counters(m, &begun, &done);
	cr_assert_eq(done, 0u);
	hl_arena_close(m);
	hl_arena_close(a);
}
