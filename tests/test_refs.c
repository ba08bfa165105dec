/*
 * test_refs.c - named refs: set/get/cas, validation of names and ids, a
 * full directory, read-only handles, visibility across handles.
 */
#include "testutil.h"
#include "shm.h"

TestSuite(refs, .fini = tu_unlink_all);

static hl_id snapshot(hl_arena *a, const char *text)
{
	hl_state *s;
	hl_state_new(a, &s);
	hl_state_resize(s, strlen(text));
	hl_state_write(s, 0, text, strlen(text));
	hl_id id;
	cr_assert_eq(hl_commit(s, &id, NULL), 0);
	hl_state_free(s);
	return id;
}

Test(refs, set_get_overwrite)
{
	const char *name;
	hl_arena *a = tu_arena_new("refs", 16 << 20, 4096, &name);
	hl_id x = snapshot(a, "first"), y = snapshot(a, "second"), got;
	cr_assert_eq(hl_ref_get(a, "best", &got), HL_ENOENT);
	cr_assert_eq(hl_ref_set(a, "best", x), 0);
	cr_assert_eq(hl_ref_get(a, "best", &got), 0);
	cr_assert(hl_id_eq(got, x));
	cr_assert_eq(hl_ref_set(a, "best", y), 0);
	cr_assert_eq(hl_ref_get(a, "best", &got), 0);
	cr_assert(hl_id_eq(got, y));
	cr_assert_eq(hl_ref_set(a, "empty", (hl_id){0, 0}), 0);
	cr_assert_eq(hl_ref_get(a, "empty", &got), 0);
	cr_assert(hl_id_is_zero(got));
	/* another handle sees them */
	hl_arena *b;
	cr_assert_eq(hl_arena_attach(name, HL_RDONLY, &b), 0);
	cr_assert_eq(hl_ref_get(b, "best", &got), 0);
	cr_assert(hl_id_eq(got, y));
	cr_assert_eq(hl_ref_set(b, "best", x), HL_EROFS);
	hl_stats st;
	hl_arena_stats(b, &st);
	cr_assert_eq(st.refs, 2);
	hl_arena_close(b);
	hl_arena_close(a);
}

Test(refs, names_and_ids_are_validated)
{
	hl_arena *a = tu_arena_new("refs", 16 << 20, 4096, NULL);
	hl_id x = snapshot(a, "valid"), got;
	char longest[HL_REF_NAME_MAX + 1], too_long[HL_REF_NAME_MAX + 2];
	memset(longest, 'n', HL_REF_NAME_MAX);
	longest[HL_REF_NAME_MAX] = '\0';
	memset(too_long, 'n', HL_REF_NAME_MAX + 1);
	too_long[HL_REF_NAME_MAX + 1] = '\0';
	cr_assert_eq(hl_ref_set(a, longest, x), 0);
	cr_assert_eq(hl_ref_set(a, too_long, x), HL_EINVAL);
	cr_assert_eq(hl_ref_set(a, "", x), HL_EINVAL);
	cr_assert_eq(hl_ref_set(a, NULL, x), HL_EINVAL);
	cr_assert_eq(hl_ref_get(a, "valid", NULL), HL_EINVAL);
	cr_assert_eq(hl_ref_set(a, "ghost", (hl_id){7, 7}), HL_ENOENT);
	cr_assert_eq(hl_ref_get(a, "ghost", &got), HL_ENOENT, "not created");
	/* a leaf's hash is content, not a snapshot */
	hl_state *s;
	hl_state_new(a, &s);
	hl_state_resize(s, 4096);
	hl_state_write(s, 0, "valid", 5);
	hl_id root;
	hl_commit(s, &root, NULL);
	hl_state_free(s);
	static unsigned char chunk[4096];
	memcpy(chunk, "valid", 5);
	hl_id leaf = hl_hash_leaf(chunk, sizeof chunk);
	uint64_t off;
	cr_assert_eq(hl_index_lookup(a, leaf, &off), 0, "the leaf is stored");
	cr_assert_eq(hl_ref_set(a, "leaf", leaf), HL_ENOENT);
	hl_arena_close(a);
}

