/*
 * multiproc_util.h - forking and reaping the children of the suites that
 * run many processes on one arena at once (test_multiproc.c: overlapping
 * commits, attaching during creation; test_refs_mp.c: refs across
 * processes). A child runs a child_fn and _exits with its return: 0, or
 * the step that failed, which it also records (with the source line) in a
 * struct child_report on a MAP_SHARED page; reap_ok names both.
 *
 * Header-only (static inline), like testutil.h: each suite is one
 * executable.
 */
#ifndef HELIOS_TESTS_MULTIPROC_UTIL_H
#define HELIOS_TESTS_MULTIPROC_UTIL_H

#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "workers.h"

typedef int (*child_fn)(const char *name, void *ctx, int idx);

static inline pid_t spawn(child_fn fn, const char *name, void *ctx, int idx)
{
	pid_t pid = tu_fork();
	if (pid == 0)
		_exit(fn(name, ctx, idx));
	return pid;
}

/* Reaps pid and asserts it exited 0; names the failing line otherwise. */
static inline void reap_ok(pid_t pid, const char *what, int idx,
			   const struct child_report *rep)
{
	int st = 0;
	cr_assert_eq(waitpid(pid, &st, 0), pid, "waitpid");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "%s %d: %s %d (failed at line %d, rc %d %s)", what, idx,
		  WIFEXITED(st) ? "exit" : "signal",
		  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
		  rep ? atomic_load(&rep->line) : 0, rep ? atomic_load(&rep->rc) : 0,
		  rep ? hl_strerror(atomic_load(&rep->rc)) : "");
}

#endif /* HELIOS_TESTS_MULTIPROC_UTIL_H */
