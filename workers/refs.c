/*
 * refs.c - named refs: a small lock-free directory from names to snapshots.
 *
 * Workers publish what they found ("best", "worker-3/latest") and other
 * processes read it by name. The region is an open-addressing table of
 * {name_off, root_off} pairs (layout.h), probed linearly from the name's
 * hash.
 *
 * Invariants:
 *  1. A name is written into a heap object before the CAS (release) that
 *     publishes its offset in name_off; readers load name_off with acquire,
 *     so they never see half a name. name_off never changes once set.
 *  2. A ref's value is one 64-bit word, the offset of the root node of its
 *     snapshot (0 for the zero id): setting it is one atomic store, so a
 *     reader sees the old id or the new one, never a torn mix of the two
 *     halves of a 128-bit id. The root node is immutable; its header holds
 *     the id.
 *  3. A ref names only snapshots that exist in this arena: set and cas look
 *     the id up first (HL_ENOENT otherwise).
 *  4. Probing visits each slot at most once: every loop is bounded by the
 *     table's capacity.
 *  5. Only a call that sets a value creates a name: hl_ref_set, and
 *     hl_ref_cas when it succeeds from the zero id. A CAS that fails on a
 *     name never set takes no slot (a get then still answers HL_ENOENT), so
 *     failed CASes never fill the table.
 *  7. A ref is a root of the collector (shm/gc.c): the id is found and
 *     stored inside one epoch section, and shaded while a collection
 *     marks, so the snapshot it names is never swept.
 *  6. On a persisted arena a change is logged after it is made (its root
 *     was found first, so the root's record is ahead of it in the ring,
 *     shm/persist_ring.c invariant 1) and is as durable as a commit: sync
 *     waits for it. Two processes changing one ref at once are logged in
 *     the order of their pushes, which may differ from the order of their
 *     stores: recovery keeps one of the values they set.
 */
#include <string.h>

#include "workers.h"

/* Invariant 6: logs name = id and waits as a commit would. */
static int log_ref(hl_arena *a, const char *name, hl_id id)
{
	if (!hl_persisted(a))
		return 0;
	int rc = hl_persist_push_ref(a, name, strlen(name), id);
	if (!rc && hl_persist_mode(a, 0) == HL_DURABILITY_SYNC)
		rc = hl_persist_wait_own(a);
	return rc;
}

static int check_name(const char *name, size_t *len)
{
	if (!name)
		return HL_EINVAL;
	*len = strnlen(name, HL_REF_NAME_MAX + 1);
	return *len == 0 || *len > HL_REF_NAME_MAX ? HL_EINVAL : 0;
}

/* 1 if the name object at off is `name`, 0 if another, <0 if corrupt. */
static int name_matches(const hl_arena *a, uint64_t off, uint64_t hash,
			const char *name, size_t len)
{
	if (!hl_heap_contains(a, off, sizeof(struct hl_ref_name)))
		return HL_ECORRUPT;
	const struct hl_ref_name *n = hl_at(a, off);
	return n->name_hash == hash && n->len == len &&
	       memcmp(n->name, name, len) == 0;
}

static int name_object(hl_arena *a, uint64_t hash, const char *name,
		       size_t len, unsigned *cls, uint64_t *off)
{
	int c = hl_heap_class_of(a->hdr, sizeof(struct hl_ref_name));
	hl_assert(c >= 0);
	*cls = (unsigned)c;
	int rc = hl_heap_alloc(a, *cls, off);
	if (rc)
		return rc;
	struct hl_ref_name *n = hl_at(a, *off);
	memset(n, 0, sizeof *n);
	n->name_hash = hash;
	n->len = (uint32_t)len;
	memcpy(n->name, name, len);
	hl_dirty_mark(a, *off, sizeof *n); /* before its CAS: checkpoints */
	return 0;
}

/* Finds the slot of `name`; with create, claims an empty one for it. */
static int find_slot(hl_arena *a, const char *name, bool create,
		     struct hl_ref_slot **out)
{
	size_t len;
	int rc = check_name(name, &len);
	if (rc)
		return rc;
	uint64_t hash = hl_hash64(name, len, HL_SEED_REF);
	uint32_t cap = hl_refs_capacity(a);
	struct hl_ref_slot *t = hl_refs_table(a);
	uint64_t mine = 0;
	unsigned cls = 0;
	for (uint32_t probe = 0, p = (uint32_t)(hash % cap); probe < cap;
	     probe++, p = (p + 1) % cap) {
		uint64_t off = atomic_load_explicit(&t[p].name_off,
						    memory_order_acquire);
		if (off == 0 && create) {
			if (!mine && (rc = name_object(a, hash, name, len, &cls, &mine)))
				return rc;
			/* release: the name's bytes before its offset (inv. 1) */
			if (atomic_compare_exchange_strong_explicit(
				    &t[p].name_off, &off, mine,
				    memory_order_acq_rel, memory_order_acquire)) {
				*out = &t[p];
				return 0;
			}
		}
		if (off == 0)
			return HL_ENOENT; /* names are never removed: not here */
		int m = name_matches(a, off, hash, name, len);
		if (m) {
			if (mine)
				hl_heap_free(a, cls, mine);
			*out = &t[p];
			return m < 0 ? m : 0;
		}
	}
	if (mine)
		hl_heap_free(a, cls, mine);
	return create ? HL_EFULL : HL_ENOENT;
}

