/*
 * test_stat.c - `helios stat`: what it prints, that its JSON parses and
 * agrees with hl_arena_stats, that it never changes the arena, its errors
 * and exit codes, and --watch stopped by SIGINT.
 *
 * hl_cmd_stat is called in-process with argv arrays; its stdout and stderr
 * are redirected (dup2) into temporary files that the tests read back.
 * JSON is checked by Python's json module (python3 on PATH), the reference
 * parser a user would use, rather than by a parser written here.
 *
 * A "fleet" is the arena as `helios run` leaves it between commits: two
 * forked worker processes attached through hl_worker_attach_env (so they
 * show as "worker 0" and "worker 1") that committed a few states, set their
 * worker-<i>/latest ref, and now sit idle, still attached, until the test
 * lets them go. Idle workers write nothing, so the arena's bytes are a
 * fixed target for the read-only test.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coordinator.h"
#include "helios.h"

#define ARENA_BYTES (8u << 20)
#define CHUNK_BYTES 4096u
#define STATE_BYTES (3u * CHUNK_BYTES)
#define FLEET_WORKERS 2
#define COMMITS_EACH 5
#define ARGS_MAX 16

/* ---- arena names, unlinked after every test -------------------------------- */

static char names[8][128];
static int names_count;

/* "t-stat-<pid>-<n>"; any leftover of an earlier run is removed first. */
static const char *arena_name(void)
{
	cr_assert_lt(names_count, 8);
	char *n = names[names_count];
	snprintf(n, sizeof names[0], "t-stat-%d-%d", (int)getpid(), names_count);
	names_count++;
	hl_arena_unlink(n);
	return n;
}

/* Temporary files made by temp_file, removed with the arenas even when
 * an assertion ends the test early. */
#define TEMPS_MAX 64
static char temps[TEMPS_MAX][96];
static int temps_count;

static void unlink_all(void)
{
	for (int i = 0; i < names_count; i++)
		hl_arena_unlink(names[i]);
	names_count = 0;
	for (int i = 0; i < temps_count; i++)
		unlink(temps[i]);
	temps_count = 0;
}

TestSuite(stat, .fini = unlink_all, .timeout = 60);

static void config_small(hl_config *cfg)
{
	hl_config_init(cfg);
	cfg->arena_bytes = ARENA_BYTES;
	cfg->chunk_bytes = CHUNK_BYTES;
	cfg->numa = HL_NUMA_OFF;
}

/* Creates arena `name` and closes the creator's handle (freeing its slot). */
static void arena_make(const char *name, const hl_config *cfg)
{
	hl_arena *a = NULL;
	int rc = hl_arena_create(name, cfg, &a);
	cr_assert_eq(rc, 0, "hl_arena_create(%s): %s", name, hl_strerror(rc));
	hl_arena_close(a);
}

static void shm_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "/dev/shm/helios.%s", name);
}

/* ---- files ---------------------------------------------------------------- */

/* The whole file, NUL-terminated; *len_out (may be NULL) its length. */
static char *slurp(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap + 1);
	cr_assert_not_null(buf);
	size_t n;
	while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			cr_assert_not_null(buf);
		}
	}
	fclose(f);
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;
}

static int temp_file(char *path, size_t len, const char *what)
{
	cr_assert_lt(temps_count, TEMPS_MAX);
	snprintf(path, len, "/tmp/t-stat-%d-%s-XXXXXX", (int)getpid(), what);
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	snprintf(temps[temps_count++], sizeof temps[0], "%s", path);
	return fd;
}

/* ---- running the command -------------------------------------------------- */

struct run {
	int rc;
	char out_path[96], err_path[96];
	char *out, *err;
};

/* Swaps fd `target` for `fd`; returns the saved original. */
static int redirect(int target, int fd)
{
	int saved = dup(target);
	cr_assert_geq(saved, 0);
	cr_assert_geq(dup2(fd, target), 0);
	close(fd);
	return saved;
}

static void restore_fd(int target, int saved)
{
	dup2(saved, target);
	close(saved);
}

