/*
 * index.c - the node index: a lock-free, content-addressed hash table in
 * shared memory that maps a node's 128-bit hash to the node's offset.
 *
 * NOTES ON THE DESIGN OF THE NODE INDEX
 *
 * The table is an array of index_buckets 64-byte buckets (a power of two),
 * each one cache line of HL_BUCKET_ENTRIES 64-bit entry words (layout.h):
 *
 *     entry = [ tag: top 24 bits of hash.hi | node offset / 32: 40 bits ]
 *     0 = EMPTY, 1 = TOMBSTONE
 *
 * The full key is not stored: it is the hash in the node's own header, and
 * a tag match is confirmed by reading it. Key h has home bucket
 * h.lo & (index_buckets - 1) and probe window: the home bucket and the next
 * HL_INDEX_PROBE_BUCKETS - 1 buckets (wrapping), scanned entry by entry in
 * that order, the "probe order" of h. Bucket bits come from hash.lo and tag
 * bits from hash.hi, so keys that share a bucket still differ in their tags
 * but for a 2^-24 chance, which costs one needless node-header read.
 *
 * Operations (each one a bounded scan of the window; no locks, no waiting):
 *
 *   lookup  scans until it finds the key or meets an EMPTY entry; never
 *           stores, so a read-only mapping can use it.
 *   insert  scans like lookup; at the first EMPTY entry it tries one CAS
 *           EMPTY -> entry, or, when it passed an old enough tombstone on
 *           the way (see "Reusing tombstones"), on the first such one. A
 *           failed CAS re-examines that entry (a racer may just have
 *           published our key) and the scan starts over. No EMPTY entry
 *           and no reusable tombstone in the window: HL_EFULL, and nothing
 *           was written.
 *   remove  CASes the exact entry (h, off) to TOMBSTONE, stamped with the
 *           global epoch (its tag bits hold the epoch mod 2^24).
 *
 * While a collection sweeps (gc.c), an entry whose node is unmarked is
 * garbage about to be removed: lookup and insert pass it by as if it were
 * a tombstone, so a commit of the same content publishes a fresh node.
 * Each operation reads the collector's phase once, before it loads any
 * entry, and judges every entry it meets by that one reading. Judging an
 * entry by a phase read after it would be wrong: an entry loaded while
 * the sweep runs, then tombstoned by it, would look live to a phase read
 * once the sweep is over (IDLE), and its node, freed after the sweep's
 * grace period, would be handed out as found. Read first, the phase is
 * either SWEEP (every unmarked node is passed by, whether or not the sweep
 * has reached it yet) or a later one, and then the acquire load of that
 * phase makes the sweep's tombstones visible to the entry loads after it.
 * The workers' w1 runs read back wrong bytes this way (a reader preempted
 * between its entry load and its phase load); tests/test_gc.c replays the
 * interleaving with a page fault.
 *
 * insert and remove through a read-only handle answer HL_EROFS.
 *
 * Invariants (hl_index_check verifies 2 to 5, and of 6 that the node is
 * well formed by hl_node_get's rules):
 *
 *   1. An entry word changes only EMPTY -> live (insert), live ->
 *      TOMBSTONE(t) (remove at epoch t), TOMBSTONE(t) -> live (an insert
 *      whose section entered at epoch >= t + 2), TOMBSTONE(t) -> RETIRED
 *      (the collector, once epoch t + 3 has begun), RETIRED -> live (any
 *      insert) and RETIRED -> EMPTY (the collector, a grace period later,
 *      when the entry after it is EMPTY: "Emptying tombstones"). ABA: a
 *      CAS from TOMBSTONE(t) could only be fooled by the word going live
 *      and back to TOMBSTONE(t) meanwhile, which needs 2^24 epochs to pass
 *      while the inserter sits in its section, and no epoch passes more
 *      than one beyond an open section (epoch.c). A CAS from RETIRED that
 *      sees it again after a round trip (live, removed, retired) takes an
 *      entry that is as free as the one it saw.
 *   2. A live entry lies in its key's probe window.
 *   3. Every entry before a live entry of key h, in h's probe order, is
 *      non-empty. (Insert published at the first EMPTY it saw, or before
 *      it; all earlier entries were non-empty then, and an entry turns
 *      EMPTY again only when none after it needs it: "Emptying
 *      tombstones".) This is why lookup and insert may stop at the first
 *      EMPTY entry.
 *   4. No key has two live entries, except duplicates of equal content
 *      from the two narrow races above and in gc.c.
 *   5. A live entry's tag is the top 24 bits of its node's header hash, and
 *      its offset is 32-byte aligned (HL_HEAP_ALIGN) inside the heap.
 *   6. A live entry's node is complete (kind 1..3 and all its bytes) before
 *      the entry is visible: see memory orders below.
 *
 * Why no duplicates can arise (invariant 4). Two inserts of one key h scan
 * the same entries in the same order. Say A published h at position i and
 * B at position j. If j > i, B passed position i, which B either saw
 * non-empty or failed to CAS; since position i was EMPTY until A's CAS and
 * never EMPTY after (1), B saw it after A's CAS holding A's entry (or a
 * tombstone, if h was removed meanwhile: then A's copy is gone and B's is
 * the only live one) and returned 1 instead. j < i is the same argument
 * with A and B swapped. The argument needs a single modification order per
 * entry word, which every atomic object has.
 *
 * Reusing tombstones. A tombstone reused carelessly would break that
 * argument: B could take position i, a tombstone that A had walked past
 * while it still held another key, while A publishes h at j > i. So an
 * insert reuses a tombstone only after scanning its whole window up to
 * the first EMPTY (h is nowhere in it), and only one stamped at least
 * HL_TOMB_REUSE_EPOCHS = 2 epochs before the epoch E its own section
 * announced. Say A reused position i, stamped t <= E_A - 2, while B
 * published h at j > i, each missing the other. Then their sections
 * overlapped (B read i before A's CAS; A read j, or stopped before it,
 * before B's CAS), and two open sections' epochs differ by at most one
 * (epoch.c, invariant 4). If B read i while it still held another key,
 * the remove came later and stamped t >= E_B >= E_A - 1 > E_A - 2: not
 * reusable by A. (t >= E_B needs the stamp to be read where no epoch can
 * pass it: the remover stamps one past the epoch of its own section, which
 * holds gc_epoch at most one beyond; a stamp read outside any section
 * could be stale by any number of epochs by the time of its CAS. And a
 * stamp ahead of A's own epoch is young, not 2^24 epochs old.) So that
 * race, the one that matters for a collector that
 * removes keys while others insert, cannot happen. What remains is B
 * reading i as a tombstone too young for it (t = E_B - 1) that A, one
 * epoch later (E_A = t + 2), may take: two inserts of one key, racing across
 * an epoch change, may then both win. The result is a duplicate, which
 * Helios tolerates wherever it can arise (gc.c, "Duplicates"): both
 * nodes hold the same content (each is verified against its hash), every
 * lookup finds one of them, and commit compares inner nodes' children by
 * hash when their offsets differ. Invariant 4 below is therefore "one
 * live entry per key, but for such duplicates".
 *
 * Memory orders:
 *   - the publishing CAS in insert is a release: the node's bytes, written
 *     before by its owner, happen-before any acquire load that reads the
 *     entry.
 *   - every entry load that may lead to reading a node (lookup, insert,
 *     remove's scan, the checker) is an acquire: pairs with that release.
 *     The failure order of the publishing CAS is acquire for the same
 *     reason: we then read the winner's node.
 *   - the tombstone CAS in remove is a release: pairs with the same acquire
 *     loads, so whoever sees the tombstone sees what the remover did
 *     before (the collector's bookkeeping). Freeing the node is to be
 *     ordered by the collector's epoch protocol (the slot's reserved epoch
 *     word, layout.h), not by this CAS.
 *   - hl_index_used loads relaxed: it reads no node and is a statistic.
 *
 * A garbage entry (a corrupt or hostile arena) never makes us read outside
 * the heap: every offset taken from an entry passes hl_heap_contains before
 * its node is touched, and fails to match otherwise.
 *
 * Emptying tombstones. Tombstones that are only ever reused leave the
 * windows without EMPTY entries once a collector has swept them a few
 * times, and then every look-up of an absent key (every commit of new
 * content) walks its whole window. So the collector, at the end of each
 * cycle, turns tombstones back into EMPTY entries, in two steps a grace
 * period apart (the cycle's own barriers):
 *
 *   retire: TOMBSTONE(t) -> RETIRED, for every tombstone whose remove is
 *       three epochs old (t + 3 <= gc_epoch);
 *   empty, in a later cycle: RETIRED -> EMPTY, for every RETIRED entry
 *       whose successor in probe order is EMPTY.
 *
 * Both are hl_index_tomb_tend, which the sweep (gc.c) calls for every
 * tombstone it meets as it walks the table from the end down, so a run of
 * RETIRED entries before an EMPTY one empties in one pass, and an entry
 * retired in a pass is not emptied in the same one.
 *
 * A RETIRED entry is passed by look-ups like any tombstone and taken by
 * any insert as its candidate ("Reusing tombstones"), so an insert that
 * read it never writes an entry past it. Why emptying keeps invariant 3:
 * entry p turns EMPTY only when p + 1 is EMPTY, and by invariant 3 at
 * p + 1 no live entry after p + 1 has its key's window through it, so
 * none through p either; the entries that could still appear past p with
 * a window through p are those of inserts in flight that read p as a
 * tombstone, before it was retired. Every such insert ran in a section
 * open when p was retired, and the grace periods between the two steps
 * waited for all of them: each has published (then p + 1 is not EMPTY if
 * it published there, and p stays) or given up. An insert that read p as
 * RETIRED publishes at p or before it. And why taking RETIRED always is
 * safe from the duplicate race of "Reusing tombstones": an insert B that
 * walked past p while p still held another key ran in a section that
 * entered at an epoch <= t + 1, and every such section has ended once
 * epoch t + 3 has begun (epoch.c, invariant 4), which retiring waits for.
 * Wrapping runs (the table's last entries, whose successor is entry 0)
 * may take one cycle more.
 *
 * What the index does not do:
 *   - protect a node it hands out from being freed: an entry may be
 *     tombstoned just after a lookup read it. Callers that may race with
 *     the collector read inside an epoch section (epoch.c), and the
 *     collector frees only after a grace period; the index itself never
 *     frees anything. hl_index_used counts live entries only.
 *   - compare node contents: equal hashes with different bytes are the
 *     caller's to detect (HL_ECOLLISION) once insert returns 1.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "shm.h"

#define TAG_SHIFT HL_ENTRY_OFF_BITS

_Static_assert(HL_HEAP_ALIGN == 32, "entries store offset / 32");
_Static_assert(HL_ARENA_BYTES_MAX / HL_HEAP_ALIGN <= HL_ENTRY_OFF_MASK + 1,
	       "every arena offset fits an entry");

/* ---- entries ---------------------------------------------------------------- */

