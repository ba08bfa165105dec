/*
 * test_model.c - a model-based property test of working states, commit,
 * restore, fork and diff.
 *
 * A plain model - a malloc'd byte array and its size, plus a table of every
 * committed content - is driven side by side with the engine through
 * thousands of random operations from a fixed seed. After every operation
 * the engine must agree with the model (size, random reads, zero-copy
 * views); across the run these properties must hold:
 *
 *  P1  read-back: every byte read equals the model's byte.
 *  P2  content addressing, both directions: equal bytes and size give the
 *      equal id, whatever history produced them (the "rebuild" operation
 *      builds the same content from a fresh or an unrelated state); unequal
 *      content never gets an id already given to other content.
 *  P3  restore: restoring id X reads back exactly X's bytes and size.
 *  P4  diff: hl_diff(x, y) reports exactly the maximal runs of differing
 *      bytes the model finds byte by byte (bytes only one side has differ),
 *      in increasing order, symmetric in x and y; a non-zero return from the
 *      callback stops the walk and is returned.
 *  P5  an unchanged state commits to its base id, hashing nothing and
 *      adding no node.
 *  P6  fork: the fork reads like its parent, and the two are isolated.
 *  P7  accounting: every node the commits report as new is in the index,
 *      no other: stats.nodes == sum of info.new_nodes == index_used; the
 *      arena's consistency checker passes.
 *
 * Every assertion message starts with the seed, the chunk size and the
 * operation number, so a failure reproduces: rerun with HELIOS_MODEL_SEED
 * set to that seed (it replaces every test's seed; HELIOS_MODEL_OPS
 * replaces the operation count).
 *
 * Directed cases the random walk reaches only by luck are
 * test_model_directed.c; the diff-run collector both use is model_util.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "helios.h"
#include "testutil.h"
#include "shm.h"
#include "model_util.h"

TestSuite(model, .fini = tu_unlink_all, .timeout = 240);

/* Snapshots whose bytes the model keeps (restore and diff targets); the
 * zero id is always entry 0. Older ones are evicted at random but stay in
 * the content table, and restoring them is checked by content hash. */
#define KEPT_MAX 24u

struct snapshot {
	hl_id id;
	uint64_t size;
	uint64_t h64; /* XXH3-64 of the bytes, seeded with the size */
};

struct kept {
	hl_id id;
	uint64_t size;
	unsigned char *bytes;
};

struct run_ {
	uint64_t seed;
	uint32_t chunk;
	uint64_t max_bytes;
	unsigned ops;
	unsigned op;        /* current operation number */
	const char *opname; /* and its kind */

	hl_arena *a;
	hl_state *s;
	struct tu_rng rng;

	/* the model: bytes past size are kept zero */
	unsigned char *m;
	uint64_t size;
	hl_id base;  /* what hl_state_base must say */
	bool clean;  /* nothing written or resized since commit/restore */

	struct snapshot *snaps;
	size_t nsnaps, snaps_cap;
	struct kept kept[KEPT_MAX];
	unsigned nkept;

	unsigned char *scratch, *scratch2; /* max_bytes each */

	/* what the engine must report at the end */
	uint64_t new_nodes, new_bytes, commits, restores;
	/* how often each property was exercised (a run must exercise each) */
	unsigned n_commit, n_recommit, n_restore, n_restore_evicted, n_diff,
		n_diff_nonempty, n_fork, n_rebuild, n_dedup_id, n_shrink_grow,
		n_zero_write, n_deep;
};

