/*
 * test_persist_torn.c - recovery from damaged and half-written logs, on
 * real files under /var/tmp:
 *
 *   - power loss (iofault.h): the persister halted with writes in flight
 *     or not yet flushed, each of them kept, dropped or torn by seed;
 *     every commit acknowledged before (sync, or covered by a completed
 *     hl_persist_sync) comes back, for 24 seeds;
 *   - the WAL cut (zeroed from, or truncated at) every 512-byte offset of
 *     its tail, and single bits flipped: recovery never fails or crashes,
 *     replays exactly the records before the damage, and what it restores
 *     is a prefix of the commits, the checkers passing;
 *   - a damaged WAL header, a newer version: clear errors.
 */
#include <criterion/criterion.h>

#include "persister.h" /* io.h first: it declares struct hl_iofault */
#include "crc32c.h"
#include "iofault.h"
#include "persist_util.h"
#include "shm.h"
#include "testutil.h"
#include "workers.h"

#define MiB (1024ull * 1024ull)
#define CHUNK PU_CHUNK
#define STATE_CHUNKS PU_STATE_CHUNKS
#define GENS 120u

static void fini(void)
{
	tu_unlink_all();
	pu_dir_remove();
}

TestSuite(persist_torn, .fini = fini, .timeout = 120);

static hl_arena *arena_persisted(const char *name, unsigned durability,
				 uint64_t lag_ns)
{
	hl_config c;
	tu_config_small(&c, 16 * MiB, CHUNK);
	c.persist_ring_bytes = 1 * MiB;
	c.durability = durability;
	c.persist_lag_ns = lag_ns;
	return tu_arena_create_cfg(name, &c);
}

static struct hl_persister *start(hl_arena *a, struct hl_iofault *f)
{
	struct hl_persister_config pc;
	hl_persister_config_init(&pc);
	/* the WAL alone, as this suite tests it (test_checkpoint*.c: checkpoints) */
	pc.no_ckpt = true;
	pc.wal_bytes = 8 * MiB;
	pc.io.fault = f;
	struct hl_persister *p = NULL;
	int rc = hl_persister_start(a, pu_dir, &pc, hl_replay_record, a, NULL, &p);
	cr_assert_eq(rc, 0, "hl_persister_start: %s", hl_strerror(rc));
	return p;
}

static unsigned char buf[STATE_CHUNKS * CHUNK];

/* Whether id restores to gen's bytes in a (asserting it is not wrong). */
static bool restores(hl_arena *a, hl_id id, uint32_t gen)
{
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	bool ok = hl_restore(s, id) == 0;
	if (ok) {
		cr_assert_eq(hl_state_read(s, 0, buf, sizeof buf), 0);
		cr_assert_eq(tu_pattern_check(buf, 0, CHUNK, 0), -1);
		cr_assert_eq(tu_pattern_check(buf + CHUNK, CHUNK,
					      (STATE_CHUNKS - 1) * CHUNK, gen), -1,
			     "gen %u restored other bytes", gen);
	}
	hl_state_free(s);
	return ok;
}

static hl_arena *recover_fresh(const char *name, struct hl_recovery_info *info)
{
	hl_config c;
	tu_config_small(&c, 16 * MiB, CHUNK);
	hl_arena *r = tu_arena_create_cfg(name, &c);
	int rc = hl_recover_dir(pu_dir, CHUNK, hl_replay_record, r, info);
	cr_assert_eq(rc, 0, "hl_recover_dir: %s", hl_strerror(rc));
	tu_assert_arena_ok(r, "after recovery");
	return r;
}

/* ---- power loss ----------------------------------------------------------- */

static uint64_t at_risk; /* writes a power loss could tear, over the seeds */

