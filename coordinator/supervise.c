/*
 * supervise.c - the coordinator's worker supervisor: spawning workers,
 * noticing at once when one dies, reclaiming what it held, and restarting
 * it (or not) by policy.
 *
 * Each worker is a child process watched through a pidfd: the event loop
 * (run.c) polls the pidfds, so a death is seen the moment it happens, with
 * no SIGCHLD races and no pid reuse (a pidfd names one process forever).
 * A worker that hangs is found by its slot's heartbeat (hl_commit and
 * hl_arena_heartbeat refresh it) and killed.
 *
 * State machine of a worker (function making each transition):
 *
 *   IDLE --hl_sup_spawn--> RUNNING --hl_sup_reap--> DONE     (exit 0)
 *                             |                  \-> BACKOFF  (failure, may restart)
 *                             |                  \-> FAILED   (failure, no restart left)
 *   BACKOFF --hl_sup_tick (restart_at reached)--> RUNNING
 *   RUNNING --hl_sup_tick (heartbeat older than hang timeout)--> killed,
 *            then reaped like any death
 *
 * Invariants:
 *  1. A worker's slot is reclaimed only after the worker is reaped
 *     (waitpid), so its pid no longer exists and nobody else can own the
 *     slot under that pid: reclaiming never frees a live process's slot.
 *  2. Restarts back off exponentially (HL_RESTART_BACKOFF_MIN_NS doubling
 *     to _MAX) and a worker that stayed up HL_RESTART_STABLE_NS resets its
 *     backoff; at most max_restarts restarts per worker.
 *  3. Workers are started with the coordinator's signal mask cleared and
 *     PR_SET_PDEATHSIG = SIGTERM, so they stop when the coordinator dies
 *     instead of running orphaned against an arena nobody supervises.
 *  4. A worker that ignores that SIGTERM still ends: the watchdog (below)
 *     gives it the grace, then SIGKILL, also when the coordinator is gone.
 *  5. A worker that exits HL_WORKER_EXIT_FULL found the arena full: it is
 *     FAILED at once, never restarted into the same full arena (sup->full).
 *  6. Pinned workers are told the CPUs no worker is pinned to
 *     (HELIOS_PAGE_HELPER_CPUS, possibly empty), so that a worker's page
 *     helper thread (shm/ahead.c) runs only where it preempts no other
 *     worker: on two cores with two workers there is none, and each helper
 *     preempting the other worker's commits cut 2-worker W1 throughput
 *     from 1.91x to 1.51x one worker on one core.
 *
 * The watchdog. PR_SET_PDEATHSIG can send only one signal, and a SIGKILL
 * there would give workers no grace to finish a commit; so the first spawn
 * forks one small watchdog process that outlives the coordinator:
 *
 *   - it leads a process group of its own, and every worker joins it
 *     (setpgid in both parent and child, whichever runs first); a process
 *     group's id cannot be reused while its leader lives, so killpg from
 *     the watchdog reaches this run's workers and nothing else, with no
 *     pid-reuse race, and needs no list of pids;
 *   - it blocks on the read end of a pipe whose only writer is the
 *     coordinator (close-on-exec, closed in every other child). The
 *     coordinator writes 'q' and closes it when it has reaped every worker
 *     (hl_sup_fini): the watchdog exits. EOF without 'q' means the
 *     coordinator died (any signal, SIGKILL included): SIGTERM to the
 *     group, the grace (sup->grace_ns, copied at fork), then SIGKILL to the
 *     group - the watchdog's own last act, as it is in the group too.
 *
 * Workers outside the coordinator's process group also means the terminal's
 * Ctrl-C reaches the coordinator alone, which then stops them in order
 * (SIGTERM, grace, SIGKILL) rather than all at once. A worker command that
 * leaves the group itself (setsid) leaves the watchdog's reach too; the
 * PDEATHSIG still reaches it.
 *
 * Watchdog states (function making each transition):
 *   NONE --hl_sup_spawn (first)--> WATCHING --hl_sup_fini ('q', close)--> gone
 *   WATCHING --coordinator death (EOF)--> TERM sent --grace--> KILL (gone)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kit.h"
#include "shm.h"
#include "workloads.h"

#define HL_RESTART_BACKOFF_MIN_NS (100ull * 1000 * 1000)
#define HL_RESTART_BACKOFF_MAX_NS (5ull * 1000 * 1000 * 1000)
#define HL_RESTART_STABLE_NS (10ull * 1000 * 1000 * 1000)

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* In the child, between fork and exec: never returns. */
static _Noreturn void exec_worker(const struct hl_sup *sup, unsigned i,
				  pid_t parent)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL); /* invariant 3 */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(HL_WORKER_EXIT_ORPHAN); /* the coordinator died already */
	if (sup->watchdog)
		setpgid(0, sup->watchdog); /* invariant 4 */
	/* pinned before exec, so the worker's first hl_numa_local_node (at
	 * attach) already sees its final core and its slabs land on its node */
	if (sup->topo && sup->place &&
	    hl_placement_bind(sup->topo, getpid(), &sup->place[i]))
		fprintf(stderr, "helios: worker %u: cannot pin to its core: %s; "
			"running unpinned\n", i, strerror(errno));
	char index[16];
	snprintf(index, sizeof index, "%u", i);
	setenv("HELIOS_ARENA", sup->arena_name, 1);
	setenv("HELIOS_WORKER", index, 1);
	if (sup->helper_cpus_made) /* invariant 6 */
		setenv("HELIOS_PAGE_HELPER_CPUS", sup->helper_cpus, 1);
	execvp(sup->argv[0], sup->argv);
	fprintf(stderr, "helios: worker %u: cannot run %s: %s\n", i,
		sup->argv[0], strerror(errno));
	_exit(HL_WORKER_EXIT_EXEC);
}

