/*
 * test_wal.c - the WAL format and its scanner: records read back exactly
 * as appended across block boundaries and reopenings, LSNs chained, and a
 * damaged log (truncated at every offset, any bit flipped, stale blocks of
 * an earlier generation) always yields exactly its valid prefix.
 */
#include "persist_util.h"

#include "crc32c.h"

TestSuite(wal, .fini = pu_dir_remove);

#define FILE_BYTES (8ull << 20)

struct rec { uint64_t lsn; uint32_t len; };

/* Appends records first..first+n-1, flushing after every `every` (0: at the
 * end only); records their LSNs in r (may be NULL). */
static void append_run(struct hl_wal *w, uint64_t first, uint64_t n,
		       uint64_t every, struct rec *r)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t lsn;
		cr_assert_eq(pu_append(w, first + i, &lsn), 0, "append %llu",
			     (unsigned long long)(first + i));
		if (r)
			r[i] = (struct rec){ lsn, pu_len(first + i) };
		if (every && (i + 1) % every == 0)
			cr_assert_eq(hl_wal_flush(w), 0);
	}
	cr_assert_eq(hl_wal_flush(w), 0);
}

static struct hl_wal *wal_new(const char *path, uint64_t bytes)
{
	struct hl_wal_config cfg;
	struct hl_wal *w;
	pu_wal_config(&cfg, bytes);
	cr_assert_eq(hl_wal_create(path, &cfg, &w), 0, "create %s", path);
	return w;
}

static uint64_t scan_count(const char *path, struct hl_wal_scan_result *res)
{
	struct pu_seen seen = {0};
	int rc = hl_wal_scan_file(path, PU_GEOMETRY, NULL, pu_check_record,
				  &seen, res);
	cr_assert_eq(rc, 0, "scan: %s (%s)", hl_strerror(rc), seen.why);
	cr_assert_eq(seen.bad, 0, "%s", seen.why);
	return seen.count;
}

Test(wal, records_round_trip_across_block_boundaries)
{
	pu_dir_make();
	const char *p = pu_path("wal");
	struct rec r[300];
	struct hl_wal *w = wal_new(p, FILE_BYTES);
	append_run(w, 0, 300, 17, r);
	unsigned crossing = 0;
	for (int i = 0; i < 300; i++)
		crossing += r[i].lsn / HL_WAL_BLOCK_BYTES !=
			    (r[i].lsn + 32 + r[i].len - 1) / HL_WAL_BLOCK_BYTES;
	cr_assert_gt(crossing, 50, "records must span blocks: %u", crossing);
	uint64_t end = hl_wal_end_lsn(w);
	cr_assert_eq(hl_wal_durable_lsn(w), end);
	hl_wal_close(w);

	struct hl_wal_scan_result res;
	cr_assert_eq(scan_count(p, &res), 300);
	cr_assert_eq(res.stop, HL_WAL_STOP_END);
	cr_assert_eq(res.end_lsn, end);
	cr_assert_eq(res.last_lsn, r[299].lsn);
}

Test(wal, lsns_are_positions_chained_from_the_start_lsn)
{
	pu_dir_make();
	const char *p = pu_path("wal");
	struct rec r[64];
	struct hl_wal *w = wal_new(p, FILE_BYTES);
	append_run(w, 0, 64, 5, r);
	hl_wal_close(w);
	cr_assert_eq(r[0].lsn, 1ull << 20, "first record at start_lsn");
	for (int i = 1; i < 64; i++) {
		uint64_t min = r[i - 1].lsn + ((32 + r[i - 1].len + 7) & ~7ull);
		cr_assert_geq(r[i].lsn, min, "record %d overlaps", i);
		cr_assert_lt(r[i].lsn - min, HL_WAL_BLOCK_BYTES,
			     "at most a block of pad between records");
		cr_assert_eq(r[i].lsn % 8, 0);
		/* A header never crosses a block. */
		cr_assert_leq(r[i].lsn % HL_WAL_BLOCK_BYTES + 32, HL_WAL_BLOCK_BYTES);
	}
	/* Each record's prev_crc is its predecessor's crc, the first's the
	 * header's. */
	size_t len;
	unsigned char *img = pu_read_file(p, &len);
	struct hl_wal_info info;
	cr_assert_eq(hl_wal_header_parse(img, len, &info), 0);
	uint32_t prev = info.hdr_crc;
	for (int i = 0; i < 64; i++) {
		const unsigned char *h = img + HL_WAL_HDR_BYTES +
					 (r[i].lsn - info.start_lsn);
		uint32_t pc, c;
		memcpy(&pc, h + 24, 4);
		memcpy(&c, h + 28, 4);
		if (i == 0)
			cr_assert_eq(pc, prev, "first record chains to header");
		else
			cr_assert_neq(pc, 0);
		prev = c;
	}
	free(img);
}

