/*
 * state.c - working states: private copy-on-write views over a snapshot.
 *
 * A state is its base snapshot (a tree in the arena) plus the chunks written
 * since, each in a private chunk-sized buffer. Reading a clean chunk reads
 * the shared leaf in place; the first write to a chunk copies it into a
 * buffer (copy-on-write); commit (commit.c) publishes the buffers.
 *
 * Invariants:
 *  1. Every byte at or past `size` reads as zero, wherever it lives: dirty
 *     buffers are zeroed past the size when it shrinks, and base bytes past
 *     valid_bytes are never read (so a shrink followed by a grow reads zeros,
 *     not the base's old bytes).
 *  2. valid_bytes <= base.size; it only falls (on shrink) until the next
 *     commit or restore sets it to the size.
 *  3. A chunk is dirty at most once: the table maps a chunk index to its
 *     place in the dirty array; both are cleared together in O(dirty).
 *  4. Failing calls change nothing: every allocation a call needs is made
 *     before the first byte of the state changes.
 *  5. A state's base is held in its process's slot (shm/holds.c) from the
 *     moment it becomes the base until it is replaced or the state freed,
 *     so the collector keeps it and everything it shares. A restore finds
 *     the root and holds it inside one epoch section (nothing it found can
 *     be freed in between), and shades it if a collection is marking.
 *
 * Costs: restore is one index look-up plus O(dirty) to drop buffers; fork
 * copies the dirty buffers; a write copies at most one chunk per clean chunk
 * it touches, and reads nothing of a clean chunk it rewrites whole (to its
 * end or the state's).
 */
#include <string.h>

#include "workers.h"

/* ---- the dirty table ------------------------------------------------------ */

static uint32_t table_home(const hl_state *s, uint64_t k)
{
	return (uint32_t)((k * 0x9e3779b97f4a7c15ull) >> 32) & s->table_mask;
}

unsigned char *hl_dirty_find(const hl_state *s, uint64_t k)
{
	if (s->dirty_count == 0)
		return NULL;
	for (uint32_t p = table_home(s, k);; p = (p + 1) & s->table_mask) {
		uint32_t v = s->table[p];
		if (v == 0)
			return NULL;
		if (s->dirty[v - 1].chunk == k)
			return s->dirty[v - 1].buf;
	}
}

static void table_put(hl_state *s, uint32_t idx)
{
	uint32_t p = table_home(s, s->dirty[idx].chunk);
	while (s->table[p])
		p = (p + 1) & s->table_mask;
	s->table[p] = idx + 1;
}

static void dirty_arrays_free(hl_state *s)
{
	hl_priv_free(s->dirty, s->dirty_cap * sizeof *s->dirty);
	hl_priv_free(s->table, (size_t)s->dirty_cap * 2 * sizeof *s->table);
	hl_priv_free(s->sorted, s->dirty_cap * sizeof *s->sorted);
}

/* Room for one more dirty chunk: array, table (load <= 1/2) and commit's
 * sort scratch, so commit itself never allocates. */
static int dirty_reserve(hl_state *s)
{
	if (s->dirty_count < s->dirty_cap)
		return 0;
	uint32_t cap = s->dirty_cap ? s->dirty_cap * 2 : 8;
	if (cap > (1u << 30))
		return HL_ENOMEM;
	struct hl_dirty *d = hl_priv_alloc(cap * sizeof *d);
	uint32_t *t = hl_priv_alloc((size_t)cap * 2 * sizeof *t);
	const struct hl_dirty **o = hl_priv_alloc(cap * sizeof *o);
	if (!d || !t || !o) {
		hl_priv_free(d, cap * sizeof *d);
		hl_priv_free(t, (size_t)cap * 2 * sizeof *t);
		hl_priv_free(o, cap * sizeof *o);
		return HL_ENOMEM;
	}
	if (s->dirty_count)
		memcpy(d, s->dirty, s->dirty_count * sizeof *d);
	memset(t, 0, (size_t)cap * 2 * sizeof *t);
	dirty_arrays_free(s);
	s->dirty = d;
	s->table = t;
	s->sorted = o;
	s->dirty_cap = cap;
	s->table_mask = cap * 2 - 1;
	for (uint32_t i = 0; i < s->dirty_count; i++)
		table_put(s, i);
	return 0;
}

