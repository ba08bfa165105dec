/*
 * lmdb.c - the LMDB peer: W1 and W2 stored the way an LMDB user stores
 * snapshots.
 *
 * How a user would do it: one environment in a directory, the unnamed
 * database, and after each change to the private state one write
 * transaction that puts the whole state under the snapshot's key. To go
 * back, a read transaction, mdb_get of the key, and a copy of the value
 * into the private state (the value points into LMDB's map and is only
 * valid until the transaction ends, and the user goes on changing the
 * state). A user who reads often keeps one read transaction and cycles it
 * with mdb_txn_reset/mdb_txn_renew, which skips the reader-slot lookup of
 * mdb_txn_begin: LMDB's documented fast path for repeated reads.
 *
 * Why these settings are the fair comparison:
 *  1. MDB_NOSYNC | MDB_NOMETASYNC: a commit writes its pages into the page
 *     cache and returns without fsync. An acknowledged write then survives
 *     a crash of the process, as a commit into Helios's shared memory does,
 *     and neither survives a crash of the machine. Syncing each commit
 *     would measure the disk, not the store.
 *  2. No MDB_WRITEMAP: it is not LMDB's default, and it makes stray writes
 *     through any pointer able to corrupt the database; users who take
 *     that risk are a minority. Nor is it faster here: W1's commit moves
 *     by 3%, and W2's commit slows from 310 to 570 us at p50 (it faults in
 *     fresh map pages) while its restore speeds up from 100 to 41 us.
 *  3. The data directory is the harness's, on tmpfs like the arena, so
 *     neither side pays for a disk.
 *  4. The map is sized for every value LMDB will store: a value larger
 *     than a page lives on its own run of overflow pages, the first of
 *     which carries a 16-byte page header, so a 4 KiB state takes two
 *     4 KiB pages and a 1 MiB state 257. Then 20% for the B-tree and for
 *     pages freed by copy-on-write that the next transactions cannot reuse
 *     yet. Above HL_PEER_LMDB_MAP_MAX the run fails with a clear error
 *     rather than fill tmpfs (the harness caps W2's ops below that).
 *  5. Everything between the first commit and the last restore is in
 *     out->seconds; only the put/commit (with the state's change, as
 *     Helios's commit is timed with its write) and the get/copy are in the
 *     histograms. Fingerprints and checks run between timed regions.
 *  6. A durable run (w->durable: the persistence section beside Helios's
 *     sync commits) opens with no flags, LMDB's default: every commit
 *     fsyncs its pages and meta page before it returns; its directory is
 *     then on a disk, not tmpfs.
 *
 * Paths out of hl_peer_lmdb_run undo in reverse: the read transaction,
 * the environment, the private state. A library error is reported as
 * "lmdb: <call>: <mdb_strerror>".
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

#ifdef HL_HAVE_LMDB

#include <errno.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <lmdb.h>

/* The largest map a run may ask for: the data lives in tmpfs, i.e. in RAM,
 * and a W2 run past this is a misconfigured --ops, not a measurement. */
#define HL_PEER_LMDB_MAP_MAX (12ull << 30)
/* LMDB's page header (PAGEHDRSZ in mdb.c), at the start of the first
 * overflow page of a large value. */
#define HL_PEER_LMDB_PAGE_HEADER 16u
/* Map slack on top of the values' pages, in percent and in bytes (the
 * meta pages, the B-tree of small runs). */
#define HL_PEER_LMDB_MAP_SLACK_PCT 20u
#define HL_PEER_LMDB_MAP_SLACK_BYTES (16ull << 20)

