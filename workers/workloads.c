/*
 * workloads.c - the built-in workloads `helios run --workload w1|w2` runs,
 * so the engine can be driven with no program of the user's.
 *
 * Each is a small search over a bounded game, the shape of an MCTS worker's
 * traffic: play a move (write), commit, and after a few moves backtrack by
 * restoring an earlier position, as a tree search returns to the root.
 *
 *   W1: a 4 KiB state of 64 blocks of 64 B (DESIGN.md's W1: 64 B written per
 *       commit). A move sets block b in [0, 16) to one of two 64 B patterns.
 *   W2: a 1 MiB state of 256 chunks of 4 KiB (W2: 4 KiB written per commit).
 *       A move sets chunk b in [0, 16) to one of two 4 KiB patterns.
 *
 * A position is the set of moves played, not their order: the same moves in
 * another order write the same bytes, so they commit to the same id. Every
 * worker plays the same game, so positions repeat within and across workers
 * (transpositions) and the arena deduplicates them; games are at most
 * HL_GAME_DEPTH moves deep, so the positions are bounded (about 30 000),
 * and a long run settles into committing what is already there.
 *
 * Self-checking: the bytes of a position are a pure function of its move
 * set, so after a restore the worker recomputes them and compares (all of
 * W1's 4 KiB; W2's chunks touched by the game), and every id it restores is
 * one it committed itself. A mismatch is reported and ends the worker with
 * HL_ECORRUPT: a fast wrong answer cannot pass.
 *
 * Memory: the positions on the current path are pinned (hl_pin) and
 * unpinned as the search backtracks past them, so a collector reclaims
 * every position no worker's path holds: a run stays within any arena.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

#define HL_GAME_SQUARES 16u  /* blocks a move may set */
#define HL_GAME_VALUES 2u    /* patterns a block may take */
#define HL_GAME_DEPTH 4u     /* moves before the search backtracks */
#define HL_PUBLISH_EVERY 1024u /* commits between ref updates */

struct game {
	hl_arena *a;
	enum hl_workload kind;
	uint64_t state_bytes;
	uint32_t block_bytes;
	uint64_t rng;
	unsigned depth;
	uint8_t value[HL_GAME_DEPTH + 1][HL_GAME_SQUARES]; /* 0: unset */
	hl_id id[HL_GAME_DEPTH + 1];
	unsigned char *expect; /* one block */
	unsigned char *got;
};

const char *hl_workload_describe(enum hl_workload w)
{
	return w == HL_WORKLOAD_W1
		       ? "w1: 4 KiB state, 64 B moves (16 squares x 2 values, "
			 "depth 4), backtracking search"
		       : "w2: 1 MiB state, 4 KiB moves (16 squares x 2 values, "
			 "depth 4), backtracking search";
}

static uint64_t next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* The bytes of square b holding value v (0: zeros), the same in every
 * process: a pure function of (b, v). */
static void pattern(unsigned char *out, uint32_t bytes, unsigned b, unsigned v)
{
	if (v == 0) {
		memset(out, 0, bytes);
		return;
	}
	uint64_t s = 0x9e3779b97f4a7c15ull * (b * HL_GAME_VALUES + v + 1);
	for (uint32_t i = 0; i < bytes; i += 8) {
		uint64_t w = next(&s);
		memcpy(out + i, &w, 8);
	}
}

static int play(struct game *g, hl_state *s)
{
	unsigned b = (unsigned)(next(&g->rng) % HL_GAME_SQUARES);
	unsigned v = 1 + (unsigned)(next(&g->rng) % HL_GAME_VALUES);
	memcpy(g->value[g->depth + 1], g->value[g->depth], HL_GAME_SQUARES);
	g->value[g->depth + 1][b] = (uint8_t)v;
	pattern(g->expect, g->block_bytes, b, v);
	int rc = hl_state_write(s, (uint64_t)b * g->block_bytes, g->expect,
				g->block_bytes);
	if (!rc)
		rc = hl_commit(s, &g->id[g->depth + 1], NULL);
	/* the path is pinned: the search comes back to it, and a collector
	 * may reclaim any snapshot nobody holds */
	if (!rc)
		rc = hl_pin(g->a, g->id[g->depth + 1]);
	if (!rc)
		g->depth++;
	return rc;
}