static unsigned char *buffer_get(hl_state *s)
{
	if (s->spare_count)
		return s->spare[--s->spare_count];
	return hl_priv_alloc(s->a->chunk_bytes);
}

static void buffer_put(hl_state *s, unsigned char *buf)
{
	if (s->spare_count < HL_SPARE_BUFFERS_MAX)
		s->spare[s->spare_count++] = buf;
	else
		hl_priv_free(buf, s->a->chunk_bytes);
}

/* Clears the table slots of the dirty chunks, then the array (invariant 3). */
static void dirty_clear(hl_state *s)
{
	for (uint32_t i = 0; i < s->dirty_count; i++) {
		uint32_t p = table_home(s, s->dirty[i].chunk);
		while (s->table[p] != i + 1)
			p = (p + 1) & s->table_mask;
		s->table[p] = 0;
		buffer_put(s, s->dirty[i].buf);
	}
	s->dirty_count = 0;
}

/* Keeps the first `kept` entries of the dirty array and maps them again. */
static void table_rebuild(hl_state *s, uint32_t kept)
{
	if (s->table)
		memset(s->table, 0, ((size_t)s->table_mask + 1) * sizeof *s->table);
	s->dirty_count = kept;
	for (uint32_t i = 0; i < kept; i++)
		table_put(s, i);
}

/* Removes dirty chunks at or past chunk `from`, rebuilding the table. */
static void dirty_drop_from(hl_state *s, uint64_t from)
{
	uint32_t kept = 0;
	for (uint32_t i = 0; i < s->dirty_count; i++) {
		if (s->dirty[i].chunk >= from)
			buffer_put(s, s->dirty[i].buf);
		else
			s->dirty[kept++] = s->dirty[i];
	}
	table_rebuild(s, kept);
}

/* Removes the dirty entries from `count0` on: those a failed write made
 * (invariant 4), rebuilding the table. */
static void dirty_truncate(hl_state *s, uint32_t count0)
{
	for (uint32_t i = count0; i < s->dirty_count; i++)
		buffer_put(s, s->dirty[i].buf);
	table_rebuild(s, count0);
}

/* ---- reading -------------------------------------------------------------- */

/* The bytes of chunk k as the state sees them, or NULL on a corrupt tree. */
static const unsigned char *chunk_bytes_of(hl_state *s, uint64_t k)
{
	unsigned char *d = hl_dirty_find(s, k);
	if (d)
		return d;
	if (k >= hl_valid_chunks(s))
		return s->a->zero_chunk;
	if (s->cached_leaf && s->cached_chunk == k)
		return s->cached_leaf;
	const unsigned char *leaf = hl_tree_leaf(s->a, &s->base, k);
	s->cached_chunk = k;
	s->cached_leaf = leaf;
	return leaf;
}

/* Makes chunk k dirty (copy-on-write) and returns its buffer. `whole`: the
 * caller rewrites every byte of it below the state's end, so its old bytes
 * are not read (a cold leaf, for a write of whole chunks after a restore);
 * the buffer holds the zeros past the end (invariant 1) and garbage below
 * it until the caller's copy. */
static int chunk_make_dirty(hl_state *s, uint64_t k, bool whole,
			    unsigned char **out)
{
	unsigned char *d = hl_dirty_find(s, k);
	if (d) {
		*out = d;
		return 0;
	}
	uint32_t cb = s->a->chunk_bytes;
	const unsigned char *src = whole ? NULL : chunk_bytes_of(s, k);
	if (!whole && !src)
		return HL_ECORRUPT;
	if (dirty_reserve(s))
		return HL_ENOMEM;
	unsigned char *buf = buffer_get(s);
	if (!buf)
		return HL_ENOMEM;
	if (whole) {
		uint64_t below = s->size - (k << s->a->chunk_shift); /* > 0 */
		if (below < cb)
			memset(buf + below, 0, cb - below);
	} else {
		memcpy(buf, src, cb);
	}
	s->dirty[s->dirty_count] = (struct hl_dirty){k, buf};
	table_put(s, s->dirty_count++);
	*out = buf;
	return 0;
}

