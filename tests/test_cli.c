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
#include <sched.h>
#include <sys/mount.h>
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
	/* the name appears only once the arena is complete (arena_file.c
	 * invariant 3): signal a moment in, while it is being made */
	tu_sleep_us(100 * 1000);
	cr_assert(tc_running(&p), "helios ended\n%s", tc_stderr(&p));
	cr_assert_eq(kill(p.pid, SIGTERM), 0);
	tc_expect_exit(&p, 30, 0);
	hl_arena *a;
	int rc = hl_arena_attach(name, HL_RDONLY, &a);
	if (!rc)
		hl_arena_close(a);
	cr_assert_eq(rc, HL_ENOENT, "after a SIGTERM during creation the arena "
		     "is left behind: attach says %s", hl_strerror(rc));
}

/* A stop signal while a large arena is prefaulted ends the run within a
 * piece of the prefault, not after all of it (seconds per GiB on a small
 * VM), and leaves nothing. */
Test(cli, signal_while_prefaulting_stops_at_once)
{
	const char *name = tu_arena_name(SUITE);
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", name, "--size", "4G", "--prefault",
		 "--workers", "1", "--workload", "w1", "--numa", "off", NULL);
	tu_sleep_us(300 * 1000);
	cr_assert(tc_running(&p), "helios ended\n%s", tc_stderr(&p));
	if (strstr(tc_stdout(&p), "helios run: arena"))
		cr_skip_test("4 GiB prefaulted within 300 ms: not tested");
	uint64_t t0 = tu_now_ns();
	cr_assert_eq(kill(p.pid, SIGTERM), 0);
	tc_expect_exit(&p, 30, 0);
	double took = (double)(p.end_ns - t0) / 1e9;
	cr_assert_lt(took, 4, "SIGTERM while prefaulting took %.1f s", took);
	tc_assert_has(tc_stdout(&p), "stopped while its arena was being made "
		      "(SIGTERM)", "stdout");
	hl_arena *a;
	cr_assert_eq(hl_arena_attach(name, HL_RDONLY, &a), HL_ENOENT,
		     "the unfinished arena was left");
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

/* ---- 3. what is at the arena's name, and who owns it ----------------------
 *
 * Issue 8, items 9-12: a FIFO or device at the name is refused at once
 * (fifo_*, dev_null_*); an arena bigger than its file system is refused
 * with the room it has (no_room_*); another user's arena is refused unless
 * --trust-owner (other_user_*); default names are fresh (default_name_*);
 * two coordinators started together on one kept arena: exactly one runs
 * (two_coordinators_*).
 */

Test(cli, fifo_at_the_arena_name_is_refused_at_once)
{
	const char *fifo = tc_file("fifo");
	cr_assert_eq(mkfifo(fifo, 0600), 0, "mkfifo: %s", strerror(errno));
	const char *cmds[][8] = {
		{"stat", fifo, NULL},
		{"check", fifo, NULL},
		{"run", "--arena", fifo, "--workers", "1", "--duration", "1", NULL},
	};
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		const char **c = cmds[i];
		struct tc_proc p;
		tc_start(&p, NULL, c[0], c[1], c[2], c[3], c[4], c[5], c[6], NULL);
		int st = tc_wait(&p, 5); /* a blocking open hangs forever */
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1,
			  "helios %s on a FIFO: status %d\n%s", c[0], st,
			  tc_stderr(&p));
		tc_assert_has(tc_stderr(&p), "not a regular file", "stderr");
	}
}

Test(cli, dev_null_is_not_an_arena_being_created)
{
	const char *cmds[][3] = {{"stat", "/dev/null", NULL},
				 {"check", "/dev/null", NULL}};
	for (size_t i = 0; i < 2; i++) {
		struct tc_proc p;
		tc_start(&p, NULL, cmds[i][0], cmds[i][1], NULL);
		tc_expect_exit(&p, 5, 1);
		const char *err = tc_stderr(&p);
		cr_assert_null(strstr(err, "being created"), "%s", err);
		cr_assert_null(strstr(err, "HL_EBUSY"), "%s", err);
		tc_assert_has(err, "not a regular file", "stderr");
	}
}

