/*
 * holds.c - the snapshots each process keeps alive: its pins and the bases
 * of its working states, written down where the collector can read them.
 *
 * NOTES ON THE DESIGN OF THE HOLDS
 *
 * The collector (gc.c) keeps every snapshot reachable from a root, and a
 * process's pins and live states' bases are roots that exist only in that
 * process. So each process copies them into its slot's holds table
 * (layout.h: holds_per_slot entries of {off, count}, then the slot's gray
 * ring, which gc.c owns) as they come and go,
 * and the collector reads every slot's table.
 *
 *   add(off):   the entry for off, if the process holds off already,
 *               counts one more; else a free entry gets count 1, then off
 *               (a release store).
 *   drop(off):  one less; at zero the entry's off is stored 0 (relaxed:
 *               dropping needs no ordering, the collector keeping a root
 *               a moment longer is harmless) and the entry is free.
 *
 * Entries never move while held: the owner finds them through a private
 * map (offset -> entry index, open addressing with backward-shift
 * deletion, in this process's memory), so a collector scanning the table
 * while the owner changes it sees every entry that stayed held for the
 * whole scan. An entry added during the scan may be missed; that is the
 * collector's business: an add made while a collection marks also shades
 * its root (gc.c), which is why add and the shading happen inside one
 * epoch section.
 *
 * Counts: pins and states are counted apart in the private map (an unpin
 * must not release a state's base); the shared count is their sum, for
 * people reading the table (`helios stat`), never trusted by anyone.
 *
 * Death: the slot's reaper (slots.c) clears the whole table when it frees
 * the slot, so a dead process's pins and bases are released with it; the
 * owner's private map dies with the process.
 *
 * Invariants:
 *  1. Only the slot's owner writes its table, except the reaper's clear of
 *     a dead owner's (the reaper owns the slot then).
 *  2. A held off is in exactly one entry of its slot's table, and the
 *     private map names that entry.
 *  3. An entry's off is 0 or a root node's offset that passed hl_node_get
 *     when it was added; the collector validates it again before it
 *     follows it (a damaged table costs a root, never a stray read).
 *
 * Memory orders: add stores off with release (the count and anything the
 * caller wrote before are visible to a collector that acquires off);
 * drop's store is relaxed; the collector's loads are acquire.
 */
#include <stdlib.h>
#include <string.h>

#include "shm.h"

struct hl_hold_map_ent {
	uint64_t off;   /* 0: empty */
	uint32_t entry; /* index into the shared table */
	uint32_t pins;
	uint32_t states;
	uint32_t pad;
};

struct hl_holds_priv {
	uint32_t cap;      /* shared entries */
	uint32_t used;     /* entries held */
	uint32_t mask;     /* private map slots - 1 */
	uint32_t nfree;
	uint32_t *free;    /* stack of free entry indices */
	struct hl_hold_map_ent *map;
};

static struct hl_hold *table_of(const hl_arena *a, uint32_t slot)
{
	return (struct hl_hold *)hl_at(a, a->hdr->regions[HL_REGION_HOLDS].off +
				       (uint64_t)slot *
					       hl_holds_stride(a->hdr->holds_per_slot));
}

static uint32_t home(const struct hl_holds_priv *h, uint64_t off)
{
	return (uint32_t)((off * 0x9e3779b97f4a7c15ull) >> 32) & h->mask;
}

/* The private map and free stack, made at the first hold. */
static struct hl_holds_priv *priv(hl_arena *a)
{
	if (a->holds)
		return a->holds;
	uint32_t cap = a->hdr->holds_per_slot, slots = 1;
	while (slots < cap * 2)
		slots <<= 1;
	struct hl_holds_priv *h = calloc(1, sizeof *h);
	uint32_t *fr = h ? malloc((size_t)cap * sizeof *fr) : NULL;
	struct hl_hold_map_ent *m = fr ? calloc(slots, sizeof *m) : NULL;
	if (!m) {
		free(fr);
		free(h);
		return NULL;
	}
	h->cap = cap;
	h->mask = slots - 1;
	h->free = fr;
	h->map = m;
	for (uint32_t i = 0; i < cap; i++) /* entry 0 on top */
		fr[h->nfree++] = cap - 1 - i;
	/* every page of the map now, so no commit takes a first-touch fault
	 * in it (a probe lands anywhere in the map) */
	/* (a volatile store per page: the compiler drops a memset of zeros
	 * into memory calloc returned) */
	volatile unsigned char *first = (volatile unsigned char *)m;
	volatile unsigned char *end = first + (size_t)slots * sizeof *m;
	for (volatile unsigned char *p = first; p < end; p += HL_PAGE_BYTES)
		*p = 0;
	end[-1] = 0; /* the last page, when the map does not start on one */
	a->holds = h;
	return h;
}

