/*
 * test_coordinator.c - `helios run` end to end: a real coordinator (fork +
 * exec of $HELIOS_BIN) supervising real worker processes on a real arena.
 *
 * What a user of `helios run` relies on, and what each test pins:
 *
 *  1. A timed run of the built-in workload exits 0, prints progress lines
 *     and a summary, and with --keep leaves a consistent arena holding every
 *     worker's published snapshot (run_duration_keep).
 *  2. A worker killed with SIGKILL is noticed, its slot reclaimed (never
 *     left dead), and it is restarted under the same worker index while the
 *     others keep committing; SIGTERM then stops the run with exit 0 and a
 *     summary that counts the death and the restart (kill_and_restart).
 *  3. Any process attaches by name: a read-only solver sees the workers'
 *     snapshots byte for byte and their commits grow, and cannot write
 *     (solver_attaches_read_only); `helios stat --json` reads the live arena
 *     (stat_json_live).
 *  4. Restart policy and exit codes: --restart never, on-failure with
 *     --max-restarts (with backoff), clean exits (restart_*, all_exit_zero);
 *     a worker that cannot even be started is a failure (spawn_failure_*);
 *     the summary counts only restarts that happened (restarts_counted_*).
 *  5. Each worker gets HELIOS_ARENA and its own HELIOS_WORKER (worker_env);
 *     pinned workers get HELIOS_PAGE_HELPER_CPUS, the CPUs none is pinned to.
 *  6. Hang detection: a worker that holds a slot but sends no heartbeat is
 *     killed after --hang-timeout; one that heartbeats is left alone
 *     (hang_*, heartbeat_*). Workers stop when their coordinator dies, and
 *     the next run recovers the arena (coordinator_death_*).
 *
 * Stopping a run (--grace, a second signal, a signal during creation),
 * bad command lines, refused and reused arenas are test_cli.c. The
 * harness both use (process groups, output files, PDEATHSIG, .fini
 * cleanup, scans of the arena) is coordinator_util.h. Workers that must
 * hang or heartbeat on cue are this very test binary, re-executed with
 * TC_WORKER_MODE set: a constructor turns it into that worker before
 * Criterion's main ever runs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "coordinator_util.h"

#define SUITE "coord"

/* ---- worker modes: this binary as a worker command ------------------------ */

/* Runs before Criterion's main when a coordinator started this binary as
 * its worker command (TC_WORKER_MODE in the environment it passed down):
 *   hang  attach (the slot's heartbeat starts at the claim), then never
 *         heartbeat again - a hung worker as the coordinator sees it;
 *   beat  attach, heartbeat every 100 ms for 2.5 s, close, exit 0 - a slow
 *         but healthy worker that commits nothing. */
__attribute__((constructor)) static void tc_worker_mode(void)
{
	const char *mode = getenv("TC_WORKER_MODE");
	if (!mode)
		return;
	hl_arena *a;
	if (hl_worker_attach_env(&a, NULL))
		_exit(50);
	if (!strcmp(mode, "hang")) {
		for (;;)
			pause();
	}
	if (!strcmp(mode, "beat")) {
		for (int i = 0; i < 25; i++) {
			hl_arena_heartbeat(a);
			tu_sleep_us(100 * 1000);
		}
		hl_arena_close(a);
		_exit(0);
	}
	_exit(51);
}

TestSuite(coordinator, .fini = tc_fini, .timeout = 90);

/* ---- the W1 workload's positions ----------------------------------------
 *
 * Mirrors workloads.c: a W1 state is 64 blocks of 64 B; blocks 0..15 (the
 * squares) each hold zeros or one of two patterns, a pure function of
 * (square, value); blocks 16..63 stay zero. A reader that finds anything
 * else read the wrong bytes. */
static uint64_t tc_xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void tc_w1_block(unsigned char out[64], unsigned b, unsigned v)
{
	uint64_t s = 0x9e3779b97f4a7c15ull * (b * 2 + v + 1);
	for (unsigned i = 0; i < 64; i += 8) {
		uint64_t w = tc_xorshift(&s);
		memcpy(out + i, &w, 8);
	}
}