/* hl_cmd_stat("stat", args..., NULL) with stdout and stderr captured. */
static struct run run_stat(const char *first, ...)
{
	char *argv[ARGS_MAX + 1] = {"stat"};
	int argc = 1;
	va_list ap;
	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		cr_assert_lt(argc, ARGS_MAX);
		argv[argc++] = (char *)a;
	}
	va_end(ap);
	argv[argc] = NULL;

	struct run r;
	memset(&r, 0, sizeof r);
	int out = temp_file(r.out_path, sizeof r.out_path, "out");
	int err = temp_file(r.err_path, sizeof r.err_path, "err");
	fflush(stdout);
	fflush(stderr);
	int saved_out = redirect(STDOUT_FILENO, out);
	int saved_err = redirect(STDERR_FILENO, err);
	r.rc = hl_cmd_stat(argc, argv);
	fflush(stdout);
	fflush(stderr);
	restore_fd(STDOUT_FILENO, saved_out);
	restore_fd(STDERR_FILENO, saved_err);
	r.out = slurp(r.out_path, NULL);
	r.err = slurp(r.err_path, NULL);
	return r;
}

static void run_free(struct run *r)
{
	unlink(r->out_path);
	unlink(r->err_path);
	free(r->out);
	free(r->err);
}

/* ---- reading the output --------------------------------------------------- */

/* The value of text line "KEY   value", or NULL: the key starts a line and
 * is followed by at least two spaces (the report's key column). */
static const char *text_value(const char *text, const char *key)
{
	size_t n = strlen(key);
	for (const char *line = text; line && *line;) {
		if (!strncmp(line, key, n) && line[n] == ' ' && line[n + 1] == ' ') {
			const char *v = line + n;
			while (*v == ' ')
				v++;
			return v;
		}
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	return NULL;
}

static uint64_t text_u64(const char *text, const char *key)
{
	const char *v = text_value(text, key);
	cr_assert_not_null(v, "no line '%s' in:\n%s", key, text);
	return strtoull(v, NULL, 10);
}

/* Asserts that the value of text line `key` starts with `want`. */
static void text_expect(const char *text, const char *key, const char *want)
{
	const char *v = text_value(text, key);
	cr_assert_not_null(v, "no line '%s' in:\n%s", key, text);
	cr_assert(!strncmp(v, want, strlen(want)), "line '%s' is '%.40s', want '%s'",
		  key, v, want);
}

static unsigned count_lines_starting(const char *text, const char *prefix)
{
	unsigned n = 0;
	size_t len = strlen(prefix);
	for (const char *line = text; line && *line;) {
		if (!strncmp(line, prefix, len))
			n++;
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	return n;
}

/* python3 `code` with the file as sys.argv[1]; its exit status and, when
 * out is not NULL, the first line it printed. */
static int python(const char *code, const char *path, char *out, size_t len)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "python3 -c '%s' '%s'", code, path);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p, "popen python3");
	char line[1024] = "";
	if (!fgets(line, sizeof line, p))
		line[0] = '\0';
	while (fgetc(p) != EOF)
		;
	int status = pclose(p);
	if (out)
		snprintf(out, len, "%s", line);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The tiny checker: the file holds one JSON document. */
static void expect_json_file(const char *path)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd,
		 "python3 -c 'import json,sys; json.load(sys.stdin)' < '%s'", path);
	int status = system(cmd);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "not valid JSON: %s", path);
}

/* ---- a fleet of idle workers ---------------------------------------------- */

struct fleet {
	const char *name;
	pid_t pids[FLEET_WORKERS];
	int go_fd;     /* closing it lets the workers exit */
	hl_arena *ro;  /* the test's own read-only view */
	hl_stats st;   /* hl_arena_stats once the workers are idle */
};

/* Worker i: commit COMMITS_EACH states (the first one the same in every
 * worker, so the second worker's is all dedup), restore once, publish.
 * Returns 0 or a step number; stays attached. */