/* A 64 MiB tmpfs at a fresh directory in a mount namespace of this test
 * process (and of the coordinators it starts) alone. */
static void tc_small_tmpfs(char *dir, size_t len)
{
	tu_small_tmpfs(dir, len, "helios-tc");
}

Test(cli, no_room_on_the_file_system_is_refused_with_what_is_free)
{
	char dir[64], path[96];
	tc_small_tmpfs(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/a", dir);
	const char *pre[] = {NULL, "--prefault"};
	for (int i = 0; i < 2; i++) {
		struct tc_proc p;
		tc_start(&p, NULL, "run", "--arena", path, "--size", "256M",
			 "--workers", "1", "--workload", "w1", "--numa", "off",
			 "--duration", "3", pre[i], NULL);
		tc_expect_exit(&p, 20, 1); /* killed by SIGBUS fails here */
		tc_assert_has(tc_stderr(&p), "does not fit its file system",
			      "stderr");
		tc_assert_has(tc_stderr(&p), "64.0 MiB free", "stderr");
		cr_assert_eq(access(path, F_OK), -1, "the refused arena was left");
	}
	/* the default size, 1 GiB, is refused as clearly */
	struct tc_proc q;
	tc_start(&q, NULL, "run", "--arena", path, "--workers", "1", "--numa",
		 "off", "--duration", "1", NULL);
	tc_expect_exit(&q, 20, 1);
	tc_assert_has(tc_stderr(&q), "(the default --size) does not fit", "stderr");
	umount2(dir, MNT_DETACH);
	rmdir(dir);
}

/* Makes arena `name` as a small, kept one; returns its /dev/shm path. */
static const char *tc_make_kept(const char *name, char *path, size_t len)
{
	hl_config cfg;
	tu_config_small(&cfg, 64 << 20, 4096);
	hl_arena *a = tu_arena_create_cfg(name, &cfg);
	hl_arena_close(a);
	snprintf(path, len, "/dev/shm/helios.%s", name);
	return path;
}

static void tc_expect_refused_owner(const char *name, const char *says)
{
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", name, "--workers", "1", "--workload",
		 "w1", "--numa", "off", "--duration", "1", "--keep", NULL);
	tc_expect_exit(&p, 10, 1);
	tc_assert_has(tc_stderr(&p), says, "stderr");
	tc_assert_has(tc_stderr(&p), "--trust-owner", "stderr");
	struct tc_view v;
	cr_assert(tc_scan(name, &v));
	cr_assert_eq(v.st.commits, 0, "workers ran on another user's arena");
	cr_assert_eq(v.live + v.dead, 0, "a slot was taken in another user's arena");
}

Test(cli, other_users_arena_is_refused_unless_trusted)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to make another user's arena: not tested");
	const char *name = tu_arena_name(SUITE);
	char path[256];
	tc_make_kept(name, path, sizeof path);
	/* planted: another user's file, mode 0666 */
	cr_assert_eq(chown(path, 65534, 65534), 0);
	cr_assert_eq(chmod(path, 0666), 0);
	tc_expect_refused_owner(name, "is owned by");

	/* told to trust it: it runs */
	struct tc_proc t;
	tc_start(&t, NULL, "run", "--arena", name, "--workers", "1", "--numa",
		 "off", "--keep", "--trust-owner", "--", "/bin/true", NULL);
	tc_expect_exit(&t, 15, 0);
	tc_assert_has(tc_stderr(&t), "reusing arena", "stderr");
}

Test(cli, arena_created_by_another_user_is_refused)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to act as another user: not tested");
	const char *name = tu_arena_name(SUITE);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) { /* nobody creates it: creator_uid 65534 */
		if (setgid(65534) || setuid(65534))
			_exit(2);
		hl_config cfg;
		tu_config_small(&cfg, 64 << 20, 4096);
		cfg.mode = 0666;
		hl_arena *a;
		if (hl_arena_create(name, &cfg, &a))
			_exit(3);
		hl_arena_close(a);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
	char path[256];
	snprintf(path, sizeof path, "/dev/shm/helios.%s", name);
	cr_assert_eq(chown(path, 0, 0), 0, "the file is root's, the header not");
	tc_expect_refused_owner(name, "was created by");
}