/* -1 when the 4 KiB are a W1 position, else the first bad block. */
static int tc_w1_bad_block(const unsigned char *bytes)
{
	static const unsigned char zero[64];
	for (unsigned b = 0; b < 64; b++) {
		const unsigned char *blk = bytes + 64 * b;
		if (!memcmp(blk, zero, 64))
			continue;
		if (b >= 16)
			return (int)b;
		unsigned char p1[64], p2[64];
		tc_w1_block(p1, b, 1);
		tc_w1_block(p2, b, 2);
		if (memcmp(blk, p1, 64) && memcmp(blk, p2, 64))
			return (int)b;
	}
	return -1;
}

/* Restores ref `ref` in a fresh state of a, reads it through
 * hl_state_view and checks it is a W1 position. 0, or a negative HL_E*
 * code, or 1 when the bytes are wrong (*bad_block says where). */
static int tc_read_w1_ref(hl_arena *a, const char *ref, int *bad_block)
{
	hl_id id;
	hl_state *s = NULL;
	*bad_block = -1;
	int rc = hl_ref_get(a, ref, &id);
	if (!rc)
		rc = hl_state_new(a, &s);
	if (!rc)
		rc = hl_restore(s, id);
	if (!rc && hl_state_size(s) != 4096)
		rc = HL_ERANGE;
	unsigned char bytes[4096];
	for (uint64_t off = 0; !rc && off < 4096;) {
		const void *ptr;
		size_t len;
		rc = hl_state_view(s, off, &ptr, &len);
		if (!rc && (len == 0 || len > 4096 - off))
			rc = HL_ERANGE;
		if (!rc) {
			memcpy(bytes + off, ptr, len);
			off += len;
		}
	}
	if (!rc && (*bad_block = tc_w1_bad_block(bytes)) >= 0)
		rc = 1;
	hl_state_free(s);
	return rc;
}

/* ---- 1. a timed run ------------------------------------------------------- */

Test(coordinator, run_duration_keep)
{
	const char *name = tu_arena_name(SUITE);
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", name, "--workers", "4", "--workload",
		 "w1", "--duration", "2", "--numa", "off", "--keep", NULL);
	tc_expect_exit(&p, 15, 0);
	cr_assert_geq(tc_elapsed_s(&p), 1.9, "a 2 s run ended after %.2f s",
		      tc_elapsed_s(&p));
	const char *out = tc_stdout(&p);
	cr_assert_geq(tc_count(out, "] workers "), 1, "no progress line:\n%s", out);
	tc_assert_has(out, "| commits ", "stdout");
	tc_assert_has(out, "helios run: stopped after", "stdout");
	tc_assert_has(out, "(duration reached)", "stdout");
	tc_assert_has(out, "workers   4, 0 died, 0 restarted, 0 failed", "stdout");
	tc_assert_has(out, " kept", "stdout");

	hl_arena *a = tc_attach_ro(name);
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_gt(st.commits, 0);
	cr_assert_gt(st.nodes, 0);
	cr_assert_eq(st.processes, 0, "%llu processes still attached",
		     (unsigned long long)st.processes);
	cr_assert_eq(st.processes_dead, 0);
	tu_assert_arena_ok(a, "after a kept run");
	for (unsigned w = 0; w < 4; w++) {
		char ref[HL_REF_NAME_MAX + 1];
		snprintf(ref, sizeof ref, "worker-%u/latest", w);
		int bad, rc = tc_read_w1_ref(a, ref, &bad);
		cr_assert_eq(rc, 0, "%s: %s (bad block %d)", ref,
			     rc < 0 ? hl_strerror(rc) : "not a W1 position", bad);
	}
	hl_arena_close(a);
}

/* ---- 2. kill a worker, watch it come back ---------------------------------- */

