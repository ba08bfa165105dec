/*
 * persist_ring.c - the producer side of persistence: the persist region of
 * an arena (layout.h), the records committing processes push into its
 * MPSC ring (persist_rec.h), and the waits of sync commits.
 *
 * A persisted arena (HL_FEATURE_PERSIST) ends with a control page, one
 * hl_persist_slot per process slot and an MPSC ring (ring_mpsc.c). Every
 * read-write handle is a producer named by its process slot; the persister
 * (persist/persister.c) is the one consumer.
 *
 * Invariants:
 *  1. A handle pushes a node's record before the index CAS that publishes
 *     the node (workers/commit.c), and a ref's record after its root is
 *     found: WAL order puts a node after its children and a ref after its
 *     root, whoever published them (persist_rec.h says why).
 *  2. A slot's sequence grows by one per record pushed through the slot,
 *     across owners (pushed is never reset); only the slot's owner stores
 *     pushed, only the persister stores durable, and durable only grows.
 *  3. durable[i] >= q means every record slot i pushed with sequence <= q
 *     is on disk: records of one producer are in ring order (it reserves
 *     one after the other), the persister flushes in ring order, and it
 *     stores durable only after the flush holding them completed.
 *  4. A committer never waits unboundedly: a full ring or a missing
 *     persister ends in HL_EBUSY after HL_PERSIST_PUSH_TIMEOUT_NS, a
 *     persister error in that error, checked every wait slice.
 *  5. A leaf goes into the ring by reference (HL_PREC_LEAF_REF: its hash
 *     and its node's offset), not by its chunk: the commit has just copied
 *     the chunk into the node, and a second copy into the ring's cold
 *     lines was most of an async commit's cost (the bench's W1 commit p50
 *     went from 0.8 to 1.5 us). The persister copies the chunk from the
 *     node into the WAL and recomputes its hash first (hl_persist_expand):
 *     a node is immutable once filled, so the bytes match unless the copy
 *     went back to the heap and was reused, which happens only to a copy
 *     that was never published (its publisher lost the index race, failed
 *     or died before its CAS). Such a record is redundant: the winner's
 *     own record is ahead of it in the ring, and a failed commit's nodes
 *     are named by nothing. It is dropped, its sequence still counted.
 *     Whoever frees a PUBLISHED node (the garbage collector) must wait
 *     until the persister has consumed past every record pushed before
 *     the node became unreachable (the ring's head passing the tail it
 *     read then), or a record naming it could be dropped and the WAL lose
 *     a node that later records build on.
 *
 * Memory orders:
 *  - durable is stored release by the persister after the flush, then wake
 *    is bumped (release) and the futex woken; the waiter loads wake
 *    (acquire) BEFORE durable (acquire), so a store of durable it missed
 *    has bumped wake past its value and FUTEX_WAIT returns at once (the
 *    futex's own check pairs with the persister's bump).
 *  - error is stored release by the persister before state ERROR and any
 *    wake; waiters load it acquire after waking.
 *  - the ring's own orders are ring_mpsc.c's.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <string.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "persist_rec.h"
#include "ring_mpsc.h"
#include "shm.h"

static uint64_t slots_bytes(uint32_t max_processes)
{
	return hl_align_up((uint64_t)max_processes * sizeof(struct hl_persist_slot),
			   HL_PAGE_BYTES);
}

uint64_t hl_persist_region_bytes(uint64_t ring_bytes, uint32_t max_processes)
{
	if (ring_bytes < HL_PERSIST_RING_BYTES_MIN ||
	    ring_bytes > HL_PERSIST_RING_BYTES_MAX ||
	    max_processes > HL_PROCESSES_MAX)
		return 0;
	uint64_t ring = hl_ring_mpsc_region_bytes(ring_bytes / HL_RING_UNIT_BYTES *
						  HL_RING_UNIT_BYTES);
	if (ring == 0)
		return 0;
	/* each term is below 2^33: no overflow */
	return HL_PAGE_BYTES + slots_bytes(max_processes) +
	       hl_align_up(ring, HL_PAGE_BYTES);
}