Test(wal, reopen_replays_then_appends_continue_the_chain)
{
	pu_dir_make();
	const char *p = pu_path("wal");
	struct hl_wal *w = wal_new(p, FILE_BYTES);
	append_run(w, 0, 40, 9, NULL);
	uint64_t end = hl_wal_end_lsn(w);
	hl_wal_close(w);
	for (int round = 1; round <= 3; round++) {
		struct hl_wal_config cfg;
		struct hl_wal_scan_result res;
		struct pu_seen seen = {0};
		pu_wal_config(&cfg, 0);
		cr_assert_eq(hl_wal_open(p, &cfg, pu_check_record, &seen, &res,
					 &w), 0);
		cr_assert_eq(seen.bad, 0, "%s", seen.why);
		cr_assert_eq(seen.count, 40ull * round);
		cr_assert_eq(res.end_lsn, end);
		cr_assert_eq(hl_wal_end_lsn(w), end);
		append_run(w, 40ull * round, 40, 7, NULL);
		end = hl_wal_end_lsn(w);
		hl_wal_close(w);
	}
	struct hl_wal_scan_result res;
	cr_assert_eq(scan_count(p, &res), 160);
	cr_assert_eq(res.end_lsn, end);
}

/* The user records of a 9-record run and the pad that seals it. */
struct image {
	unsigned char *b;
	size_t len;
	struct rec r[9];
	uint64_t start;
	uint64_t used;  /* log bytes written */
};

static void image_make(struct image *im)
{
	pu_dir_make();
	const char *p = pu_path("wal");
	struct hl_wal *w = wal_new(p, FILE_BYTES);
	append_run(w, 0, 9, 0, im->r);
	im->start = 1ull << 20;
	im->used = hl_wal_end_lsn(w) - im->start;
	hl_wal_close(w);
	im->b = pu_read_file(p, &im->len);
}

static uint64_t span_end(const struct rec *r, uint64_t start)
{
	return r->lsn - start + ((32 + r->len + 7) & ~7ull);
}

static uint64_t scan_image(const unsigned char *b, size_t len,
			   struct hl_wal_scan_result *res)
{
	struct pu_seen seen = {0};
	cr_assert_eq(hl_wal_scan_buf(b, len, NULL, pu_check_record, &seen, res), 0);
	cr_assert_eq(seen.bad, 0, "%s", seen.why);
	return seen.count;
}