Test(cli, default_names_are_fresh_and_unpredictable)
{
	char names[2][128];
	for (int i = 0; i < 2; i++) {
		struct tc_proc p;
		tc_start(&p, NULL, "run", "--workers", "1", "--workload", "w1",
			 "--numa", "off", "--duration", "0.2", NULL);
		pid_t started = p.pid;
		tc_expect_exit(&p, 15, 0);
		const char *out = tc_stdout(&p);
		const char *at = strstr(out, "arena helios-run-");
		cr_assert_not_null(at, "%s", out);
		int pid = 0;
		unsigned rnd = 0;
		char tail = 0;
		cr_assert_eq(sscanf(at, "arena helios-run-%d-%8x%c", &pid, &rnd,
				    &tail), 3, "%s", at);
		cr_assert_eq(pid, (int)started);
		cr_assert_eq(tail, ',', "a random part of 8 hex digits: %s", at);
		snprintf(names[i], sizeof names[i], "%d-%08x", pid, rnd);
	}
	cr_assert_str_neq(names[0], names[1]);
}

/* Item 12: started together on one kept arena, exactly one of two runs
 * becomes its coordinator (the review saw both "reusing" in 2 of 5). */
Test(cli, two_coordinators_on_one_kept_arena_one_wins, .timeout = 200)
{
	const char *name = tu_arena_name(SUITE);
	char path[256];
	tc_make_kept(name, path, sizeof path);
	for (int trial = 0; trial < 5; trial++) {
		struct tc_proc p[2];
		for (int i = 0; i < 2; i++)
			tc_start(&p[i], NULL, "run", "--arena", name, "--workers",
				 "1", "--numa", "off", "--duration", "1", "--keep",
				 "--quiet", "--", "/bin/sleep", "5", NULL);
		unsigned won = 0, refused = 0;
		for (int i = 0; i < 2; i++) {
			int st = tc_wait(&p[i], 20);
			cr_assert(WIFEXITED(st), "killed: %d", st);
			const char *err = tc_stderr(&p[i]);
			if (WEXITSTATUS(st) == 0 && strstr(err, "reusing arena"))
				won++;
			else if (WEXITSTATUS(st) == 1 && strstr(err, "is in use by"))
				refused++;
		}
		cr_assert(won == 1 && refused == 1, "trial %d: %u reused, %u "
			  "refused", trial, won, refused);
	}
}

/* ---- 4. what a run reports, and what it does when the arena fills ----------
 *
 * Issue 8, items 13-15: a kept arena's size and chunk are not silently
 * ignored, the summary counts this run (kept_arena_*); a worker that finds
 * the arena full is not restarted, the run fails naming the full part and a
 * --size (full_arena_*); a stop signal while hundreds of workers are being
 * spawned takes effect at once (signal_while_spawning_*); a worker that
 * ignores SIGTERM outlives a SIGKILLed coordinator by the grace only
 * (stubborn_worker_*).
 */

/* "1.23M" -> 1230000: a count as hl_fmt_count prints it. */
static double tc_count_value(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	return *end == 'G' ? v * 1e9 : *end == 'M' ? v * 1e6
	       : *end == 'k' ? v * 1e3 : v;
}

