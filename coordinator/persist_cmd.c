/*
 * persist_cmd.c - the `helios` program's persistence: the persister of
 * `helios run --persist DIR`, `helios recover --persist DIR --arena NAME`,
 * `helios check --persist DIR`, and the persister lines of `helios stat`.
 *
 *   helios run --persist DIR [--durability async|sync]
 *       the arena gets a persist ring (HL_PERSIST_RING_BYTES_DEFAULT); an
 *       existing DIR/wal is replayed into it first ("recovered N records
 *       from DIR in T ms"), then the persister thread drains the ring into
 *       it until the run ends, when it flushes and stops.
 *   helios recover --persist DIR --arena NAME [--size S] (DIR's chunk size)
 *       creates arena NAME (memory only: a later run persists again with
 *       --persist), replays DIR into it, leaves it for others. Exit 0.
 *   helios check --persist DIR [--chunk B] (default: DIR's chunk size)
 *       scans DIR/wal read-only, verifies every record's checksum, chain
 *       and salt (the scanner) and every node record's hash (replay.c),
 *       says what it found; exit 1 if any record's content is bad.
 *
 * Invariants:
 *  1. Nothing here writes DIR but the persister (and hl_wal_open's tail
 *     seal under it): recover and check only read it, so a recover of a
 *     DIR a live run persists into cannot damage it.
 *  2. Every failure is said in terms of the command line (which DIR, which
 *     file, what was wrong) and is an exit code, never a crash.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator.h"
#include "persist_rec.h"
#include "persister.h"
#include "run.h"
#include "shm.h"
#include "workers.h"

static const char *stop_name(enum hl_wal_stop s)
{
	switch (s) {
	case HL_WAL_STOP_END: return "the log's end";
	case HL_WAL_STOP_SALT: return "a stale record of an earlier generation";
	case HL_WAL_STOP_LSN: return "a misplaced record";
	case HL_WAL_STOP_CHAIN: return "a record that breaks the chain";
	case HL_WAL_STOP_LENGTH: return "a record of bad length or type";
	case HL_WAL_STOP_CRC: return "a torn or damaged record";
	case HL_WAL_STOP_CALLBACK: return "a record that failed replay";
	}
	return "?";
}

static void io_report(void *ctx, const char *msg)
{
	(void)ctx;
	hl_say("persist: %s", msg);
}

/* ---- helios run --persist ------------------------------------------------- */

int hl_run_persist_start(const struct run_opts *o, struct run_arena *ra,
			 struct hl_persister **out)
{
	*out = NULL;
	if (!o->persist && hl_persisted(ra->a)) {
		/* its commits would wait for a persister that never comes */
		hl_say("run: arena %s was made with persistence: give --persist DIR",
		       o->arena);
		return HL_EINVAL;
	}
	if (!o->persist)
		return 0;
	char dir[600];
	hl_fmt_name(dir, sizeof dir, o->persist);
	if (!hl_persisted(ra->a)) {
		hl_say("run: --persist %s: arena %s was made without persistence; "
		       "use a fresh --arena", dir, o->arena);
		return HL_EINVAL;
	}
	struct hl_persister_config pc;
	hl_persister_config_init(&pc);
	if (o->wal_bytes)
		pc.wal_bytes = o->wal_bytes;
	pc.io.report = io_report;
	struct hl_recovery_info info;
	int rc = hl_persister_start(ra->a, o->persist, &pc, hl_replay_record,
				    ra->a, &info, out);
	if (rc == HL_ECORRUPT && atomic_load(&ra->a->pctl->state) ==
					     HL_PERSISTER_RUNNING) {
		hl_say("run: --persist %s: arena %s's persister died without "
		       "flushing what it held; rebuild it from DIR in a fresh arena "
		       "(another --arena, or helios recover)", dir, o->arena);
		return rc;
	}
	if (rc) {
		hl_say("run: --persist %s: %s", dir, hl_strerror(rc));
		return rc;
	}
	if (info.existed && !o->quiet)
		fprintf(o->json ? stderr : stdout,
			"helios run: recovered %" PRIu64 " records from %s in "
			"%.1f ms (stopped at %s)\n", info.records, dir,
			(double)info.ns / 1e6, stop_name(info.stop));
	return 0;
}

