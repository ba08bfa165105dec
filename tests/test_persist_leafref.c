/*
 * test_persist_leafref.c - leaves go into the persist ring by reference
 * (shm/persist_ring.c invariant 5): the ring takes no copy of a chunk, the
 * persister writes the full node record from the node, and a reference
 * whose node no longer holds its content is dropped, never logged with
 * the wrong bytes.
 */
#include <criterion/criterion.h>
#include <inttypes.h>

#include "persister.h" /* io.h first: it declares struct hl_iofault */
#include "persist_rec.h"
#include "persist_util.h"
#include "ring_mpsc.h"
#include "shm.h"
#include "testutil.h"
#include "workers.h"

#define MiB (1024ull * 1024ull)
#define CHUNK PU_CHUNK

static void fini(void)
{
	tu_unlink_all();
	pu_dir_remove();
}

TestSuite(persist_leafref, .fini = fini, .timeout = 60);

static hl_arena *arena_persisted(const char **name)
{
	hl_config c;
	tu_config_small(&c, 16 * MiB, CHUNK);
	c.persist_ring_bytes = 1 * MiB;
	c.durability = HL_DURABILITY_ASYNC;
	*name = tu_arena_name("leafref");
	return tu_arena_create_cfg(*name, &c);
}

/* A one-chunk state of bytes seeded by seed, committed; its leaf's hash. */
static hl_id commit_chunk(hl_arena *a, unsigned seed, hl_id *leaf)
{
	static unsigned char buf[CHUNK];
	for (unsigned i = 0; i < CHUNK; i++)
		buf[i] = (unsigned char)(i * 7 + seed * 131 + 1);
	hl_state *s;
	hl_id id;
	cr_assert_eq(hl_state_new(a, &s), 0);
	cr_assert_eq(hl_state_resize(s, CHUNK), 0);
	cr_assert_eq(hl_state_write(s, 0, buf, CHUNK), 0);
	int rc = hl_commit(s, &id, NULL);
	cr_assert_eq(rc, 0, "commit: %s", hl_strerror(rc));
	hl_state_free(s);
	*leaf = hl_hash_leaf(buf, CHUNK);
	return id;
}

struct seen {
	const hl_arena *a;
	unsigned leaf_refs, nodes, expanded, dropped;
	uint32_t max_len;
	_Alignas(8) unsigned char node_rec[sizeof(struct hl_prec_node) + CHUNK];
};

/* The persister's view of each record: what hl_persist_expand makes. */
static int look(void *ctx, const void *rec, uint32_t len)
{
	struct seen *sn = ctx;
	struct hl_prec_hdr h;
	memcpy(&h, rec, sizeof h);
	sn->max_len = len > sn->max_len ? len : sn->max_len;
	sn->leaf_refs += h.type == HL_PREC_LEAF_REF;
	sn->nodes += h.type == HL_PREC_NODE;
	const void *out;
	uint32_t out_len;
	static _Alignas(8) unsigned char buf[sizeof(struct hl_prec_node) + CHUNK];
	if (hl_persist_expand(sn->a, rec, len, buf, &out, &out_len)) {
		sn->dropped++;
		return 0;
	}
	if (h.type == HL_PREC_LEAF_REF) {
		cr_assert_eq(out_len, sizeof(struct hl_prec_node) + CHUNK);
		cr_assert_eq(hl_replay_check_node(out, out_len, CHUNK), 0,
			     "the expanded leaf record fails its own check");
		memcpy(sn->node_rec, out, out_len);
		sn->expanded++;
	}
	return 0;
}

Test(persist_leafref, the_ring_takes_no_copy_of_a_chunk)
{
	const char *name;
	hl_arena *a = arena_persisted(&name); /* no persister: records stay */
	hl_id leaf;
	commit_chunk(a, 1, &leaf);
	cr_assert_lt(hl_ring_mpsc_used(a->ring), CHUNK,
		     "one commit of a 4 KiB leaf put %" PRIu64 " bytes in the ring",
		     hl_ring_mpsc_used(a->ring));
	struct seen sn = {.a = a};
	cr_assert_gt(hl_ring_mpsc_consume(a->ring, look, &sn, NULL, NULL, 100), 0);
	cr_assert_eq(sn.leaf_refs, 1);
	cr_assert_eq(sn.expanded, 1);
	cr_assert_eq(sn.dropped, 0);
	cr_assert_lt(sn.max_len, 256u, "a ring record of %u bytes", sn.max_len);
	const struct hl_prec_node *n = (const void *)sn.node_rec;
	cr_assert(hl_id_eq(n->hash, leaf));
	hl_arena_close(a);
}

