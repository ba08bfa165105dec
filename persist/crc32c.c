/*
 * crc32c.c - CRC32C, in hardware where the CPU has it and by table where not.
 *
 * Two implementations of one function (see crc32c.h):
 *
 *   hw  SSE4.2's crc32 instruction, 8 bytes per instruction, compiled with
 *       a target attribute so the rest of the library needs no -msse4.2.
 *       Chosen at run time with __builtin_cpu_supports("sse4.2"); on
 *       another architecture it does not exist and sw is used.
 *   sw  slicing-by-8: eight 256-entry tables, 8 bytes per step with one
 *       table look-up per byte and no serial dependency inside a step.
 *
 * Invariants:
 *   1. Both give the same result for every input, split however the caller
 *      splits it (tests check them against each other and against the
 *      RFC 3720 vectors).
 *   2. The tables are built once, before any reader uses them: pthread_once
 *      both builds them and picks the implementation, and its own barrier
 *      is what publishes the tables to every thread that calls through it.
 *      hl_crc32c_sw, called directly, goes through the same once.
 */
#include <pthread.h>
#include <string.h>

#include "crc32c.h"

#define CRC32C_POLY 0x82F63B78u /* reflected Castagnoli */

static uint32_t table[8][256];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool use_hw;

static void init_once(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1u)));
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^
				      table[0][table[t - 1][i] & 0xff];
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	use_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static inline uint64_t load_le64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

uint32_t hl_crc32c_sw(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *b = p;
	pthread_once(&once, init_once);
	crc = ~crc;
	for (; n && ((uintptr_t)b & 7); n--)
		crc = (crc >> 8) ^ table[0][(crc ^ *b++) & 0xff];
	for (; n >= 8; n -= 8, b += 8) {
		uint64_t v = load_le64(b) ^ crc;
		crc = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^
		      table[5][(v >> 16) & 0xff] ^ table[4][(v >> 24) & 0xff] ^
		      table[3][(v >> 32) & 0xff] ^ table[2][(v >> 40) & 0xff] ^
		      table[1][(v >> 48) & 0xff] ^ table[0][v >> 56];
	}
	while (n--)
		crc = (crc >> 8) ^ table[0][(crc ^ *b++) & 0xff];
	return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
uint32_t hl_crc32c_hw(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t c = ~crc;
	for (; n && ((uintptr_t)b & 7); n--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *b++);
	for (; n >= 8; n -= 8, b += 8)
		c = __builtin_ia32_crc32di(c, load_le64(b));
	while (n--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *b++);
	return ~(uint32_t)c;
}
#else
uint32_t hl_crc32c_hw(uint32_t crc, const void *p, size_t n)
{
	return hl_crc32c_sw(crc, p, n); /* no crc32 instruction here */
}
#endif

bool hl_crc32c_hw_available(void)
{
	pthread_once(&once, init_once);
	return use_hw;
}

uint32_t hl_crc32c(uint32_t crc, const void *p, size_t n)
{
	pthread_once(&once, init_once);
	return use_hw ? hl_crc32c_hw(crc, p, n) : hl_crc32c_sw(crc, p, n);
}