int hl_run_persist_stop(struct hl_persister *p)
{
	int rc = hl_persister_stop(p);
	if (rc)
		hl_say("run: the persister failed: %s%s (commits since were not "
		       "durable)", hl_strerror(rc), rc == HL_ENOSPC
		       ? "; the disk or the WAL (--wal-size; checkpoints that "
			 "recycle it are not built yet) is full" : "");
	return rc;
}

/* ---- helios recover ------------------------------------------------------- */

static const char recover_usage[] =
	"usage: helios recover --persist DIR --arena NAME [--size 1G]\n"
	"       (the chunk size is DIR's)\n";

struct recover_opts {
	const char *dir, *arena;
	uint64_t size;
	uint32_t chunk;
};

static int recover_args(int argc, char **argv, struct recover_opts *o)
{
	static const struct option opts[] = {
		{"persist", required_argument, 0, 'p'},
		{"arena", required_argument, 0, 'a'},
		{"size", required_argument, 0, 's'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	*o = (struct recover_opts){.size = 1ull << 30};
	optind = 1;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch (c) {
		case 'p': o->dir = optarg; break;
		case 'a': o->arena = optarg; break;
		case 's':
			if (!hl_parse_size(optarg, &o->size))
				return hl_usage("recover", recover_usage, "bad --size", optarg);
			break;
		case 'h': fputs(recover_usage, stdout); return -1;
		default: return hl_usage("recover", recover_usage, NULL, NULL);
		}
	}
	if (!o->dir || !o->arena || optind != argc)
		return hl_usage("recover", recover_usage,
				"--persist DIR and --arena NAME are needed", NULL);
	return 0;
}

int hl_cmd_recover(int argc, char **argv)
{
	struct recover_opts o;
	int rc = recover_args(argc, argv, &o);
	if (rc)
		return rc < 0 ? HL_EXIT_OK : rc;
	char dir[600], shown[160];
	hl_fmt_name(dir, sizeof dir, o.dir);
	hl_fmt_name(shown, sizeof shown, o.arena);
	if ((rc = hl_persist_dir_chunk(o.dir, &o.chunk))) {
		hl_say("recover: %s: %s", dir, hl_strerror(rc));
		return HL_EXIT_FAILED;
	}
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.arena_bytes = o.size;
	cfg.chunk_bytes = o.chunk;
	hl_arena *a;
	if ((rc = hl_arena_create(o.arena, &cfg, &a))) {
		hl_say("recover: cannot create arena %s: %s", shown, hl_strerror(rc));
		return HL_EXIT_FAILED;
	}
	struct hl_recovery_info info;
	rc = hl_recover_dir(o.dir, o.chunk, hl_replay_record, a, &info);
	char msg[256] = "";
	if (!rc)
		rc = hl_arena_check(a, msg, sizeof msg);
	hl_stats st;
	hl_arena_stats(a, &st);
	hl_arena_close(a);
	if (rc) {
		hl_say("recover: %s: %s%s%s", dir, hl_strerror(rc),
		       msg[0] ? ": " : "", msg);
		hl_arena_unlink(o.arena);
		return HL_EXIT_FAILED;
	}
	printf("helios recover: arena %s from %s: %" PRIu64 " records, %" PRIu64
	       " nodes, %" PRIu64 " refs, in %.1f ms (stopped at %s)\n", shown,
	       dir, info.records, st.nodes, st.refs, (double)info.ns / 1e6,
	       stop_name(info.stop));
	return HL_EXIT_OK;
}

/* ---- helios check --persist ----------------------------------------------- */

struct check_ctx {
	uint32_t chunk;
	uint64_t nodes, refs, marks, searches, bad;
};

static int check_one(void *ctx, const void *rec, uint32_t len)
{
	struct check_ctx *c = ctx;
	struct hl_prec_hdr h;
	if (len < sizeof h) {
		c->bad++;
		return 0;
	}
	memcpy(&h, rec, sizeof h);
	if (h.type == HL_PREC_NODE && !hl_replay_check_node(rec, len, c->chunk))
		c->nodes++;
	else if (h.type == HL_PREC_REF && !hl_replay_check_ref(rec, len))
		c->refs++;
	else if (h.type == HL_PREC_MARK && len == sizeof h)
		c->marks++;
	else if (h.type == HL_PREC_SEARCH && len >= sizeof(struct hl_prec_search))
		c->searches++;
	else
		c->bad++;
	return 0;
}

int hl_cmd_check_persist(const char *dir_arg, uint32_t chunk)
{
	char dir[600];
	hl_fmt_name(dir, sizeof dir, dir_arg);
	struct check_ctx c = {.chunk = chunk};
	struct hl_recovery_info info;
	int rc = chunk ? 0 : hl_persist_dir_chunk(dir_arg, &c.chunk);
	if (!rc)
		rc = hl_recover_dir(dir_arg, c.chunk, check_one, &c, &info);
	if (rc) {
		hl_say("check: --persist %s: %s%s", dir, hl_strerror(rc),
		       rc == HL_EMISMATCH ? " (another --chunk?)" : "");
		return HL_EXIT_FAILED;
	}
	printf("%s: %s: %" PRIu64 " records (%" PRIu64 " nodes with their hashes "
	       "verified, %" PRIu64 " refs, %" PRIu64 " markers, %" PRIu64
	       " search records), log of %" PRIu64 " bytes, ends at %s\n", dir,
	       c.bad ? "BAD" : "ok", info.records, c.nodes, c.refs, c.marks,
	       c.searches, info.end_lsn, stop_name(info.stop));
	if (c.bad)
		hl_say("check: %s: %" PRIu64 " records fail their content checks",
		       dir, c.bad);
	return c.bad ? HL_EXIT_FAILED : HL_EXIT_OK;
}

/* ---- helios stat ---------------------------------------------------------- */

static const char *persister_state(uint32_t s)
{
	switch (s) {
	case HL_PERSISTER_NONE: return "not started";
	case HL_PERSISTER_RUNNING: return "running";
	case HL_PERSISTER_ERROR: return "FAILED";
	case HL_PERSISTER_STOPPED: return "stopped";
	}
	return "?";
}

void hl_stat_persister(FILE *f, hl_arena *a)
{
	const struct hl_persist_ctl *c = a->pctl;
	if (!c)
		return; /* memory only: the report says nothing it did not say */
	static const char *modes[] = {"none", "async", "sync"};
	uint32_t st = atomic_load(&c->state);
	int err = atomic_load(&c->error);
	unsigned fb = atomic_load(&c->io_fallbacks);
	fprintf(f, "%-16s %s, durability %s", "persister", persister_state(st),
		modes[c->durability <= 2 ? c->durability : 0]);
	if (err)
		fprintf(f, ", sticky error %s", hl_strerror(err));
	fprintf(f, "\n%-16s %" PRIu64 " records, %" PRIu64 " flushes, %" PRIu64
		" bytes logged, %" PRIu64 " durable\n", "wal",
		atomic_load(&c->records), atomic_load(&c->flushes),
		atomic_load(&c->wal_bytes), atomic_load(&c->durable_lsn));
	if (fb)
		fprintf(f, "%-16s %s%s%s\n", "io fallbacks",
			fb & HL_IO_FELL_BACK_URING ? "pwrite (io_uring refused) " : "",
			fb & HL_IO_FELL_BACK_DIRECT ? "buffered (O_DIRECT refused) " : "",
			fb & HL_IO_FELL_BACK_DSYNC ? "fdatasync (RWF_DSYNC refused)" : "");
}
