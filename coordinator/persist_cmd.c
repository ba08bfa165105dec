/*
 * persist_cmd.c - the `helios` program's persistence: the persister of
 * `helios run --persist DIR`, `helios recover --persist DIR --arena NAME`,
 * `helios check --persist DIR`, and the persister lines of `helios stat`.
 *
 *   helios run --persist DIR [--durability async|sync]
 *       the arena gets a persist ring (HL_PERSIST_RING_BYTES_DEFAULT); an
 *       existing DIR is recovered into it first - its newest checkpoint's
 *       image, then the WAL after it ("recovered checkpoint K ... and N
 *       records from DIR in T ms") - then the persister drains the ring
 *       into the WAL and checkpoints every HELIOS_CKPT_INTERVAL_S seconds
 *       (default 30), when a WAL segment is half full, and when the run
 *       ends.
 *   helios recover --persist DIR --arena NAME [--size S]
 *       creates arena NAME - of the checkpoint's geometry when DIR has one
 *       (a persisted arena: `helios run --persist DIR --arena NAME` goes
 *       on persisting it), else memory only of --size and DIR's chunk size
 *       - recovers DIR into it, leaves it for others. Exit 0.
 *   helios check --persist DIR [--chunk B] (default: DIR's chunk size)
 *       verifies both meta pages, every present page's CRC of the newest
 *       image and (loaded into a scratch arena) every node's hash, and
 *       every WAL segment DIR holds: every record's checksum, chain and
 *       salt (the scanner) and every node record's hash (replay.c); says
 *       what it found; exit 1 on any damage.
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
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
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

/* The checkpoint interval of a run: HELIOS_CKPT_INTERVAL_S (seconds, > 0)
 * or the persister's default. */
static uint64_t ckpt_interval_env(void)
{
	const char *e = getenv("HELIOS_CKPT_INTERVAL_S");
	char *end;
	double s = e ? strtod(e, &end) : 0;
	if (!e || end == e || *end || !(s > 0) || s > 3600)
		return 0;
	return (uint64_t)(s * 1e9);
}

/* "recovered checkpoint K (P pages, I ms) and N records (W ms) from DIR in
 * T ms (stopped at ...)", and what a damaged image cost. */
static void say_recovered(FILE *f, const char *what, const char *dir,
			  const struct hl_recovery_info *i)
{
	if (i->ckpt)
		fprintf(f, "%s checkpoint %" PRIu64 " (%" PRIu64 " pages, %.1f ms) "
			"and %" PRIu64 " records (%.1f ms) from %s in %.1f ms "
			"(stopped at %s)\n", what, i->ckpt, i->pages_read,
			(double)i->image_ns / 1e6, i->records,
			(double)i->wal_ns / 1e6, dir, (double)i->ns / 1e6,
			stop_name(i->stop));
	else
		fprintf(f, "%s %" PRIu64 " records from %s in %.1f ms (stopped "
			"at %s)\n", what, i->records, dir, (double)i->ns / 1e6,
			stop_name(i->stop));
	if (i->fell_back)
		fprintf(f, "%s: the newest meta page was damaged: recovered from "
			"the older checkpoint\n", dir);
	if (i->bad_pages)
		fprintf(f, "%s: %" PRIu64 " image pages failed their CRC: %" PRIu64
			" nodes and %" PRIu64 " refs dropped (the WAL may have "
			"restored them)\n", dir, i->bad_pages, i->nodes_dropped,
			i->refs_dropped);
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
	pc.ckpt_interval_ns = ckpt_interval_env();
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
	if (rc == HL_EMISMATCH) {
		hl_config c;
		if (hl_ckpt_config(o->persist, &c) == 0)
			hl_say("run: --persist %s: DIR holds a checkpoint of an arena "
			       "of %" PRIu64 " bytes (chunk %u): give that --size "
			       "and --chunk", dir, c.arena_bytes, c.chunk_bytes);
		else
			hl_say("run: --persist %s: DIR was written for another "
			       "chunk size", dir);
		return rc;
	}
	if (rc) {
		hl_say("run: --persist %s: %s", dir, hl_strerror(rc));
		return rc;
	}
	if (info.existed && !o->quiet)
		say_recovered(o->json ? stderr : stdout, "helios run: recovered",
			      dir, &info);
	return 0;
}

