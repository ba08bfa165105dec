/*
 * stat.c - `helios stat NAME [--json] [--watch SECONDS]`: what an arena
 * holds and who is working in it, seen from outside.
 *
 * The command is an observer. It attaches with HL_RDONLY, which maps the
 * arena PROT_READ and takes no process slot, so it can run beside any
 * number of workers, against an arena whose slots are all taken, and as a
 * user who may only read the shm object.
 *
 * One report is: the header facts (arena size, chunk size, slot count), the
 * arena-wide totals of hl_arena_stats (counters summed over the slots, index
 * load, heap use, refs, processes alive and dead), then one row per
 * non-free slot from hl_arena_process. Text is for people (sizes in
 * KiB/MiB/GiB, ages in ms/s/min); --json is one JSON object for programs
 * (exact integers, snake_case keys, every string escaped and valid UTF-8).
 *
 * Invariants:
 *  1. Nothing here writes to the arena: the handle is read-only, and the
 *     mapping is PROT_READ, so a bug would fault rather than write.
 *  2. Counters are read relaxed while workers run: a report is a
 *     consistent-enough view (each counter is exact, the sums may be a few
 *     commits apart), exact when the workers are quiet.
 *  3. --watch attaches once and re-reads the same mapping every interval:
 *     re-attaching would re-validate and, for a prefaulted arena,
 *     re-populate the page tables of the whole heap each time. An arena
 *     unlinked meanwhile stays readable through the mapping we hold; one
 *     re-created under the same name is not followed (stop and restart).
 *  4. Watch stops at SIGINT or SIGTERM and exits 0. The two signals are
 *     blocked only from the check of the stop flag until ppoll unblocks
 *     them atomically for the sleep, so one arriving between the check and
 *     the sleep still ends the sleep at once (no lost wake-up).
 *
 * The JSON object: "arena", "time_unix_ms", "arena_bytes", "chunk_bytes",
 * "huge_pages" (true: 2 MiB pages, shm/huge.c),
 * "max_processes", "totals" {nodes, stored_bytes, dedup_bytes,
 * dedup_ratio_percent, commits, restores, hashed_bytes, dedup_hits,
 * index_used, index_capacity, index_load_percent, heap_used_bytes,
 * heap_bytes, heap_used_percent, refs, refs_capacity, processes,
 * processes_dead} and "processes" [{slot, pid, state "live"|"dead", role
 * "worker"|"coordinator"|"process", worker (index, or null), numa_node,
 * heartbeat_age_ns, commits, restores, nodes, stored_bytes, hashed_bytes,
 * dedup_hits, dedup_bytes}]. Byte counts are exact integers; percentages
 * have two decimals. With --watch, one object per line (JSON Lines).
 *
 * Exit codes (enum hl_exit): 0 success; 2 bad command line (unknown flag,
 * missing NAME, bad --watch value, malformed arena name); 1 anything else
 * (no such arena, permission, corrupt or foreign-version arena, output
 * failure), each with one line on stderr through hl_say.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <getopt.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coordinator.h"
#include "mcts.h"
#include "shm.h"

#define STAT_USAGE "usage: helios stat NAME [--json] [--watch SECONDS] [--search]\n" \
	"  --search  the arena's search instead (helios run --game): best move,\n" \
	"            value, proof, visits per move, principal variation\n"
/* Bounds of --watch: faster than 100 Hz no one can read, slower than a
 * day is no longer watching. */
#define STAT_WATCH_MIN_S 0.01
#define STAT_WATCH_MAX_S 86400.0

struct stat_opts {
	const char *name;
	bool json;
	bool help;
	bool search;
	bool watch;
	struct timespec interval;
};

struct stat_row {
	uint32_t slot;
	hl_process_info info;
};

struct stat_report {
	hl_stats st;
	hl_gc_stats gc;
	struct timespec at;     /* CLOCK_REALTIME when gathered */
	uint32_t rows_count;
	uint32_t rows_capacity; /* max_processes */
	struct stat_row *rows;
};

/* ---- the command line ----------------------------------------------------- */