static int fleet_work(const char *name, unsigned i, hl_arena **a_out)
{
	char idx[16];
	snprintf(idx, sizeof idx, "%u", i);
	if (setenv("HELIOS_ARENA", name, 1) || setenv("HELIOS_WORKER", idx, 1))
		return 1;
	hl_arena *a;
	unsigned w = ~0u;
	if (hl_worker_attach_env(&a, &w) || w != i)
		return 2;
	*a_out = a;
	hl_state *s;
	if (hl_state_new(a, &s) || hl_state_resize(s, STATE_BYTES))
		return 3;
	unsigned char buf[256];
	hl_id id = {0, 0}, first = {0, 0};
	for (unsigned k = 0; k < COMMITS_EACH; k++) {
		memset(buf, k == 0 ? 'C' : (int)('a' + 8 * i + k), sizeof buf);
		if (hl_state_write(s, (k % 3) * CHUNK_BYTES, buf, sizeof buf) ||
		    hl_commit(s, &id, NULL))
			return 4;
		if (k == 0)
			first = id;
	}
	char ref[HL_REF_NAME_MAX + 1];
	snprintf(ref, sizeof ref, "worker-%u/latest", i);
	if (hl_restore(s, first) || hl_ref_set(a, ref, id))
		return 5;
	hl_state_free(s);
	return 0;
}

__attribute__((noreturn))
static void fleet_child(const char *name, unsigned i, int ready_fd, int go_fd)
{
	hl_arena *a = NULL;
	char rc = (char)fleet_work(name, i, &a);
	char msg = rc ? (char)('0' + rc) : 'k';
	if (write(ready_fd, &msg, 1) != 1)
		_exit(1);
	char c;
	while (read(go_fd, &c, 1) > 0) /* until the test closes its end */
		;
	hl_arena_close(a);
	_exit(0);
}

static void fleet_start(struct fleet *f)
{
	memset(f, 0, sizeof *f);
	f->name = arena_name();
	hl_config cfg;
	config_small(&cfg);
	arena_make(f->name, &cfg);
	int ready[2], go[2];
	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(go), 0);
	for (unsigned i = 0; i < FLEET_WORKERS; i++) {
		pid_t pid = fork();
		cr_assert_geq(pid, 0, "fork");
		if (pid == 0) {
			close(ready[0]);
			close(go[1]);
			fleet_child(f->name, i, ready[1], go[0]);
		}
		f->pids[i] = pid;
	}
	close(ready[1]);
	close(go[0]);
	f->go_fd = go[1];
	for (unsigned i = 0; i < FLEET_WORKERS; i++) {
		char msg = 0;
		cr_assert_eq(read(ready[0], &msg, 1), 1, "a worker died early");
		cr_assert_eq(msg, 'k', "a worker failed at step %c", msg);
	}
	close(ready[0]);
	int rc = hl_arena_attach(f->name, HL_RDONLY, &f->ro);
	cr_assert_eq(rc, 0, "attach read-only: %s", hl_strerror(rc));
	cr_assert_eq(hl_arena_stats(f->ro, &f->st), 0);
}

static void fleet_stop(struct fleet *f)
{
	close(f->go_fd);
	for (unsigned i = 0; i < FLEET_WORKERS; i++)
		if (f->pids[i] > 0)
			waitpid(f->pids[i], NULL, 0);
	hl_arena_close(f->ro);
}

/* ---- the text report ------------------------------------------------------ */

