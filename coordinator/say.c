/*
 * say.c - the program's one way to report a problem: a single line on
 * stderr, "helios: ...", so scripts and people both read it easily.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kit.h"

void hl_say(const char *fmt, ...)
{
	va_list ap;
	fputs("helios: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int hl_usage(const char *cmd, const char *text, const char *why,
	     const char *what)
{
	if (why)
		hl_say("%s: %s%s%s", cmd, why, what ? ": " : "", what ? what : "");
	fputs(text, stderr);
	return HL_EXIT_USAGE;
}

void hl_fmt_bytes(char *buf, size_t len, uint64_t bytes)
{
	static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	unsigned u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

void hl_fmt_count(char *buf, size_t len, double n)
{
	if (n >= 1e9)
		snprintf(buf, len, "%.2fG", n / 1e9);
	else if (n >= 1e6)
		snprintf(buf, len, "%.2fM", n / 1e6);
	else if (n >= 1e3)
		snprintf(buf, len, "%.1fk", n / 1e3);
	else
		snprintf(buf, len, "%.0f", n);
}

double hl_dedup_ratio(uint64_t dedup_bytes, uint64_t stored_bytes)
{
	uint64_t total = dedup_bytes + stored_bytes;
	return total ? 100.0 * (double)dedup_bytes / (double)total : 0.0;
}

/* Length (2..4) of the valid multi-byte UTF-8 sequence at p (n bytes
 * available), or 0: no overlong forms, no surrogates, nothing above
 * U+10FFFF. For writing JSON and SVG text that must stay valid. */
size_t hl_utf8_len(const unsigned char *p, size_t n)
{
	size_t len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 0;
	if (p[0] < 0xc2 || p[0] > 0xf4 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	uint32_t cp = len == 2 ? p[0] & 0x1fu : len == 3 ? p[0] & 0x0fu : p[0] & 0x07u;
	for (size_t i = 1; i < len; i++)
		cp = (cp << 6) | (p[i] & 0x3fu);
	static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* One byte or UTF-8 sequence of s as printable text in piece; returns the
 * bytes of s it stands for. */
static size_t printable_piece(const unsigned char *p, size_t n, char piece[8])
{
	size_t k = p[0] >= 0x80 ? hl_utf8_len(p, n) : 0;
	if (k) {
		memcpy(piece, p, k);
		piece[k] = '\0';
		return k;
	}
	if (p[0] < 0x20 || p[0] >= 0x7f)
		snprintf(piece, 8, "\\x%02x", p[0]);
	else if (p[0] == '\\')
		snprintf(piece, 8, "\\\\");
	else
		snprintf(piece, 8, "%c", p[0]);
	return 1;
}

/* Bytes the printable form of p[0..n) takes. */
static size_t printable_len(const unsigned char *p, size_t n)
{
	size_t total = 0;
	for (size_t i = 0; i < n;) {
		char piece[8];
		i += printable_piece(p + i, n - i, piece);
		total += strlen(piece);
	}
	return total;
}

const char *hl_fmt_name(char *buf, size_t len, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p), at = 0;
	if (len < 8) {
		if (len)
			buf[0] = '\0';
		return buf;
	}
	/* all of it, or as many whole pieces as leave room for "..." */
	size_t room = printable_len(p, n) < len ? len - 1 : len - 4;
	for (size_t i = 0; i < n;) {
		char piece[8];
		size_t k = printable_piece(p + i, n - i, piece);
		size_t m = strlen(piece);
		if (at + m > room) {
			memcpy(buf + at, "...", 4);
			return buf;
		}
		memcpy(buf + at, piece, m);
		at += m;
		i += k;
	}
	buf[at] = '\0';
	return buf;
}