Test(cli, kept_arena_keeps_its_geometry_and_the_summary_counts_this_run)
{
	const char *name = tu_arena_name(SUITE);
	char path[256];
	tc_make_kept(name, path, sizeof path);
	const char *bad[][2] = {{"--size", "128M"}, {"--chunk", "1024"}};
	for (int i = 0; i < 2; i++) {
		struct tc_proc p;
		tc_start(&p, NULL, "run", "--arena", name, bad[i][0], bad[i][1],
			 "--workers", "1", "--numa", "off", "--keep", "--",
			 "/bin/true", NULL);
		tc_expect_exit(&p, 10, 1);
		tc_assert_has(tc_stderr(&p), "is kept with --size 64.0 MiB "
			      "(67108864 bytes) and --chunk 4096", "stderr");
	}
	/* its own values are fine; then two runs of about 0.3 s each */
	uint64_t commits[3] = {0};
	for (int run = 0; run < 2; run++) {
		struct tc_proc p;
		tc_start(&p, NULL, "run", "--arena", name, "--size", "64M",
			 "--chunk", "4096", "--workers", "1", "--workload", "w1",
			 "--numa", "off", "--duration", "0.3", "--keep",
			 "--restart", "never", NULL);
		int st = tc_wait(&p, 15);
		cr_assert(WIFEXITED(st), "%s", tc_stderr(&p));
		struct tc_view v;
		cr_assert(tc_scan(name, &v));
		commits[run + 1] = v.st.commits;
		const char *line = strstr(tc_stdout(&p), "  commits   ");
		cr_assert_not_null(line, "%s", tc_stdout(&p));
		double said = tc_count_value(line + strlen("  commits   "));
		double did = (double)(commits[run + 1] - commits[run]);
		cr_assert(did > 0, "run %d committed nothing", run);
		cr_assert(said >= did * 0.98 && said <= did * 1.02,
			  "run %d says %.0f commits; it made %.0f (the arena has "
			  "%llu)", run, said, did,
			  (unsigned long long)commits[run + 1]);
	}
}

/* Item 14: w2 in an 8 MiB arena fills its index within a second. */
Test(cli, full_arena_is_not_restarted_and_fails_the_run)
{
	const char *name = tu_arena_name(SUITE);
	struct tc_proc p;
	/* with a collector w2 never fills an arena (it pins only its path):
	 * without one it fills 8 MiB in a moment */
	setenv("HELIOS_GC", "off", 1);
	tc_start(&p, NULL, "run", "--arena", name, "--size", "8M", "--workers",
		 "1", "--workload", "w2", "--numa", "off", "--duration", "20", NULL);
	unsetenv("HELIOS_GC");
	tc_expect_exit(&p, 15, 1);
	const char *err = tc_stderr(&p);
	cr_assert_null(strstr(err, "restarting in"), "restarted into a full "
		       "arena:\n%s", err);
	tc_assert_has(err, "found the arena full", "stderr");
	tc_assert_has(err, "is full: its index", "stderr");
	tc_assert_has(err, "--size 16M or more", "stderr");
	tc_assert_has(tc_stdout(&p), "0 restarted, 1 failed", "stdout");
	cr_assert_lt(tc_elapsed_s(&p), 10, "the run went on for %.1f s",
		     tc_elapsed_s(&p));
}

/* Item 15: workers that each burn a little CPU as they start make spawning
 * slow on a small box; SIGINT half a second in stops the run at once. */
Test(cli, signal_while_spawning_takes_effect_at_once)
{
	const char *name = tu_arena_name(SUITE);
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", name, "--workers", "400", "--numa",
		 "off", "--grace", "1", "--quiet", "--", "/bin/sh", "-c",
		 "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 30",
		 NULL);
	tu_sleep_us(500 * 1000);
	cr_assert(tc_running(&p), "%s", tc_stderr(&p));
	uint64_t t0 = tu_now_ns();
	cr_assert_eq(kill(p.pid, SIGINT), 0);
	tc_expect_exit(&p, 60, 0);
	double took = (double)(p.end_ns - t0) / 1e9;
	const char *out = tc_stdout(&p);
	const char *line = strstr(out, "stopped after");
	cr_assert_not_null(line, "%s", out);
	cr_assert_lt(took, 8, "SIGINT during spawning took %.1f s to stop the "
		     "run:\n%s", took, out);
	tc_assert_has(out, "(SIGINT)", "stdout");
}

/* Item 15: a worker ignoring SIGTERM (the PDEATHSIG) is SIGKILLed the grace
 * after its coordinator was. */
