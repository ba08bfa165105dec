/*
 * test_gc_search.c - the collector and the search graph (shm/gc.c,
 * workers/mcts.c, shm/heap_release.c): records below a search's root are
 * kept and moving the root (tree reuse) makes the rest garbage; a search
 * whose record finds the heap full collects first, finds room in slabs
 * other classes gave back, and refuses without a collection storm when
 * nothing can be freed.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "gc_util.h"

#define SUITE "gc_search"

TestSuite(gc_search, .init = gc_init, .fini = gc_fini, .timeout = 240);

/* ---- searches ---------------------------------------------------------------------- */

/* A chain game: position p has moves to 2p+1 and 2p+2; positions are the
 * 8-byte state p. */
static int commit_position(hl_state *st, uint64_t p, hl_id *id)
{
	cr_assert_eq(hl_state_resize(st, sizeof p), 0);
	cr_assert_eq(hl_state_write(st, 0, &p, sizeof p), 0);
	return hl_commit(st, id, NULL);
}

static hl_id position(hl_state *st, uint64_t p)
{
	hl_id id;
	cr_assert_eq(commit_position(st, p, &id), 0);
	return id;
}

/* The position a path leads to: its actions from 0. */
static uint64_t path_position(const hl_mcts_path *p)
{
	uint64_t pos = 0;
	for (unsigned d = 0; d < p->depth; d++)
		pos = 2 * pos + p->action[d];
	return pos;
}

static const hl_mcts_move two_moves[2] = {{1, 0.5f, {0, 0}}, {2, 0.5f, {0, 0}}};

/* Commits the path's leaf and expands it: the commit's answer, else the
 * expansion's (0, or 1: no room for the record). */
static int expand_leaf(hl_mcts *m, hl_state *st, hl_mcts_path *p)
{
	hl_id id;
	int rc = commit_position(st, path_position(p), &id);
	return rc ? rc : hl_mcts_expand(m, p, id, two_moves, 2, HL_MCTS_ONGOING);
}

/* Plays n playouts; position of a path: follow its actions from 0. */
static void playouts(hl_mcts *m, hl_state *st, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		hl_mcts_path p;
		cr_assert_eq(hl_mcts_select(m, &p), 0);
		if (p.leaf == HL_MCTS_LEAF_NEW || p.leaf == HL_MCTS_LEAF_ROOT) {
			int rc = expand_leaf(m, st, &p);
			cr_assert(rc == 0 || rc == 1, "expand: %s", hl_strerror(rc));
		}
		cr_assert_eq(hl_mcts_backup(m, &p, 0.25), 0);
	}
}

Test(gc_search, a_search_keeps_its_records_and_moving_its_root_frees_the_rest)
{
	hl_arena *a = tu_arena_new(SUITE, 64 * MiB, CHUNK, NULL);
	hl_state *st;
	cr_assert_eq(hl_state_new(a, &st), 0);
	hl_id root = position(st, 0);
	hl_mcts *m;
	cr_assert_eq(hl_mcts_open(a, "chain", root, NULL, &m), 0);
	playouts(m, st, 2000);
	hl_mcts_node before;
	cr_assert_eq(hl_mcts_node_info(m, root, &before), 0);
	hl_gc_info info;
	gc_ok(a, &info);
	hl_mcts_node after;
	cr_assert_eq(hl_mcts_node_info(m, root, &after), 0, "the root's record went");
	cr_assert_eq(after.visits, before.visits);
	hl_mcts_stats ms;
	cr_assert_eq(hl_mcts_stats_get(a, &ms), 0);
	cr_assert_geq(info.live_nodes, ms.records, "records reclaimed under a search");
	hl_id child = position(st, 1);
	hl_mcts_node cn;
	cr_assert_eq(hl_mcts_node_info(m, child, &cn), 0);
	playouts(m, st, 500); /* still searchable after a collection */
	hl_mcts_close(m);
	/* tree reuse: the root moves to a child, the other half is garbage */
	cr_assert_eq(hl_ref_set(a, "mcts/chain", child), 0);
	cr_assert_eq(hl_mcts_open(a, "chain", (hl_id){0, 0}, NULL, &m), 0);
	gc_ok(a, &info);
	cr_assert_gt(info.freed_nodes, ms.records / 4,
		     "moving the root freed %llu of %llu records",
		     (unsigned long long)info.freed_nodes,
		     (unsigned long long)ms.records);
	cr_assert_eq(hl_mcts_node_info(m, child, &after), 0);
	cr_assert_geq(after.visits, cn.visits, "the new root's statistics were lost");
	cr_assert_eq(hl_mcts_node_info(m, root, &after), HL_ENOENT);
	playouts(m, st, 500);
	tu_assert_arena_ok(a, "after moving the root");
	hl_mcts_close(m);
	hl_state_free(st);
	hl_arena_close(a);
}