#define MA(r, cond, fmt, ...)                                                  \
	cr_assert((cond), "[seed %" PRIu64 " chunk %u op %u %s] " fmt,         \
		  (r)->seed, (r)->chunk, (r)->op, (r)->opname, ##__VA_ARGS__)

#define MRC(r, rc, what)                                                       \
	MA(r, (rc) == 0, "%s: %d %s", what, (int)(rc), hl_strerror(rc))

static char *hex(hl_id id, char buf[33])
{
	hl_id_to_hex(id, buf);
	return buf;
}

static uint64_t content_hash(const unsigned char *p, uint64_t size)
{
	return XXH3_64bits_withSeed(p, (size_t)size, size);
}

/* ---- the content table (P2) ----------------------------------------------- */

/* Records that content (bytes, size) committed to id; asserts P2 against
 * everything committed before. */
static void table_record(struct run_ *r, hl_id id, const unsigned char *bytes,
			 uint64_t size)
{
	char h1[33], h2[33];
	MA(r, hl_id_is_zero(id) == (size == 0),
	   "zero id iff empty state: id %s size %" PRIu64, hex(id, h1), size);
	uint64_t h = content_hash(bytes, size);
	for (size_t i = 0; i < r->nsnaps; i++) {
		const struct snapshot *sn = &r->snaps[i];
		if (sn->h64 == h && sn->size == size) {
			MA(r, hl_id_eq(sn->id, id),
			   "equal content (size %" PRIu64 "), different ids: %s then %s",
			   size, hex(sn->id, h1), hex(id, h2));
			r->n_dedup_id++;
			return;
		}
	}
	for (size_t i = 0; i < r->nsnaps; i++)
		MA(r, !hl_id_eq(r->snaps[i].id, id),
		   "different content, same id %s (sizes %" PRIu64 " and %" PRIu64 ")",
		   hex(id, h1), r->snaps[i].size, size);
	if (r->nsnaps == r->snaps_cap) {
		r->snaps_cap = r->snaps_cap ? 2 * r->snaps_cap : 256;
		r->snaps = realloc(r->snaps, r->snaps_cap * sizeof *r->snaps);
		cr_assert_not_null(r->snaps);
	}
	r->snaps[r->nsnaps++] = (struct snapshot){id, size, h};
}

static void kept_add(struct run_ *r, hl_id id, const unsigned char *bytes,
		     uint64_t size)
{
	for (unsigned i = 0; i < r->nkept; i++)
		if (hl_id_eq(r->kept[i].id, id))
			return;
	unsigned at = r->nkept;
	if (at == KEPT_MAX) {
		at = 1 + (unsigned)tu_rng_below(&r->rng, KEPT_MAX - 1);
		free(r->kept[at].bytes);
	} else {
		r->nkept++;
	}
	unsigned char *copy = malloc(size ? size : 1);
	cr_assert_not_null(copy);
	memcpy(copy, bytes, size);
	r->kept[at] = (struct kept){id, size, copy};
}

/* ---- checks run after every operation (P1) -------------------------------- */

static void check_read(struct run_ *r, hl_state *s, uint64_t off, uint64_t len)
{
	int rc = hl_state_read(s, off, r->scratch, (size_t)len);
	MA(r, rc == 0, "read [%" PRIu64 ", +%" PRIu64 ") of %" PRIu64 ": %s", off,
	   len, r->size, hl_strerror(rc));
	if (memcmp(r->scratch, r->m + off, (size_t)len) == 0)
		return;
	uint64_t i = 0;
	while (r->scratch[i] == r->m[off + i])
		i++;
	MA(r, false,
	   "read [%" PRIu64 ", +%" PRIu64 "): byte %" PRIu64 " is %#x, model %#x",
	   off, len, off + i, r->scratch[i], r->m[off + i]);
}

static void check_all(struct run_ *r, hl_state *s)
{
	MA(r, hl_state_size(s) == r->size, "size %" PRIu64 ", model %" PRIu64,
	   hl_state_size(s), r->size);
	check_read(r, s, 0, r->size);
}

/* One zero-copy view at off: its length is what is left of off's chunk (or
 * of the state), its bytes are the model's. */
static const unsigned char *check_view(struct run_ *r, hl_state *s,
				       uint64_t off, size_t *len_out)
{
	const void *p = NULL;
	size_t len = 0;
	int rc = hl_state_view(s, off, &p, &len);
	MA(r, rc == 0, "view at %" PRIu64 " of %" PRIu64 ": %s", off, r->size,
	   hl_strerror(rc));
	uint64_t to_chunk = r->chunk - off % r->chunk, left = r->size - off;
	uint64_t want = to_chunk < left ? to_chunk : left;
	MA(r, len == want, "view at %" PRIu64 ": len %zu, want %" PRIu64, off,
	   len, want);
	MA(r, memcmp(p, r->m + off, len) == 0,
	   "view at %" PRIu64 " (len %zu) differs from the model", off, len);
	if (len_out)
		*len_out = len;
	return p;
}

static void check_state(struct run_ *r)
{
	hl_state *s = r->s;
	MA(r, hl_state_size(s) == r->size, "size %" PRIu64 ", model %" PRIu64,
	   hl_state_size(s), r->size);
	if (r->clean) {
		char h1[33], h2[33];
		MA(r, hl_id_eq(hl_state_base(s), r->base), "base %s, model %s",
		   hex(hl_state_base(s), h1), hex(r->base, h2));
	}
	for (int i = 0; i < 3; i++) {
		uint64_t off = tu_rng_below(&r->rng, r->size + 1);
		uint64_t left = r->size - off, max = 3ull * r->chunk;
		uint64_t len = tu_rng_below(&r->rng, (left < max ? left : max) + 1);
		check_read(r, s, off, len);
	}
	/* past the end: HL_ERANGE, never a partial read */
	int rc = hl_state_read(s, r->size, r->scratch, 1);
	MA(r, rc == HL_ERANGE, "read 1 byte at the size: %s", hl_strerror(rc));
	if (r->size == 0) {
		const void *p;
		size_t len;
		rc = hl_state_view(s, 0, &p, &len);
		MA(r, rc == HL_ERANGE, "view of an empty state: %s",
		   hl_strerror(rc));
		return;
	}
	/* two views in one chunk point into the same bytes */
	uint64_t off = tu_rng_below(&r->rng, r->size);
	size_t len;
	const unsigned char *p = check_view(r, s, off, &len);
	if (len > 1) {
		uint64_t d = 1 + tu_rng_below(&r->rng, len - 1);
		const unsigned char *q = check_view(r, s, off + d, NULL);
		MA(r, q == p + d, "views at %" PRIu64 " and %" PRIu64
		   " of one chunk are not one buffer", off, off + d);
	}
}

/* ---- operations ----------------------------------------------------------- */

static hl_id commit_record(struct run_ *r, hl_state *s,
			   const unsigned char *bytes, uint64_t size,
			   hl_commit_info *info)
{
	hl_id id;
	memset(info, 0xa5, sizeof *info);
	int rc = hl_commit(s, &id, info);
	MRC(r, rc, "hl_commit");
	r->commits++;
	r->new_nodes += info->new_nodes;
	r->new_bytes += info->new_bytes;
	char h1[33], h2[33];
	MA(r, hl_id_eq(hl_state_base(s), id), "base after commit %s, id %s",
	   hex(hl_state_base(s), h1), hex(id, h2));
	MA(r, hl_state_size(s) == size, "size changed by commit");
	table_record(r, id, bytes, size);
	return id;
}

static void op_commit(struct run_ *r)
{
	hl_commit_info info;
	bool was_clean = r->clean;
	hl_id id = commit_record(r, r->s, r->m, r->size, &info);
	char h1[33], h2[33];
	if (was_clean) { /* P5 */
		MA(r, hl_id_eq(id, r->base), "unchanged state: id %s, base %s",
		   hex(id, h1), hex(r->base, h2));
		MA(r, info.hashed_bytes == 0 && info.new_nodes == 0,
		   "unchanged state: hashed %" PRIu64 " new nodes %" PRIu64,
		   info.hashed_bytes, info.new_nodes);
	}
	r->base = id;
	r->clean = true;
	r->n_commit++;
	/* more than 16^2 chunks: a tree with two inner levels under the top */
	r->n_deep += r->size > 256ull * r->chunk;
	kept_add(r, id, r->m, r->size);
	if (tu_rng_chance(&r->rng, 30)) { /* P5 again, right after a commit */
		hl_id again = commit_record(r, r->s, r->m, r->size, &info);
		MA(r, hl_id_eq(again, id), "recommit: %s then %s", hex(id, h1),
		   hex(again, h2));
		MA(r, info.hashed_bytes == 0 && info.new_nodes == 0 &&
			      info.chunks_touched == 0,
		   "recommit hashed %" PRIu64 " bytes, %" PRIu64 " new nodes",
		   info.hashed_bytes, info.new_nodes);
		r->n_recommit++;
	}
}

static uint64_t pick_len(struct run_ *r, uint64_t left)
{
	uint64_t max;
	unsigned k = (unsigned)tu_rng_below(&r->rng, 100);
	if (k < 45)
		max = 64;
	else if (k < 80)
		max = 4ull * r->chunk;
	else if (k < 95)
		max = 20ull * r->chunk;
	else
		max = left;
	if (max > left)
		max = left;
	return max ? tu_rng_range(&r->rng, 1, max) : 0;
}

static void op_write(struct run_ *r)
{
	if (r->size == 0)
		return;
	uint64_t off = tu_rng_below(&r->rng, r->size);
	if (tu_rng_chance(&r->rng, 20)) /* chunk-aligned writes too */
		off -= off % r->chunk;
	uint64_t len = pick_len(r, r->size - off);
	unsigned char *buf = r->scratch2;
	unsigned kind = (unsigned)tu_rng_below(&r->rng, 100);
	if (kind < 45) {
		r->opname = "write-random";
		tu_rng_fill(&r->rng, buf, (size_t)len);
	} else if (kind < 70) {
		r->opname = "write-pattern";
		tu_pattern_fill(buf, off, (size_t)len, r->op);
	} else if (kind < 85) {
		r->opname = "write-zero";
		memset(buf, 0, (size_t)len);
		r->n_zero_write++;
	} else {
		r->opname = "write-same";
		memcpy(buf, r->m + off, (size_t)len);
	}
	int rc = hl_state_write(r->s, off, buf, (size_t)len);
	MA(r, rc == 0, "write [%" PRIu64 ", +%" PRIu64 ") of %" PRIu64 ": %s",
	   off, len, r->size, hl_strerror(rc));
	memcpy(r->m + off, buf, (size_t)len);
	r->clean = false;
}

static void model_resize(struct run_ *r, uint64_t size)
{
	int rc = hl_state_resize(r->s, size);
	MA(r, rc == 0, "resize %" PRIu64 " -> %" PRIu64 ": %s", r->size, size,
	   hl_strerror(rc));
	if (size < r->size)
		memset(r->m + size, 0, (size_t)(r->size - size));
	if (size != r->size)
		r->clean = false;
	r->size = size;
	MA(r, hl_state_size(r->s) == size, "size after resize");
}

static uint64_t pick_grow(struct run_ *r)
{
	uint64_t room = r->max_bytes - r->size;
	if (room == 0)
		return r->size;
	if (tu_rng_chance(&r->rng, 50)) {
		uint64_t small = 4ull * r->chunk;
		return r->size + tu_rng_range(&r->rng, 1, room < small ? room : small);
	}
	return r->size + tu_rng_range(&r->rng, 1, room);
}

static void op_resize(struct run_ *r)
{
	unsigned kind = (unsigned)tu_rng_below(&r->rng, 100);
	if (kind < 40 || r->size == 0) {
		r->opname = "grow";
		model_resize(r, pick_grow(r));
	} else if (kind < 68) {
		r->opname = "shrink-odd";
		uint64_t to = tu_rng_below(&r->rng, r->size) | 1;
		model_resize(r, to < r->size ? to : r->size - 1);
	} else if (kind < 72) {
		r->opname = "shrink-0";
		model_resize(r, 0);
	} else if (kind < 90) {
		/* the bytes between the two sizes must come back as zeros */
		r->opname = "shrink-grow";
		uint64_t old = r->size;
		model_resize(r, tu_rng_below(&r->rng, r->size));
		if (tu_rng_chance(&r->rng, 30))
			op_write(r); /* dirty the tail chunk in between */
		r->opname = "shrink-grow";
		uint64_t mid = r->size;
		model_resize(r, pick_grow(r));
		uint64_t end = old < r->size ? old : r->size;
		check_read(r, r->s, mid, end - mid);
		r->n_shrink_grow++;
	} else {
		/* chunk boundaries and their neighbours */
		r->opname = "resize-boundary";
		uint64_t k = tu_rng_below(&r->rng, r->max_bytes / r->chunk + 1);
		uint64_t to = k * r->chunk;
		unsigned nudge = (unsigned)tu_rng_below(&r->rng, 3);
		if (nudge == 1 && to > 0)
			to--;
		else if (nudge == 2 && to < r->max_bytes)
			to++;
		model_resize(r, to);
	}
}

static void op_restore(struct run_ *r)
{
	hl_id id;
	int rc;
	char h1[33];
	unsigned kind = (unsigned)tu_rng_below(&r->rng, 100);
	if (kind < 3) {
		/* an id nobody committed: HL_ENOENT, and the state (dirty
		 * chunks included) is untouched */
		r->opname = "restore-unknown";
		id = (hl_id){tu_rng_next(&r->rng), tu_rng_next(&r->rng)};
		rc = hl_restore(r->s, id);
		MA(r, rc == HL_ENOENT, "restore of unknown %s: %s", hex(id, h1),
		   hl_strerror(rc));
		check_all(r, r->s);
		return;
	}
	if (kind < 80 || r->nsnaps == 0) {
		r->opname = "restore-kept";
		const struct kept *k = &r->kept[tu_rng_below(&r->rng, r->nkept)];
		id = k->id;
		rc = hl_restore(r->s, id);
		MA(r, rc == 0, "restore %s: %s", hex(id, h1), hl_strerror(rc));
		memset(r->m, 0, (size_t)r->size);
		memcpy(r->m, k->bytes, (size_t)k->size);
		r->size = k->size;
		check_all(r, r->s); /* P3 */
	} else {
		r->opname = "restore-any";
		const struct snapshot *sn =
			&r->snaps[tu_rng_below(&r->rng, r->nsnaps)];
		id = sn->id;
		rc = hl_restore(r->s, id);
		MA(r, rc == 0, "restore %s: %s", hex(id, h1), hl_strerror(rc));
		MA(r, hl_state_size(r->s) == sn->size,
		   "restored %s: size %" PRIu64 ", committed %" PRIu64, hex(id, h1),
		   hl_state_size(r->s), sn->size);
		rc = hl_state_read(r->s, 0, r->scratch, (size_t)sn->size);
		MRC(r, rc, "read all");
		MA(r, content_hash(r->scratch, sn->size) == sn->h64,
		   "restored %s: bytes differ from what was committed", hex(id, h1));
		memset(r->m, 0, (size_t)r->size);
		memcpy(r->m, r->scratch, (size_t)sn->size);
		r->size = sn->size;
		r->n_restore_evicted++;
	}
	r->restores++;
	r->n_restore++;
	r->base = id;
	r->clean = true;
}

/* ---- diff (P4) ------------------------------------------------------------ */

/* The model's diff: maximal runs of differing bytes, byte by byte. */
static void model_diff(const struct kept *x, const struct kept *y,
		       struct runs *out)
{
	uint64_t common = x->size < y->size ? x->size : y->size;
	uint64_t longer = x->size < y->size ? y->size : x->size;
	uint64_t i = 0;
	while (i < longer) {
		if (i < common && x->bytes[i] == y->bytes[i]) {
			i++;
			continue;
		}
		uint64_t j = i;
		while (j < longer && (j >= common || x->bytes[j] != y->bytes[j]))
			j++;
		runs_push(out, i, j - i);
		i = j;
	}
}

static void runs_compare(struct run_ *r, const struct runs *got,
			 const struct runs *want, const char *what)
{
	size_t n = got->n < want->n ? got->n : want->n;
	for (size_t i = 0; i < n; i++)
		MA(r, got->v[i][0] == want->v[i][0] && got->v[i][1] == want->v[i][1],
		   "%s: run %zu is [%" PRIu64 ", +%" PRIu64 "), model [%" PRIu64
		   ", +%" PRIu64 ")", what, i, got->v[i][0], got->v[i][1],
		   want->v[i][0], want->v[i][1]);
	MA(r, got->n == want->n, "%s: %zu runs, model %zu (first extra at %" PRIu64 ")",
	   what, got->n, want->n,
	   got->n > n ? got->v[n][0] : (want->n > n ? want->v[n][0] : 0));
}

static void op_diff(struct run_ *r)
{
	const struct kept *x = &r->kept[tu_rng_below(&r->rng, r->nkept)];
	const struct kept *y = &r->kept[tu_rng_below(&r->rng, r->nkept)];
	if (tu_rng_chance(&r->rng, 5))
		y = x;
	struct runs want = {0}, got = {0}, back = {0};
	model_diff(x, y, &want);
	int rc = hl_diff(r->a, x->id, y->id, runs_cb, &got);
	MRC(r, rc, "hl_diff");
	runs_compare(r, &got, &want, "diff(x, y)");
	rc = hl_diff(r->a, y->id, x->id, runs_cb, &back);
	MRC(r, rc, "hl_diff reversed");
	runs_compare(r, &back, &want, "diff(y, x)");
	if (want.n && tu_rng_chance(&r->rng, 20)) {
		struct runs stop = {.stop_after = 1};
		rc = hl_diff(r->a, x->id, y->id, runs_cb, &stop);
		MA(r, rc == 42 && stop.n == 1,
		   "a callback returning 42 must stop the walk: rc %d, %zu calls",
		   rc, stop.n);
		MA(r, stop.v[0][0] == want.v[0][0] && stop.v[0][1] == want.v[0][1],
		   "first run of a stopped walk");
		free(stop.v);
	}
	r->n_diff++;
	r->n_diff_nonempty += want.n > 0;
	free(want.v);
	free(got.v);
	free(back.v);
}

/* ---- fork (P6) and rebuild (P2) ------------------------------------------- */

static void op_fork(struct run_ *r)
{
	hl_state *f = NULL;
	int rc = hl_fork(r->s, &f);
	MRC(r, rc, "hl_fork");
	check_all(r, f);
	char h1[33], h2[33];
	if (r->clean)
		MA(r, hl_id_eq(hl_state_base(f), r->base), "fork base %s, want %s",
		   hex(hl_state_base(f), h1), hex(r->base, h2));
	bool keep_fork = tu_rng_chance(&r->rng, 50);
	hl_state *keep = keep_fork ? f : r->s, *drop = keep_fork ? r->s : f;
	if (tu_rng_chance(&r->rng, 30)) {
		hl_commit_info info;
		commit_record(r, drop, r->m, r->size, &info);
	}
	/* scribble on the one we drop: the one we keep must not see it */
	if (r->size) {
		uint64_t off = tu_rng_below(&r->rng, r->size);
		uint64_t len = pick_len(r, r->size - off);
		tu_rng_fill(&r->rng, r->scratch2, (size_t)len);
		rc = hl_state_write(drop, off, r->scratch2, (size_t)len);
		MRC(r, rc, "write to the dropped state");
		check_read(r, keep, off, len);
	}
	if (tu_rng_chance(&r->rng, 30)) {
		rc = hl_state_resize(drop, tu_rng_below(&r->rng, r->size + 1));
		MRC(r, rc, "resize the dropped state");
		check_all(r, keep);
	}
	hl_state_free(drop);
	r->s = keep;
	r->n_fork++;
}

/* Builds the model's content through another history - a fresh state, or
 * one restored from an unrelated snapshot - written in random pieces in
 * random order; its commit must give the id of that content (P2). */
static void op_rebuild(struct run_ *r)
{
	hl_state *t = NULL;
	int rc = hl_state_new(r->a, &t);
	MRC(r, rc, "hl_state_new");
	if (tu_rng_chance(&r->rng, 50)) {
		const struct kept *k = &r->kept[tu_rng_below(&r->rng, r->nkept)];
		rc = hl_restore(t, k->id);
		MRC(r, rc, "restore for a rebuild");
		r->restores++;
	}
	/* a detour through another size first, sometimes */
	if (tu_rng_chance(&r->rng, 30)) {
		rc = hl_state_resize(t, tu_rng_below(&r->rng, r->max_bytes + 1));
		MRC(r, rc, "detour resize");
	}
	rc = hl_state_resize(t, r->size);
	MRC(r, rc, "resize for a rebuild");
	/* pieces of random length, visited in a random order */
	uint64_t n = 0, cap = 64;
	uint64_t (*pieces)[2] = malloc(cap * sizeof *pieces);
	cr_assert_not_null(pieces);
	for (uint64_t off = 0; off < r->size;) {
		uint64_t len = 1 + tu_rng_below(&r->rng, 3ull * r->chunk);
		if (len > r->size - off)
			len = r->size - off;
		if (n == cap) {
			cap *= 2;
			pieces = realloc(pieces, cap * sizeof *pieces);
			cr_assert_not_null(pieces);
		}
		pieces[n][0] = off;
		pieces[n][1] = len;
		n++;
		off += len;
	}
	for (uint64_t i = n; i > 1; i--) {
		uint64_t j = tu_rng_below(&r->rng, i), o = pieces[i - 1][0],
			 l = pieces[i - 1][1];
		pieces[i - 1][0] = pieces[j][0];
		pieces[i - 1][1] = pieces[j][1];
		pieces[j][0] = o;
		pieces[j][1] = l;
	}
	for (uint64_t i = 0; i < n; i++) {
		rc = hl_state_write(t, pieces[i][0], r->m + pieces[i][0],
				    (size_t)pieces[i][1]);
		MRC(r, rc, "rebuild write");
	}
	free(pieces);
	check_all(r, t);
	hl_commit_info info;
	commit_record(r, t, r->m, r->size, &info);
	hl_state_free(t);
	r->n_rebuild++;
}

static void op_check(struct run_ *r)
{
	check_all(r, r->s);
	if (r->size == 0)
		return;
	/* walk a region by views */
	uint64_t off = tu_rng_below(&r->rng, r->size);
	uint64_t end = off + pick_len(r, r->size - off);
	while (off < end) {
		size_t len;
		check_view(r, r->s, off, &len);
		off += len;
	}
}

/* ---- the run -------------------------------------------------------------- */

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);
	return v && *v ? strtoull(v, NULL, 0) : dflt;
}

