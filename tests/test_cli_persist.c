/*
 * test_cli_persist.c - the `helios` program's persistence end to end, on
 * real files under /var/tmp: `helios run --persist DIR` persists and,
 * run again on DIR, says it recovered; `helios stat` shows the persister
 * of a running arena; `helios recover` leaves an arena whose refs and
 * nodes check; `helios check --persist` verifies DIR and fails on a
 * damaged record; bad command lines are usage errors.
 */
#include <criterion/criterion.h>

#include "coordinator_util.h"
#include "persist_util.h"

static void fini(void)
{
	tc_fini();
	pu_dir_remove();
}

TestSuite(cli_persist, .fini = fini, .timeout = 120);

static const char *wal_dir(void)
{
	static char d[600];
	snprintf(d, sizeof d, "%s/d", pu_dir);
	return d;
}

static void run_persisted(const char *name, const char *durability)
{
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--arena", name, "--size", "256M", "--workers",
		 "2", "--workload", "w1", "--numa", "off", "--duration", "1",
		 "--persist", wal_dir(), "--durability", durability,
		 "--wal-size", "640M", NULL);
	tc_expect_exit(&p, 60, 0);
}

Test(cli_persist, run_recover_check)
{
	pu_dir_make();
	const char *n1 = tu_arena_name("clip"), *n2 = tu_arena_name("clip");
	run_persisted(n1, "sync");
	struct tc_proc p;
	tc_start(&p, NULL, "check", "--persist", wal_dir(), NULL);
	tc_expect_exit(&p, 30, 0);
	cr_assert(strstr(tc_stdout(&p), ": ok: "), "%s", tc_stdout(&p));

	/* run again on DIR: recovered first, and said so with the time */
	tc_start(&p, NULL, "run", "--arena", n2, "--size", "256M", "--workers",
		 "1", "--workload", "w1", "--numa", "off", "--duration", "1",
		 "--persist", wal_dir(), "--durability", "async", NULL);
	/* (into the first run's 640 MiB WAL: a smaller one fills within a
	 * second of async W1, a sticky HL_ENOSPC while nothing recycles it) */
	tc_expect_exit(&p, 60, 0);
	cr_assert(strstr(tc_stdout(&p), "helios run: recovered ") &&
		  strstr(tc_stdout(&p), " ms"), "%s", tc_stdout(&p));

	/* recover into an arena left for others */
	const char *r = tu_arena_name("clip");
	tc_start(&p, NULL, "recover", "--persist", wal_dir(), "--arena", r,
		 "--size", "512M", NULL);
	tc_expect_exit(&p, 60, 0);
	cr_assert(strstr(tc_stdout(&p), "helios recover: arena"), "%s",
		  tc_stdout(&p));
	tc_start(&p, NULL, "check", r, NULL);
	tc_expect_exit(&p, 60, 0);
	hl_arena *a;
	cr_assert_eq(hl_arena_attach(r, HL_RDONLY, &a), 0);
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	cr_assert_gt(st.nodes, 0u);
	hl_arena_close(a);
}

Test(cli_persist, stat_shows_a_running_persister)
{
	pu_dir_make();
	const char *n = tu_arena_name("clip");
	struct tc_proc p, s;
	tc_start(&p, NULL, "run", "--arena", n, "--size", "256M", "--workers",
		 "1", "--workload", "w1", "--numa", "off", "--duration", "30",
		 "--persist", wal_dir(), NULL);
	struct tc_view v;
	tc_wait_workers(n, 1, &p, 20, &v);
	tc_start(&s, NULL, "stat", n, NULL);
	tc_expect_exit(&s, 30, 0);
	cr_assert(strstr(tc_stdout(&s), "running, durability sync"), "%s",
		  tc_stdout(&s));
	cr_assert(strstr(tc_stdout(&s), " flushes"), "%s", tc_stdout(&s));
	kill(p.pid, SIGTERM);
	tc_expect_exit(&p, 30, 0);
}

Test(cli_persist, damaged_record_fails_check)
{
	pu_dir_make();
	run_persisted(tu_arena_name("clip"), "sync");
	char wal[700];
	snprintf(wal, sizeof wal, "%s/wal.000001", wal_dir());
	size_t len;
	unsigned char *b = pu_read_file(wal, &len);
	/* the first record's payload (after the 4 KiB header and its 32-byte
	 * record header): the crc fails, the scan stops there */
	unsigned char x = b[4096 + 40] ^ 1;
	pu_write_at(wal, &x, 1, 4096 + 40);
	free(b);
	struct tc_proc p;
	tc_start(&p, NULL, "check", "--persist", wal_dir(), NULL);
	tc_expect_exit(&p, 30, 0);
	cr_assert(strstr(tc_stdout(&p), "0 records") &&
		  strstr(tc_stdout(&p), "torn or damaged"), "%s", tc_stdout(&p));
	tc_start(&p, NULL, "check", "--persist", "/var/tmp/helios-none-such", NULL);
	tc_expect_exit(&p, 30, 1);
}

Test(cli_persist, bad_command_lines_are_usage_errors)
{
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--persist", "/var/tmp/x", "--durability",
		 "sometimes", NULL);
	tc_expect_exit(&p, 10, 2);
	tc_start(&p, NULL, "run", "--persist", "/var/tmp/x", "--durability",
		 "none", NULL);
	tc_expect_exit(&p, 10, 2);
	tc_start(&p, NULL, "recover", "--persist", "/var/tmp/x", NULL);
	tc_expect_exit(&p, 10, 2);
}
