/*
 * c4_baseline.c - Connect Four MCTS in private memory: the baseline the
 * shared search is measured against (issue 10: one Helios worker >= 0.7x
 * this, two workers above it).
 *
 * The graph
 * ---------
 * Nodes live in one array (index 0 the root) and are found by position
 * through an open-addressing hash table of node indices keyed by
 * hl_c4_key, so two move orders reaching one position share its node. A
 * node holds, for its side to move:
 *
 *   u       the mean of its own evaluations (a random rollout when it was
 *           created; the exact result for a finished game)
 *   self_n  how many evaluations u averages
 *   edge_n  visits of each edge (column), and child, the node it leads to
 *   visits  self_n + the sum of edge_n
 *   q       its value: (self_n * u + sum_c edge_n[c] * -q(child c)) / visits
 *
 * which is KataGo's graph-search formulation: visits are counted on edges,
 * not on children (a child reached from two parents has one q and each
 * edge its own count), and q is recomputed from the children whenever the
 * node is on a playout's path, so it is sound under transpositions.
 * Connect Four's graph is acyclic (every move adds a stone), so a descent
 * always ends.
 *
 * A playout: from the root, while the node is expanded and not terminal,
 * take the edge of highest UCT score (unvisited edges first, a random one
 * of them), q(edge) = -q(child), score = q(edge) + c sqrt(ln visits / n),
 * or with PUCT q(edge) + c P sqrt(visits) / (1 + n), P = 1 / legal moves
 * and q(edge) = the node's own q while n = 0 (first-play urgency);
 * link the child, creating and evaluating it if it is new; then walk back
 * up adding 1 to each edge's count and recomputing each q. When the node
 * limit is reached (or memory runs out), the leaf's parent is evaluated
 * again instead (self_n and u absorb it), so the search goes on, only
 * without growing.
 *
 * Invariants (hl_c4_baseline_check verifies them):
 *  1. visits == self_n + sum(edge_n) for every node; for the root,
 *     visits == 1 + playouts (its creation evaluates it once).
 *  2. edge_n[c] > 0 only for a legal column c, and then child[c] is the
 *     node of the position reached by playing c.
 *  3. Terminal nodes have no edges and q == u == their exact result.
 *  4. Every node is in the hash table under its key; keys are unique.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "c4_baseline.h"
#include "hl_limits.h"

struct bnode {
	uint64_t key;
	double q;
	double u;
	uint32_t self_n;
	uint32_t visits;
	uint32_t edge_n[HL_C4_COLS];
	uint32_t child[HL_C4_COLS]; /* node index + 1; 0: not linked */
	uint8_t legal;              /* columns */
	uint8_t terminal;
};
_Static_assert(sizeof(struct bnode) == 96, "a node is 96 bytes");
_Static_assert(offsetof(struct bnode, edge_n) == 32, "counts after values");
/* Sizes never overflow: the node array is at most 768 MiB, the table
 * (at most twice the nodes, a power of two) 64 MiB of uint32. */
_Static_assert(HL_C4_BASELINE_NODES_MAX * sizeof(struct bnode) < (1ull << 31) &&
		       HL_C4_BASELINE_NODES_MAX <= 0xffffffffull / 2,
	       "node and table sizes fit size_t and uint32 indices");

struct hl_c4_baseline {
	struct hl_c4_pos root;
	struct bnode *nodes;
	uint64_t n_nodes, cap_nodes, max_nodes;
	uint32_t *table; /* node index + 1; 0: empty */
	uint64_t table_mask;
	struct hl_c4_rng rng;
	double uct_c;
	enum hl_c4_baseline_rule rule;
	uint64_t playouts;
	double elapsed_s;
	int full;
};

#define TABLE_MIN (1u << 12)

static uint64_t slot_of(uint64_t key, uint64_t mask)
{
	key ^= key >> 31;
	key *= 0x9e3779b97f4a7c15ull;
	return (key >> 29) & mask;
}

