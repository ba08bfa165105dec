/*
 * mcts_walk.c - one playout's walk through the shared search graph: select
 * a path from the root, holding virtual losses; back a value up it,
 * recomputing values and proofs; or abandon it. The records' words and who
 * writes them are mcts.c's design notes; the losses' bookkeeping is
 * shm/inflight.c.
 *
 * Selection, at each record, scores every edge from the parent mover's
 * view (children's values negated when the search alternates):
 *
 *   q      the child's Q; a proven child's exact value; for an edge whose
 *          child has no value yet, the parent's Q - fpu_reduction
 *   q'     (visits * q - losses) / (visits + losses): each virtual loss
 *          counts as a lost playout, so concurrent selectors in any
 *          process spread over other leaves while it is in flight
 *   PUCT   q' + c * prior * sqrt(sum of visits + losses) / (1 + visits + losses)
 *   UCT    q' + c * sqrt(ln(sum + 1) / (visits + losses)); untried first
 *
 * A move proven to win is taken at once (the backup then proves the
 * parent); moves proven to lose are passed over while another exists; a
 * record that is proven or terminal ends the path as a KNOWN leaf.
 *
 * Backup goes from the leaf up. The leaf's own evaluation goes in first
 * (only if it has none: a record evaluated already, reached again, keeps
 * its own), then for each edge on the path, bottom first: one atomic step
 * takes the loss off and adds the visit (inflight.c), then the record above
 * recomputes its Q and its proof from its children (invariants 2 and 4 of
 * mcts.c). Bottom first, so each recomputation sees the child's new value.
 * A process killed half-way leaves the upper edges unvisited with their
 * losses held: the coordinator's reclaim releases the losses (inflight.c),
 * and the next backup through each record recomputes its value.
 */
#include "mcts.h"

static double result_value(uint32_t r)
{
	return r == HL_MCTS_WIN ? 1.0 : r == HL_MCTS_LOSS ? -1.0 : 0.0;
}

/* ---- scoring ------------------------------------------------------------------ */

struct parent_view {
	double q;          /* the parent's Q */
	double sqrt_total; /* PUCT: sqrt(sum of visits + losses) */
	double log_total;  /* UCT: ln(sum + 1) */
};

/* What an edge's child is worth to the parent: its value (or NAN when it
 * has none yet) and its proof, both from the parent mover's view. */
static double child_value(const hl_mcts *s, uint64_t child, uint32_t *result)
{
	*result = HL_MCTS_ONGOING;
	if (!child)
		return NAN;
	const struct hl_search_payload *cp = rec_payload(s->a, child);
	/* acquire: pairs with the release that stored a proof (its q with it) */
	uint32_t f = atomic_load_explicit(&cp->flags, memory_order_acquire);
	if (hl_unlikely(f & HL_SREC_PROVEN)) {
		*result = hl_mcts_flip_result(s, hl_mcts_rec_result(s->a, child));
		return result_value(*result);
	}
	if (own_count(atomic_load_explicit(&cp->own, memory_order_relaxed)) == 0)
		return NAN;
	return hl_mcts_flip(s, q_load(cp));
}

/* What the child an edge leads to is worth to the edge's record, from that
 * record's mover's view: the child's value as the edge's seen word holds
 * it (mcts.c, invariant 7), so neither selection nor backup reads the
 * record of a child it does not descend into; the child record itself
 * while no backup through the edge has left one. */
static inline double edge_value(const hl_mcts *s, const _Atomic uint16_t *seen,
			 uint64_t link, uint32_t *result)
{
	/* relaxed: one word, a value and its proof of one moment; a proof in
	 * it was true when it was copied, and a proof is never withdrawn */
	uint16_t w = atomic_load_explicit(seen, memory_order_relaxed);
	if (hl_unlikely(!seen_valid(w)))
		return child_value(s, hl_mcts_child_stats(s, link), result);
	uint32_t r = seen_result(w);
	if (hl_likely(r == HL_MCTS_ONGOING)) {
		*result = HL_MCTS_ONGOING;
		return hl_mcts_flip(s, seen_q(w));
	}
	*result = hl_mcts_flip_result(s, r);
	return result_value(*result);
}