Test(coordinator, kill_and_restart)
{
	const char *name = tu_arena_name(SUITE);
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", name, "--workers", "4", "--workload",
		 "w1", "--keep", "--numa", "off", NULL);
	struct tc_view v;
	tc_wait_workers(name, 4, &p, 20, &v);
	cr_assert_eq(v.coordinators, 1);
	cr_assert_eq(v.coordinator, p.pid, "the coordinator's slot holds pid %d, "
		     "not %d", (int)v.coordinator, (int)p.pid);
	pid_t victim = v.worker_pid[2];
	cr_assert_eq(kill(victim, SIGKILL), 0);

	/* the same index comes back live under a new pid, and the killed
	 * pid's slot is not left dead */
	uint64_t deadline = tu_now_ns() + 10 * 1000000000ull;
	for (;;) {
		if (tc_scan(name, &v) && v.live_workers == 4 &&
		    v.worker_seen[2] == 1 && v.worker_pid[2] != victim &&
		    v.worker_pid[2] != 0)
			break;
		cr_assert(tc_running(&p), "helios ended\n%s", tc_stderr(&p));
		cr_assert_lt(tu_now_ns(), deadline, "worker 2 was not restarted "
			     "within 10 s\nstderr:\n%s", tc_stderr(&p));
		tu_sleep_us(20 * 1000);
	}
	cr_assert_eq(v.dead, 0, "%u dead slots after the restart", v.dead);
	cr_assert_eq(v.st.processes_dead, 0);
	for (unsigned w = 0; w < 4; w++)
		cr_assert_neq(v.worker_pid[w], victim);

	/* all of them, the new one included, go on committing */
	hl_arena *a = tc_attach_ro(name);
	uint64_t c1 = tc_commits(a);
	tu_sleep_us(1000 * 1000);
	uint64_t c2 = tc_commits(a);
	cr_assert_gt(c2, c1, "commits stuck at %llu", (unsigned long long)c1);
	hl_arena_close(a);

	char said[128];
	snprintf(said, sizeof said, "worker 2 (pid %d) killed by SIGKILL; "
		 "restarting", (int)victim);
	tc_assert_has(tc_stderr(&p), said, "stderr");

	cr_assert_eq(kill(p.pid, SIGTERM), 0);
	tc_expect_exit(&p, 10, 0);
	const char *out = tc_stdout(&p);
	tc_assert_has(out, "(SIGTERM)", "stdout");
	tc_assert_has(out, "workers   4, 1 died, 1 restarted, 0 failed", "stdout");

	a = tc_attach_ro(name);
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_eq(st.processes, 0);
	cr_assert_eq(st.processes_dead, 0);
	tu_assert_arena_ok(a, "after kill, restart and stop");
	hl_arena_close(a);
}

/* ---- 3. a solver attached by name ----------------------------------------- */

struct tc_solver_report {
	int line;     /* 0: all good */
	int rc;
	char what[160];
};

#define SOLVER_FAIL(rep, code, ...)                                            \
	do {                                                                   \
		(rep)->line = __LINE__;                                        \
		(rep)->rc = (code);                                            \
		snprintf((rep)->what, sizeof (rep)->what, __VA_ARGS__);        \
		return 1;                                                      \
	} while (0)

