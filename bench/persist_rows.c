/*
 * persist_rows.c - the persistence section of `helios bench` (issue 11's
 * Benchmark): what durability costs a committing worker, how fast the WAL
 * and the device write, how long recovery takes, and the durable peers.
 *
 *   helios bench --persist short|full|none [--persist-dir DIR]
 *                [--persist-reps N]
 *
 * One section (hl_harness_run_persist), in this order:
 *
 *   1. rows: for each workload (W1; and W2 with full) at each worker count
 *      (1; and 4 with full), one harness run (harness_run.c) with the
 *      arena's durability off, async and sync, repeated --persist-reps
 *      times, the three modes interleaved within each repetition so a
 *      noisy minute hits all three alike. A row reports the median
 *      repetition (by commits/s) whole: its commits/s, commit p50/p99 and
 *      WAL bytes; "vs off" is the median over the repetitions of its
 *      commits/s over the off row's in the same repetition (paired: a
 *      shared machine's load drifts between repetitions more than within
 *      one).
 *   2. write speed: the device's raw O_DIRECT sequential write speed and
 *      the WAL's own append speed (wal_engine.c, the default I/O
 *      configuration), each the median of the repetitions, on the disk of
 *      --persist-dir.
 *   3. recovery: a WAL of RECOVERY_BYTES (1 GiB with full) of W1 commits
 *      made by a persister in this process, then replayed into a fresh
 *      arena by hl_recover_dir + hl_replay_record (what `helios recover`
 *      runs: every record's CRC and every node's hash checked), first
 *      cold (the file dropped from the page cache), then warm; the median
 *      of the repetitions of each. Arena creation is timed apart.
 *   4. durable peers (full): LMDB with its default sync, RocksDB with
 *      sync=true, PostgreSQL with synchronous_commit=on, W1 and W2 each,
 *      their data on --persist-dir's disk (harness_peers.c).
 *
 * short (the default) is rows W1 x1 with one repetition, a small write
 * test and recovery of RECOVERY_BYTES_SHORT: 10-20 s on a 2-CPU box, so the
 * default and CI runs stay short; full is what the README's table shows.
 *
 * Invariants:
 *  1. Every arena, WAL and directory this file makes is removed on every
 *     path out (harness_run.c's invariant 1 for the rows; here for the
 *     recovery's and the write test's).
 *  2. A failed run is left out of its row (the row then has fewer
 *     repetitions, or none and is shown as failed) and makes the exit
 *     status 1, as in the sweep (bench.c invariant 2).
 *  3. Every persisted run's WAL is sized to hold the run (wal_bytes_for),
 *     so a fast machine cannot fill it: a full WAL would be a sticky
 *     HL_ENOSPC, a failed run, not a slow one.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "harness.h"
#include "kit.h"
#include "persister.h"
#include "shm.h"
#include "wal_engine.h"
#include "workers.h"

/* Each persistence run times at most this (a WAL of a faster run would
 * be many GiB of disk writes on a shared machine). */
#define PERSIST_DURATION_MAX_S 1.0
/* With --ops, a sync row's ops per worker at most (about 0.4 ms each). */
#define PERSIST_SYNC_OPS_MAX 2000u
/* WAL bytes one commit writes, with headers and slack: a W1 leaf record
 * (4 KiB chunk + 48 + 32) and its root's; W2's inner nodes on top. */
#define WAL_COMMIT_BYTES_W1 4500u
#define WAL_COMMIT_BYTES_W2 6000u
/* What one unique W1 commit writes exactly: its leaf's record (32-byte
 * WAL header, 48-byte node record, the 4 KiB chunk) and its root's
 * (32 + 48 + the top hash). */
#define WAL_COMMIT_BYTES_RECOVERY (32u + 48u + 4096u + 32u + 48u + 16u)
/* Commits/s of one busy core, upper estimates (async is at most off):
 * about twice the most a worker made here (W1 ~150k, W2 ~55k: a commit
 * and a restore alternate), since every byte of the WAL is zero-filled
 * at its creation. */
#define COMMITS_PER_S_CORE_W1 350000.0
#define COMMITS_PER_S_CORE_W2 150000.0
#define WAL_MARGIN 1.5
#define WAL_SLACK_BYTES (64ull << 20)
#define WAL_BYTES_MAX (16ull << 30)
#define RECOVERY_BYTES_FULL (1ull << 30)
#define RECOVERY_BYTES_SHORT (64ull << 20)
#define RAW_BYTES_FULL (256ull << 20)
#define RAW_BYTES_SHORT (32ull << 20)
#define PEER_DURABLE_OPS_W1 1000u
#define PEER_DURABLE_OPS_W2 100u

