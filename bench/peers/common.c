/*
 * common.c - what every peer shares: the private state a user keeps, the
 * change each op makes to it, the keys snapshots are stored under, the
 * restores' choice of op, the clock, and the fingerprints restores are
 * checked against.
 *
 * A peer stands in for a user who keeps a working state in a private buffer
 * and stores a snapshot of it after every change by writing the whole state
 * as one value under a new key (a database has no cheaper way to keep an
 * immutable copy). Every peer gets the same states in the same order for a
 * seed, so their figures differ only by the database.
 *
 * Invariants:
 *  1. The workload is a pure function of (seed, workload): op i's change
 *     comes from a generator keyed by (seed, i), and restore r's op from
 *     one keyed by (seed, r). ps->rng holds that key and is never advanced,
 *     so a peer may compute any op's change or pick without replaying the
 *     ones before it, and a retry never shifts the sequence.
 *  2. The state starts as random bytes (as Helios's W2 does: a zero state
 *     would flatter any peer that compresses) and every change writes
 *     random bytes, so nothing stored compresses or deduplicates by
 *     accident.
 *  3. W1 (write_bytes below HL_PEER_CHUNK_BYTES) writes at any byte offset
 *     that keeps the write inside the state. W2 (a write of a whole chunk)
 *     rewrites one whole chunk, aligned to its size: the change Helios's
 *     4 KiB leaves see. hl_peer_state has no workload field, so the size
 *     of the write is what says which; hl_peer_state_init checks that it
 *     agrees with w->workload.
 *  4. Keys sort by op (a fixed 8-byte prefix, then the op big-endian), so
 *     an ordered store appends at its right edge, as it would for a user's
 *     sequential snapshot ids.
 *  5. fingerprint[i] is XXH3-64 of the whole state as committed by op i;
 *     peers compute it outside their timed regions.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include <stdio.h>

#include "bench.h"

/* The arena's default chunk (DESIGN.md): a write this large or larger is
 * W2's whole-chunk rewrite; a smaller one is W1's unaligned write. */
#define HL_PEER_CHUNK_BYTES 4096u

/* Domains of the generators (invariant 1), so the initial fill, op i's
 * change and restore r's pick never share a stream. */
#define HL_PEER_DOMAIN_FILL 0x66696c6c00000000ull  /* "fill" */
#define HL_PEER_DOMAIN_PICK 0x7069636b00000000ull  /* "pick" */

static const unsigned char hl_peer_key_prefix[8] = {'h', 'l', 's', 'n', 'a', 'p', '/', '1'};

static inline uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A generator's starting state for item n of a stream: n's own mix, so
 * consecutive items start far apart in splitmix's sequence. */
static inline uint64_t stream_of(uint64_t key, uint64_t n)
{
	uint64_t x = key ^ (n * 0xd1342543de82ef95ull);
	return splitmix64(&x);
}

/* Uniform in [0, n) for n >= 1 (Lemire's multiply-shift: no division). */
static inline uint64_t below(uint64_t *x, uint64_t n)
{
	__extension__ unsigned __int128 p = (unsigned __int128)splitmix64(x) * n;
	return (uint64_t)(p >> 64);
}

static void fill_random(uint64_t *x, unsigned char *p, size_t len)
{
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t v = splitmix64(x);
		memcpy(p + i, &v, 8);
	}
	if (i < len) {
		uint64_t v = splitmix64(x);
		memcpy(p + i, &v, len - i);
	}
}

/* W2 iff the write is a whole chunk (invariant 3). */
static bool writes_whole_chunks(uint32_t write_bytes)
{
	return write_bytes >= HL_PEER_CHUNK_BYTES;
}

/* 0, or -1 with errno EINVAL (a workload the helpers cannot run) or
 * ENOMEM. ps is zeroed first, so hl_peer_state_free is always safe. */
int hl_peer_state_init(struct hl_peer_state *ps, const struct hl_peer_workload *w)
{
	memset(ps, 0, sizeof *ps);
	if (!w || w->state_bytes == 0 || w->state_bytes > SIZE_MAX ||
	    w->write_bytes == 0 || w->write_bytes > w->state_bytes ||
	    w->ops == 0 || w->ops > SIZE_MAX / sizeof(uint64_t))
		goto out_inval;
	bool whole = writes_whole_chunks(w->write_bytes);
	if (whole && w->state_bytes % w->write_bytes != 0)
		goto out_inval;
	if ((w->workload == HL_WORKLOAD_W1 && whole) || (w->workload == HL_WORKLOAD_W2 && !whole) ||
	    (w->workload != HL_WORKLOAD_W1 && w->workload != HL_WORKLOAD_W2))
		goto out_inval;

	void *bytes;
	int rc = posix_memalign(&bytes, 64, (size_t)w->state_bytes);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	ps->fingerprint = calloc((size_t)w->ops, sizeof *ps->fingerprint);
	if (!ps->fingerprint) {
		free(bytes);
		errno = ENOMEM;
		return -1;
	}
	ps->bytes = bytes;
	ps->state_bytes = w->state_bytes;
	ps->write_bytes = w->write_bytes;
	ps->ops = w->ops;
	uint64_t key = w->seed;
	ps->rng = splitmix64(&key) ^ ((uint64_t)w->workload << 56);

	uint64_t x = stream_of(ps->rng ^ HL_PEER_DOMAIN_FILL, 0);
	fill_random(&x, ps->bytes, (size_t)ps->state_bytes);
	return 0;

out_inval:
	errno = EINVAL;
	return -1;
}

void hl_peer_state_free(struct hl_peer_state *ps)
{
	free(ps->bytes);
	free(ps->fingerprint);
	memset(ps, 0, sizeof *ps);
}

void hl_peer_state_step(struct hl_peer_state *ps, uint64_t i)
{
	uint64_t x = stream_of(ps->rng, i);
	uint64_t off;
	if (writes_whole_chunks(ps->write_bytes))
		off = below(&x, ps->state_bytes / ps->write_bytes) * ps->write_bytes;
	else
		off = below(&x, ps->state_bytes - ps->write_bytes + 1);
	fill_random(&x, ps->bytes + off, ps->write_bytes);
}

void hl_peer_key(uint64_t i, unsigned char key[16])
{
	memcpy(key, hl_peer_key_prefix, 8);
	for (unsigned b = 0; b < 8; b++)
		key[8 + b] = (unsigned char)(i >> (56 - 8 * b));
}

uint64_t hl_peer_pick(struct hl_peer_state *ps, uint64_t r)
{
	uint64_t x = stream_of(ps->rng ^ HL_PEER_DOMAIN_PICK, r);
	return below(&x, ps->ops);
}

uint64_t hl_peer_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t hl_peer_fingerprint(const void *p, size_t len)
{
	return XXH3_64bits(p, len);
}

int hl_peer_not_built(const char *peer, const char *package, char *why,
		      size_t len)
{
	snprintf(why, len, "%s: not built: apt-get install %s, then rebuild "
		 "(bench/peers/setup.sh)", peer, package);
	return 1;
}
