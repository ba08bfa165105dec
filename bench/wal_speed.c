/*
 * wal_speed.c - helios-wal-speed: how fast the WAL writes on this disk,
 * per I/O backend, beside the raw O_DIRECT write speed of the device.
 *
 *   helios-wal-speed [--dir DIR] [--mb N] [--runs N] [--flushes N]
 *
 * For each backend (io_uring or pwrite; O_DIRECT or buffered; RWF_DSYNC or
 * a datasync after the writes) it measures
 *
 *   append MB/s   4 KiB records appended and flushed in groups of 64
 *                 (256 KiB per flush), payload bytes over wall time;
 *   flush latency one 100-byte record appended and hl_wal_flush'ed, again
 *                 and again (a sync commit of one small record);
 *
 * and, with plain pwrite(2) on an O_DIRECT file, the device's sequential
 * write speed in 1 MiB writes with one fdatasync at the end ("raw"), and
 * CRC32C's speed over 1 MiB, by instruction and by table (the append and
 * raw measurements are wal_engine.c's, which `helios bench --persist`
 * shares). Every figure is
 * the median of --runs runs, interleaved across backends. The files live
 * in DIR (default /var/tmp; never tmpfs, where neither O_DIRECT nor
 * flushes mean much) and are removed at the end. Not a test: nothing here
 * asserts a speed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "io.h"
#include "shm.h"
#include "wal.h"
#include "wal_engine.h"

#define RUNS_MAX 15
#define SMALL_BYTES 100u

struct opts {
	const char *dir;
	uint64_t mb;
	unsigned runs;
	unsigned flushes;
};

struct backend {
	const char *name;
	enum hl_io_backend be;
	enum hl_io_direct direct;
	enum hl_io_sync sync;
};

static const struct backend backends[] = {
	{ "uring  direct   dsync    ", HL_IO_BACKEND_URING, HL_IO_DIRECT_AUTO, HL_IO_SYNC_DSYNC },
	{ "uring  direct   fdatasync", HL_IO_BACKEND_URING, HL_IO_DIRECT_AUTO, HL_IO_SYNC_FDATASYNC },
	{ "pwrite direct   dsync    ", HL_IO_BACKEND_PWRITE, HL_IO_DIRECT_AUTO, HL_IO_SYNC_DSYNC },
	{ "pwrite direct   fdatasync", HL_IO_BACKEND_PWRITE, HL_IO_DIRECT_AUTO, HL_IO_SYNC_FDATASYNC },
	{ "uring  buffered dsync    ", HL_IO_BACKEND_URING, HL_IO_DIRECT_OFF, HL_IO_SYNC_DSYNC },
	{ "pwrite buffered fdatasync", HL_IO_BACKEND_PWRITE, HL_IO_DIRECT_OFF, HL_IO_SYNC_FDATASYNC },
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, unsigned n)
{
	qsort(v, n, sizeof *v, cmp_u64);
	return v[n / 2];
}

static uint64_t pct(uint64_t *v, unsigned n, unsigned p)
{
	qsort(v, n, sizeof *v, cmp_u64);
	return v[(uint64_t)(n - 1) * p / 100];
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "helios-wal-speed: %s: %s\n", what, hl_strerror(rc));
	exit(1);
}

/* ---- the device: plain O_DIRECT pwrite (wal_engine.c) ---------------------- */

static double raw_direct_mbps(const char *path, uint64_t bytes)
{
	double mbps = 0;
	int rc = hl_wal_engine_raw_mbps(path, bytes, &mbps);
	if (rc)
		fprintf(stderr, "helios-wal-speed: O_DIRECT writes to %s: %s\n",
			path, hl_strerror(rc));
	return mbps;
}

/* ---- CRC32C ------------------------------------------------------------------- */

static double crc_gbps(uint32_t (*fn)(uint32_t, const void *, size_t))
{
	const size_t len = 1u << 20;
	unsigned char *b = malloc(len);
	for (size_t i = 0; i < len; i++)
		b[i] = (unsigned char)(i * 31);
	uint32_t c = 0;
	uint64_t t0 = hl_now_ns();
	for (int k = 0; k < 256; k++)
		c = fn(c, b, len);
	uint64_t ns = hl_now_ns() - t0;
	free(b);
	if (c == 0x12345678u)
		printf(" ");       /* keeps the loop from being optimised out */
	return 256.0 * (double)len / (double)ns;
}

/* ---- the WAL ------------------------------------------------------------------ */

static struct hl_wal *wal_fresh(const char *path, const struct backend *b,
				uint64_t file_bytes, struct hl_io_stats *st)
{
	struct hl_io_config io;
	struct hl_wal *w;
	hl_io_config_init(&io);
	io.backend = b->be;
	io.direct = b->direct;
	io.sync = b->sync;
	int rc = hl_wal_engine_fresh(path, &io, file_bytes, &w); /* recycles after the first */
	if (rc)
		die("hl_wal_create", rc);
	hl_wal_io_stats(w, st);
	return w;
}

static double append_mbps(struct hl_wal *w, uint64_t bytes)
{
	double mbps = 0;
	int rc = hl_wal_engine_append_mbps(w, bytes, &mbps);
	if (rc)
		die("append", rc);
	return mbps;
}

