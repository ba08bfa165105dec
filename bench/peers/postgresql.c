/*
 * postgresql.c - the PostgreSQL peer: W1 and W2 through a cluster this
 * process creates (initdb) and a postmaster it starts, talks to over a
 * unix socket, and stops.
 *
 * How a user keeps snapshots in PostgreSQL: a table of (id, state) with
 * the id as primary key, one row per snapshot holding the whole state as
 * bytea, written by a prepared INSERT and read back by a prepared SELECT on
 * the id, binary parameters and results (no hex or escape encoding). That
 * is what is timed: "commit" is the change to the private state plus the
 * INSERT (its own transaction, as autocommit makes it), "restore" is the
 * SELECT plus the copy of the value into the private state and the
 * result's free.
 *
 * Why these settings are the fair comparison with Helios (memory-resident
 * state, no fsync per commit):
 *  - a normal, logged table: a user who picks PostgreSQL for snapshots
 *    wants them to survive a crash, so UNLOGGED would be a strawman of its
 *    own kind; every commit writes its WAL record.
 *  - synchronous_commit=off with fsync=on: a commit is acknowledged before
 *    its WAL is flushed (the WAL writer flushes within a bounded lag), the
 *    same promise as Helios's async durability and the peers' no-fsync
 *    modes, and the cluster stays crash-consistent (fsync is not turned off).
 *    A durable run (w->durable: the persistence section beside Helios's
 *    sync commits) sets synchronous_commit=on, so each commit returns once
 *    its WAL is flushed, with the data directory on a disk.
 *  - shared_buffers sized to the run (pg_shared_buffers_mb, up to a
 *    quarter of RAM): every state the run stores stays in PostgreSQL's own
 *    cache, as every state stays in Helios's arena; the data directory is
 *    in the run's directory (tmpfs, like the arena).
 *  - the state column is STORAGE EXTERNAL: out of line in TOAST but not
 *    pglz-compressed. The states are random bytes; compressing them only
 *    burns CPU and fails, so this is the setting a careful user picks, and
 *    the faster one.
 *  - unix socket only (listen_addresses=''), trust authentication.
 * PostgreSQL refuses to run as root; when the harness is root, initdb and
 * the postmaster run as the "postgres" account (or "nobody"), and the run's
 * directory is lent to that user for the run.
 *
 * Invariants:
 *  1. Server processes are our children, started by hl_server_start
 *     (server.c: execv, never a shell, an empty signal mask, only
 *     stdin/stdout/stderr open) with a parent-death signal, set after the
 *     change of user (which clears it): SIGKILL for initdb, SIGQUIT for
 *     the postmaster (immediate shutdown: it takes its backends and shared
 *     memory with it).
 *  2. Every path out of pg_run() after the postmaster's fork goes through
 *     pg_stop(): SIGINT (what pg_ctl -m fast sends), then SIGQUIT, then
 *     SIGKILL, each with a bounded wait, and the reap. No postgres outlives
 *     a run; initdb is reaped (or killed and reaped) before it returns.
 *     Nothing outlives it outside the run's directory either: dynamic
 *     shared memory is files in the data directory, and the SysV segment
 *     of a postmaster that was killed outright is removed
 *     (pg_remove_orphan_shm).
 *  3. Only the operations are timed; fingerprints and checks are not. Every
 *     restore is checked against the fingerprint of what op j stored.
 *  4. The run's directory is handed back to its owner on every path.
 *
 * The cluster's life (function making each transition):
 *
 *   none --pg_initdb--> created --pg_start--> starting
 *   starting --pg_wait_ready--> serving
 *   starting|serving --pg_stop--> reaped
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "server.h"

#ifdef HL_HAVE_LIBPQ
#include <libpq-fe.h>
#endif

#define PG_BIN_GLOB "/usr/lib/postgresql/*/bin/initdb"

#ifdef HL_HAVE_LIBPQ
/* The newest installed server's bin directory (Debian installs each major
 * version side by side). 0, or -1 when there is none. */