/* The table slot holding key, or the empty slot where it would go. */
static uint64_t table_find(const struct hl_c4_baseline *b, uint64_t key)
{
	uint64_t i = slot_of(key, b->table_mask);
	while (b->table[i] && b->nodes[b->table[i] - 1].key != key)
		i = (i + 1) & b->table_mask;
	return i;
}

/* Doubles the table (its load stays at most one half). */
static int table_grow(struct hl_c4_baseline *b)
{
	uint64_t cap = (b->table_mask + 1) * 2;
	uint32_t *t = calloc(cap, sizeof *t);
	if (!t)
		return HL_ENOMEM;
	free(b->table);
	b->table = t;
	b->table_mask = cap - 1;
	for (uint64_t n = 0; n < b->n_nodes; n++)
		b->table[table_find(b, b->nodes[n].key)] = (uint32_t)(n + 1);
	return 0;
}

static int nodes_grow(struct hl_c4_baseline *b)
{
	uint64_t cap = b->cap_nodes * 2;
	if (cap > b->max_nodes)
		cap = b->max_nodes;
	struct bnode *n = realloc(b->nodes, cap * sizeof *n); /* see the asserts */
	if (!n)
		return HL_ENOMEM;
	b->nodes = n;
	b->cap_nodes = cap;
	return 0;
}

/* Evaluates a new node at position p: the exact result of a finished game,
 * else one random rollout, for the side to move. */
static void node_init(struct hl_c4_baseline *b, struct bnode *n,
		      const struct hl_c4_pos *p)
{
	memset(n, 0, sizeof *n);
	n->key = hl_c4_key(p);
	enum hl_c4_status st = hl_c4_status(p);
	n->terminal = st != HL_C4_ONGOING;
	n->legal = (uint8_t)hl_c4_legal(p);
	if (st == HL_C4_WON)
		n->u = -1; /* the side that just moved won */
	else if (st == HL_C4_DRAW)
		n->u = 0;
	else
		n->u = hl_c4_rollout(p, &b->rng, hl_c4_side_to_move(p));
	n->q = n->u;
	n->self_n = 1;
	n->visits = 1;
}

/* The node of position p: found, or created and evaluated (*created = 1).
 * HL_EFULL at the node limit, HL_ENOMEM when memory runs out. */
static int node_get(struct hl_c4_baseline *b, const struct hl_c4_pos *p,
		    uint32_t *idx, int *created)
{
	uint64_t key = hl_c4_key(p), slot = table_find(b, key);
	*created = 0;
	if (b->table[slot]) {
		*idx = b->table[slot] - 1;
		return 0;
	}
	if (b->n_nodes >= b->max_nodes)
		return HL_EFULL;
	int rc;
	if (b->n_nodes == b->cap_nodes && (rc = nodes_grow(b)))
		return rc;
	if ((b->n_nodes + 1) * 2 > b->table_mask + 1) {
		if ((rc = table_grow(b)))
			return rc;
		slot = table_find(b, key);
	}
	*idx = (uint32_t)b->n_nodes;
	node_init(b, &b->nodes[b->n_nodes++], p);
	b->table[slot] = *idx + 1;
	*created = 1;
	return 0;
}

static void recompute(struct hl_c4_baseline *b, struct bnode *n)
{
	double sum = n->self_n * n->u;
	for (unsigned c = 0; c < HL_C4_COLS; c++)
		if (n->edge_n[c])
			sum -= n->edge_n[c] * b->nodes[n->child[c] - 1].q;
	n->q = sum / n->visits;
}

/* PUCT with uniform priors; ties (all edges unvisited, at first) go to
 * the first best from a random column on, so no column is favoured. */
static unsigned select_puct(struct hl_c4_baseline *b, const struct bnode *n)
{
	double prior = 1.0 / __builtin_popcount(n->legal);
	double u = b->uct_c * prior * sqrt((double)n->visits), best = -INFINITY;
	unsigned pick = 0, start = hl_c4_rng_below(&b->rng, HL_C4_COLS);
	for (unsigned i = 0; i < HL_C4_COLS; i++) {
		unsigned c = (start + i) % HL_C4_COLS;
		if (!(n->legal >> c & 1))
			continue;
		uint32_t e = n->edge_n[c];
		double q = e ? -b->nodes[n->child[c] - 1].q : n->q;
		double s = q + u / (1 + e);
		if (s > best) {
			best = s;
			pick = c;
		}
	}
	return pick;
}

