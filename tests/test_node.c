/*
 * test_node.c - the validated node accessor (hl_node_get, shm.h): every
 * reader follows an offset into a node only through it, so a node whose
 * header looks plausible but whose payload is short or overlong for its
 * kind is refused, never read past.
 *
 * Each test commits a real snapshot, then crafts one node of it (a leaf,
 * an inner node or a root) with a payload length that does not match its
 * kind, or a count or level outside its kind's range, and checks what a
 * user sees: hl_restore / hl_state_read / hl_state_view / hl_diff answer
 * HL_ECORRUPT (never bytes), hl_arena_check names the fault, and
 * hl_node_fault says which rule failed. The last tests pin the rule table.
 *
 * The leaf tests place the crafted leaf in the last bytes of the heap, so
 * before the accessor the old check (header plus the *recorded* payload
 * inside the heap) passed a short leaf and hl_state_read copied chunk_bytes
 * from past the heap's end.
 */
#include "testutil.h"

#include "shm.h"

TestSuite(node, .fini = tu_unlink_all);

#define CHUNK 4096u

struct fixture {
	hl_arena *a;
	hl_id one;     /* a one-chunk snapshot: root -> leaf */
	hl_id two;     /* a 16-chunk snapshot: root -> inner -> leaves */
	uint64_t one_root, two_root;
};

static uint64_t root_of(hl_arena *a, hl_id id)
{
	uint64_t off = 0;
	cr_assert_eq(hl_index_lookup(a, id, &off), 0);
	return off;
}

static hl_id commit_pattern(hl_arena *a, uint64_t bytes, uint32_t gen)
{
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	cr_assert_eq(hl_state_resize(s, bytes), 0);
	unsigned char *buf = malloc(bytes);
	tu_pattern_fill(buf, 0, bytes, gen);
	cr_assert_eq(hl_state_write(s, 0, buf, bytes), 0);
	hl_id id;
	cr_assert_eq(hl_commit(s, &id, NULL), 0);
	hl_state_free(s);
	free(buf);
	return id;
}

static void setup(struct fixture *f)
{
	f->a = tu_arena_new("node", 16u << 20, CHUNK, NULL);
	f->one = commit_pattern(f->a, CHUNK, 1);
	f->two = commit_pattern(f->a, 16 * CHUNK, 2);
	f->one_root = root_of(f->a, f->one);
	f->two_root = root_of(f->a, f->two);
	tu_assert_arena_ok(f->a, "after setup");
}

static struct hl_root_payload *root_payload(hl_arena *a, uint64_t off)
{
	return (struct hl_root_payload *)hl_node_at(a, off)->payload;
}

/* Copies the leaf under one's root to the last `room` bytes of the heap
 * with payload_bytes set to `payload`, and points the root at the copy. */
static uint64_t leaf_at_heap_end(struct fixture *f, uint32_t payload,
				 uint64_t room)
{
	const struct hl_region *h = hl_region(f->a, HL_REGION_HEAP);
	uint64_t off = h->off + h->bytes - room;
	struct hl_root_payload *r = root_payload(f->a, f->one_root);
	struct hl_node *orig = hl_node_at(f->a, r->top_off);
	struct hl_node *n = hl_node_at(f->a, off);
	memcpy(n, orig, sizeof *n + (room - sizeof *n < CHUNK ? room - sizeof *n : CHUNK));
	n->payload_bytes = payload;
	r->top_off = off;
	return off;
}

/* What a user reading snapshot id must see: HL_ECORRUPT, never bytes. */
static void assert_reads_refused(hl_arena *a, hl_id id)
{
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	int rc = hl_restore(s, id);
	if (rc == 0) {
		unsigned char buf[CHUNK];
		rc = hl_state_read(s, 0, buf, sizeof buf);
		cr_assert_eq(rc, HL_ECORRUPT, "hl_state_read: %s", hl_strerror(rc));
		const void *p;
		size_t len;
		cr_assert_eq(hl_state_view(s, 0, &p, &len), HL_ECORRUPT);
	} else {
		cr_assert_eq(rc, HL_ECORRUPT, "hl_restore: %s", hl_strerror(rc));
	}
	hl_state_free(s);
}

static void assert_check_names(hl_arena *a, const char *what)
{
	char msg[256] = "";
	cr_assert_eq(hl_arena_check(a, msg, sizeof msg), HL_ECORRUPT);
	cr_assert(strstr(msg, what), "check said '%s', not '%s'", msg, what);
}