static int pg_find_bindir(char *out, size_t len)
{
	glob_t g;
	unsigned long best = 0;
	int rc = -1;
	if (glob(PG_BIN_GLOB, 0, NULL, &g))
		return -1;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		char dir[PATH_MAX], postgres[PATH_MAX + 16], *end;
		size_t dir_len = strlen(g.gl_pathv[i]) - strlen("/initdb");
		if (dir_len >= sizeof dir || dir_len >= len)
			continue;
		memcpy(dir, g.gl_pathv[i], dir_len);
		dir[dir_len] = '\0';
		/* "9.6" and "15" both order right as major * 100 + minor */
		unsigned long v = strtoul(dir + strlen("/usr/lib/postgresql/"),
					  &end, 10) * 100;
		if (*end == '.')
			v += strtoul(end + 1, &end, 10);
		snprintf(postgres, sizeof postgres, "%s/postgres", dir);
		if (v <= best || access(g.gl_pathv[i], X_OK) ||
		    access(postgres, X_OK))
			continue;
		memcpy(out, dir, dir_len + 1);
		best = v;
		rc = 0;
	}
	globfree(&g);
	return rc;
}
#endif

static int pg_probe(char *why, size_t len)
{
#ifndef HL_HAVE_LIBPQ
	return hl_peer_not_built("postgresql", "libpq-dev", why, len);
#else
	char bindir[PATH_MAX];
	if (pg_find_bindir(bindir, sizeof bindir)) {
		snprintf(why, len, "postgresql: server not found: apt-get "
			 "install postgresql (bench/peers/setup.sh)");
		return 1;
	}
	return 0;
#endif
}

#ifdef HL_HAVE_LIBPQ

/* Limits, each with its reason. */
/* initdb --no-sync on tmpfs takes about a second */
#define PG_INITDB_NS (120ull * 1000 * 1000 * 1000)
/* a fresh cluster has no WAL to replay */
#define PG_START_NS (10ull * 1000 * 1000 * 1000)
/* the shutdown checkpoint writes shared_buffers' dirty pages */
#define PG_STOP_FAST_NS (60ull * 1000 * 1000 * 1000)
/* an immediate shutdown writes nothing */
#define PG_STOP_QUIT_NS (5ull * 1000 * 1000 * 1000)
/* SIGKILL needs no cooperation */
#define PG_KILL_NS (5ull * 1000 * 1000 * 1000)
/* between PQping attempts while it starts */
#define PG_POLL_NS (20ull * 1000 * 1000)

#define PG_USER "helios"           /* the cluster's superuser (initdb -U) */
#define PG_PORT "5432"             /* names the socket file only: no TCP */
#define PG_SHARED_BUFFERS_MIN_MB 128u  /* PostgreSQL's own default */
#define PG_SHARED_BUFFERS_MAX_MB (64u << 10)
#define PG_BYTEA_OID 17            /* BYTEAOID, catalog/pg_type.dat */
#define PG_SOCKET_NAME "/.s.PGSQL." PG_PORT

/* Who the server runs as: ourselves, or (when we are root, which
 * PostgreSQL refuses) an unprivileged account. */
struct pg_cred {
	bool drop;
	uid_t uid;
	gid_t gid;
	char name[32];
};

/* The severities that stop a start, and initdb's "error:": the line of a
 * log that holds one says why. */
static const char *const pg_log_marks[] = {"FATAL:", "PANIC:", "ERROR:",
					   "error:", NULL};

/* Fast shutdown (what pg_ctl -m fast sends), then immediate, then SIGKILL,
 * each with a bounded wait, and the reap (invariant 2). 0, or -1 with err
 * filled if even SIGKILL did not end it. */