Test(refs, cas_moves_only_from_the_expected_id)
{
	hl_arena *a = tu_arena_new("refs", 16 << 20, 4096, NULL);
	hl_id x = snapshot(a, "x"), y = snapshot(a, "y"), z = snapshot(a, "z");
	hl_id exp = {0, 0};
	cr_assert_eq(hl_ref_cas(a, "counter", &exp, x), 0, "unset holds zero");
	exp = y;
	cr_assert_eq(hl_ref_cas(a, "counter", &exp, z), HL_EBUSY);
	cr_assert(hl_id_eq(exp, x), "expected gets the current id");
	cr_assert_eq(hl_ref_cas(a, "counter", &exp, z), 0);
	hl_id got;
	hl_ref_get(a, "counter", &got);
	cr_assert(hl_id_eq(got, z));
	exp = (hl_id){9, 9}; /* not even a snapshot: can't be held */
	cr_assert_eq(hl_ref_cas(a, "counter", &exp, x), HL_EBUSY);
	cr_assert(hl_id_eq(exp, z));
	exp = z;
	cr_assert_eq(hl_ref_cas(a, "counter", &exp, (hl_id){9, 9}), HL_ENOENT);
	hl_arena_close(a);
}

Test(refs, a_full_directory_is_efull_and_keeps_what_it_has)
{
	hl_config c;
	tu_config_small(&c, 16 << 20, 4096);
	c.refs_capacity = 8;
	hl_arena *a = tu_arena_create_cfg(tu_arena_name("refs"), &c);
	hl_id x = snapshot(a, "x"), got;
	char name[16];
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof name, "r%d", i);
		cr_assert_eq(hl_ref_set(a, name, x), 0, "%s", name);
	}
	cr_assert_eq(hl_ref_set(a, "one-too-many", x), HL_EFULL);
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof name, "r%d", i);
		cr_assert_eq(hl_ref_get(a, name, &got), 0);
		cr_assert(hl_id_eq(got, x));
		cr_assert_eq(hl_ref_set(a, name, (hl_id){0, 0}), 0, "update still works");
	}
	cr_assert_eq(hl_ref_get(a, "one-too-many", &got), HL_ENOENT);
	tu_assert_arena_ok(a, "full refs");
	hl_arena_close(a);
}

/* Issue 8 item 6: a CAS that fails on a name never set leaves it unset (a
 * get still answers HL_ENOENT) and takes no ref slot, so failed CASes can
 * never fill the directory. */
Test(refs, a_failed_cas_on_an_unset_name_creates_nothing)
{
	hl_config c;
	tu_config_small(&c, 16 << 20, 4096);
	c.refs_capacity = 8;
	hl_arena *a = tu_arena_create_cfg(tu_arena_name("refs"), &c);
	hl_id x = snapshot(a, "x"), y = snapshot(a, "y"), got;
	char name[16];
	for (int i = 0; i < 20; i++) {
		hl_id exp = y;
		snprintf(name, sizeof name, "never-%d", i);
		cr_assert_eq(hl_ref_cas(a, name, &exp, x), HL_EBUSY, "%s", name);
		cr_assert(hl_id_is_zero(exp), "an unset name holds the zero id");
		cr_assert_eq(hl_ref_get(a, name, &got), HL_ENOENT, "%s", name);
		exp = (hl_id){9, 9}; /* not a snapshot: fails the same way */
		cr_assert_eq(hl_ref_cas(a, name, &exp, x), HL_EBUSY, "%s", name);
		cr_assert_eq(hl_ref_get(a, name, &got), HL_ENOENT, "%s", name);
	}
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.refs, 0, "failed CASes took %llu ref slots",
		     (unsigned long long)st.refs);
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof name, "r%d", i);
		cr_assert_eq(hl_ref_set(a, name, x), 0, "%s: room is left", name);
	}
	hl_id exp = {0, 0}; /* the zero id does match an unset name */
	cr_assert_eq(hl_ref_cas(a, "r-new", &exp, x), HL_EFULL);
	tu_assert_arena_ok(a, "after failed CASes");
	hl_arena_close(a);
}
