/*
 * diff.c - the byte ranges that differ between two snapshots.
 *
 * Both trees are walked together over the bytes they both have, node (L, i)
 * against node (L, i): the same node (equal offsets: the arena holds one
 * node per content) over an equal range means equal bytes, and the whole
 * subtree is skipped without reading it. Leaves that differ
 * are compared byte by byte (a word at a time) to report exact runs. Bytes
 * only one snapshot has (different sizes) are one final run.
 *
 * Runs are reported in increasing order and coalesced: two runs that touch
 * become one, so the caller sees maximal runs whatever the chunk size.
 * Cost: O(changed chunks x (height + chunk_bytes/8)).
 */
#include <string.h>

#include "workers.h"

/* A full inner node; a whole leaf (all its lines requested at once beat
 * the hardware prefetcher's ramp-up on a cold 4 KiB compare). */
#define HL_INNER_NODE_BYTES \
	((uint32_t)sizeof(struct hl_node) + hl_inner_payload_bytes(HL_FANOUT))

struct diff {
	const hl_arena *a;
	struct hl_tree x, y;
	uint64_t common_bytes; /* min of the two sizes */
	uint64_t common_chunks;
	int (*fn)(uint64_t off, uint64_t len, void *ctx);
	void *ctx;
	uint64_t run_off, run_len; /* pending run, not yet reported */
};

static int emit(struct diff *df, uint64_t off, uint64_t len)
{
	if (df->run_len && df->run_off + df->run_len == off) {
		df->run_len += len;
		return 0;
	}
	if (df->run_len) {
		int rc = df->fn(df->run_off, df->run_len, df->ctx);
		if (rc)
			return rc;
	}
	df->run_off = off;
	df->run_len = len;
	return 0;
}

/* First index in [i, n) where p and q differ, or n. */
static size_t first_diff(const unsigned char *p, const unsigned char *q,
			 size_t i, size_t n)
{
	while (i + 8 <= n) {
		uint64_t u, v;
		memcpy(&u, p + i, 8);
		memcpy(&v, q + i, 8);
		if (u != v)
			return i + (size_t)__builtin_ctzll(u ^ v) / 8;
		i += 8;
	}
	while (i < n && p[i] == q[i])
		i++;
	return i;
}

/* First index in [i, n) where p and q agree, or n. A word at a time: a
 * byte of u ^ v is zero where the bytes agree, and the classic zero-byte
 * test marks the lowest such byte exactly (higher marks may be false). */
static size_t first_same(const unsigned char *p, const unsigned char *q,
			 size_t i, size_t n)
{
	const uint64_t ones = 0x0101010101010101ull, highs = ones << 7;
	while (i + 8 <= n) {
		uint64_t u, v;
		memcpy(&u, p + i, 8);
		memcpy(&v, q + i, 8);
		uint64_t x = u ^ v, zero = (x - ones) & ~x & highs;
		if (zero)
			return i + (size_t)__builtin_ctzll(zero) / 8;
		i += 8;
	}
	while (i < n && p[i] != q[i])
		i++;
	return i;
}

static int diff_leaf(struct diff *df, uint64_t k, struct hl_nref rx,
		     struct hl_nref ry)
{
	const unsigned char *p = hl_leaf_bytes(df->a, rx);
	const unsigned char *q = hl_leaf_bytes(df->a, ry);
	if (!p || !q)
		return HL_ECORRUPT;
	uint64_t base = k << df->a->chunk_shift;
	uint64_t left = df->common_bytes - base;
	size_t n = left < df->a->chunk_bytes ? (size_t)left : df->a->chunk_bytes;
	for (size_t i = first_diff(p, q, 0, n); i < n;) {
		size_t j = first_same(p, q, i, n);
		int rc = emit(df, base + i, j - i);
		if (rc)
			return rc;
		i = first_diff(p, q, j, n);
	}
	return 0;
}