/* ---- a search in a full heap ---------------------------------------------- */

/* A second handle on arena `name` that never collects (HELIOS_GC=off): it
 * fills the heap the way a process would before anyone reclaims. */
static hl_arena *attach_no_gc(const char *name)
{
	hl_arena *f;
	setenv("HELIOS_GC", "off", 1);
	int rc = hl_arena_attach(name, 0, &f);
	unsetenv("HELIOS_GC");
	cr_assert_eq(rc, 0, "attach: %s", hl_strerror(rc));
	return f;
}

/* The heap class of a search record with two edges (what expand() makes). */
static unsigned two_edge_record_class(const hl_arena *a)
{
	int cls = hl_heap_class_of(a->hdr, sizeof(struct hl_node) +
						   hl_srec_payload_bytes(2));
	cr_assert_geq(cls, 0);
	return (unsigned)cls;
}

/* Allocates (and leaks) f's every object of class cls still to be had, so
 * that only a collection can give the class room again. */
static void exhaust_class(hl_arena *f, unsigned cls)
{
	uint64_t off;
	while (hl_heap_alloc(f, cls, &off) == 0)
		;
	cr_assert(!hl_heap_has_room(f, cls));
}

/* One select and expand of the search's root (no record yet): the
 * expansion's answer. */
static int expand_root(hl_mcts *m, hl_id root)
{
	hl_mcts_path p;
	cr_assert_eq(hl_mcts_select(m, &p), 0);
	cr_assert_eq(p.leaf, HL_MCTS_LEAF_ROOT);
	int rc = hl_mcts_expand(m, &p, root, two_moves, 2, HL_MCTS_ONGOING);
	cr_assert_eq(hl_mcts_backup(m, &p, 0.25), 0);
	return rc;
}

/* Through f (no collection): a search "old" grown until the heap refuses
 * it, then left unreachable (its root ref cleared): a heap full of
 * garbage records and positions. */
static void fill_with_garbage_records(hl_arena *f)
{
	hl_state *st;
	hl_mcts *m;
	cr_assert_eq(hl_state_new(f, &st), 0);
	cr_assert_eq(hl_mcts_open(f, "old", position(st, 0), NULL, &m), 0);
	for (int full = 0; !full;) {
		hl_mcts_path p;
		cr_assert_eq(hl_mcts_select(m, &p), 0);
		if (p.leaf == HL_MCTS_LEAF_NEW || p.leaf == HL_MCTS_LEAF_ROOT) {
			int rc = expand_leaf(m, st, &p);
			cr_assert(rc == 0 || rc == 1 || rc == HL_EFULL, "%s", hl_strerror(rc));
			full = rc != 0;
		}
		cr_assert_eq(hl_mcts_backup(m, &p, 0.25), 0);
	}
	hl_mcts_close(m);
	hl_state_free(st);
	cr_assert_eq(hl_ref_set(f, "mcts/old", (hl_id){0, 0}), 0);
}

static void fill_with_garbage_positions(hl_arena *f);

/* Fills arena `name` through a handle that never collects (fill), then
 * leaves the two-edge record class no free object, in that handle and in
 * a (its own slab's tail too): only a collection can give records room. */
static void starve_records(hl_arena *a, const char *name, void (*fill)(hl_arena *))
{
	hl_arena *f = attach_no_gc(name);
	fill(f);
	exhaust_class(f, two_edge_record_class(f));
	hl_arena_close(f);
	exhaust_class(a, two_edge_record_class(a));
}

/* An expansion whose position already has its record (a transposition:
 * here the root's second edge is expanded with the first edge's position)
 * links that record when the heap has no room for a new one: the record
 * needs none. Before, it asked for a new record first, and a full class
 * made it run a collection, then refuse or find it. */