Test(stat, text_reports_the_totals_and_every_worker)
{
	struct fleet f;
	fleet_start(&f);
	cr_assert_eq(f.st.commits, FLEET_WORKERS * COMMITS_EACH);
	cr_assert_eq(f.st.processes, FLEET_WORKERS);
	cr_assert_gt(f.st.dedup_bytes, 0, "the shared first commit deduplicates");

	struct run r = run_stat(f.name, NULL);
	cr_assert_eq(r.rc, HL_EXIT_OK, "rc %d, stderr: %s", r.rc, r.err);
	cr_assert_str_empty(r.err);
	text_expect(r.out, "arena", f.name);
	text_expect(r.out, "arena size", "8.0 MiB");
	text_expect(r.out, "chunk size", "4.0 KiB");
	cr_assert_eq(text_u64(r.out, "max processes"), f.st.max_processes);
	cr_assert_eq(text_u64(r.out, "nodes"), f.st.nodes);
	cr_assert_eq(text_u64(r.out, "commits"), f.st.commits);
	cr_assert_eq(text_u64(r.out, "restores"), f.st.restores);
	cr_assert_eq(text_u64(r.out, "dedup hits"), f.st.dedup_hits);
	char want[128];
	double ratio = 100.0 * (double)f.st.dedup_bytes /
		       (double)(f.st.dedup_bytes + f.st.stored_bytes);
	snprintf(want, sizeof want, "%.1f%%", ratio);
	text_expect(r.out, "dedup ratio", want);
	snprintf(want, sizeof want, "%llu / %llu used",
		 (unsigned long long)f.st.index_used,
		 (unsigned long long)f.st.index_capacity);
	text_expect(r.out, "index", want);
	snprintf(want, sizeof want, "%d / %llu used", FLEET_WORKERS,
		 (unsigned long long)f.st.refs_capacity);
	text_expect(r.out, "refs", want);
	text_expect(r.out, "processes", "2 alive, 0 dead");
	for (unsigned i = 0; i < FLEET_WORKERS; i++) {
		snprintf(want, sizeof want, " %d  live   worker %u ", (int)f.pids[i], i);
		cr_assert_not_null(strstr(r.out, want), "no row '%s' in:\n%s", want,
				   r.out);
	}
	run_free(&r);
	fleet_stop(&f);
}

Test(stat, text_shows_a_killed_worker_as_dead)
{
	struct fleet f;
	fleet_start(&f);
	kill(f.pids[0], SIGKILL);
	waitpid(f.pids[0], NULL, 0); /* reaped: the pid no longer exists */
	char want[64];
	struct run r = run_stat(f.name, NULL);
	cr_assert_eq(r.rc, HL_EXIT_OK, "stderr: %s", r.err);
	text_expect(r.out, "processes", "1 alive, 1 dead");
	snprintf(want, sizeof want, " %d  dead   worker 0 ", (int)f.pids[0]);
	cr_assert_not_null(strstr(r.out, want), "no row '%s' in:\n%s", want, r.out);
	/* a dead worker's commits still count */
	cr_assert_eq(text_u64(r.out, "commits"), FLEET_WORKERS * COMMITS_EACH);
	run_free(&r);
	f.pids[0] = 0;
	fleet_stop(&f);
}

Test(stat, text_of_an_empty_arena)
{
	const char *name = arena_name();
	hl_config cfg;
	config_small(&cfg);
	arena_make(name, &cfg);
	struct run r = run_stat(name, NULL);
	cr_assert_eq(r.rc, HL_EXIT_OK, "stderr: %s", r.err);
	cr_assert_eq(text_u64(r.out, "nodes"), 0);
	text_expect(r.out, "dedup ratio", "0.0%");
	text_expect(r.out, "processes", "0 alive, 0 dead");
	cr_assert_not_null(strstr(r.out, "no processes attached"));
	run_free(&r);
}

/* ---- the JSON report ------------------------------------------------------ */