/* Copies child's proof and value, from its mover's view, into the seen
 * word of the edge that leads to it: a backup's step through the edge,
 * once the child's own recomputation is done. Nothing while the child has
 * no value yet (child_value's NAN). */
static void see_child(const hl_mcts *s, _Atomic uint16_t *seen, uint64_t child)
{
	if (!child)
		return;
	const struct hl_search_payload *cp = rec_payload(s->a, child);
	uint32_t r = hl_mcts_rec_result(s->a, child);
	uint16_t w;
	if (r != HL_MCTS_ONGOING)
		w = seen_word((float)result_value(r), r);
	else if (own_count(atomic_load_explicit(&cp->own, memory_order_relaxed)))
		w = seen_word(q_load(cp), HL_MCTS_ONGOING);
	else
		return;
	/* relaxed: a hint of the child's value, like q itself (invariant 2);
	 * stored only when it changed, then marked for checkpoints */
	if (atomic_load_explicit(seen, memory_order_relaxed) != w) {
		atomic_store_explicit(seen, w, memory_order_relaxed);
		hl_dirty_mark(s->a, hl_off(s->a, seen), sizeof *seen);
	}
}

static double edge_score(const hl_mcts *s, const struct parent_view *pv,
			 uint64_t stat, double q)
{
	double visits = (double)(int64_t)stat_visits(stat), losses = stat_vloss(stat);
	double n = visits + losses;
	if (isnan(q)) {
		if (s->cfg.policy == HL_MCTS_UCT && n == 0)
			return INFINITY;
		q = pv->q - s->cfg.fpu_reduction;
	}
	if (s->cfg.policy == HL_MCTS_UCT) { /* n > 0: choose_edge took it */
		double inv = 1 / n; /* one division where two were */
		return (visits * q - losses) * inv +
		       s->cfg.c_explore * sqrt(pv->log_total * inv);
	}
	double qe = n > 0 ? (visits * q - losses) / n : q;
	return qe + s->cfg.c_explore * stat_prior(stat) * pv->sqrt_total / (1 + n);
}

/* The parent's view, and each edge's stat word loaded once (st[]). */
static void parent_view(const hl_mcts *s, uint64_t rec, unsigned count,
			uint64_t *st, struct parent_view *pv)
{
	const struct hl_search_edge *e = rec_edges(s->a, rec);
	const struct hl_search_payload *p = rec_payload(s->a, rec);
	uint64_t total = 0;
	for (unsigned i = 0; i < count; i++) {
		st[i] = atomic_load_explicit(&e[i].stat, memory_order_relaxed);
		total += stat_visits(st[i]) + stat_vloss(st[i]);
	}
	pv->q = own_count(atomic_load_explicit(&p->own, memory_order_relaxed))
			? q_load(p) : 0.0;
	/* only what the policy scores with: one sqrt or one log a record.
	 * Counts are below 2^41, so the signed conversions are exact (an
	 * unsigned one is a branchy sequence on x86-64) */
	pv->sqrt_total = pv->log_total = 0;
	if (s->cfg.policy == HL_MCTS_UCT)
		pv->log_total = log((double)(int64_t)total + 1);
	else
		pv->sqrt_total = sqrt(total > 1 ? (double)(int64_t)total : 1);
}

/* The edge to take from rec, or -1 when none can be (every edge saturated
 * with losses). *link gets its link word. */
