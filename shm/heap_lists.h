/*
 * heap_lists.h - the words of the heap's Treiber stacks, private to the
 * heap (heap.c: the free lists; heap_release.c: the pool of released
 * slabs). heap.c's design comment says who writes which word, the memory
 * orders and why the tag makes the stacks ABA-safe.
 */
#ifndef HELIOS_HEAP_LISTS_H
#define HELIOS_HEAP_LISTS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "shm.h"

/* An object's first word: its successor while it is free (and word 1 its
 * free mark); a released unit's first word: the next unit of the pool. */
static inline _Atomic uint64_t *next_word(const hl_arena *a, uint64_t off)
{
	return (_Atomic uint64_t *)hl_at(a, off);
}

/*
 * The one 16-byte CAS: swings *h from *expected to desired as a whole, or
 * loads the current head into *expected (atomically, both halves) and
 * fails. LOCK CMPXCHG16B is a full barrier, so it is at least the release
 * (push) and acquire (pop) the design asks for. Inline assembly, not
 * __atomic on __int128: GCC sends those to libatomic, which may take a
 * process-private lock - no atomicity at all between processes.
 */
static inline bool head_cas(struct hl_free_head *h, struct hl_free_head *expected,
			    struct hl_free_head desired)
{
#if defined(__x86_64__)
	bool ok;
	__asm__ __volatile__("lock cmpxchg16b %1"
			     : "=@ccz"(ok), "+m"(*h), "+a"(expected->top),
			       "+d"(expected->tag)
			     : "b"(desired.top), "c"(desired.tag)
			     : "memory");
	return ok;
#else
#error "Helios's free lists need a 16-byte compare-and-swap (x86_64 CMPXCHG16B)"
#endif
}

/* A snapshot of the head from two 8-byte loads. It may pair a top and a
 * tag from different moments; then the CAS that uses it fails (it compares
 * all 16 bytes), so a torn snapshot costs a retry, never a wrong pop. top
 * is one aligned word, never torn: an invalid top is real damage. The
 * acquire on top pairs with the CAS that installed it (next word, bytes). */
static inline struct hl_free_head head_load(struct hl_free_head *h)
{
	struct hl_free_head v;
	v.tag = __atomic_load_n(&h->tag, __ATOMIC_RELAXED);
	v.top = __atomic_load_n(&h->top, __ATOMIC_ACQUIRE);
	return v;
}

/* Pushes the chain first..last (linked through their next words, written
 * privately by the caller) on the stack at head with one CAS: the last
 * object's next word is set to the top it replaces, rewritten on each
 * failed CAS. The CAS's barrier publishes the chain's words for the
 * popper's acquire. Lock-free: a failed CAS means another push or pop
 * succeeded. Dying before the CAS leaks the chain, never half-links it. */
static inline void chain_push(hl_arena *a, struct hl_free_head *head, uint64_t first,
			      uint64_t last)
{
	struct hl_free_head old = head_load(head), new;
	do {
		atomic_store_explicit(next_word(a, last), old.top, memory_order_relaxed);
		new = (struct hl_free_head){first, old.tag + 1};
	} while (!head_cas(head, &old, new));
}

/* heap_release.c: a released unit for a grab: 0 with *rel (heap-relative),
 * HL_EFULL when the pool is empty, HL_ECORRUPT for a damaged pool. */
int hl_heap_pool_pop(hl_arena *a, uint64_t *rel);
/* heap.c: marks the units of the slab at heap-relative rel as class cls's
 * (each by a CAS from 0): 0, or HL_ECORRUPT if one was in a slab. */
int hl_heap_slab_mark(hl_arena *a, unsigned cls, uint64_t rel);

#endif