Test(stat, json_parses_and_agrees_with_hl_arena_stats)
{
	struct fleet f;
	fleet_start(&f);
	struct run r = run_stat(f.name, "--json", NULL);
	cr_assert_eq(r.rc, HL_EXIT_OK, "stderr: %s", r.err);
	expect_json_file(r.out_path);
	cr_assert_eq(count_lines_starting(r.out, "{"), 1, "one object, one line");

	char line[1024];
	int rc = python("import json,sys; d=json.load(open(sys.argv[1])); "
			"t=d[\"totals\"]; print(t[\"commits\"], t[\"nodes\"], "
			"t[\"processes\"], t[\"processes_dead\"], len(d[\"processes\"]), "
			"d[\"chunk_bytes\"], d[\"arena_bytes\"], t[\"stored_bytes\"], "
			"t[\"dedup_bytes\"], t[\"restores\"], d[\"arena\"])",
			r.out_path, line, sizeof line);
	cr_assert_eq(rc, 0, "python3 failed on:\n%s", r.out);
	unsigned long long commits, nodes, procs, dead, rows, chunk, arena,
		stored, dedup, restores;
	char name[128];
	cr_assert_eq(sscanf(line, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %127s",
			    &commits, &nodes, &procs, &dead, &rows, &chunk, &arena,
			    &stored, &dedup, &restores, name), 11, "read: %s", line);
	cr_assert_eq(commits, f.st.commits);
	cr_assert_eq(nodes, f.st.nodes);
	cr_assert_eq(procs, f.st.processes);
	cr_assert_eq(dead, f.st.processes_dead);
	cr_assert_eq(rows, FLEET_WORKERS);
	cr_assert_eq(chunk, CHUNK_BYTES);
	cr_assert_eq(arena, ARENA_BYTES);
	cr_assert_eq(stored, f.st.stored_bytes);
	cr_assert_eq(dedup, f.st.dedup_bytes);
	cr_assert_eq(restores, f.st.restores);
	cr_assert_str_eq(name, f.name);

	/* the rows: each worker once, with its role and index, counters summing
	 * to the totals */
	rc = python("import json,sys; d=json.load(open(sys.argv[1])); "
		    "p=d[\"processes\"]; "
		    "ok=sorted(x[\"worker\"] for x in p if x[\"role\"]==\"worker\" "
		    "and x[\"state\"]==\"live\")==[0,1] and "
		    "sum(x[\"commits\"] for x in p)==d[\"totals\"][\"commits\"]; "
		    "sys.exit(0 if ok else 3)", r.out_path, NULL, 0);
	cr_assert_eq(rc, 0, "rows disagree:\n%s", r.out);
	run_free(&r);
	fleet_stop(&f);
}

/* A path-form name may hold any byte: quotes, backslashes, control bytes
 * and bytes that are not UTF-8 must all come out as valid JSON. */
Test(stat, json_escapes_any_arena_name)
{
	char path[256];
	snprintf(path, sizeof path, "/tmp/t-stat-%d-q\"b\\n\n\x01\xff", (int)getpid());
	hl_arena_unlink(path);
	hl_config cfg;
	config_small(&cfg);
	arena_make(path, &cfg);
	struct run r = run_stat(path, "--json", NULL);
	hl_arena_unlink(path);
	cr_assert_eq(r.rc, HL_EXIT_OK, "stderr: %s", r.err);
	expect_json_file(r.out_path);
	char line[512], want[512];
	int rc = python("import json,sys; "
			"print(json.dumps(json.load(open(sys.argv[1]))[\"arena\"]))",
			r.out_path, line, sizeof line);
	cr_assert_eq(rc, 0);
	snprintf(want, sizeof want, "\"/tmp/t-stat-%d-q\\\"b\\\\n\\n\\u0001\\ufffd\"\n",
		 (int)getpid());
	cr_assert_str_eq(line, want);
	run_free(&r);
}

/* ---- stat is read-only ---------------------------------------------------- */

Test(stat, never_changes_the_arena)
{
	struct fleet f;
	fleet_start(&f);
	char path[256];
	shm_path(f.name, path, sizeof path);
	size_t before_len, after_len;
	char *before = slurp(path, &before_len);
	cr_assert_eq(before_len, ARENA_BYTES);

	struct run r = run_stat(f.name, NULL);
	cr_assert_eq(r.rc, HL_EXIT_OK, "stderr: %s", r.err);
	run_free(&r);
	r = run_stat(f.name, "--json", NULL);
	cr_assert_eq(r.rc, HL_EXIT_OK, "stderr: %s", r.err);
	run_free(&r);

	char *after = slurp(path, &after_len);
	cr_assert_eq(after_len, before_len);
	cr_assert(memcmp(before, after, before_len) == 0,
		  "helios stat changed the arena's bytes");
	free(before);
	free(after);
	fleet_stop(&f);
}

/* With every slot held, a read-write attach is refused (HL_EFULL); stat
 * takes no slot, so it still reports. */
