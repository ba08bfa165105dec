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
 * XXH_INLINE_ALL lets the compiler inline XXH3 into these three functions:
 * the leaf hash is most of a commit's cost.
 */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "shm.h"

static hl_id from_xxh(XXH128_hash_t h)
{
	return (hl_id){.lo = h.low64, .hi = h.high64};
}

hl_id hl_hash_leaf(const void *chunk, size_t len)
{
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