static void run_free(struct run_ *r)
{
	for (unsigned i = 0; i < r->nkept; i++)
		free(r->kept[i].bytes);
	free(r->snaps);
	free(r->m);
	free(r->scratch);
	free(r->scratch2);
}

/* End of a run: every snapshot still restores to its bytes, the books
 * balance (P7), the checker passes. */
static void run_finish(struct run_ *r)
{
	r->opname = "final";
	for (unsigned i = 0; i < r->nkept; i++) {
		const struct kept *k = &r->kept[i];
		int rc = hl_restore(r->s, k->id);
		MRC(r, rc, "final restore");
		r->restores++;
		memset(r->m, 0, (size_t)r->size);
		memcpy(r->m, k->bytes, (size_t)k->size);
		r->size = k->size;
		check_all(r, r->s);
	}
	for (size_t i = 0; i < r->nsnaps; i++) {
		const struct snapshot *sn = &r->snaps[i];
		int rc = hl_restore(r->s, sn->id);
		MRC(r, rc, "final restore of every snapshot");
		r->restores++;
		MA(r, hl_state_size(r->s) == sn->size, "final size");
		rc = hl_state_read(r->s, 0, r->scratch, (size_t)sn->size);
		MRC(r, rc, "final read");
		MA(r, content_hash(r->scratch, sn->size) == sn->h64,
		   "snapshot %zu no longer reads back its bytes", i);
	}
	hl_state_free(r->s);
	r->s = NULL;

	hl_stats st;
	int rc = hl_arena_stats(r->a, &st);
	MRC(r, rc, "hl_arena_stats");
	MA(r, st.nodes == hl_index_used(r->a),
	   "stats.nodes %" PRIu64 " != index_used %" PRIu64, st.nodes,
	   hl_index_used(r->a));
	MA(r, st.nodes == r->new_nodes,
	   "stats.nodes %" PRIu64 " != sum of info.new_nodes %" PRIu64, st.nodes,
	   r->new_nodes);
	MA(r, st.stored_bytes == r->new_bytes,
	   "stats.stored_bytes %" PRIu64 " != sum of info.new_bytes %" PRIu64,
	   st.stored_bytes, r->new_bytes);
	MA(r, st.commits == r->commits, "stats.commits %" PRIu64 ", made %" PRIu64,
	   st.commits, r->commits);
	MA(r, st.restores == r->restores,
	   "stats.restores %" PRIu64 ", made %" PRIu64, st.restores, r->restores);
	char msg[256] = "";
	rc = hl_arena_check(r->a, msg, sizeof msg);
	MA(r, rc == 0, "hl_arena_check: %s: %s", hl_strerror(rc), msg);

	/* the run exercised what it claims to test */
	MA(r, r->n_commit > r->ops / 20 && r->n_recommit && r->n_restore &&
		      r->n_restore_evicted && r->n_diff && r->n_diff_nonempty &&
		      r->n_fork && r->n_rebuild && r->n_dedup_id &&
		      r->n_shrink_grow && r->n_zero_write && r->n_deep,
	   "coverage: commits %u recommits %u restores %u (evicted %u) diffs %u "
	   "(non-empty %u) forks %u rebuilds %u dedup ids %u shrink-grows %u "
	   "zero writes %u deep commits %u",
	   r->n_commit, r->n_recommit, r->n_restore, r->n_restore_evicted,
	   r->n_diff, r->n_diff_nonempty, r->n_fork, r->n_rebuild, r->n_dedup_id,
	   r->n_shrink_grow, r->n_zero_write, r->n_deep);
}

