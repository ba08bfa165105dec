/*
 * bench_exec.c - `helios bench`: the benchmark harness is its own program,
 * helios-bench (bench/), so that `helios` links no benchmark peer (LMDB,
 * RocksDB, Redis and PostgreSQL clients and what they pull in). This finds
 * it and replaces the process with it, passing the arguments through.
 *
 * Where it looks, first hit wins:
 *   1. $HELIOS_BENCH, when set (it must then be executable: no fallback, so
 *      a typo is an error and not a silent other binary);
 *   2. beside this program: <dir of /proc/self/exe>/helios-bench (installed);
 *   3. the build tree: <dir>/../bench/helios-bench (build/coordinator/helios
 *      next to build/bench/helios-bench);
 *   4. helios-bench on $PATH.
 * Missing everywhere: one message saying how to get it, exit 1.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coordinator.h"

#define BENCH_PROGRAM "helios-bench"

/* The directory of this program, into dir: false when it cannot be read. */
static bool self_dir(char *dir, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", dir, len - 1);
	if (n <= 0)
		return false;
	dir[n] = '\0';
	char *slash = strrchr(dir, '/');
	if (!slash)
		return false;
	*slash = '\0';
	return true;
}

/* The harness to run, into path; false when none is found. */
static bool find_bench(char *path, size_t len, char *dir, size_t dir_len)
{
	const char *env = getenv("HELIOS_BENCH");
	if (env && *env) {
		snprintf(path, len, "%s", env);
		return access(path, X_OK) == 0;
	}
	if (self_dir(dir, dir_len)) {
		static const char *const beside[] = {"/" BENCH_PROGRAM,
						     "/../bench/" BENCH_PROGRAM};
		for (size_t i = 0; i < sizeof beside / sizeof beside[0]; i++)
			if (snprintf(path, len, "%s%s", dir, beside[i]) < (int)len &&
			    access(path, X_OK) == 0)
				return true;
	}
	snprintf(path, len, "%s", BENCH_PROGRAM); /* execvp searches $PATH */
	return true;
}

int hl_cmd_bench(int argc, char **argv)
{
	char path[PATH_MAX], dir[PATH_MAX] = "";
	if (!find_bench(path, sizeof path, dir, sizeof dir)) {
		hl_say("bench: HELIOS_BENCH=%s is not an executable program", path);
		return HL_EXIT_FAILED;
	}
	char **args = calloc((size_t)argc + 1, sizeof *args);
	if (!args) {
		hl_say("bench: out of memory");
		return HL_EXIT_FAILED;
	}
	args[0] = path;
	for (int i = 1; i < argc; i++)
		args[i] = argv[i];
	fflush(NULL);
	execvp(path, args);
	int err = errno;
	free(args);
	if (err == ENOENT)
		hl_say("bench: the benchmark harness (%s) is not installed: it is "
		       "not beside this program (%s) nor on PATH; build it with "
		       "`ninja -C build bench/%s` or install it with `meson "
		       "install -C build`", BENCH_PROGRAM, dir[0] ? dir : "?",
		       BENCH_PROGRAM);
	else
		hl_say("bench: cannot run %s: %s", path, strerror(err));
	return HL_EXIT_FAILED;
}