static const unsigned modes[HL_BENCH_PERSIST_MODES] = {
	HL_DURABILITY_NONE, HL_DURABILITY_ASYNC, HL_DURABILITY_SYNC,
};

/* ---- sizing ------------------------------------------------------------------- */

static uint64_t disk_free_bytes(const char *dir)
{
	struct statvfs fs;
	if (statvfs(dir, &fs) != 0)
		return 0;
	return (uint64_t)fs.f_bavail * fs.f_frsize;
}

/* Invariant 3: the WAL a run of workload w at n workers can write. */
static uint64_t wal_bytes_for(const struct opts *o, enum hl_workload w,
			      unsigned n, double duration_s)
{
	bool w1 = w == HL_WORKLOAD_W1;
	double per = w1 ? WAL_COMMIT_BYTES_W1 : WAL_COMMIT_BYTES_W2;
	double commits;
	if (o->ops) {
		commits = (double)(o->ops + WORKER_WARMUP_OPS) * n;
	} else {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		unsigned busy = cpus > 0 && (unsigned)cpus < n ? (unsigned)cpus : n;
		commits = (w1 ? COMMITS_PER_S_CORE_W1 : COMMITS_PER_S_CORE_W2) * busy *
				  duration_s + (double)WORKER_WARMUP_OPS * n;
	}
	double bytes = commits * per * WAL_MARGIN + (double)WAL_SLACK_BYTES;
	uint64_t b = bytes >= (double)WAL_BYTES_MAX ? WAL_BYTES_MAX : (uint64_t)bytes;
	return hl_align_up(b, HL_WAL_BLOCK_BYTES);
}

/* ---- 1. the rows -------------------------------------------------------------- */

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

static double median_of(const double *v, unsigned n)
{
	double s[HL_BENCH_PERSIST_REPS_MAX];
	if (n == 0)
		return 0;
	memcpy(s, v, n * sizeof *s);
	qsort(s, n, sizeof *s, cmp_double);
	return s[n / 2];
}

/* One run of a row: 0 kept in row (the repetition's run), 1 failed, -1
 * interrupted. */
static int run_rep(const struct opts *o, char **worker_argv,
		   struct hl_bench_persist_row *row, unsigned rep,
		   struct hl_bench_run *runs, struct notes *nt)
{
	struct opts po = *o;
	po.durability = row->durability;
	po.prefault = false;
	po.duration_s = o->duration_s < PERSIST_DURATION_MAX_S ? o->duration_s
							       : PERSIST_DURATION_MAX_S;
	if (o->ops && row->durability == HL_DURABILITY_SYNC &&
	    o->ops > PERSIST_SYNC_OPS_MAX)
		po.ops = PERSIST_SYNC_OPS_MAX;
	po.wal_bytes = wal_bytes_for(&po, row->workload, row->workers, po.duration_s);
	uint64_t free_bytes = disk_free_bytes(o->persist_dir);
	if (row->durability != HL_DURABILITY_NONE && po.wal_bytes > free_bytes / 2) {
		hl_say("bench: persist: a %" PRIu64 " MiB WAL does not fit %s's free "
		       "space twice", po.wal_bytes >> 20, o->persist_dir);
		return 1;
	}
	/* a copy: these runs neither size the sweep's arenas nor list theirs */
	struct notes scratch = *nt;
	struct hl_bench_run *run = &runs[rep];
	int r = hl_harness_run(&po, row->workload, row->workers, worker_argv, run,
			       &scratch);
	nt->early_stop |= scratch.early_stop;
	if (r)
		return r;
	row->commits_per_s[rep] = run->commits_per_s;
	row->rep_ok |= 1u << rep;
	row->reps++;
	return 0;
}

/* The row's median repetition, kept whole. */
static void row_settle(struct hl_bench_persist_row *row,
		       const struct hl_bench_run *runs)
{
	double v[HL_BENCH_PERSIST_REPS_MAX];
	unsigned n = 0;
	for (unsigned i = 0; i < HL_BENCH_PERSIST_REPS_MAX; i++)
		if (row->rep_ok & 1u << i)
			v[n++] = row->commits_per_s[i];
	double m = median_of(v, n);
	for (unsigned i = 0; i < HL_BENCH_PERSIST_REPS_MAX; i++)
		if ((row->rep_ok & 1u << i) && row->commits_per_s[i] == m) {
			row->run = runs[i];
			break;
		}
	row->median_commits_per_s = m;
}

