/*
 * test_kit_say.c - how the coordinator kit shows outside text in its
 * messages (coordinator/say.c, hl_fmt_name): an arena name from the
 * command line or a checker's message never reaches a terminal raw.
 *
 *  1. Printable ASCII and valid UTF-8 pass unchanged; control bytes, DEL
 *     and invalid UTF-8 (a lone continuation byte, an overlong form, a
 *     surrogate) become \xNN, a backslash two of them (escape_*).
 *  2. What does not fit is cut at a whole character or escape and marked
 *     "...", never split mid-sequence, never past the buffer (cut_*).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "kit.h"

TestSuite(kit_say, .timeout = 30);

Test(kit_say, escape_what_a_terminal_would_act_on)
{
	struct { const char *in, *out; } cases[] = {
		{"t-arena_1.x", "t-arena_1.x"},
		{"", ""},
		{"a\x1b[2Jb", "a\\x1b[2Jb"},
		{"bell\a", "bell\\x07"},
		{"tab\there", "tab\\x09here"},
		{"del\x7f", "del\\x7f"},
		{"back\\slash", "back\\\\slash"},
		{"caf\xc3\xa9", "caf\xc3\xa9"},              /* é, valid */
		{"\xe2\x82\xac!", "\xe2\x82\xac!"},          /* €, valid */
		{"lone\x80", "lone\\x80"},                   /* continuation */
		{"over\xc0\xaf", "over\\xc0\\xaf"},          /* overlong '/' */
		{"sur\xed\xa0\x80", "sur\\xed\\xa0\\x80"},   /* U+D800 */
		{"cut\xe2\x82", "cut\\xe2\\x82"},            /* truncated */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char buf[64];
		const char *got = hl_fmt_name(buf, sizeof buf, cases[i].in);
		cr_assert_eq(got, buf);
		cr_assert_str_eq(buf, cases[i].out, "case %zu", i);
	}
	char buf[16];
	cr_assert_str_eq(hl_fmt_name(buf, sizeof buf, NULL), "");
}

Test(kit_say, cut_to_fit_at_a_whole_piece)
{
	char buf[12];
	memset(buf, 'Z', sizeof buf);
	hl_fmt_name(buf, sizeof buf, "abcdefghijklmnop");
	cr_assert_str_eq(buf, "abcdefgh...");
	hl_fmt_name(buf, sizeof buf, "abcdefghijk"); /* 11: fits exactly */
	cr_assert_str_eq(buf, "abcdefghijk");
	hl_fmt_name(buf, sizeof buf, "ab\x1b\x1b\x1b\x1b");
	cr_assert_str_eq(buf, "ab\\x1b...", "an escape is never split");
	hl_fmt_name(buf, sizeof buf, "abcdef\xe2\x82\xac\xe2\x82\xac");
	cr_assert_str_eq(buf, "abcdef...", "a UTF-8 sequence is never split");
	char tiny[4] = "xyz";
	hl_fmt_name(tiny, sizeof tiny, "abc");
	cr_assert_str_eq(tiny, "", "too small to say anything: empty");
}