static inline uint64_t entry_make(hl_id h, uint64_t off)
{
	return (h.hi >> TAG_SHIFT << TAG_SHIFT) | off / HL_HEAP_ALIGN;
}

static inline bool entry_live(uint64_t e)
{
	return e != HL_ENTRY_EMPTY && !HL_ENTRY_IS_TOMB(e);
}

/* "Reusing tombstones": whether an insert whose section entered at epoch
 * `announced` may reuse tombstone e. A retired one: always, in a section
 * or not ("Emptying tombstones" needs every insert to stop at one). Any
 * other outside a section: never. */
/* Epochs from tombstone e's stamp to epoch `now`, mod 2^24; a stamp ahead
 * of now (a section older than the remove) reads as young, not as 2^24
 * epochs old. */
static inline uint64_t tomb_age(uint64_t e, uint64_t now)
{
	uint64_t age = (now - HL_ENTRY_TOMB_EPOCH(e)) & 0xffffffull;
	return age < (1ull << 23) ? age : 0;
}

static inline bool tomb_reusable(uint64_t e, uint64_t announced)
{
	if (HL_ENTRY_IS_RETIRED(e))
		return true;
	return announced && tomb_age(e, announced) >= HL_TOMB_REUSE_EPOCHS;
}

static inline bool tag_matches(uint64_t e, hl_id h)
{
	return (e ^ h.hi) >> TAG_SHIFT == 0;
}