Test(stat, works_when_every_slot_is_taken)
{
	const char *name = arena_name();
	hl_config cfg;
	config_small(&cfg);
	cfg.max_processes = 1;
	hl_arena *holder = NULL;
	cr_assert_eq(hl_arena_create(name, &cfg, &holder), 0);
	hl_arena *other = NULL;
	cr_assert_eq(hl_arena_attach(name, 0, &other), HL_EFULL);
	struct run r = run_stat(name, NULL);
	cr_assert_eq(r.rc, HL_EXIT_OK, "stderr: %s", r.err);
	text_expect(r.out, "processes", "1 alive, 0 dead");
	text_expect(r.out, "max processes", "1");
	run_free(&r);
	hl_arena_close(holder);
}

/* ---- errors --------------------------------------------------------------- */

static void expect_usage(int rc, const struct run *r)
{
	cr_assert_eq(rc, HL_EXIT_USAGE, "rc %d, stderr: %s", rc, r->err);
	cr_assert_not_null(strstr(r->err, "usage: helios stat"), "stderr: %s", r->err);
	cr_assert_str_empty(r->out);
}

Test(stat, bad_command_lines_exit_2)
{
	const char *name = arena_name();
	hl_config cfg;
	config_small(&cfg);
	arena_make(name, &cfg);
	struct run r;
#define EXPECT_USAGE(...)                        \
	do {                                     \
		r = run_stat(__VA_ARGS__, NULL); \
		expect_usage(r.rc, &r);          \
		run_free(&r);                    \
	} while (0)
	EXPECT_USAGE("--bogus", name);
	EXPECT_USAGE(name, "-x");
	EXPECT_USAGE(name, "--json", "extra");
	EXPECT_USAGE(name, "--watch");
	EXPECT_USAGE(name, "--watch", "0");
	EXPECT_USAGE(name, "--watch", "-1");
	EXPECT_USAGE(name, "--watch", "soon");
	EXPECT_USAGE(name, "--watch=1x");
	EXPECT_USAGE("--json");
#undef EXPECT_USAGE
	r = run_stat(NULL); /* no NAME at all */
	expect_usage(r.rc, &r);
	cr_assert_not_null(strstr(r.err, "helios: stat: missing arena NAME"));
	run_free(&r);
	r = run_stat("--help", NULL);
	cr_assert_eq(r.rc, HL_EXIT_OK);
	cr_assert_not_null(strstr(r.out, "usage: helios stat"));
	run_free(&r);
}

Test(stat, missing_arena_exits_1)
{
	const char *name = arena_name(); /* never created */
	struct run r = run_stat(name, NULL);
	cr_assert_eq(r.rc, HL_EXIT_FAILED);
	char want[256];
	snprintf(want, sizeof want, "helios: stat: no arena named %s\n", name);
	cr_assert_str_eq(r.err, want);
	cr_assert_str_empty(r.out);
	run_free(&r);
	r = run_stat(name, "--json", "--watch", "1", NULL); /* no watching either */
	cr_assert_eq(r.rc, HL_EXIT_FAILED);
	run_free(&r);
}

Test(stat, corrupt_arena_says_so)
{
	const char *name = arena_name();
	char path[256];
	shm_path(name, path, sizeof path);
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	cr_assert_geq(fd, 0, "create %s: %s", path, strerror(errno));
	char junk[8192];
	memset(junk, 0xa5, sizeof junk);
	cr_assert_eq(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
	close(fd);
	struct run r = run_stat(name, NULL);
	cr_assert_eq(r.rc, HL_EXIT_FAILED);
	cr_assert_not_null(strstr(r.err, "HL_ECORRUPT"), "stderr: %s", r.err);
	cr_assert_eq(count_lines_starting(r.err, "helios: stat: "), 1);
	run_free(&r);
}

Test(stat, foreign_version_says_so)
{
	const char *name = arena_name();
	hl_config cfg;
	config_small(&cfg);
	arena_make(name, &cfg);
	char path[256];
	shm_path(name, path, sizeof path);
	int fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0);
	uint32_t version = 999; /* the header's version word is at offset 8 */
	cr_assert_eq(pwrite(fd, &version, sizeof version, 8), (ssize_t)sizeof version);
	close(fd);
	struct run r = run_stat(name, NULL);
	cr_assert_eq(r.rc, HL_EXIT_FAILED);
	cr_assert_not_null(strstr(r.err, "HL_EVERSION"), "stderr: %s", r.err);
	run_free(&r);
}