/* The root offset naming id (0 for the zero id). */
static int root_of(const hl_arena *a, hl_id id, uint64_t *off)
{
	struct hl_tree t;
	return hl_tree_load(a, id, &t, off);
}

/* The root naming id, about to be stored in a ref (0 for the zero id):
 * a root a sweep is removing is no snapshot any more (shm/gc.c). */
static int kept_root(hl_arena *a, hl_id id, uint64_t *off)
{
	if (hl_id_is_zero(id))
		return root_of(a, id, off);
	struct hl_tree t;
	int rc = hl_gc_find_root(a, id, &t);
	*off = t.root_off;
	return rc;
}

static int id_at(const hl_arena *a, uint64_t root_off, hl_id *out)
{
	if (root_off == 0) {
		*out = (hl_id){0, 0};
		return 0;
	}
	const struct hl_node *n =
		hl_node_get(a, root_off, HL_NODE_ROOT, HL_NODE_LEVEL_ANY);
	if (!n)
		return HL_ECORRUPT;
	*out = n->hash;
	return 0;
}

int hl_ref_set(hl_arena *a, const char *name, hl_id id)
{
	if (!a)
		return HL_EINVAL;
	int rc = hl_arena_writable(a);
	if (rc)
		return rc;
	uint64_t root_off;
	struct hl_ref_slot *slot;
	for (unsigned round = 0; round <= HL_GC_COMMIT_RETRIES; round++) {
		hl_epoch_enter(a); /* invariant 7 */
		rc = kept_root(a, id, &root_off); /* invariants 3, 7 */
		if (!rc)
			rc = find_slot(a, name, true, &slot);
		if (!rc) {
			/* release: pairs with hl_ref_get's acquire; the root node
			 * was published (by its own release CAS) before we could
			 * look it up */
			atomic_store_explicit(&slot->root_off, root_off,
					      memory_order_release);
			hl_dirty_mark(a, hl_off(a, slot), sizeof *slot);
		}
		hl_epoch_exit(a);
		/* no heap for a new name: a collection, outside the section (a
		 * few, as a commit does: others may take one's room first) */
		if (rc != HL_EFULL || !hl_gc_for_room(a, false, round == 0))
			break;
	}
	return rc ? rc : log_ref(a, name, id);
}

int hl_ref_get(hl_arena *a, const char *name, hl_id *out)
{
	if (!a || !out)
		return HL_EINVAL;
	struct hl_ref_slot *slot;
	int rc = find_slot(a, name, false, &slot);
	if (rc)
		return rc;
	return id_at(a, atomic_load_explicit(&slot->root_off, memory_order_acquire),
		     out);
}

/* The slot of `name` for a CAS from *expected: the existing one, or, for a
 * name never set, a new one only when *expected is the zero id (the value
 * an unset name holds). Otherwise *out is NULL: the CAS fails without
 * taking a ref slot (invariant 5). */
static int cas_slot(hl_arena *a, const char *name, hl_id expected,
		    struct hl_ref_slot **out)
{
	int rc = find_slot(a, name, false, out);
	if (rc != HL_ENOENT)
		return rc;
	*out = NULL;
	if (!hl_id_is_zero(expected))
		return 0;
	return find_slot(a, name, true, out);
}

static int ref_cas(hl_arena *a, const char *name, hl_id *expected, hl_id desired)
{
	uint64_t want, put;
	int rc = kept_root(a, desired, &put);
	if (rc)
		return rc;
	struct hl_ref_slot *slot;
	if ((rc = cas_slot(a, name, *expected, &slot)))
		return rc;
	if (!slot) {
		*expected = (hl_id){0, 0}; /* unset: it holds the zero id */
		return HL_EBUSY;
	}
	if (root_of(a, *expected, &want) != 0)
		want = UINT64_MAX; /* not a snapshot here: it can't be held */
	uint64_t cur = want;
	if (want != UINT64_MAX &&
	    atomic_compare_exchange_strong_explicit(&slot->root_off, &cur, put,
						    memory_order_acq_rel,
						    memory_order_acquire)) {
		hl_dirty_mark_rmw(a, hl_off(a, slot), sizeof *slot);
		return 0;
	}
	if (want == UINT64_MAX)
		cur = atomic_load_explicit(&slot->root_off, memory_order_acquire);
	rc = id_at(a, cur, expected);
	return rc ? rc : HL_EBUSY;
}

int hl_ref_cas(hl_arena *a, const char *name, hl_id *expected, hl_id desired)
{
	if (!a || !expected)
		return HL_EINVAL;
	int rc = hl_arena_writable(a);
	if (rc)
		return rc;
	hl_epoch_enter(a); /* invariant 7 */
	rc = ref_cas(a, name, expected, desired);
	hl_epoch_exit(a);
	return rc ? rc : log_ref(a, name, desired);
}

const _Atomic uint64_t *hl_ref_word(hl_arena *a, const char *name)
{
	struct hl_ref_slot *slot;
	if (!a || find_slot(a, name, false, &slot))
		return NULL;
	return &slot->root_off;
}