int hl_persist_region_format(void *p, uint64_t bytes, const hl_config *c)
{
	struct hl_persist_ctl *ctl = p;
	uint64_t ring_off = HL_PAGE_BYTES + slots_bytes(c->max_processes);
	if (bytes <= ring_off)
		return HL_EINVAL;
	int rc = hl_ring_mpsc_format((char *)p + ring_off, bytes - ring_off);
	if (rc)
		return rc;
	ctl->version = HL_PERSIST_VERSION;
	ctl->durability = c->durability;
	ctl->lag_ns = c->persist_lag_ns;
	ctl->ring_off = ring_off;
	ctl->ring_bytes = bytes - ring_off;
	ctl->magic = HL_PERSIST_MAGIC; /* published with the arena's header */
	return 0;
}

int hl_persist_region_attach(hl_arena *a)
{
	a->pctl = NULL;
	if (!(a->hdr->features & HL_FEATURE_PERSIST))
		return 0;
	const struct hl_region *g = hl_region(a, HL_REGION_PERSIST);
	struct hl_persist_ctl *ctl = hl_at(a, g->off);
	uint64_t ring_off = HL_PAGE_BYTES + slots_bytes(a->hdr->max_processes);
	if (g->bytes <= ring_off || ctl->magic != HL_PERSIST_MAGIC)
		return HL_ECORRUPT;
	if (ctl->version != HL_PERSIST_VERSION)
		return HL_EVERSION;
	if (ctl->ring_off != ring_off || ctl->ring_bytes != g->bytes - ring_off ||
	    ctl->durability > HL_DURABILITY_SYNC ||
	    ctl->lag_ns > HL_PERSIST_LAG_NS_MAX)
		return HL_ECORRUPT;
	void *ring = (char *)ctl + ring_off;
	int rc = hl_ring_mpsc_check(ring, ctl->ring_bytes);
	if (rc)
		return rc;
	a->pctl = ctl;
	a->pslots = (struct hl_persist_slot *)((char *)ctl + HL_PAGE_BYTES);
	a->ring = ring;
	a->pseq = 0;
	return 0;
}

unsigned hl_persist_mode(const hl_arena *a, unsigned flags)
{
	if (!a->pctl)
		return HL_DURABILITY_NONE;
	if (flags & HL_COMMIT_SYNC)
		return HL_DURABILITY_SYNC;
	if (flags & HL_COMMIT_ASYNC)
		return HL_DURABILITY_ASYNC;
	return a->pctl->durability;
}

/* ---- waiting ------------------------------------------------------------- */

static void futex_wait(_Atomic uint32_t *w, uint32_t val, uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000ull),
			      (long)(ns % 1000000000ull)};
	/* shared, not FUTEX_PRIVATE: the word is in a MAP_SHARED arena */
	syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT, val, &ts, NULL, 0);
}

static void nap(uint64_t ns)
{
	struct timespec ts = {0, (long)ns};
	nanosleep(&ts, NULL);
}

/* Whether a persister is alive to wait for: running, with a heartbeat
 * newer than the push timeout. */
static bool persister_live(const hl_arena *a)
{
	const struct hl_persist_ctl *c = a->pctl;
	uint64_t hb = atomic_load_explicit(&c->heartbeat_ns, memory_order_relaxed);
	uint64_t now = hl_now_ns();
	return atomic_load_explicit(&c->state, memory_order_acquire) ==
		       HL_PERSISTER_RUNNING &&
	       now - hb < HL_PERSIST_PUSH_TIMEOUT_NS;
}

bool hl_persist_draining(const hl_arena *a)
{
	return a->pctl && persister_live(a);
}

/* The shared tail of every wait: 0 to wait on, or why not. */
static int wait_verdict(const hl_arena *a, uint64_t since_ns)
{
	int e = hl_persist_error(a);
	if (e)
		return e;
	if (!persister_live(a) && hl_now_ns() - since_ns > HL_PERSIST_PUSH_TIMEOUT_NS)
		return HL_EBUSY;
	return 0;
}

