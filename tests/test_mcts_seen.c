/*
 * test_mcts_seen.c - the edges' seen words (workers/mcts.c, invariant 7):
 * what a backup leaves in them, that selection scores by them and not by
 * the children's records, and that the checker refuses a damaged one.
 * Records are reached through the index under layout.h's key, to read and
 * damage their words.
 */
#include "testutil.h"

#include <math.h>

#include "mcts_util.h"
#include "shm.h"

TestSuite(mcts_seen, .fini = tu_unlink_all, .timeout = 120);

/* Record of position pos in search `search`, through the index (layout.h's
 * key), for the tests that read or damage a record's words. */
static uint64_t record_off(hl_arena *a, const char *search, hl_id pos)
{
	uint64_t salt = hl_hash64(search, strlen(search), HL_SEED_SEARCH);
	uint64_t off;
	cr_assert_eq(hl_index_lookup(a, hl_hash_search(pos, salt), &off), 0);
	return off;
}

/* Its seen words: after its edges (layout.h). */
static _Atomic uint16_t *record_seen(hl_arena *a, uint64_t rec)
{
	return hl_srec_seen(hl_node_at(a, rec));
}

static struct hl_search_payload *record_payload(hl_arena *a, uint64_t rec)
{
	return (struct hl_search_payload *)(void *)hl_node_at(a, rec)->payload;
}

/* Every edge that a backup went through holds what its child was worth
 * (from the child's mover's view) after that backup: in a game without
 * transpositions, searched by one process, that is the child's value and
 * proof now. */
static unsigned check_seen_below(hl_mcts *m, hl_arena *a, const char *search,
				 hl_id pos)
{
	hl_mcts_child c[16];
	unsigned k, checked = 0;
	cr_assert_eq(hl_mcts_children(m, pos, c, 16, &k), 0);
	_Atomic uint16_t *seen = record_seen(a, record_off(a, search, pos));
	for (unsigned i = 0; i < k; i++) {
		uint16_t w = atomic_load(&seen[i]);
		if (c[i].visits == 0 || hl_id_is_zero(c[i].child)) {
			cr_assert_eq(w, 0, "edge %u: seen %#x, but no backup went through it",
				     i, (unsigned)w);
			continue;
		}
		cr_assert_neq(w & 0x3fffu, 0, "edge %u: visited, nothing seen", i);
		uint32_t result = w >> 14, want = c[i].result == HL_MCTS_WIN ? HL_MCTS_LOSS
						 : c[i].result == HL_MCTS_LOSS ? HL_MCTS_WIN
						 : c[i].result;
		double q = ((w & 0x3fffu) - 1.0) / 8191.0 - 1.0;
		cr_assert_eq(result, want, "edge %u: seen result %u, the child's %u", i,
			     result, want);
		cr_assert(fabs(q - -c[i].value) <= 0.5 / 8191 + 1e-6,
			  "edge %u: seen q %f, the child's %f", i, q, -c[i].value);
		checked += 1 + check_seen_below(m, a, search, c[i].child);
	}
	return checked;
}

Test(mcts_seen, every_edge_a_backup_went_through_holds_what_its_child_is_worth)
{
	g_wide_depth = 6; /* a tree: the state is the path's hash */
	struct setup t;
	open_search(&t, 0, "seen-tree", 64u << 20, NULL);
	search(t.m, t.st, &wide, 0, 4000, 3);
	unsigned checked = check_seen_below(t.m, t.a, "seen-tree", t.root_id);
	cr_assert_gt(checked, 1000, "only %u edges checked", checked);
	close_search(&t);
}

Test(mcts_seen, selection_scores_an_edge_by_what_it_saw_not_by_reading_the_child)
{
	g_wide_depth = 6; /* nothing proven in a few dozen playouts */
	struct setup t;
	open_search(&t, 0, "seen-select", 32u << 20, NULL);
	search(t.m, t.st, &wide, 0, 60, 5); /* every root edge visited */
	hl_mcts_child c[16];
	unsigned k;
	cr_assert_eq(hl_mcts_children(t.m, t.root_id, c, 16, &k), 0);
	cr_assert_eq(k, 10);
	hl_mcts_path p;
	cr_assert_eq(hl_mcts_select(t.m, &p), 0);
	uint32_t took = p.action[0];
	hl_mcts_abandon(t.m, &p);
	/* Make the children's records say the opposite: the move taken now
	 * loses at once, every other one wins. A selection that read them
	 * would take another move; one that scores the edges' seen words
	 * takes the same (abandoning left every statistic as it was). */
	for (unsigned i = 0; i < k; i++) {
		cr_assert_gt(c[i].visits, 0);
		uint64_t rec = record_off(t.a, "seen-select", c[i].child);
		float q = c[i].action == took ? 1.0f : -1.0f; /* for the child's mover */
		uint32_t bits;
		memcpy(&bits, &q, sizeof bits);
		atomic_store(&record_payload(t.a, rec)->q, bits);
	}
	cr_assert_eq(hl_mcts_select(t.m, &p), 0);
	cr_assert_eq(p.action[0], took, "took %u, then %u once the children's "
		     "records changed", took, p.action[0]);
	hl_mcts_abandon(t.m, &p);
	close_search(&t);
}

Test(mcts_seen, the_checker_refuses_a_seen_word_that_holds_no_value)
{
	g_wide_depth = 5;
	struct setup t;
	open_search(&t, 0, "seen-check", 32u << 20, NULL);
	search(t.m, t.st, &wide, 0, 200, 9);
	tu_assert_arena_ok(t.a, "before");
	_Atomic uint16_t *seen = record_seen(t.a, record_off(t.a, "seen-check", t.root_id));
	uint16_t was = atomic_load(&seen[3]);
	atomic_store(&seen[3], (uint16_t)(HL_MCTS_WIN << 14)); /* a proof, q code 0 */
	char msg[256] = "";
	cr_assert_eq(hl_arena_check(t.a, msg, sizeof msg), HL_ECORRUPT);
	cr_assert(strstr(msg, "edge 3's seen word"), "%s", msg);
	atomic_store(&seen[3], was);
	tu_assert_arena_ok(t.a, "mended");
	close_search(&t);
}
