/*
 * mcts_log.c - the search graph's persistence: the record of a search
 * record's creation (shm/persist_rec.h HL_PREC_SEARCH) that mcts.c's
 * publish_record pushes, and its replay.
 *
 * Logged: what a record is made with and never changes - its position,
 * its search's salt, its moves (action, prior, child position) and a
 * terminal result. Not logged: the statistics (visits, values, virtual
 * loss, proofs) that every playout changes; a replayed record starts from
 * zero, as a fresh expansion would, and its edges link to children as
 * selection finds them (a child record replayed later is found by its
 * position and linked by the next expansion that reaches it).
 *
 * Invariants:
 *  1. The record is pushed before the index CAS that publishes the search
 *     record (the hook in publish_record), after its position's snapshot
 *     and its children's were published (and so logged): replay finds
 *     every id it names, or the log is damaged (HL_ECORRUPT).
 *  2. Replay checks every field against the format's limits before it
 *     uses one: count, the record's length, actions, priors, the result
 *     and that moves exist exactly when the game goes on.
 */
#include <string.h>

#include "mcts.h"
#include "persist_rec.h"
#include "ring_mpsc.h"

static uint16_t prior_of(float p)
{
	if (!(p > 0))
		return 0;
	if (p >= 1)
		return HL_EDGE_PRIOR_ONE;
	return (uint16_t)(p * (float)HL_EDGE_PRIOR_ONE + 0.5f);
}

int hl_mcts_log_record(hl_arena *a, hl_id pos, uint64_t salt,
		       const hl_mcts_move *moves, unsigned n, uint32_t result)
{
	struct hl_ring_resv r;
	uint32_t bytes = (uint32_t)(sizeof(struct hl_prec_search) +
				    n * sizeof(struct hl_prec_edge));
	int rc = hl_persist_reserve(a, HL_PREC_SEARCH, bytes, &r); /* n <= 1024 */
	if (rc)
		return rc;
	struct hl_prec_search *p = r.payload;
	p->pos = pos;
	p->salt = salt;
	p->count = (uint16_t)n;
	p->reserved = 0;
	p->result = result;
	struct hl_prec_edge *e = (struct hl_prec_edge *)(p + 1);
	for (unsigned i = 0; i < n; i++)
		e[i] = (struct hl_prec_edge){.child = moves[i].child,
					     .action = moves[i].action,
					     .prior = prior_of(moves[i].prior)};
	hl_persist_publish(a, &r);
	return 0;
}

int hl_mcts_replay_record(hl_arena *a, const void *rec, uint32_t len)
{
	const struct hl_prec_search *p = rec;
	if (len < sizeof *p || p->count > HL_MCTS_EDGES_MAX ||
	    len != sizeof *p + p->count * sizeof(struct hl_prec_edge) ||
	    p->result > HL_MCTS_DRAW ||
	    (p->result != HL_MCTS_ONGOING) != (p->count == 0))
		return HL_ECORRUPT; /* invariant 2 */
	hl_mcts_move moves[HL_MCTS_EDGES_MAX];
	const struct hl_prec_edge *e = (const struct hl_prec_edge *)(p + 1);
	for (unsigned i = 0; i < p->count; i++) {
		if (e[i].action > HL_LINK_ACTION_MAX)
			return HL_ECORRUPT;
		moves[i] = (hl_mcts_move){
			.action = e[i].action,
			.prior = (float)e[i].prior / (float)HL_EDGE_PRIOR_ONE,
			.child = e[i].child};
	}
	int rc = hl_mcts_publish_replayed(a, p->salt, p->pos, moves, p->count,
					  p->result);
	return rc == HL_ENOENT || rc == HL_EINVAL ? HL_ECORRUPT : rc;
}