/* The solver: a process of its own that knows only the arena's name. */
static int tc_solver(const char *name, struct tc_solver_report *rep)
{
	hl_arena *a;
	int rc = hl_arena_attach(name, HL_RDONLY, &a);
	if (rc)
		SOLVER_FAIL(rep, rc, "attach");
	hl_stats st;
	hl_arena_stats(a, &st);
	uint64_t first = st.commits;
	for (unsigned w = 0; w < 4; w++) {
		char ref[HL_REF_NAME_MAX + 1];
		snprintf(ref, sizeof ref, "worker-%u/latest", w);
		int bad;
		uint64_t deadline = tu_now_ns() + 10 * 1000000000ull;
		while ((rc = tc_read_w1_ref(a, ref, &bad)) == HL_ENOENT &&
		       tu_now_ns() < deadline)
			tu_sleep_us(10 * 1000); /* not published yet */
		if (rc)
			SOLVER_FAIL(rep, rc, "%s: bad block %d", ref, bad);
	}
	/* the workers are committing: the totals grow while we watch */
	uint64_t deadline = tu_now_ns() + 10 * 1000000000ull;
	do {
		tu_sleep_us(50 * 1000);
		hl_arena_stats(a, &st);
	} while (st.commits <= first && tu_now_ns() < deadline);
	if (st.commits <= first)
		SOLVER_FAIL(rep, 0, "commits stayed at %llu",
			    (unsigned long long)first);
	/* the refs move on and still read back as positions */
	for (int round = 0; round < 20; round++) {
		int bad;
		if ((rc = tc_read_w1_ref(a, "worker-0/latest", &bad)))
			SOLVER_FAIL(rep, rc, "re-read, bad block %d", bad);
	}
	/* nothing can be written through a read-only attach */
	hl_id id;
	if ((rc = hl_ref_get(a, "worker-1/latest", &id)))
		SOLVER_FAIL(rep, rc, "ref get");
	if ((rc = hl_ref_set(a, "solver/mine", id)) != HL_EROFS)
		SOLVER_FAIL(rep, rc, "hl_ref_set through HL_RDONLY");
	hl_state *s;
	if ((rc = hl_state_new(a, &s)))
		SOLVER_FAIL(rep, rc, "state new");
	unsigned char byte = 0x5a;
	hl_id out;
	if ((rc = hl_restore(s, id)) || (rc = hl_state_write(s, 4095, &byte, 1)))
		SOLVER_FAIL(rep, rc, "restore/write a private state");
	rc = hl_commit(s, &out, NULL);
	hl_state_free(s);
	if (rc != HL_EROFS)
		SOLVER_FAIL(rep, rc, "hl_commit through HL_RDONLY");
	if (hl_ref_get(a, "solver/mine", &id) != HL_ENOENT)
		SOLVER_FAIL(rep, 0, "a ref appeared through a read-only attach");
	hl_arena_close(a);
	return 0;
}

Test(coordinator, solver_attaches_read_only)
{
	const char *name = tu_arena_name(SUITE);
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", name, "--workers", "4", "--workload",
		 "w1", "--numa", "off", NULL);
	struct tc_view v;
	tc_wait_workers(name, 4, &p, 20, &v);

	struct tc_solver_report *rep = tu_shared_map(sizeof *rep);
	pid_t solver = fork();
	cr_assert_geq(solver, 0);
	if (solver == 0)
		_exit(tc_solver(name, rep));
	int st;
	cr_assert_eq(waitpid(solver, &st, 0), solver);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "solver failed at line %d: %s: %s", rep->line, rep->what,
		  rep->rc ? hl_strerror(rep->rc) : "-");
	tu_shared_unmap(rep, sizeof *rep);

	/* the solver did not disturb anybody; SIGINT stops like SIGTERM */
	cr_assert(tc_scan(name, &v));
	cr_assert_eq(v.live_workers, 4);
	cr_assert_eq(v.dead, 0);
	cr_assert_eq(kill(p.pid, SIGINT), 0);
	tc_expect_exit(&p, 10, 0);
	tc_assert_has(tc_stdout(&p), "(SIGINT)", "stdout");
	tc_assert_has(tc_stdout(&p), "4, 0 died, 0 restarted, 0 failed", "stdout");
	/* without --keep the name is gone */
	hl_arena *a;
	cr_assert_eq(hl_arena_attach(name, HL_RDONLY, &a), HL_ENOENT);
}

/* ---- 4. helios stat on the live arena ------------------------------------- */

