/*
 * hash.c - content addresses of nodes (XXH3-128).
 *
 * Each node kind hashes with its own seed (layout.h), inner nodes with their
 * level added, so a leaf can never be taken for an inner node nor a level-1
 * node for a level-2 one even if their bytes agree. A root hashes the state's
 * size and the tree's height together with its top child, so two states that
 * differ only in trailing zeros have different ids.
 *
 * Inputs are hashed in their little-endian memory form (layout.h forbids
 * other byte orders), so ids are the same in every process and on disk.
 * A search record's key hashes its position's id with the search's salt
 * under a seed of its own, so it is never any snapshot's id.
 *
 * Which XXH3 runs. Every id is XXH3-128's defined output, whatever code
 * computes it: the scalar, SSE2, AVX2 and AVX-512 kernels agree bit for
 * bit (the hash suite pins known ids and compares the two paths on every
 * length up to 5 KiB), so arenas and WALs are portable across CPUs.
 *
 *   - Leaves longer than XXH3's midsize limit (240 B: a 4 KiB chunk, a
 *     1 MiB one) go to libxxhash's XXH3_128bits_withSeed_dispatch, which
 *     picks the widest vector kernel the CPU has at its first call
 *     (xxh_x86dispatch; Debian's libxxhash0 builds it). This library is
 *     compiled for baseline x86-64, where the inlined XXH3 is SSE2 only:
 *     185 ns per 4 KiB against 92-101 ns dispatched to AVX2 (issue 9).
 *   - Everything short (inner nodes' 16 ids, roots, search keys, 32-byte
 *     Connect Four chunks, the header checksum) stays inlined: at those
 *     lengths XXH3 has no vector loop, and a call into the library would
 *     only add its overhead.
 *
 * The dispatch header is included first, as a plain (non-inline) API, so
 * its declarations are the library's; xxhash.h included again with
 * XXH_INLINE_ALL then renames the rest into private inline copies
 * (xxhash.h supports exactly this double inclusion).
 */
#define XXH_DISPATCH_DISABLE_REPLACE
#include <xxh_x86dispatch.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "shm.h"

static hl_id from_xxh(XXH128_hash_t h)
{
	return (hl_id){.lo = h.low64, .hi = h.high64};
}

/* XXH3's XXH3_MIDSIZE_MAX: above it the long-input (vector) loop runs. */
#define HASH_DISPATCH_MIN_BYTES 240u

hl_id hl_hash_leaf(const void *chunk, size_t len)
{
	if (len > HASH_DISPATCH_MIN_BYTES) {
		/* the library's XXH128_hash_t: the same two words, another
		 * name once XXH_INLINE_ALL renamed the inline copy's */
		__typeof__(XXH3_128bits_withSeed_dispatch(chunk, len, 0)) h =
			XXH3_128bits_withSeed_dispatch(chunk, len, HL_SEED_LEAF);
		return (hl_id){.lo = h.low64, .hi = h.high64};
	}
	return from_xxh(XXH3_128bits_withSeed(chunk, len, HL_SEED_LEAF));
}

hl_id hl_hash_inner(unsigned level, const hl_id *child_hashes, unsigned count)
{
	return from_xxh(XXH3_128bits_withSeed(child_hashes, count * sizeof(hl_id),
					      HL_SEED_INNER + level));
}

hl_id hl_hash_root(uint64_t state_bytes, unsigned height, hl_id top_hash)
{
	struct {
		uint64_t state_bytes;
		uint64_t height;
		hl_id top;
	} in = {state_bytes, height, top_hash};
	_Static_assert(sizeof in == 32, "root hash input has no padding");
	return from_xxh(XXH3_128bits_withSeed(&in, sizeof in, HL_SEED_ROOT));
}

hl_id hl_hash_search(hl_id pos, uint64_t salt)
{
	struct {
		hl_id pos;
		uint64_t salt;
		uint64_t zero;
	} in = {pos, salt, 0};
	_Static_assert(sizeof in == 32, "search key input has no padding");
	return from_xxh(XXH3_128bits_withSeed(&in, sizeof in, HL_SEED_SEARCH));
}

uint64_t hl_hash64(const void *p, size_t len, uint64_t seed)
{
	return XXH3_64bits_withSeed(p, len, seed);
}
