/*
 * coordinator_util.h - the harness of the suites that run `helios` end to
 * end (test_coordinator.c: runs and their supervision; test_cli.c: stop
 * signals, errors, arena reuse): starting coordinators, reading their
 * output, and looking at their arena from outside.
 *
 * Every coordinator runs in its own process group with its output in
 * temporary files read back afterwards, and with PR_SET_PDEATHSIG so that a
 * test that dies takes its coordinator (and through the coordinator's own
 * PDEATHSIG, its workers) with it; tc_fini, each suite's .fini, SIGKILLs
 * any group still standing, removes the files and unlinks the arenas.
 * Waits are polls with deadlines, not fixed sleeps.
 *
 * Header-only (static inline), like testutil.h: each suite is one
 * executable, and Criterion forks every test, so the tables below are
 * private to the test that fills them.
 */
#ifndef HELIOS_TESTS_COORDINATOR_UTIL_H
#define HELIOS_TESTS_COORDINATOR_UTIL_H


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

#define TC_WORKERS_MAX 16   /* worker indexes the scans track */
#define TC_PROCS_MAX 16     /* coordinators one test may start */
#define TC_FILES_MAX 48     /* temporary files one test may make */
#define TC_OUT_BYTES (1u << 18)
#define TC_ARGS_MAX 48


/* ---- processes and files, cleaned up in .fini ----------------------------- */

static pid_t tc_groups[TC_PROCS_MAX]; /* process groups we started */
static int tc_group_count;
static char tc_files[TC_FILES_MAX][128];
static int tc_file_count;

static inline void tc_fini(void)
{
	for (int i = 0; i < tc_group_count; i++) {
		pid_t g = tc_groups[i];
		kill(-g, SIGKILL);
		waitpid(g, NULL, 0); /* ECHILD at once if reaped already */
	}
	tc_group_count = 0;
	for (int i = 0; i < tc_file_count; i++)
		unlink(tc_files[i]);
	tc_file_count = 0;
	tu_unlink_all();
}

/* A fresh temporary path "/tmp/helios-tc-<pid>-<n>.<what>", removed in
 * .fini. */
static inline const char *tc_file(const char *what)
{
	cr_assert_lt(tc_file_count, TC_FILES_MAX, "too many temporary files");
	char *f = tc_files[tc_file_count];
	snprintf(f, sizeof tc_files[0], "/tmp/helios-tc-%d-%d.%s", (int)getpid(),
		 tc_file_count, what);
	tc_file_count++;
	unlink(f);
	return f;
}