Test(cli, stubborn_worker_dies_the_grace_after_its_coordinator)
{
	const char *name = tu_arena_name(SUITE);
	struct tc_proc p;
	pid_t worker = tc_start_stubborn(&p, name, "1");
	cr_assert_eq(kill(p.pid, SIGKILL), 0);
	tc_wait(&p, 10);
	uint64_t t0 = tu_now_ns();
	while (kill(worker, 0) == 0) {
		cr_assert_lt(tu_now_ns() - t0, 6 * 1000000000ull,
			     "worker %d ignoring SIGTERM outlived its SIGKILLed "
			     "coordinator by 6 s (--grace 1)", (int)worker);
		tu_sleep_us(20 * 1000);
	}
	cr_assert_geq(tu_now_ns() - t0, 500 * 1000000ull,
		      "killed before its grace");
}

/* ---- 5. small inconsistencies (issue 8, item 16) ------------------------ */

Test(cli, errors_each_value_is_named)
{
	struct {
		const char *args[6];
		int code;
		const char *says;
	} cases[] = {
		{{"run", "--size", " -1", NULL}, 2, "bad --size"},
		{{"run", "--size", "-1", NULL}, 2, "bad --size"},
		{{"run", "--size", "512k", NULL}, 2, "--size takes 1M to 16T"},
		{{"run", "--workers", " 2", NULL}, 2, "--workers takes 1 to 1000"},
		{{"run", "--workers", "+2", NULL}, 2, "--workers takes 1 to 1000"},
		{{"run", "--chunk", "1000", NULL}, 2, "--chunk takes a power of two"},
		{{"run", "--chunk", "16", NULL}, 2, "--chunk takes a power of two"},
		{{"run", "--arena", "no spaces!", NULL}, 2, "bad --arena"},
		{{"run", "--duration", "1e3", NULL}, 2, "bad --duration"},
		{{"run", "--", NULL}, 2, "-- needs a worker command"},
		{{"run", "--workers", "1", "--", NULL}, 2, "-- needs a worker command"},
		{{"bench", "--workers", "1,,2", NULL}, 2, "--workers takes a comma list"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char **a = cases[i].args;
		struct tc_proc p;
		tc_start(&p, NULL, a[0], a[1], a[2], a[3], a[4], NULL);
		tc_expect_exit(&p, 10, cases[i].code);
		tc_assert_has(tc_stderr(&p), cases[i].says, "stderr");
		cr_assert_null(strstr(tc_stdout(&p), "helios run: arena"),
			       "case %zu ran", i);
	}
}

Test(cli, help_exits_0_for_every_subcommand)
{
	const char *cmds[] = {"run", "stat", "check"};
	for (size_t i = 0; i < 3; i++) {
		struct tc_proc p;
		tc_start(&p, NULL, cmds[i], "--help", NULL);
		tc_expect_exit(&p, 10, 0);
		tc_assert_has(tc_stdout(&p), "usage: helios", "stdout");
	}
}

Test(cli, the_root_directory_is_no_arena_to_remove)
{
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", "/", "--workers", "1", "--numa",
		 "off", "--", "/bin/true", NULL);
	tc_expect_exit(&p, 10, 1);
	const char *err = tc_stderr(&p);
	cr_assert_null(strstr(err, "/dev/shm/helios./"), "%s", err);
	cr_assert_null(strstr(err, "rm "), "suggests removing /:\n%s", err);
	tc_assert_has(err, "not an arena", "stderr");
}

Test(cli, control_bytes_of_names_are_escaped)
{
	const char *name = "/tmp/helios-tc-\x1b[2J\x07-no-arena";
	const char *cmds[][2] = {{"check", name}, {"stat", name}};
	for (int i = 0; i < 2; i++) {
		struct tc_proc p;
		tc_start(&p, NULL, cmds[i][0], cmds[i][1], NULL);
		tc_expect_exit(&p, 10, 1);
		const char *err = tc_stderr(&p);
		cr_assert_null(strchr(err, '\x1b'), "%s printed ESC raw", cmds[i][0]);
		cr_assert_null(strchr(err, '\x07'), "%s printed BEL raw", cmds[i][0]);
		if (i == 0)
			tc_assert_has(err, "\\x1b[2J\\x07", "stderr");
	}
}
