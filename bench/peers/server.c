/*
 * server.c - the server processes peers run (redis-server, initdb,
 * postgres): started as our children with execv (never a shell), watched
 * through a pidfd, stopped by escalating signals, and the line of their
 * log that says why they failed. One copy for every peer, so each peer
 * keeps only what is its own: its arguments, its readiness check and its
 * choice of signals.
 *
 * Invariants:
 *  1. No child outlives the harness. The child sets PR_SET_PDEATHSIG
 *     before exec, then checks that its parent is still the one that forked
 *     it: a harness that died before the prctl would never send the signal,
 *     so the child exits itself. Callers end every started process with
 *     hl_server_stop (its last step SIGKILL) or hl_server_reap.
 *  2. Every wait is bounded. hl_server_reap polls the pidfd up to a
 *     deadline and waits only on a process that has exited; hl_server_stop
 *     is its steps' timeouts at most; hl_server_start's read of the report
 *     pipe returns at the exec (close-on-exec closes it) or at the child's
 *     report, after which the child only _exits.
 *  3. The server starts clean: an empty signal mask and default
 *     dispositions (an inherited ignored SIGTERM or SIGINT would make every
 *     stop escalate to SIGKILL), /dev/null on stdin, its log on stdout and
 *     stderr, and no other descriptor of ours (a server holding one of our
 *     pipes or arena files would keep them alive past us).
 *  4. The privilege drop order, for a server that refuses root
 *     (PostgreSQL): setgroups(0), setgid, setuid - groups first, while we
 *     still may change them - then PR_SET_PDEATHSIG, because the kernel
 *     clears the parent-death signal on any change of effective user or
 *     group: set before setuid it would be silently lost. Then chdir, as
 *     the new user, so a directory that user cannot enter is reported as
 *     such rather than found by the server.
 *  5. A child that cannot reach exec says why: {stage, errno} through a
 *     close-on-exec pipe that reads empty at a successful exec. Between
 *     fork and exec the child makes async-signal-safe calls only.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "server.h"

/* How far a child got before it failed (invariant 5). */
enum hl_server_stage {
	HL_SERVER_STAGE_IO = 1,
	HL_SERVER_STAGE_USER,
	HL_SERVER_STAGE_CWD,
	HL_SERVER_STAGE_EXEC,
};

struct hl_server_fail {
	int stage;
	int err;
};

void hl_server_sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000u),
			      (long)(ns % 1000000000u)};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void hl_server_describe_exit(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
}

void hl_server_log_line(const char *path, const char *const *marks,
			char *buf, size_t len)
{
	char tail[4096];
	snprintf(buf, len, "(empty log)");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	ssize_t n = 0;
	if (fstat(fd, &st) == 0) {
		off_t from = st.st_size > (off_t)sizeof tail - 1
			     ? st.st_size - (off_t)sizeof tail + 1 : 0;
		n = pread(fd, tail, sizeof tail - 1, from);
	}
	close(fd);
	if (n <= 0)
		return;
	tail[n] = '\0';
	const char *last = NULL, *why = NULL;
	for (char *save, *line = strtok_r(tail, "\r\n", &save); line;
	     line = strtok_r(NULL, "\r\n", &save)) {
		last = line;
		for (size_t i = 0; marks && marks[i]; i++) {
			const char *m = strstr(line, marks[i]);
			if (m)
				why = m;
		}
	}
	if (!last)
		return;
	if (why)
		last = why;
	size_t keep = strlen(last) < len ? strlen(last) : len - 1;
	memcpy(buf, last, keep); /* the end of a long line is cut off */
	buf[keep] = '\0';
}

/* In the child, between fork and exec: invariants 3, 4 and 5. */
static _Noreturn void hl_server_exec(const struct hl_server_spawn *s,
				     int log_fd, int report, pid_t parent)
{
	struct hl_server_fail f = {HL_SERVER_STAGE_IO, 0};
	sigset_t none;
	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL); /* SIG_IGN would survive exec */
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* a harness started with 0, 1 or 2 closed may have been given one of
	 * them for these: move them out of the way of the dup2s below */
	if (report < 3)
		report = fcntl(report, F_DUPFD_CLOEXEC, 3);
	if (log_fd < 3)
		log_fd = fcntl(log_fd, F_DUPFD_CLOEXEC, 3);
	int null_fd = open("/dev/null", O_RDONLY);
	if (report < 0 || log_fd < 0 || null_fd < 0 || dup2(null_fd, 0) < 0 ||
	    dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
		goto out_report;
	/* report is close-on-exec; everything else of ours is closed now */
	if (report > 3)
		close_range(3, (unsigned)report - 1, 0);
	close_range((unsigned)report + 1, ~0u, 0);
	f.stage = HL_SERVER_STAGE_USER;
	if (s->uid != (uid_t)-1 &&
	    (setgroups(0, NULL) || setgid(s->gid) || setuid(s->uid)))
		goto out_report;
	/* after the change of user, which clears the parent-death signal */
	prctl(PR_SET_PDEATHSIG, s->death_sig);
	if (getppid() != parent)
		_exit(127); /* the harness is gone already */
	f.stage = HL_SERVER_STAGE_CWD;
	if (s->cwd && chdir(s->cwd))
		goto out_report;
	f.stage = HL_SERVER_STAGE_EXEC;
	execv(s->argv[0], s->argv);
out_report:
	f.err = errno;
	ssize_t unused = write(report, &f, sizeof f);
	(void)unused;
	_exit(127);
}