static inline bool key_eq(hl_id x, hl_id y)
{
	return x.lo == y.lo && x.hi == y.hi;
}

/* True when live entry e names key h; then *off is its node. The node must
 * be visible: e was read with acquire (or is our own). sweeping is the
 * collector's phase, read before e was loaded (see the design notes). */
static bool entry_names(const hl_arena *a, uint64_t e, hl_id h, bool sweeping,
			uint64_t *off)
{
	uint64_t o = hl_index_entry_off(e);

	if (!entry_live(e) || !tag_matches(e, h))
		return false;
	if (!hl_heap_contains(a, o, sizeof(struct hl_node)))
		return false; /* garbage: never dereferenced */
	if (!key_eq(hl_node_at(a, o)->hash, h))
		return false;
	if (hl_unlikely(sweeping) && !hl_mark_test(a, o))
		return false; /* garbage the sweep will remove: as a tombstone */
	*off = o;
	return true;
}

bool hl_index_entry_node(const hl_arena *a, uint64_t e, uint64_t *off)
{
	uint64_t o = hl_index_entry_off(e);
	if (!entry_live(e) || !hl_heap_contains(a, o, sizeof(struct hl_node)) ||
	    !tag_matches(e, hl_node_at(a, o)->hash))
		return false;
	*off = o;
	return true;
}