int hl_holds_prepare(hl_arena *a)
{
	return !a->slot || priv(a) ? 0 : HL_ENOMEM;
}

void hl_holds_free_priv(hl_arena *a)
{
	struct hl_holds_priv *h = a->holds;
	if (!h)
		return;
	free(h->map);
	free(h->free);
	free(h);
	a->holds = NULL;
}

static struct hl_hold_map_ent *find(struct hl_holds_priv *h, uint64_t off)
{
	for (uint32_t p = home(h, off);; p = (p + 1) & h->mask) {
		if (h->map[p].off == off)
			return &h->map[p];
		if (h->map[p].off == 0)
			return NULL;
	}
}

/* Backward-shift deletion: keeps every key reachable from its home with
 * no tombstones (Knuth 6.4, algorithm R). */
static void map_remove(struct hl_holds_priv *h, struct hl_hold_map_ent *e)
{
	uint32_t i = (uint32_t)(e - h->map);
	for (uint32_t j = (i + 1) & h->mask; h->map[j].off; j = (j + 1) & h->mask) {
		uint32_t k = home(h, h->map[j].off);
		/* move j to i when its home k is not cyclically in (i, j] */
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			h->map[i] = h->map[j];
			i = j;
		}
	}
	memset(&h->map[i], 0, sizeof h->map[i]);
}

unsigned hl_holds_room(hl_arena *a)
{
	if (!a->slot)
		return UINT32_MAX;
	struct hl_holds_priv *h = priv(a);
	return h ? h->nfree : 0;
}

int hl_hold_add(hl_arena *a, uint64_t off, enum hl_hold_kind kind)
{
	if (!a->slot || off == 0)
		return 0; /* read-only handles validate instead; the empty state */
	struct hl_holds_priv *h = priv(a);
	if (!h)
		return HL_ENOMEM;
	struct hl_hold_map_ent *e = find(h, off);
	if (!e) {
		if (h->nfree == 0)
			return HL_EFULL;
		uint32_t p = home(h, off);
		while (h->map[p].off)
			p = (p + 1) & h->mask;
		e = &h->map[p];
		e->off = off;
		e->entry = h->free[--h->nfree];
		h->used++;
		struct hl_hold *t = &table_of(a, (uint32_t)a->slot_index)[e->entry];
		t->count = 0;
		atomic_store_explicit(&t->off, off, memory_order_release);
	}
	if (kind == HL_HOLD_PIN)
		e->pins++;
	else
		e->states++;
	table_of(a, (uint32_t)a->slot_index)[e->entry].count = e->pins + e->states;
	return 0;
}

int hl_hold_drop(hl_arena *a, uint64_t off, enum hl_hold_kind kind)
{
	if (!a->slot || off == 0)
		return 0;
	struct hl_holds_priv *h = a->holds;
	struct hl_hold_map_ent *e = h ? find(h, off) : NULL;
	if (!e || (kind == HL_HOLD_PIN ? e->pins : e->states) == 0)
		return HL_ENOENT;
	if (kind == HL_HOLD_PIN)
		e->pins--;
	else
		e->states--;
	struct hl_hold *t = &table_of(a, (uint32_t)a->slot_index)[e->entry];
	t->count = e->pins + e->states;
	if (t->count)
		return 0;
	atomic_store_explicit(&t->off, 0, memory_order_relaxed);
	h->free[h->nfree++] = e->entry;
	h->used--;
	map_remove(h, e);
	return 0;
}

uint32_t hl_holds_pins(hl_arena *a, uint64_t off)
{
	struct hl_holds_priv *h = a->holds;
	struct hl_hold_map_ent *e = h && off ? find(h, off) : NULL;
	return e ? e->pins : 0;
}

uint64_t hl_holds_entry(const hl_arena *a, uint32_t slot, uint32_t i)
{
	return atomic_load_explicit(&table_of(a, slot)[i].off, memory_order_acquire);
}

void hl_holds_clear(hl_arena *a, uint32_t slot)
{
	struct hl_hold *t = table_of(a, slot);
	for (uint32_t i = 0; i < a->hdr->holds_per_slot; i++) {
		if (atomic_load_explicit(&t[i].off, memory_order_relaxed) == 0)
			continue;
		t[i].count = 0;
		atomic_store_explicit(&t[i].off, 0, memory_order_relaxed);
	}
	if ((int)slot == a->slot_index)
		hl_holds_free_priv(a);
}

uint32_t hl_holds_count(const hl_arena *a, uint32_t slot)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < a->hdr->holds_per_slot; i++)
		n += hl_holds_entry(a, slot, i) != 0;
	return n;
}