/* A worker that cannot be started has failed for good, like one whose
 * command cannot run: the run ends with exit 1, never 0. */
static int spawn_failed(struct hl_sup *sup, struct hl_worker *w,
			const char *what, int err)
{
	hl_say("worker %u: cannot start: %s: %s", w->index, what, strerror(err));
	w->state = HL_W_FAILED;
	w->pid = 0;
	sup->failed++;
	return HL_EIO;
}

/* The watchdog's body (the file comment): never returns. */
static _Noreturn void watchdog_main(int rfd, uint64_t grace_ns)
{
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL); /* the group's SIGTERM is not for us */
	close_range(3, (unsigned)rfd - 1, 0);
	close_range((unsigned)rfd + 1, ~0u, 0);
	char c = 0;
	ssize_t n;
	do
		n = read(rfd, &c, 1);
	while ((n < 0 && errno == EINTR) || (n == 1 && c != 'q'));
	if (n == 1)
		_exit(0); /* the coordinator reaped its workers */
	killpg(getpid(), SIGTERM);
	struct timespec ts = {(time_t)(grace_ns / 1000000000u),
			      (long)(grace_ns % 1000000000u)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	killpg(getpid(), SIGKILL);
	_exit(0);
}

/* Starts the watchdog; without one (fork failed) workers still get the
 * PDEATHSIG, so this is said and the run goes on. */
static void watchdog_start(struct hl_sup *sup)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0) {
		hl_say("cannot start the workers' watchdog: %s", strerror(errno));
		return;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		close(p[1]);
		watchdog_main(p[0], sup->grace_ns);
	}
	close(p[0]);
	if (pid < 0) {
		hl_say("cannot start the workers' watchdog: %s", strerror(errno));
		close(p[1]);
		return;
	}
	setpgid(pid, pid); /* whichever of us runs first */
	sup->watchdog = pid;
	sup->watchdog_fd = p[1];
}

static void watchdog_stop(struct hl_sup *sup)
{
	if (!sup->watchdog)
		return;
	if (write(sup->watchdog_fd, "q", 1) != 1)
		kill(sup->watchdog, SIGKILL);
	close(sup->watchdog_fd);
	waitpid(sup->watchdog, NULL, 0);
	sup->watchdog = 0;
	sup->watchdog_fd = -1;
}

/* sup->helper_cpus: the allowed CPUs minus every worker's placement, when
 * the workers are pinned (invariant 6). Left unmade when they are not, or
 * the list does not fit: the workers then decide alone (shm/ahead.c). */
static void make_helper_cpus(struct hl_sup *sup)
{
	sup->helper_cpus_tried = true;
	if (!sup->topo || !sup->place)
		return;
	hwloc_bitmap_t free_set =
		hwloc_bitmap_dup(hwloc_topology_get_allowed_cpuset(sup->topo));
	if (!free_set)
		return;
	for (unsigned j = 0; j < sup->n; j++)
		if (sup->place[j].cpuset)
			hwloc_bitmap_andnot(free_set, free_set, sup->place[j].cpuset);
	int len = hwloc_bitmap_iszero(free_set)
			  ? snprintf(sup->helper_cpus, sizeof sup->helper_cpus, "%s", "")
			  : hwloc_bitmap_list_snprintf(sup->helper_cpus,
						       sizeof sup->helper_cpus, free_set);
	sup->helper_cpus_made = len >= 0 && (size_t)len < sizeof sup->helper_cpus;
	hwloc_bitmap_free(free_set);
}