Test(gc_search, a_transposition_in_a_full_heap_links_its_record_without_a_collection)
{
	hl_arena *a = tu_arena_new(SUITE, 8 * MiB, CHUNK, NULL);
	hl_state *st;
	cr_assert_eq(hl_state_new(a, &st), 0);
	hl_id root = position(st, 1u << 30);
	hl_mcts *m;
	cr_assert_eq(hl_mcts_open(a, "t", root, NULL, &m), 0);
	cr_assert_eq(expand_root(m, root), 0);
	hl_mcts_path p;
	cr_assert_eq(hl_mcts_select(m, &p), 0);
	cr_assert_eq(p.leaf, HL_MCTS_LEAF_NEW);
	uint32_t first = p.action[0];
	hl_id pos = position(st, 5);
	cr_assert_eq(hl_mcts_expand(m, &p, pos, two_moves, 2, HL_MCTS_ONGOING), 0);
	cr_assert_eq(hl_mcts_backup(m, &p, 0.25), 0);
	cr_assert_eq(hl_mcts_select(m, &p), 0);
	cr_assert_eq(p.leaf, HL_MCTS_LEAF_NEW);
	cr_assert_neq(p.action[0], first, "the other edge");
	exhaust_class(a, two_edge_record_class(a));
	hl_gc_stats g0, g1;
	cr_assert_eq(hl_gc_stats_get(a, &g0), 0);
	int rc = hl_mcts_expand(m, &p, pos, two_moves, 2, HL_MCTS_ONGOING);
	cr_assert_eq(hl_gc_stats_get(a, &g1), 0);
	cr_assert_eq(rc, 0, "the transposition was refused (%d)", rc);
	cr_assert_eq(g1.cycles, g0.cycles, "a collection ran for a record that was there");
	cr_assert_eq(hl_mcts_backup(m, &p, 0.25), 0);
	hl_mcts_child c[2];
	unsigned k;
	cr_assert_eq(hl_mcts_children(m, root, c, 2, &k), 0);
	cr_assert_eq(k, 2);
	cr_assert(hl_id_eq(c[0].child, pos) && hl_id_eq(c[1].child, pos),
		  "both edges lead to the one record");
	hl_mcts_close(m);
	hl_state_free(st);
	hl_arena_close(a);
}

/* A search whose record finds the heap full of garbage collects, as a
 * commit does, and expands: before, it refused the record (and went on
 * with statistics only) while a collection would have made room. */
Test(gc_search, an_expansion_that_finds_the_heap_full_of_garbage_collects)
{
	const char *name;
	hl_arena *a = tu_arena_new(SUITE, 8 * MiB, CHUNK, &name);
	hl_state *st;
	cr_assert_eq(hl_state_new(a, &st), 0);
	hl_id root = position(st, 1u << 30); /* held by st's base */
	hl_mcts *m;
	cr_assert_eq(hl_mcts_open(a, "new", root, NULL, &m), 0);
	starve_records(a, name, fill_with_garbage_records);
	hl_gc_stats g0, g1;
	cr_assert_eq(hl_gc_stats_get(a, &g0), 0);
	int rc = expand_root(m, root);
	cr_assert_eq(rc, 0, "the expansion was refused (%d) with the heap full of "
		     "garbage", rc);
	cr_assert_eq(hl_gc_stats_get(a, &g1), 0);
	cr_assert_geq(g1.cycles, g0.cycles + 1, "no collection ran");
	hl_mcts_node n;
	cr_assert_eq(hl_mcts_node_info(m, root, &n), 0);
	cr_assert_eq(n.edges, 2);
	playouts(m, st, 200); /* and the search grows on */
	tu_assert_arena_ok(a, "after the expansion's collection");
	hl_mcts_close(m);
	hl_state_free(st);
	hl_arena_close(a);
}

/* Through f (no collection): garbage 4 KiB positions to the brim. */
static void fill_with_garbage_positions(hl_arena *f)
{
	hl_state *fs;
	cr_assert_eq(hl_state_new(f, &fs), 0);
	for (uint32_t gen = 1;; gen++) {
		int rc = commit_chunk_gen(fs, gen);
		if (rc == HL_EFULL)
			break;
		cr_assert_eq(rc, 0, "%s", hl_strerror(rc));
	}
	hl_state_free(fs);
}

/* A heap whose free objects are all of other classes (the garbage
 * positions' roots, in one-unit slabs) and whose row of unused slabs is
 * used up: the record's class starves, and the collection its expansion
 * runs gives it slabs the positions' roots no longer use. Before, slabs
 * stayed with their class for good: such a heap refused every record
 * (a self-play run in 24 MiB refused 4.8M expansions). */
