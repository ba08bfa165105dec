/*
 * ring_mpsc.c - a lock-free MPSC ring of variable-length records in shared
 * memory, that a producer dying mid-write cannot wedge.
 *
 * NOTES ON THE DESIGN OF THE RING
 *
 * The data area is a row of N units of HL_RING_UNIT_BYTES. A record takes
 * a run of whole units that never wraps past the end (a wrap pad fills the
 * rest of the row instead). Beside the data lies a descriptor array, one
 * 64-bit word per unit, that payloads never touch: the descriptor of a
 * record's first unit says who holds the record and in which state. That
 * word, not the data, is what producers race on and what the consumer
 * trusts, so a producer that dies leaves a descriptor that still tells the
 * record's length and owner.
 *
 * Region layout (offsets from base; 64-byte aligned):
 *
 *     0  header: magic u64, version u32, unit_bytes u32, units u64,
 *               desc_off u64, data_off u64, zero to 64
 *    64  tail   u64, alone on its cache line: byte position (absolute,
 *               never wraps) where the next record goes
 *   128  head   u64, alone on its cache line: position of the oldest
 *               record not consumed; written by the consumer only
 *   192  desc[units]  u64 each
 *  data  units x HL_RING_UNIT_BYTES (64-aligned); a record's first 8 bytes
 *        are its payload length (u32) and zero (u32); the payload follows
 *
 * A descriptor: [state:2 | owner:10 | units:20 | lap:32], where lap is
 * the absolute position of the unit's use divided by the data size (mod
 * 2^32), so a descriptor always says for which lap it is meant.
 *
 *   FREE(L)        unit free for lap L; for a first unit, `units` is the
 *                  size of the record consumed there in lap L - 1 (for a
 *                  consumer restarting between freeing and moving head)
 *   CLAIMED(L)     a producer won this record's first unit in lap L and is
 *                  writing it
 *   COMMITTED(L)   written; the consumer may read it
 *   SKIP(L)        a wrap pad, or a record abandoned by a dead producer
 *
 * Transitions of a first unit's descriptor, and who makes them:
 *
 *   FREE(L) --reserve: CAS--> CLAIMED(L) --commit: store--> COMMITTED(L)
 *   FREE(L) --reserve, wrap pad: CAS--> SKIP(L)
 *   CLAIMED(L) --consume (owner dead) or abandon: CAS--> SKIP(L)
 *   COMMITTED(L), SKIP(L) --consume: store--> FREE(L + 1)
 *
 * Reserve: read tail t; if t + span > head + data size, HL_EFULL. CAS the
 * descriptor of unit t/64 mod N from FREE(lap(t)) to CLAIMED, then CAS tail
 * from t to t + span. Anyone who finds the descriptor at tail already
 * claimed for this lap helps by doing that tail CAS itself, and so does
 * the consumer when it frees the record (after a load that finds tail
 * still there: a failing CAS would take tail's line from the producers
 * all the same), so a producer that dies between
 * its two CASes stops nobody, even alone (the Michael-Scott queue's
 * helping step). Commit writes the payload, then COMMITTED.
 *
 * Consume at head h: the descriptor of h's unit for lap(h) is
 *   FREE(lap(h))        nothing there yet: stop
 *   CLAIMED(lap(h))     being written: stop, unless dead(owner) says the
 *                       producer is dead: then CAS to SKIP and skip it
 *   COMMITTED / SKIP    deliver (COMMITTED) and free: tail moved past
 *                       the record if nobody did, every unit of the record
 *                       to FREE(lap + 1), the first unit last, then
 *                       h += span
 *   FREE(lap(h) + 1)    consumed by a consumer that died before moving
 *                       head: h += the units it records
 *
 * The consumer keeps h in a local and stores it to head once every
 * HL_RING_HEAD_BATCH records and when the call ends: head is a line every
 * reserve reads, and a store per record made each one a miss for the
 * producers. The records freed past the stored head are the FREE(lap + 1)
 * case for a consumer restarting there (and hl_ring_mpsc_abandon walks
 * over them the same way); producers cannot claim them meanwhile, since
 * their room check reads the stored head (invariant 5).
 *
 * Why a dead producer cannot wedge the consumer: its record's length and
 * owner are in the descriptor from the instant the record exists (the
 * claiming CAS); the consumer asks dead() about CLAIMED records it waits
 * on and skips those of the dead, and the reclaimer of a dead process's
 * slot calls hl_ring_mpsc_abandon before reusing the owner id (else a new
 * live holder of the id would look like the writer).
 *
 * Invariants:
 *   1. head <= tail, tail - head <= data size; head and tail only grow,
 *      and are positions of first units (or of the row's end).
 *   2. Every unit in [head, tail) belongs to exactly one record; a record
 *      never crosses the end of the row.
 *   3. A producer writes a unit's data only after its claiming CAS saw the
 *      unit FREE for the current lap, which the consumer stores only after
 *      it finished reading that unit in the previous lap.
 *   4. A stale producer (one that read tail a lap ago) cannot claim: the
 *      descriptor holds another lap's value (ABA needs 2^32 laps while it
 *      sleeps between its load and its CAS, as heap.c's 16-bit tag).
 *   5. Between the stored head and the consumer's h lie only whole
 *      records already freed (FREE(lap + 1), span in the first unit): a
 *      producer's claim at t needs t + span <= head + data size, so none
 *      is reused before head passes it.
 *
 * Memory orders:
 *   - The claiming CAS is acq_rel: its acquire pairs with the consumer's
 *     release store of FREE (invariant 3); its release publishes the claim
 *     to helpers, who then move tail.
 *   - Commit's store of COMMITTED is release, pairing with the consumer's
 *     acquire load of the descriptor: the payload is complete when seen.
 *   - head is stored release by the consumer after the FREE stores (a
 *     batch of them) and loaded acquire by producers: room seen means
 *     units freed.
 *   - tail CAS is acq_rel and its loads acquire: a producer that reads
 *     tail t also sees the claim that moved tail there.
 *
 * Delivery is at least once: a consumer that dies after fn returned but
 * before freeing sees the record again when it restarts.
 */