Test(coordinator, stat_json_live)
{
	cr_assert_eq(system("command -v python3 >/dev/null 2>&1"), 0,
		     "python3 is needed to parse the JSON");
	const char *name = tu_arena_name(SUITE);
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", name, "--workers", "4", "--workload",
		 "w1", "--numa", "off", NULL);
	struct tc_view v;
	tc_wait_workers(name, 4, &p, 20, &v);
	hl_arena *a = tc_attach_ro(name);

	for (int order = 0; order < 2; order++) {
		uint64_t before = tc_commits(a);
		struct tc_proc s;
		if (order == 0)
			tc_start(&s, NULL, "stat", "--json", name, NULL);
		else
			tc_start(&s, NULL, "stat", name, "--json", NULL);
		tc_expect_exit(&s, 20, 0);
		uint64_t after = tc_commits(a);

		const char *facts = tc_file("facts");
		char cmd[1024];
		snprintf(cmd, sizeof cmd,
			 "python3 -c 'import json,sys\n"
			 "d = json.load(open(sys.argv[1]))\n"
			 "w = [p for p in d[\"processes\"] if p[\"role\"] == \"worker\""
			 " and p[\"state\"] == \"live\"]\n"
			 "print(d[\"totals\"][\"commits\"], len(w), d[\"arena\"])' "
			 "%s > %s 2>&1", s.out, facts);
		char buf[512];
		cr_assert_eq(system(cmd), 0, "stat --json is not JSON: %s\n%s",
			     tc_read(facts, buf, sizeof buf), tc_stdout(&s));
		tc_read(facts, buf, sizeof buf);
		unsigned long long commits;
		unsigned workers;
		char arena[128];
		cr_assert_eq(sscanf(buf, "%llu %u %127s", &commits, &workers, arena),
			     3, "facts: %s", buf);
		cr_assert(commits >= before && commits <= after,
			  "stat says %llu commits, outside [%llu, %llu]", commits,
			  (unsigned long long)before, (unsigned long long)after);
		cr_assert_eq(workers, 4);
		cr_assert_str_eq(arena, name);
	}
	hl_arena_close(a);
	cr_assert_eq(kill(p.pid, SIGTERM), 0);
	tc_expect_exit(&p, 10, 0);
}

/* ---- 5. restart policy and exit codes ------------------------------------- */

Test(coordinator, restart_never_fails_run)
{
	const char *name = tu_arena_name(SUITE);
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", name, "--workers", "2", "--numa",
		 "off", "--restart", "never", "--", "/bin/sh", "-c", "exit 3",
		 NULL);
	tc_expect_exit(&p, 15, 1);
	const char *err = tc_stderr(&p);
	cr_assert_eq(tc_count(err, "exited with status 3; restart policy is never"),
		     2, "stderr:\n%s", err);
	const char *out = tc_stdout(&p);
	tc_assert_has(out, "(every worker has ended)", "stdout");
	tc_assert_has(out, "workers   2, 2 died, 0 restarted, 2 failed", "stdout");
}

Test(coordinator, restart_on_failure_max_restarts)
{
	const char *name = tu_arena_name(SUITE);
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", name, "--workers", "1", "--numa",
		 "off", "--restart", "on-failure", "--max-restarts", "2", "--",
		 "/bin/sh", "-c", "exit 3", NULL);
	tc_expect_exit(&p, 15, 1);
	const char *err = tc_stderr(&p);
	tc_assert_has(err, "exited with status 3; restarting in", "stderr");
	tc_assert_has(err, "(restart 1 of 2)", "stderr");
	tc_assert_has(err, "(restart 2 of 2)", "stderr");
	cr_assert_eq(tc_count(err, "restarting in"), 2, "stderr:\n%s", err);
	tc_assert_has(err, "exited with status 3; no restarts left", "stderr");
	tc_assert_has(tc_stdout(&p), "workers   1, 3 died, 2 restarted, 1 failed",
		      "stdout");
	/* restarts back off (0.1 s, then 0.2 s): no restart storm */
	cr_assert_geq(tc_elapsed_s(&p), 0.28, "3 starts in %.3f s",
		      tc_elapsed_s(&p));
}

