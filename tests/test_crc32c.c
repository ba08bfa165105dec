/*
 * test_crc32c.c - CRC32C against the published vectors (RFC 3720 B.4 and
 * the "123456789" check value), and the hardware and table paths against
 * each other on every length, alignment and split.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "crc32c.h"

typedef uint32_t crc_fn(uint32_t, const void *, size_t);

static void check_vectors(crc_fn *f, const char *name)
{
	unsigned char b[48];
	cr_expect_eq(f(0, "123456789", 9), 0xE3069283u, "%s: check value", name);
	cr_expect_eq(f(0, "", 0), 0u, "%s: empty", name);
	memset(b, 0, 32);
	cr_expect_eq(f(0, b, 32), 0x8A9136AAu, "%s: 32 zeros", name);
	memset(b, 0xff, 32);
	cr_expect_eq(f(0, b, 32), 0x62A8AB43u, "%s: 32 x 0xff", name);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)i;
	cr_expect_eq(f(0, b, 32), 0x46DD794Eu, "%s: ascending", name);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)(31 - i);
	cr_expect_eq(f(0, b, 32), 0x113FDB5Cu, "%s: descending", name);
	/* RFC 3720 B.4: an iSCSI read command PDU. */
	static const unsigned char pdu[48] = {
		0x01, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0x14, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0x14, 0, 0, 0, 0x18,
		0x28, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0,
	};
	cr_expect_eq(f(0, pdu, 48), 0xD9963A56u, "%s: iSCSI PDU", name);
}

Test(crc32c, software_matches_published_vectors)
{
	check_vectors(hl_crc32c_sw, "sw");
}

Test(crc32c, dispatched_matches_published_vectors)
{
	check_vectors(hl_crc32c, "dispatched");
}

Test(crc32c, hardware_matches_published_vectors)
{
	if (!hl_crc32c_hw_available())
		cr_skip_test("no SSE4.2 crc32 instruction on this CPU");
	check_vectors(hl_crc32c_hw, "hw");
}

/* Every length 0..600 at every alignment 0..7, and every split point of a
 * 300-byte buffer: both paths agree, and pieces chain to the whole. */
Test(crc32c, hardware_and_software_agree_on_lengths_alignments_splits)
{
	static unsigned char b[1024];
	uint64_t s = 0x1234567;
	for (size_t i = 0; i < sizeof b; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		b[i] = (unsigned char)(s >> 56);
	}
	bool hw = hl_crc32c_hw_available();
	for (size_t a = 0; a < 8; a++)
		for (size_t n = 0; n <= 600; n++) {
			uint32_t sw = hl_crc32c_sw(0, b + a, n);
			cr_assert_eq(hl_crc32c(0, b + a, n), sw, "a %zu n %zu", a, n);
			if (hw)
				cr_assert_eq(hl_crc32c_hw(0, b + a, n), sw,
					     "hw a %zu n %zu", a, n);
		}
	uint32_t whole = hl_crc32c_sw(0, b, 300);
	for (size_t k = 0; k <= 300; k++) {
		cr_assert_eq(hl_crc32c_sw(hl_crc32c_sw(0, b, k), b + k, 300 - k),
			     whole, "sw split %zu", k);
		if (hw)
			cr_assert_eq(hl_crc32c_hw(hl_crc32c_hw(0, b, k), b + k,
						  300 - k), whole, "hw split %zu", k);
	}
}

/* A single flipped bit anywhere changes the checksum (CRCs detect every
 * 1-bit error). */
Test(crc32c, every_single_bit_flip_is_detected)
{
	unsigned char b[256];
	for (size_t i = 0; i < sizeof b; i++)
		b[i] = (unsigned char)(i * 7);
	uint32_t good = hl_crc32c(0, b, sizeof b);
	for (size_t bit = 0; bit < 8 * sizeof b; bit++) {
		b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		cr_assert_neq(hl_crc32c(0, b, sizeof b), good, "bit %zu", bit);
		b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	}
}