static int usage(const char *why, const char *what)
{
	return hl_usage("stat", STAT_USAGE, why, what);
}

enum { OPT_JSON = 256, OPT_WATCH, OPT_HELP, OPT_SEARCH };

static const struct option long_opts[] = {
	{"json", no_argument, 0, OPT_JSON},
	{"watch", required_argument, 0, OPT_WATCH},
	{"help", no_argument, 0, OPT_HELP},
	{"search", no_argument, 0, OPT_SEARCH},
	{0, 0, 0, 0},
};

/* --watch's seconds into o->interval; 0 or the exit code. */
static int parse_watch(const char *text, struct stat_opts *o)
{
	double s;
	if (!hl_parse_seconds(text, STAT_WATCH_MAX_S, &s) || s < STAT_WATCH_MIN_S)
		return usage("--watch takes seconds from 0.01 to 86400", text);
	o->interval.tv_sec = (time_t)s;
	o->interval.tv_nsec = (long)((s - (double)o->interval.tv_sec) * 1e9);
	o->watch = true;
	return 0;
}

static int parse_args(int argc, char **argv, struct stat_opts *o)
{
	memset(o, 0, sizeof *o);
	optind = 1;
	opterr = 1;
	int opt, rc;
	/* "-" first: the NAME comes back as an argument of its own (1), so
	 * options may follow it ("helios stat NAME --json") */
	while ((opt = getopt_long(argc, argv, "-h", long_opts, NULL)) != -1) {
		switch (opt) {
		case 1:
			if (o->name)
				return usage("unexpected argument", optarg);
			o->name = optarg;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_WATCH:
			if ((rc = parse_watch(optarg, o)) != 0)
				return rc;
			break;
		case OPT_SEARCH:
			o->search = true;
			break;
		case 'h':
		case OPT_HELP:
			o->help = true;
			break;
		default:
			return usage(NULL, NULL); /* getopt said what */
		}
	}
	for (; optind < argc; optind++) { /* after "--": names only */
		if (o->name)
			return usage("unexpected argument", argv[optind]);
		o->name = argv[optind];
	}
	if (!o->help && !o->name)
		return usage("missing arena NAME", NULL);
	return 0;
}

/* ---- attaching ------------------------------------------------------------ */

static int attach_failed(const char *name, int rc)
{
	char shown[160];
	name = hl_fmt_name(shown, sizeof shown, name); /* no raw control bytes */
	switch (rc) {
	case HL_EFTYPE:
		hl_say("stat: %s: not an arena: not a regular file or shm object "
		       "(%s)", name, hl_strerror(rc));
		return HL_EXIT_FAILED;
	case HL_ENOENT:
		hl_say("stat: no arena named %s", name);
		return HL_EXIT_FAILED;
	case HL_EINVAL:
		hl_say("stat: '%s' is not a valid arena name (%s)", name,
		       hl_strerror(rc));
		return HL_EXIT_USAGE;
	case HL_EACCES:
		hl_say("stat: %s: permission denied: this user may not read the "
		       "arena (%s)", name, hl_strerror(rc));
		return HL_EXIT_FAILED;
	case HL_EVERSION:
		hl_say("stat: %s: written by another Helios format version (%s)",
		       name, hl_strerror(rc));
		return HL_EXIT_FAILED;
	case HL_ECORRUPT:
		hl_say("stat: %s: not a valid arena: corrupt, truncated or not "
		       "Helios (%s)", name, hl_strerror(rc));
		return HL_EXIT_FAILED;
	case HL_EBUSY:
		hl_say("stat: %s: still being created; try again (%s)", name,
		       hl_strerror(rc));
		return HL_EXIT_FAILED;
	default:
		hl_say("stat: %s: cannot attach: %s", name, hl_strerror(rc));
		return HL_EXIT_FAILED;
	}
}

/* ---- gathering ------------------------------------------------------------ */

static int report_init(hl_arena *a, struct stat_report *r)
{
	memset(r, 0, sizeof *r);
	int rc = hl_arena_stats(a, &r->st);
	if (rc)
		return rc;
	r->rows_capacity = r->st.max_processes;
	r->rows = calloc(r->rows_capacity ? r->rows_capacity : 1, sizeof *r->rows);
	return r->rows ? 0 : HL_ENOMEM;
}

