/*
 * kill_util.h - helpers shared by the suites that SIGKILL processes in the
 * middle of their work (test_kill.c: writers killed mid-commit;
 * test_reclaim.c: owners, attachers and reapers killed around a reclaim):
 * restoring and committing whole states, and reaping a child that was
 * killed or that must have exited cleanly.
 *
 * Header-only (static inline), like testutil.h: each suite is one
 * executable.
 */
#ifndef HELIOS_TESTS_KILL_UTIL_H
#define HELIOS_TESTS_KILL_UTIL_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>

#include "testutil.h"
#include "workers.h"

#define KMAXP 4           /* the arena's process slots */

/* Restores id into v and compares with want (read and zero-copy view). */
static inline bool restore_equals(hl_state *v, hl_id id,
				  const unsigned char *want, uint64_t size,
				  unsigned char *tmp)
{
	if (hl_restore(v, id) != 0 || hl_state_size(v) != size ||
	    hl_state_read(v, 0, tmp, size) != 0 || memcmp(tmp, want, size) != 0)
		return false;
	for (uint64_t off = 0; off < size;) {
		const void *p;
		size_t len;
		if (hl_state_view(v, off, &p, &len) != 0 || len == 0 ||
		    memcmp(p, want + off, len) != 0)
			return false;
		off += len;
	}
	return true;
}

/* Commits want from a fresh state (every chunk dirty). */
static inline int commit_fresh(hl_arena *a, const unsigned char *want,
			       uint64_t size, hl_id *id)
{
	hl_state *f;
	int rc = hl_state_new(a, &f);
	if (rc)
		return rc;
	if (!(rc = hl_state_resize(f, size)) &&
	    !(rc = hl_state_write(f, 0, want, size)))
		rc = hl_commit(f, id, NULL);
	hl_state_free(f);
	return rc;
}

/* Reaps a writer that was sent SIGKILL: it must have died of it, not of a
 * failure of its own first. */
static inline void reap_killed(pid_t pid, struct child_report *rep, int i)
{
	int st = 0;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		  "writer %d: %s %d before the kill (line %d, rc %s)", i,
		  WIFEXITED(st) ? "exit" : "signal",
		  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
		  atomic_load(&rep->line), hl_strerror(atomic_load(&rep->rc)));
}

static inline void reap_ok(pid_t pid, struct child_report *rep,
			   const char *what)
{
	int st = 0;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "%s: %s %d (line %d, rc %s)", what,
		  WIFEXITED(st) ? "exit" : "signal",
		  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
		  atomic_load(&rep->line), hl_strerror(atomic_load(&rep->rc)));
}

#endif /* HELIOS_TESTS_KILL_UTIL_H */