Test(wal, truncated_at_every_offset_keeps_exactly_the_whole_records)
{
	struct image im;
	image_make(&im);
	unsigned char *z = malloc(im.len);
	cr_assert_not_null(z);
	for (uint64_t cut = 0; cut <= im.used + 64; cut++) {
		uint64_t want = 0;
		while (want < 9 && span_end(&im.r[want], im.start) <= cut)
			want++;
		struct hl_wal_scan_result res;
		/* The image ends at cut (a short file)... */
		uint64_t got = scan_image(im.b, HL_WAL_HDR_BYTES + cut, &res);
		cr_assert_eq(got, want, "cut %llu", (unsigned long long)cut);
		cr_assert_leq(res.end_lsn - im.start, cut);
		if (want)
			cr_assert_geq(res.end_lsn - im.start,
				      span_end(&im.r[want - 1], im.start));
		/* ...or is zero from cut on (a lost tail in a preallocated
		 * file). */
		uint64_t want_z = 0; /* the alignment bytes are zero anyway */
		while (want_z < 9 &&
		       im.r[want_z].lsn - im.start + 32 + im.r[want_z].len <= cut)
			want_z++;
		memcpy(z, im.b, HL_WAL_HDR_BYTES + cut);
		memset(z + HL_WAL_HDR_BYTES + cut, 0, im.len - HL_WAL_HDR_BYTES - cut);
		cr_assert_eq(scan_image(z, im.len, &res), want_z, "zeroed at %llu",
			     (unsigned long long)cut);
	}
	free(z);
	free(im.b);
}

/* Where a flipped log byte y must stop the scan: at the user record that
 * covers it (header or payload), after the records before a pad header
 * covering it, or nowhere (alignment bytes, pad payload, zero tails). */
static uint64_t expect_after_flip(const struct image *im, uint64_t y)
{
	for (uint64_t i = 0; i < 9; i++) {
		uint64_t s = im->r[i].lsn - im->start;
		if (y >= s && y < s + 32 + im->r[i].len)
			return i;
		uint64_t aend = span_end(&im->r[i], im->start);
		uint64_t next = i < 8 ? im->r[i + 1].lsn - im->start : im->used;
		uint64_t rem = HL_WAL_BLOCK_BYTES - aend % HL_WAL_BLOCK_BYTES;
		if (next > aend && rem >= 32 && rem < HL_WAL_BLOCK_BYTES &&
		    y >= aend && y < aend + 32)
			return i + 1; /* the pad that sealed a flush */
	}
	return 9;
}

Test(wal, a_flipped_bit_anywhere_stops_the_scan_at_its_record)
{
	struct image im;
	image_make(&im);
	for (uint64_t y = 0; y < im.used; y++) {
		unsigned char *at = im.b + HL_WAL_HDR_BYTES + y;
		unsigned char bit = (unsigned char)(1u << (y % 8));
		*at ^= bit;
		struct hl_wal_scan_result res;
		uint64_t got = scan_image(im.b, im.len, &res);
		*at ^= bit;
		cr_assert_eq(got, expect_after_flip(&im, y), "flip at log byte %llu",
			     (unsigned long long)y);
	}
	free(im.b);
}

Test(wal, a_damaged_header_is_an_error_never_a_scan)
{
	struct image im;
	image_make(&im);
	for (unsigned bit = 0; bit < 128 * 8; bit++) {
		im.b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		int rc = hl_wal_scan_buf(im.b, im.len, NULL, NULL, NULL, NULL);
		im.b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		cr_assert(rc == HL_ECORRUPT || rc == HL_EVERSION,
			  "bit %u: rc %d", bit, rc);
	}
	cr_assert_eq(hl_wal_scan_buf(im.b, HL_WAL_HDR_BYTES - 1, NULL, NULL,
				     NULL, NULL), HL_ECORRUPT);
	free(im.b);
}