/* ---- probing ---------------------------------------------------------------- */

struct probe {
	struct hl_bucket *buckets;
	uint64_t mask;
	uint64_t home;
	uint32_t entries; /* positions in the window */
	bool sweeping;    /* the collector's phase, read before any entry */
};

static struct hl_bucket *index_buckets(const hl_arena *a)
{
	return hl_at(a, hl_region(a, HL_REGION_INDEX)->off);
}

/* The window never exceeds the table, so no entry is visited twice. */
static uint32_t window_buckets(const hl_arena *a)
{
	uint64_t n = a->hdr->index_buckets;
	return n < HL_INDEX_PROBE_BUCKETS ? (uint32_t)n : HL_INDEX_PROBE_BUCKETS;
}

static void probe_init(struct probe *p, const hl_arena *a, hl_id h)
{
	p->buckets = index_buckets(a);
	p->mask = a->hdr->index_buckets - 1;
	p->home = h.lo & p->mask;
	p->entries = window_buckets(a) * HL_BUCKET_ENTRIES;
	p->sweeping = hl_gc_sweeping(a);
}

static _Atomic uint64_t *probe_entry(const struct probe *p, uint32_t pos)
{
	uint64_t b = (p->home + pos / HL_BUCKET_ENTRIES) & p->mask;
	return &p->buckets[b].entry[pos % HL_BUCKET_ENTRIES];
}

enum scan_result { SCAN_FOUND, SCAN_EMPTY, SCAN_END };

/*
 * Scans h's window from *pos. SCAN_FOUND: *off is h's node. SCAN_EMPTY:
 * *pos is the first EMPTY entry; by invariant 3, h is not past it.
 * SCAN_END: the window is exhausted.
 */
static enum scan_result scan(const hl_arena *a, const struct probe *p, hl_id h,
			     uint32_t *pos, uint64_t *off)
{
	for (; *pos < p->entries; (*pos)++) {
		/* acquire: pairs with insert's release CAS (node visible) */
		uint64_t e = atomic_load_explicit(probe_entry(p, *pos),
						  memory_order_acquire);
		if (e == HL_ENTRY_EMPTY)
			return SCAN_EMPTY;
		if (entry_names(a, e, h, p->sweeping, off))
			return SCAN_FOUND;
	}
	return SCAN_END;
}

/* ---- operations ------------------------------------------------------------- */

int hl_index_lookup(const hl_arena *a, hl_id h, uint64_t *off)
{
	struct probe p;
	uint32_t pos = 0;

	probe_init(&p, a, h);
	return scan(a, &p, h, &pos, off) == SCAN_FOUND ? 0 : HL_ENOENT;
}