#include <stdatomic.h>
#include <string.h>

#include "ring_mpsc.h"
#include "shm.h"

#define RING_MAGIC 0x43535050474e4952ull /* "RINGPPSC" */
#define RING_VERSION 1u
#define OFF_TAIL 64u
#define OFF_HEAD 128u
#define OFF_DESC 192u
#define REC_HDR_BYTES 8u

struct ring_hdr {
	uint64_t magic;
	uint32_t version, unit_bytes;
	uint64_t units, desc_off, data_off;
	uint8_t zero[24];
};
_Static_assert(sizeof(struct ring_hdr) == 64, "header is one cache line");
_Static_assert(offsetof(struct ring_hdr, units) == 16, "units at 16");
_Static_assert(offsetof(struct ring_hdr, data_off) == 32, "data_off at 32");
_Static_assert(HL_RING_OWNERS_MAX <= 1024u, "owner fits 10 bits");
_Static_assert(HL_RING_RECORD_UNITS_MAX < (1u << 20), "units fit 20 bits");

enum { D_FREE = 0, D_CLAIMED = 1, D_COMMITTED = 2, D_SKIP = 3 };

static inline uint64_t d_make(unsigned state, uint32_t owner, uint64_t units,
			      uint32_t lap)
{
	return (uint64_t)state << 62 | (uint64_t)owner << 52 | units << 32 | lap;
}
static inline unsigned d_state(uint64_t d) { return (unsigned)(d >> 62); }
static inline uint32_t d_owner(uint64_t d) { return (uint32_t)(d >> 52) & 1023u; }
static inline uint64_t d_units(uint64_t d) { return (d >> 32) & 0xfffff; }
static inline uint32_t d_lap(uint64_t d) { return (uint32_t)d; }

struct ring {
	const struct ring_hdr *h;
	_Atomic uint64_t *tail, *head, *desc;
	unsigned char *data;
	uint64_t units, data_bytes;
};

static struct ring view(void *base)
{
	struct ring r;
	r.h = base;
	r.tail = (_Atomic uint64_t *)((char *)base + OFF_TAIL);
	r.head = (_Atomic uint64_t *)((char *)base + OFF_HEAD);
	r.desc = (_Atomic uint64_t *)((char *)base + r.h->desc_off);
	r.data = (unsigned char *)base + r.h->data_off;
	r.units = r.h->units;
	r.data_bytes = r.units * HL_RING_UNIT_BYTES;
	return r;
}

static inline uint64_t unit_of(const struct ring *r, uint64_t pos)
{
	return pos / HL_RING_UNIT_BYTES % r->units;
}

static inline uint32_t lap_of(const struct ring *r, uint64_t pos)
{
	return (uint32_t)(pos / r->data_bytes);
}

/* ---- format ---------------------------------------------------------------- */

