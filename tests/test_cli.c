/*
 * test_cli.c - `helios run` from the command line's side: how a run is
 * stopped, and what is refused. A real coordinator (fork + exec of
 * $HELIOS_BIN) on a real arena, as in test_coordinator.c.
 *
 * What a user of `helios run` relies on, and what each test pins:
 *
 *  1. A stop signal always ends in a clean stop (exit 0, arena removed
 *     without --keep): workers that ignore SIGTERM are killed after --grace
 *     (grace_*); a second signal during the grace period changes nothing
 *     (second_signal_*); nor does one while the arena is still being
 *     created (signal_during_*).
 *  2. Errors: bad command lines exit 2 with a usage line; an arena too small
 *     for the workers, or held by a live coordinator, is refused without
 *     harming it; a kept arena is reused with its nodes and passes `helios
 *     check` (errors_*, second_coordinator_*, reuse_*).
 *
 * The harness (process groups, output files, PDEATHSIG, .fini cleanup,
 * scans of the arena) is coordinator_util.h, shared with
 * test_coordinator.c (runs, supervision, restarts, solver, stat).
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

#define SUITE "cli"

TestSuite(cli, .fini = tc_fini, .timeout = 90);

/* ---- 1. stop signals ----------------------------------------------------- */

/* Starts a run whose one worker ignores SIGTERM, and waits until it does:
 * returns the worker's pid. */
static pid_t tc_start_stubborn(struct tc_proc *p, const char *name,
			       const char *grace)
{
	const char *ready = tc_file("ready");
	char script[512];
	snprintf(script, sizeof script,
		 "trap '' TERM; echo $$ > %s.tmp; mv %s.tmp %s; exec sleep 60",
		 ready, ready, ready);
	tc_start(p, NULL, "run", "--arena", name, "--workers", "1", "--numa",
		 "off", "--grace", grace, "--", "/bin/sh", "-c", script, NULL);
	char buf[64] = "";
	uint64_t deadline = tu_now_ns() + 10 * 1000000000ull;
	while (!tc_read(ready, buf, sizeof buf)[0]) {
		cr_assert(tc_running(p), "helios ended\n%s", tc_stderr(p));
		cr_assert_lt(tu_now_ns(), deadline, "the worker never started");
		tu_sleep_us(10 * 1000);
	}
	pid_t worker = (pid_t)atoi(buf);
	cr_assert_gt(worker, 0);
	return worker;
}

Test(cli, grace_kills_stubborn_worker)
{
	const char *name = tu_arena_name(SUITE);
	struct tc_proc p;
	pid_t worker = tc_start_stubborn(&p, name, "1");
	uint64_t t0 = tu_now_ns();
	cr_assert_eq(kill(p.pid, SIGTERM), 0);
	tc_expect_exit(&p, 10, 0);
	double took = (double)(p.end_ns - t0) / 1e9;
	cr_assert(took >= 0.9 && took < 5, "stopped %.2f s after SIGTERM with "
		  "--grace 1", took);
	tc_assert_has(tc_stderr(&p), "did not stop within the grace period",
		      "stderr");
	tc_assert_has(tc_stdout(&p), "workers   1, 0 died, 0 restarted, 0 failed",
		      "stdout");
	cr_assert_eq(kill(worker, 0), -1, "the stubborn worker %d survived",
		     (int)worker);
	cr_assert_eq(errno, ESRCH);
	hl_arena *a;
	cr_assert_eq(hl_arena_attach(name, HL_RDONLY, &a), HL_ENOENT,
		     "the arena outlived a run without --keep");
}

/* Ctrl-C twice, or SIGTERM then SIGINT: a second stop signal while the
 * workers are being stopped changes nothing - the run still ends with
 * exit 0 and removes its arena (it has no --keep). */
Test(cli, second_signal_during_grace)
{
	const char *name = tu_arena_name(SUITE);
	struct tc_proc p;
	tc_start_stubborn(&p, name, "2");
	cr_assert_eq(kill(p.pid, SIGTERM), 0);
	tu_sleep_us(300 * 1000); /* inside the 2 s grace period */
	cr_assert(tc_running(&p), "helios stopped before its grace period "
		  "ended\n%s", tc_stdout(&p));
	cr_assert_eq(kill(p.pid, SIGINT), 0);
	tc_expect_exit(&p, 10, 0);
	tc_assert_has(tc_stdout(&p), "stopped after", "stdout");
	hl_arena *a;
	int rc = hl_arena_attach(name, HL_RDONLY, &a);
	if (!rc)
		hl_arena_close(a);
	cr_assert_eq(rc, HL_ENOENT, "the arena outlived a run without --keep");
}

/* SIGTERM while the arena is being created (about a second per GiB with
 * --prefault): the run still stops cleanly - exit 0, and no half-created
 * arena left behind to refuse every later run on the name (HL_EBUSY). */
Test(cli, signal_during_arena_creation)
{
	const char *name = tu_arena_name(SUITE);
	char path[256];
	snprintf(path, sizeof path, "/dev/shm/helios.%s", name);
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", name, "--size", "1G", "--prefault",
		 "--workers", "1", "--workload", "w1", "--numa", "off", NULL);
	uint64_t deadline = tu_now_ns() + 10 * 1000000000ull;
	while (access(path, F_OK) != 0) {
		cr_assert(tc_running(&p), "helios ended\n%s", tc_stderr(&p));
		cr_assert_lt(tu_now_ns(), deadline, "%s never appeared", path);
		tu_sleep_us(1000);
	}
	cr_assert_eq(kill(p.pid, SIGTERM), 0);
	tc_expect_exit(&p, 30, 0);
	hl_arena *a;
	int rc = hl_arena_attach(name, HL_RDONLY, &a);
	if (!rc)
		hl_arena_close(a);
	cr_assert_eq(rc, HL_ENOENT, "after a SIGTERM during creation the arena "
		     "is left behind: attach says %s", hl_strerror(rc));
}