int hl_index_insert(hl_arena *a, hl_id h, uint64_t off, uint64_t *winner)
{
	struct probe p;
	uint64_t e = entry_make(h, off);
	uint64_t announced = hl_epoch_announced(a);
	int rc = hl_arena_writable(a);

	if (rc)
		return rc;
	/* the caller's own node, complete: anything else is a bug here */
	hl_assert(hl_heap_contains(a, off, sizeof(struct hl_node)));
	hl_assert(key_eq(hl_node_at(a, off)->hash, h));

	probe_init(&p, a, h);
	/* bounded: every failed CAS means another insert took an entry of
	 * this window, and a window has p.entries of them */
	for (uint32_t round = 0; round <= p.entries; round++) {
		uint32_t cand = UINT32_MAX, target = UINT32_MAX;
		uint64_t cand_seen = 0, seen;
		for (uint32_t pos = 0; pos < p.entries; pos++) {
			/* acquire: pairs with insert's release CAS */
			uint64_t x = atomic_load_explicit(probe_entry(&p, pos),
							  memory_order_acquire);
			if (x == HL_ENTRY_EMPTY) {
				target = pos;
				break;
			}
			if (entry_names(a, x, h, p.sweeping, winner))
				return 1;
			if (cand == UINT32_MAX && HL_ENTRY_IS_TOMB(x) &&
			    tomb_reusable(x, announced)) {
				cand = pos;
				cand_seen = x;
			}
		}
		/* the whole window up to its first EMPTY is free of h: reuse
		 * the first old tombstone, else take the EMPTY */
		if (cand != UINT32_MAX) {
			target = cand;
			seen = cand_seen;
		} else if (target == UINT32_MAX) {
			return HL_EFULL;
		} else {
			seen = HL_ENTRY_EMPTY;
		}
		/* release: publishes the node's bytes; pairs with the acquire
		 * loads in scan(). acquire on failure: we read the winner. */
		if (atomic_compare_exchange_strong_explicit(
			    probe_entry(&p, target), &seen, e,
			    memory_order_release, memory_order_acquire)) {
			hl_dirty_mark_rmw(a, hl_off(a, probe_entry(&p, target)), 8);
			return 0;
		}
		/* lost the entry; a racer may just have published h itself */
		if (entry_names(a, seen, h, p.sweeping, winner))
			return 1;
	}
	return HL_EFULL;
}

/* Tombstones live entry word e at w: 0, or HL_ENOENT when it changed
 * (a concurrent remove took it first: invariant 1). */
static int tomb_cas(hl_arena *a, _Atomic uint64_t *w, uint64_t e)
{
	/* release: pairs with the acquire loads of lookups. The stamp is one
	 * past the epoch of the remover's own section: no epoch passes that
	 * while the section is open, so every section that may have read the
	 * entry live entered at or before the stamp ("Reusing tombstones"). */
	uint64_t in = hl_epoch_announced(a);
	uint64_t stamp = (in ? in : hl_epoch_now(a)) + 1;
	if (!atomic_compare_exchange_strong_explicit(w, &e, HL_ENTRY_TOMB(stamp),
						     memory_order_release,
						     memory_order_relaxed))
		return HL_ENOENT;
	hl_ctr_add(a, HL_CTR_INDEX_REMOVED, 1); /* for stats */
	hl_dirty_mark_rmw(a, hl_off(a, w), 8);
	return 0;
}

int hl_index_remove(hl_arena *a, hl_id h, uint64_t off)
{
	struct probe p;
	uint64_t want = entry_make(h, off);
	int rc = hl_arena_writable(a);

	if (rc)
		return rc;
	probe_init(&p, a, h);
	for (uint32_t pos = 0; pos < p.entries; pos++) {
		_Atomic uint64_t *slot = probe_entry(&p, pos);
		uint64_t e = atomic_load_explicit(slot, memory_order_acquire);

		if (e == HL_ENTRY_EMPTY)
			break; /* invariant 3: not further on */
		if (e == want)
			return tomb_cas(a, slot, e);
	}
	return HL_ENOENT;
}

/* ---- emptying tombstones (the collector's, "Emptying tombstones") --------- */

uint64_t hl_index_entries(const hl_arena *a)
{
	return a->hdr->index_buckets * HL_BUCKET_ENTRIES;
}

/* Entry i in probe order: bucket i / 8, place i % 8. */
static _Atomic uint64_t *index_entry(const hl_arena *a, uint64_t i)
{
	return &index_buckets(a)[i / HL_BUCKET_ENTRIES].entry[i % HL_BUCKET_ENTRIES];
}

uint64_t hl_index_entry_load(const hl_arena *a, uint64_t i)
{
	/* acquire: the caller may read the node (pairs with insert) */
	return atomic_load_explicit(index_entry(a, i), memory_order_acquire);
}

