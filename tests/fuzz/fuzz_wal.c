/*
 * fuzz_wal.c - libFuzzer entry point for the WAL scanner: arbitrary bytes
 * as a WAL file image.
 *
 * Whatever the bytes, hl_wal_scan_buf must return 0 or a header error
 * (HL_ECORRUPT, HL_EVERSION), never crash or read outside the image, and
 * what it reports must be consistent: every record it delivers lies inside
 * the image, LSNs strictly increase, the count matches, and end_lsn is not
 * before the last record. Each delivered payload is read in full so the
 * sanitizers see any out-of-bounds range.
 *
 * A random header almost never carries a good crc, so the scan would
 * rarely reach the records: when the last byte of the header block (which
 * the format leaves unchecked) is odd, the harness stamps the right crc
 * into a copy first, and the fuzzer explores the records behind a valid
 * header.
 *
 * Seeds: tests/fuzz/corpus/wal/ (valid logs of a few records, one spanning
 * blocks, one recycled generation, one torn tail).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <string.h>

#include "crc32c.h"
#include "helios.h"
#include "wal.h"

struct fuzz_ctx {
	const uint8_t *lo, *hi;
	uint64_t count, last_lsn;
	unsigned sum;
};

static int on_record(void *ctx, uint64_t lsn, unsigned type,
		     const void *payload, uint32_t len)
{
	struct fuzz_ctx *c = ctx;
	const uint8_t *p = payload;
	if (type < HL_WAL_TYPE_USER || (c->count && lsn <= c->last_lsn) ||
	    p < c->lo || p > c->hi || (size_t)(c->hi - p) < len)
		abort();
	for (uint32_t i = 0; i < len; i++)
		c->sum += p[i];
	c->count++;
	c->last_lsn = lsn;
	return 0;
}

static int scan(const uint8_t *data, size_t size)
{
	struct fuzz_ctx c = { data, data + size, 0, 0, 0 };
	struct hl_wal_info info;
	struct hl_wal_scan_result res;
	int rc = hl_wal_scan_buf(data, size, &info, on_record, &c, &res);
	if (rc == HL_ECORRUPT || rc == HL_EVERSION)
		return 0;
	if (rc != 0 || res.records != c.count ||
	    (c.count && (res.last_lsn != c.last_lsn || res.end_lsn <= res.last_lsn)))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HL_WAL_HDR_BYTES || !(data[HL_WAL_HDR_BYTES - 1] & 1))
		return scan(data, size);
	uint8_t *copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	uint32_t crc = hl_crc32c(0, copy, 124);
	memcpy(copy + 124, &crc, 4); /* the header's crc field (wal.h) */
	scan(copy, size);
	free(copy);
	return 0;
}