uint64_t hl_ring_mpsc_region_bytes(uint64_t data_bytes)
{
	uint64_t units = data_bytes / HL_RING_UNIT_BYTES, desc, total;
	if (data_bytes % HL_RING_UNIT_BYTES || units < HL_RING_UNITS_MIN ||
	    units > HL_RING_UNITS_MAX)
		return 0;
	desc = hl_align_up(units * 8, HL_RING_UNIT_BYTES);
	if (hl_add_overflows(OFF_DESC + desc, data_bytes, &total))
		return 0;
	return total;
}

int hl_ring_mpsc_format(void *base, uint64_t bytes)
{
	if (!base || (uintptr_t)base % 64)
		return HL_EINVAL;
	/* The most units whose descriptors and data fit. */
	uint64_t units = bytes > OFF_DESC ? (bytes - OFF_DESC) /
					    (HL_RING_UNIT_BYTES + 8) : 0;
	if (units > HL_RING_UNITS_MAX)
		units = HL_RING_UNITS_MAX;
	while (units >= HL_RING_UNITS_MIN &&
	       hl_ring_mpsc_region_bytes(units * HL_RING_UNIT_BYTES) > bytes)
		units--;
	if (units < HL_RING_UNITS_MIN)
		return HL_EINVAL;
	struct ring_hdr h = {
		.magic = RING_MAGIC, .version = RING_VERSION,
		.unit_bytes = HL_RING_UNIT_BYTES, .units = units,
		.desc_off = OFF_DESC,
		.data_off = OFF_DESC + hl_align_up(units * 8, HL_RING_UNIT_BYTES),
	};
	memset(base, 0, OFF_DESC);
	_Atomic uint64_t *desc = (_Atomic uint64_t *)((char *)base + OFF_DESC);
	for (uint64_t i = 0; i < units; i++) /* FREE for lap 0 */
		atomic_store_explicit(&desc[i], 0, memory_order_relaxed);
	/* The header last: a ring is usable once its magic is there. */
	memcpy(base, &h, sizeof h);
	atomic_thread_fence(memory_order_release);
	return 0;
}

int hl_ring_mpsc_check(const void *base, uint64_t bytes)
{
	const struct ring_hdr *h = base;
	if (!base || bytes < OFF_DESC || h->magic != RING_MAGIC)
		return HL_ECORRUPT;
	if (h->version != RING_VERSION)
		return HL_EVERSION;
	uint64_t need = hl_ring_mpsc_region_bytes(h->units * HL_RING_UNIT_BYTES);
	if (h->unit_bytes != HL_RING_UNIT_BYTES || need == 0 || need > bytes ||
	    h->desc_off != OFF_DESC ||
	    h->data_off != OFF_DESC + hl_align_up(h->units * 8, HL_RING_UNIT_BYTES))
		return HL_ECORRUPT;
	return 0;
}

uint32_t hl_ring_mpsc_payload_max(const void *base)
{
	const struct ring_hdr *h = base;
	uint64_t units = h->units < HL_RING_RECORD_UNITS_MAX
				 ? h->units : HL_RING_RECORD_UNITS_MAX;
	return (uint32_t)(units * HL_RING_UNIT_BYTES - REC_HDR_BYTES);
}

/* ---- producers -------------------------------------------------------------- */

/* The descriptor at tail t is taken for t's lap: move tail past it. */
static void help_tail(struct ring *r, uint64_t t, uint64_t d)
{
	uint64_t want = t;
	atomic_compare_exchange_strong_explicit(r->tail, &want,
		t + d_units(d) * HL_RING_UNIT_BYTES,
		memory_order_acq_rel, memory_order_acquire);
}

/* One attempt at claiming `units` at tail t (or a wrap pad there).
 * Returns 1 claimed the record, 0 retry, or HL_EFULL. */
static int try_claim(struct ring *r, uint32_t owner, uint64_t units,
		     uint64_t t, struct hl_ring_resv *out)
{
	uint64_t i = unit_of(r, t);
	bool pad = i + units > r->units;
	uint64_t span = pad ? r->units - i : units;
	uint64_t head = atomic_load_explicit(r->head, memory_order_acquire);
	if (t + span * HL_RING_UNIT_BYTES > head + r->data_bytes)
		return HL_EFULL;
	uint64_t d = atomic_load_explicit(&r->desc[i], memory_order_acquire);
	if (d_lap(d) == lap_of(r, t) && d_state(d) != D_FREE) {
		help_tail(r, t, d);  /* someone claimed t already */
		return 0;
	}
	if (d_state(d) != D_FREE || d_lap(d) != lap_of(r, t))
		return 0;            /* a stale tail: re-read it */
	uint64_t claim = d_make(pad ? D_SKIP : D_CLAIMED, owner, span,
				lap_of(r, t));
	if (!atomic_compare_exchange_strong_explicit(&r->desc[i], &d, claim,
			memory_order_acq_rel, memory_order_acquire))
		return 0;
	help_tail(r, t, claim);
	if (pad)
		return 0;            /* the pad is placed; now the record */
	out->unit = i;
	out->desc = claim;
	out->payload = r->data + i * HL_RING_UNIT_BYTES + REC_HDR_BYTES;
	return 1;
}