/* ---- 2. errors and reuse --------------------------------------------------- */

Test(cli, errors_usage)
{
	struct {
		const char *args[8];
		int code;
		const char *says;
	} cases[] = {
		{{"run", "--bogus", NULL}, 2, "usage: helios run"},
		{{"run", "--workers", "0", NULL}, 2, "--workers takes 1 to 1000"},
		{{"run", "--workers", "-3", NULL}, 2, "usage:"},
		{{"run", "--workload", "w9", NULL}, 2, "--workload takes w1 or w2"},
		{{"run", "--numa", "maybe", NULL}, 2, "usage:"},
		{{"run", "--size", "lots", NULL}, 2, "bad --size"},
		{{"run", "--restart", "always", NULL}, 2, "usage:"},
		{{"run", "--workload", "w1", "--", "/bin/true", NULL}, 2, "not both"},
		{{"run", "--", "/nonexistent/helios-tc-worker", NULL}, 2, "not found"},
		{{"run", "--", "helios-tc-no-such-command", NULL}, 2, "not found"},
		{{"frobnicate", NULL}, 2, "unknown command"},
		{{"check", NULL}, 2, "usage: helios check"},
		{{"check", "t-coord-no-such-arena", NULL}, 1, "check:"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char **a = cases[i].args;
		struct tc_proc p;
		tc_start(&p, NULL, a[0], a[1], a[2], a[3], a[4], a[5], NULL);
		tc_expect_exit(&p, 10, cases[i].code);
		tc_assert_has(tc_stderr(&p), cases[i].says, "stderr");
	}
	/* no arguments at all */
	struct tc_proc p;
	tc_start(&p, NULL, NULL);
	tc_expect_exit(&p, 10, 2);
	tc_assert_has(tc_stderr(&p), "usage:", "stderr");
}

Test(cli, errors_arena_too_small)
{
	const char *name = tu_arena_name(SUITE);
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", name, "--size", "2M", "--workers",
		 "64", "--numa", "off", NULL);
	int st = tc_wait(&p, 10);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0, "status %d", st);
	tc_assert_has(tc_stderr(&p), "too small", "stderr");
	hl_arena *a;
	cr_assert_eq(hl_arena_attach(name, HL_RDONLY, &a), HL_ENOENT,
		     "the refused arena was left behind");
}

Test(cli, second_coordinator_refused)
{
	const char *name = tu_arena_name(SUITE);
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", name, "--workers", "2", "--workload",
		 "w1", "--numa", "off", NULL);
	struct tc_view v;
	tc_wait_workers(name, 2, &p, 20, &v);

	struct tc_proc q;
	tc_start(&q, NULL, "run", "--arena", name, "--workers", "2", "--workload",
		 "w1", "--numa", "off", "--duration", "1", NULL);
	int st = tc_wait(&q, 10);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0,
		  "a second coordinator on a live arena: status %d", st);
	char said[160];
	snprintf(said, sizeof said, "in use by the coordinator with pid %d",
		 (int)p.pid);
	tc_assert_has(tc_stderr(&q), said, "stderr");

	/* the first run is untouched: same workers, name still there */
	struct tc_view after;
	cr_assert(tc_scan(name, &after), "the refused run removed the arena");
	cr_assert_eq(after.live_workers, 2);
	for (unsigned w = 0; w < 2; w++)
		cr_assert_eq(after.worker_pid[w], v.worker_pid[w]);
	cr_assert(tc_running(&p));
	cr_assert_eq(kill(p.pid, SIGTERM), 0);
	tc_expect_exit(&p, 10, 0);
}

Test(cli, reuse_kept_arena_and_check)
{
	const char *name = tu_arena_name(SUITE);
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", name, "--workers", "2", "--workload",
		 "w1", "--numa", "off", "--duration", "0.5", "--keep", NULL);
	tc_expect_exit(&p, 15, 0);
	struct tc_view v;
	cr_assert(tc_scan(name, &v));
	uint64_t nodes = v.st.nodes, commits = v.st.commits;
	cr_assert_gt(nodes, 0);

	struct tc_proc c;
	tc_start(&c, NULL, "check", name, NULL);
	tc_expect_exit(&c, 30, 0);
	char said[160];
	snprintf(said, sizeof said, "%s: ok: %llu nodes verified", name,
		 (unsigned long long)nodes);
	tc_assert_has(tc_stdout(&c), said, "check's stdout");

	struct tc_proc q;
	tc_start(&q, NULL, "run", "--arena", name, "--workers", "2", "--workload",
		 "w1", "--numa", "off", "--duration", "0.5", "--keep", NULL);
	tc_expect_exit(&q, 15, 0);
	snprintf(said, sizeof said, "reusing arena %s: %llu nodes kept", name,
		 (unsigned long long)nodes);
	tc_assert_has(tc_stderr(&q), said, "stderr");
	cr_assert(tc_scan(name, &v));
	cr_assert_geq(v.st.nodes, nodes);
	cr_assert_gt(v.st.commits, commits, "the second run committed nothing");
	cr_assert_eq(v.live, 0);
	cr_assert_eq(v.dead, 0);
	hl_arena *a = tc_attach_ro(name);
	tu_assert_arena_ok(a, "after two runs");
	hl_arena_close(a);
}