int hl_index_remove_at(hl_arena *a, uint64_t i, uint64_t e)
{
	int rc = hl_arena_writable(a);
	if (rc)
		return rc;
	if (i >= hl_index_entries(a) || !entry_live(e))
		return HL_EINVAL;
	return tomb_cas(a, index_entry(a, i), e);
}

int hl_index_tomb_tend(hl_arena *a, uint64_t i, uint64_t e, uint64_t now)
{
	_Atomic uint64_t *w = index_entry(a, i);
	uint64_t want;
	if (HL_ENTRY_IS_RETIRED(e)) {
		/* empty: its successor in probe order (the table wraps) */
		uint64_t next = hl_index_entry_load(a, (i + 1) % hl_index_entries(a));
		if (next != HL_ENTRY_EMPTY)
			return 0;
		want = HL_ENTRY_EMPTY;
	} else if (HL_ENTRY_IS_TOMB(e) && tomb_age(e, now) >= HL_TOMB_RETIRE_EPOCHS) {
		want = HL_ENTRY_RETIRED; /* retire */
	} else {
		return 0;
	}
	/* release: an insert that reads the new word happens after the
	 * barriers that ended every section that read the entry before
	 * (pairs with the scans' acquire loads). Failure: an insert took the
	 * entry meanwhile, and then the entries before it stay (invariant 3). */
	if (!atomic_compare_exchange_strong_explicit(w, &e, want, memory_order_release,
						     memory_order_relaxed))
		return 0;
	hl_dirty_mark_rmw(a, hl_off(a, w), 8);
	return 1;
}

uint64_t hl_index_used(const hl_arena *a)
{
	const struct hl_bucket *b = index_buckets(a);
	uint64_t used = 0;

	for (uint64_t i = 0; i < a->hdr->index_buckets; i++)
		for (unsigned s = 0; s < HL_BUCKET_ENTRIES; s++)
			/* relaxed: a count; no node is read */
			used += entry_live(atomic_load_explicit(
				&b[i].entry[s], memory_order_relaxed));
	return used;
}

uint64_t hl_index_capacity(const hl_arena *a)
{
	return a->hdr->index_buckets * HL_BUCKET_ENTRIES;
}

/* ---- the checker: a private set of keys seen ---------------------------------- */

/* Open addressing over 128-bit keys in private memory; the all-zero key is
 * the empty marker, so it is tracked by its own flag. */
struct keyset {
	hl_id *keys;
	uint64_t mask;
	uint64_t count;
	bool has_zero;
};

static int keyset_init(struct keyset *ks, uint64_t expected)
{
	uint64_t cap = hl_pow2_ceil(expected < 8 ? 16 : expected * 2);

	ks->keys = calloc(cap, sizeof(hl_id));
	ks->mask = cap - 1;
	ks->count = 0;
	ks->has_zero = false;
	return ks->keys ? 0 : HL_ENOMEM;
}

/* 1 when h was already there, 0 when added. The table stays at most half
 * full, so the probe loop ends at an empty slot. */
static int keyset_put(struct keyset *ks, hl_id h)
{
	uint64_t i = h.lo & ks->mask;

	for (uint64_t n = 0; n <= ks->mask; n++, i = (i + 1) & ks->mask) {
		if (key_eq(ks->keys[i], h))
			return 1;
		if (ks->keys[i].lo == 0 && ks->keys[i].hi == 0) {
			ks->keys[i] = h;
			ks->count++;
			return 0;
		}
	}
	hl_assert(!"key set full"); /* keyset_add keeps it half empty */
	return 0;
}

/* Doubles the table; the index may hold more keys than it did when the set
 * was sized (the checker may run while others insert). */
static int keyset_grow(struct keyset *ks)
{
	struct keyset big;
	int rc = keyset_init(&big, ks->mask + 1);

	if (rc)
		return rc;
	for (uint64_t i = 0; i <= ks->mask; i++)
		if (ks->keys[i].lo != 0 || ks->keys[i].hi != 0)
			keyset_put(&big, ks->keys[i]);
	big.has_zero = ks->has_zero;
	free(ks->keys);
	*ks = big;
	return 0;
}

/* 1 when h was already in the set, 0 when added, or HL_ENOMEM. */
static int keyset_add(struct keyset *ks, hl_id h)
{
	bool had;

	if (h.lo == 0 && h.hi == 0) {
		had = ks->has_zero;
		ks->has_zero = true;
		return had;
	}
	if ((ks->count + 1) * 2 > ks->mask + 1) {
		int rc = keyset_grow(ks);
		if (rc)
			return rc;
	}
	return keyset_put(ks, h);
}

