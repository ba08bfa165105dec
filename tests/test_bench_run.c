/*
 * test_bench_run.c - `helios bench` end to end, tiny: real harness, real
 * bench workers, real arenas, so the harness cannot rot. Timing figures
 * are never asserted (benchmarks are not timed tests, STYLE.md); what a
 * user relies on is:
 *
 *  1. A run of every workload at 1 and 2 workers exits 0 and writes a JSON
 *     report (schema "helios-bench/1", report.c) with a run for each
 *     workload x worker count, each with operations of every kind the
 *     workload does and self-checks that passed; a CSV with rows; an SVG
 *     that parses as XML (tiny_every_workload).
 *  2. --duration runs time for about that long (duration_run).
 *  3. A selected peer is either skipped with a reason or measured; the run
 *     still exits 0 (peer_row).
 *  4. Bad command lines exit 2 with the usage; --help exits 0 (bad_flags,
 *     help).
 *  5. Failures are clear and exit 1: an arena too small for the workers
 *     is refused before they start (arena_too_small); a worker that fills
 *     its arena mid-run fails the run and says why (worker_fails).
 *  6. Nothing is left behind: arenas, results files and peer directories
 *     are removed after a run, a failed run and an interrupted one
 *     (checked in each test; interrupted); a stop signal while a large
 *     arena is prefaulted takes effect at once, and a SIGKILL then leaves
 *     no arena (*_while_prefaulting).
 *  8. `helios bench gc` runs the same search with and without pressure:
 *     the free run makes as many commits as the pressure run (not as much
 *     content, which an arena keeping every w1 position never publishes),
 *     the pressure run collects, and both self-play rows are there
 *     (gc_rows_compare_the_same_commits); --games 0 exits 2 (gc_bad_flags).
 *
 * Each harness runs in its own process group with its output in temporary
 * files and PR_SET_PDEATHSIG, so a test that dies takes it along; .fini
 * kills any group still standing and removes the files.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TB_FILES_MAX 16
#define TB_ARGS_MAX 32
#define TB_OUT_BYTES (1u << 20)

static char tb_files[TB_FILES_MAX][128];
static int tb_file_count;
static pid_t tb_group;

static void tb_fini(void)
{
	if (tb_group > 0) {
		kill(-tb_group, SIGKILL);
		waitpid(tb_group, NULL, 0);
		tb_group = 0;
	}
	for (int i = 0; i < tb_file_count; i++)
		unlink(tb_files[i]);
	tb_file_count = 0;
}

TestSuite(bench_run, .fini = tb_fini, .timeout = 120);

/* A fresh temporary path "/tmp/helios-tb-<pid>-<n>.<what>", removed in
 * .fini. */
static const char *tb_file(const char *what)
{
	cr_assert_lt(tb_file_count, TB_FILES_MAX, "too many temporary files");
	char *f = tb_files[tb_file_count];
	snprintf(f, sizeof tb_files[0], "/tmp/helios-tb-%d-%d.%s", (int)getpid(),
		 tb_file_count, what);
	tb_file_count++;
	unlink(f);
	return f;
}

