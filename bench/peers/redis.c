/*
 * redis.c - the Redis peer: W1 and W2 through a redis-server this process
 * starts, talks to over a unix socket, and stops.
 *
 * How a user keeps snapshots in Redis: one string value per snapshot, the
 * whole state, under its id (SET id state), read back whole (GET id). That
 * is what is timed: "commit" is the change to the private state plus the
 * SET, "restore" is the GET plus the copy of the reply into the private
 * state and the reply's free, each one blocking round trip through hiredis.
 *
 * Why this is the fair comparison with Helios: Helios without a persister
 * keeps every committed state in shared memory and syncs nothing. Redis is
 * configured the same way - memory only: no RDB snapshots (save ""), no
 * append-only file (appendonly no) - and reached over a unix socket in the
 * run's directory (no TCP: port 0), the fastest way a local client has. So
 * neither side pays for a disk, and the difference measured is the cost of
 * a client/server copy of the whole state against Helios's in-place,
 * content-addressed commit.
 *
 * Invariants:
 *  1. The server is our child, started by hl_server_start (server.c: execv,
 *     never a shell, an empty signal mask, only stdin/stdout/stderr open)
 *     with PR_SET_PDEATHSIG = SIGKILL: it dies with us, even if we are
 *     killed.
 *  2. Every path out of redis_run() after the fork goes through
 *     redis_stop(): SHUTDOWN NOSAVE (or SIGTERM when there is no working
 *     connection), a bounded wait, SIGKILL, and the reap (hl_server_stop
 *     with those steps). No redis-server outlives a run.
 *  3. Only the operations are timed; fingerprints and checks are not. Every
 *     restore is checked against the fingerprint of what op j stored.
 *  4. SIGPIPE is blocked while we talk to the server (hiredis writes with
 *     write(2)), so a server that dies mid-command is an error, not the
 *     death of the harness; a SIGPIPE this caused is consumed before the
 *     caller's mask comes back.
 *
 * The server's life (function making each transition):
 *
 *   none --hl_server_start--> starting --redis_wait_ready--> serving
 *   starting|serving --redis_stop--> reaped
 */
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "server.h"

#ifdef HL_HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif

#define REDIS_SERVER "redis-server"

#ifdef HL_HAVE_HIREDIS
/* An executable name on PATH, as execvp would find it. */
static int find_on_path(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		int w = n ? snprintf(out, len, "%.*s/%s", (int)n, path, name)
			  : snprintf(out, len, "./%s", name);
		struct stat st;
		if (w > 0 && (size_t)w < len && stat(out, &st) == 0 &&
		    S_ISREG(st.st_mode) && access(out, X_OK) == 0)
			return 0;
		path += n + (path[n] == ':');
	}
	return -1;
}
#endif

static int redis_probe(char *why, size_t len)
{
#ifndef HL_HAVE_HIREDIS
	return hl_peer_not_built("redis", "libhiredis-dev", why, len);
#else
	char path[PATH_MAX];
	if (find_on_path(REDIS_SERVER, path, sizeof path)) {
		snprintf(why, len, "redis: redis-server not found: apt-get "
			 "install redis-server (bench/peers/setup.sh)");
		return 1;
	}
	return 0;
#endif
}

#ifdef HL_HAVE_HIREDIS

/* Limits, each with its reason. */
/* an empty server without persistence is up in milliseconds */
#define REDIS_START_NS (5ull * 1000 * 1000 * 1000)
/* SHUTDOWN NOSAVE writes nothing: it exits at once */
#define REDIS_STOP_NS (5ull * 1000 * 1000 * 1000)
/* SIGKILL needs no cooperation */
#define REDIS_KILL_NS (5ull * 1000 * 1000 * 1000)
/* between connection attempts while it starts */
#define REDIS_POLL_NS (10ull * 1000 * 1000)
/* any one command: a 1 MiB round trip takes milliseconds */
#define REDIS_IO_TIMEOUT_S 60

struct redis_server {
	struct hl_server_proc proc;
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char log[PATH_MAX];
};

/* Waits (bounded) until the server answers PING on its socket
 * (starting -> serving); the connection is returned in *out. */
