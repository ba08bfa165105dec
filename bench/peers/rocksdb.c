/*
 * rocksdb.c - the RocksDB peer: W1 and W2 stored the way a RocksDB user
 * stores snapshots, through the C API.
 *
 * How a user would do it: open a database in a directory, and after each
 * change to the private state rocksdb_put the whole state under the
 * snapshot's key. To go back, rocksdb_get the key (RocksDB hands back a
 * malloc'd copy), copy it into the private state and rocksdb_free the copy.
 * (rocksdb_get_pinned would save that copy; measured here it is no faster:
 * 1.6 against 1.7 us for W1, about 75 us for W2, at p50.)
 *
 * Why these settings are the fair comparison:
 *  1. The write-ahead log stays on (RocksDB's default) and writes do not
 *     sync: an acknowledged put is in the WAL in the page cache and
 *     survives a crash of the process, as a commit into Helios's shared
 *     memory does; neither survives a crash of the machine. Turning the
 *     WAL off would lose acknowledged writes with the process; syncing it
 *     would measure the disk. A durable run (w->durable: the persistence
 *     section beside Helios's sync commits) sets sync=true, so each put
 *     returns once its WAL record is fsync'd, in a directory on a disk.
 *  2. The tuning RocksDB's own C example (examples/c_simple_example.c)
 *     gives every new user: background threads for the cores
 *     (rocksdb_options_increase_parallelism) and level-style compaction
 *     sized by a memtable budget (HL_PEER_ROCKS_MEMTABLE_BUDGET, the C++
 *     default; the example's 0 would shrink memtables to RocksDB's 64 KiB
 *     floor, a flush per 1 MiB put, which no user keeps).
 *  3. An LRU block cache large enough for the run's data up to
 *     HL_PEER_ROCKS_CACHE_MAX: a user with a hot working set of snapshots
 *     sizes the cache for it, and restores then hit memory, as Helios's do.
 *  4. The data directory is the harness's, on tmpfs like the arena.
 *  5. Everything between the first put and the last restore is in
 *     out->seconds (flushes and compactions run in the background during
 *     it, as they would for a user); only the change+put and the get+copy
 *     are in the histograms. Fingerprints and checks run between timed
 *     regions.
 *
 * RocksDB's C API has no version call (7.x); the version is read from the
 * first lines of the database's LOG, which RocksDB writes on open, or from
 * HL_ROCKSDB_VERSION if the build defines it.
 *
 * Paths out of hl_peer_rocksdb_run undo in reverse: the database (closed,
 * then destroyed), the options, the block cache, the private state. A
 * library error is reported as "rocksdb: <call>: <RocksDB's message>".
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#ifdef HL_HAVE_ROCKSDB

#include <errno.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <rocksdb/c.h>

/* OptimizeLevelStyleCompaction's default budget: four 128 MiB memtables. */
#define HL_PEER_ROCKS_MEMTABLE_BUDGET (512ull << 20)
/* Block cache: the run's data plus a quarter, within these bounds. */
#define HL_PEER_ROCKS_CACHE_MIN (64ull << 20)
#define HL_PEER_ROCKS_CACHE_MAX (1ull << 30)
/* Room a run needs in its directory, as a multiple of the data it puts:
 * the WAL holds each value until its memtable is flushed, and the flushed
 * and compacted tables coexist with it for a while (a W2 run of 500 ops
 * peaked at 1.3x here). RocksDB 7.8 aborts on an assertion when its LOG
 * cannot be written after ENOSPC, so a run that would fill the file system
 * must not start. */
#define HL_PEER_ROCKS_ROOM_FACTOR 2u
#define HL_PEER_ROCKS_ROOM_SLACK (64ull << 20)
/* How far into LOG the version line is looked for (it is the first). */
#define HL_PEER_ROCKS_LOG_HEAD 4096u

