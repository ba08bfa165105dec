/*
 * server.h - a peer's server process: started as our child, watched through
 * a pidfd, stopped by escalating signals (server.c). For the peers that run
 * a server of their own (redis.c, postgresql.c); needs no client library.
 *
 * The life of one process (function making each transition):
 *
 *   none --hl_server_start--> running --hl_server_reap--> reaped
 *                             running --hl_server_stop--> reaped
 */
#ifndef HL_BENCH_SERVER_H
#define HL_BENCH_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* How to start one server process. */
struct hl_server_spawn {
	const char *name;      /* starts every error message: "redis: ..." */
	char *const *argv;     /* argv[0]: a path (execv, no PATH search) */
	const char *log;       /* stdout and stderr, appended */
	mode_t log_mode;       /* the log's mode if this creates it */
	const char *cwd;       /* entered as the server's user; NULL: ours */
	int death_sig;         /* PR_SET_PDEATHSIG: what it gets if we die */
	uid_t uid;             /* (uid_t)-1: runs as we do; else the user */
	gid_t gid;             /*   and group it becomes (setgroups(0) too) */
	const char *user;      /* uid's name, for messages; NULL with -1 */
};

struct hl_server_proc {
	pid_t pid;             /* 0: not started, or reaped */
	int pidfd;             /* names the child without pid-reuse races */
};

#define HL_SERVER_PROC_INIT {0, -1}

/* One step of a stop: send sig, then wait up to timeout_ns for the exit.
 * sig 0 (kill's null signal) sends nothing: the step only waits, for a
 * server already told to stop some other way. */
struct hl_server_stop_step {
	int sig;
	uint64_t timeout_ns;
};

/* Forks and execs s->argv[0] (none -> running). 0 once the exec has
 * happened; -1 with err filled ("<name>: ...") when it could not start,
 * the child then already reaped and *proc untouched. */
int hl_server_start(const struct hl_server_spawn *s,
		    struct hl_server_proc *proc, char *err, size_t len);

/* 1 when the process has exited within timeout_ns (and is now reaped, its
 * wait status in *status), 0 while it still runs. */
int hl_server_reap(struct hl_server_proc *proc, uint64_t timeout_ns,
		   int *status);

/* Runs the steps in order until the process is reaped (running ->
 * reaped); 0 at once if it is not running. -1 when it outlived every step:
 * proc->pid then still names it, for the caller's message. */
int hl_server_stop(struct hl_server_proc *proc,
		   const struct hl_server_stop_step *steps, size_t count);

/* The line of a log that says why a server stopped, for an error message:
 * the last line holding one of marks (NULL-terminated; NULL for none), from
 * the mark on; else the last non-empty line; "(empty log)" when there is
 * none. Only the log's last 4 KiB are read; a long line is cut to len. */
void hl_server_log_line(const char *path, const char *const *marks,
			char *buf, size_t len);

/* "exit status N" or "killed by signal N", from a wait status. */
void hl_server_describe_exit(int status, char *buf, size_t len);

/* Sleeps ns, through EINTR. */
void hl_server_sleep_ns(uint64_t ns);

#endif /* HL_BENCH_SERVER_H */
