/*
 * mcts_root.c - a search's root, and moving it: tree reuse between moves.
 *
 * A search's root is the ref "mcts/<name>" (mcts.c). hl_mcts_set_root
 * moves it to another position - normally a child of the current root,
 * the move actually played - so the statistics already grown below that
 * position are the new search's start, as KataGo and lc0 reuse their trees
 * between moves. Records are keyed by (position, search salt), not by
 * where they hang, so the child's record is the new root's record as it
 * stands: its visits, value, proofs and whole subgraph, nothing copied.
 *
 * Following the root. Every handle keeps the root it last saw (s->root)
 * and the ref's word then (s->root_off: the offset of that snapshot's root
 * node). hl_mcts_select starts with hl_mcts_root_rec, which loads the
 * ref's word once (acquire) and compares it with s->root_off; the word is
 * written only by moves, so the load hits a cache line shared by every
 * core, and the check costs a load and a compare. When the word moved, the
 * new root's id is read from its root node (validated: the word is outside
 * bytes to this handle) and the root's record is looked up through the
 * index. The record is looked up again on every select rather than kept:
 * with a collector at work, a record the handle remembered from before a
 * move the handle did not see (X -> Y -> X between two of its selects) may
 * have been freed and its memory reused; the look-up inside the walk's
 * critical section cannot name freed memory.
 *
 * Invariants:
 *  1. A move is one CAS on the ref's word, from the root this handle saw
 *     last to the new one (hl_ref_cas, acq_rel): of two processes moving
 *     one search from the same root at once, one wins; the other gets
 *     HL_EBUSY, or 0 if the winner moved it where it wanted, and follows
 *     the winner's root. A move is never lost and never applied twice on
 *     top of another.
 *  2. The acquire load that follows the word pairs with that CAS: a
 *     selector that sees the new root sees its snapshot (published before
 *     it could be named) and every record published before the move.
 *  3. A handle's select walks from the root the ref named when the select
 *     began: a path is selected under one root, never two. Paths in flight
 *     from an old root back up as usual, through the records they hold
 *     (which exist until a collector frees them; the collector counts the
 *     in-flight tables as roots), and hl_mcts_expand checks a ROOT leaf
 *     against the root the path was selected from, not the one followed
 *     since.
 *  4. The word is checked against the id as well as the offset: the
 *     offset of a root freed by a collector may come back as another
 *     snapshot's root node, and then the id at it differs. Following runs
 *     inside an epoch section (select's, pv's, or its own at open and
 *     set_root), so the node it reads is not freed while it reads it.
 */
#include "mcts.h"

int hl_mcts_follow_root(hl_mcts *s)
{
	/* acquire: pairs with hl_ref_cas's acq_rel (invariant 2) */
	uint64_t off = atomic_load_explicit(s->root_word, memory_order_acquire);
	if (hl_likely(off == s->root_off && off != 0) &&
	    hl_id_eq(hl_node_at(s->a, off)->hash, s->root))
		return 0; /* unmoved (invariant 4: the id too) */
	if (off == 0)
		return HL_ENOENT; /* the ref was set to the zero id */
	const struct hl_node *n = hl_node_get(s->a, off, HL_NODE_ROOT,
					      HL_NODE_LEVEL_ANY);
	if (!n)
		return HL_ECORRUPT;
	s->root = n->hash;
	s->root_off = off;
	return 0;
}

int hl_mcts_root_rec(hl_mcts *s, uint64_t *rec)
{
	int rc = hl_mcts_follow_root(s);
	*rec = rc ? 0 : hl_mcts_find(s, s->root);
	return rc;
}

int hl_mcts_set_root(hl_mcts *s, hl_id new_root)
{
	if (!s || hl_id_is_zero(new_root))
		return HL_EINVAL;
	int rc = hl_arena_writable(s->a);
	if (rc)
		return rc;
	hl_id expected = s->root; /* invariant 1: from the root seen last */
	rc = hl_ref_cas(s->a, s->ref, &expected, new_root);
	if (rc && rc != HL_EBUSY)
		return rc; /* HL_ENOENT: new_root is no snapshot here */
	hl_epoch_enter(s->a); /* the root node read where a collector frees */
	int frc = hl_mcts_follow_root(s);
	hl_epoch_exit(s->a);
	if (rc == HL_EBUSY)
		return hl_id_eq(expected, new_root) ? frc : HL_EBUSY;
	return frc;
}