static int choose_edge(const hl_mcts *s, uint64_t rec, uint64_t *link)
{
	const struct hl_search_edge *e = rec_edges(s->a, rec);
	const _Atomic uint16_t *seen = rec_seen(s->a, rec);
	unsigned count = rec_count(s->a, rec);
	uint64_t st[HL_MCTS_EDGES_MAX];
	struct parent_view pv;
	parent_view(s, rec, count, st, &pv);
	int best = -1, fallback = -1;
	double best_score = -INFINITY, fallback_score = -INFINITY;
	for (unsigned i = 0; i < count; i++) {
		if (stat_vloss(st[i]) >= HL_EDGE_VLOSS_MAX)
			continue;
		uint64_t lk = atomic_load_explicit(&e[i].link, memory_order_acquire);
		/* an edge never taken (no visit, no loss) is scored without its
		 * child: UCT tries it first, PUCT values it at the first-play
		 * urgency; only edges that were taken need the child's value */
		bool untried = st[i] == (st[i] & ~(HL_EDGE_VISITS_MASK |
						   (0xffull << HL_EDGE_VLOSS_SHIFT)));
		if (untried && s->cfg.policy == HL_MCTS_UCT) {
			*link = lk;
			return (int)i;
		}
		uint32_t result;
		double q = untried ? NAN : edge_value(s, &seen[i], lk, &result);
		if (untried)
			result = HL_MCTS_ONGOING;
		if (result == HL_MCTS_WIN) {
			*link = lk;
			return (int)i; /* a winning move: nothing to weigh */
		}
		double score = edge_score(s, &pv, st[i], q);
		if (result == HL_MCTS_LOSS) {
			if (fallback < 0 || score > fallback_score)
				fallback = (int)i, fallback_score = score;
			continue;
		}
		if (best < 0 || score > best_score)
			best = (int)i, best_score = score;
	}
	if (best < 0)
		best = fallback; /* every move loses: play on along the best */
	if (best >= 0)
		*link = atomic_load_explicit(&e[best].link, memory_order_acquire);
	return best;
}

/* ---- select -------------------------------------------------------------------- */

/* The lines a descent into a record reads first: its header and fixed
 * words, and the edges choose_edge scores (the first ones; Connect Four's
 * seven fit). */
#define SELECT_PREFETCH_BYTES (4u * HL_CACHE_LINE)

static int take_row(hl_mcts *s, unsigned *row)
{
	int rc = hl_inflight_row_take(s->a, row);
	if (!rc)
		s->rows_used |= 1u << *row;
	return rc;
}

static void known_leaf(const hl_mcts *s, hl_mcts_path *p, uint64_t rec)
{
	p->leaf = HL_MCTS_LEAF_KNOWN;
	p->leaf_rec_ = rec;
	p->leaf_id = hl_mcts_rec_pos(s->a, rec);
	p->result = hl_mcts_rec_result(s->a, rec);
	p->value = p->result != HL_MCTS_ONGOING ? result_value(p->result)
						 : q_load(rec_payload(s->a, rec));
}

static int mcts_select_in(hl_mcts *s, hl_mcts_path *p)
{
	if (!s || !p)
		return HL_EINVAL;
	int rc = hl_arena_writable(s->a);
	uint64_t rec;
	unsigned row;
	/* the root first: a root moved by any process is followed here */
	if (rc || (rc = hl_mcts_root_rec(s, &rec)) != 0 ||
	    (rc = take_row(s, &row)) != 0)
		return rc;
	p->row_ = row;
	p->depth = 0;
	p->leaf_rec_ = 0;
	p->result = HL_MCTS_ONGOING;
	p->value = 0;
	p->leaf_id = p->parent = (hl_id){0, 0};
	if (!rec) {
		p->leaf = HL_MCTS_LEAF_ROOT;
		p->leaf_id = p->parent = s->root;
		return 0;
	}
	for (;;) {
		uint64_t link;
		int e;
		if (hl_mcts_rec_result(s->a, rec) != HL_MCTS_ONGOING ||
		    p->depth == HL_MCTS_PATH_MAX ||
		    (e = choose_edge(s, rec, &link)) < 0) {
			known_leaf(s, p, rec);
			return 0;
		}
		/* the next record's miss overlaps the loss's bookkeeping */
		hl_nref_prefetch(s->a, (struct hl_nref){true, {0, 0}, link_child(link)},
				 SELECT_PREFETCH_BYTES);
		struct hl_search_edge *edge = &rec_edges(s->a, rec)[e];
		unsigned d = p->depth;
		p->held_[d] = hl_inflight_add(s->a, row, d, rec, (unsigned)e,
					      &edge->stat) == 0;
		p->rec_[d] = rec;
		p->edge_[d] = (uint16_t)e;
		p->action[d] = link_action(link);
		p->depth = d + 1;
		uint64_t child = hl_mcts_child_rec(s, link);
		if (!child) {
			p->leaf = HL_MCTS_LEAF_NEW;
			if (!s->cfg.skip_parent_id) /* its root's header: cold */
				p->parent = hl_mcts_rec_pos(s->a, rec);
			return 0;
		}
		rec = child;
	}
}