static void power_loss(uint64_t seed, const char *name, const char *check)
{
	pu_dir_make();
	uint64_t t0 = tu_now_ns();
	/* a lag of 200 us: flushes start while commits go on, so the halt
	 * below finds some submitted and not seen complete */
	hl_arena *a = arena_persisted(name, HL_DURABILITY_ASYNC, 200000);
	struct hl_iofault_config fc = {.record = true};
	struct hl_iofault *f;
	cr_assert_eq(hl_iofault_new(&fc, &f), 0);
	struct hl_persister *p = start(a, f);
	hl_state *s;
	hl_id ids[GENS];
	cr_assert_eq(hl_state_new(a, &s), 0);
	uint32_t acked = GENS / 2;
	for (uint32_t g = 0; g < GENS; g++) {
		unsigned flags = g < 8 ? HL_COMMIT_SYNC : HL_COMMIT_ASYNC;
		cr_assert_eq(pu_gen_commit(s, g + 1, flags, &ids[g]), 0);
		if (g + 1 == acked)
			cr_assert_eq(hl_persist_sync(a, 0), 0);
	}
	tu_sleep_us(seed * 37 % 400); /* catch flushes at every stage */
	hl_persister_halt(p);
	hl_state_free(s);
	hl_arena_close(a);
	hl_arena_unlink(name);
	struct hl_iofault_crash_info ci;
	cr_assert_eq(hl_iofault_crash(f, pu_path(HL_PERSIST_WAL_NAME), seed, &ci), 0);
	hl_iofault_free(f);
	at_risk += ci.writes;

	struct hl_recovery_info info;
	hl_arena *r = recover_fresh(check, &info);
	for (uint32_t g = 0; g < acked; g++)
		cr_assert(restores(r, ids[g], g + 1), "seed %llu: acknowledged gen %u "
			  "lost (%llu writes torn or dropped)",
			  (unsigned long long)seed, g + 1,
			  (unsigned long long)(ci.torn + ci.dropped));
	for (uint32_t g = acked; g < GENS; g++)
		(void)restores(r, ids[g], g + 1); /* either way, never wrong bytes */
	hl_arena_close(r);
	hl_arena_unlink(check);
	pu_dir_remove();
	cr_log_info("seed %llu: %.0f ms, %llu writes at risk: %llu kept, "
		    "%llu dropped, %llu torn", (unsigned long long)seed,
		    (double)(tu_now_ns() - t0) / 1e6, (unsigned long long)ci.writes,
		    (unsigned long long)ci.kept, (unsigned long long)ci.dropped,
		    (unsigned long long)ci.torn);
}

Test(persist_torn, power_loss_keeps_what_was_acknowledged)
{
	const char *name = tu_arena_name("ptorn"), *check = tu_arena_name("ptorn");
	for (uint64_t seed = 1; seed <= 24; seed++)
		power_loss(seed, name, check);
	cr_assert_gt(at_risk, 0u, "no write was ever at risk: the power losses "
				  "tested nothing");
}

/* ---- cut and flipped logs ------------------------------------------------- */

struct rec_pos {
	uint64_t lsn[4096];
	uint32_t len[4096];
	uint64_t n, start_lsn;
};

static int note_rec(void *ctx, const void *rec, uint32_t len)
{
	(void)rec; (void)len;
	struct rec_pos *p = ctx;
	p->n++;
	return 0;
}

static int note_lsn(void *ctx, uint64_t lsn, unsigned type, const void *payload,
		    uint32_t len)
{
	(void)type; (void)payload;
	struct rec_pos *p = ctx;
	cr_assert_lt(p->n, 4096u);
	p->lsn[p->n] = lsn;
	p->len[p->n++] = len;
	return 0;
}

static struct rec_pos pos;
static hl_id torn_ids[GENS];

/* A WAL of GENS sync commits; pos gets every record's LSN. */
static unsigned char *make_log(size_t *len)
{
	pu_dir_make();
	const char *name = tu_arena_name("ptorn");
	hl_arena *a = arena_persisted(name, HL_DURABILITY_SYNC, 0);
	struct hl_persister *p = start(a, NULL);
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	for (uint32_t g = 0; g < GENS; g++)
		cr_assert_eq(pu_gen_commit(s, g + 1, 0, &torn_ids[g]), 0);
	hl_state_free(s);
	cr_assert_eq(hl_persister_stop(p), 0);
	hl_arena_close(a);
	hl_arena_unlink(name);
	struct hl_wal_info wi;
	struct hl_wal_scan_result res;
	memset(&pos, 0, sizeof pos);
	cr_assert_eq(hl_wal_scan_file(pu_path(HL_PERSIST_WAL_NAME),
				      hl_persist_geometry(CHUNK), &wi, note_lsn,
				      &pos, &res), 0);
	pos.start_lsn = wi.start_lsn;
	return pu_read_file(pu_path(HL_PERSIST_WAL_NAME), len);
}

/* Records wholly before file offset cut (header block first). */
static uint64_t records_before(uint64_t cut)
{
	uint64_t n = 0;
	while (n < pos.n && HL_WAL_HDR_BYTES + (pos.lsn[n] - pos.start_lsn) +
				    HL_WAL_REC_HDR_BYTES + pos.len[n] <= cut)
		n++;
	return n;
}

/* Recovers the damaged file: exactly `want` records, a prefix restored. */
static void recover_expect(uint64_t want, const char *what, uint64_t at)
{
	struct rec_pos cnt = {0};
	struct hl_recovery_info info;
	int rc = hl_recover_dir(pu_dir, CHUNK, note_rec, &cnt, &info);
	cr_assert_eq(rc, 0, "%s at %llu: %s", what, (unsigned long long)at,
		     hl_strerror(rc));
	cr_assert_eq(info.records, want, "%s at %llu: %llu records, not %llu",
		     what, (unsigned long long)at, (unsigned long long)info.records,
		     (unsigned long long)want);
}

