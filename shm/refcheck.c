/*
 * refcheck.c - the refs checker: every entry of the named-refs table is one
 * that hl_ref_get can find and follow.
 *
 * The table's writers live in workers/refs.c; this file only reads (it runs
 * on read-only handles too, from hl_arena_check), and lives in shm/ because
 * the checker that calls it does. What it proves, per slot p of the table
 * (layout.h draws it), pairing the checks refs.c makes on write:
 *
 *  1. name_off is 0 or an object of the ref-name class (placed by the slab
 *     map, like every heap object), and a slot without a name holds no
 *     value (root_off 0): set publishes the name before the value.
 *  2. The name object is well formed: 1..HL_REF_NAME_MAX bytes, and its
 *     name_hash is the name's XXH3-64 with the refs seed.
 *  3. The name is reachable: every slot from its home (hash % capacity) up
 *     to p is named (a look-up stops at the first empty slot), and none of
 *     them holds the same name (a name has one slot).
 *  4. root_off is 0 (the zero id) or a root node inside the heap whose own
 *     hash the index maps to this very offset: a ref names a snapshot that
 *     exists.
 *
 * Like the other checkers it is exact when the arena is quiet; concurrent
 * sets may make it see a name published a moment before its value.
 * Cost: O(capacity x longest probe run).
 */
#include <string.h>

#include "shm.h"

static const struct hl_ref_slot *ref_table(const hl_arena *a)
{
	return hl_at(a, a->hdr->regions[HL_REGION_REFS].off);
}

/* Invariant 2 for the name at off (already placed by invariant 1). */
static bool name_sane(const hl_arena *a, uint64_t off)
{
	const struct hl_ref_name *n = hl_at(a, off);
	return n->len >= 1 && n->len <= HL_REF_NAME_MAX &&
	       memchr(n->name, '\0', n->len) == NULL &&
	       n->name_hash == hl_hash64(n->name, n->len, HL_SEED_REF);
}

static bool same_name(const hl_arena *a, uint64_t x, uint64_t y)
{
	const struct hl_ref_name *p = hl_at(a, x), *q = hl_at(a, y);
	return p->len == q->len && memcmp(p->name, q->name, p->len) == 0;
}

/* Invariant 3 for the name at slot p. */
static int check_reachable(const hl_arena *a, uint32_t p, uint64_t off,
			   char *msg, size_t len)
{
	const struct hl_ref_slot *t = ref_table(a);
	const struct hl_ref_name *n = hl_at(a, off);
	uint32_t cap = a->hdr->refs_capacity;

	for (uint32_t q = (uint32_t)(n->name_hash % cap); q != p; q = (q + 1) % cap) {
		uint64_t other = atomic_load_explicit(&t[q].name_off,
						      memory_order_acquire);
		if (other == 0)
			return hl_check_fail(msg, len, "refs: slot %u lies past an "
					     "empty slot of its probe run", p);
		/* other passed invariants 1-2 at its own turn, or fails there */
		if (hl_heap_contains(a, other, sizeof(struct hl_ref_name)) &&
		    same_name(a, other, off))
			return hl_check_fail(msg, len, "refs: slots %u and %u hold "
					     "the same name", q, p);
	}
	return 0;
}

/* Invariant 4. */
static int check_root(const hl_arena *a, uint32_t p, uint64_t root, char *msg,
		      size_t len)
{
	uint64_t found;

	if (root == 0)
		return 0;
	if (!hl_heap_contains(a, root, sizeof(struct hl_node) +
					       sizeof(struct hl_root_payload)))
		return hl_check_fail(msg, len, "refs: slot %u names root @%llu "
				     "outside the heap", p, (unsigned long long)root);
	const struct hl_node *n = hl_node_at(a, root);
	if (n->kind != HL_NODE_ROOT ||
	    n->payload_bytes != sizeof(struct hl_root_payload) ||
	    hl_index_lookup(a, n->hash, &found) != 0 || found != root)
		return hl_check_fail(msg, len, "refs: slot %u names @%llu, which "
				     "is not a published root", p,
				     (unsigned long long)root);
	return 0;
}

int hl_refs_check(const hl_arena *a, char *msg, size_t len)
{
	const struct hl_ref_slot *t = ref_table(a);
	int cls = hl_heap_class_of(a->hdr, sizeof(struct hl_ref_name));
	int rc;

	if (cls < 0)
		return hl_check_fail(msg, len, "refs: no size class holds a name");
	for (uint32_t p = 0; p < a->hdr->refs_capacity; p++) {
		uint64_t name = atomic_load_explicit(&t[p].name_off,
						     memory_order_acquire);
		uint64_t root = atomic_load_explicit(&t[p].root_off,
						     memory_order_acquire);
		if (name == 0) {
			if (root != 0)
				return hl_check_fail(msg, len, "refs: slot %u has "
						     "a value but no name", p);
			continue;
		}
		if (!hl_heap_object_valid(a, (unsigned)cls, name) || !name_sane(a, name))
			return hl_check_fail(msg, len, "refs: slot %u: name @%llu "
					     "is not a well-formed name object",
					     p, (unsigned long long)name);
		if ((rc = check_reachable(a, p, name, msg, len)) ||
		    (rc = check_root(a, p, root, msg, len)))
			return rc;
	}
	return 0;
}

bool hl_ref_search_salt(const hl_arena *a, uint32_t slot, uint64_t *salt)
{
	static const char prefix[] = HL_SEARCH_REF_PREFIX;
	const size_t plen = sizeof prefix - 1;
	int cls = hl_heap_class_of(a->hdr, sizeof(struct hl_ref_name));
	uint64_t name = atomic_load_explicit(&ref_table(a)[slot].name_off,
					     memory_order_acquire);
	if (cls < 0 || !name || !hl_heap_object_valid(a, (unsigned)cls, name) ||
	    !name_sane(a, name))
		return false;
	const struct hl_ref_name *n = hl_at(a, name);
	if (n->len <= plen || memcmp(n->name, prefix, plen))
		return false;
	*salt = hl_hash64(n->name + plen, n->len - plen, HL_SEED_SEARCH);
	return true;
}