static void flush_latency(struct hl_wal *w, unsigned flushes, uint64_t *lat)
{
	static unsigned char rec[SMALL_BYTES];
	for (unsigned i = 0; i < flushes; i++) {
		uint64_t t0 = hl_now_ns();
		int rc = hl_wal_append(w, HL_WAL_TYPE_USER, rec, SMALL_BYTES, NULL);
		if (!rc)
			rc = hl_wal_flush(w);
		if (rc)
			die("flush", rc);
		lat[i] = hl_now_ns() - t0;
	}
}

#define BACKENDS (sizeof backends / sizeof backends[0])

struct result {
	uint64_t mbps[RUNS_MAX], p50[RUNS_MAX], p99[RUNS_MAX];
	struct hl_io_stats st;
};

/* One run of one backend: append MB/s, then flush latency, each on a
 * fresh generation of the file at path. */
static void run_once(const struct opts *o, const struct backend *b,
		     const char *path, uint64_t *lat, struct result *res,
		     unsigned r)
{
	uint64_t bytes = o->mb << 20;
	uint64_t file_bytes = hl_wal_engine_file_bytes(bytes);
	struct hl_wal *w = wal_fresh(path, b, file_bytes, &res->st);
	res->mbps[r] = (uint64_t)(append_mbps(w, bytes) * 10);
	hl_wal_close(w);
	w = wal_fresh(path, b, file_bytes, &res->st);
	flush_latency(w, o->flushes, lat);
	res->p50[r] = median(lat, o->flushes);
	res->p99[r] = pct(lat, o->flushes, 99);
	hl_wal_io_stats(w, &res->st);
	hl_wal_close(w);
}

/* Runs are interleaved across backends (run 1 of each, then run 2 ...)
 * so that a noisy minute on a shared disk hits all of them alike. */
static void run_backends(const struct opts *o, const char *base)
{
	static struct result res[BACKENDS];
	uint64_t *lat = calloc(o->flushes, sizeof *lat);
	char path[4200];
	for (unsigned r = 0; r < o->runs; r++)
		for (size_t i = 0; i < BACKENDS; i++) {
			snprintf(path, sizeof path, "%s.%zu", base, i);
			run_once(o, &backends[i], path, lat, &res[i], r);
		}
	for (size_t i = 0; i < BACKENDS; i++) {
		snprintf(path, sizeof path, "%s.%zu", base, i);
		unlink(path);
		printf("  %s  %8.1f MB/s   %8.1f us   %8.1f us   %s\n",
		       backends[i].name, (double)median(res[i].mbps, o->runs) / 10,
		       (double)median(res[i].p50, o->runs) / 1e3,
		       (double)median(res[i].p99, o->runs) / 1e3,
		       res[i].st.fallbacks ? res[i].st.fallback_msg : "");
	}
	free(lat);
}

static void usage(void)
{
	fprintf(stderr, "usage: helios-wal-speed [--dir DIR] [--mb N] "
		"[--runs N (1-%d)] [--flushes N]\n", RUNS_MAX);
	exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ "/var/tmp", 64, 5, 500 };
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		char *end;
		unsigned long long v = strtoull(argv[i + 1], &end, 10);
		bool num = *end == 0 && end != argv[i + 1];
		if (!strcmp(argv[i], "--dir"))
			o->dir = argv[i + 1];
		else if (!strcmp(argv[i], "--mb") && num && v >= 1 && v <= 65536)
			o->mb = v;
		else if (!strcmp(argv[i], "--runs") && num && v >= 1 && v <= RUNS_MAX)
			o->runs = (unsigned)v;
		else if (!strcmp(argv[i], "--flushes") && num && v >= 10 &&
			 v <= 1000000)
			o->flushes = (unsigned)v;
		else
			usage();
		i++;
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	char path[4096];
	parse(argc, argv, &o);
	snprintf(path, sizeof path, "%s/helios-wal-speed.%d", o.dir, (int)getpid());
	printf("helios-wal-speed: %s, %llu MiB per run, median of %u runs\n",
	       o.dir, (unsigned long long)o.mb, o.runs);
	uint64_t raw[RUNS_MAX];
	for (unsigned r = 0; r < o.runs; r++)
		raw[r] = (uint64_t)(raw_direct_mbps(path, o.mb << 20) * 10);
	unlink(path);
	printf("  device: O_DIRECT pwrite, 1 MiB sequential, one fdatasync: "
	       "%.1f MB/s\n", (double)median(raw, o.runs) / 10);
	uint64_t hw[RUNS_MAX], sw[RUNS_MAX];
	bool have_hw = hl_crc32c_hw_available();
	for (unsigned r = 0; r < o.runs; r++) {
		hw[r] = have_hw ? (uint64_t)(crc_gbps(hl_crc32c_hw) * 100) : 0;
		sw[r] = (uint64_t)(crc_gbps(hl_crc32c_sw) * 100);
	}
	printf("  crc32c: SSE4.2 %.2f GB/s%s, table %.2f GB/s\n\n",
	       (double)median(hw, o.runs) / 100, have_hw ? "" : " (absent)",
	       (double)median(sw, o.runs) / 100);
	printf("  backend                    append+flush  flush p50     flush p99\n");
	printf("  (4 KiB records, 256 KiB per flush; flush = one %u B record)\n",
	       SMALL_BYTES);
	run_backends(&o, path);
	return 0;
}