Test(gc_search, a_record_finds_room_in_slabs_other_classes_gave_back)
{
	const char *name;
	hl_arena *a = tu_arena_new(SUITE, 8 * MiB, CHUNK, &name);
	hl_state *st;
	cr_assert_eq(hl_state_new(a, &st), 0);
	hl_id root = position(st, 1u << 30);
	hl_mcts *m;
	cr_assert_eq(hl_mcts_open(a, "new", root, NULL, &m), 0);
	starve_records(a, name, fill_with_garbage_positions);
	hl_gc_stats g0, g1;
	cr_assert_eq(hl_gc_stats_get(a, &g0), 0);
	int rc = expand_root(m, root);
	cr_assert_eq(rc, 0, "the record was refused (%d): no slab was given back", rc);
	cr_assert_eq(hl_gc_stats_get(a, &g1), 0);
	cr_assert_gt(g1.released_slabs, g0.released_slabs, "no slab given back");
	hl_mcts_node n;
	cr_assert_eq(hl_mcts_node_info(m, root, &n), 0);
	cr_assert_eq(n.edges, 2);
	playouts(m, st, 500); /* records and positions share the slabs now */
	tu_assert_arena_ok(a, "after slabs changed class");
	/* what the released slabs held reads back nowhere: every position
	 * the search made restores (the model suites check the rest) */
	hl_mcts_close(m);
	hl_state_free(st);
	hl_arena_close(a);
}

/* The other side of slabs moving: a commit's leaf that starves in a heap
 * full of garbage positions gets its room from the collection's own frees,
 * and no slab moves (the release would walk every other class's free list
 * and hand their free slabs round for nothing: under w1's churn the leaves
 * starve at every full heap). */
Test(gc_search, a_leaf_the_collection_frees_room_for_moves_no_slab)
{
	const char *name;
	hl_arena *a = tu_arena_new(SUITE, 8 * MiB, CHUNK, &name);
	hl_arena *f = attach_no_gc(name);
	fill_with_garbage_positions(f);
	exhaust_class(f, f->class_leaf);
	hl_arena_close(f);
	hl_state *st;
	cr_assert_eq(hl_state_new(a, &st), 0);
	hl_gc_stats g0, g1;
	cr_assert_eq(hl_gc_stats_get(a, &g0), 0);
	cr_assert_eq(commit_chunk_gen(st, 1u << 20), 0);
	cr_assert_eq(hl_gc_stats_get(a, &g1), 0);
	cr_assert_geq(g1.cycles, g0.cycles + 1, "no collection ran");
	cr_assert_eq(g1.released_slabs, g0.released_slabs,
		     "%llu slabs moved for a class the collection gave room",
		     (unsigned long long)(g1.released_slabs - g0.released_slabs));
	tu_assert_arena_ok(a, "after the commit's collection");
	hl_state_free(st);
	hl_arena_close(a);
}

/* A heap full of what is live (one big state's chunks) with no room for
 * records: each refusal is counted once and the refusals cost a
 * collection or two, not a few each (with the retry and the old rule, a
 * search collected four times on every playout). */
Test(gc_search, expansions_in_a_heap_full_of_live_state_do_not_collect_each_time)
{
	const char *name;
	hl_arena *a = tu_arena_new(SUITE, 8 * MiB, CHUNK, &name);
	hl_state *st, *big;
	cr_assert_eq(hl_state_new(a, &st), 0);
	hl_id root = position(st, 1u << 30);
	hl_mcts *m;
	cr_assert_eq(hl_mcts_open(a, "new", root, NULL, &m), 0);
	cr_assert_eq(hl_state_new(a, &big), 0);
	/* grown until a commit finds no room even after collecting: all of
	 * it live (its base), nothing to free */
	static unsigned char buf[CHUNK];
	hl_id id;
	for (uint32_t k = 0;; k++) {
		tu_pattern_fill(buf, 0, sizeof buf, k + 1);
		cr_assert_eq(hl_state_resize(big, (uint64_t)(k + 1) * CHUNK), 0);
		cr_assert_eq(hl_state_write(big, (uint64_t)k * CHUNK, buf, sizeof buf), 0);
		if (k % 16 == 15 && hl_commit(big, &id, NULL) == HL_EFULL)
			break;
	}
	exhaust_class(a, two_edge_record_class(a));
	hl_gc_stats g0, g1;
	hl_mcts_stats s0, s1;
	cr_assert_eq(hl_gc_stats_get(a, &g0), 0);
	cr_assert_eq(hl_mcts_stats_get(a, &s0), 0);
	enum { TRIES = 50 };
	for (int i = 0; i < TRIES; i++)
		cr_assert_eq(expand_root(m, root), 1, "try %d", i);
	cr_assert_eq(hl_gc_stats_get(a, &g1), 0);
	cr_assert_eq(hl_mcts_stats_get(a, &s1), 0);
	cr_assert_eq(s1.no_room - s0.no_room, TRIES, "each refusal counted once");
	cr_assert_leq(g1.cycles - g0.cycles, 3, "%llu collections for %d refusals",
		      (unsigned long long)(g1.cycles - g0.cycles), TRIES);
	tu_assert_arena_ok(a, "after the refusals");
	hl_mcts_close(m);
	hl_state_free(big);
	hl_state_free(st);
	hl_arena_close(a);
}