/* ---- the checker ------------------------------------------------------------ */

static int check_geometry(const hl_arena *a, char *msg, size_t msg_len)
{
	const struct hl_region *r = hl_region(a, HL_REGION_INDEX);
	uint64_t n = a->hdr->index_buckets, bytes, end;

	if (n == 0 || (n & (n - 1)) != 0)
		return hl_check_fail(msg, msg_len,
				     "index: bucket count %" PRIu64
				     " is not a power of two", n);
	if (hl_mul_overflows(n, sizeof(struct hl_bucket), &bytes) ||
	    bytes > r->bytes || hl_add_overflows(r->off, r->bytes, &end) ||
	    end > a->bytes)
		return hl_check_fail(msg, msg_len,
				     "index: %" PRIu64 " buckets do not fit the"
				     " region [%" PRIu64 ", +%" PRIu64 ")",
				     n, r->off, r->bytes);
	return 0;
}

/*
 * Invariant 3 for the live entry at position pos of its key's window:
 * every position before it is non-empty. Read after the entry itself
 * (acquire), so an insert racing with the checker cannot fake a hole: the
 * inserter saw these entries non-empty before its release CAS.
 */
static int check_reachable(const struct probe *p, uint32_t pos, char *msg,
			   size_t msg_len)
{
	for (uint32_t i = 0; i < pos; i++) {
		if (atomic_load_explicit(probe_entry(p, i),
					 memory_order_acquire) != HL_ENTRY_EMPTY)
			continue;
		return hl_check_fail(msg, msg_len,
				     "index: bucket %" PRIu64 " entry %u is"
				     " unreachable: bucket %" PRIu64 " entry %u"
				     " before it in its probe order is empty",
				     (p->home + pos / HL_BUCKET_ENTRIES) & p->mask,
				     pos % HL_BUCKET_ENTRIES,
				     (p->home + i / HL_BUCKET_ENTRIES) & p->mask,
				     i % HL_BUCKET_ENTRIES);
	}
	return 0;
}

/* Invariants 2, 3, 5 and 6 for live entry e at bucket b, entry s. */
static int check_entry(const hl_arena *a, uint64_t b, unsigned s, uint64_t e,
		       hl_id *key, char *msg, size_t msg_len)
{
	uint64_t off = hl_index_entry_off(e), dist;
	const struct hl_node *n;
	struct probe p;

	if (!hl_heap_contains(a, off, sizeof(struct hl_node)))
		return hl_check_fail(msg, msg_len,
				     "index: bucket %" PRIu64 " entry %u: offset"
				     " %#" PRIx64 " is not a node in the heap",
				     b, s, off);
	n = hl_node_at(a, off);
	*key = n->hash;
	if (!tag_matches(e, *key))
		return hl_check_fail(msg, msg_len,
				     "index: bucket %" PRIu64 " entry %u: tag"
				     " %#" PRIx64 " but node %#" PRIx64 " has"
				     " hash tag %#" PRIx64, b, s, e >> TAG_SHIFT,
				     off, key->hi >> TAG_SHIFT);
	probe_init(&p, a, *key);
	dist = (b - p.home) & p.mask;
	if (dist >= window_buckets(a))
		return hl_check_fail(msg, msg_len,
				     "index: bucket %" PRIu64 " entry %u: node"
				     " %#" PRIx64 " has home bucket %" PRIu64
				     ", outside the probe window", b, s, off,
				     p.home);
	enum hl_node_fault f = hl_node_fault(a, off, HL_NODE_KIND_ANY,
					     HL_NODE_LEVEL_ANY);
	if (f != HL_NODE_OK)
		return hl_check_fail(msg, msg_len,
				     "index: node %#" PRIx64 " (bucket %" PRIu64
				     " entry %u, kind %u): %s", off, b, s,
				     (unsigned)n->kind, hl_node_fault_str(f));
	return check_reachable(&p, (uint32_t)dist * HL_BUCKET_ENTRIES + s, msg,
			       msg_len);
}

/* The children of inner nodes x and y name equal contents: equal offsets,
 * or nodes with equal hashes (a duplicate child). */