static void rows_plan(const struct opts *o, struct hl_bench_persist *ps)
{
	static const enum hl_workload ws[] = {HL_WORKLOAD_W1, HL_WORKLOAD_W2};
	static const unsigned counts[] = {1, 4};
	bool full = o->persist_section == PERSIST_FULL;
	for (unsigned wi = 0; wi < (full ? 2u : 1u); wi++) {
		if (!o->workload[ws[wi]])
			continue;
		for (unsigned ci = 0; ci < (full ? 2u : 1u); ci++)
			for (unsigned m = 0; m < HL_BENCH_PERSIST_MODES; m++) {
				struct hl_bench_persist_row *row = &ps->rows[ps->row_count++];
				memset(row, 0, sizeof *row);
				row->workload = ws[wi];
				row->workers = counts[ci];
				row->durability = modes[m];
			}
	}
}

/* Step 1: every row, repetitions outermost. -1 interrupted, else whether
 * any run failed. */
static int run_rows(const struct opts *o, char **worker_argv,
		    struct hl_bench_persist *ps, struct notes *nt)
{
	int failed = 0;
	size_t per_row = (size_t)o->persist_reps * sizeof(struct hl_bench_run);
	struct hl_bench_run *runs = calloc(HL_BENCH_PERSIST_ROWS_MAX, per_row);
	if (!runs) {
		hl_say("bench: persist: out of memory");
		return 1;
	}
	rows_plan(o, ps);
	for (unsigned rep = 0; rep < o->persist_reps; rep++)
		for (unsigned i = 0; i < ps->row_count; i++) {
			int r = run_rep(o, worker_argv, &ps->rows[i], rep,
					runs + (size_t)i * o->persist_reps, nt);
			if (r < 0 || hl_bench_interrupted) {
				free(runs);
				return -1;
			}
			failed |= r;
		}
	for (unsigned i = 0; i < ps->row_count; i++)
		row_settle(&ps->rows[i], runs + (size_t)i * o->persist_reps);
	free(runs);
	return failed;
}

/* ---- 2. write speed ----------------------------------------------------------- */

static int write_speed(const struct opts *o, struct hl_bench_persist *ps)
{
	uint64_t bytes = o->persist_section == PERSIST_FULL ? RAW_BYTES_FULL
							     : RAW_BYTES_SHORT;
	double raw[HL_BENCH_PERSIST_REPS_MAX], wal[HL_BENCH_PERSIST_REPS_MAX];
	char path[4200];
	snprintf(path, sizeof path, "%s/helios-bench-raw.%d", o->persist_dir,
		 (int)getpid());
	struct hl_io_config io;
	hl_io_config_init(&io);
	int rc = 0;
	unsigned n = 0;
	for (; n < o->persist_reps && !rc && !hl_bench_interrupted; n++) {
		rc = hl_wal_engine_raw_mbps(path, bytes, &raw[n]);
		unlink(path);
		struct hl_wal *w = NULL;
		if (!rc)
			rc = hl_wal_engine_fresh(path, &io, hl_wal_engine_file_bytes(bytes), &w);
		if (!rc) {
			rc = hl_wal_engine_append_mbps(w, bytes, &wal[n]);
			struct hl_io_stats st;
			hl_wal_io_stats(w, &st);
			ps->io_fallbacks = st.fallbacks;
			hl_wal_close(w);
		}
		unlink(path); /* invariant 1 */
	}
	if (rc) {
		hl_say("bench: persist: write test in %s: %s", o->persist_dir,
		       hl_strerror(rc));
		return 1;
	}
	ps->write_bytes = bytes;
	ps->raw_mbps = median_of(raw, n);
	ps->wal_mbps = median_of(wal, n);
	return 0;
}

/* ---- 3. recovery -------------------------------------------------------------- */

/* A persisted arena for the WAL's maker, or a plain one to recover into. */
static int arena_for(const char *name, uint64_t content_bytes, bool persisted,
		     hl_arena **out)
{
	hl_config cfg;
	hl_config_init(&cfg);
	if (persisted) {
		cfg.persist_ring_bytes = HL_PERSIST_RING_BYTES_DEFAULT;
		cfg.durability = HL_DURABILITY_ASYNC;
	}
	uint64_t bytes;
	int rc = hl_arena_bytes_for(&cfg, 1, content_bytes, &bytes);
	if (rc)
		return rc;
	cfg.arena_bytes = bytes; /* the persist ring counted in */
	return hl_arena_create(name, &cfg, out);
}

