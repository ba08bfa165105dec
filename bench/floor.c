/*
 * floor.c - the "floor" row of `helios bench`: the least a W1 commit can
 * cost on this machine, measured in the same run as Helios.
 *
 * A W1 commit must at the very least hash the changed 4 KiB chunk
 * (XXH3-128, the same dispatched call the engine makes: hl_hash_leaf),
 * copy it into shared memory it has not touched recently, and publish it
 * with one compare-and-swap on an index word that is not in any cache.
 * Each sample times exactly that triple:
 *
 *   hash   hl_hash_leaf(src, 4096), src the working state: one private
 *          4 KiB chunk, warm, as a W1 worker's state is
 *   copy   memcpy(dst_i, src, 4096), dst_i a page not touched for a
 *          whole pass over FLOOR_POOL_BYTES (cold in every cache level)
 *   CAS    a strong CAS on a random 8-byte word of a FLOOR_POOL_BYTES
 *          table (a cold line, as an index bucket is)
 *
 * Invariants:
 *  1. Every page of the pools is written before timing starts, so no
 *     sample takes a page fault: the floor is the hardware's, and Helios's
 *     default-configuration row above it shows what its own page handling
 *     costs on top.
 *  2. The pools (2 x FLOOR_POOL_BYTES) are larger than any last-level cache
 *     of the machines Helios targets, and consecutive samples use pages a
 *     pool apart, so the copy's destination and the CAS's line are cold.
 *  3. The source chunk changes before each sample (64 bytes at a moving
 *     offset, as W1 writes), so nothing is hoisted out of the loop.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"
#include "shm.h"

#define FLOOR_CHUNK 4096u
/* 2 x 64 MiB: larger than the L3 of the 2-socket EPYC/Xeon VMs measured */
#define FLOOR_POOL_BYTES (64ull << 20)

static void *pool_new(void)
{
	void *p = mmap(NULL, FLOOR_POOL_BYTES, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	memset(p, 1, FLOOR_POOL_BYTES); /* invariant 1 */
	return p;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t one_sample(unsigned char *src, unsigned char *dst,
			   _Atomic uint64_t *word, uint64_t i, uint64_t timer_ns)
{
	uint64_t t0 = hl_now_ns();
	hl_id h = hl_hash_leaf(src, FLOOR_CHUNK);
	memcpy(dst, src, FLOOR_CHUNK);
	uint64_t expected = atomic_load_explicit(word, memory_order_relaxed);
	atomic_compare_exchange_strong_explicit(word, &expected, h.lo ^ i,
						memory_order_release,
						memory_order_relaxed);
	uint64_t d = hl_now_ns() - t0;
	return d > timer_ns ? d - timer_ns : 0; /* as the workers' samples */
}

int hl_bench_floor(struct hl_hist *out, uint64_t samples, uint64_t timer_ns)
{
	static unsigned char src[FLOOR_CHUNK];
	unsigned char *dst = pool_new();
	_Atomic uint64_t *table = pool_new();
	int rc = HL_ENOMEM;
	uint64_t pages = FLOOR_POOL_BYTES / FLOOR_CHUNK, words = FLOOR_POOL_BYTES / 8;
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	if (!dst || !table)
		goto out_unmap;
	hl_hist_init(out);
	for (uint64_t i = 0; i < samples; i++) {
		/* invariant 2: a large odd stride visits every page once per
		 * pass, far from the last; invariant 3: a fresh 64 B write */
		uint64_t page = (i * 7919u) % pages;
		memcpy(src + (i * 64u) % FLOOR_CHUNK, &i, sizeof i);
		hl_hist_add(out, one_sample(src, dst + page * FLOOR_CHUNK,
					    &table[xorshift(&rng) % words], i,
					    timer_ns));
	}
	rc = 0;
out_unmap:
	if (dst)
		munmap(dst, FLOOR_POOL_BYTES);
	if (table)
		munmap((void *)table, FLOOR_POOL_BYTES);
	return rc;
}