static void run_model(uint64_t seed, uint32_t chunk, uint64_t arena_bytes,
		      uint64_t max_bytes, unsigned ops)
{
	struct run_ run = {0}, *r = &run;
	r->seed = env_u64("HELIOS_MODEL_SEED", seed);
	r->ops = (unsigned)env_u64("HELIOS_MODEL_OPS", ops);
	r->chunk = chunk;
	r->max_bytes = max_bytes;
	r->opname = "setup";
	tu_rng_seed(&r->rng, r->seed);
	r->m = calloc(1, max_bytes + 1);
	r->scratch = malloc(max_bytes + 1);
	r->scratch2 = malloc(max_bytes + 1);
	cr_assert(r->m && r->scratch && r->scratch2);

	r->a = tu_arena_new("model", arena_bytes, chunk, NULL);
	int rc = hl_state_new(r->a, &r->s);
	MRC(r, rc, "hl_state_new");
	r->clean = true;
	table_record(r, (hl_id){0, 0}, r->m, 0);
	r->kept[0] = (struct kept){{0, 0}, 0, malloc(1)};
	r->nkept = 1;

	for (r->op = 0; r->op < r->ops; r->op++) {
		unsigned k = (unsigned)tu_rng_below(&r->rng, 100);
		if (k < 30) {
			r->opname = "write";
			op_write(r);
		} else if (k < 42) {
			r->opname = "resize";
			op_resize(r);
		} else if (k < 60) {
			r->opname = "commit";
			op_commit(r);
		} else if (k < 70) {
			r->opname = "restore";
			op_restore(r);
		} else if (k < 75) {
			r->opname = "fork";
			op_fork(r);
		} else if (k < 83) {
			r->opname = "check";
			op_check(r);
		} else if (k < 96) {
			r->opname = "diff";
			op_diff(r);
		} else {
			r->opname = "rebuild";
			op_rebuild(r);
		}
		check_state(r);
		if (r->op == r->ops / 2) {
			char msg[256] = "";
			rc = hl_arena_check(r->a, msg, sizeof msg);
			MA(r, rc == 0, "hl_arena_check mid-run: %s: %s",
			   hl_strerror(rc), msg);
		}
	}
	run_finish(r);
	hl_arena_close(r->a);
	run_free(r);
}