int hl_sup_spawn(struct hl_sup *sup, unsigned i)
{
	struct hl_worker *w = &sup->w[i];
	pid_t parent = getpid();
	if (!sup->watchdog)
		watchdog_start(sup);
	if (!sup->helper_cpus_tried)
		make_helper_cpus(sup);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return spawn_failed(sup, w, "fork", errno);
	if (pid == 0)
		exec_worker(sup, i, parent);
	if (sup->watchdog)
		setpgid(pid, sup->watchdog); /* whichever of us runs first */
	w->pidfd = pidfd_open_(pid);
	if (w->pidfd < 0) {
		int err = errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return spawn_failed(sup, w, "pidfd_open", err);
	}
	w->pid = pid;
	w->state = HL_W_RUNNING;
	w->started_ns = hl_now_ns();
	w->starts++;
	return 0;
}

static void describe_status(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by SIG%s", sigabbrev_np(WTERMSIG(status))
				   ? sigabbrev_np(WTERMSIG(status)) : "?");
	else if (WEXITSTATUS(status) == HL_WORKER_EXIT_EXEC)
		snprintf(buf, len, "could not start its command");
	else if (WEXITSTATUS(status) == HL_WORKER_EXIT_FULL)
		snprintf(buf, len, "found the arena full");
	else
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
}

static uint64_t backoff_ns(const struct hl_worker *w)
{
	uint64_t b = HL_RESTART_BACKOFF_MIN_NS;
	for (unsigned k = 1; k < w->backoff_level && b < HL_RESTART_BACKOFF_MAX_NS; k++)
		b *= 2;
	return b < HL_RESTART_BACKOFF_MAX_NS ? b : HL_RESTART_BACKOFF_MAX_NS;
}

/* Decides what follows a failure (invariant 2). */
static void after_failure(struct hl_sup *sup, struct hl_worker *w,
			  const char *why, uint64_t now)
{
	bool exec_failed = w->last_status_exec;
	bool full = WIFEXITED(w->last_status) &&
		    WEXITSTATUS(w->last_status) == HL_WORKER_EXIT_FULL;
	if (now - w->started_ns >= HL_RESTART_STABLE_NS)
		w->backoff_level = 0;
	sup->full += full; /* invariant 5 */
	if (sup->restart && !exec_failed && !full &&
	    w->restarts < sup->max_restarts && !sup->stopping) {
		w->backoff_level++;
		w->state = HL_W_BACKOFF;
		w->restart_at_ns = now + backoff_ns(w);
		/* counted by hl_sup_tick once it happens: a stop during the
		 * backoff cancels it */
		hl_say("worker %u (pid %d) %s; restarting in %.1f s (restart %u of %u)",
		       w->index, (int)w->pid, why,
		       (double)(w->restart_at_ns - now) / 1e9, w->restarts + 1,
		       sup->max_restarts);
		return;
	}
	w->state = HL_W_FAILED;
	sup->failed++;
	if (!sup->stopping)
		hl_say("worker %u (pid %d) %s; %s", w->index, (int)w->pid, why,
		       exec_failed ? "not restarting: its command cannot run"
		       : full ? "not restarting: it would find the arena full again"
		       : sup->restart ? "no restarts left" : "restart policy is never");
}

void hl_sup_reap(struct hl_sup *sup, unsigned i)
{
	struct hl_worker *w = &sup->w[i];
	int status;
	if (waitpid(w->pid, &status, WNOHANG) != w->pid)
		return; /* not dead yet */
	close(w->pidfd);
	w->pidfd = -1;
	w->last_status = status;
	w->last_status_exec = WIFEXITED(status) &&
			      WEXITSTATUS(status) == HL_WORKER_EXIT_EXEC;
	sup->reclaimed += hl_slots_reclaim_dead(sup->a, w->pid); /* invariant 1 */
	uint64_t now = hl_now_ns();
	bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	/* a worker we asked to stop (SIGTERM) and that obeyed is clean too */
	bool asked = sup->stopping && WIFSIGNALED(status) &&
		     (WTERMSIG(status) == SIGTERM || WTERMSIG(status) == SIGKILL);
	if (clean || asked) {
		w->state = HL_W_DONE;
	} else {
		char why[96];
		describe_status(status, why, sizeof why);
		sup->deaths++;
		after_failure(sup, w, why, now);
	}
	w->pid = 0;
}

/* The heartbeat age of the slot the worker holds, or 0 if it holds none
 * yet (still starting) - a worker is judged hung only once attached. */
static uint64_t heartbeat_age(const struct hl_sup *sup, pid_t pid, uint64_t now)
{
	int i = hl_slot_find(sup->a, pid, 0);
	return i < 0 ? 0 : hl_slot_heartbeat_age_ns(sup->a, (uint32_t)i, now);
}