static inline const char *tc_helios(void)
{
	static char path[PATH_MAX + 32];
	const char *bin = getenv("HELIOS_BIN");
	if (bin && *bin)
		return bin;
	/* run by hand from the build dir: tests/../coordinator/helios */
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	cr_assert_gt(n, 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(path, sizeof path, "%s/../coordinator/helios", exe);
	return path;
}

static inline const char *tc_self(void)
{
	static char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	cr_assert_gt(n, 0);
	exe[n] = '\0';
	return exe;
}

struct tc_proc {
	pid_t pid;          /* 0 once reaped */
	int status;         /* waitpid status once reaped */
	const char *out, *err;
	uint64_t start_ns, end_ns;
};

struct tc_spawn_opts {
	const char *env_name, *env_value; /* one extra variable, or NULL */
	rlim_t nofile;                    /* RLIMIT_NOFILE, 0: unchanged */
};

/* In the child: never returns. */
static inline _Noreturn void tc_child_exec(const struct tc_proc *p,
					   const struct tc_spawn_opts *o,
					   pid_t parent, char **argv)
{
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* the test dies: so does the run */
	if (getppid() != parent)
		_exit(120);
	int in = open("/dev/null", O_RDONLY);
	int out = open(p->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int err = open(p->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 ||
	    dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(121);
	close_range(3, ~0u, 0);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		signal(sigs[i], SIG_DFL);
	if (o && o->env_name)
		setenv(o->env_name, o->env_value, 1);
	if (o && o->nofile) {
		struct rlimit rl = {o->nofile, o->nofile};
		if (setrlimit(RLIMIT_NOFILE, &rl))
			_exit(122);
	}
	execv(argv[0], argv);
	_exit(123);
}

/* Starts `helios ARGS...` (NULL-terminated) with stdout and stderr going to
 * fresh temporary files. */
static inline void tc_start(struct tc_proc *p, const struct tc_spawn_opts *o,
			    ...)
{
	char *argv[TC_ARGS_MAX];
	int n = 0;
	argv[n++] = (char *)tc_helios();
	va_list ap;
	va_start(ap, o);
	for (char *s; (s = va_arg(ap, char *)) != NULL;) {
		cr_assert_lt(n, TC_ARGS_MAX - 1, "too many arguments");
		argv[n++] = s;
	}
	va_end(ap);
	argv[n] = NULL;
	cr_assert_lt(tc_group_count, TC_PROCS_MAX, "too many coordinators");
	memset(p, 0, sizeof *p);
	p->out = tc_file("out");
	p->err = tc_file("err");
	p->start_ns = tu_now_ns();
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0)
		tc_child_exec(p, o, parent, argv);
	setpgid(pid, pid); /* whichever of us runs first */
	p->pid = pid;
	tc_groups[tc_group_count++] = pid;
}

/* Reads a whole file into buf (NUL-terminated, truncated to len - 1). */
static inline char *tc_read(const char *path, char *buf, size_t len)
{
	buf[0] = '\0';
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return buf;
	size_t n = 0;
	while (n + 1 < len) {
		ssize_t r = read(fd, buf + n, len - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	close(fd);
	return buf;
}

static char tc_out_buf[TC_OUT_BYTES], tc_err_buf[TC_OUT_BYTES];

static inline const char *tc_stdout(const struct tc_proc *p)
{
	return tc_read(p->out, tc_out_buf, sizeof tc_out_buf);
}

static inline const char *tc_stderr(const struct tc_proc *p)
{
	return tc_read(p->err, tc_err_buf, sizeof tc_err_buf);
}

/* True while p runs (reaps it when it has ended). */
static inline bool tc_running(struct tc_proc *p)
{
	if (!p->pid)
		return false;
	int st;
	pid_t r = waitpid(p->pid, &st, WNOHANG);
	if (r == 0)
		return true;
	if (r == p->pid) {
		p->status = st;
		p->end_ns = tu_now_ns();
		p->pid = 0;
	}
	return false;
}

/* Waits up to timeout_s for p to end; fails the test (showing its output)
 * if it does not. Returns its waitpid status. */
static inline int tc_wait(struct tc_proc *p, double timeout_s)
{
	uint64_t deadline = tu_now_ns() + (uint64_t)(timeout_s * 1e9);
	while (tc_running(p)) {
		if (tu_now_ns() >= deadline)
			cr_assert_fail("helios did not exit within %.0f s\nstdout:\n%s\n"
				       "stderr:\n%s", timeout_s, tc_stdout(p),
				       tc_stderr(p));
		tu_sleep_us(10 * 1000);
	}
	return p->status;
}

/* Waits for p and asserts it exited (not killed) with `code`. */
static inline void tc_expect_exit(struct tc_proc *p, double timeout_s, int code)
{
	int st = tc_wait(p, timeout_s);
	cr_assert(WIFEXITED(st), "helios was killed by signal %d\nstdout:\n%s\n"
		  "stderr:\n%s", WIFSIGNALED(st) ? WTERMSIG(st) : 0, tc_stdout(p),
		  tc_stderr(p));
	cr_assert_eq(WEXITSTATUS(st), code,
		     "helios exited %d, expected %d\nstdout:\n%s\nstderr:\n%s",
		     WEXITSTATUS(st), code, tc_stdout(p), tc_stderr(p));
}

static inline double tc_elapsed_s(const struct tc_proc *p)
{
	return (double)(p->end_ns - p->start_ns) / 1e9;
}

#define tc_assert_has(text, needle, what)                                      \
	cr_assert_not_null(strstr((text), (needle)),                           \
			   "%s lacks \"%s\":\n%s", (what), (needle), (text))

/* Number of occurrences of needle in text. */
static inline unsigned tc_count(const char *text, const char *needle)
{
	unsigned n = 0;
	for (const char *t = text; (t = strstr(t, needle)) != NULL; t++)
		n++;
	return n;
}

/* ---- looking at the arena from outside ------------------------------------ */

/* The slots of an arena as a monitor sees them. */
struct tc_view {
	unsigned live, dead, live_workers, coordinators;
	pid_t dead_pid;                     /* of the dead slots, if one pid */
	bool dead_pids_differ;              /* dead slots of several pids */
	pid_t coordinator;                  /* pid of a live coordinator */
	pid_t worker_pid[TC_WORKERS_MAX];   /* live worker by index, 0: none */
	unsigned worker_seen[TC_WORKERS_MAX];
	hl_stats st;
};

/* One look at every slot of the max_processes, then the arena's counters. */
static inline void tc_scan_once(hl_arena *a, uint32_t slots, struct tc_view *v)
{
	memset(v, 0, sizeof *v);
	for (uint32_t i = 0; i < slots; i++) {
		hl_process_info p;
		if (hl_arena_process(a, i, &p))
			continue;
		if (p.state == HL_PROCESS_DEAD) {
			if (v->dead++ && v->dead_pid != (pid_t)p.pid)
				v->dead_pids_differ = true;
			v->dead_pid = (pid_t)p.pid;
		}
		if (p.state != HL_PROCESS_LIVE)
			continue;
		v->live++;
		if (p.role == HL_PROCESS_ROLE_COORDINATOR) {
			v->coordinators++;
			v->coordinator = (pid_t)p.pid;
		}
		if (p.role == HL_PROCESS_ROLE_WORKER) {
			v->live_workers++;
			if (p.worker < TC_WORKERS_MAX) {
				v->worker_pid[p.worker] = (pid_t)p.pid;
				v->worker_seen[p.worker]++;
			}
		}
	}
	hl_arena_stats(a, &v->st);
}

/* Attaches read-only and scans every slot; false if the arena cannot be
 * attached (yet). The slots and the counters are read at two moments, and
 * a slot can change between them (a killed worker's zombie reads dead
 * until its coordinator reaps and reclaims it, and a restart can follow
 * while a loaded machine holds this process between the reads): a view
 * whose counts disagree with its own slots is taken again, so a test
 * asserting on both sees one moment, and a disagreement that stays is
 * handed back as it is. */
static inline bool tc_scan(const char *name, struct tc_view *v)
{
	hl_arena *a;
	if (hl_arena_attach(name, HL_RDONLY, &a))
		return false;
	hl_stats st;
	hl_arena_stats(a, &st); /* max_processes: fixed at creation */
	for (int tries = 0; tries < 100; tries++) {
		tc_scan_once(a, st.max_processes, v);
		if (v->st.processes_dead == v->dead && v->st.processes == v->live)
			break;
		tu_sleep_us(1000);
	}
	hl_arena_close(a);
	return true;
}

/* Polls until workers 0..n-1 are each live exactly once (and no others);
 * fails the test after timeout_s. */
static inline void tc_wait_workers(const char *name, unsigned n,
				   struct tc_proc *p, double timeout_s,
				   struct tc_view *v)
{
	uint64_t deadline = tu_now_ns() + (uint64_t)(timeout_s * 1e9);
	for (;;) {
		if (tc_scan(name, v) && v->live_workers == n) {
			unsigned ok = 0;
			for (unsigned i = 0; i < n; i++)
				ok += v->worker_seen[i] == 1;
			if (ok == n)
				return;
		}
		cr_assert(tc_running(p), "helios ended before its workers came up"
			  "\nstdout:\n%s\nstderr:\n%s", tc_stdout(p), tc_stderr(p));
		cr_assert_lt(tu_now_ns(), deadline, "%u workers not live within "
			     "%.0f s (%u live)", n, timeout_s, v->live_workers);
		tu_sleep_us(20 * 1000);
	}
}

/* Waits until pid, a worker of p's killed by the test, is gone: reaped
 * by its coordinator (kill(pid, 0) answers ESRCH), or p has ended. Until then its slot
 * may still read LIVE - a process killed is not dead until its exit has
 * run, which for a large address space (ASan's) takes a while - and a
 * view taken meanwhile would offer it as a victim again. */
static inline void tc_wait_gone(pid_t pid, struct tc_proc *p, double timeout_s)
{
	uint64_t deadline = tu_now_ns() + (uint64_t)(timeout_s * 1e9);
	while ((kill(pid, 0) == 0 || errno != ESRCH) && tc_running(p)) {
		cr_assert_lt(tu_now_ns(), deadline, "worker %d not reaped within %.0f s",
			     (int)pid, timeout_s);
		tu_sleep_us(5 * 1000);
	}
}

static inline hl_arena *tc_attach_ro(const char *name)
{
	hl_arena *a = NULL;
	int rc = hl_arena_attach(name, HL_RDONLY, &a);
	cr_assert_eq(rc, 0, "attach %s read-only: %s", name, hl_strerror(rc));
	return a;
}

static inline uint64_t tc_commits(hl_arena *a)
{
	hl_stats st;
	cr_assert_eq(hl_arena_stats(a, &st), 0);
	return st.commits;
}

#endif /* HELIOS_TESTS_COORDINATOR_UTIL_H */