Test(node, short_leaf_at_heap_end_is_refused)
{
	struct fixture f;
	setup(&f);
	uint64_t off = leaf_at_heap_end(&f, 64, 128);
	cr_assert_eq(hl_node_fault(f.a, off, HL_NODE_LEAF, 0), HL_NODE_F_PAYLOAD);
	cr_assert_null(hl_node_get(f.a, off, HL_NODE_LEAF, 0));
	assert_reads_refused(f.a, f.one);
	assert_check_names(f.a, hl_node_fault_str(HL_NODE_F_PAYLOAD));
}

Test(node, overlong_leaf_is_refused)
{
	struct fixture f;
	setup(&f);
	struct hl_node *leaf =
		hl_node_at(f.a, root_payload(f.a, f.one_root)->top_off);
	leaf->payload_bytes = 2 * CHUNK;
	assert_reads_refused(f.a, f.one);
	assert_check_names(f.a, "payload length");
}

Test(node, leaf_payload_past_heap_is_refused)
{
	struct fixture f;
	setup(&f);
	/* the right length, but only 1 KiB of heap is left under it */
	uint64_t off = leaf_at_heap_end(&f, CHUNK, 1024);
	cr_assert_eq(hl_node_fault(f.a, off, HL_NODE_LEAF, 0), HL_NODE_F_PAST_HEAP);
	assert_reads_refused(f.a, f.one);
}

Test(node, inner_payload_short_for_its_count_is_refused)
{
	struct fixture f;
	setup(&f);
	struct hl_node *inner =
		hl_node_at(f.a, root_payload(f.a, f.two_root)->top_off);
	cr_assert_eq(inner->kind, HL_NODE_INNER);
	cr_assert_eq(inner->count, 16);
	inner->payload_bytes = hl_inner_payload_bytes(4);
	assert_reads_refused(f.a, f.two);
	assert_check_names(f.a, "payload length");
	inner->payload_bytes = hl_inner_payload_bytes(17);
	assert_reads_refused(f.a, f.two);
}

Test(node, inner_count_out_of_range_is_refused)
{
	struct fixture f;
	setup(&f);
	struct hl_node *inner =
		hl_node_at(f.a, root_payload(f.a, f.two_root)->top_off);
	uint64_t off = hl_off(f.a, inner);
	inner->count = 17;
	inner->payload_bytes = hl_inner_payload_bytes(17);
	cr_assert_eq(hl_node_fault(f.a, off, HL_NODE_INNER, 1), HL_NODE_F_COUNT);
	assert_reads_refused(f.a, f.two);
	inner->count = 0;
	inner->payload_bytes = 0;
	cr_assert_eq(hl_node_fault(f.a, off, HL_NODE_INNER, 1), HL_NODE_F_COUNT);
	assert_reads_refused(f.a, f.two);
}

Test(node, root_payload_short_or_long_is_refused)
{
	struct fixture f;
	setup(&f);
	struct hl_node *root = hl_node_at(f.a, f.one_root);
	root->payload_bytes = 16;
	cr_assert_eq(hl_node_fault(f.a, f.one_root, HL_NODE_ROOT, HL_NODE_LEVEL_ANY),
		     HL_NODE_F_PAYLOAD);
	assert_reads_refused(f.a, f.one);
	assert_check_names(f.a, "payload length");
	root->payload_bytes = 48;
	assert_reads_refused(f.a, f.one);
	root->payload_bytes = sizeof(struct hl_root_payload);
	root->aux = HL_STATE_BYTES_MAX + 1;
	cr_assert_eq(hl_node_fault(f.a, f.one_root, HL_NODE_ROOT, HL_NODE_LEVEL_ANY),
		     HL_NODE_F_AUX);
	assert_reads_refused(f.a, f.one);
}

