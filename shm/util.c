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
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shm.h"

uint64_t hl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Field 2 (comm) may hold spaces and parentheses: parse from the last ')'. */
uint64_t hl_proc_start_time(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	/* after ')' come fields 3.. ; start time is field 22 */
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return 0;
	}
	/* a zombie still has its stat; it is dead for our purposes */
	const char *state = strrchr(buf, ')') + 2;
	if (*state == 'Z' || *state == 'X')
		return 0;
	return strtoull(p + 1, NULL, 10);
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