Test(wal, a_stale_block_of_an_earlier_generation_is_rejected)
{
	pu_dir_make();
	const char *p = pu_path("wal");
	struct hl_wal *w = wal_new(p, FILE_BYTES);
	append_run(w, 0, 200, 1, NULL);       /* generation 1 */
	struct hl_wal_info g1;
	hl_wal_info_get(w, &g1);
	hl_wal_close(w);
	w = wal_new(p, FILE_BYTES);           /* recycled: generation 2 */
	struct hl_wal_info g2;
	hl_wal_info_get(w, &g2);
	cr_assert_eq(g2.generation, g1.generation + 1);
	cr_assert_neq(g2.salt, g1.salt);
	append_run(w, 1000, 5, 0, NULL);      /* a few blocks only */
	hl_wal_close(w);

	struct hl_wal_scan_result res;
	struct pu_seen seen = { .first = 1000 };
	cr_assert_eq(hl_wal_scan_file(p, PU_GEOMETRY, NULL, pu_check_record,
				      &seen, &res), 0);
	cr_assert_eq(seen.bad, 0, "%s", seen.why);
	cr_assert_eq(seen.count, 5, "only generation 2's records");
	cr_assert_eq(res.stop, HL_WAL_STOP_SALT, "stopped at a stale block");

	/* What stopped it is a well-formed generation-1 record sitting
	 * exactly where generation 2's next record goes (generation 1 flushed
	 * after every record, so each of its blocks starts with one): right
	 * LSN, good crc, old salt. */
	size_t len;
	unsigned char *img = pu_read_file(p, &len);
	uint64_t at = res.end_lsn - g2.start_lsn;
	const unsigned char *h = img + HL_WAL_HDR_BYTES + at;
	uint64_t lsn, salt;
	uint32_t rlen, crc;
	memcpy(&lsn, h, 8);
	memcpy(&salt, h + 8, 8);
	memcpy(&rlen, h + 16, 4);
	memcpy(&crc, h + 28, 4);
	cr_assert_eq(at % HL_WAL_BLOCK_BYTES, 0);
	cr_assert_eq(lsn, res.end_lsn, "the stale record names this position");
	cr_assert_eq(salt, g1.salt);
	cr_assert_eq(hl_crc32c(hl_crc32c(0, h, 28), h + 32, rlen), crc,
		     "and its crc is good");
	free(img);
}

static void patch_header(const char *path, unsigned off, uint64_t v,
			 unsigned bytes, bool fix_crc)
{
	size_t len;
	unsigned char *img = pu_read_file(path, &len);
	memcpy(img + off, &v, bytes);
	if (fix_crc) {
		uint32_t c = hl_crc32c(0, img, 124);
		memcpy(img + 124, &c, 4);
	}
	pu_write_at(path, img, HL_WAL_HDR_BYTES, 0);
	free(img);
}

static int open_rc(const char *path, uint64_t geometry)
{
	struct hl_wal_config cfg;
	struct hl_wal *w = NULL;
	pu_wal_config(&cfg, 0);
	cfg.geometry = geometry;
	int rc = hl_wal_open(path, &cfg, NULL, NULL, NULL, &w);
	hl_wal_close(w);
	return rc;
}

Test(wal, newer_version_unknown_feature_wrong_geometry_are_clear_errors)
{
	pu_dir_make();
	const char *p = pu_path("wal");
	struct hl_wal *w = wal_new(p, FILE_BYTES);
	append_run(w, 0, 3, 0, NULL);
	hl_wal_close(w);
	cr_assert_eq(open_rc(p, PU_GEOMETRY), 0);
	cr_assert_eq(open_rc(p, PU_GEOMETRY + 1), HL_EMISMATCH);
	cr_assert_eq(hl_wal_scan_file(p, 42, NULL, NULL, NULL, NULL), HL_EMISMATCH);

	patch_header(p, 8, HL_WAL_VERSION + 1, 4, true);
	cr_assert_eq(open_rc(p, PU_GEOMETRY), HL_EVERSION);
	patch_header(p, 8, HL_WAL_VERSION + 1, 4, false); /* crc not even checked */
	cr_assert_eq(open_rc(p, PU_GEOMETRY), HL_EVERSION);
	patch_header(p, 8, HL_WAL_VERSION, 4, true);
	cr_assert_eq(open_rc(p, PU_GEOMETRY), 0);
	patch_header(p, 16, 1ull << 40, 8, true);
	cr_assert_eq(open_rc(p, PU_GEOMETRY), HL_EVERSION);
	patch_header(p, 16, 0, 8, true);
	patch_header(p, 0, 0x2020202020202020ull, 8, true);
	cr_assert_eq(open_rc(p, PU_GEOMETRY), HL_ECORRUPT);

	cr_assert_eq(open_rc(pu_path("missing"), PU_GEOMETRY), HL_ENOENT);
	pu_write_at(pu_path("short"), "HLWALog1", 8, 0);
	cr_assert_eq(open_rc(pu_path("short"), PU_GEOMETRY), HL_ECORRUPT);
}