static bool range_ok(const hl_state *s, uint64_t off, size_t len)
{
	uint64_t end;
	return !hl_add_overflows(off, len, &end) && end <= s->size;
}

int hl_state_read(hl_state *s, uint64_t off, void *buf, size_t len)
{
	if (!s || (!buf && len))
		return HL_EINVAL;
	if (!range_ok(s, off, len))
		return HL_ERANGE;
	uint32_t cb = s->a->chunk_bytes;
	unsigned char *out = buf;
	while (len) {
		uint64_t k = off >> s->a->chunk_shift;
		uint32_t in = (uint32_t)(off & (cb - 1));
		size_t n = cb - in < len ? cb - in : len;
		const unsigned char *src = chunk_bytes_of(s, k);
		if (!src)
			return HL_ECORRUPT;
		memcpy(out, src + in, n);
		out += n, off += n, len -= n;
	}
	return 0;
}

int hl_state_view(hl_state *s, uint64_t off, const void **ptr, size_t *len)
{
	if (!s || !ptr || !len)
		return HL_EINVAL;
	if (off >= s->size)
		return HL_ERANGE;
	uint32_t cb = s->a->chunk_bytes;
	uint32_t in = (uint32_t)(off & (cb - 1));
	const unsigned char *src = chunk_bytes_of(s, off >> s->a->chunk_shift);
	if (!src)
		return HL_ECORRUPT;
	uint64_t left = s->size - off;
	*ptr = src + in;
	*len = (size_t)(cb - in < left ? cb - in : left);
	return 0;
}

/* ---- writing -------------------------------------------------------------- */

/* Makes every chunk of [off, off+len) dirty first, so a failure (no memory)
 * leaves the bytes untouched (invariant 4). A partial failure leaves some
 * chunks dirty with unchanged content, which changes no byte. */
int hl_state_write(hl_state *s, uint64_t off, const void *buf, size_t len)
{
	if (!s || (!buf && len))
		return HL_EINVAL;
	if (!range_ok(s, off, len))
		return HL_ERANGE;
	if (len == 0)
		return 0;
	uint32_t shift = s->a->chunk_shift, cb = s->a->chunk_bytes;
	uint64_t first = off >> shift, last = (off + len - 1) >> shift;
	uint32_t count0 = s->dirty_count;
	unsigned char *dst;
	for (uint64_t k = first; k <= last; k++) {
		/* a chunk rewritten from its start to its end or the state's */
		bool whole = (k > first || (off & (cb - 1)) == 0) &&
			     (k < last || ((off + len) & (cb - 1)) == 0 ||
			      off + len == s->size);
		int rc = chunk_make_dirty(s, k, whole, &dst);
		if (rc) {
			dirty_truncate(s, count0); /* no garbage left (invariant 4) */
			return rc;
		}
	}
	const unsigned char *in = buf;
	for (uint64_t k = first; k <= last; k++) {
		uint64_t lo = k == first ? off & (cb - 1) : 0;
		uint64_t hi = k == last ? ((off + len - 1) & (cb - 1)) + 1 : cb;
		dst = hl_dirty_find(s, k);
		memcpy(dst + lo, in, hi - lo);
		in += hi - lo;
	}
	return 0;
}

int hl_state_resize(hl_state *s, uint64_t size)
{
	if (!s)
		return HL_EINVAL;
	if (size > HL_STATE_BYTES_MAX)
		return HL_ERANGE;
	if (size >= s->size) {
		s->size = size; /* new bytes read as zero (invariant 1) */
		return 0;
	}
	uint32_t cb = s->a->chunk_bytes;
	uint32_t tail = (uint32_t)(size & (cb - 1));
	if (tail) {
		unsigned char *buf;
		int rc = chunk_make_dirty(s, size >> s->a->chunk_shift, false, &buf);
		if (rc)
			return rc;
		memset(buf + tail, 0, cb - tail);
	}
	dirty_drop_from(s, hl_chunks_of(s->a, size));
	s->size = size;
	if (s->valid_bytes > size)
		s->valid_bytes = size;
	s->cached_leaf = NULL;
	return 0;
}