static int redis_wait_ready(struct redis_server *srv, redisContext **out,
			    char *err, size_t len)
{
	const struct timeval connect_tv = {0, 200 * 1000};
	const struct timeval io_tv = {REDIS_IO_TIMEOUT_S, 0};
	uint64_t deadline = hl_peer_now_ns() + REDIS_START_NS;
	char why[128] = "no connection";
	int status;
	for (;;) {
		if (hl_server_reap(&srv->proc, 0, &status)) {
			char how[48], line[160];
			hl_server_describe_exit(status, how, sizeof how);
			hl_server_log_line(srv->log, NULL, line, sizeof line);
			snprintf(err, len, "redis: redis-server exited at start "
				 "(%s), see %s: %s", how, srv->log, line);
			return -1;
		}
		redisContext *c = redisConnectUnixWithTimeout(srv->sock,
							      connect_tv);
		if (c && !c->err && redisSetTimeout(c, io_tv) == REDIS_OK) {
			redisReply *pong = redisCommand(c, "PING");
			bool ok = pong && pong->type == REDIS_REPLY_STATUS &&
				  strcmp(pong->str, "PONG") == 0;
			if (pong)
				snprintf(why, sizeof why, "PING answered %.80s",
					 pong->str ? pong->str : "?");
			freeReplyObject(pong);
			if (ok) {
				*out = c;
				return 0;
			}
		} else if (c) {
			snprintf(why, sizeof why, "%s", c->errstr);
		}
		redisFree(c);
		if (hl_peer_now_ns() >= deadline)
			break;
		hl_server_sleep_ns(REDIS_POLL_NS);
	}
	snprintf(err, len, "redis: redis-server not ready on %s after %llu s "
		 "(%s), see %s", srv->sock,
		 (unsigned long long)(REDIS_START_NS / 1000000000u), why,
		 srv->log);
	return -1;
}

/* Stops and reaps the server, whatever state it is in (invariant 2).
 * 0, or -1 with err filled if even SIGKILL did not end it. */
static int redis_stop(struct redis_server *srv, redisContext *c, char *err,
		      size_t len)
{
	if (!srv->proc.pid)
		return 0;
	bool asked = c && !c->err;
	if (asked) /* the server closes the connection: no reply is the norm */
		freeReplyObject(redisCommand(c, "SHUTDOWN NOSAVE"));
	/* asked: the first step only waits; else SIGTERM, and with nothing to
	 * save it exits at once */
	const struct hl_server_stop_step steps[] = {
		{asked ? 0 : SIGTERM, REDIS_STOP_NS},
		{SIGKILL, REDIS_KILL_NS},
	};
	if (!hl_server_stop(&srv->proc, steps, sizeof steps / sizeof steps[0]))
		return 0;
	snprintf(err, len, "redis: redis-server (pid %d) did not exit after "
		 "SIGKILL", (int)srv->proc.pid);
	return -1;
}

/* "7.0.15" from INFO server, for the report. */
static void redis_version(redisContext *c, char *buf, size_t len)
{
	snprintf(buf, len, "?");
	redisReply *info = redisCommand(c, "INFO server");
	if (info && info->type == REDIS_REPLY_STRING) {
		const char *v = strstr(info->str, "redis_version:");
		if (v) {
			v += strlen("redis_version:");
			snprintf(buf, len, "%.*s", (int)strcspn(v, "\r\n"), v);
		}
	}
	freeReplyObject(info);
}

/* The timed loops: ops commits, then as many restores (invariant 3). */
static int redis_workload(redisContext *c, struct hl_peer_state *ps,
			  struct hl_peer_result *out, char *err, size_t len)
{
	unsigned char key[16];
	uint64_t start = hl_peer_now_ns();
	for (uint64_t i = 0; i < ps->ops; i++) {
		hl_peer_key(i, key);
		uint64_t t0 = hl_peer_now_ns();
		hl_peer_state_step(ps, i);
		redisReply *r = redisCommand(c, "SET %b %b", key, sizeof key,
					     ps->bytes, (size_t)ps->state_bytes);
		bool ok = r && r->type == REDIS_REPLY_STATUS &&
			  strcmp(r->str, "OK") == 0;
		freeReplyObject(r);
		uint64_t t1 = hl_peer_now_ns();
		if (!ok) {
			snprintf(err, len, "redis: SET of op %llu failed: %s",
				 (unsigned long long)i,
				 c->err ? c->errstr : "unexpected reply");
			return -1;
		}
		hl_hist_add(&out->commit, t1 - t0);
		ps->fingerprint[i] = hl_peer_fingerprint(ps->bytes,
							 ps->state_bytes);
		out->ops++;
	}
	for (uint64_t r = 0; r < ps->ops; r++) {
		uint64_t j = hl_peer_pick(ps, r);
		if (j >= ps->ops) {
			snprintf(err, len, "redis: hl_peer_pick gave op %llu "
				 "of %llu", (unsigned long long)j,
				 (unsigned long long)ps->ops);
			return -1;
		}
		hl_peer_key(j, key);
		uint64_t t0 = hl_peer_now_ns();
		redisReply *g = redisCommand(c, "GET %b", key, sizeof key);
		bool ok = g && g->type == REDIS_REPLY_STRING &&
			  g->len == ps->state_bytes;
		if (ok)
			memcpy(ps->bytes, g->str, g->len);
		freeReplyObject(g);
		uint64_t t1 = hl_peer_now_ns();
		if (!ok) {
			snprintf(err, len, "redis: GET of op %llu failed: %s",
				 (unsigned long long)j,
				 c->err ? c->errstr
					: "no value of the state's size");
			return -1;
		}
		hl_hist_add(&out->restore, t1 - t0);
		if (hl_peer_fingerprint(ps->bytes, ps->state_bytes) !=
		    ps->fingerprint[j]) {
			snprintf(err, len, "redis: restore %llu of op %llu "
				 "read back other bytes than were stored",
				 (unsigned long long)r, (unsigned long long)j);
			return -1;
		}
		out->verified++;
		out->ops++;
	}
	out->seconds = (double)(hl_peer_now_ns() - start) / 1e9;
	return 0;
}