int hl_persist_wait_own(hl_arena *a)
{
	if (!a->pctl || a->slot_index < 0)
		return 0;
	struct hl_persist_slot *ps = &a->pslots[a->slot_index];
	uint64_t want = a->pseq;
	for (unsigned i = 0; i < HL_PERSIST_WAIT_SPINS; i++) {
		if (atomic_load_explicit(&ps->durable, memory_order_acquire) >= want)
			return 0;
		__builtin_ia32_pause();
	}
	/* an async arena's persister waits out its lag unless asked */
	atomic_fetch_add_explicit(&a->pctl->flush_asks, 1, memory_order_relaxed);
	uint64_t t0 = hl_now_ns();
	for (;;) {
		uint32_t w = atomic_load_explicit(&ps->wake, memory_order_acquire);
		if (atomic_load_explicit(&ps->durable, memory_order_acquire) >= want)
			return 0;
		int rc = wait_verdict(a, t0);
		if (rc)
			return rc;
		futex_wait(&ps->wake, w, HL_PERSIST_WAIT_SLICE_NS);
	}
}

/* Whether slot i still has a live owner whose records may not be durable
 * yet (a free slot's or a dead owner's records are as durable as they
 * will get: the persister skipped or flushed them). */
static bool slot_pending(const hl_arena *a, uint32_t i, uint64_t want)
{
	const struct hl_persist_slot *ps = &a->pslots[i];
	if (atomic_load_explicit(&ps->durable, memory_order_acquire) >= want)
		return false;
	uint64_t owner = atomic_load_explicit(&hl_slot_at(a, i)->owner,
					      memory_order_acquire);
	pid_t pid = (pid_t)HL_OWNER_PID(owner);
	return pid != 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

int hl_persist_sync(hl_arena *a, uint64_t timeout_ns)
{
	if (!a)
		return HL_EINVAL;
	if (!a->pctl)
		return 0;
	uint32_t n = a->hdr->max_processes;
	uint64_t t0 = hl_now_ns();
	atomic_fetch_add_explicit(&a->pctl->flush_asks, 1, memory_order_relaxed);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t want = atomic_load_explicit(&a->pslots[i].pushed,
						     memory_order_acquire);
		while (slot_pending(a, i, want)) {
			int rc = wait_verdict(a, t0);
			if (!rc && timeout_ns && hl_now_ns() - t0 > timeout_ns)
				rc = HL_EBUSY;
			if (rc)
				return rc;
			uint32_t w = atomic_load_explicit(&a->pslots[i].wake,
							  memory_order_acquire);
			if (atomic_load_explicit(&a->pslots[i].durable,
						 memory_order_acquire) < want)
				futex_wait(&a->pslots[i].wake, w, 1000000ull);
		}
	}
	return hl_persist_error(a);
}

/* ---- pushing ------------------------------------------------------------- */

/* Reserves len bytes, waiting out a full ring (invariant 4). */
static int reserve(hl_arena *a, uint32_t len, struct hl_ring_resv *r)
{
	uint64_t t0 = 0;
	for (unsigned i = 0;; i++) {
		int rc = hl_ring_mpsc_reserve(a->ring, (uint32_t)a->slot_index, len, r);
		if (rc != HL_EFULL && rc != HL_EBUSY)
			return rc;
		if (i < HL_PERSIST_PUSH_SPINS) {
			__builtin_ia32_pause();
			continue;
		}
		if (t0 == 0)
			t0 = hl_now_ns();
		rc = wait_verdict(a, t0);
		if (rc)
			return rc;
		nap(50000); /* the persister frees room a flush at a time */
	}
}

/* Reserves a record of hdr_bytes + tail_bytes, fills its header and
 * sequence, and returns where its payload goes. */
static int begin(hl_arena *a, unsigned type, uint32_t bytes,
		 struct hl_ring_resv *r)
{
	if (a->slot_index < 0)
		return HL_EROFS;
	int rc = hl_persist_error(a);
	if (!rc)
		rc = reserve(a, bytes, r);
	if (rc)
		return rc;
	struct hl_persist_slot *ps = &a->pslots[a->slot_index];
	uint64_t seq = atomic_load_explicit(&ps->pushed, memory_order_relaxed) + 1;
	struct hl_prec_hdr h = {.type = (uint16_t)type,
				.slot = (uint16_t)a->slot_index, .seq = seq};
	memcpy(r->payload, &h, sizeof h);
	atomic_store_explicit(&ps->pushed, seq, memory_order_release);
	a->pseq = seq;
	return 0;
}