/* Unique W1 commits until the WAL holds about `bytes` (each commit writes
 * its counter into the state, so every leaf is new); counted here, not
 * read from the persister, which may lag the loop by a ring's worth. */
static int wal_fill(hl_arena *a, uint64_t bytes)
{
	hl_state *s;
	int rc = hl_state_new(a, &s);
	if (rc)
		return rc;
	if ((rc = hl_state_resize(s, HL_CHUNK_BYTES_DEFAULT)))
		goto out_free;
	uint64_t commits = bytes / WAL_COMMIT_BYTES_RECOVERY;
	for (uint64_t i = 1; i <= commits; i++) {
		hl_id id;
		if ((rc = hl_state_write(s, (i % 64) * 64, &i, sizeof i)) ||
		    (rc = hl_commit(s, &id, NULL)))
			break;
	}
	if (!rc)
		rc = hl_persist_sync(a, 0);
out_free:
	hl_state_free(s);
	return rc;
}

/* Makes dir's WAL of about `bytes` of W1 records. */
static int wal_make(const char *dir, const char *name, uint64_t bytes,
		    uint64_t *records)
{
	hl_arena *a;
	int rc = arena_for(name, bytes + bytes / 8, true, &a);
	if (rc)
		return rc;
	struct hl_persister_config pc;
	hl_persister_config_init(&pc);
	pc.wal_bytes = hl_wal_engine_file_bytes(bytes + bytes / 4);
	pc.no_ckpt = true; /* the row is a WAL's replay: no checkpoint cuts it */
	struct hl_persister *p;
	if ((rc = hl_persister_start(a, dir, &pc, NULL, NULL, NULL, &p)))
		goto out_close;
	rc = wal_fill(a, bytes);
	int stop_rc = hl_persister_stop(p);
	rc = rc ? rc : stop_rc;
	*records = atomic_load_explicit(&a->pctl->records, memory_order_relaxed);
out_close:
	hl_arena_close(a);
	hl_arena_unlink(name);
	return rc;
}

/* Drops the WAL file's pages from the page cache (a cold read). */
static void drop_cache(const char *dir)
{
	char path[4300];
	snprintf(path, sizeof path, "%s/%s", dir, HL_PERSIST_WAL_NAME);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
}

/* One recovery of dir's WAL into a fresh arena: its time (and the
 * arena's creation time apart), records and stop. */
static int recover_once(const char *dir, const char *name, uint64_t bytes,
			uint64_t *ns, uint64_t *create_ns,
			struct hl_recovery_info *info)
{
	hl_arena *a;
	uint64_t t0 = hl_now_ns();
	int rc = arena_for(name, bytes + bytes / 8, false, &a);
	*create_ns = hl_now_ns() - t0;
	if (rc)
		return rc;
	rc = hl_recover_dir(dir, a->chunk_bytes, hl_replay_record, a, info);
	*ns = info->ns;
	hl_arena_close(a);
	hl_arena_unlink(name);
	return rc;
}

static int recovery_reps(const struct opts *o, const char *dir,
			 const char *name, struct hl_bench_persist *ps)
{
	double cold[HL_BENCH_PERSIST_REPS_MAX], warm[HL_BENCH_PERSIST_REPS_MAX];
	double create[HL_BENCH_PERSIST_REPS_MAX];
	struct hl_recovery_info info;
	int rc = 0;
	unsigned n = 0;
	for (; n < o->persist_reps && !rc && !hl_bench_interrupted; n++) {
		uint64_t ns, cns;
		drop_cache(dir);
		rc = recover_once(dir, name, ps->recovery_wal_bytes, &ns, &cns, &info);
		cold[n] = (double)ns;
		create[n] = (double)cns;
		if (!rc)
			rc = recover_once(dir, name, ps->recovery_wal_bytes, &ns, &cns,
					  &info);
		warm[n] = (double)ns;
	}
	if (rc)
		return rc;
	ps->recovery_cold_ns = (uint64_t)median_of(cold, n);
	ps->recovery_warm_ns = (uint64_t)median_of(warm, n);
	ps->recovery_create_ns = (uint64_t)median_of(create, n);
	ps->recovery_replayed = info.records;
	ps->recovery_end_lsn = info.end_lsn;
	ps->recovery_clean_end = info.stop == HL_WAL_STOP_END;
	return 0;
}