static void fail(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static int lmdb_probe(char *why, size_t len)
{
	(void)why;
	(void)len;
	return 0;
}

/* The map size for w (invariant 4), or 0 when it is over the limit; the
 * bytes its values alone take in *values_bytes. */
static uint64_t map_bytes_for(const struct hl_peer_workload *w, uint64_t page_bytes,
			      uint64_t *values_bytes)
{
	uint64_t pages = (w->state_bytes + HL_PEER_LMDB_PAGE_HEADER + page_bytes - 1) /
			 page_bytes;
	uint64_t max_ops = HL_PEER_LMDB_MAP_MAX / (pages * page_bytes);
	if (w->ops > max_ops)
		return 0;
	uint64_t values = *values_bytes = w->ops * pages * page_bytes;
	uint64_t map = values + values / 100 * HL_PEER_LMDB_MAP_SLACK_PCT +
		       HL_PEER_LMDB_MAP_SLACK_BYTES;
	map = (map + page_bytes - 1) / page_bytes * page_bytes;
	return map <= HL_PEER_LMDB_MAP_MAX ? map : 0;
}

/* A run that fills its file system fails late with EIO from a commit;
 * say up front what it needs instead. 0 if dir has room (or cannot say). */
static int check_room(const char *dir, uint64_t need_bytes, char *err, size_t len)
{
	struct statvfs fs;
	if (statvfs(dir, &fs) != 0)
		return 0; /* mdb_env_open will say what is wrong with dir */
	uint64_t free_bytes = (uint64_t)fs.f_bavail * fs.f_frsize;
	if (free_bytes >= need_bytes)
		return 0;
	fail(err, len, "lmdb: needs %" PRIu64 " MiB free in %s, it has %" PRIu64
	     " MiB: lower --ops", need_bytes >> 20, dir, free_bytes >> 20);
	return -1;
}

/* One commit: op i's change to the private state, then the whole state
 * put under key i in its own write transaction. The caller times it. */
static int commit_one(MDB_env *env, MDB_dbi dbi, struct hl_peer_state *ps,
		      uint64_t i, char *err, size_t len)
{
	unsigned char key[16];
	MDB_txn *txn;
	hl_peer_state_step(ps, i);
	hl_peer_key(i, key);
	int rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc != 0) {
		fail(err, len, "lmdb: mdb_txn_begin: %s", mdb_strerror(rc));
		return -1;
	}
	MDB_val k = {.mv_size = sizeof key, .mv_data = key};
	MDB_val v = {.mv_size = (size_t)ps->state_bytes, .mv_data = ps->bytes};
	rc = mdb_put(txn, dbi, &k, &v, 0);
	if (rc != 0) {
		fail(err, len, "lmdb: mdb_put: %s", mdb_strerror(rc));
		goto out_abort;
	}
	rc = mdb_txn_commit(txn); /* frees txn, committed or not */
	if (rc != 0) {
		fail(err, len, "lmdb: mdb_txn_commit: %s", mdb_strerror(rc));
		return -1;
	}
	return 0;

out_abort:
	mdb_txn_abort(txn);
	return -1;
}

/* One restore: op j's snapshot copied into the private state through the
 * long-lived read transaction rtxn (reset between uses). The caller times
 * it. */
static int restore_one(MDB_txn *rtxn, MDB_dbi dbi, struct hl_peer_state *ps,
		       uint64_t j, char *err, size_t len)
{
	unsigned char key[16];
	hl_peer_key(j, key);
	int rc = mdb_txn_renew(rtxn);
	if (rc != 0) {
		fail(err, len, "lmdb: mdb_txn_renew: %s", mdb_strerror(rc));
		return -1;
	}
	MDB_val k = {.mv_size = sizeof key, .mv_data = key}, v;
	rc = mdb_get(rtxn, dbi, &k, &v);
	if (rc != 0) {
		fail(err, len, "lmdb: mdb_get of op %" PRIu64 ": %s", j, mdb_strerror(rc));
		goto out_reset;
	}
	if (v.mv_size != ps->state_bytes) {
		fail(err, len, "lmdb: op %" PRIu64 " read back %zu bytes, stored %" PRIu64,
		     j, v.mv_size, ps->state_bytes);
		goto out_reset;
	}
	memcpy(ps->bytes, v.mv_data, v.mv_size);
	mdb_txn_reset(rtxn);
	return 0;

out_reset:
	mdb_txn_reset(rtxn);
	return -1;
}

/* Opens the environment in w->dir with the settings of the design comment
 * and its unnamed database. */
static int env_open(const struct hl_peer_workload *w, uint64_t map_bytes,
		    MDB_env **env_out, MDB_dbi *dbi, char *err, size_t len)
{
	MDB_env *env;
	MDB_txn *txn;
	int rc = mdb_env_create(&env);
	if (rc != 0) {
		fail(err, len, "lmdb: mdb_env_create: %s", mdb_strerror(rc));
		return -1;
	}
	rc = mdb_env_set_mapsize(env, (size_t)map_bytes);
	if (rc != 0) {
		fail(err, len, "lmdb: mdb_env_set_mapsize: %s", mdb_strerror(rc));
		goto out_close;
	}
	/* durable: LMDB's default, every commit fsync'd (note 6) */
	rc = mdb_env_open(env, w->dir, w->durable ? 0 : MDB_NOSYNC | MDB_NOMETASYNC,
			  0600);
	if (rc != 0) {
		fail(err, len, "lmdb: mdb_env_open %s: %s", w->dir, mdb_strerror(rc));
		goto out_close;
	}
	rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc != 0) {
		fail(err, len, "lmdb: mdb_txn_begin: %s", mdb_strerror(rc));
		goto out_close;
	}
	rc = mdb_dbi_open(txn, NULL, 0, dbi);
	if (rc != 0) {
		fail(err, len, "lmdb: mdb_dbi_open: %s", mdb_strerror(rc));
		mdb_txn_abort(txn);
		goto out_close;
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0) {
		fail(err, len, "lmdb: mdb_txn_commit: %s", mdb_strerror(rc));
		goto out_close;
	}
	*env_out = env;
	return 0;