/* UCT (or PUCT) over the legal edges of an expanded, unfinished node. */
static unsigned select_edge(struct hl_c4_baseline *b, const struct bnode *n)
{
	if (b->rule == HL_C4_BASELINE_PUCT)
		return select_puct(b, n);
	unsigned unvisited = 0;
	for (unsigned c = 0; c < HL_C4_COLS; c++)
		if ((n->legal >> c & 1) && !n->edge_n[c])
			unvisited |= 1u << c;
	if (unvisited) {
		unsigned k = hl_c4_rng_below(&b->rng, (uint32_t)__builtin_popcount(unvisited));
		while (k--)
			unvisited &= unvisited - 1;
		return (unsigned)__builtin_ctz(unvisited);
	}
	double log_n = log((double)n->visits), best = -INFINITY;
	unsigned pick = 0;
	for (unsigned c = 0; c < HL_C4_COLS; c++) {
		if (!(n->legal >> c & 1))
			continue;
		double e = n->edge_n[c];
		double s = -b->nodes[n->child[c] - 1].q + b->uct_c * sqrt(log_n / e);
		if (s > best) {
			best = s;
			pick = c;
		}
	}
	return pick;
}

static void playout(struct hl_c4_baseline *b)
{
	uint32_t path[HL_C4_CELLS + 1];
	uint8_t cols[HL_C4_CELLS + 1];
	unsigned depth = 0;
	struct hl_c4_pos p = b->root;
	uint32_t at = 0;
	for (;;) {
		struct bnode *n = &b->nodes[at];
		if (n->terminal) {
			n->self_n++;
			n->visits++;
			break;
		}
		unsigned c = select_edge(b, n);
		struct hl_c4_pos q = p;
		hl_c4_play(&q, c);
		uint32_t next = n->child[c] ? n->child[c] - 1 : 0;
		int created = 0;
		if (!n->child[c] && node_get(b, &q, &next, &created)) {
			/* no room: evaluate this node once more instead */
			n = &b->nodes[at]; /* a grown array may have moved */
			b->full = 1;
			double v = hl_c4_rollout(&p, &b->rng, hl_c4_side_to_move(&p));
			n->u += (v - n->u) / (n->self_n + 1);
			n->self_n++;
			n->visits++;
			recompute(b, n);
			break;
		}
		n = &b->nodes[at]; /* likewise */
		n->child[c] = next + 1;
		path[depth] = at;
		cols[depth++] = (uint8_t)c;
		at = next;
		p = q;
		if (created)
			break;
	}
	while (depth--) {
		struct bnode *n = &b->nodes[path[depth]];
		n->edge_n[cols[depth]]++;
		n->visits++;
		recompute(b, n);
	}
	b->playouts++;
}