int hl_mcts_select_batch(hl_mcts *s, hl_mcts_path *paths, unsigned k,
			 unsigned *got)
{
	if (!s || !got || (k && !paths))
		return HL_EINVAL;
	*got = 0;
	for (unsigned i = 0; i < k; i++) {
		int rc = hl_mcts_select(s, &paths[i]);
		if (rc)
			return rc;
		(*got)++;
	}
	return 0;
}

/* ---- backup ------------------------------------------------------------------- */

/* Recomputes rec's proof and Q from its own evaluation and its children
 * (mcts.c, invariants 2 and 4). */
static void recompute(const hl_mcts *s, uint64_t rec)
{
	struct hl_search_payload *p = rec_payload(s->a, rec);
	const struct hl_search_edge *e = rec_edges(s->a, rec);
	const _Atomic uint16_t *seen = rec_seen(s->a, rec);
	uint32_t flags = atomic_load_explicit(&p->flags, memory_order_acquire);
	if (flags & (HL_SREC_TERMINAL | HL_SREC_PROVEN))
		return; /* exact already; a proof is never withdrawn */
	uint64_t own = atomic_load_explicit(&p->own, memory_order_relaxed);
	double sum = own_count(own) * (double)own_value(own);
	double weight = own_count(own);
	unsigned count = rec_count(s->a, rec);
	bool win = false, all_proven = count > 0, draw = false;
	for (unsigned i = 0; i < count; i++) {
		uint64_t st = atomic_load_explicit(&e[i].stat, memory_order_relaxed);
		uint64_t lk = atomic_load_explicit(&e[i].link, memory_order_acquire);
		uint32_t result;
		double q = edge_value(s, &seen[i], lk, &result);
		win |= result == HL_MCTS_WIN;
		draw |= result == HL_MCTS_DRAW;
		all_proven &= result != HL_MCTS_ONGOING;
		if (isnan(q))
			continue;
		double visits = (double)(int64_t)stat_visits(st); /* < 2^40: exact */
		sum += visits * q;
		weight += visits;
	}
	uint32_t proven = win ? HL_SREC_WIN
			  : all_proven ? (draw ? HL_SREC_DRAW : HL_SREC_LOSS) : 0;
	if (proven) {
		q_store(p, proven == HL_SREC_WIN ? 1.0f : proven == HL_SREC_LOSS ? -1.0f : 0.0f);
		/* release: a reader that sees the proof sees its value */
		atomic_fetch_or_explicit(&p->flags, proven, memory_order_release);
		return;
	}
	/* A store only when the value moved by more than HL_MCTS_Q_EPSILON:
	 * near the root, where every playout passes, a value averaged over
	 * thousands of visits barely moves, and each store would take its
	 * cache line from every other core reading it to select. */
	float q = weight > 0 ? (float)(sum / weight) : 0.0f;
	if (fabsf(q - q_load(p)) > HL_MCTS_Q_EPSILON)
		q_store(p, q);
}

/* The leaf's first evaluation: (value, 1) into an own word still empty. */
static void own_first(struct hl_search_payload *p, float value)
{
	uint64_t empty = 0;
	atomic_compare_exchange_strong_explicit(&p->own, &empty,
						own_word(value, 1),
						memory_order_relaxed,
						memory_order_relaxed);
}

/* Statistics only: no record for the leaf, so its value is one more own
 * evaluation of its parent, averaged in. */
static void own_fold(struct hl_search_payload *p, float value)
{
	uint64_t w = atomic_load_explicit(&p->own, memory_order_relaxed), next;
	do {
		uint32_t n = own_count(w);
		if (n == UINT32_MAX)
			return;
		float avg = (own_value(w) * (float)n + value) / (float)(n + 1);
		next = own_word(avg, n + 1);
	} while (!atomic_compare_exchange_weak_explicit(&p->own, &w, next,
							memory_order_relaxed,
							memory_order_relaxed));
}