int hl_sup_tick(struct hl_sup *sup)
{
	uint64_t now = hl_now_ns();
	for (unsigned i = 0; i < sup->n; i++) {
		struct hl_worker *w = &sup->w[i];
		if (w->state == HL_W_BACKOFF && now >= w->restart_at_ns &&
		    !sup->stopping) {
			int rc = hl_sup_spawn(sup, i);
			if (rc)
				return rc;
			w->restarts++;
		} else if (w->state == HL_W_RUNNING && sup->hang_timeout_ns &&
			   heartbeat_age(sup, w->pid, now) > sup->hang_timeout_ns) {
			hl_say("worker %u (pid %d) sent no heartbeat for %.1f s: "
			       "killing it", i, (int)w->pid,
			       (double)sup->hang_timeout_ns / 1e9);
			kill(w->pid, SIGKILL); /* reaped through its pidfd */
		}
	}
	return 0;
}

/* Earliest pending restart, or UINT64_MAX. */
uint64_t hl_sup_next_event_ns(const struct hl_sup *sup)
{
	uint64_t t = UINT64_MAX;
	for (unsigned i = 0; i < sup->n; i++)
		if (sup->w[i].state == HL_W_BACKOFF && sup->w[i].restart_at_ns < t)
			t = sup->w[i].restart_at_ns;
	return t;
}

unsigned hl_sup_count(const struct hl_sup *sup, enum hl_worker_state st)
{
	unsigned n = 0;
	for (unsigned i = 0; i < sup->n; i++)
		n += sup->w[i].state == st;
	return n;
}

void hl_sup_signal_all(struct hl_sup *sup, int sig)
{
	for (unsigned i = 0; i < sup->n; i++)
		if (sup->w[i].state == HL_W_RUNNING)
			kill(sup->w[i].pid, sig);
}

/* Stops every worker: SIGTERM, up to grace_ns for them to exit, then
 * SIGKILL; reaps and reclaims them all. */
void hl_sup_stop(struct hl_sup *sup, uint64_t grace_ns)
{
	sup->stopping = true;
	for (unsigned i = 0; i < sup->n; i++)
		if (sup->w[i].state == HL_W_BACKOFF)
			sup->w[i].state = HL_W_DONE;
	hl_sup_signal_all(sup, SIGTERM);
	uint64_t deadline = hl_now_ns() + grace_ns;
	while (hl_sup_count(sup, HL_W_RUNNING) && hl_now_ns() < deadline) {
		hl_sup_wait(sup, -1, 10);
	}
	if (hl_sup_count(sup, HL_W_RUNNING)) {
		hl_say("%u worker(s) did not stop within the grace period: killing",
		       hl_sup_count(sup, HL_W_RUNNING));
		hl_sup_signal_all(sup, SIGKILL);
		while (hl_sup_count(sup, HL_W_RUNNING))
			hl_sup_wait(sup, -1, 100);
	}
}

bool hl_sup_wait(struct hl_sup *sup, int extra_fd, int timeout_ms)
{
	struct pollfd fds[HL_SUP_WORKERS_MAX + 1];
	unsigned idx[HL_SUP_WORKERS_MAX], n = 0;
	for (unsigned i = 0; i < sup->n; i++) {
		if (sup->w[i].state != HL_W_RUNNING)
			continue;
		fds[n] = (struct pollfd){.fd = sup->w[i].pidfd, .events = POLLIN};
		idx[n++] = i;
	}
	fds[n] = (struct pollfd){.fd = extra_fd, .events = POLLIN};
	if (poll(fds, n + 1, timeout_ms) <= 0)
		return false;
	for (unsigned k = 0; k < n; k++)
		if (fds[k].revents)
			hl_sup_reap(sup, idx[k]);
	return fds[n].revents != 0;
}

int hl_sup_init(struct hl_sup *sup, unsigned n)
{
	if (n == 0 || n > HL_SUP_WORKERS_MAX)
		return HL_EINVAL;
	sup->w = calloc(n, sizeof *sup->w);
	if (!sup->w)
		return HL_ENOMEM;
	sup->n = n;
	for (unsigned i = 0; i < n; i++) {
		sup->w[i].index = i;
		sup->w[i].pidfd = -1;
	}
	sup->grace_ns = HL_SUP_GRACE_DEFAULT_NS;
	sup->watchdog = 0;
	sup->watchdog_fd = -1;
	return 0;
}

void hl_sup_fini(struct hl_sup *sup)
{
	watchdog_stop(sup);
	free(sup->w);
	sup->w = NULL;
}

unsigned hl_sup_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}