Test(coordinator, all_exit_zero)
{
	const char *name = tu_arena_name(SUITE);
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", name, "--workers", "3", "--numa",
		 "off", "--", "/bin/sh", "-c", "exit 0", NULL);
	tc_expect_exit(&p, 15, 0);
	const char *out = tc_stdout(&p);
	tc_assert_has(out, "(every worker has ended)", "stdout");
	tc_assert_has(out, "workers   3, 0 died, 0 restarted, 0 failed", "stdout");
	cr_assert_null(strstr(tc_stderr(&p), "restarting"), "%s", tc_stderr(&p));
	hl_arena *a;
	cr_assert_eq(hl_arena_attach(name, HL_RDONLY, &a), HL_ENOENT,
		     "the arena outlived a run without --keep");
}

/* A worker that cannot be started (here: no descriptor left for its pidfd,
 * RLIMIT_NOFILE 7 = stdio, the signalfd and three pidfds) is a failure of
 * the run, like any runtime error: exit 1, never 0. */
Test(coordinator, spawn_failure_exits_nonzero)
{
	const char *name = tu_arena_name(SUITE);
	struct tc_spawn_opts o = {.nofile = 7};
	struct tc_proc p;
	tc_start(&p, &o, "run", "--arena", name, "--workers", "4", "--workload",
		 "w1", "--numa", "off", "--duration", "3", NULL);
	int st = tc_wait(&p, 15);
	const char *out = tc_stdout(&p);
	cr_assert(WIFEXITED(st), "killed by signal %d", WTERMSIG(st));
	if (strstr(out, "(duration reached)")) {
		tc_fini(); /* a skipped test does not run .fini */
		cr_skip_test("the fd limit did not stop a worker's start:\n%s", out);
	}
	cr_assert_eq(WEXITSTATUS(st), 1, "a run whose worker could not be "
		     "started exited %d\nstdout:\n%s\nstderr:\n%s",
		     WEXITSTATUS(st), out, tc_stderr(&p));
}

/* ---- 6. the worker environment --------------------------------------------- */

Test(coordinator, worker_env)
{
	const char *name = tu_arena_name(SUITE);
	const char *file = tc_file("env");
	char script[512];
	snprintf(script, sizeof script,
		 "echo \"$HELIOS_ARENA $HELIOS_WORKER\" >> %s; exit 0", file);
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", name, "--workers", "4", "--numa",
		 "off", "--", "/bin/sh", "-c", script, NULL);
	tc_expect_exit(&p, 15, 0);
	char buf[4096];
	tc_read(file, buf, sizeof buf);
	unsigned seen[4] = {0}, lines = 0;
	for (char *save, *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char arena[128];
		unsigned w;
		lines++;
		cr_assert_eq(sscanf(line, "%127s %u", arena, &w), 2, "line: %s", line);
		cr_assert_str_eq(arena, name);
		cr_assert_lt(w, 4, "HELIOS_WORKER=%u", w);
		seen[w]++;
	}
	cr_assert_eq(lines, 4);
	for (unsigned w = 0; w < 4; w++)
		cr_assert_eq(seen[w], 1, "HELIOS_WORKER=%u seen %u times", w, seen[w]);
}

/* A CPU list ("0-2,5", "" for none) as a bit set of CPUs below 64. */
static uint64_t cpu_bits(const char *s)
{
	uint64_t bits = 0;
	while (*s && *s != '\n') {
		char *end;
		unsigned long a = strtoul(s, &end, 10), b = a;
		cr_assert_neq(end, s, "not a CPU list: %s", s);
		if (*end == '-')
			b = strtoul(end + 1, &end, 10);
		for (unsigned long c = a; c <= b && c < 64; c++)
			bits |= 1ull << c;
		s = *end == ',' ? end + 1 : end;
	}
	return bits;
}

/* Pinned workers are told the CPUs no worker is pinned to (supervise.c
 * invariant 6), where their page helpers may run: with one worker, every
 * CPU but its own; with a worker per CPU, none. */