int hl_ring_mpsc_reserve(void *base, uint32_t owner, uint32_t len,
			 struct hl_ring_resv *out)
{
	if (!base || !out || owner >= HL_RING_OWNERS_MAX ||
	    len > hl_ring_mpsc_payload_max(base))
		return HL_EINVAL;
	struct ring r = view(base);
	uint64_t units = ((uint64_t)len + REC_HDR_BYTES + HL_RING_UNIT_BYTES - 1) /
			 HL_RING_UNIT_BYTES;
	for (unsigned tries = 0; tries < HL_RING_RESERVE_TRIES; tries++) {
		uint64_t t = atomic_load_explicit(r.tail, memory_order_acquire);
		int rc = try_claim(&r, owner, units, t, out);
		if (rc == 1) {
			uint32_t hdr[2] = { len, 0 };
			memcpy((unsigned char *)out->payload - REC_HDR_BYTES,
			       hdr, sizeof hdr);
			return 0;
		}
		if (rc < 0)
			return rc;
	}
	return HL_EBUSY;
}

void hl_ring_mpsc_commit(void *base, const struct hl_ring_resv *res)
{
	struct ring r = view(base);
	uint64_t d = res->desc;
	hl_assert(d_state(d) == D_CLAIMED);
	atomic_store_explicit(&r.desc[res->unit],
			      d_make(D_COMMITTED, d_owner(d), d_units(d), d_lap(d)),
			      memory_order_release);
}

int hl_ring_mpsc_push(void *base, uint32_t owner, const void *payload,
		      uint32_t len)
{
	struct hl_ring_resv res;
	if (!payload && len)
		return HL_EINVAL;
	int rc = hl_ring_mpsc_reserve(base, owner, len, &res);
	if (rc)
		return rc;
	memcpy(res.payload, payload, len);
	hl_ring_mpsc_commit(base, &res);
	return 0;
}

/* ---- the consumer ----------------------------------------------------------- */

/* Frees the record of `units` at position h (the consumer's head; the
 * caller moves head past it, a batch at a time). First tail is moved past it if
 * its producer died between its claiming CAS and its tail CAS with nobody
 * to help (else head would pass tail and every later reserve would read a
 * tail whose unit is already freed for the next lap: a wedge, which
 * test_ring_mpsc's two-CAS test showed). Then the other units, the first
 * unit last (it tells a restarted consumer the span). */
static void release(struct ring *r, uint64_t h, uint64_t units)
{
	uint64_t i = unit_of(r, h);
	uint32_t next = lap_of(r, h) + 1;
	/* A load first: a CAS takes tail's line from the producers even when
	 * it fails, and it fails unless a producer died mid-reservation; the
	 * acquire load pairs with the producers' tail CAS as the CAS did. */
	if (atomic_load_explicit(r->tail, memory_order_acquire) == h)
		help_tail(r, h, d_make(D_FREE, 0, units, 0));
	for (uint64_t k = 1; k < units; k++)
		atomic_store_explicit(&r->desc[i + k], d_make(D_FREE, 0, 0, next),
				      memory_order_release);
	atomic_store_explicit(&r->desc[i], d_make(D_FREE, 0, units, next),
			      memory_order_release);
}

/* The record at position h (the consumer's head): 1 delivered, 2 skipped
 * (pad, abandoned, dead owner, already consumed), 0 nothing to take now
 * (or fn said stop: then *fn_rc is its value). *next is where the
 * following record starts. */
