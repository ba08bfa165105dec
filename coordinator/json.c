/*
 * json.c - the one JSON writer every Helios program uses (`helios stat
 * --json`, `helios bench --json`, helios-bench-micro --json, and the
 * search summaries to come), so escaping, commas and numbers are right in
 * one place.
 *
 * The writer places the commas: it keeps, per open object or array, whether
 * a member was written yet. Callers name a key for members of objects and
 * pass NULL inside arrays and at the top.
 *
 * Invariants:
 *  1. The output is always valid JSON text (RFC 8259) whatever the bytes
 *     given: control characters are escaped, bytes that are not UTF-8 (a
 *     path name may hold any) become U+FFFD (hl_utf8_len, say.c, is the one
 *     UTF-8 check), and a number that is not finite is written as null.
 *  2. Strings are read up to their NUL or `max` bytes, whichever comes
 *     first, so an unterminated array from outside is never overrun.
 *  3. Nesting deeper than HL_JSON_DEPTH_MAX, or a close without an open, is
 *     a programmer error and asserts.
 *
 * Compact by default (one line: --watch --json is JSON Lines); `pretty`
 * starts each member on its own line, indented by depth, for reports people
 * also read.
 */
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "kit.h"

void hl_json_begin(struct hl_json *j, FILE *f, bool pretty)
{
	memset(j, 0, sizeof *j);
	j->f = f;
	j->pretty = pretty;
	j->first[0] = true;
}

static void escape_char(FILE *f, unsigned char c)
{
	switch (c) {
	case '"': fputs("\\\"", f); return;
	case '\\': fputs("\\\\", f); return;
	case '\b': fputs("\\b", f); return;
	case '\f': fputs("\\f", f); return;
	case '\n': fputs("\\n", f); return;
	case '\r': fputs("\\r", f); return;
	case '\t': fputs("\\t", f); return;
	}
	if (c < 0x20 || c == 0x7f)
		fprintf(f, "\\u%04x", c);
	else
		fputc(c, f);
}

void hl_json_string(FILE *f, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strnlen((const char *)p, max);
	fputc('"', f);
	for (size_t i = 0; i < n;) {
		if (p[i] < 0x80) {
			escape_char(f, p[i++]);
			continue;
		}
		size_t len = hl_utf8_len(p + i, n - i);
		if (len == 0) {
			fputs("\\ufffd", f);
			i++;
		} else {
			fwrite(p + i, 1, len, f);
			i += len;
		}
	}
	fputc('"', f);
}

void hl_json_key(struct hl_json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	if (j->pretty && j->depth > 0)
		fprintf(j->f, "\n%*s", 2 * j->depth, "");
	if (key) {
		hl_json_string(j->f, key, SIZE_MAX);
		fputs(j->pretty ? ": " : ":", j->f);
	}
}

void hl_json_open(struct hl_json *j, const char *key, char bracket)
{
	assert(bracket == '{' || bracket == '[');
	assert(j->depth + 1 < HL_JSON_DEPTH_MAX);
	hl_json_key(j, key);
	fputc(bracket, j->f);
	j->close[++j->depth] = bracket == '{' ? '}' : ']';
	j->first[j->depth] = true;
}

void hl_json_close(struct hl_json *j)
{
	assert(j->depth > 0);
	if (j->pretty && !j->first[j->depth])
		fprintf(j->f, "\n%*s", 2 * (j->depth - 1), "");
	fputc(j->close[j->depth--], j->f);
}

void hl_json_u64(struct hl_json *j, const char *key, uint64_t v)
{
	hl_json_key(j, key);
	fprintf(j->f, "%" PRIu64, v);
}

void hl_json_num(struct hl_json *j, const char *key, double v)
{
	hl_json_key(j, key);
	if (isfinite(v))
		fprintf(j->f, "%.10g", v);
	else
		fputs("null", j->f);
}

void hl_json_fixed(struct hl_json *j, const char *key, double v, int decimals)
{
	hl_json_key(j, key);
	if (isfinite(v))
		fprintf(j->f, "%.*f", decimals, v);
	else
		fputs("null", j->f);
}

void hl_json_str(struct hl_json *j, const char *key, const char *s, size_t max)
{
	hl_json_key(j, key);
	hl_json_string(j->f, s, max);
}

void hl_json_bool(struct hl_json *j, const char *key, bool v)
{
	hl_json_key(j, key);
	fputs(v ? "true" : "false", j->f);
}

void hl_json_null(struct hl_json *j, const char *key)
{
	hl_json_key(j, key);
	fputs("null", j->f);
}

int hl_json_end(struct hl_json *j)
{
	assert(j->depth == 0);
	fputc('\n', j->f);
	return ferror(j->f) ? HL_EIO : 0;
}