/* ---- the API -------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool pos_valid(const struct hl_c4_pos *p)
{
	uint8_t e[HL_C4_ENC_BYTES];
	struct hl_c4_pos q;
	hl_c4_encode(p, e);
	return hl_c4_decode(e, sizeof e, &q) == 0 && q.cur == p->cur &&
	       q.mask == p->mask && q.plies == p->plies &&
	       hl_c4_status(p) == HL_C4_ONGOING;
}

int hl_c4_baseline_new(const struct hl_c4_pos *root,
		       const struct hl_c4_baseline_opts *opts,
		       struct hl_c4_baseline **out)
{
	if (!root || !out || !pos_valid(root))
		return HL_EINVAL;
	struct hl_c4_baseline_opts o = opts ? *opts : (struct hl_c4_baseline_opts){0};
	if (o.rule != HL_C4_BASELINE_UCT && o.rule != HL_C4_BASELINE_PUCT)
		return HL_EINVAL;
	struct hl_c4_baseline *b = calloc(1, sizeof *b);
	if (!b)
		return HL_ENOMEM;
	b->root = *root;
	b->rule = o.rule;
	b->uct_c = o.uct_c > 0 ? o.uct_c
		 : o.rule == HL_C4_BASELINE_PUCT ? HL_C4_BASELINE_PUCT_C
						 : HL_C4_BASELINE_UCT_C;
	b->max_nodes = o.max_nodes && o.max_nodes < HL_C4_BASELINE_NODES_MAX
			       ? o.max_nodes : HL_C4_BASELINE_NODES_MAX;
	b->cap_nodes = b->max_nodes < TABLE_MIN / 2 ? b->max_nodes : TABLE_MIN / 2;
	hl_c4_rng_seed(&b->rng, o.seed);
	b->nodes = malloc(b->cap_nodes * sizeof *b->nodes);
	if (!b->nodes)
		goto out_free_b;
	b->table = calloc(TABLE_MIN, sizeof *b->table);
	if (!b->table)
		goto out_free_nodes;
	b->table_mask = TABLE_MIN - 1;
	uint32_t idx;
	int created;
	if (node_get(b, root, &idx, &created))
		goto out_free_table;
	*out = b;
	return 0;
out_free_table:
	free(b->table);
out_free_nodes:
	free(b->nodes);
out_free_b:
	free(b);
	return HL_ENOMEM;
}

void hl_c4_baseline_free(struct hl_c4_baseline *b)
{
	if (!b)
		return;
	free(b->table);
	free(b->nodes);
	free(b);
}

int hl_c4_baseline_run(struct hl_c4_baseline *b, uint64_t playouts,
		       double seconds)
{
	if (!b || (!playouts && !(seconds > 0)) || isnan(seconds))
		return HL_EINVAL;
	double t0 = now_s(), deadline = seconds > 0 ? t0 + seconds : INFINITY;
	for (uint64_t i = 0; !playouts || i < playouts; i++) {
		if (b->nodes[0].visits >= HL_C4_BASELINE_PLAYOUTS_MAX)
			break;
		if ((i & 63) == 0 && now_s() >= deadline)
			break;
		playout(b);
	}
	b->elapsed_s += now_s() - t0;
	return 0;
}

void hl_c4_baseline_result(const struct hl_c4_baseline *b,
			   struct hl_c4_baseline_result *out)
{
	memset(out, 0, sizeof *out);
	const struct bnode *root = &b->nodes[0];
	out->playouts = b->playouts;
	out->elapsed_s = b->elapsed_s;
	out->playouts_per_s = b->elapsed_s > 0 ? b->playouts / b->elapsed_s : 0;
	uint32_t most = 0;
	for (unsigned c = 0; c < HL_C4_COLS; c++) {
		out->visits[c] = root->edge_n[c];
		if (root->edge_n[c] > most) {
			most = root->edge_n[c];
			out->best_move = (int)c + 1;
		}
	}
	out->value = root->q;
	size_t len = 0;
	for (const struct bnode *n = root; len < HL_C4_CELLS;) {
		unsigned best = HL_C4_COLS;
		for (unsigned c = 0; c < HL_C4_COLS; c++)
			if (n->edge_n[c] && (best == HL_C4_COLS || n->edge_n[c] > n->edge_n[best]))
				best = c;
		if (best == HL_C4_COLS)
			break;
		out->pv[len++] = (char)('1' + best);
		n = &b->nodes[n->child[best] - 1];
	}
	out->pv[len] = '\0';
	out->nodes = b->n_nodes;
	out->bytes = b->cap_nodes * sizeof(struct bnode) +
		     (b->table_mask + 1) * sizeof(uint32_t);
	out->bytes_per_node = (double)out->bytes / (double)b->n_nodes;
	out->full = b->full;
}

int hl_c4_baseline_search(const struct hl_c4_pos *root, uint64_t playouts,
			  double seconds, uint64_t seed,
			  struct hl_c4_baseline_result *out)
{
	if (!out)
		return HL_EINVAL;
	struct hl_c4_baseline_opts o = {.seed = seed};
	struct hl_c4_baseline *b;
	int rc = hl_c4_baseline_new(root, &o, &b);
	if (rc)
		return rc;
	rc = hl_c4_baseline_run(b, playouts, seconds);
	if (!rc)
		hl_c4_baseline_result(b, out);
	hl_c4_baseline_free(b);
	return rc;
}

/* ---- checking ------------------------------------------------------------- */