out_close:
	mdb_env_close(env);
	return -1;
}

static int lmdb_run(const struct hl_peer_workload *w, struct hl_peer_result *out,
		    char *err, size_t len)
{
	struct hl_peer_state ps;
	MDB_env *env;
	MDB_dbi dbi;
	MDB_txn *rtxn;
	int ret = -1;

	memset(out, 0, sizeof *out);
	hl_hist_init(&out->commit);
	hl_hist_init(&out->restore);
	if (!w->dir) {
		fail(err, len, "lmdb: no data directory");
		return -1;
	}
	if (hl_peer_state_init(&ps, w) != 0) {
		fail(err, len, "lmdb: workload of %" PRIu64 " B states, %" PRIu32
		     " B writes, %" PRIu64 " ops: %s", w->state_bytes, w->write_bytes,
		     w->ops, strerror(errno));
		return -1;
	}
	long page = sysconf(_SC_PAGESIZE);
	uint64_t values_bytes = 0;
	uint64_t map_bytes = map_bytes_for(w, page > 0 ? (uint64_t)page : 4096u, &values_bytes);
	if (map_bytes == 0) {
		fail(err, len, "lmdb: %" PRIu64 " ops of %" PRIu64 " B need a map over"
		     " the %llu GiB limit: lower --ops", w->ops, w->state_bytes,
		     HL_PEER_LMDB_MAP_MAX >> 30);
		goto out_state;
	}
	if (check_room(w->dir, values_bytes, err, len) != 0)
		goto out_state;
	if (env_open(w, map_bytes, &env, &dbi, err, len) != 0)
		goto out_state;

	int maj, min, patch;
	(void)mdb_version(&maj, &min, &patch);
	snprintf(out->config, sizeof out->config,
		 "LMDB %d.%d.%d, %s, %" PRIu64 " MiB map, 1 db, reads renew one txn",
		 maj, min, patch, w->durable ? "default sync (each commit fsync'd)"
		 : "MDB_NOSYNC|MDB_NOMETASYNC (commits in page cache, no fsync)",
		 map_bytes >> 20);

	uint64_t t_start = hl_peer_now_ns();
	for (uint64_t i = 0; i < w->ops; i++) {
		uint64_t t0 = hl_peer_now_ns();
		if (commit_one(env, dbi, &ps, i, err, len) != 0)
			goto out_env;
		hl_hist_add(&out->commit, hl_peer_now_ns() - t0);
		ps.fingerprint[i] = hl_peer_fingerprint(ps.bytes, (size_t)ps.state_bytes);
	}

	int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &rtxn);
	if (rc != 0) {
		fail(err, len, "lmdb: mdb_txn_begin (read): %s", mdb_strerror(rc));
		goto out_env;
	}
	mdb_txn_reset(rtxn); /* each restore renews it */
	for (uint64_t r = 0; r < w->ops; r++) {
		uint64_t j = hl_peer_pick(&ps, r);
		uint64_t t0 = hl_peer_now_ns();
		if (restore_one(rtxn, dbi, &ps, j, err, len) != 0)
			goto out_rtxn;
		hl_hist_add(&out->restore, hl_peer_now_ns() - t0);
		if (hl_peer_fingerprint(ps.bytes, (size_t)ps.state_bytes) != ps.fingerprint[j]) {
			fail(err, len, "lmdb: restore of op %" PRIu64 " read back"
			     " different bytes than were committed", j);
			goto out_rtxn;
		}
		out->verified++;
	}
	out->seconds = (double)(hl_peer_now_ns() - t_start) / 1e9;
	out->ops = 2 * w->ops; /* commits and restores, both in seconds */
	ret = 0;

out_rtxn:
	mdb_txn_abort(rtxn);
out_env:
	mdb_env_close(env);
out_state:
	hl_peer_state_free(&ps);
	return ret;
}

#else /* !HL_HAVE_LMDB */

static int lmdb_probe(char *why, size_t len)
{
	return hl_peer_not_built("lmdb", "liblmdb-dev", why, len);
}

#endif /* HL_HAVE_LMDB */

const struct hl_peer hl_peer_lmdb = {
	.name = "lmdb",
	.probe = lmdb_probe,
#ifdef HL_HAVE_LMDB
	.run = lmdb_run,
#endif
};