Test(node, wrong_kind_or_level_is_refused)
{
	struct fixture f;
	setup(&f);
	struct hl_node *leaf =
		hl_node_at(f.a, root_payload(f.a, f.one_root)->top_off);
	uint64_t off = hl_off(f.a, leaf);
	leaf->kind = 200;
	cr_assert_eq(hl_node_fault(f.a, off, HL_NODE_KIND_ANY, HL_NODE_LEVEL_ANY),
		     HL_NODE_F_KIND);
	assert_reads_refused(f.a, f.one);
	leaf->kind = HL_NODE_INNER; /* an inner node's kind at a leaf's place */
	assert_reads_refused(f.a, f.one);
	leaf->kind = HL_NODE_LEAF;
	leaf->level = 1;
	cr_assert_eq(hl_node_fault(f.a, off, HL_NODE_LEAF, 0), HL_NODE_F_LEVEL);
	assert_reads_refused(f.a, f.one);
	leaf->level = 0;
	tu_assert_arena_ok(f.a, "after repair");
}

static int count_run(uint64_t off, uint64_t len, void *ctx)
{
	(void)off, (void)len, (void)ctx;
	return 0;
}

Test(node, diff_over_a_bad_node_is_refused)
{
	struct fixture f;
	setup(&f);
	hl_id other = commit_pattern(f.a, 16 * CHUNK, 3);
	struct hl_node *inner =
		hl_node_at(f.a, root_payload(f.a, f.two_root)->top_off);
	inner->payload_bytes = hl_inner_payload_bytes(2);
	int rc = hl_diff(f.a, f.two, other, count_run, NULL);
	cr_assert_eq(rc, HL_ECORRUPT, "hl_diff: %s", hl_strerror(rc));
}

Test(node, offsets_outside_or_unaligned_are_refused)
{
	struct fixture f;
	setup(&f);
	const struct hl_region *h = hl_region(f.a, HL_REGION_HEAP);
	cr_assert_eq(hl_node_fault(f.a, 0, HL_NODE_KIND_ANY, HL_NODE_LEVEL_ANY),
		     HL_NODE_F_OUTSIDE);
	cr_assert_eq(hl_node_fault(f.a, h->off + 8, HL_NODE_KIND_ANY,
				   HL_NODE_LEVEL_ANY), HL_NODE_F_OUTSIDE);
	cr_assert_eq(hl_node_fault(f.a, h->off + h->bytes, HL_NODE_KIND_ANY,
				   HL_NODE_LEVEL_ANY), HL_NODE_F_OUTSIDE);
	cr_assert_eq(hl_node_fault(f.a, UINT64_MAX - 31, HL_NODE_KIND_ANY,
				   HL_NODE_LEVEL_ANY), HL_NODE_F_OUTSIDE);
}

Test(node, well_formed_nodes_pass_with_their_kind_only)
{
	struct fixture f;
	setup(&f);
	uint64_t leaf = root_payload(f.a, f.one_root)->top_off;
	uint64_t inner = root_payload(f.a, f.two_root)->top_off;
	cr_assert_not_null(hl_node_get(f.a, leaf, HL_NODE_LEAF, 0));
	cr_assert_not_null(hl_node_get(f.a, inner, HL_NODE_INNER, 1));
	cr_assert_not_null(hl_node_get(f.a, f.one_root, HL_NODE_ROOT, 0));
	cr_assert_not_null(hl_node_get(f.a, f.two_root, HL_NODE_ROOT, 1));
	cr_assert_null(hl_node_get(f.a, leaf, HL_NODE_INNER, HL_NODE_LEVEL_ANY));
	cr_assert_null(hl_node_get(f.a, inner, HL_NODE_INNER, 2));
	cr_assert_null(hl_node_get(f.a, f.one_root, HL_NODE_LEAF, 0));
}

Test(node, rule_table_covers_every_kind)
{
	cr_assert_null(hl_node_rule(0));
	cr_assert_null(hl_node_rule(HL_NODE_SEARCH + 1));
	cr_assert_null(hl_node_rule(255));
	for (unsigned k = HL_NODE_LEAF; k <= HL_NODE_SEARCH; k++) {
		const struct hl_node_rule *r = hl_node_rule(k);
		cr_assert_not_null(r, "kind %u has no rule", k);
		cr_assert_leq(r->level_min, r->level_max);
		cr_assert_lt(r->level_max, HL_LEVELS_MAX);
		cr_assert_leq(r->count_min, r->count_max);
		cr_assert(r->payload >= HL_PAYLOAD_CHUNK && r->payload <= HL_PAYLOAD_LINEAR);
	}
	for (int f = HL_NODE_OK; f <= HL_NODE_F_PAST_HEAP; f++)
		cr_assert_str_neq(hl_node_fault_str(f), "unknown fault");
}