static void fail(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

/* Reports RocksDB's error string (and frees it): -1 if there was one. */
static int rocks_failed(char **rerr, const char *call, char *err, size_t len)
{
	if (!*rerr)
		return 0;
	fail(err, len, "rocksdb: %s: %s", call, *rerr);
	rocksdb_free(*rerr);
	*rerr = NULL;
	return -1;
}

static int rocks_probe(char *why, size_t len)
{
	(void)why;
	(void)len;
	return 0;
}

/* "7.8.3" from the "RocksDB version: " line RocksDB writes at the head of
 * dir/LOG when it opens a database; "7.x" if it is not there. */
static void rocks_version(const char *dir, char *out, size_t len)
{
#ifdef HL_ROCKSDB_VERSION
	(void)dir;
	snprintf(out, len, "%s", HL_ROCKSDB_VERSION);
#else
	static const char tag[] = "RocksDB version: ";
	char path[4096], head[HL_PEER_ROCKS_LOG_HEAD + 1];
	snprintf(out, len, "7.x");
	if ((size_t)snprintf(path, sizeof path, "%s/LOG", dir) >= sizeof path)
		return;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	size_t n = fread(head, 1, HL_PEER_ROCKS_LOG_HEAD, f);
	fclose(f);
	head[n] = '\0';
	char *v = strstr(head, tag);
	if (!v)
		return;
	v += sizeof tag - 1;
	size_t vlen = strspn(v, "0123456789.");
	if (vlen > 0)
		snprintf(out, len, "%.*s", (int)vlen, v);
#endif
}

/* 0 if dir has room for w (invariant: see HL_PEER_ROCKS_ROOM_FACTOR), or
 * if the file system cannot say. */
static int check_room(const struct hl_peer_workload *w, char *err, size_t len)
{
	struct statvfs fs;
	if (statvfs(w->dir, &fs) != 0)
		return 0; /* rocksdb_open will say what is wrong with dir */
	uint64_t free_bytes = (uint64_t)fs.f_bavail * fs.f_frsize;
	uint64_t per_op = w->state_bytes * HL_PEER_ROCKS_ROOM_FACTOR;
	uint64_t room_ops = free_bytes > HL_PEER_ROCKS_ROOM_SLACK
				    ? (free_bytes - HL_PEER_ROCKS_ROOM_SLACK) / per_op
				    : 0;
	if (w->ops <= room_ops)
		return 0;
	fail(err, len, "rocksdb: %" PRIu64 " ops of %" PRIu64 " B need about %" PRIu64
	     " MiB free in %s, it has %" PRIu64 " MiB: lower --ops", w->ops,
	     w->state_bytes, (w->ops > UINT64_MAX / per_op ? UINT64_MAX : w->ops * per_op) >> 20,
	     w->dir, free_bytes >> 20);
	return -1;
}

/* Everything a run holds, so one function can release it on every path. */
struct rocks {
	rocksdb_options_t *opts;
	rocksdb_block_based_table_options_t *table;
	rocksdb_cache_t *cache;
	rocksdb_writeoptions_t *wopts;
	rocksdb_readoptions_t *ropts;
	rocksdb_t *db;
	uint64_t cache_bytes;
};

static uint64_t cache_bytes_for(const struct hl_peer_workload *w)
{
	uint64_t data = w->ops > HL_PEER_ROCKS_CACHE_MAX / w->state_bytes
				? HL_PEER_ROCKS_CACHE_MAX
				: w->ops * w->state_bytes;
	uint64_t c = data + data / 4;
	if (c < HL_PEER_ROCKS_CACHE_MIN)
		c = HL_PEER_ROCKS_CACHE_MIN;
	return c > HL_PEER_ROCKS_CACHE_MAX ? HL_PEER_ROCKS_CACHE_MAX : c;
}

/* The options of the design comment. Creating them cannot fail (the C API
 * reports nothing), so only opening the database can. */
static void rocks_configure(struct rocks *k, const struct hl_peer_workload *w)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	k->opts = rocksdb_options_create();
	rocksdb_options_increase_parallelism(k->opts, cpus > 0 ? (int)cpus : 1);
	rocksdb_options_optimize_level_style_compaction(k->opts,
							HL_PEER_ROCKS_MEMTABLE_BUDGET);
	rocksdb_options_set_create_if_missing(k->opts, 1);

	k->cache_bytes = cache_bytes_for(w);
	k->cache = rocksdb_cache_create_lru((size_t)k->cache_bytes);
	k->table = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_block_cache(k->table, k->cache);
	rocksdb_options_set_block_based_table_factory(k->opts, k->table);

	k->wopts = rocksdb_writeoptions_create();
	/* WAL on: its default; durable: sync=true, each put's WAL fsync'd */
	rocksdb_writeoptions_set_sync(k->wopts, w->durable ? 1 : 0);
	k->ropts = rocksdb_readoptions_create();
}

/* Closes and destroys the database (when open), then frees the options. A
 * failed destroy is reported only if nothing failed before it. */
static int rocks_release(struct rocks *k, const char *dir, int ret, char *err, size_t len)
{
	if (k->db) {
		char *rerr = NULL;
		rocksdb_close(k->db);
		k->db = NULL;
		rocksdb_destroy_db(k->opts, dir, &rerr);
		if (rerr && ret == 0)
			ret = rocks_failed(&rerr, "rocksdb_destroy_db", err, len);
		rocksdb_free(rerr); /* NULL-safe: free() */
	}
	rocksdb_readoptions_destroy(k->ropts);
	rocksdb_writeoptions_destroy(k->wopts);
	rocksdb_options_destroy(k->opts);
	rocksdb_block_based_options_destroy(k->table);
	rocksdb_cache_destroy(k->cache);
	return ret;
}