static int walk(struct diff *df, unsigned level, uint64_t i, struct hl_nref rx,
		struct hl_nref ry)
{
	uint64_t lo = hl_node_lo(level, i), full = hl_node_hi_full(level, i);
	if (rx.present && ry.present && rx.off == ry.off) {
		uint64_t hx = full < df->x.chunks ? full : df->x.chunks;
		uint64_t hy = full < df->y.chunks ? full : df->y.chunks;
		if (hx == hy)
			return 0; /* same range, same hash: same bytes */
	}
	if (level == 0) {
		if (!rx.present || !ry.present)
			return HL_ECORRUPT; /* both trees cover every common chunk */
		return diff_leaf(df, lo, rx, ry);
	}
	uint64_t span = 1ull << (HL_FANOUT_SHIFT * (level - 1));
	uint64_t hi = full < df->common_chunks ? full : df->common_chunks;
	unsigned count = (unsigned)((hi - lo + span - 1) / span);
	bool bad = false;
	for (unsigned j = 0; j < count; j++) {
		struct hl_nref cx = hl_tree_child(df->a, &df->x, rx, level, i, j, &bad);
		struct hl_nref cy = hl_tree_child(df->a, &df->y, ry, level, i, j, &bad);
		if (bad)
			return HL_ECORRUPT;
		if (cx.off != cy.off) { /* both will be read: now */
			uint32_t bytes = level > 1 ? HL_INNER_NODE_BYTES
						   : (uint32_t)sizeof(struct hl_node) +
							     df->a->chunk_bytes;
			hl_nref_prefetch(df->a, cx, bytes);
			hl_nref_prefetch(df->a, cy, bytes);
		}
		int rc = walk(df, level - 1, i * HL_FANOUT + j, cx, cy);
		if (rc)
			return rc;
	}
	return 0;
}

static int diff_in(hl_arena *a, hl_id x, hl_id y,
		   int (*fn)(uint64_t off, uint64_t len, void *ctx), void *ctx)
{
	struct diff df = {.a = a, .fn = fn, .ctx = ctx};
	hl_index_prefetch(a, x); /* both look-ups' bucket misses at once */
	hl_index_prefetch(a, y);
	int rc = hl_tree_load(a, x, &df.x, NULL);
	if (!rc)
		rc = hl_tree_load(a, y, &df.y, NULL);
	if (!rc && (!hl_tree_root_ok(x, &df.x) || !hl_tree_root_ok(y, &df.y)))
		rc = HL_ECORRUPT;
	if (rc || hl_id_eq(x, y))
		return rc;
	df.common_bytes = df.x.size < df.y.size ? df.x.size : df.y.size;
	df.common_chunks = hl_chunks_of(a, df.common_bytes);
	if (df.common_chunks) {
		unsigned h = df.x.height > df.y.height ? df.x.height : df.y.height;
		struct hl_nref tx = hl_tree_at_level(a, &df.x, h);
		struct hl_nref ty = hl_tree_at_level(a, &df.y, h);
		hl_nref_prefetch(a, tx, HL_INNER_NODE_BYTES);
		hl_nref_prefetch(a, ty, HL_INNER_NODE_BYTES);
		rc = walk(&df, h, 0, tx, ty);
		if (rc)
			return rc;
	}
	uint64_t longer = df.x.size > df.y.size ? df.x.size : df.y.size;
	if (longer > df.common_bytes) {
		rc = emit(&df, df.common_bytes, longer - df.common_bytes);
		if (rc)
			return rc;
	}
	return df.run_len ? fn(df.run_off, df.run_len, ctx) : 0;
}

/* The walk runs inside an epoch section: neither tree can be reclaimed
 * under it (shm/gc.c). */
int hl_diff(hl_arena *a, hl_id x, hl_id y,
	    int (*fn)(uint64_t off, uint64_t len, void *ctx), void *ctx)
{
	if (!a || !fn)
		return HL_EINVAL;
	hl_epoch_enter(a);
	int rc = diff_in(a, x, y, fn, ctx);
	hl_epoch_exit(a);
	return rc;
}