static bool children_equal(const hl_arena *a, const struct hl_node *x,
			   const struct hl_node *y)
{
	const uint64_t *cx = (const uint64_t *)x->payload;
	const uint64_t *cy = (const uint64_t *)y->payload;
	for (unsigned j = 0; j < x->count; j++) {
		if (cx[j] == cy[j])
			continue;
		if (!cx[j] || !cy[j] || !hl_heap_contains(a, cx[j], sizeof *x) ||
		    !hl_heap_contains(a, cy[j], sizeof *x) ||
		    !key_eq(hl_node_at(a, cx[j])->hash, hl_node_at(a, cy[j])->hash))
			return false;
	}
	return true;
}

/* Invariant 4's exception: the other live entry of key at off2's node
 * holds the same content (same shape; leaves and roots the same payload,
 * inner nodes equal children). */
static bool duplicate_equal(const hl_arena *a, hl_id key, uint64_t off2)
{
	struct probe p;
	probe_init(&p, a, key);
	const struct hl_node *y = hl_node_at(a, off2);
	for (uint32_t pos = 0; pos < p.entries; pos++) {
		uint64_t e = atomic_load_explicit(probe_entry(&p, pos),
						  memory_order_acquire), o;
		if (e == HL_ENTRY_EMPTY)
			break;
		if (!hl_index_entry_node(a, e, &o) || o == off2 ||
		    !key_eq(hl_node_at(a, o)->hash, key))
			continue;
		const struct hl_node *x = hl_node_get(a, o, HL_NODE_KIND_ANY,
						      HL_NODE_LEVEL_ANY);
		if (!x || x->kind != y->kind || x->level != y->level ||
		    x->count != y->count || x->aux != y->aux ||
		    x->payload_bytes != y->payload_bytes)
			return false;
		if (x->kind == HL_NODE_INNER)
			return children_equal(a, x, y);
		if (x->kind == HL_NODE_ROOT)
			return memcmp(x->payload, y->payload, sizeof(hl_id)) == 0;
		if (x->kind == HL_NODE_LEAF)
			return memcmp(x->payload, y->payload, x->payload_bytes) == 0;
		return true; /* search records: the key is (position, search) */
	}
	return false;
}

/* Checks every live entry of bucket b; invariant 4 through ks. */
static int check_bucket(const hl_arena *a, uint64_t b, struct keyset *ks,
			char *msg, size_t msg_len)
{
	const struct hl_bucket *bk = &index_buckets(a)[b];

	for (unsigned s = 0; s < HL_BUCKET_ENTRIES; s++) {
		/* acquire: pairs with insert's release CAS (node visible) */
		uint64_t e = atomic_load_explicit(&bk->entry[s],
						  memory_order_acquire);
		hl_id key = {0, 0};
		int rc;

		if (!entry_live(e))
			continue;
		rc = check_entry(a, b, s, e, &key, msg, msg_len);
		if (rc)
			return rc;
		rc = keyset_add(ks, key);
		if (rc < 0) {
			hl_check_fail(msg, msg_len,
				      "index: out of memory for the key set");
			return rc;
		}
		if (rc && !duplicate_equal(a, key, hl_index_entry_off(e)))
			return hl_check_fail(msg, msg_len,
					     "index: key %016" PRIx64 "%016"
					     PRIx64 " appears twice (again at"
					     " bucket %" PRIu64 " entry %u)",
					     key.hi, key.lo, b, s);
	}
	return 0;
}

/*
 * Verifies invariants 2-6 over the whole table. O(capacity), plus a re-read
 * of each live entry's probe prefix (at most one window). Meant for a quiet
 * arena; while others insert it never reports a false hole, but a key that
 * is removed and re-inserted during the scan can look duplicated.
 */
int hl_index_check(const hl_arena *a, char *msg, size_t msg_len)
{
	struct keyset ks;
	int rc = check_geometry(a, msg, msg_len);

	if (rc)
		return rc;
	if (keyset_init(&ks, hl_index_used(a))) {
		hl_check_fail(msg, msg_len,
			      "index: out of memory for the key set");
		return HL_ENOMEM;
	}
	for (uint64_t b = 0; b < a->hdr->index_buckets && rc == 0; b++)
		rc = check_bucket(a, b, &ks, msg, msg_len);
	free(ks.keys);
	return rc;
}