/* Compares every square of the restored position with its pattern. */
static int verify(struct game *g, hl_state *s, unsigned index)
{
	for (unsigned b = 0; b < HL_GAME_SQUARES; b++) {
		pattern(g->expect, g->block_bytes, b, g->value[g->depth][b]);
		int rc = hl_state_read(s, (uint64_t)b * g->block_bytes, g->got,
				       g->block_bytes);
		if (rc)
			return rc;
		if (memcmp(g->expect, g->got, g->block_bytes)) {
			char hex[33];
			hl_id_to_hex(g->id[g->depth], hex);
			fprintf(stderr, "helios: worker %u: snapshot %s square %u "
				"does not read back what was committed\n",
				index, hex, b);
			return HL_ECORRUPT;
		}
	}
	return 0;
}

/* Backtracks 1..depth moves, like a search returning up its path. */
static int backtrack(struct game *g, hl_state *s, unsigned index)
{
	unsigned up = 1 + (unsigned)(next(&g->rng) % g->depth);
	for (unsigned d = g->depth; d > g->depth - up; d--)
		(void)hl_unpin(g->a, g->id[d]); /* off the path: garbage, maybe */
	g->depth -= up;
	int rc = hl_restore(s, g->id[g->depth]);
	if (!rc && hl_state_size(s) != g->state_bytes)
		rc = HL_ECORRUPT;
	return rc ? rc : verify(g, s, index);
}

static int publish(hl_arena *a, struct game *g, unsigned index)
{
	char ref[HL_REF_NAME_MAX + 1];
	snprintf(ref, sizeof ref, "worker-%u/latest", index);
	int rc = hl_ref_set(a, ref, g->id[g->depth]);
	return rc == HL_EFULL ? 0 : rc; /* a full ref table is not fatal */
}

static int game_init(struct game *g, enum hl_workload w, unsigned index,
		     uint64_t seed)
{
	memset(g, 0, sizeof *g);
	g->kind = w;
	g->state_bytes = hl_workload_shape(w)->state_bytes;
	g->block_bytes = hl_workload_shape(w)->write_bytes;
	g->rng = (seed ^ (0x2545f4914f6cdd1dull * (index + 1))) | 1;
	g->expect = malloc(g->block_bytes);
	g->got = malloc(g->block_bytes);
	return g->expect && g->got ? 0 : HL_ENOMEM;
}

static int game_loop(hl_arena *a, hl_state *s, struct game *g, unsigned index,
		     volatile sig_atomic_t *stop)
{
	g->a = a;
	int rc = hl_state_resize(s, g->state_bytes);
	if (!rc)
		rc = hl_commit(s, &g->id[0], NULL); /* the empty board */
	if (!rc)
		rc = hl_pin(a, g->id[0]);
	for (uint64_t n = 0; !rc && !*stop; n++) {
		if (g->depth == HL_GAME_DEPTH)
			rc = backtrack(g, s, index);
		else
			rc = play(g, s);
		if (!rc && n % HL_PUBLISH_EVERY == 0)
			rc = publish(a, g, index);
	}
	return rc;
}

int hl_workload_run(hl_arena *a, enum hl_workload w, unsigned index,
		    uint64_t seed, volatile sig_atomic_t *stop)
{
	struct game g;
	hl_state *s = NULL;
	if (!hl_workload_playable(w))
		return HL_EINVAL;
	int rc = game_init(&g, w, index, seed);
	if (!rc)
		rc = hl_state_new(a, &s);
	if (!rc)
		rc = game_loop(a, s, &g, index, stop);
	if (rc && rc != HL_ECORRUPT)
		fprintf(stderr, "helios: worker %u: %s\n", index, hl_strerror(rc));
	hl_state_free(s);
	free(g.expect);
	free(g.got);
	return rc;
}