/* Why the child did not reach exec, as one line. */
static void hl_server_start_error(const struct hl_server_spawn *s,
				  const struct hl_server_fail *f, char *err,
				  size_t len)
{
	const char *base = strrchr(s->argv[0], '/');
	base = base ? base + 1 : s->argv[0];
	switch (f->stage) {
	case HL_SERVER_STAGE_USER:
		snprintf(err, len, "%s: cannot become user %s for %s: %s",
			 s->name, s->user, base, strerror(f->err));
		break;
	case HL_SERVER_STAGE_CWD:
		if (s->uid != (uid_t)-1)
			snprintf(err, len, "%s: user %s cannot enter %s: %s "
				 "(every parent directory needs o+x)", s->name,
				 s->user, s->cwd, strerror(f->err));
		else
			snprintf(err, len, "%s: cannot enter %s: %s", s->name,
				 s->cwd, strerror(f->err));
		break;
	case HL_SERVER_STAGE_EXEC:
		snprintf(err, len, "%s: cannot run %s: %s", s->name,
			 s->argv[0], strerror(f->err));
		break;
	default:
		snprintf(err, len, "%s: cannot set up %s's output: %s",
			 s->name, base, strerror(f->err));
	}
}

int hl_server_start(const struct hl_server_spawn *s,
		    struct hl_server_proc *proc, char *err, size_t len)
{
	int log_fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			  s->log_mode);
	if (log_fd < 0) {
		snprintf(err, len, "%s: cannot create %s: %s", s->name, s->log,
			 strerror(errno));
		return -1;
	}
	int report[2];
	if (pipe2(report, O_CLOEXEC)) {
		snprintf(err, len, "%s: pipe: %s", s->name, strerror(errno));
		goto out_close_log;
	}
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, len, "%s: fork: %s", s->name, strerror(errno));
		goto out_close_pipe;
	}
	if (pid == 0)
		hl_server_exec(s, log_fd, report[1], parent);
	close(report[1]);
	report[1] = -1;
	struct hl_server_fail f;
	ssize_t n;
	do /* returns 0 at exec: the pipe closes on it */
		n = read(report[0], &f, sizeof f);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof f) {
		waitpid(pid, NULL, 0); /* it _exits right after writing */
		hl_server_start_error(s, &f, err, len);
		goto out_close_pipe;
	}
	proc->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (proc->pidfd < 0) {
		snprintf(err, len, "%s: pidfd_open: %s", s->name,
			 strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		goto out_close_pipe;
	}
	proc->pid = pid;
	close(report[0]);
	close(log_fd);
	return 0;

out_close_pipe:
	close(report[0]);
	if (report[1] >= 0)
		close(report[1]);
out_close_log:
	close(log_fd);
	return -1;
}

int hl_server_reap(struct hl_server_proc *proc, uint64_t timeout_ns,
		   int *status)
{
	struct pollfd p = {.fd = proc->pidfd, .events = POLLIN};
	uint64_t deadline = hl_peer_now_ns() + timeout_ns;
	for (;;) {
		uint64_t now = hl_peer_now_ns();
		int ms = now >= deadline ? 0
			 : (int)((deadline - now + 999999u) / 1000000u);
		int r = poll(&p, 1, ms);
		if (r > 0)
			break;
		if (r == 0 || errno != EINTR)
			return 0;
	}
	int st = 0;
	pid_t r;
	do
		r = waitpid(proc->pid, &st, 0);
	while (r < 0 && errno == EINTR);
	/* ECHILD: SIGCHLD ignored by the harness, the kernel reaped it */
	*status = r == proc->pid ? st : 0;
	close(proc->pidfd);
	proc->pidfd = -1;
	proc->pid = 0;
	return 1;
}

int hl_server_stop(struct hl_server_proc *proc,
		   const struct hl_server_stop_step *steps, size_t count)
{
	int status;
	for (size_t i = 0; proc->pid && i < count; i++) {
		kill(proc->pid, steps[i].sig);
		if (hl_server_reap(proc, steps[i].timeout_ns, &status))
			return 0;
	}
	return proc->pid ? -1 : 0;
}