int hl_run_persist_stop(struct hl_persister *p)
{
	int rc = hl_persister_stop(p);
	if (rc)
		hl_say("run: the persister failed: %s%s (commits since were not "
		       "durable)", hl_strerror(rc), rc == HL_ENOSPC
		       ? "; the disk is full (or checkpoints failed to recycle "
			 "the WAL)" : "");
	return rc;
}

/* ---- helios recover ------------------------------------------------------- */

static const char recover_usage[] =
	"usage: helios recover --persist DIR --arena NAME [--size 1G]\n"
	"       (a DIR with a checkpoint: its size and chunk size; else --size\n"
	"       and DIR's chunk size)\n";

struct recover_opts {
	const char *dir, *arena;
	uint64_t size;
	bool size_given;
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
			o->size_given = true;
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

/* The arena DIR recovers into: the checkpoint's geometry (persisted), or
 * memory only of --size and the WAL's chunk size. */
static int recover_config(const struct recover_opts *o, const char *dir,
			  hl_config *cfg)
{
	int rc = hl_ckpt_config(o->dir, cfg);
	if (rc == 0) {
		if (o->size_given && o->size != cfg->arena_bytes)
			printf("helios recover: %s holds a checkpoint of a %" PRIu64
			       "-byte arena: that size, not --size\n", dir,
			       cfg->arena_bytes);
		return 0;
	}
	if (rc != HL_ENOENT)
		return rc;
	uint32_t chunk;
	if ((rc = hl_persist_dir_chunk(o->dir, &chunk)))
		return rc;
	hl_config_init(cfg);
	cfg->arena_bytes = o->size;
	cfg->chunk_bytes = chunk;
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
	hl_config cfg;
	if ((rc = recover_config(&o, dir, &cfg))) {
		hl_say("recover: %s: %s", dir, hl_strerror(rc));
		return HL_EXIT_FAILED;
	}
	hl_arena *a;
	if ((rc = hl_arena_create(o.arena, &cfg, &a))) {
		hl_say("recover: cannot create arena %s: %s", shown, hl_strerror(rc));
		return HL_EXIT_FAILED;
	}
	struct hl_recovery_info info;
	rc = hl_recover_into(a, o.dir, hl_replay_record, a, &info, NULL);
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
	char what[256];
	snprintf(what, sizeof what, "helios recover: arena %s: recovered", shown);
	say_recovered(stdout, what, dir, &info);
	printf("helios recover: arena %s: %" PRIu64 " nodes, %" PRIu64 " refs\n",
	       shown, st.nodes, st.refs);
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

/* Every node of the newest image, loaded into a scratch arena and checked
 * by its hash (hl_arena_check). 0 clean, 1 damage, <0 error. */
static int check_image_nodes(const char *dir_arg, const char *dir)
{
	hl_config cfg;
	int rc = hl_ckpt_config(dir_arg, &cfg);
	if (rc)
		return rc;
	char name[64];
	snprintf(name, sizeof name, "helios-check-%d", (int)getpid());
	hl_arena *a;
	if ((rc = hl_arena_create(name, &cfg, &a)))
		return rc;
	struct hl_ckpt_load_info li;
	rc = hl_ckpt_load(a, dir_arg, NULL, &li, NULL);
	char msg[256] = "";
	int bad = 0;
	if (!rc) {
		bad = hl_arena_check(a, msg, sizeof msg) != 0 || li.nodes_dropped ||
		      li.refs_dropped;
		hl_stats st;
		hl_arena_stats(a, &st);
		printf("%s: image: %" PRIu64 " nodes with their hashes verified, %"
		       PRIu64 " refs, %" PRIu64 " dropped%s%s\n", dir, st.nodes,
		       st.refs, li.nodes_dropped + li.refs_dropped,
		       msg[0] ? ", check: " : "", msg);
	}
	hl_arena_close(a);
	hl_arena_unlink(name);
	return rc ? rc : bad;
}

/* Both meta pages and the newest image's pages: the count of damage. */
static int check_images(const char *dir_arg, const char *dir, uint64_t *damage)
{
	struct hl_ckpt_check c;
	int rc = hl_ckpt_check_images(dir_arg, &c);
	if (rc)
		return rc;
	for (unsigned i = 0; i < 2; i++) {
		const struct hl_ckpt_meta *m = &c.meta[i];
		if (c.meta_rc[i] == HL_ENOENT)
			continue;
		if (c.meta_rc[i]) {
			printf("%s: meta page %u: DAMAGED (%s)\n", dir, i,
			       hl_strerror(c.meta_rc[i]));
			++*damage;
			continue;
		}
		printf("%s: meta page %u: ok: checkpoint %" PRIu64 " at LSN %" PRIu64
		       " (WAL segment %" PRIu64 "), %" PRIu64 " pages written in "
		       "%.1f ms\n", dir, i, m->ckpt, m->lsn, m->segment,
		       m->pages_written, (double)m->ns / 1e6);
	}
	if (c.newest < 0) {
		printf("%s: no valid checkpoint\n", dir);
		return 0;
	}
	printf("%s: image %d: %" PRIu64 " pages present, %" PRIu64 " fail their "
	       "CRC\n", dir, c.newest, c.pages, c.bad_pages);
	*damage += c.bad_pages;
	rc = check_image_nodes(dir_arg, dir);
	if (rc > 0)
		++*damage;
	return rc < 0 ? rc : 0;
}

int hl_cmd_check_persist(const char *dir_arg, uint32_t chunk)
{
	char dir[600];
	hl_fmt_name(dir, sizeof dir, dir_arg);
	struct check_ctx c = {.chunk = chunk};
	struct hl_recovery_info info;
	uint64_t damage = 0;
	int rc = chunk ? 0 : hl_persist_dir_chunk(dir_arg, &c.chunk);
	if (!rc)
		rc = check_images(dir_arg, dir, &damage);
	if (!rc)
		rc = hl_recover_dir_all(dir_arg, c.chunk, check_one, &c, &info);
	if (rc == HL_ENOENT && damage == 0 && hl_ckpt_config(dir_arg, &(hl_config){0}) == 0)
		rc = 0, memset(&info, 0, sizeof info); /* a checkpoint, no WAL */
	if (rc) {
		hl_say("check: --persist %s: %s%s", dir, hl_strerror(rc),
		       rc == HL_EMISMATCH ? " (another --chunk?)" : "");
		return HL_EXIT_FAILED;
	}
	printf("%s: %s: %" PRIu64 " records (%" PRIu64 " nodes with their hashes "
	       "verified, %" PRIu64 " refs, %" PRIu64 " markers, %" PRIu64
	       " search records) in %" PRIu64 " WAL segments, log ends at LSN %"
	       PRIu64 ", at %s\n", dir, c.bad || damage ? "BAD" : "ok",
	       info.records, c.nodes, c.refs, c.marks, c.searches, info.segments,
	       info.end_lsn, stop_name(info.stop));
	if (c.bad)
		hl_say("check: %s: %" PRIu64 " records fail their content checks",
		       dir, c.bad);
	return c.bad || damage ? HL_EXIT_FAILED : HL_EXIT_OK;
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

/* The last checkpoint: number, LSN, age, pages, time; the WAL's files. */
static void stat_checkpoint(FILE *f, const struct hl_persist_ctl *c)
{
	uint64_t done = atomic_load(&c->ckpt_done), begun = atomic_load(&c->ckpt_begun);
	uint64_t segs = atomic_load(&c->wal_segments);
	if (!done) {
		fprintf(f, "%-16s none yet%s; %" PRIu64 " WAL segments\n",
			"checkpoint", begun ? " (the first is being written)" : "",
			segs);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	uint64_t at = atomic_load(&c->ckpt_unix_ns);
	fprintf(f, "%-16s #%" PRIu64 " at LSN %" PRIu64 ", %.1f s ago, %" PRIu64
		" pages in %.1f ms%s; %" PRIu64 " WAL segments\n", "checkpoint",
		done, atomic_load(&c->ckpt_lsn),
		now > at ? (double)(now - at) / 1e9 : 0.0,
		atomic_load(&c->ckpt_pages), (double)atomic_load(&c->ckpt_ns) / 1e6,
		begun > done ? " (the next is being written)" : "", segs);
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
	stat_checkpoint(f, c);
	if (fb)
		fprintf(f, "%-16s %s%s%s\n", "io fallbacks",
			fb & HL_IO_FELL_BACK_URING ? "pwrite (io_uring refused) " : "",
			fb & HL_IO_FELL_BACK_DIRECT ? "buffered (O_DIRECT refused) " : "",
			fb & HL_IO_FELL_BACK_DSYNC ? "fdatasync (RWF_DSYNC refused)" : "");
}