/* Run as an unprivileged user when we are root (root reads any file);
 * otherwise take our own read permission away. */
static int permission_case(const char *name, const char *path)
{
	if (geteuid() == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0)
			return 77;
	} else if (chmod(path, 0) != 0) {
		return 78;
	}
	struct run r = run_stat(name, NULL);
	bool ok = r.rc == HL_EXIT_FAILED && strstr(r.err, "permission denied") &&
		  strstr(r.err, name);
	run_free(&r);
	return ok ? 0 : 1;
}

Test(stat, permission_denied_says_so)
{
	const char *name = arena_name();
	hl_config cfg;
	config_small(&cfg);
	arena_make(name, &cfg); /* mode 0600 */
	char path[256];
	shm_path(name, path, sizeof path);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(permission_case(name, path));
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		cr_skip_test("cannot drop root privileges here");
	cr_assert_eq(WEXITSTATUS(status), 0, "no 'permission denied' (%d)",
		     WEXITSTATUS(status));
}

/* ---- --watch -------------------------------------------------------------- */

/* Runs `stat NAME --watch 0.2 [--json]` in a child, sends it SIGINT after
 * 1.5 s, and returns its output; asserts it exited 0. */
static char *watch_for_a_while(const char *name, bool json, char *out_path,
			       size_t len)
{
	int fd = temp_file(out_path, len, "watch");
	fflush(stdout);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(fd, STDOUT_FILENO);
		char *argv[] = {"stat", (char *)name, "--watch", "0.2",
				json ? "--json" : NULL, NULL};
		int rc = hl_cmd_stat(json ? 5 : 4, argv);
		fflush(stdout);
		_exit(rc);
	}
	close(fd);
	struct timespec nap = {1, 500 * 1000 * 1000};
	nanosleep(&nap, NULL);
	cr_assert_eq(kill(pid, SIGINT), 0);
	int status = 0;
	pid_t got = 0;
	for (int i = 0; i < 500 && got == 0; i++) { /* up to 5 s */
		got = waitpid(pid, &status, WNOHANG);
		if (got == 0)
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	if (got == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		cr_assert_fail("--watch did not stop on SIGINT");
	}
	cr_assert(WIFEXITED(status), "--watch died of signal %d",
		  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	cr_assert_eq(WEXITSTATUS(status), 0);
	return slurp(out_path, NULL);
}

Test(stat, watch_repeats_until_sigint_then_exits_0)
{
	struct fleet f;
	fleet_start(&f);
	char path[96];
	char *out = watch_for_a_while(f.name, false, path, sizeof path);
	unsigned reports = count_lines_starting(out, "arena size");
	cr_assert_geq(reports, 2, "%u reports:\n%s", reports, out);
	/* not a tty: reports follow each other, a blank line apart, no escape
	 * sequences */
	cr_assert_eq(count_lines_starting(out, "time "), reports);
	cr_assert_null(strchr(out, '\033'));
	cr_assert_not_null(strstr(out, "\n\narena "));
	cr_assert_eq(text_u64(out, "commits"), f.st.commits);
	unlink(path);
	free(out);
	fleet_stop(&f);
}

Test(stat, watch_json_is_json_lines)
{
	struct fleet f;
	fleet_start(&f);
	char path[96];
	char *out = watch_for_a_while(f.name, true, path, sizeof path);
	unsigned lines = count_lines_starting(out, "{\"arena\":");
	cr_assert_geq(lines, 2, "%u lines:\n%s", lines, out);
	char code[512];
	snprintf(code, sizeof code, "import json,sys; "
		 "n=[json.loads(l)[\"totals\"][\"commits\"] for l in open(sys.argv[1])]; "
		 "sys.exit(0 if len(n)>=2 and set(n)=={%llu} else 3)",
		 (unsigned long long)f.st.commits);
	int rc = python(code, path, NULL, 0);
	cr_assert_eq(rc, 0, "not JSON Lines of the right totals:\n%s", out);
	unlink(path);
	free(out);
	fleet_stop(&f);
}