static bool path_in_flight(const hl_mcts *s, const hl_mcts_path *p)
{
	return p->row_ < HL_MCTS_INFLIGHT_ROWS && (s->rows_used & (1u << p->row_)) &&
	       p->depth <= HL_MCTS_PATH_MAX;
}

/* Takes the path's losses off, bottom first, with a visit each when
 * `visit`; recomputes each record above. v is the backed-up value from the
 * view of the player to move at the leaf: a record on the path that has no
 * own evaluation yet (its expander died before backing up, or has not yet)
 * takes v, seen from its player, as its own, so that every record's N is
 * one evaluation plus its edges' visits. Frees the row. */
static void unwind(hl_mcts *s, hl_mcts_path *p, bool visit, float v)
{
	/* the record the path's last edge leads to: the leaf's (expanded,
	 * or known), 0 when it has none */
	uint64_t below = p->leaf_rec_;
	for (unsigned i = p->depth; i-- > 0;) {
		struct hl_search_edge *e = &rec_edges(s->a, p->rec_[i])[p->edge_[i]];
		v = (float)hl_mcts_flip(s, v); /* now from rec_[i]'s mover's view */
		if (p->held_[i])
			hl_inflight_remove(s->a, p->row_, i, &e->stat, visit);
		else if (visit)
			atomic_fetch_add(&e->stat, 1);
		/* after the stat's RMW, for checkpoints (shm/dirty.c) */
		hl_dirty_mark_rmw(s->a, hl_off(s->a, e), sizeof *e);
		if (visit) /* the child was recomputed one step below */
			see_child(s, &rec_seen(s->a, p->rec_[i])[p->edge_[i]], below);
		below = p->rec_[i];
		if (!visit)
			continue;
		own_first(rec_payload(s->a, p->rec_[i]), v);
		recompute(s, p->rec_[i]);
		hl_dirty_mark_rmw(s->a, p->rec_[i], HL_SREC_HEAD_BYTES);
	}
	s->rows_used &= ~(1u << p->row_);
	hl_inflight_row_give(s->a, p->row_);
	p->row_ = HL_MCTS_INFLIGHT_ROWS; /* no longer in flight */
}

static int mcts_backup_in(hl_mcts *s, hl_mcts_path *p, double value)
{
	if (!s || !p || !path_in_flight(s, p))
		return HL_EINVAL;
	float v = isnan(value) ? 0.0f : value > 1 ? 1.0f : value < -1 ? -1.0f : (float)value;
	if (p->leaf == HL_MCTS_LEAF_NEW || p->leaf == HL_MCTS_LEAF_ROOT) {
		if (p->leaf_rec_) {
			own_first(rec_payload(s->a, p->leaf_rec_), v);
			recompute(s, p->leaf_rec_);
			hl_dirty_mark_rmw(s->a, p->leaf_rec_, HL_SREC_HEAD_BYTES);
		} else if (p->depth > 0) {
			own_fold(rec_payload(s->a, p->rec_[p->depth - 1]),
				 (float)hl_mcts_flip(s, v));
		}
	}
	if (p->leaf == HL_MCTS_LEAF_KNOWN)
		v = (float)p->value;
	unwind(s, p, true, v);
	hl_sctr_add(s->a, HL_SCTR_PLAYOUTS, 1);
	return 0;
}

static void mcts_abandon_in(hl_mcts *s, hl_mcts_path *p)
{
	if (s && p && path_in_flight(s, p))
		unwind(s, p, false, 0);
}

int hl_mcts_select(hl_mcts *s, hl_mcts_path *p)
{
	if (!s)
		return HL_EINVAL;
	hl_epoch_enter(s->a);
	int rc = mcts_select_in(s, p);
	hl_epoch_exit(s->a);
	return rc;
}

int hl_mcts_backup(hl_mcts *s, hl_mcts_path *p, double value)
{
	if (!s)
		return HL_EINVAL;
	hl_epoch_enter(s->a);
	int rc = mcts_backup_in(s, p, value);
	hl_epoch_exit(s->a);
	return rc;
}

void hl_mcts_abandon(hl_mcts *s, hl_mcts_path *p)
{
	if (!s)
		return;
	hl_epoch_enter(s->a);
	mcts_abandon_in(s, p);
	hl_epoch_exit(s->a);
}