int hl_persist_push_node(hl_arena *a, hl_id hash, unsigned kind,
			 unsigned level, unsigned count, uint64_t aux,
			 const void *ident, uint32_t ident_bytes)
{
	struct hl_ring_resv r;
	uint32_t bytes = (uint32_t)sizeof(struct hl_prec_node) + ident_bytes;
	int rc = begin(a, HL_PREC_NODE, bytes, &r); /* ident <= 1 MiB */
	if (rc)
		return rc;
	struct hl_prec_node *n = r.payload;
	n->hash = hash;
	n->kind = (uint8_t)kind;
	n->level = (uint8_t)level;
	n->count = (uint16_t)count;
	n->ident_bytes = ident_bytes;
	n->aux = aux;
	memcpy(n + 1, ident, ident_bytes);
	hl_ring_mpsc_commit(a->ring, &r);
	return 0;
}

int hl_persist_push_leaf(hl_arena *a, hl_id hash, uint64_t off)
{
	struct hl_ring_resv r;
	int rc = begin(a, HL_PREC_LEAF_REF, (uint32_t)sizeof(struct hl_prec_leaf_ref),
		       &r);
	if (rc)
		return rc;
	struct hl_prec_leaf_ref *l = r.payload;
	l->hash = hash;
	l->off = off;
	l->ident_bytes = a->chunk_bytes;
	l->reserved = 0;
	hl_ring_mpsc_commit(a->ring, &r); /* release: the filled node with it */
	return 0;
}

/* Invariant 5: the leaf's chunk copied out of its node, then its hash
 * recomputed from the copy (a reused node's bytes could change under a
 * check made before the copy). */
int hl_persist_expand(const hl_arena *a, const void *rec, uint32_t len,
		      void *buf, const void **out, uint32_t *out_len)
{
	struct hl_prec_leaf_ref l;
	*out = rec;
	*out_len = len;
	if (len != sizeof l || ((const struct hl_prec_hdr *)rec)->type != HL_PREC_LEAF_REF)
		return 0;
	memcpy(&l, rec, sizeof l);
	const struct hl_node *n = hl_node_get(a, l.off, HL_NODE_LEAF, 0);
	if (!n || l.ident_bytes != a->chunk_bytes || !hl_id_eq(n->hash, l.hash))
		return 1;
	struct hl_prec_node *nr = buf;
	memset(nr, 0, sizeof *nr);
	nr->h = l.h;
	nr->h.type = HL_PREC_NODE;
	nr->hash = l.hash;
	nr->kind = HL_NODE_LEAF;
	nr->ident_bytes = l.ident_bytes;
	memcpy(nr + 1, n->payload, l.ident_bytes);
	if (!hl_id_eq(hl_hash_leaf(nr + 1, l.ident_bytes), l.hash))
		return 1;
	*out = buf;
	*out_len = (uint32_t)sizeof *nr + l.ident_bytes;
	return 0;
}

int hl_persist_reserve(hl_arena *a, unsigned type, uint32_t bytes,
		       struct hl_ring_resv *r)
{
	return begin(a, type, bytes, r);
}

void hl_persist_publish(hl_arena *a, const struct hl_ring_resv *r)
{
	hl_ring_mpsc_commit(a->ring, r);
}

int hl_persist_push_mark(hl_arena *a)
{
	struct hl_ring_resv r;
	int rc = begin(a, HL_PREC_MARK, (uint32_t)sizeof(struct hl_prec_hdr), &r);
	if (rc)
		return rc;
	hl_ring_mpsc_commit(a->ring, &r);
	return 0;
}

int hl_persist_push_ref(hl_arena *a, const char *name, size_t len, hl_id id)
{
	struct hl_ring_resv r;
	if (len > HL_REF_NAME_MAX)
		return HL_EINVAL;
	uint32_t bytes = (uint32_t)(sizeof(struct hl_prec_ref) + len);
	int rc = begin(a, HL_PREC_REF, bytes, &r);
	if (rc)
		return rc;
	struct hl_prec_ref *p = r.payload;
	p->id = id;
	p->name_len = (uint32_t)len;
	p->reserved = 0;
	memcpy(p + 1, name, len);
	hl_ring_mpsc_commit(a->ring, &r);
	return 0;
}
