/*
 * harness_peers.c - the peers of `helios bench`: LMDB, RocksDB, Redis and
 * PostgreSQL, each in one process on the same W1/W2 workloads as Helios,
 * after it, one report row per peer and workload.
 *
 * Invariant:
 *  1. Peers run only W1/W2, after Helios, with as many commits as one
 *     Helios worker did in that workload's 1-worker run, capped at
 *     PEER_W1_OPS_MAX / PEER_W2_OPS_MAX (a slow peer would otherwise take
 *     hours), each in its own temporary directory on tmpfs, removed after.
 *     A peer that is not installed is a skipped row with its probe's why;
 *     one that fails is a failed row and exit status 1.
 *  2. A durable run (the persistence section's, persist_rows.c) keeps its
 *     data on the disk of --persist-dir, never tmpfs, and is otherwise
 *     the same run in the peer's durable configuration.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "kit.h"
#include "shm.h"

#define PEER_W1_OPS_MAX 200000u
#define PEER_W2_OPS_MAX 2000u

const struct hl_peer *const hl_bench_peers[] = {
	&hl_peer_lmdb, &hl_peer_rocksdb, &hl_peer_redis, &hl_peer_postgresql,
};
_Static_assert(sizeof hl_bench_peers / sizeof hl_bench_peers[0] == PEER_COUNT,
	       "PEER_COUNT counts hl_bench_peers");

/* A peer's server may still be removing its own files as we walk: a
 * file already gone is fine. */
static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_NS)
		return 0;
	int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
	return rc && errno != ENOENT ? -1 : 0;
}

void hl_bench_rm_rf(const char *dir)
{
	for (int tries = 0; tries < 3; tries++) {
		if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ||
		    access(dir, F_OK) != 0)
			return;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	hl_say("bench: could not remove %s entirely: %s", dir, strerror(errno));
}

/* Commits of one Helios worker in the workload's 1-worker run (else the
 * per-worker average of its smallest run), capped (invariant 4). */
static uint64_t peer_ops_for(const struct hl_bench_report *rep,
			     enum hl_workload w, bool *capped)
{
	const struct hl_bench_run *best = NULL;
	for (unsigned i = 0; i < rep->run_count; i++)
		if (rep->runs[i].workload == w &&
		    (!best || rep->runs[i].workers < best->workers))
			best = &rep->runs[i];
	uint64_t cap = w == HL_WORKLOAD_W1 ? PEER_W1_OPS_MAX : PEER_W2_OPS_MAX;
	uint64_t ops = best ? best->count[HL_OP_COMMIT] / best->workers : cap;
	*capped = ops > cap;
	ops = *capped ? cap : ops;
	return ops ? ops : 1;
}

bool hl_harness_peer_run(const struct opts *o, const struct hl_peer *p,
			 enum hl_workload w, uint64_t ops, bool durable,
			 struct hl_bench_peer_row *row)
{
	/* a durable peer's data on a disk (its fsyncs mean something there),
	 * else on tmpfs as Helios's arena */
	char dir[4200];
	snprintf(dir, sizeof dir, "%s/helios-bench-peer.%d.XXXXXX",
		 durable ? o->persist_dir : "/dev/shm", (int)getpid());
	if (!mkdtemp(dir)) {
		snprintf(row->why, sizeof row->why, "cannot make a directory "
			 "under %s: %s", durable ? o->persist_dir : "/dev/shm",
			 strerror(errno));
		row->failed = true;
		return false;
	}
	struct hl_peer_workload pw = {
		.workload = w,
		.state_bytes = hl_workload_shape(w)->state_bytes,
		.write_bytes = hl_workload_shape(w)->write_bytes,
		.ops = ops,
		.seed = o->seed,
		.dir = dir,
		.durable = durable,
	};
	const char *mode = durable ? " durable" : "";
	if (!o->quiet)
		fprintf(stderr, "[%s %s%s] %" PRIu64 " commits, then as many restores\n",
			p->name, hl_workload_name(w), mode, ops);
	hl_hist_init(&row->r.commit);
	hl_hist_init(&row->r.restore);
	char err[256] = "";
	int rc = p->run(&pw, &row->r, err, sizeof err);
	hl_bench_rm_rf(dir);
	if (rc) {
		row->failed = true;
		snprintf(row->why, sizeof row->why, "%s", err[0] ? err : "failed");
		hl_say("bench: peer %s %s%s failed: %s", p->name,
		       hl_workload_name(w), mode, row->why);
		return false;
	}
	if (!o->quiet)
		fprintf(stderr, "[%s %s%s] done in %.1f s\n", p->name,
			hl_workload_name(w), mode, row->r.seconds);
	return true;
}

/* Every selected peer on W1 and W2 (those of them that ran for Helios).
 * False when a peer failed; true when all ran or were skipped. */
bool hl_harness_run_peers(const struct opts *o, struct hl_bench_report *rep,
			  struct notes *nt)
{
	static const enum hl_workload ws[] = {HL_WORKLOAD_W1, HL_WORKLOAD_W2};
	bool ok = true;
	if (!o->workload[HL_WORKLOAD_W1] && !o->workload[HL_WORKLOAD_W2])
		return true; /* peers run W1 and W2 only */
	for (unsigned i = 0; i < 2; i++)
		nt->peer_ops[ws[i]] = peer_ops_for(rep, ws[i], &nt->peer_capped[ws[i]]);
	for (unsigned k = 0; k < PEER_COUNT && !hl_bench_interrupted; k++) {
		const struct hl_peer *p = hl_bench_peers[k];
		if (!o->peer[k])
			continue;
		char why[256] = "";
		/* run is NULL for a peer built without its library, and then
		 * its probe refuses too: both mean skipped */
		bool skip = p->probe(why, sizeof why) != 0 || !p->run;
		if (skip && !o->quiet)
			fprintf(stderr, "[%s] skipped: %s\n", p->name, why);
		for (unsigned i = 0; i < 2 && !hl_bench_interrupted; i++) {
			if (!o->workload[ws[i]] || rep->peer_count == HL_BENCH_PEER_ROWS_MAX)
				continue;
			struct hl_bench_peer_row *row = &rep->peers[rep->peer_count++];
			memset(row, 0, sizeof *row);
			row->peer = p->name;
			row->workload = ws[i];
			if (skip) {
				row->skipped = true;
				snprintf(row->why, sizeof row->why, "%s",
					 why[0] ? why : "not available here");
				continue;
			}
			ok &= hl_harness_peer_run(o, p, ws[i], nt->peer_ops[ws[i]],
						  false, row);
		}
	}
	return ok;
}
