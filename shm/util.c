/*
 * util.c - small things every module needs: clocks, process identity, the
 * assertion and checker failure paths.
 *
 * Process identity: a pid alone does not name a process for long (pids are
 * recycled), so a slot records the owner's start time too, read from
 * /proc/PID/stat field 22 (clock ticks since boot). A pid recycled within
 * the same tick (10 ms) would share it: the dead owner then looks alive
 * while the new process lives, so its slot is reclaimed late - a bounded
 * delay, never two owners of one slot.
 *
 * Liveness is judged on positive proof only (hl_proc_identity): a process
 * is GONE when kill(pid, 0) answers ESRCH or its whole thread group has
 * exited (a zombie leader with no thread left). A leader that called
 * pthread_exit is a zombie in /proc while its other threads run: that
 * process is alive. Anything that stops us reading /proc (a full fd table,
 * a hidepid mount, another pid namespace) is UNKNOWN, which every caller
 * takes as alive: wrongly judging a live process dead hands its slot to a
 * second owner and corrupts the index, while wrongly judging a dead one
 * alive only delays reclaiming its slot.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"

uint64_t hl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Reads /proc/PID/stat into buf (NUL-terminated): 0, or -1 when it cannot
 * be read (no such entry, a full fd table, hidepid, another namespace). No
 * stdio: fopen allocates, and this runs on every liveness check. */
static int read_proc_stat(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	do
		n = read(fd, buf, len - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/*
 * Field 2 (comm) may hold spaces and parentheses: parse from the last ')'.
 * After it come field 3 (state), ..., 20 (num_threads), ..., 22 (start
 * time). A leader whose thread called pthread_exit shows state Z while the
 * group's other threads run: the group is gone only when the leader is a
 * zombie (or dead) and no other thread is left (num_threads <= 1).
 */
enum hl_proc_state hl_proc_identity(pid_t pid, uint64_t *start_time)
{
	char buf[1024], state;
	unsigned long long threads = 0, start = 0;
	char *p, *end;

	if (pid <= 0)
		return HL_PROC_UNKNOWN;
	if (kill(pid, 0) != 0 && errno == ESRCH)
		return HL_PROC_GONE;
	if (read_proc_stat(pid, buf, sizeof buf) != 0)
		return HL_PROC_UNKNOWN;
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return HL_PROC_UNKNOWN;
	state = p[2];
	p += 2; /* at field 3 */
	for (int field = 3; field < 22; field++) {
		if (field == 20)
			threads = strtoull(p, NULL, 10);
		p = strchr(p, ' ');
		if (!p)
			return HL_PROC_UNKNOWN;
		p++;
	}
	errno = 0;
	start = strtoull(p, &end, 10);
	if (end == p || errno || start == 0)
		return HL_PROC_UNKNOWN;
	if ((state == 'Z' || state == 'X') && threads <= 1)
		return HL_PROC_GONE;
	*start_time = start;
	return HL_PROC_RUNNING;
}

uint64_t hl_proc_start_time(pid_t pid)
{
	uint64_t start = 0;
	return hl_proc_identity(pid, &start) == HL_PROC_RUNNING ? start : 0;
}

_Noreturn void hl_assert_fail(const char *expr, const char *file, int line,
			      const char *func)
{
	fprintf(stderr, "helios: assertion failed: %s (%s:%d, %s)\n", expr, file,
		line, func);
	abort();
}

int hl_check_fail(char *msg, size_t msg_len, const char *fmt, ...)
{
	if (msg && msg_len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, msg_len, fmt, ap);
		va_end(ap);
	}
	return HL_ECORRUPT;
}