static const char *tb_helios(void)
{
	static char path[PATH_MAX + 32];
	const char *bin = getenv("HELIOS_BIN");
	if (bin && *bin)
		return bin;
	char exe[PATH_MAX]; /* by hand from the build dir */
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	cr_assert_gt(n, 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(path, sizeof path, "%s/../coordinator/helios", exe);
	return path;
}

static uint64_t tb_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void tb_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

struct tb_run {
	pid_t pid;
	int status;
	const char *out, *err;
};

/* Starts `helios bench ARGS...` (args end with NULL) in its own group. */
static void tb_start(struct tb_run *r, const char *const *args)
{
	const char *argv[TB_ARGS_MAX + 3] = {tb_helios(), "bench"};
	int n = 2;
	for (; args[n - 2]; n++) {
		cr_assert_lt(n, TB_ARGS_MAX + 2, "too many arguments");
		argv[n] = args[n - 2];
	}
	argv[n] = NULL;
	static const char *out, *err; /* one pair per test (one process) */
	if (!out) {
		out = tb_file("out");
		err = tb_file("err");
	}
	r->out = out;
	r->err = err;
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(120);
		int in = open("/dev/null", O_RDONLY);
		int out = open(r->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int err = open(r->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 ||
		    dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(121);
		execv(argv[0], (char *const *)argv);
		_exit(122);
	}
	setpgid(pid, pid);
	r->pid = tb_group = pid;
}

/* Waits (bounded) for the harness; returns its exit status. */
static int tb_wait(struct tb_run *r, unsigned timeout_s)
{
	uint64_t deadline = tb_now_ns() + (uint64_t)timeout_s * 1000000000ull;
	for (;;) {
		pid_t w = waitpid(r->pid, &r->status, WNOHANG);
		if (w == r->pid)
			break;
		cr_assert_eq(w, 0, "waitpid: %s", strerror(errno));
		cr_assert_lt(tb_now_ns(), deadline, "helios bench still running "
			     "after %u s", timeout_s);
		tb_sleep_ms(20);
	}
	tb_group = 0;
	cr_assert(WIFEXITED(r->status), "helios bench died of signal %d",
		  WIFSIGNALED(r->status) ? WTERMSIG(r->status) : 0);
	return WEXITSTATUS(r->status);
}

static int tb_bench(struct tb_run *r, unsigned timeout_s, const char *const *args)
{
	tb_start(r, args);
	return tb_wait(r, timeout_s);
}

/* The file's contents (NUL-terminated, static; at most TB_OUT_BYTES). */
static const char *tb_read(const char *path)
{
	static char buf[TB_OUT_BYTES + 1];
	buf[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f)
		return buf;
	size_t n = fread(buf, 1, TB_OUT_BYTES, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Nothing of the harness with pid is left under /dev/shm (invariant 6). */
static void tb_assert_clean(pid_t pid)
{
	char p1[64], p2[64], p3[64];
	snprintf(p1, sizeof p1, "helios.bench-%d-", (int)pid);
	snprintf(p2, sizeof p2, "helios-bench-results.%d.", (int)pid);
	snprintf(p3, sizeof p3, "helios-bench-peer.%d.", (int)pid);
	DIR *d = opendir("/dev/shm");
	cr_assert_not_null(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		bool left = !strncmp(e->d_name, p1, strlen(p1)) ||
			    !strncmp(e->d_name, p2, strlen(p2)) ||
			    !strncmp(e->d_name, p3, strlen(p3));
		if (left) {
			char name[300];
			snprintf(name, sizeof name, "/dev/shm/%s", e->d_name);
			closedir(d);
			cr_assert_fail("left behind by helios bench: %s", name);
		}
	}
	closedir(d);
}

/* Runs a Python check over the report files; asserts it exits 0. */
static void tb_python(const char *script, const char *a1, const char *a2)
{
	const char *py = tb_file("py");
	FILE *f = fopen(py, "w");
	cr_assert_not_null(f);
	fputs(script, f);
	fclose(f);
	const char *log = tb_file("pylog");
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "python3 %s %s %s >%s 2>&1", py, a1,
		 a2 ? a2 : "", log);
	int rc = system(cmd);
	cr_assert(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0,
		  "report check failed:\n%s", tb_read(log));
}

/* ---- 1. every workload, tiny ------------------------------------------------ */

static const char every_workload_check[] =
	"import csv, json, sys\n"
	"r = json.load(open(sys.argv[1]))\n"
	"assert r['schema'] == 'helios-bench/1', r.get('schema')\n"
	"assert r['machine']['cpus'] >= 1\n"
	"assert 'bench' in r['command']\n"
	"need = {'w1': ['commit', 'restore'], 'w2': ['commit', 'restore', 'diff'],\n"
	"        'mixed': ['commit', 'restore', 'fork', 'diff']}\n"
	"seen = set()\n"
	"for run in r['runs']:\n"
	"    key = (run['workload'], run['workers'])\n"
	"    assert key not in seen, key\n"
	"    seen.add(key)\n"
	"    assert run['ops'] == 300 * run['workers'], (key, run['ops'])\n"
	"    assert run['verified'] > 0, key\n"
	"    assert run['seconds'] > 0 and run['ops_per_s'] > 0, key\n"
	"    assert run['stored_bytes'] > 0 and run['unique_bytes'] > 0, key\n"
	"    for op in need[run['workload']]:\n"
	"        o = run['per_op'][op]\n"
	"        assert o['count'] > 0 and o['p50_ns'] <= o['max_ns'], (key, op, o)\n"
	"    total = sum(run['per_op'][op]['count'] for op in run['per_op'] if op != 'restore+read')\n"
	"    assert total == run['ops'], (key, total)\n"
	"    rr = run['per_op']['restore+read']\n"  /* W1's restores timed with their read */
	"    want_rr = run['per_op']['restore']['count'] if run['workload'] == 'w1' else 0\n"
	"    assert rr['count'] == want_rr, (key, rr)\n"
	"    assert want_rr == 0 or rr['p50_ns'] >= run['per_op']['restore']['p50_ns'], (key, rr)\n"
	"want = {(w, n) for w in need for n in (1, 2)}\n"
	"assert seen == want, sorted(seen ^ want)\n"
	/* a one-core row per workload (no page helper), where a helper can run */
	"oc = r['one_core_runs']\n"
	"if r['machine']['cpus'] >= 2:\n"
	"    assert sorted(x['workload'] for x in oc) == sorted(need), oc\n"
	"    for x in oc:\n"
	"        assert x['workers'] == 1 and x['per_op']['commit']['count'] > 0, x\n"
	"    for x in r['scaling']:\n"
	"        assert x['ratio_one_core'] is not None, x\n"
	"else:\n"
	"    assert oc == [], oc\n"
	"assert r['peers'] == [], r['peers']\n"
	"g = {x['workers']: x for x in r['games']}\n"
	"assert sorted(g) == [0, 1, 2], sorted(g)\n"
	"assert g[0]['system'] == 'baseline' and g[1]['system'] == 'helios'\n"
	"for x in g.values():\n"
	"    assert not x['failed'] and x['playouts'] > 0, x\n"
	"    assert 1 <= x['best_move'] <= 7 and x['nodes'] > 0, x\n"
	"    assert 0 <= x['centre_share'] <= 1, x\n"
	"assert g[1]['ratio'] is not None and g[1]['target'] == 0.7\n"
	"rows = list(csv.DictReader(open(sys.argv[2])))\n"
	"assert len(rows) >= 12, len(rows)\n"
	"assert all(x['system'] == 'helios' and int(x['count']) > 0 for x in rows)\n";

Test(bench_run, tiny_every_workload)
{
	const char *json = tb_file("json"), *csv = tb_file("csv");
	const char *svg = tb_file("svg");
	struct tb_run r;
	const char *args[] = {"--workload", "all", "--workers", "1,2", "--ops",
			      "300", "--peers", "none", "--json", json, "--csv",
			      csv, "--plot", svg, "--quiet", NULL};
	int code = tb_bench(&r, 100, args);
	cr_assert_eq(code, 0, "exit %d; stderr:\n%s", code, tb_read(r.err));
	cr_assert(strstr(tb_read(r.out), "the default configuration") &&
		  strstr(tb_read(r.out), "prefault (hl_config.prefault = 1, 1 worker"),
		  "the report says how arenas were made, and has the prefault "
		  "rows:\n%s", tb_read(r.out));
	cr_assert(strstr(tb_read(r.out), "    floor  commit"),
		  "the report has the floor row:\n%s", tb_read(r.out));
	cr_assert(!strstr(tb_read(r.err), "] 1.0s"), "--quiet printed progress");
	tb_python(every_workload_check, json, csv);
	tb_python("import sys, xml.etree.ElementTree as ET\n"
		  "root = ET.parse(sys.argv[1]).getroot()\n"
		  "assert root.tag.endswith('svg'), root.tag\n", svg, NULL);
	tb_assert_clean(r.pid);
}

/* ---- 2. --duration --------------------------------------------------------- */

Test(bench_run, duration_run)
{
	const char *json = tb_file("json");
	struct tb_run r;
	const char *args[] = {"--workload", "mixed", "--workers", "1",
			      "--duration", "0.3", "--peers", "none", "--game", "none", "--json",
			      json, NULL};
	int code = tb_bench(&r, 100, args);
	cr_assert_eq(code, 0, "exit %d; stderr:\n%s", code, tb_read(r.err));
	cr_assert(strstr(tb_read(r.err), "[mixed x1] go"),
		  "no start line on stderr:\n%s", tb_read(r.err));
	tb_python("import json, sys\n"
		  "r = json.load(open(sys.argv[1]))\n"
		  "[run] = r['runs']\n"
		  "assert 0.29 <= run['seconds'] < 5, run['seconds']\n"
		  "assert run['ops'] > 0 and run['verified'] > 0, run\n",
		  json, NULL);
	tb_assert_clean(r.pid);
}

/* ---- 3. a peer: measured, or skipped with a reason --------------------------- */

Test(bench_run, peer_row)
{
	const char *json = tb_file("json");
	struct tb_run r;
	const char *args[] = {"--workload", "w1", "--workers", "1", "--ops",
			      "300", "--peers", "lmdb", "--game", "none", "--json", json,
			      "--quiet", NULL};
	int code = tb_bench(&r, 100, args);
	cr_assert_eq(code, 0, "exit %d; stderr:\n%s", code, tb_read(r.err));
	tb_python("import json, sys\n"
		  "r = json.load(open(sys.argv[1]))\n"
		  "rows = [p for p in r['peers'] if p['peer'] == 'lmdb']\n"
		  "assert len(rows) == 1 and rows[0]['workload'] == 'w1', r['peers']\n"
		  "p = rows[0]\n"
		  "assert not p['failed'], p\n"
		  "if p['skipped']:\n"
		  "    assert p['why'].strip(), p\n"
		  "else:\n"
		  "    assert p['ops'] > 0 and p['verified'] > 0, p\n"
		  "    assert p['commit']['count'] > 0 and p['restore']['count'] > 0, p\n"
		  "    assert p['commit_vs_helios'] is not None, p\n",
		  json, NULL);
	tb_assert_clean(r.pid);
}

/* ---- 3b. the persistence section ------------------------------------------------ */

static const char persist_check[] =
	"import json, sys\n"
	"r = json.load(open(sys.argv[1]))\n"
	"p = r['persistence']\n"
	"assert p is not None and p['section'] == 'short' and p['reps'] == 1, p\n"
	"rows = {(x['workload'], x['workers'], x['durability']): x for x in p['rows']}\n"
	"assert sorted(rows) == [('w1', 1, m) for m in ('async', 'off', 'sync')], sorted(rows)\n"
	"for k, x in rows.items():\n"
	"    assert x['reps'] == 1 and x['commits_per_s'] > 0, (k, x)\n"
	"    assert x['per_op']['commit']['count'] > 0, (k, x)\n"
	"    assert (x['wal_bytes'] > 0) == (k[2] != 'off'), (k, x['wal_bytes'])\n"
	"    assert (x['vs_off'] is None) == (k[2] == 'off'), (k, x['vs_off'])\n"
	"assert rows[('w1', 1, 'async')]['pass'] is not None\n"
	"w = p['write']\n"
	"assert w['device_raw_mbps'] > 0 and w['wal_append_mbps'] > 0, w\n"
	"rec = p['recovery']\n"
	"assert rec['records'] > 1000 and rec['clean_end'], rec\n"
	"assert rec['cold_ns'] > 0 and rec['warm_ns'] > 0, rec\n"
	"assert rec['wal_bytes'] >= 60 << 20, rec\n"
	"assert rec['pass'] is None, rec  # the target is for 1 GiB\n";

/* Nothing the persistence section made is left in dir. */
static void tb_assert_no_wals(const char *dir, pid_t pid)
{
	char pre[3][64];
	snprintf(pre[0], sizeof pre[0], "helios-bench-wal.%d.", (int)pid);
	snprintf(pre[1], sizeof pre[1], "helios-bench-recovery.%d.", (int)pid);
	snprintf(pre[2], sizeof pre[2], "helios-bench-raw.%d", (int)pid);
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	struct dirent *e;
	while ((e = readdir(d)))
		for (unsigned i = 0; i < 3; i++)
			if (!strncmp(e->d_name, pre[i], strlen(pre[i]))) {
				char left[256];
				snprintf(left, sizeof left, "%s", e->d_name);
				closedir(d); /* e is d's: its name copied first */
				cr_assert_fail("left behind in %s: %s", dir, left);
			}
	closedir(d);
}

Test(bench_run, persistence_section)
{
	const char *json = tb_file("json");
	char dir[] = "/var/tmp/helios-tb-persist-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	struct tb_run r;
	const char *args[] = {"--workload", "w1", "--workers", "1", "--ops", "300",
			      "--peers", "none", "--game", "none", "--persist", "short",
			      "--persist-dir", dir, "--json", json, "--quiet", NULL};
	int code = tb_bench(&r, 200, args);
	cr_assert_eq(code, 0, "exit %d; stderr:\n%s", code, tb_read(r.err));
	const char *out = tb_read(r.out);
	cr_assert(strstr(out, "Persistence (--persist short)") &&
		  strstr(out, "  recover  a ") && strstr(out, "device: O_DIRECT"),
		  "the report has no persistence section:\n%s", out);
	tb_python(persist_check, json, NULL);
	tb_assert_clean(r.pid);
	tb_assert_no_wals(dir, r.pid);
	rmdir(dir);
}

Test(bench_run, persistence_none)
{
	const char *json = tb_file("json");
	struct tb_run r;
	const char *args[] = {"--workload", "w1", "--workers", "1", "--ops", "300",
			      "--peers", "none", "--game", "none", "--persist", "none",
			      "--json", json, "--quiet", NULL};
	int code = tb_bench(&r, 100, args);
	cr_assert_eq(code, 0, "exit %d; stderr:\n%s", code, tb_read(r.err));
	cr_assert(!strstr(tb_read(r.out), "Persistence ("));
	tb_python("import json, sys\n"
		  "r = json.load(open(sys.argv[1]))\n"
		  "assert r['persistence'] is None, r['persistence']\n", json, NULL);
	tb_assert_clean(r.pid);
}

/* ---- 4. the command line ------------------------------------------------------ */

Test(bench_run, bad_flags)
{
	static const char *const bad[][6] = {
		{"--bogus", NULL},
		{"--workers", "0", NULL},
		{"--workers", "1,x", NULL},
		{"--workers", "", NULL},
		{"--workload", "w9", NULL},
		{"--ops", "10", "--duration", "1", NULL},
		{"--ops", "0", NULL},
		{"--duration", "-1", NULL},
		{"--peers", "sqlite", NULL},
		{"--numa", "sideways", NULL},
		{"--size", "lots", NULL},
		{"--seed", "-3", NULL},
		{"--persist", "most", NULL},
		{"--persist-reps", "0", NULL},
		{"--persist-reps", "10", NULL},
		{"--persist-dir", "", NULL},
		{"extra", NULL},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct tb_run r;
		int code = tb_bench(&r, 30, bad[i]);
		cr_assert_eq(code, 2, "%s %s: exit %d, not 2", bad[i][0],
			     bad[i][1] ? bad[i][1] : "", code);
		cr_assert(strstr(tb_read(r.err), "usage: helios bench"),
			  "%s: no usage on stderr", bad[i][0]);
		tb_assert_clean(r.pid);
	}
}

Test(bench_run, help)
{
	struct tb_run r;
	const char *args[] = {"--help", NULL};
	cr_assert_eq(tb_bench(&r, 30, args), 0);
	cr_assert(strstr(tb_read(r.out), "usage: helios bench"));
}

/* ---- 5. failures ------------------------------------------------------------ */

Test(bench_run, arena_too_small)
{
	struct tb_run r;
	const char *args[] = {"--workload", "w2", "--workers", "2", "--ops",
			      "300", "--size", "8M", "--peers", "none", "--game", "none",
			      "--quiet", NULL};
	int code = tb_bench(&r, 60, args);
	const char *err = tb_read(r.err);
	cr_assert_eq(code, 1, "exit %d; stderr:\n%s", code, err);
	cr_assert(strstr(err, "too small") && strstr(err, "--size"),
		  "no clear message:\n%s", err);
	tb_assert_clean(r.pid);
}

Test(bench_run, worker_fails)
{
	/* 24 MiB holds a few thousand 4 KiB commits, not 200000 */
	struct tb_run r;
	const char *args[] = {"--workload", "w1", "--workers", "1", "--ops",
			      "200000", "--size", "24M", "--peers", "none", "--game", "none",
			      "--quiet", NULL};
	int code = tb_bench(&r, 100, args);
	const char *err = tb_read(r.err);
	cr_assert_eq(code, 1, "exit %d; stderr:\n%s", code, err);
	cr_assert(strstr(err, "worker 0 failed") && strstr(err, "arena full") &&
		  strstr(err, "--size"), "no clear message:\n%s", err);
	tb_assert_clean(r.pid);
}

/* ---- 6. interrupted ---------------------------------------------------------- */

Test(bench_run, interrupted)
{
	/* 1 GiB takes W2 about a second to fill, far longer under ASan; the
	 * signal comes right after the start line */
	struct tb_run r;
	const char *args[] = {"--workload", "w2", "--workers", "1", "--duration",
			      "30", "--size", "1G", "--peers", "none", "--game", "none", NULL};
	tb_start(&r, args);
	uint64_t deadline = tb_now_ns() + 60ull * 1000000000ull;
	while (!strstr(tb_read(r.err), "[w2 x1] go")) {
		cr_assert_lt(tb_now_ns(), deadline, "no start line:\n%s",
			     tb_read(r.err));
		cr_assert_eq(waitpid(r.pid, &r.status, WNOHANG), 0,
			     "ended before the start line:\n%s", tb_read(r.err));
		tb_sleep_ms(10);
	}
	kill(r.pid, SIGINT);
	int code = tb_wait(&r, 30);
	cr_assert_eq(code, 1, "exit %d; stderr:\n%s", code, tb_read(r.err));
	cr_assert(strstr(tb_read(r.err), "interrupted"), "%s", tb_read(r.err));
	tb_assert_clean(r.pid);
}

/* Issue 8, item 16: a stop signal while a large arena is prefaulted ends
 * the bench within a fraction of a second (the review waited ~10 s), and a
 * SIGKILL there leaves no arena (it found 6 GB left in /dev/shm). 4 GiB:
 * seconds of prefault on any machine this runs on, never all of it. The
 * prefault row runs after the default-configuration sweep (issue 9): wait
 * for the line that starts its creation. */
static void tb_start_prefaulting(struct tb_run *r)
{
	static const char *args[] = {"--workload", "w1", "--workers", "1",
				     "--duration", "0.5", "--size", "4G",
				     "--peers", "none", "--game", "none", NULL};
	tb_start(r, args);
	uint64_t deadline = tb_now_ns() + 60ull * 1000000000ull;
	while (!strstr(tb_read(r->err), "[w1 x1 prefault] pre-faulting")) {
		cr_assert_lt(tb_now_ns(), deadline, "no prefault row:\n%s",
			     tb_read(r->err));
		cr_assert_eq(waitpid(r->pid, &r->status, WNOHANG), 0,
			     "ended before the prefault row:\n%s", tb_read(r->err));
		tb_sleep_ms(10);
	}
	tb_sleep_ms(300); /* inside the prefault */
	cr_assert_eq(waitpid(r->pid, &r->status, WNOHANG), 0,
		     "ended before its arena was made:\n%s", tb_read(r->err));
	cr_assert_null(strstr(tb_read(r->err), "[w1 x1 prefault] go:"),
		       "4 GiB prefaulted in 300 ms: not tested");
}

Test(bench_run, interrupted_while_prefaulting)
{
	struct tb_run r;
	tb_start_prefaulting(&r);
	uint64_t t0 = tb_now_ns();
	kill(r.pid, SIGTERM);
	int code = tb_wait(&r, 30);
	double took = (double)(tb_now_ns() - t0) / 1e9;
	cr_assert_eq(code, 1, "exit %d; stderr:\n%s", code, tb_read(r.err));
	cr_assert(strstr(tb_read(r.err), "interrupted"), "%s", tb_read(r.err));
	/* a 256 MiB piece and freeing what was placed: well under a second
	 * on a quiet box; the whole 4 GiB prefault it waited for before took
	 * 11 s on a 2-core VM. 5 s leaves room for a loaded one. */
	cr_assert_lt(took, 5.0, "SIGTERM while prefaulting took %.1f s", took);
	tb_assert_clean(r.pid);
}

Test(bench_run, killed_while_prefaulting_leaves_no_arena)
{
	struct tb_run r;
	tb_start_prefaulting(&r);
	kill(r.pid, SIGKILL);
	waitpid(r.pid, &r.status, 0);
	tb_group = 0;
	tb_assert_clean(r.pid);
}

/* ---- 8. bench gc ---------------------------------------------------------------- */

static const char gc_rows_check[] =
	"import json, sys\n"
	"r = json.load(open(sys.argv[1]))\n"
	"assert r['workload'] == 'w1' and r['reps'] == 1, r\n"
	"p, f = r['pressure_commits'], r['free_commits']\n"
	"assert p > 0 and f >= p, (p, f)\n"
	/* the free run stops on commits, polled each millisecond: it may
	 * overshoot by what two workers commit in a few of those */
	"assert f <= p * 3 // 2 + 20000, (p, f)\n"
	"assert r['collections'] >= 1, r\n"
	"assert r['pressure_commits_per_s'] > 0 and r['free_commits_per_s'] > 0, r\n"
	"assert abs(r['ratio'] - r['pressure_commits_per_s'] / r['free_commits_per_s']) < 0.01, r\n"
	"s = r['selfplay']\n"
	"assert s['games'] == 2 and s['pressure_playouts_per_s'] > 0, s\n"
	"assert s['free_playouts_per_s'] > 0, s\n"
	"assert s['heap_bytes'] > 0 and s['freed_bytes'] >= 0, s\n";

Test(bench_run, gc_rows_compare_the_same_commits)
{
	struct tb_run r;
	const char *args[] = {"gc", "--reps", "1", "--size", "8M", "--pressure", "3",
			      "--games", "2", "--json", NULL};
	int code = tb_bench(&r, 100, args);
	cr_assert_eq(code, 0, "exit %d; stderr:\n%s", code, tb_read(r.err));
	const char *json = tb_file("json");
	FILE *f = fopen(json, "w");
	cr_assert_not_null(f);
	fputs(tb_read(r.out), f);
	fclose(f);
	tb_python(gc_rows_check, json, NULL);
}

Test(bench_run, gc_bad_flags)
{
	struct tb_run r;
	const char *zero[] = {"gc", "--games", "0", NULL};
	cr_assert_eq(tb_bench(&r, 30, zero), 2, "stderr: %s", tb_read(r.err));
	cr_assert_not_null(strstr(tb_read(r.err), "--games 0"), "%s", tb_read(r.err));
	const char *help[] = {"gc", "--help", NULL};
	cr_assert_eq(tb_bench(&r, 30, help), 0);
	cr_assert_not_null(strstr(tb_read(r.out), "--games G"), "%s", tb_read(r.out));
}

/* ---- the harness is its own program -----------------------------------------
 *
 *  7. `helios` links no benchmark peer (their client libraries live in
 *     helios-bench), and `helios bench` finds helios-bench beside it or says
 *     clearly that it is missing (bench_exec.c).
 */

Test(bench_run, helios_links_no_peer_library)
{
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof cmd, "ldd '%s'", tb_helios());
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	char line[512];
	unsigned libs = 0;
	while (fgets(line, sizeof line, p)) {
		libs++;
		static const char *const peers[] = {"libpq", "liblmdb", "librocksdb",
						    "libhiredis", "libkrb5", "libldap"};
		for (size_t i = 0; i < sizeof peers / sizeof peers[0]; i++)
			cr_assert_null(strstr(line, peers[i]),
				       "helios links a peer library: %s", line);
	}
	cr_assert_eq(pclose(p), 0, "ldd failed");
	cr_assert_gt(libs, 0);
}

/* Runs `BIN bench --help` with HELIOS_BENCH set to bench_env (NULL: unset)
 * and PATH set to path; returns the exit status, stderr in r->err. */
static int tb_bench_as(const char *bin, const char *bench_env, const char *path,
		       struct tb_run *r)
{
	r->err = tb_file("err");
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int out = open("/dev/null", O_WRONLY);
		int err = open(r->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(121);
		if (bench_env)
			setenv("HELIOS_BENCH", bench_env, 1);
		else
			unsetenv("HELIOS_BENCH");
		setenv("PATH", path, 1);
		execl(bin, bin, "bench", "--help", (char *)NULL);
		_exit(122);
	}
	r->pid = pid;
	return tb_wait(r, 30);
}

Test(bench_run, missing_harness_is_said_clearly)
{
	/* a copy of helios alone in a directory, with no helios-bench on PATH */
	char dir[] = "/tmp/helios-tb-alone-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char bin[PATH_MAX], cmd[2 * PATH_MAX];
	snprintf(bin, sizeof bin, "%s/helios", dir);
	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", tb_helios(), bin);
	cr_assert_eq(system(cmd), 0);
	struct tb_run r;
	int rc = tb_bench_as(bin, NULL, "/usr/bin:/bin", &r);
	const char *err = tb_read(r.err);
	unlink(bin);
	rmdir(dir);
	cr_assert_eq(rc, 1, "exit %d, stderr: %s", rc, err);
	cr_assert_not_null(strstr(err, "helios-bench"), "%s", err);
	cr_assert_not_null(strstr(err, "not installed"), "%s", err);
	cr_assert_not_null(strstr(err, "meson install"), "%s", err);

	rc = tb_bench_as(tb_helios(), "/nonexistent/helios-bench", "/usr/bin:/bin", &r);
	err = tb_read(r.err);
	cr_assert_eq(rc, 1, "exit %d, stderr: %s", rc, err);
	cr_assert_not_null(strstr(err, "HELIOS_BENCH=/nonexistent/helios-bench"), "%s", err);
}

Test(bench_run, harness_found_beside_helios_in_the_build_tree)
{
	struct tb_run r;
	int rc = tb_bench_as(tb_helios(), NULL, "/usr/bin:/bin", &r);
	cr_assert_eq(rc, 0, "stderr: %s", tb_read(r.err));
}