/* The position a key names (hl_c4_key: column by column 2^h + stones). */
static struct hl_c4_pos pos_of_key(uint64_t key)
{
	struct hl_c4_pos p = {0, 0, 0};
	for (unsigned c = 0; c < HL_C4_COLS; c++) {
		uint64_t bits = (key >> (HL_C4_COL_BITS * c)) & 0x7f;
		unsigned h = 63u - (unsigned)__builtin_clzll(bits | 1);
		uint64_t col = (1ull << h) - 1;
		p.mask |= col << (HL_C4_COL_BITS * c);
		p.cur |= (bits & col) << (HL_C4_COL_BITS * c);
	}
	p.plies = (uint32_t)__builtin_popcountll(p.mask);
	return p;
}

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			if (msg && msg_bytes)                                  \
				snprintf(msg, msg_bytes, __VA_ARGS__);         \
			return HL_ECORRUPT;                                    \
		}                                                              \
	} while (0)

static int check_node(const struct hl_c4_baseline *b, uint64_t i, char *msg,
		      size_t msg_bytes)
{
	const struct bnode *n = &b->nodes[i];
	struct hl_c4_pos p = pos_of_key(n->key);
	uint64_t sum = n->self_n;
	CHECK(hl_c4_key(&p) == n->key, "node %llu: key is no position",
	      (unsigned long long)i);
	CHECK(b->table[table_find(b, n->key)] == i + 1,
	      "node %llu not in the table under its key", (unsigned long long)i);
	CHECK(n->q >= -1 && n->q <= 1 && n->u >= -1 && n->u <= 1,
	      "node %llu: value %f, own %f out of [-1, 1]", (unsigned long long)i,
	      n->q, n->u);
	for (unsigned c = 0; c < HL_C4_COLS; c++) {
		sum += n->edge_n[c];
		if (!n->edge_n[c])
			continue;
		CHECK(n->legal >> c & 1, "node %llu: visits on illegal column %u",
		      (unsigned long long)i, c + 1);
		struct hl_c4_pos q = p;
		hl_c4_play(&q, c);
		CHECK(n->child[c] && n->child[c] <= b->n_nodes &&
			      b->nodes[n->child[c] - 1].key == hl_c4_key(&q),
		      "node %llu: column %u not linked to its position",
		      (unsigned long long)i, c + 1);
	}
	CHECK(n->visits == sum, "node %llu: %u visits, %llu own + edge visits",
	      (unsigned long long)i, n->visits, (unsigned long long)sum);
	if (n->terminal)
		CHECK(sum == n->self_n && n->q == n->u &&
			      n->u == (hl_c4_last_won(&p) ? -1 : 0),
		      "terminal node %llu: edges or a wrong result",
		      (unsigned long long)i);
	return 0;
}

int hl_c4_baseline_check(const struct hl_c4_baseline *b, char *msg,
			 size_t msg_bytes)
{
	if (!b)
		return HL_EINVAL;
	CHECK(b->n_nodes >= 1 && b->nodes[0].key == hl_c4_key(&b->root),
	      "no root node");
	CHECK(b->nodes[0].visits == 1 + b->playouts,
	      "root: %u visits after %llu playouts", b->nodes[0].visits,
	      (unsigned long long)b->playouts);
	uint64_t in_table = 0;
	for (uint64_t s = 0; s <= b->table_mask; s++)
		in_table += b->table[s] != 0;
	CHECK(in_table == b->n_nodes, "%llu table entries for %llu nodes",
	      (unsigned long long)in_table, (unsigned long long)b->n_nodes);
	for (uint64_t i = 0; i < b->n_nodes; i++) {
		int rc = check_node(b, i, msg, msg_bytes);
		if (rc)
			return rc;
	}
	return 0;
}