static int consume_one(struct ring *r, uint64_t h, hl_ring_record_fn *fn,
		       void *ctx, hl_ring_owner_dead_fn *dead, void *dead_ctx,
		       int *fn_rc, uint64_t *next)
{
	uint64_t i = unit_of(r, h);
	uint32_t lap = lap_of(r, h);
	uint64_t d = atomic_load_explicit(&r->desc[i], memory_order_acquire);
	if (d_state(d) == D_FREE && d_lap(d) == lap + 1 && d_units(d)) {
		*next = h + d_units(d) * HL_RING_UNIT_BYTES;
		return 2;            /* freed by a consumer that died */
	}
	if (d_lap(d) != lap || d_state(d) == D_FREE)
		return 0;
	uint64_t units = d_units(d);
	if (units == 0 || i + units > r->units)
		return 0;            /* cannot be: a broken ring stays put */
	if (d_state(d) == D_CLAIMED) {
		if (!dead || !dead(dead_ctx, d_owner(d)))
			return 0;
		uint64_t skip = d_make(D_SKIP, d_owner(d), units, lap);
		if (!atomic_compare_exchange_strong_explicit(&r->desc[i], &d, skip,
				memory_order_acq_rel, memory_order_acquire))
			return 0;    /* committed meanwhile: take it next call */
		d = skip;
	}
	bool deliver = d_state(d) == D_COMMITTED;
	if (deliver && fn) {
		const unsigned char *rec = r->data + i * HL_RING_UNIT_BYTES;
		uint32_t len;
		memcpy(&len, rec, 4);
		if (len > units * HL_RING_UNIT_BYTES - REC_HDR_BYTES)
			len = (uint32_t)(units * HL_RING_UNIT_BYTES - REC_HDR_BYTES);
		*fn_rc = fn(ctx, rec + REC_HDR_BYTES, len);
		if (*fn_rc)
			return 0;
	}
	release(r, h, units);
	*next = h + units * HL_RING_UNIT_BYTES;
	return deliver ? 1 : 2;
}

/* Head is stored once per HL_RING_HEAD_BATCH records and when the call
 * ends (release, after the records' FREE stores: room seen by a producer
 * is freed room). Between, the records already freed past the stored head
 * are FREE for the next lap with their span in the first unit, which is
 * what a consumer restarting there skips; no producer can claim them
 * before head passes them (its room check reads the stored head). */
int64_t hl_ring_mpsc_consume(void *base, hl_ring_record_fn *fn, void *ctx,
			     hl_ring_owner_dead_fn *dead, void *dead_ctx,
			     uint64_t max)
{
	if (!base)
		return HL_EINVAL;
	struct ring r = view(base);
	int64_t n = 0;
	int fn_rc = 0;
	uint64_t h = atomic_load_explicit(r.head, memory_order_relaxed);
	uint64_t stored = h;
	/* Bounded: each step frees at least one unit of [head, tail). */
	for (uint64_t steps = 0; (uint64_t)n < max && steps <= r.units; steps++) {
		uint64_t next = h;
		int got = consume_one(&r, h, fn, ctx, dead, dead_ctx, &fn_rc, &next);
		if (fn_rc || !got)
			break;
		n += got == 1;
		h = next;
		if ((steps + 1) % HL_RING_HEAD_BATCH == 0) {
			atomic_store_explicit(r.head, h, memory_order_release);
			stored = h;
		}
	}
	if (h != stored)
		atomic_store_explicit(r.head, h, memory_order_release);
	return fn_rc ? fn_rc : n;
}

uint64_t hl_ring_mpsc_abandon(void *base, uint32_t owner)
{
	struct ring r = view(base);
	uint64_t count = 0;
	uint64_t p = atomic_load_explicit(r.head, memory_order_acquire);
	uint64_t t = atomic_load_explicit(r.tail, memory_order_acquire);
	/* At most one record per unit between head and tail. */
	for (uint64_t steps = 0; p < t && steps < r.units; steps++) {
		uint64_t i = unit_of(&r, p);
		uint64_t d = atomic_load_explicit(&r.desc[i], memory_order_acquire);
		if (d_state(d) == D_FREE && d_lap(d) == lap_of(&r, p) + 1 &&
		    d_units(d)) {
			p += d_units(d) * HL_RING_UNIT_BYTES;
			continue;    /* consumed, head not yet stored past it */
		}
		if (d_lap(d) != lap_of(&r, p) || d_state(d) == D_FREE ||
		    d_units(d) == 0)
			break;       /* consumed under us, or not claimed yet */
		if (d_state(d) == D_CLAIMED && d_owner(d) == owner) {
			uint64_t skip = d_make(D_SKIP, owner, d_units(d), d_lap(d));
			count += atomic_compare_exchange_strong_explicit(&r.desc[i],
				&d, skip, memory_order_acq_rel, memory_order_acquire);
		}
		p += d_units(d) * HL_RING_UNIT_BYTES;
	}
	return count;
}

uint64_t hl_ring_mpsc_used(const void *base)
{
	struct ring r = view((void *)(uintptr_t)base);
	return atomic_load_explicit(r.tail, memory_order_acquire) -
	       atomic_load_explicit(r.head, memory_order_acquire);
}