static int pg_stop(struct hl_server_proc *proc, char *err, size_t len)
{
	static const struct hl_server_stop_step steps[] = {
		{SIGINT, PG_STOP_FAST_NS},
		{SIGQUIT, PG_STOP_QUIT_NS},
		{SIGKILL, PG_KILL_NS},
	};
	if (!hl_server_stop(proc, steps, sizeof steps / sizeof steps[0]))
		return 0;
	snprintf(err, len, "postgresql: process %d did not exit after SIGKILL",
		 (int)proc->pid);
	return -1;
}

/* A postmaster that died without its shutdown (SIGKILL, a crash) leaves
 * its small SysV segment behind - PostgreSQL keeps it to notice orphaned
 * backends - and its postmaster.pid, whose 7th line names the segment.
 * Removed once its backends, which exit on their postmaster's death, have
 * let go of it (bounded). */
static void pg_remove_orphan_shm(const char *pid_file)
{
	char text[2048];
	int fd = open(pid_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return; /* a clean shutdown removes it with the segment */
	ssize_t n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n <= 0)
		return;
	text[n] = '\0';
	const char *line = text;
	for (int i = 1; i < 7 && line; i++)
		if ((line = strchr(line, '\n')))
			line++;
	long key;
	int id;
	if (!line || sscanf(line, "%ld %d", &key, &id) != 2)
		return;
	uint64_t deadline = hl_peer_now_ns() + PG_STOP_QUIT_NS;
	struct shmid_ds ds;
	while (shmctl(id, IPC_STAT, &ds) == 0 &&
	       ds.shm_perm.__key == (key_t)key) {
		if (ds.shm_nattch == 0) {
			shmctl(id, IPC_RMID, NULL);
			return;
		}
		if (hl_peer_now_ns() >= deadline)
			return;
		hl_server_sleep_ns(PG_POLL_NS);
	}
}

/* The account the server runs as when we are root (PostgreSQL refuses
 * root): "postgres" where the server package made it, else "nobody". */
static int pg_pick_user(struct pg_cred *cred, char *err, size_t len)
{
	static const char *const names[] = {"postgres", "nobody"};
	cred->drop = geteuid() == 0;
	if (!cred->drop)
		return 0;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		struct passwd pw, *found = NULL;
		char buf[1024];
		if (getpwnam_r(names[i], &pw, buf, sizeof buf, &found) ||
		    !found || pw.pw_uid == 0)
			continue;
		cred->uid = pw.pw_uid;
		cred->gid = pw.pw_gid;
		snprintf(cred->name, sizeof cred->name, "%s", names[i]);
		return 0;
	}
	snprintf(err, len, "postgresql: running as root, and neither a "
		 "\"postgres\" nor a \"nobody\" account exists to run the server");
	return -1;
}

/* Paths of one run, all inside w->dir. */
struct pg_paths {
	char bindir[PATH_MAX];
	char initdb[PATH_MAX];
	char postgres[PATH_MAX];
	char data[PATH_MAX];
	char pid_file[PATH_MAX];   /* data/postmaster.pid */
	char initdb_log[PATH_MAX];
	char server_log[PATH_MAX];
	char dir[PATH_MAX];
};

static int pg_paths_init(struct pg_paths *p, const char *dir, char *err,
			 size_t len)
{
	if (pg_find_bindir(p->bindir, sizeof p->bindir)) {
		pg_probe(err, len);
		return -1;
	}
	if (strlen(dir) + strlen(PG_SOCKET_NAME) >=
	    sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(err, len, "postgresql: directory path too long for a "
			 "unix socket: %s", dir);
		return -1;
	}
	int n[] = {
		snprintf(p->initdb, sizeof p->initdb, "%s/initdb", p->bindir),
		snprintf(p->postgres, sizeof p->postgres, "%s/postgres",
			 p->bindir),
		snprintf(p->data, sizeof p->data, "%s/data", dir),
		snprintf(p->pid_file, sizeof p->pid_file,
			 "%s/data/postmaster.pid", dir),
		snprintf(p->initdb_log, sizeof p->initdb_log, "%s/initdb.log",
			 dir),
		snprintf(p->server_log, sizeof p->server_log, "%s/postgres.log",
			 dir),
		snprintf(p->dir, sizeof p->dir, "%s", dir),
	};
	for (size_t i = 0; i < sizeof n / sizeof n[0]; i++) {
		if (n[i] < 0 || n[i] >= PATH_MAX) {
			snprintf(err, len, "postgresql: path too long: %s", dir);
			return -1;
		}
	}
	return 0;
}