uint64_t hl_state_size(const hl_state *s)
{
	return s ? s->size : 0;
}

hl_id hl_state_base(const hl_state *s)
{
	return s ? s->base_id : (hl_id){0, 0};
}

/* ---- life cycle ----------------------------------------------------------- */

int hl_state_new(hl_arena *a, hl_state **out)
{
	if (!a || !out)
		return HL_EINVAL;
	hl_state *s = hl_priv_alloc(sizeof *s);
	unsigned char **spare =
		hl_priv_alloc(HL_SPARE_BUFFERS_MAX * sizeof *spare);
	if (!s || !spare) {
		hl_priv_free(s, sizeof *s);
		hl_priv_free(spare, HL_SPARE_BUFFERS_MAX * sizeof *spare);
		return HL_ENOMEM;
	}
	memset(s, 0, sizeof *s);
	s->a = a;
	s->spare = spare;
	*out = s;
	return 0;
}

void hl_state_free(hl_state *s)
{
	if (!s)
		return;
	(void)hl_hold_drop(s->a, s->base.root_off, HL_HOLD_STATE); /* invariant 5 */
	uint32_t cb = s->a->chunk_bytes;
	for (uint32_t i = 0; i < s->dirty_count; i++)
		hl_priv_free(s->dirty[i].buf, cb);
	for (uint32_t i = 0; i < s->spare_count; i++)
		hl_priv_free(s->spare[i], cb);
	hl_priv_free(s->spare, HL_SPARE_BUFFERS_MAX * sizeof *s->spare);
	dirty_arrays_free(s);
	hl_priv_free(s, sizeof *s);
}

int hl_state_rebase(hl_state *s, hl_id id, const struct hl_tree *t)
{
	/* invariant 5: the new base held before the old one is let go */
	int rc = hl_hold_add(s->a, t->root_off, HL_HOLD_STATE);
	if (rc)
		return rc;
	(void)hl_hold_drop(s->a, s->base.root_off, HL_HOLD_STATE);
	dirty_clear(s);
	s->base_id = id;
	s->base = *t;
	s->size = t->size;
	s->valid_bytes = t->size;
	s->cached_leaf = NULL;
	return 0;
}

int hl_restore(hl_state *s, hl_id id)
{
	if (!s)
		return HL_EINVAL;
	struct hl_tree t;
	hl_epoch_enter(s->a); /* invariant 5: found and held in one section */
	int rc = hl_gc_find_root(s->a, id, &t);
	/* A flipped root size never makes a state of the wrong length. Nodes
	 * below are checked for kind and level as they are read; their bytes
	 * only by hl_arena_check, since a restore is O(1). */
	if (!rc && !hl_tree_root_ok(id, &t))
		rc = HL_ECORRUPT;
	if (!rc)
		rc = hl_state_rebase(s, id, &t);
	hl_epoch_exit(s->a);
	if (rc)
		return rc;
	if (s->a->slot)
		hl_ctr_add(s->a, HL_CTR_RESTORES, 1);
	return 0;
}

int hl_fork(hl_state *s, hl_state **out)
{
	if (!s || !out)
		return HL_EINVAL;
	hl_state *c;
	int rc = hl_state_new(s->a, &c);
	if (rc)
		return rc;
	if ((rc = hl_hold_add(s->a, s->base.root_off, HL_HOLD_STATE))) {
		hl_state_free(c);
		return rc;
	}
	c->size = s->size;
	c->valid_bytes = s->valid_bytes;
	c->base_id = s->base_id;
	c->base = s->base;
	for (uint32_t i = 0; i < s->dirty_count; i++) {
		unsigned char *buf = NULL;
		if (dirty_reserve(c) || !(buf = buffer_get(c))) {
			hl_state_free(c);
			return HL_ENOMEM;
		}
		memcpy(buf, s->dirty[i].buf, s->a->chunk_bytes);
		c->dirty[c->dirty_count] = (struct hl_dirty){s->dirty[i].chunk, buf};
		table_put(c, c->dirty_count++);
	}
	*out = c;
	return 0;
}