static void helper_cpus_told(unsigned workers)
{
	const char *name = tu_arena_name(SUITE);
	const char *file = tc_file("cpus");
	char script[512];
	snprintf(script, sizeof script,
		 "a=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status);"
		 " echo \"$a|${HELIOS_PAGE_HELPER_CPUS-unset}|\" >> %s; exit 0", file);
	char n[8];
	snprintf(n, sizeof n, "%u", workers);
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", name, "--workers", n, "--", "/bin/sh",
		 "-c", script, NULL);
	tc_expect_exit(&p, 15, 0);
	char buf[4096];
	tc_read(file, buf, sizeof buf);
	uint64_t pinned = 0, told = 0;
	unsigned lines = 0;
	for (char *save, *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *bar = strchr(line, '|');
		cr_assert_not_null(bar, "line: %s", line);
		*bar = '\0';
		cr_assert(strncmp(bar + 1, "unset", 5), "a pinned worker was told nothing");
		char *end = strchr(bar + 1, '|');
		cr_assert_not_null(end, "line: %s", bar + 1);
		*end = '\0';
		uint64_t mine = cpu_bits(line), list = cpu_bits(bar + 1);
		cr_assert_eq(__builtin_popcountll(mine), 1, "a worker not pinned: %s", line);
		cr_assert(lines == 0 || list == told, "workers told different lists");
		pinned |= mine;
		told = list;
		lines++;
	}
	cr_assert_eq(lines, workers);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t all = cpus >= 64 ? ~0ull : (1ull << cpus) - 1;
	cr_assert_eq(told, all & ~pinned, "told %#llx, pinned %#llx",
		     (unsigned long long)told, (unsigned long long)pinned);
}

Test(coordinator, one_pinned_worker_is_told_every_cpu_but_its_own)
{
	if (sysconf(_SC_NPROCESSORS_ONLN) > 64)
		cr_skip_test("more CPUs than the test's bit set");
	helper_cpus_told(1);
}

Test(coordinator, a_worker_per_cpu_is_told_no_cpu_is_free)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus > 8)
		cr_skip_test("more CPUs than this test starts workers");
	helper_cpus_told((unsigned)cpus);
}

/* ---- 7. hangs, a dead coordinator ----------------------------------------- */

Test(coordinator, hang_is_killed)
{
	const char *name = tu_arena_name(SUITE);
	struct tc_spawn_opts o = {.env_name = "TC_WORKER_MODE", .env_value = "hang"};
	struct tc_proc p;
	tc_start(&p, &o, "run", "--arena", name, "--workers", "1", "--numa", "off",
		 "--restart", "never", "--hang-timeout", "1", "--", tc_self(),
		 NULL);
	tc_expect_exit(&p, 20, 1);
	const char *err = tc_stderr(&p);
	tc_assert_has(err, "sent no heartbeat for 1.0 s: killing it", "stderr");
	tc_assert_has(err, "killed by SIGKILL; restart policy is never", "stderr");
	tc_assert_has(tc_stdout(&p), "workers   1, 1 died, 0 restarted, 1 failed",
		      "stdout");
	cr_assert_geq(tc_elapsed_s(&p), 1.0, "killed after %.2f s, before the "
		      "1 s hang timeout", tc_elapsed_s(&p));
}

Test(coordinator, heartbeat_is_not_a_hang)
{
	const char *name = tu_arena_name(SUITE);
	struct tc_spawn_opts o = {.env_name = "TC_WORKER_MODE", .env_value = "beat"};
	struct tc_proc p;
	tc_start(&p, &o, "run", "--arena", name, "--workers", "2", "--numa", "off",
		 "--restart", "never", "--hang-timeout", "1", "--", tc_self(),
		 NULL);
	tc_expect_exit(&p, 20, 0);
	cr_assert_null(strstr(tc_stderr(&p), "heartbeat"), "%s", tc_stderr(&p));
	const char *out = tc_stdout(&p);
	tc_assert_has(out, "(every worker has ended)", "stdout");
	tc_assert_has(out, "workers   2, 0 died, 0 restarted, 0 failed", "stdout");
	cr_assert_geq(tc_elapsed_s(&p), 2.0);
}

