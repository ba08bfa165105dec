/*
 * test_kit_args.c - the command-line value parsers of the coordinator kit
 * (coordinator/args.c) that `helios run`, `helios stat` and `helios bench`
 * share: what a user types is what the program uses, or it is refused.
 *
 *  1. Counts (hl_parse_u64): digits only, up to the caller's bound; no
 *     sign, no white space, no hex, no trailing garbage; 2^64-1 is the
 *     largest and one more overflows (u64_*).
 *  2. Sizes (hl_parse_size): a count with an optional binary suffix k/M/G/T
 *     (either case), optionally followed by "iB" or "B"; overflow after the
 *     shift is refused (size_*).
 *  3. Seconds (hl_parse_seconds): plain decimals within [0, max]; no sign,
 *     exponent, "inf" or "nan" (seconds_*).
 *  4. Lists (hl_parse_u64_list): comma lists of counts in [min, max]; an
 *     empty item is refused, as is a list longer than its room (list_*).
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "kit.h"

TestSuite(kit_args, .timeout = 30);

/* ---- 1. counts ------------------------------------------------------------ */

Test(kit_args, u64_accepts_plain_decimals)
{
	struct { const char *s; uint64_t max, want; } ok[] = {
		{"0", 10, 0}, {"7", 10, 7}, {"10", 10, 10}, {"007", 10, 7},
		{"1000", 1000, 1000},
		{"18446744073709551615", UINT64_MAX, UINT64_MAX},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		uint64_t v = 12345;
		cr_assert(hl_parse_u64(ok[i].s, ok[i].max, &v), "\"%s\" refused",
			  ok[i].s);
		cr_assert_eq(v, ok[i].want, "\"%s\" parsed as %llu", ok[i].s,
			     (unsigned long long)v);
	}
}

Test(kit_args, u64_refuses_signs_spaces_and_garbage)
{
	const char *bad[] = {
		"", " ", "-1", " -1", "-0", "+2", " 2", "2 ", "\t2", "\n2", "2\n",
		"0x10", "1e3", "1.0", "12abc", "abc", "1,2", "١",
		"18446744073709551616",      /* 2^64: overflow */
		"99999999999999999999999",   /* far past it */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t v = 42;
		cr_assert_not(hl_parse_u64(bad[i], UINT64_MAX, &v),
			      "\"%s\" accepted as %llu", bad[i],
			      (unsigned long long)v);
		cr_assert_eq(v, 42, "a refused \"%s\" changed the output", bad[i]);
	}
	cr_assert_not(hl_parse_u64(NULL, 10, &(uint64_t){0}));
}

Test(kit_args, u64_bound_is_inclusive)
{
	uint64_t v;
	cr_assert(hl_parse_u64("1000", 1000, &v));
	cr_assert_not(hl_parse_u64("1001", 1000, &v));
	cr_assert_not(hl_parse_u64("1", 0, &v));
	cr_assert(hl_parse_u64("0", 0, &v));
}

/* ---- 2. sizes ------------------------------------------------------------- */

Test(kit_args, size_suffixes)
{
	struct { const char *s; uint64_t want; } ok[] = {
		{"0", 0}, {"4096", 4096}, {"4096B", 4096},
		{"64k", 64ull << 10}, {"64K", 64ull << 10}, {"64KiB", 64ull << 10},
		{"64KB", 64ull << 10}, {"512M", 512ull << 20},
		{"512m", 512ull << 20}, {"512MiB", 512ull << 20},
		{"2G", 2ull << 30}, {"2g", 2ull << 30}, {"2GiB", 2ull << 30},
		{"2GB", 2ull << 30}, {"1T", 1ull << 40}, {"1TiB", 1ull << 40},
		{"16777215T", 16777215ull << 40},
		{"18446744073709551615", UINT64_MAX},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		uint64_t v = 1;
		cr_assert(hl_parse_size(ok[i].s, &v), "\"%s\" refused", ok[i].s);
		cr_assert_eq(v, ok[i].want, "\"%s\" parsed as %llu", ok[i].s,
			     (unsigned long long)v);
	}
}