/* Totals first, then the slots: while workers run, a row may be a few
 * commits newer than the totals printed above it (invariant 2). */
static int report_gather(hl_arena *a, struct stat_report *r)
{
	clock_gettime(CLOCK_REALTIME, &r->at);
	int rc = hl_arena_stats(a, &r->st);
	if (!rc)
		rc = hl_gc_stats_get(a, &r->gc);
	r->rows_count = 0;
	for (uint32_t i = 0; !rc && i < r->rows_capacity; i++) {
		struct stat_row *row = &r->rows[r->rows_count];
		rc = hl_arena_process(a, i, &row->info);
		if (!rc && row->info.state != HL_PROCESS_FREE) {
			row->slot = i;
			r->rows_count++;
		}
	}
	return rc;
}

/* ---- formatting helpers --------------------------------------------------- */

static double percent(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* The same figure `helios run` prints: dedup / (dedup + stored). */
static double dedup_percent(const hl_stats *st)
{
	return hl_dedup_ratio(st->dedup_bytes, st->stored_bytes);
}

/* hl_fmt_bytes (shared with `helios run`), usable inside a printf call. */
static const char *fmt_bytes(uint64_t bytes, char *buf, size_t len)
{
	hl_fmt_bytes(buf, len, bytes);
	return buf;
}

static const char *fmt_age(uint64_t ns, char *buf, size_t len)
{
	double s = (double)ns / 1e9;
	if (ns < 1000000ull)
		snprintf(buf, len, "%" PRIu64 " us", ns / 1000);
	else if (ns < 1000000000ull)
		snprintf(buf, len, "%" PRIu64 " ms", ns / 1000000);
	else if (s < 60)
		snprintf(buf, len, "%.1f s", s);
	else if (s < 3600)
		snprintf(buf, len, "%.1f min", s / 60);
	else if (s < 86400)
		snprintf(buf, len, "%.1f h", s / 3600);
	else
		snprintf(buf, len, "%.1f d", s / 86400);
	return buf;
}

static const char *state_name(uint32_t state)
{
	switch (state) {
	case HL_PROCESS_LIVE: return "live";
	case HL_PROCESS_DEAD: return "dead";
	default: return "free";
	}
}

static const char *role_name(uint32_t role)
{
	switch (role) {
	case HL_PROCESS_ROLE_WORKER: return "worker";
	case HL_PROCESS_ROLE_COORDINATOR: return "coordinator";
	case HL_PROCESS_ROLE_PLAIN: return "process";
	default: return "unknown";
	}
}

/* "worker 3", "coordinator", "process". */
static const char *fmt_role(const hl_process_info *p, char *buf, size_t len)
{
	if (p->role == HL_PROCESS_ROLE_WORKER)
		snprintf(buf, len, "worker %" PRIu32, p->worker);
	else
		snprintf(buf, len, "%s", role_name(p->role));
	return buf;
}

/* A name as a terminal may safely show it: control bytes become '?'. */
static void put_safe(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

/* ---- the text report ------------------------------------------------------ */

#define KEY "%-16s "

static void text_header(FILE *f, const char *name, const struct stat_report *r)
{
	char b[32];
	const hl_stats *st = &r->st;
	fprintf(f, KEY, "arena");
	put_safe(f, name);
	fputc('\n', f);
	fprintf(f, KEY "%s\n", "arena size", fmt_bytes(st->arena_bytes, b, sizeof b));
	fprintf(f, KEY "%s\n", "chunk size", fmt_bytes(st->chunk_bytes, b, sizeof b));
	fprintf(f, KEY "%" PRIu32 "\n", "max processes", st->max_processes);
	fprintf(f, KEY "%s\n", "pages", st->huge_pages ? "2 MiB (huge pages)" : "4 KiB");
}

static void text_totals(FILE *f, const hl_stats *st)
{
	char b[32], c[32];
	fprintf(f, KEY "%" PRIu64 "\n", "nodes", st->nodes);
	fprintf(f, KEY "%s\n", "stored bytes", fmt_bytes(st->stored_bytes, b, sizeof b));
	fprintf(f, KEY "%s\n", "dedup bytes", fmt_bytes(st->dedup_bytes, b, sizeof b));
	fprintf(f, KEY "%.1f%%\n", "dedup ratio", dedup_percent(st));
	fprintf(f, KEY "%" PRIu64 "\n", "commits", st->commits);
	fprintf(f, KEY "%" PRIu64 "\n", "restores", st->restores);
	fprintf(f, KEY "%s\n", "hashed bytes", fmt_bytes(st->hashed_bytes, b, sizeof b));
	fprintf(f, KEY "%" PRIu64 "\n", "dedup hits", st->dedup_hits);
	fprintf(f, KEY "%" PRIu64 " / %" PRIu64 " used (%.1f%% load)\n", "index",
		st->index_used, st->index_capacity,
		percent(st->index_used, st->index_capacity));
	fprintf(f, KEY "%s / %s used (%.1f%%)\n", "heap",
		fmt_bytes(st->heap_used_bytes, b, sizeof b),
		fmt_bytes(st->heap_bytes, c, sizeof c),
		percent(st->heap_used_bytes, st->heap_bytes));
	fprintf(f, KEY "%" PRIu64 " / %" PRIu64 " used\n", "refs", st->refs,
		st->refs_capacity);
	fprintf(f, KEY "%" PRIu64 " alive, %" PRIu64 " dead\n", "processes",
		st->processes, st->processes_dead);
}

static void text_row(FILE *f, const struct stat_row *row)
{
	const hl_process_info *p = &row->info;
	char role[32], age[32], stored[32];
	fprintf(f, "%4" PRIu32 " %8" PRIu32 "  %-5s  %-12s %4" PRIu32 " %10s"
		" %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %11s %10" PRIu64 "\n",
		row->slot, p->pid, state_name(p->state),
		fmt_role(p, role, sizeof role), p->numa_node,
		fmt_age(p->heartbeat_age_ns, age, sizeof age), p->commits,
		p->restores, p->nodes, fmt_bytes(p->stored_bytes, stored, sizeof stored),
		p->dedup_hits);
}

static void text_processes(FILE *f, const struct stat_report *r)
{
	fputc('\n', f);
	if (r->rows_count == 0) {
		fputs("no processes attached\n", f);
		return;
	}
	fprintf(f, "%4s %8s  %-5s  %-12s %4s %10s %10s %10s %10s %11s %10s\n",
		"slot", "pid", "state", "role", "node", "heartbeat", "commits",
		"restores", "nodes", "stored", "dedup hits");
	for (uint32_t i = 0; i < r->rows_count; i++)
		text_row(f, &r->rows[i]);
}

/* Collections: what the last one found live, what is reclaimable now (the
 * heap in use beyond that: an estimate until the next collection), its
 * time and the longest a worker spent marking. */
static void text_gc(FILE *f, const struct stat_report *r)
{
	const hl_gc_stats *g = &r->gc;
	char b[32], c[32], d[32];
	if (g->cycles == 0) {
		fprintf(f, KEY "none yet%s\n", "collections", g->running ? " (one running)" : "");
		return;
	}
	uint64_t live = g->live_bytes;
	uint64_t used = r->st.heap_used_bytes;
	fprintf(f, KEY "%" PRIu64 "%s, %" PRIu64 " nodes (%s) freed in all\n",
		"collections", g->cycles, g->running ? " (one running)" : "",
		g->freed_nodes, fmt_bytes(g->freed_bytes, b, sizeof b));
	fprintf(f, KEY "%s live (%" PRIu64 " nodes), %s reclaimable or free\n",
		"heap at last gc", fmt_bytes(live, c, sizeof c), g->live_nodes,
		fmt_bytes(used > live ? used - live : 0, d, sizeof d));
	fprintf(f, KEY "%.1f ms, freed %s; longest wait %.2f ms\n",
		"last collection", (double)g->last_ns / 1e6,
		fmt_bytes(g->last_freed_bytes, b, sizeof b),
		(double)g->last_wait_ns / 1e6);
	fprintf(f, KEY "%" PRIu64 ": p50 <= %.1f us, p99 <= %.1f us, max %.1f us\n",
		"worker pauses", g->pauses, (double)g->pause_p50_ns / 1e3,
		(double)g->pause_p99_ns / 1e3, (double)g->pause_max_ns / 1e3);
	if (g->released_slabs)
		fprintf(f, KEY "%" PRIu64 " (all their objects free: given to the "
			"classes that ran out, or assembled for them)\n", "slabs given back",
			g->released_slabs);
	if (g->unreused_bytes)
		fprintf(f, KEY "%s swept but kept from reuse (no persister drained "
			"the records before them)\n", "held back",
			fmt_bytes(g->unreused_bytes, b, sizeof b));
}

static void json_gc(struct hl_json *j, const hl_gc_stats *g)
{
	hl_json_open(j, "gc", '{');
	hl_json_u64(j, "cycles", g->cycles);
	hl_json_u64(j, "running", g->running);
	hl_json_u64(j, "freed_nodes", g->freed_nodes);
	hl_json_u64(j, "freed_bytes", g->freed_bytes);
	hl_json_u64(j, "live_nodes", g->live_nodes);
	hl_json_u64(j, "live_bytes", g->live_bytes);
	hl_json_u64(j, "last_ns", g->last_ns);
	hl_json_u64(j, "last_freed_bytes", g->last_freed_bytes);
	hl_json_u64(j, "last_wait_ns", g->last_wait_ns);
	hl_json_u64(j, "pause_max_ns", g->pause_max_ns);
	hl_json_u64(j, "pauses", g->pauses);
	hl_json_u64(j, "pause_p50_ns", g->pause_p50_ns);
	hl_json_u64(j, "pause_p99_ns", g->pause_p99_ns);
	hl_json_u64(j, "unreused_bytes", g->unreused_bytes);
	hl_json_u64(j, "released_slabs", g->released_slabs);
	hl_json_close(j);
}

static void print_text(FILE *f, const char *name, const struct stat_report *r,
		       bool watching)
{
	text_header(f, name, r);
	if (watching) {
		char when[32];
		struct tm tm;
		localtime_r(&r->at.tv_sec, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
		fprintf(f, KEY "%s\n", "time", when);
	}
	text_totals(f, &r->st);
	text_gc(f, r);
	text_processes(f, r);
}

/* ---- the JSON report ------------------------------------------------------ */

static void json_totals(struct hl_json *j, const hl_stats *st)
{
	hl_json_open(j, "totals", '{');
	hl_json_u64(j, "nodes", st->nodes);
	hl_json_u64(j, "stored_bytes", st->stored_bytes);
	hl_json_u64(j, "dedup_bytes", st->dedup_bytes);
	hl_json_fixed(j, "dedup_ratio_percent", dedup_percent(st), 2);
	hl_json_u64(j, "commits", st->commits);
	hl_json_u64(j, "restores", st->restores);
	hl_json_u64(j, "hashed_bytes", st->hashed_bytes);
	hl_json_u64(j, "dedup_hits", st->dedup_hits);
	hl_json_u64(j, "index_used", st->index_used);
	hl_json_u64(j, "index_capacity", st->index_capacity);
	hl_json_fixed(j, "index_load_percent",
		      percent(st->index_used, st->index_capacity), 2);
	hl_json_u64(j, "heap_used_bytes", st->heap_used_bytes);
	hl_json_u64(j, "heap_bytes", st->heap_bytes);
	hl_json_fixed(j, "heap_used_percent",
		      percent(st->heap_used_bytes, st->heap_bytes), 2);
	hl_json_u64(j, "refs", st->refs);
	hl_json_u64(j, "refs_capacity", st->refs_capacity);
	hl_json_u64(j, "processes", st->processes);
	hl_json_u64(j, "processes_dead", st->processes_dead);
	hl_json_close(j);
}

static void json_row(struct hl_json *j, const struct stat_row *row)
{
	const hl_process_info *p = &row->info;
	hl_json_open(j, NULL, '{');
	hl_json_u64(j, "slot", row->slot);
	hl_json_u64(j, "pid", p->pid);
	hl_json_str(j, "state", state_name(p->state), SIZE_MAX);
	hl_json_str(j, "role", role_name(p->role), SIZE_MAX);
	if (p->role == HL_PROCESS_ROLE_WORKER) /* the index; null for others */
		hl_json_u64(j, "worker", p->worker);
	else
		hl_json_null(j, "worker");
	hl_json_u64(j, "numa_node", p->numa_node);
	hl_json_u64(j, "heartbeat_age_ns", p->heartbeat_age_ns);
	hl_json_u64(j, "commits", p->commits);
	hl_json_u64(j, "restores", p->restores);
	hl_json_u64(j, "nodes", p->nodes);
	hl_json_u64(j, "stored_bytes", p->stored_bytes);
	hl_json_u64(j, "hashed_bytes", p->hashed_bytes);
	hl_json_u64(j, "dedup_hits", p->dedup_hits);
	hl_json_u64(j, "dedup_bytes", p->dedup_bytes);
	hl_json_close(j);
}

/* One object on one line, so that --watch --json is JSON Lines. */
static void print_json(FILE *f, const char *name, const struct stat_report *r)
{
	struct hl_json j;
	hl_json_begin(&j, f, false);
	hl_json_open(&j, NULL, '{');
	hl_json_str(&j, "arena", name, SIZE_MAX);
	hl_json_u64(&j, "time_unix_ms", (uint64_t)r->at.tv_sec * 1000 +
				     (uint64_t)r->at.tv_nsec / 1000000);
	hl_json_u64(&j, "arena_bytes", r->st.arena_bytes);
	hl_json_u64(&j, "chunk_bytes", r->st.chunk_bytes);
	hl_json_bool(&j, "huge_pages", r->st.huge_pages != 0);
	hl_json_u64(&j, "max_processes", r->st.max_processes);
	json_totals(&j, &r->st);
	json_gc(&j, &r->gc);
	hl_json_open(&j, "processes", '[');
	for (uint32_t i = 0; i < r->rows_count; i++)
		json_row(&j, &r->rows[i]);
	hl_json_close(&j);
	hl_json_close(&j);
	hl_json_end(&j);
}

/* ---- the search view (--search) -------------------------------------------- */

static bool stat_search_failed; /* --search on an arena without a search */

/* Workers attached now (slots of role worker held by live processes). */
static unsigned live_workers(hl_arena *a)
{
	hl_process_info p;
	unsigned n = 0;
	for (uint32_t i = 0; hl_arena_process(a, i, &p) != HL_ERANGE; i++)
		n += p.state == HL_PROCESS_LIVE && p.role == HL_PROCESS_ROLE_WORKER;
	return n;
}

/* The arena's search summary (game.c). The rate is over the time since
 * the last report, or a first 250 ms sample; elapsed_s is that window. */
static void print_search(hl_arena *a, const struct stat_opts *o, unsigned n)
{
	static uint64_t last_playouts, last_ns;
	char position[64];
	if (n == 0) {
		last_playouts = hl_mcts_playouts(a);
		last_ns = hl_now_ns();
		struct timespec ts = {0, 250 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	uint64_t now = hl_now_ns(), done = hl_mcts_playouts(a);
	hl_game_position(a, position, sizeof position);
	struct hl_game_run g = {.position = position, .workers = live_workers(a),
				.elapsed_s = (double)(now - last_ns) / 1e9,
				.playouts = done - last_playouts};
	if (hl_game_report(a, &g, o->json, stdout) && !o->watch)
		stat_search_failed = true;
	last_playouts = done;
	last_ns = now;
}

/* ---- one report, and watching --------------------------------------------- */

static volatile sig_atomic_t stat_stop;

/* Gathers and prints report number n (0-based); 0 or an exit code. */
static int report_once(hl_arena *a, const struct stat_opts *o,
		       struct stat_report *r, unsigned n)
{
	int rc = report_gather(a, r);
	if (rc) {
		hl_say("stat: %s: reading the arena: %s", o->name, hl_strerror(rc));
		return HL_EXIT_FAILED;
	}
	bool tty = o->watch && !o->json && isatty(STDOUT_FILENO);
	if (tty)
		fputs("\033[H\033[2J", stdout); /* cursor home, clear screen */
	else if (n > 0 && !o->json)
		fputc('\n', stdout); /* reports apart by one blank line */
	if (o->search)
		print_search(a, o, n);
	else if (o->json)
		print_json(stdout, o->name, r);
	else {
		print_text(stdout, o->name, r, o->watch);
		hl_stat_persister(stdout, a); /* nothing for a memory-only arena */
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		int e = errno;
		if (!stat_stop) /* a write cut short by a stop signal is no error */
			hl_say("stat: writing the report: %s", strerror(e));
		return HL_EXIT_FAILED;
	}
	return 0;
}

static void stat_on_signal(int sig)
{
	(void)sig;
	stat_stop = 1;
}

struct watch_signals {
	struct sigaction old_int, old_term;
	sigset_t stop_set; /* SIGINT, SIGTERM */
};

static void watch_signals_install(struct watch_signals *ws)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = stat_on_signal; /* no SA_RESTART: end the sleep */
	sigemptyset(&sa.sa_mask);
	stat_stop = 0;
	sigaction(SIGINT, &sa, &ws->old_int);
	sigaction(SIGTERM, &sa, &ws->old_term);
	sigemptyset(&ws->stop_set);
	sigaddset(&ws->stop_set, SIGINT);
	sigaddset(&ws->stop_set, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &ws->stop_set, NULL);
}

static void watch_signals_restore(const struct watch_signals *ws)
{
	sigaction(SIGINT, &ws->old_int, NULL);
	sigaction(SIGTERM, &ws->old_term, NULL);
}

/* Sleeps one interval or until a stop signal (invariant 4). */
static void watch_sleep(const struct watch_signals *ws, const struct timespec *t)
{
	sigset_t orig, waiting;
	sigprocmask(SIG_BLOCK, &ws->stop_set, &orig);
	waiting = orig;
	sigdelset(&waiting, SIGINT);
	sigdelset(&waiting, SIGTERM);
	if (!stat_stop)
		ppoll(NULL, 0, t, &waiting);
	sigprocmask(SIG_SETMASK, &orig, NULL);
}

static int watch(hl_arena *a, const struct stat_opts *o, struct stat_report *r)
{
	struct watch_signals ws;
	int rc = HL_EXIT_OK;
	watch_signals_install(&ws);
	for (unsigned n = 0; !stat_stop; n++) {
		rc = report_once(a, o, r, n);
		if (rc || stat_stop)
			break;
		watch_sleep(&ws, &o->interval);
	}
	watch_signals_restore(&ws);
	if (stat_stop) {
		clearerr(stdout); /* a write the signal cut short is no error */
		return HL_EXIT_OK;
	}
	return rc;
}

int hl_cmd_stat(int argc, char **argv)
{
	struct stat_opts o;
	stat_stop = 0;
	int rc = parse_args(argc, argv, &o);
	if (rc)
		return rc;
	if (o.help) {
		fputs(STAT_USAGE, stdout);
		return HL_EXIT_OK;
	}
	hl_arena *a = NULL;
	rc = hl_arena_attach(o.name, HL_RDONLY, &a);
	if (rc)
		return attach_failed(o.name, rc);
	struct stat_report r;
	rc = report_init(a, &r);
	if (rc) {
		hl_say("stat: %s: %s", o.name, hl_strerror(rc));
		rc = HL_EXIT_FAILED;
		goto out_close;
	}
	rc = o.watch ? watch(a, &o, &r) : report_once(a, &o, &r, 0);
	if (stat_search_failed)
		rc = HL_EXIT_FAILED;
	free(r.rows);
out_close:
	hl_arena_close(a);
	return rc;
}