/* How to start one of the cluster's programs (invariant 1): in the run's
 * directory, as cred's user. */
static struct hl_server_spawn pg_spawn(char *const *argv, const char *log,
				       int death_sig, const struct pg_paths *p,
				       const struct pg_cred *cred)
{
	return (struct hl_server_spawn){
		.name = "postgresql", .argv = argv,
		.log = log, .log_mode = 0644,
		.cwd = p->dir, .death_sig = death_sig,
		.uid = cred->drop ? cred->uid : (uid_t)-1,
		.gid = cred->drop ? cred->gid : (gid_t)-1,
		.user = cred->name,
	};
}

/* Creates the cluster (none -> created); initdb is reaped on every path. */
static int pg_initdb(const struct pg_paths *p, const struct pg_cred *cred,
		     char *err, size_t len)
{
	char *argv[] = {
		(char *)p->initdb, "-D", (char *)p->data, "-U", PG_USER,
		"--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C",
		"--no-instructions", NULL,
	};
	const struct hl_server_spawn s = pg_spawn(argv, p->initdb_log, SIGKILL,
						  p, cred);
	const struct hl_server_stop_step kill_step = {SIGKILL, PG_KILL_NS};
	struct hl_server_proc proc = HL_SERVER_PROC_INIT;
	int status = 0;
	char how[48], line[160];
	if (hl_server_start(&s, &proc, err, len))
		return -1;
	if (!hl_server_reap(&proc, PG_INITDB_NS, &status)) {
		hl_server_stop(&proc, &kill_step, 1);
		snprintf(err, len, "postgresql: initdb did not finish in %llu s, "
			 "see %s", (unsigned long long)(PG_INITDB_NS / 1000000000u),
			 p->initdb_log);
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	hl_server_describe_exit(status, how, sizeof how);
	hl_server_log_line(p->initdb_log, pg_log_marks, line, sizeof line);
	snprintf(err, len, "postgresql: initdb failed (%s), see %s: %s", how,
		 p->initdb_log, line);
	return -1;
}

/* shared_buffers for a run: every state it stores (ops * state_bytes)
 * plus 25% for TOAST's per-chunk headers, page fill and the primary key,
 * at least PostgreSQL's default and at most a quarter of the machine's
 * memory (beyond that the states stay in the page cache of the tmpfs the
 * data directory is on: still memory, one copy further away). */
static unsigned long long pg_shared_buffers_mb(const struct hl_peer_workload *w)
{
	uint64_t bytes, mb;
	if (__builtin_mul_overflow(w->ops, w->state_bytes, &bytes))
		bytes = UINT64_MAX;
	mb = bytes / (1u << 20);
	mb += mb / 4 + 1;
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	uint64_t ram_mb = pages > 0 && page > 0
			  ? (uint64_t)pages * (uint64_t)page / (1u << 20) : 0;
	if (ram_mb && mb > ram_mb / 4)
		mb = ram_mb / 4;
	if (mb > PG_SHARED_BUFFERS_MAX_MB)
		mb = PG_SHARED_BUFFERS_MAX_MB;
	return mb < PG_SHARED_BUFFERS_MIN_MB ? PG_SHARED_BUFFERS_MIN_MB : mb;
}

/* Starts the postmaster (created -> starting) with the settings the top
 * of this file argues for. dynamic_shared_memory_type=mmap keeps the
 * dynamic segments as files in data/pg_dynshmem (on tmpfs, as the
 * directory is, so as fast as POSIX shm): a postmaster that dies by
 * SIGKILL leaves nothing behind in /dev/shm. */
static int pg_start(const struct pg_paths *p, const struct pg_cred *cred,
		    unsigned long long shared_buffers_mb, bool durable,
		    struct hl_server_proc *proc, char *err, size_t len)
{
	char shared_buffers[48];
	snprintf(shared_buffers, sizeof shared_buffers, "shared_buffers=%lluMB",
		 shared_buffers_mb);
	char *argv[] = {
		(char *)p->postgres, "-D", (char *)p->data, "-k", (char *)p->dir,
		"-c", "listen_addresses=",
		"-c", "port=" PG_PORT,
		"-c", "unix_socket_permissions=0700",
		"-c", "fsync=on",
		"-c", durable ? "synchronous_commit=on" : "synchronous_commit=off",
		"-c", shared_buffers,
		"-c", "dynamic_shared_memory_type=mmap",
		NULL,
	};
	const struct hl_server_spawn s = pg_spawn(argv, p->server_log, SIGQUIT,
						  p, cred);
	return hl_server_start(&s, proc, err, len);
}

static void pg_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static const char *const pg_conn_keys[] = {
	"host", "port", "user", "dbname", "connect_timeout", NULL,
};

/* Waits (bounded) until the postmaster accepts connections (starting ->
 * serving), then connects. */
static int pg_wait_ready(const struct pg_paths *p,
			 struct hl_server_proc *proc, PGconn **out, char *err,
			 size_t len)
{
	const char *const values[] = {p->dir, PG_PORT, PG_USER, "postgres",
				      "10", NULL};
	uint64_t deadline = hl_peer_now_ns() + PG_START_NS;
	PGPing ping;
	int status;
	for (;;) {
		if (hl_server_reap(proc, 0, &status)) {
			char how[48], line[160];
			hl_server_describe_exit(status, how, sizeof how);
			hl_server_log_line(p->server_log, pg_log_marks, line,
					   sizeof line);
			snprintf(err, len, "postgresql: postgres exited at start "
				 "(%s), see %s: %s", how, p->server_log, line);
			return -1;
		}
		ping = PQpingParams(pg_conn_keys, values, 0);
		if (ping == PQPING_OK || ping == PQPING_NO_ATTEMPT ||
		    hl_peer_now_ns() >= deadline)
			break;
		hl_server_sleep_ns(PG_POLL_NS);
	}
	if (ping != PQPING_OK) {
		snprintf(err, len, "postgresql: server not ready on %s after "
			 "%llu s (PQping %d), see %s", p->dir,
			 (unsigned long long)(PG_START_NS / 1000000000u),
			 (int)ping, p->server_log);
		return -1;
	}
	PGconn *conn = PQconnectdbParams(pg_conn_keys, values, 0);
	if (!conn || PQstatus(conn) != CONNECTION_OK) {
		const char *m = conn ? PQerrorMessage(conn) : "out of memory";
		snprintf(err, len, "postgresql: cannot connect: %.*s",
			 (int)strcspn(m, "\n"), m);
		PQfinish(conn);
		return -1;
	}
	/* libpq prints notices (and a dying server's FATAL) on stderr, over
	 * the harness's progress line; the errors we act on come with results */
	PQsetNoticeProcessor(conn, pg_quiet, NULL);
	*out = conn;
	return 0;
}

/* Why a statement failed: the result's message, or the connection's when
 * the result has none (the server went away); the caller prints up to the
 * first newline. */
static const char *pg_why(PGconn *conn, const PGresult *res)
{
	const char *m = PQresultErrorMessage(res);
	if (!*m)
		m = PQerrorMessage(conn);
	return *m ? m : "unexpected result";
}

static int pg_exec_ok(PGconn *conn, const char *sql, char *err, size_t len)
{
	PGresult *res = PQexec(conn, sql);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		const char *m = pg_why(conn, res);
		snprintf(err, len, "postgresql: %s: %.*s", sql,
			 (int)strcspn(m, "\n"), m);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/* The table and the two prepared statements, untimed. */
static int pg_setup(PGconn *conn, char *err, size_t len)
{
	static const Oid bytea[] = {PG_BYTEA_OID, PG_BYTEA_OID};
	static const struct { const char *name, *sql; int params; } stmts[] = {
		{"put", "INSERT INTO snapshots (id, state) VALUES ($1, $2)", 2},
		{"get", "SELECT state FROM snapshots WHERE id = $1", 1},
	};
	if (pg_exec_ok(conn, "CREATE TABLE snapshots (id bytea PRIMARY KEY, "
		       "state bytea)", err, len) ||
	    pg_exec_ok(conn, "ALTER TABLE snapshots ALTER COLUMN state SET "
		       "STORAGE EXTERNAL", err, len))
		return -1;
	for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
		PGresult *res = PQprepare(conn, stmts[i].name, stmts[i].sql,
					  stmts[i].params, bytea);
		bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		if (!ok) {
			const char *m = pg_why(conn, res);
			snprintf(err, len, "postgresql: prepare %s: %.*s",
				 stmts[i].sql, (int)strcspn(m, "\n"), m);
		}
		PQclear(res);
		if (!ok)
			return -1;
	}
	return 0;
}

/* The timed loops: ops commits, then as many restores (invariant 3). */
static int pg_workload(PGconn *conn, struct hl_peer_state *ps,
		       struct hl_peer_result *out, char *err, size_t len)
{
	unsigned char key[16];
	const char *values[2] = {(const char *)key, (const char *)ps->bytes};
	const int lengths[2] = {(int)sizeof key, (int)ps->state_bytes};
	const int binary[2] = {1, 1};
	uint64_t start = hl_peer_now_ns();
	for (uint64_t i = 0; i < ps->ops; i++) {
		hl_peer_key(i, key);
		uint64_t t0 = hl_peer_now_ns();
		hl_peer_state_step(ps, i);
		PGresult *res = PQexecPrepared(conn, "put", 2, values, lengths,
					       binary, 1);
		bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		if (!ok) {
			const char *m = pg_why(conn, res);
			snprintf(err, len, "postgresql: INSERT of op %llu "
				 "failed: %.*s", (unsigned long long)i,
				 (int)strcspn(m, "\n"), m);
		}
		PQclear(res);
		uint64_t t1 = hl_peer_now_ns();
		if (!ok)
			return -1;
		hl_hist_add(&out->commit, t1 - t0);
		ps->fingerprint[i] = hl_peer_fingerprint(ps->bytes,
							 ps->state_bytes);
		out->ops++;
	}
	for (uint64_t r = 0; r < ps->ops; r++) {
		uint64_t j = hl_peer_pick(ps, r);
		if (j >= ps->ops) {
			snprintf(err, len, "postgresql: hl_peer_pick gave op "
				 "%llu of %llu", (unsigned long long)j,
				 (unsigned long long)ps->ops);
			return -1;
		}
		hl_peer_key(j, key);
		uint64_t t0 = hl_peer_now_ns();
		PGresult *res = PQexecPrepared(conn, "get", 1, values, lengths,
					       binary, 1);
		bool ok = PQresultStatus(res) == PGRES_TUPLES_OK &&
			  PQntuples(res) == 1 &&
			  (uint64_t)PQgetlength(res, 0, 0) == ps->state_bytes;
		if (ok) {
			memcpy(ps->bytes, PQgetvalue(res, 0, 0),
			       ps->state_bytes);
		} else {
			const char *m = PQresultStatus(res) == PGRES_TUPLES_OK
					? "no row of the state's size"
					: pg_why(conn, res);
			snprintf(err, len, "postgresql: SELECT of op %llu "
				 "failed: %.*s", (unsigned long long)j,
				 (int)strcspn(m, "\n"), m);
		}
		PQclear(res);
		uint64_t t1 = hl_peer_now_ns();
		if (!ok)
			return -1;
		hl_hist_add(&out->restore, t1 - t0);
		if (hl_peer_fingerprint(ps->bytes, ps->state_bytes) !=
		    ps->fingerprint[j]) {
			snprintf(err, len, "postgresql: restore %llu of op %llu "
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

static int pg_run(const struct hl_peer_workload *w,
		  struct hl_peer_result *out, char *err, size_t len)
{
	struct pg_paths p;
	struct pg_cred cred = {0};
	struct hl_server_proc postmaster = HL_SERVER_PROC_INIT;
	struct hl_peer_state ps;
	struct stat dir_st;
	unsigned long long shared_buffers_mb = pg_shared_buffers_mb(w);
	PGconn *conn = NULL;
	int rc = -1;

	hl_hist_init(&out->commit);
	hl_hist_init(&out->restore);
	out->ops = out->verified = 0;
	out->seconds = 0;
	snprintf(out->config, sizeof out->config, "postgresql (not started)");
	if (pg_paths_init(&p, w->dir, err, len) ||
	    pg_pick_user(&cred, err, len))
		return -1;
	if (w->state_bytes > (1u << 30)) { /* bytea's limit, and int lengths */
		snprintf(err, len, "postgresql: a %llu-byte state is over "
			 "bytea's 1 GiB", (unsigned long long)w->state_bytes);
		return -1;
	}
	if (hl_peer_state_init(&ps, w)) {
		snprintf(err, len, "postgresql: cannot allocate the %llu-byte "
			 "state", (unsigned long long)w->state_bytes);
		return -1;
	}
	if (stat(p.dir, &dir_st)) {
		snprintf(err, len, "postgresql: %s: %s", p.dir, strerror(errno));
		goto out_free_state;
	}
	if (cred.drop && chown(p.dir, cred.uid, cred.gid)) {
		snprintf(err, len, "postgresql: cannot lend %s to user %s: %s",
			 p.dir, cred.name, strerror(errno));
		goto out_free_state;
	}
	if (pg_initdb(&p, &cred, err, len) ||
	    pg_start(&p, &cred, shared_buffers_mb, w->durable, &postmaster, err, len))
		goto out_chown_dir;
	if (pg_wait_ready(&p, &postmaster, &conn, err, len) ||
	    pg_setup(conn, err, len))
		goto out_stop_server;
	/* "15.20 (Debian 15.20-0+deb12u1)": the number is what matters */
	const char *version = PQparameterStatus(conn, "server_version");
	if (!version)
		version = "?";
	snprintf(out->config, sizeof out->config,
		 "PostgreSQL %.*s over a unix socket; logged table, bytea "
		 "STORAGE EXTERNAL; synchronous_commit=%s, fsync=on, "
		 "shared_buffers=%lluMB", (int)strcspn(version, " "), version,
		 w->durable ? "on" : "off", shared_buffers_mb);
	rc = pg_workload(conn, &ps, out, err, len);

out_stop_server:
	PQfinish(conn); /* our session ends first: nothing for the stop to abort */
	char stop_err[160];
	if (pg_stop(&postmaster, stop_err, sizeof stop_err) && rc == 0) {
		snprintf(err, len, "%s", stop_err);
		rc = -1;
	}
	pg_remove_orphan_shm(p.pid_file);
out_chown_dir:
	if (cred.drop && chown(p.dir, dir_st.st_uid, dir_st.st_gid) && rc == 0) {
		snprintf(err, len, "postgresql: cannot give %s back: %s", p.dir,
			 strerror(errno));
		rc = -1;
	}
out_free_state:
	hl_peer_state_free(&ps);
	return rc;
}

#endif /* HL_HAVE_LIBPQ */

const struct hl_peer hl_peer_postgresql = {
	.name = "postgresql",
	.probe = pg_probe,
#ifdef HL_HAVE_LIBPQ
	.run = pg_run,
#endif
};