/* The summary's "restarted" counts restarts that happened: a restart still
 * waiting out its backoff when the run is stopped never happened. */
Test(coordinator, restarts_counted_when_done)
{
	const char *name = tu_arena_name(SUITE);
	const char *file = tc_file("starts");
	char script[512];
	snprintf(script, sizeof script, "echo x >> %s; exit 3", file);
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", name, "--workers", "1", "--numa",
		 "off", "--max-restarts", "10", "--", "/bin/sh", "-c", script,
		 NULL);
	/* the third restart waits 0.4 s: stop the run during that wait */
	uint64_t deadline = tu_now_ns() + 10 * 1000000000ull;
	while (!strstr(tc_stderr(&p), "(restart 3 of 10)")) {
		cr_assert(tc_running(&p), "helios ended\n%s", tc_stderr(&p));
		cr_assert_lt(tu_now_ns(), deadline, "no third restart:\n%s",
			     tc_stderr(&p));
		tu_sleep_us(5 * 1000);
	}
	cr_assert_eq(kill(p.pid, SIGTERM), 0);
	tc_expect_exit(&p, 10, 0);
	char buf[4096];
	unsigned starts = tc_count(tc_read(file, buf, sizeof buf), "x");
	const char *out = tc_stdout(&p);
	const char *line = strstr(out, "workers   1, ");
	cr_assert_not_null(line, "no summary:\n%s", out);
	unsigned died, restarted, failed;
	cr_assert_eq(sscanf(line, "workers   1, %u died, %u restarted, %u failed",
			    &died, &restarted, &failed), 3, "%s", line);
	cr_assert_eq(restarted, starts - 1, "the summary says %u restarted, but "
		     "the worker was started %u times\n%s", restarted, starts, out);
}

/* The coordinator dies (SIGKILL): its workers stop (PDEATHSIG) and release
 * their slots; the next run recovers the arena with its nodes. */
Test(coordinator, coordinator_death_stops_workers)
{
	const char *name = tu_arena_name(SUITE);
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", name, "--workers", "3", "--workload",
		 "w1", "--numa", "off", "--keep", NULL);
	struct tc_view v;
	tc_wait_workers(name, 3, &p, 20, &v);
	pid_t dead = p.pid;
	cr_assert_eq(kill(p.pid, SIGKILL), 0);
	int st = tc_wait(&p, 10);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

	uint64_t deadline = tu_now_ns() + 10 * 1000000000ull;
	while (!tc_scan(name, &v) || v.live_workers) {
		cr_assert_lt(tu_now_ns(), deadline, "%u workers outlived their "
			     "coordinator by 10 s", v.live_workers);
		tu_sleep_us(20 * 1000);
	}
	/* every worker has left: sample the counters again, after that (the
	 * scan above may have summed them before a worker's last commits) */
	cr_assert(tc_scan(name, &v));
	cr_assert_eq(v.coordinators, 0);
	/* the coordinator's own slot and its background collector's */
	cr_assert(v.dead >= 1 && !v.dead_pids_differ && v.dead_pid == dead,
		  "expected just the coordinator's dead slots (%u dead)", v.dead);
	uint64_t nodes = v.st.nodes;
	unsigned dead_slots = v.dead;
	cr_assert_gt(nodes, 0);

	struct tc_proc q;
	tc_start(&q, NULL, "run", "--arena", name, "--workers", "2", "--workload",
		 "w1", "--numa", "off", "--duration", "0.5", "--keep", NULL);
	tc_expect_exit(&q, 15, 0);
	char said[256];
	snprintf(said, sizeof said, "recovering arena %s from its dead "
		 "coordinator (pid %d): %llu nodes kept, %u dead slots reclaimed",
		 name, (int)dead, (unsigned long long)nodes, dead_slots);
	tc_assert_has(tc_stderr(&q), said, "stderr");
	cr_assert(tc_scan(name, &v));
	cr_assert_eq(v.dead, 0);
	cr_assert_eq(v.live, 0);
	cr_assert_geq(v.st.nodes, nodes);
}