/* Invariant 4: blocks SIGPIPE; *pending_before says whether one was
 * already pending (then it is the caller's, not ours to consume). */
static void sigpipe_block(sigset_t *old, bool *pending_before)
{
	sigset_t pipe_set, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, old);
	sigpending(&pending);
	*pending_before = sigismember(&pending, SIGPIPE) == 1;
}

static void sigpipe_restore(const sigset_t *old, bool pending_before)
{
	sigset_t pipe_set, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	if (!pending_before && sigismember(&pending, SIGPIPE) == 1) {
		const struct timespec zero = {0, 0};
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

static int redis_run(const struct hl_peer_workload *w,
		     struct hl_peer_result *out, char *err, size_t len)
{
	struct redis_server srv = {.proc = HL_SERVER_PROC_INIT};
	struct hl_peer_state ps;
	redisContext *c = NULL;
	char server[PATH_MAX], dir[PATH_MAX], version[32];
	sigset_t old_mask;
	bool pipe_pending;
	int rc = -1;

	hl_hist_init(&out->commit);
	hl_hist_init(&out->restore);
	out->ops = out->verified = 0;
	out->seconds = 0;
	snprintf(out->config, sizeof out->config, "redis (not started)");
	if (find_on_path(REDIS_SERVER, server, sizeof server)) {
		redis_probe(err, len);
		return -1;
	}
	int n1 = snprintf(srv.sock, sizeof srv.sock, "%s/redis.sock", w->dir);
	int n2 = snprintf(srv.log, sizeof srv.log, "%s/redis.log", w->dir);
	int n3 = snprintf(dir, sizeof dir, "%s", w->dir);
	if (n1 < 0 || (size_t)n1 >= sizeof srv.sock || n2 < 0 ||
	    (size_t)n2 >= sizeof srv.log || n3 < 0 || (size_t)n3 >= sizeof dir) {
		snprintf(err, len, "redis: directory path too long for a unix "
			 "socket (%zu bytes max): %s", sizeof srv.sock - 12,
			 w->dir);
		return -1;
	}
	if (hl_peer_state_init(&ps, w)) {
		snprintf(err, len, "redis: cannot allocate the %llu-byte state",
			 (unsigned long long)w->state_bytes);
		return -1;
	}
	sigpipe_block(&old_mask, &pipe_pending);

	char empty[] = "";
	char *argv[] = {
		server,
		"--port", "0",
		"--unixsocket", srv.sock,
		"--unixsocketperm", "700",
		"--dir", dir,
		"--save", empty,
		"--appendonly", "no",
		"--daemonize", "no",
		"--logfile", srv.log,
		NULL,
	};
	const struct hl_server_spawn spawn = {
		.name = "redis", .argv = argv, .log = srv.log, .log_mode = 0600,
		.cwd = NULL, .death_sig = SIGKILL,
		.uid = (uid_t)-1, .gid = (gid_t)-1, .user = NULL,
	};
	if (hl_server_start(&spawn, &srv.proc, err, len))
		goto out_free_state;
	if (redis_wait_ready(&srv, &c, err, len))
		goto out_stop_server;
	redis_version(c, version, sizeof version);
	snprintf(out->config, sizeof out->config,
		 "redis %s over a unix socket; memory only (save \"\", "
		 "appendonly no), like Helios without a persister; hiredis "
		 "%d.%d", version, HIREDIS_MAJOR, HIREDIS_MINOR);
	rc = redis_workload(c, &ps, out, err, len);

out_stop_server:;
	char stop_err[160];
	if (redis_stop(&srv, c, stop_err, sizeof stop_err) && rc == 0) {
		snprintf(err, len, "%s", stop_err);
		rc = -1;
	}
	if (c)
		redisFree(c);
out_free_state:
	sigpipe_restore(&old_mask, pipe_pending);
	hl_peer_state_free(&ps);
	return rc;
}

#endif /* HL_HAVE_HIREDIS */

const struct hl_peer hl_peer_redis = {
	.name = "redis",
	.probe = redis_probe,
#ifdef HL_HAVE_HIREDIS
	.run = redis_run,
#endif
};