static int recovery(const struct opts *o, struct hl_bench_persist *ps)
{
	uint64_t bytes = o->persist_section == PERSIST_FULL ? RECOVERY_BYTES_FULL
							     : RECOVERY_BYTES_SHORT;
	char dir[4200], wal[4300], name[96];
	snprintf(dir, sizeof dir, "%s/helios-bench-recovery.%d.XXXXXX",
		 o->persist_dir, (int)getpid());
	snprintf(name, sizeof name, "bench-%d-recovery-%" PRIu64, (int)getpid(),
		 hl_now_ns());
	if (!mkdtemp(dir)) {
		hl_say("bench: persist: cannot make a directory under %s: %s",
		       o->persist_dir, strerror(errno));
		return 1;
	}
	if (!o->quiet)
		fprintf(stderr, "[persist] writing a %" PRIu64 " MiB WAL for recovery\n",
			bytes >> 20);
	int rc = wal_make(dir, name, bytes, &ps->recovery_records);
	if (!rc) {
		struct hl_wal_info wi;
		snprintf(wal, sizeof wal, "%s/%s", dir, HL_PERSIST_WAL_NAME);
		struct hl_wal_scan_result res;
		rc = hl_wal_scan_file(wal, hl_persist_geometry(HL_CHUNK_BYTES_DEFAULT),
				      &wi, NULL, NULL, &res);
		ps->recovery_wal_bytes = res.end_lsn - wi.start_lsn;
	}
	if (!rc)
		rc = recovery_reps(o, dir, name, ps);
	hl_bench_rm_rf(dir); /* invariant 1: segments, spare and all */
	if (rc) {
		hl_say("bench: persist: recovery: %s", hl_strerror(rc));
		return 1;
	}
	return 0;
}

/* ---- 4. durable peers --------------------------------------------------------- */

static bool durable_peers(const struct opts *o, struct hl_bench_persist *ps)
{
	static const char *const names[] = {"lmdb", "rocksdb", "postgresql"};
	static const enum hl_workload ws[] = {HL_WORKLOAD_W1, HL_WORKLOAD_W2};
	bool ok = true;
	for (unsigned k = 0; k < PEER_COUNT && !hl_bench_interrupted; k++) {
		const struct hl_peer *p = hl_bench_peers[k];
		bool durable_one = false;
		for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
			durable_one |= !strcmp(p->name, names[i]);
		if (!durable_one || !o->peer[k])
			continue;
		char why[256] = "";
		bool skip = p->probe(why, sizeof why) != 0 || !p->run;
		for (unsigned i = 0; i < 2 && !hl_bench_interrupted; i++) {
			if (!o->workload[ws[i]] || ps->peer_count == HL_BENCH_PEER_ROWS_MAX)
				continue;
			struct hl_bench_peer_row *row = &ps->peers[ps->peer_count++];
			memset(row, 0, sizeof *row);
			row->peer = p->name;
			row->workload = ws[i];
			row->durable = true;
			if (skip) {
				row->skipped = true;
				snprintf(row->why, sizeof row->why, "%s",
					 why[0] ? why : "not available here");
				continue;
			}
			uint64_t ops = ws[i] == HL_WORKLOAD_W1 ? PEER_DURABLE_OPS_W1
							       : PEER_DURABLE_OPS_W2;
			if (o->ops && o->ops < ops)
				ops = o->ops;
			ok &= hl_harness_peer_run(o, p, ws[i], ops, true, row);
		}
	}
	return ok;
}

/* ---- the section -------------------------------------------------------------- */

bool hl_harness_run_persist(const struct opts *o, char **worker_argv,
			    struct hl_bench_report *rep, struct notes *nt)
{
	struct hl_bench_persist *ps = &rep->persist;
	if (o->persist_section == PERSIST_NONE)
		return true;
	if (!o->workload[HL_WORKLOAD_W1] && !o->workload[HL_WORKLOAD_W2])
		return true; /* the section commits W1 and W2 only */
	ps->ran = true;
	ps->full = o->persist_section == PERSIST_FULL;
	ps->reps = o->persist_reps;
	snprintf(ps->dir, sizeof ps->dir, "%s", o->persist_dir);
	int failed = run_rows(o, worker_argv, ps, nt);
	if (failed < 0)
		return false;
	if (!hl_bench_interrupted)
		failed |= write_speed(o, ps);
	if (!hl_bench_interrupted && o->workload[HL_WORKLOAD_W1])
		failed |= recovery(o, ps);
	bool ok = failed == 0;
	if (ps->full && !hl_bench_interrupted)
		ok &= durable_peers(o, ps);
	return ok && !hl_bench_interrupted;
}
