/*
 * test_hash.c - content addresses are the same on every CPU (shm/hash.c).
 *
 * Leaves longer than 240 bytes are hashed by libxxhash's runtime-dispatched
 * XXH3 (AVX2 or AVX-512 where the CPU has them), everything else by the
 * inlined copy. An id is a snapshot's name in every arena and on disk, so
 * the kernel that computes it must never change it:
 *
 *   - pinned: ids of fixed inputs, recorded with the scalar/SSE2 build
 *     before dispatch existed, for every node kind and the chunk sizes the
 *     engine uses (32 B Connect Four positions to 1 MiB W2 chunks);
 *   - cross-checked: hl_hash_leaf against this file's own inlined XXH3
 *     (compiled for baseline x86-64: SSE2) at every length 0..5000 and at
 *     several seeds' worth of odd lengths past it, so a dispatched kernel
 *     that disagreed at any tail length would fail here.
 */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "testutil.h"

#include "shm.h"

TestSuite(hash);

#define BIG (1u << 20)

static unsigned char *pattern(void)
{
	unsigned char *b = malloc(BIG);
	cr_assert_not_null(b);
	for (size_t i = 0; i < BIG; i++)
		b[i] = (unsigned char)(i * 131u + 7u);
	return b;
}

static void assert_id(hl_id got, uint64_t lo, uint64_t hi, const char *what)
{
	cr_assert(got.lo == lo && got.hi == hi,
		  "%s: id %016llx%016llx, pinned %016llx%016llx", what,
		  (unsigned long long)got.hi, (unsigned long long)got.lo,
		  (unsigned long long)hi, (unsigned long long)lo);
}

Test(hash, leaf_ids_are_pinned)
{
	static const struct {
		size_t len;
		uint64_t lo, hi;
	} pin[] = {
		{32, 0x92a825e18b79bfefull, 0xbe2006e07967e6dfull},
		{240, 0xe00326e1a26daeb5ull, 0x3d6099341f55b1cdull},
		{4096, 0xd8d741eca75909feull, 0xb402b894e1c449aeull},
		{65536, 0x30cf98f6d8a3a297ull, 0xfad38f8c68ed51caull},
		{BIG, 0x6555318a1359febbull, 0xeb42de41719b1883ull},
	};
	unsigned char *b = pattern();
	for (size_t i = 0; i < sizeof pin / sizeof pin[0]; i++) {
		char what[32];
		snprintf(what, sizeof what, "leaf of %zu B", pin[i].len);
		assert_id(hl_hash_leaf(b, pin[i].len), pin[i].lo, pin[i].hi, what);
	}
	free(b);
}

Test(hash, inner_root_search_and_ref_hashes_are_pinned)
{
	hl_id kids[16];
	for (unsigned i = 0; i < 16; i++)
		kids[i] = (hl_id){.lo = i * 3 + 1, .hi = ~(uint64_t)i};
	assert_id(hl_hash_inner(2, kids, 16), 0x35fc09a667bb84abull,
		  0xebe1119336a3963bull, "inner");
	assert_id(hl_hash_root(4096, 1, kids[3]), 0x36f76555881a72cdull,
		  0xb658eda3fb00a5ccull, "root");
	assert_id(hl_hash_search(kids[5], 77), 0x35227b252847ff98ull,
		  0x0285a913aa9a65c8ull, "search");
	unsigned char *b = pattern();
	cr_assert_eq(hl_hash64(b, 4096, HL_SEED_REF), 0xa540710b286e4231ull);
	free(b);
}

static void assert_same_as_inline(const unsigned char *b, size_t len)
{
	XXH128_hash_t want = XXH3_128bits_withSeed(b, len, HL_SEED_LEAF);
	hl_id got = hl_hash_leaf(b, len);
	cr_assert(got.lo == want.low64 && got.hi == want.high64,
		  "leaf of %zu B: the dispatched id differs from XXH3's", len);
}

Test(hash, leaf_ids_match_the_inline_xxh3_at_every_length)
{
	unsigned char *b = pattern();
	for (size_t len = 0; len <= 5000; len++)
		assert_same_as_inline(b, len);
	/* odd lengths and offsets past the stripe sizes: tails of every shape */
	for (size_t len = 5001; len < BIG - 64; len = len * 3 + 17)
		for (size_t at = 0; at < 64; at += 13)
			assert_same_as_inline(b + at, len);
	free(b);
}