Test(persist_leafref, a_reference_to_other_content_is_dropped)
{
	const char *name;
	hl_arena *a = arena_persisted(&name);
	hl_id leaf;
	commit_chunk(a, 2, &leaf);
	struct seen sn = {.a = a};
	hl_ring_mpsc_consume(a->ring, look, &sn, NULL, NULL, 100);
	uint64_t off;
	cr_assert_eq(hl_index_lookup(a, leaf, &off), 0);
	/* a reference naming another hash, as a reused copy's would */
	hl_id other = leaf;
	other.lo ^= 1;
	cr_assert_eq(hl_persist_push_leaf(a, other, off), 0);
	/* and one whose node's bytes changed after the push */
	cr_assert_eq(hl_persist_push_leaf(a, leaf, off), 0);
	struct hl_node *nd = hl_node_at(a, off);
	nd->payload[100] ^= 0x5a;
	memset(&sn, 0, sizeof sn);
	sn.a = a;
	hl_ring_mpsc_consume(a->ring, look, &sn, NULL, NULL, 100);
	nd->payload[100] ^= 0x5a;
	cr_assert_eq(sn.leaf_refs, 2);
	cr_assert_eq(sn.dropped, 2, "a stale reference was not dropped");
	/* and an offset outside the heap */
	cr_assert_eq(hl_persist_push_leaf(a, leaf, 8), 0);
	memset(&sn, 0, sizeof sn);
	sn.a = a;
	hl_ring_mpsc_consume(a->ring, look, &sn, NULL, NULL, 100);
	cr_assert_eq(sn.dropped, 1);
	hl_arena_close(a);
}

Test(persist_leafref, stale_references_leave_a_valid_wal)
{
	pu_dir_make();
	const char *name;
	hl_arena *a = arena_persisted(&name);
	struct hl_persister_config pc;
	hl_persister_config_init(&pc);
	pc.no_ckpt = true; /* the WAL alone: what recovery replays is all in it */
	pc.wal_bytes = 8 * MiB;
	struct hl_persister *p = NULL;
	cr_assert_eq(hl_persister_start(a, pu_dir, &pc, hl_replay_record, a, NULL, &p), 0);
	hl_id ids[40], leaf;
	uint64_t off;
	for (unsigned g = 0; g < 40; g++) {
		ids[g] = commit_chunk(a, 10 + g, &leaf);
		cr_assert_eq(hl_index_lookup(a, leaf, &off), 0);
		hl_id other = leaf;
		other.hi ^= 1ull << (g % 64);
		cr_assert_eq(hl_persist_push_leaf(a, other, off), 0);
	}
	cr_assert_eq(hl_persist_sync(a, 0), 0);
	cr_assert_eq(hl_persister_stop(p), 0);
	hl_arena_close(a);
	hl_arena_unlink(name);

	hl_arena *r = tu_arena_new("leafref", 16 * MiB, CHUNK, NULL);
	struct hl_recovery_info info;
	int rc = hl_recover_dir(pu_dir, CHUNK, hl_replay_record, r, &info);
	cr_assert_eq(rc, 0, "recovery: %s", hl_strerror(rc));
	cr_assert_eq(info.stop, HL_WAL_STOP_END);
	tu_assert_arena_ok(r, "after recovery");
	for (unsigned g = 0; g < 40; g++) {
		hl_state *s;
		static unsigned char buf[CHUNK];
		cr_assert_eq(hl_state_new(r, &s), 0);
		cr_assert_eq(hl_restore(s, ids[g]), 0, "commit %u lost", g);
		cr_assert_eq(hl_state_read(s, 0, buf, CHUNK), 0);
		for (unsigned i = 0; i < CHUNK; i++)
			cr_assert_eq(buf[i], (unsigned char)(i * 7 + (10 + g) * 131 + 1));
		hl_state_free(s);
	}
	hl_arena_close(r);
}
