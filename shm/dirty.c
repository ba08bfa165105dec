/*
 * dirty.c - which pages of a persisted arena changed since the
 * checkpointer last looked: one bit per 4 KiB page, in the arena, set by
 * whoever writes a page a checkpoint must copy, taken (read and cleared)
 * by the checkpointer (persist/checkpoint.c) just before it copies.
 *
 * Why a bitmap in shared memory: a checkpoint writes only what changed
 * (pages of new nodes, index pages whose entries moved, ref slots, search
 * records whose statistics moved), so its cost follows the work since the
 * last one, not the arena's size. The writers are many processes, so the
 * bits live in the arena; they live in their own region after the persist
 * region (layout.h, HL_REGION_DIRTY), so only persisted arenas pay for it:
 * 32 KiB per GiB of arena.
 *
 *   dirty.off  +-----------------------------------------------+
 *              | uint64_t word[ceil(pages / 64)]   atomic      |
 *              |   bit b of word w: arena page 64 w + b        |
 *              +----------------------------- page aligned ----+
 *
 * Who marks (each hook a line): a node's pages when it is filled, before
 * its index CAS (workers/commit.c, refs.c's name objects, mcts.c's search
 * records); an index entry's page after each insert or remove CAS
 * (shm/index.c); a ref slot's page after each store (refs.c); a search
 * record's pages after each statistics update (mcts_walk.c).
 *
 * Invariants:
 *  1. A write W to a page p that a checkpoint's copy of p did not see
 *     leaves p's bit set after that checkpoint's take of p's word, so the
 *     next checkpoint copies p again.
 *  2. Marking never writes a cache line it need not: a bit already set is
 *     only loaded, so the pages of hot search records near the root, set
 *     once per interval, cost every later backup one load.
 *  3. Without HL_FEATURE_PERSIST (and while a handle replays, pctl NULL)
 *     marking is one predictable branch (shm.h's inline wrappers).
 *
 * Memory orders (invariant 1). The take is a fetch_and, seq_cst, and the
 * checkpointer copies p after it. A marker makes its page writes globally
 * visible before it loads the bit: hl_dirty_mark issues a seq_cst fence
 * (the writes were plain stores, which x86 may still hold in its store
 * buffer past a later load), hl_dirty_mark_rmw relies on the caller's last
 * write being a seq_cst read-modify-write (a locked instruction, which
 * drains the buffer itself). Then either the load sees the bit set before
 * the take cleared it - the take comes later in the word's order, so the
 * copy after it sees W - or it sees the bit clear and sets it with a
 * fetch_or, which the take either clears (and the copy after it sees W)
 * or leaves for the next checkpoint. The fence pairs with the take's
 * seq_cst fetch_and.
 *
 * A take clears only the bits of the pages its caller copies next (a
 * mask): a word spans 64 pages, and one past the range copied (the heap's
 * end moved on) keeps its bit for the checkpoint that copies it.
 */
#include "shm.h"

#define WORD_PAGES 64u

static inline _Atomic uint64_t *bitmap(const hl_arena *a)
{
	return (_Atomic uint64_t *)hl_at(a, a->hdr->regions[HL_REGION_DIRTY].off);
}

uint64_t hl_dirty_region_bytes(uint64_t arena_bytes)
{
	uint64_t pages = arena_bytes / HL_CKPT_PAGE_BYTES + 1;
	uint64_t words = (pages + WORD_PAGES - 1) / WORD_PAGES;
	return hl_align_up(words * sizeof(uint64_t), HL_PAGE_BYTES);
}

uint64_t hl_dirty_words(const hl_arena *a)
{
	if (!(a->hdr->features & HL_FEATURE_PERSIST))
		return 0;
	uint64_t pages = (a->hdr->arena_bytes + HL_CKPT_PAGE_BYTES - 1) /
			 HL_CKPT_PAGE_BYTES;
	return (pages + WORD_PAGES - 1) / WORD_PAGES;
}

void hl_dirty_mark_slow(hl_arena *a, uint64_t off, uint64_t len, bool fence)
{
	if (len == 0 || off >= a->bytes || len > a->bytes - off)
		return; /* a caller's bug would be a write outside the arena */
	if (fence) /* pairs with hl_dirty_take's exchange (see above) */
		atomic_thread_fence(memory_order_seq_cst);
	_Atomic uint64_t *w = bitmap(a);
	uint64_t first = off / HL_CKPT_PAGE_BYTES;
	uint64_t last = (off + len - 1) / HL_CKPT_PAGE_BYTES;
	for (uint64_t p = first; p <= last; p++) {
		uint64_t bit = 1ull << (p % WORD_PAGES);
		_Atomic uint64_t *word = &w[p / WORD_PAGES];
		/* relaxed: ordered by the fence or the caller's RMW */
		if (!(atomic_load_explicit(word, memory_order_relaxed) & bit))
			atomic_fetch_or_explicit(word, bit, memory_order_relaxed);
	}
}

uint64_t hl_dirty_take(hl_arena *a, uint64_t i, uint64_t mask)
{
	_Atomic uint64_t *word = &bitmap(a)[i];
	if (!(atomic_load_explicit(word, memory_order_relaxed) & mask))
		return 0; /* nothing marked: no write to the line */
	/* only the pages asked for: the others' bits stay for their own
	 * take (a word may span the end of what a checkpoint copies) */
	return atomic_fetch_and_explicit(word, ~mask, memory_order_seq_cst) & mask;
}

void hl_dirty_set_range(hl_arena *a, uint64_t off, uint64_t len)
{
	if (!(a->hdr->features & HL_FEATURE_PERSIST) || len == 0 ||
	    off >= a->bytes || len > a->bytes - off)
		return;
	_Atomic uint64_t *w = bitmap(a);
	uint64_t last = (off + len - 1) / HL_CKPT_PAGE_BYTES;
	for (uint64_t p = off / HL_CKPT_PAGE_BYTES; p <= last; p++)
		atomic_fetch_or_explicit(&w[p / WORD_PAGES], 1ull << (p % WORD_PAGES),
					 memory_order_relaxed);
}

void hl_ckpt_counters(const hl_arena *a, uint64_t *begun, uint64_t *done)
{
	const struct hl_persist_ctl *c = a->pctl;
	/* acquire: pairs with the checkpointer's release stores (done is
	 * stored only after the meta page is durable) */
	*begun = c ? atomic_load_explicit(&c->ckpt_begun, memory_order_acquire) : 0;
	*done = c ? atomic_load_explicit(&c->ckpt_done, memory_order_acquire) : 0;
}