Test(wal, a_full_wal_says_so_and_keeps_what_fit)
{
	pu_dir_make();
	const char *p = pu_path("wal");
	struct hl_wal *w = wal_new(p, HL_WAL_FILE_BYTES_MIN);
	uint64_t n = 0;
	int rc;
	while ((rc = pu_append(w, n, NULL)) == 0)
		n++;
	cr_assert_eq(rc, HL_EFULL);
	cr_assert_gt(n, 5);
	cr_assert_eq(hl_wal_flush(w), 0);
	cr_assert_eq(pu_append(w, n, NULL), HL_EFULL, "still full after a flush");
	hl_wal_close(w);
	struct hl_wal_scan_result res;
	cr_assert_eq(scan_count(p, &res), n);
}

Test(wal, bad_arguments_are_rejected)
{
	pu_dir_make();
	struct hl_wal *w = wal_new(pu_path("wal"), FILE_BYTES);
	static unsigned char big[HL_WAL_PAYLOAD_BYTES_MAX + 1];
	cr_assert_eq(hl_wal_append(w, HL_WAL_TYPE_PAD, "x", 1, NULL), HL_EINVAL);
	cr_assert_eq(hl_wal_append(w, 0, "x", 1, NULL), HL_EINVAL);
	cr_assert_eq(hl_wal_append(w, HL_WAL_TYPE_USER, NULL, 1, NULL), HL_EINVAL);
	cr_assert_eq(hl_wal_append(w, HL_WAL_TYPE_USER, big, sizeof big, NULL),
		     HL_EINVAL);
	cr_assert_eq(hl_wal_append(w, HL_WAL_TYPE_USER, big, sizeof big - 1, NULL), 0);
	cr_assert_eq(hl_wal_flush(w), 0);
	hl_wal_close(w);

	struct hl_wal_config cfg;
	pu_wal_config(&cfg, FILE_BYTES + 1);
	cr_assert_eq(hl_wal_create(pu_path("w2"), &cfg, &w), HL_EINVAL);
	pu_wal_config(&cfg, HL_WAL_BLOCK_BYTES);
	cr_assert_eq(hl_wal_create(pu_path("w2"), &cfg, &w), HL_EINVAL);
	pu_wal_config(&cfg, FILE_BYTES);
	cfg.buffer_bytes = 4096;
	cr_assert_eq(hl_wal_create(pu_path("w2"), &cfg, &w), HL_EINVAL);
	cr_assert_neq(access(pu_path("w2"), F_OK), 0, "nothing left behind");
}

Test(wal, a_file_cut_short_reopens_with_its_valid_prefix_and_size)
{
	pu_dir_make();
	const char *p = pu_path("wal");
	struct rec r[60];
	struct hl_wal *w = wal_new(p, FILE_BYTES);
	append_run(w, 0, 60, 6, r);
	hl_wal_close(w);
	uint64_t cut = r[40].lsn - (1ull << 20) + HL_WAL_HDR_BYTES + 10;
	cr_assert_eq(truncate(p, (off_t)cut), 0);

	struct hl_wal_config cfg;
	struct pu_seen seen = {0};
	pu_wal_config(&cfg, 0);
	cr_assert_eq(hl_wal_open(p, &cfg, pu_check_record, &seen, NULL, &w), 0);
	cr_assert_eq(seen.bad, 0, "%s", seen.why);
	cr_assert_eq(seen.count, 40, "records 0-39 are whole below the cut");
	append_run(w, 40, 20, 0, NULL);
	hl_wal_close(w);
	struct stat st;
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(st.st_size, (off_t)FILE_BYTES, "preallocated again");
	struct hl_wal_scan_result res;
	cr_assert_eq(scan_count(p, &res), 60);
}