Test(kit_args, size_refuses_signs_garbage_and_overflow)
{
	const char *bad[] = {
		"", "G", "-1", " -1", "-1G", "+1G", " 1G", "1G ", "1 G", "1.5G",
		"0x10", "1e9", "1P", "1X", "1Gi", "1GiBB", "1iB", "1BB", "1kk",
		"lots",
		"16777216T",                 /* 2^64 after the shift */
		"17179869184G",              /* 2^64 after the shift */
		"18446744073709551615k",     /* the shift overflows */
		"18446744073709551616",      /* 2^64 before any shift */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t v = 42;
		cr_assert_not(hl_parse_size(bad[i], &v), "\"%s\" accepted as %llu",
			      bad[i], (unsigned long long)v);
		cr_assert_eq(v, 42, "a refused \"%s\" changed the output", bad[i]);
	}
	cr_assert_not(hl_parse_size(NULL, &(uint64_t){0}));
}

/* ---- 3. seconds ----------------------------------------------------------- */

Test(kit_args, seconds_plain_decimals)
{
	struct { const char *s; double want; } ok[] = {
		{"0", 0}, {"2", 2}, {"0.5", 0.5}, {"10.", 10}, {"1.25", 1.25},
		{"1000000000", 1e9},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		double v = -1;
		cr_assert(hl_parse_seconds(ok[i].s, 1e9, &v), "\"%s\" refused",
			  ok[i].s);
		cr_assert_float_eq(v, ok[i].want, 1e-12, "\"%s\" parsed as %g",
				   ok[i].s, v);
	}
}

Test(kit_args, seconds_refuses_what_strtod_would_take)
{
	const char *bad[] = {
		"", " ", "-1", " 1", "+1", "1 ", ".5", "1e3", "1E3", "0x10",
		"inf", "nan", "infinity", "1..2", "1.2.3", "1s", "2,5",
		"1000000001", /* past the bound */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		double v = 42;
		cr_assert_not(hl_parse_seconds(bad[i], 1e9, &v),
			      "\"%s\" accepted as %g", bad[i], v);
		cr_assert_float_eq(v, 42, 0, "a refused \"%s\" changed the output",
				   bad[i]);
	}
	cr_assert_not(hl_parse_seconds(NULL, 1, &(double){0}));
}

/* ---- 4. lists ------------------------------------------------------------- */

Test(kit_args, list_of_counts)
{
	uint64_t v[4];
	unsigned n = 99;
	cr_assert_eq(hl_parse_u64_list("1,2,4", 1, 1000, v, 4, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert(v[0] == 1 && v[1] == 2 && v[2] == 4);
	cr_assert_eq(hl_parse_u64_list("1000", 1, 1000, v, 4, &n), 0);
	cr_assert(n == 1 && v[0] == 1000);
	cr_assert_eq(hl_parse_u64_list("8,8,8,8", 1, 1000, v, 4, &n), 0);
	cr_assert_eq(n, 4, "a list exactly as long as its room");
}

Test(kit_args, list_refuses_empty_items_and_bad_counts)
{
	const char *bad[] = {
		"", ",", "1,,2", ",1", "1,", "1, 2", " 1,2", "1,+2", "1,-2",
		"1,0",      /* below min */
		"1,1001",   /* above max */
		"1;2", "1 2", "a,b",
		"1,000000000000000000000000002", /* an item too long to hold */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t v[4];
		unsigned n = 99;
		cr_assert_eq(hl_parse_u64_list(bad[i], 1, 1000, v, 4, &n), HL_EINVAL,
			     "\"%s\" not refused", bad[i]);
		cr_assert_eq(n, 99, "a refused \"%s\" changed the count", bad[i]);
	}
	uint64_t v[1];
	unsigned n = 0;
	cr_assert_eq(hl_parse_u64_list(NULL, 1, 10, v, 1, &n), HL_EINVAL);
}

Test(kit_args, list_longer_than_its_room)
{
	uint64_t v[2];
	unsigned n = 99;
	cr_assert_eq(hl_parse_u64_list("1,2,3", 1, 10, v, 2, &n), HL_ERANGE);
	cr_assert_eq(n, 99);
}