/* Chunk 64: states to 64 KiB = 1024 chunks, trees up to 4 levels (3 inner
 * levels over the leaves). */
#define C64 64u, (32ull << 20), (64ull << 10)
/* Chunk 256: states to 256 KiB = 1024 chunks. */
#define C256 256u, (64ull << 20), (256ull << 10)
/* Chunk 4096: states to 1.25 MiB = 320 chunks, so both 2- and 3-level
 * trees (the height changes as the state crosses 1 MiB). */
#define C4096 4096u, (128ull << 20), (1280ull << 10)

Test(model, chunk64_seed1) { run_model(1, C64, 20000); }
Test(model, chunk64_seed2) { run_model(0x5eed0002, C64, 20000); }
Test(model, chunk64_seed3) { run_model(0xdeadbeef, C64, 20000); }
Test(model, chunk256_seed1) { run_model(11, C256, 20000); }
Test(model, chunk256_seed2) { run_model(0x5eed0102, C256, 20000); }
Test(model, chunk256_seed3) { run_model(0xfeedface, C256, 20000); }
Test(model, chunk4096_seed1) { run_model(41, C4096, 12000); }
Test(model, chunk4096_seed2) { run_model(0x5eed4002, C4096, 12000); }
Test(model, chunk4096_seed3) { run_model(0xc0ffee, C4096, 12000); }