Test(persist_torn, cut_log_keeps_exactly_the_records_before_the_cut)
{
	size_t len;
	unsigned char *img = make_log(&len);
	const char *path = pu_path(HL_PERSIST_WAL_NAME);
	uint64_t end = HL_WAL_HDR_BYTES + (pos.lsn[pos.n - 1] - pos.start_lsn) +
		       HL_WAL_REC_HDR_BYTES + pos.len[pos.n - 1];
	uint64_t from = end > 64 * 1024 ? end - 64 * 1024 : HL_WAL_HDR_BYTES;
	static unsigned char zero[HL_WAL_FILE_BYTES_MIN];
	for (uint64_t cut = from & ~511ull; cut <= end + 512; cut += 512) {
		pu_write_at(path, img, len, 0);
		uint64_t tail = len - cut < sizeof zero ? len - cut : sizeof zero;
		for (uint64_t at = cut; at < end + 4096 && at < len; at += tail)
			pu_write_at(path, zero, len - at < tail ? len - at : tail, at);
		recover_expect(records_before(cut), "zeroed from", cut);
		cr_assert_eq(truncate(path, (off_t)cut), 0);
		recover_expect(records_before(cut), "truncated at", cut);
	}
	/* a whole cut log still restores a prefix of the commits */
	pu_write_at(path, img, len, 0);
	cr_assert_eq(truncate(path, (off_t)(end / 2)), 0);
	struct hl_recovery_info info;
	hl_arena *r = recover_fresh(tu_arena_name("ptorn"), &info);
	bool gap = false;
	for (uint32_t g = 0; g < GENS; g++) {
		bool ok = restores(r, torn_ids[g], g + 1);
		cr_assert(!(ok && gap), "gen %u restores after a lost one", g + 1);
		gap |= !ok;
	}
	cr_assert(gap, "half the log cannot hold every commit");
	hl_arena_close(r);
	free(img);
}

Test(persist_torn, flipped_bits_stop_recovery_at_the_damaged_record)
{
	size_t len;
	unsigned char *img = make_log(&len);
	const char *path = pu_path(HL_PERSIST_WAL_NAME);
	struct tu_rng rng;
	tu_rng_seed(&rng, 77);
	for (unsigned t = 0; t < 64; t++) {
		uint64_t k = tu_rng_below(&rng, pos.n);
		uint64_t rec_off = HL_WAL_HDR_BYTES + (pos.lsn[k] - pos.start_lsn);
		uint64_t at = rec_off + tu_rng_below(&rng, HL_WAL_REC_HDR_BYTES +
							   pos.len[k]);
		unsigned char b = img[at] ^ (unsigned char)(1u << tu_rng_below(&rng, 8));
		pu_write_at(path, img, len, 0);
		pu_write_at(path, &b, 1, at);
		recover_expect(k, "bit flipped", at);
	}
	free(img);
}

Test(persist_torn, damaged_header_or_newer_version_is_a_clear_error)
{
	size_t len;
	unsigned char *img = make_log(&len);
	const char *path = pu_path(HL_PERSIST_WAL_NAME);
	struct hl_recovery_info info;
	unsigned char b = img[20] ^ 0x40; /* the features word: crc fails */
	pu_write_at(path, &b, 1, 20);
	cr_assert_eq(hl_recover_dir(pu_dir, CHUNK, NULL, NULL, &info), HL_ECORRUPT);
	pu_write_at(path, img, len, 0);
	cr_assert_eq(hl_recover_dir(pu_dir, CHUNK, NULL, NULL, &info), 0);
	/* a newer version, its header otherwise valid */
	unsigned char hdr[HL_WAL_HDR_BYTES];
	memcpy(hdr, img, sizeof hdr);
	uint32_t v = HL_WAL_VERSION + 1, crc;
	memcpy(hdr + 8, &v, sizeof v);
	crc = hl_crc32c(0, hdr, 124);
	memcpy(hdr + 124, &crc, sizeof crc);
	pu_write_at(path, hdr, sizeof hdr, 0);
	cr_assert_eq(hl_recover_dir(pu_dir, CHUNK, NULL, NULL, &info), HL_EVERSION);
	/* another arena's chunk size (geometry) */
	pu_write_at(path, img, len, 0);
	cr_assert_eq(hl_recover_dir(pu_dir, 2 * CHUNK, NULL, NULL, &info),
		     HL_EMISMATCH);
	cr_assert_eq(truncate(path, 100), 0); /* not even a header */
	cr_assert_eq(hl_recover_dir(pu_dir, CHUNK, NULL, NULL, &info), HL_ECORRUPT);
	free(img);
}