static int commit_one(struct rocks *k, struct hl_peer_state *ps, uint64_t i,
		      char *err, size_t len)
{
	unsigned char key[16];
	char *rerr = NULL;
	hl_peer_state_step(ps, i);
	hl_peer_key(i, key);
	rocksdb_put(k->db, k->wopts, (const char *)key, sizeof key,
		    (const char *)ps->bytes, (size_t)ps->state_bytes, &rerr);
	return rocks_failed(&rerr, "rocksdb_put", err, len);
}

static int restore_one(struct rocks *k, struct hl_peer_state *ps, uint64_t j,
		       char *err, size_t len)
{
	unsigned char key[16];
	char *rerr = NULL;
	size_t vlen = 0;
	hl_peer_key(j, key);
	char *v = rocksdb_get(k->db, k->ropts, (const char *)key, sizeof key, &vlen, &rerr);
	if (rocks_failed(&rerr, "rocksdb_get", err, len) != 0)
		goto out_free;
	if (!v) {
		fail(err, len, "rocksdb: rocksdb_get: op %" PRIu64 " not found", j);
		return -1;
	}
	if (vlen != ps->state_bytes) {
		fail(err, len, "rocksdb: op %" PRIu64 " read back %zu bytes, stored %" PRIu64,
		     j, vlen, ps->state_bytes);
		goto out_free;
	}
	memcpy(ps->bytes, v, vlen);
	rocksdb_free(v);
	return 0;

out_free:
	rocksdb_free(v);
	return -1;
}

static int rocks_run(const struct hl_peer_workload *w, struct hl_peer_result *out,
		     char *err, size_t len)
{
	struct hl_peer_state ps;
	struct rocks k = {0};
	char *rerr = NULL;
	int ret = -1;

	memset(out, 0, sizeof *out);
	hl_hist_init(&out->commit);
	hl_hist_init(&out->restore);
	if (!w->dir) {
		fail(err, len, "rocksdb: no data directory");
		return -1;
	}
	if (hl_peer_state_init(&ps, w) != 0) {
		fail(err, len, "rocksdb: workload of %" PRIu64 " B states, %" PRIu32
		     " B writes, %" PRIu64 " ops: %s", w->state_bytes, w->write_bytes,
		     w->ops, strerror(errno));
		return -1;
	}
	if (check_room(w, err, len) != 0)
		goto out_state;
	rocks_configure(&k, w);
	k.db = rocksdb_open(k.opts, w->dir, &rerr);
	if (rocks_failed(&rerr, "rocksdb_open", err, len) != 0)
		goto out_release;

	char version[32];
	rocks_version(w->dir, version, sizeof version);
	snprintf(out->config, sizeof out->config,
		 "RocksDB %s, WAL on, %s, level compaction,"
		 " %llu MiB memtable budget, %" PRIu64 " MiB LRU block cache",
		 version, w->durable ? "sync=true (each put's WAL fsync'd)"
		 : "sync=0 (page cache, no fsync)",
		 HL_PEER_ROCKS_MEMTABLE_BUDGET >> 20, k.cache_bytes >> 20);

	uint64_t t_start = hl_peer_now_ns();
	for (uint64_t i = 0; i < w->ops; i++) {
		uint64_t t0 = hl_peer_now_ns();
		if (commit_one(&k, &ps, i, err, len) != 0)
			goto out_release;
		hl_hist_add(&out->commit, hl_peer_now_ns() - t0);
		ps.fingerprint[i] = hl_peer_fingerprint(ps.bytes, (size_t)ps.state_bytes);
	}
	for (uint64_t r = 0; r < w->ops; r++) {
		uint64_t j = hl_peer_pick(&ps, r);
		uint64_t t0 = hl_peer_now_ns();
		if (restore_one(&k, &ps, j, err, len) != 0)
			goto out_release;
		hl_hist_add(&out->restore, hl_peer_now_ns() - t0);
		if (hl_peer_fingerprint(ps.bytes, (size_t)ps.state_bytes) != ps.fingerprint[j]) {
			fail(err, len, "rocksdb: restore of op %" PRIu64 " read back"
			     " different bytes than were committed", j);
			goto out_release;
		}
		out->verified++;
	}
	out->seconds = (double)(hl_peer_now_ns() - t_start) / 1e9;
	out->ops = 2 * w->ops; /* puts and gets, both in seconds */
	ret = 0;

out_release:
	ret = rocks_release(&k, w->dir, ret, err, len);
out_state:
	hl_peer_state_free(&ps);
	return ret;
}

#else /* !HL_HAVE_ROCKSDB */

static int rocks_probe(char *why, size_t len)
{
	return hl_peer_not_built("rocksdb", "librocksdb-dev", why, len);
}

#endif /* HL_HAVE_ROCKSDB */

const struct hl_peer hl_peer_rocksdb = {
	.name = "rocksdb",
	.probe = rocks_probe,
#ifdef HL_HAVE_ROCKSDB
	.run = rocks_run,
#endif
};
