/*
 * args.c - the command-line value parsers every `helios` subcommand shares,
 * so "2G", "0.5", "64" and "1,2,4" mean the same to run, bench and stat.
 *
 * Invariants:
 *  1. Each takes the whole string or nothing: a value is refused (false),
 *     never clamped, when it has trailing garbage, an overflow, or a value
 *     past the caller's bound.
 *  2. A number starts with a decimal digit. strtoull and strtod skip
 *     leading white space and take a sign ("-1" wraps to 2^64-1 in
 *     strtoull, " 2" and "+2" pass), hex ("0x10") and, for strtod, "inf",
 *     "nan" and exponents: the digit test before the conversion refuses all
 *     of them, so what a user typed is what the program uses.
 *  3. A list is one or more values separated by single commas: an empty
 *     item ("1,,2", ",1", "1,") is a refusal, not a skipped item (strtok
 *     would skip it silently).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kit.h"

static bool starts_with_digit(const char *s)
{
	return s && s[0] >= '0' && s[0] <= '9';
}

bool hl_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	if (!starts_with_digit(s)) /* invariant 2 */
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

/* The binary shift a size suffix stands for ("k" 10 ... "t" 40), 0 for
 * none; *s moves past it and its optional "iB" or "B". -1: no suffix this
 * parser knows. */
static int size_suffix(const char **s)
{
	const char *p = *s;
	int shift = 0;
	switch (*p) {
	case 'k': case 'K': shift = 10; p++; break;
	case 'm': case 'M': shift = 20; p++; break;
	case 'g': case 'G': shift = 30; p++; break;
	case 't': case 'T': shift = 40; p++; break;
	}
	if (shift && p[0] == 'i' && p[1] == 'B')
		p += 2;
	else if (*p == 'B')
		p++;
	if (*p)
		return -1;
	*s = p;
	return shift;
}

bool hl_parse_size(const char *s, uint64_t *out)
{
	if (!starts_with_digit(s)) /* invariant 2 */
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return false;
	const char *rest = end;
	int shift = size_suffix(&rest);
	if (shift < 0 || v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

/* Digits, then optionally '.' and more digits: the only forms of a number
 * of seconds a user means ("2", "0.5", "10.") - no exponent, hex or
 * "inf" (invariant 2). */
static bool plain_decimal(const char *s)
{
	if (!starts_with_digit(s))
		return false;
	s += strspn(s, "0123456789");
	if (*s == '.')
		s += 1 + strspn(s + 1, "0123456789");
	return *s == '\0';
}

bool hl_parse_seconds(const char *s, double max, double *out)
{
	if (!plain_decimal(s))
		return false;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !(v >= 0) || v > max)
		return false;
	*out = v;
	return true;
}

int hl_parse_u64_list(const char *s, uint64_t min, uint64_t max,
		      uint64_t *out, unsigned cap, unsigned *n)
{
	if (!s || !*s)
		return HL_EINVAL;
	unsigned count = 0;
	for (const char *p = s;; p++) {
		size_t len = strcspn(p, ",");
		char item[24]; /* 20 digits of UINT64_MAX, and room to refuse */
		uint64_t v;
		if (len == 0 || len >= sizeof item) /* invariant 3 */
			return HL_EINVAL;
		memcpy(item, p, len);
		item[len] = '\0';
		if (!hl_parse_u64(item, max, &v) || v < min)
			return HL_EINVAL;
		if (count == cap)
			return HL_ERANGE;
		out[count++] = v;
		p += len;
		if (*p == '\0')
			break;
	}
	*n = count;
	return 0;
}
