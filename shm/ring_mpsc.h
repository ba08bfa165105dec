/*
 * ring_mpsc.h - a lock-free multi-producer, single-consumer ring of
 * variable-length records over a region of shared memory.
 *
 * Independent of the arena: it takes a base pointer and a size (the lead
 * gives it a region), and producers name themselves by a small owner id
 * (a process slot index) so that a dead producer's half-written record can
 * be skipped. See ring_mpsc.c for the format and the protocol.
 *
 * Producers: hl_ring_mpsc_reserve, fill the payload, hl_ring_mpsc_commit
 * (or hl_ring_mpsc_push for both). Any number of processes at once.
 * Consumer: hl_ring_mpsc_consume, one process (thread) at a time.
 */
#ifndef HL_SHM_RING_MPSC_H
#define HL_SHM_RING_MPSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hl_limits.h"

/* A reservation: where the payload goes, and what commit needs. */
struct hl_ring_resv {
	void *payload;
	uint64_t unit;      /* physical index of the record's first unit */
	uint64_t desc;      /* its claimed descriptor */
};

/* The consumer's view of a record. Return non-zero to stop consuming
 * before this record (it stays in the ring). */
typedef int hl_ring_record_fn(void *ctx, const void *payload, uint32_t len);
/* Whether a producer is dead (may be NULL: then only hl_ring_mpsc_abandon
 * releases a dead producer's record). */
typedef bool hl_ring_owner_dead_fn(void *ctx, uint32_t owner);

/* Region bytes needed for a ring of data_bytes (a multiple of
 * HL_RING_UNIT_BYTES); 0 if out of range. */
uint64_t hl_ring_mpsc_region_bytes(uint64_t data_bytes);

/* Formats the region (64-byte aligned, at least region_bytes(data)).
 * HL_EINVAL. */
int hl_ring_mpsc_format(void *base, uint64_t bytes);

/* Checks a formatted region: HL_ECORRUPT (magic, geometry), HL_EVERSION. */
int hl_ring_mpsc_check(const void *base, uint64_t bytes);

/* Largest payload the ring takes. */
uint32_t hl_ring_mpsc_payload_max(const void *base);

/* Reserves room for len payload bytes for owner (< HL_RING_OWNERS_MAX).
 * HL_EFULL: no room now (the consumer is behind); HL_EBUSY: lost the race
 * HL_RING_RESERVE_TRIES times; HL_EINVAL. */
int hl_ring_mpsc_reserve(void *base, uint32_t owner, uint32_t len,
			 struct hl_ring_resv *out);
/* Publishes a reserved record to the consumer. */
void hl_ring_mpsc_commit(void *base, const struct hl_ring_resv *r);
/* reserve + copy + commit. */
int hl_ring_mpsc_push(void *base, uint32_t owner, const void *payload,
		      uint32_t len);

/* Hands committed records to fn in ring order, freeing each after fn
 * returns 0, up to max records (and at most one ring's worth per call).
 * Skips wrap pads, abandoned records and records whose owner dead() says
 * is dead. Returns the number delivered (0: empty, or the next record is
 * still being written by a live owner), or fn's non-zero value. */
int64_t hl_ring_mpsc_consume(void *base, hl_ring_record_fn *fn, void *ctx,
			     hl_ring_owner_dead_fn *dead, void *dead_ctx,
			     uint64_t max);

/* Marks every record owner reserved and never committed as abandoned, so
 * the consumer skips it. For the reclaimer of a dead process's slot,
 * before the slot (and the owner id) is reused. Returns the count. */
uint64_t hl_ring_mpsc_abandon(void *base, uint32_t owner);

/* Bytes reserved and not yet consumed. */
uint64_t hl_ring_mpsc_used(const void *base);

#endif
