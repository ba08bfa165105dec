/*
 * run_arena.c - the arena of `helios run`: made fresh, or a kept one
 * reused, and in both cases held by exactly one coordinator.
 *
 * Opening (hl_run_arena_open):
 *
 *   no --arena: a fresh name helios-run-PID-RANDOM, created exclusively
 *       (O_EXCL); one that exists is never reused, another name is drawn
 *       (HL_RUN_NAME_TRIES), so nobody can plant an arena for a run to
 *       adopt by guessing its name.
 *   --arena NAME, absent: created, then locked.
 *   --arena NAME, present (HL_EEXIST): reused, in this order -
 *       1. lock it (hl_arena_lock: flock on the file, without waiting); a
 *          lock held elsewhere means a live coordinator: refused, naming
 *          its pid from its slot;
 *       2. owner: the file's owner and the header's creator_uid must both
 *          be the caller (effective uid) unless --trust-owner: another
 *          user's arena (planted, or mode 0666) is refused, naming them;
 *       3. geometry: an explicit --size or --chunk that differs from the
 *          kept arena is refused, saying the arena's values;
 *       4. attach read-write, check it is the locked file, reclaim the
 *          slots of dead processes, say whose arena it was.
 *
 * Invariants:
 *  1. Exactly one coordinator holds an arena: the flock is the only way to
 *     become its coordinator, taken without waiting, kept until exit, and
 *     dropped by the kernel when its holder dies (shm/arena_file.c invariant 5),
 *     so a SIGKILLed coordinator never blocks the next run. Two runs
 *     started together on one kept arena: one locks, the other is refused.
 *  2. Nothing from another user is trusted silently: the owner checks run
 *     before the read-write attach (which would write our slot into it).
 *  3. The file locked is the file attached (same device and inode, checked
 *     on the handle): a name swapped between the two opens is refused.
 *  4. An arena that cannot be made says why in terms of the command line:
 *     which value is bad, how much room its file system has, which part
 *     of it is full and what --size would fit.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "run.h"
#include "shm.h"

/* Fresh default names tried before giving up: each is 32 random bits, so
 * a second try is already a sign someone is planting names. */
#define HL_RUN_NAME_TRIES 8u
/* How long a refused run waits for the lock holder's slot to show its pid
 * (it may have locked a moment ago and not attached yet). */
#define HL_RUN_HOLDER_WAIT_NS (1000ull * 1000 * 1000)

/* "alice (uid 1000)", or "uid 1000" for a uid with no name. */
static void owner_name(uid_t uid, char *buf, size_t len)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];
	if (getpwuid_r(uid, &pw, tmp, sizeof tmp, &res) == 0 && res)
		snprintf(buf, len, "%s (uid %u)", res->pw_name, (unsigned)uid);
	else
		snprintf(buf, len, "uid %u", (unsigned)uid);
}

/* Where the arena's file is, for "remove it" hints. */
static void arena_path(const char *name, char *buf, size_t len)
{
	if (strchr(name, '/'))
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "/dev/shm/helios.%s", name);
}

/* The owner of arena name's file, named into buf; false if unknown. */
static bool owner_of(const char *name, char *buf, size_t len)
{
	char path[300];
	struct stat st;
	arena_path(name, path, sizeof path);
	if (stat(path, &st) != 0)
		return false;
	owner_name(st.st_uid, buf, len);
	return true;
}

static void draw_default_name(struct run_opts *o)
{
	uint32_t r;
	if (getrandom(&r, sizeof r, 0) != sizeof r)
		r = (uint32_t)hl_now_ns() ^ ((uint32_t)getpid() << 16);
	snprintf(o->arena_buf, sizeof o->arena_buf, "helios-run-%d-%08x",
		 (int)getpid(), r);
	o->arena = o->arena_buf;
}

/* ---- creating ------------------------------------------------------------- */

static void config_of(const struct run_opts *o, hl_config *cfg)
{
	hl_config_init(cfg);
	cfg->arena_bytes = o->size;
	cfg->chunk_bytes = o->chunk;
	cfg->max_processes = o->workers + 16 > 64 ? o->workers + 16 : 64;
	cfg->numa = (uint32_t)o->numa;
	cfg->prefault = o->prefault;
	if (o->persist) {
		/* the default ring, or an eighth of a small arena (at least
		 * the minimum and two chunks: check_config says the rest) */
		uint64_t ring = HL_PERSIST_RING_BYTES_DEFAULT;
		if (ring > o->size / 8)
			ring = o->size / 8 / HL_PAGE_BYTES * HL_PAGE_BYTES;
		if (ring < HL_PERSIST_RING_BYTES_MIN)
			ring = HL_PERSIST_RING_BYTES_MIN;
		if (ring < 2ull * o->chunk)
			ring = 2ull * o->chunk;
		cfg->persist_ring_bytes = ring;
		cfg->durability = o->durability;
	}
}

static void say_no_room(const struct run_opts *o, const char *shown)
{
	uint64_t free_bytes = 0;
	char size[32], avail[32], dir[160];
	hl_fmt_bytes(size, sizeof size, o->size);
	if (hl_arena_fs_free(o->arena, &free_bytes))
		free_bytes = 0;
	hl_fmt_bytes(avail, sizeof avail, free_bytes);
	arena_path(o->arena, dir, sizeof dir);
	*strrchr(dir, '/') = '\0';
	hl_say("run: cannot create arena %s: %s%s does not fit its file system "
	       "(%s): %s free; give a smaller --size", shown, size,
	       o->size_given ? "" : " (the default --size)", dir[0] ? dir : "/",
	       avail);
}

/* A stop signal waits on the run's signalfd (not consumed: the event loop
 * reads it to name the signal). */
static bool signal_pending(void *arg)
{
	struct pollfd p = {.fd = *(const int *)arg, .events = POLLIN};
	return poll(&p, 1, 0) == 1;
}

/* A configuration refused because --size leaves no room for the metadata
 * and the heap: says how much it would take. */
static bool too_small(const struct run_opts *o, const hl_config *cfg)
{
	uint64_t need = 0;
	if (hl_arena_bytes_for(cfg, 2 * (o->workers + 1), 0, &need) ||
	    need <= cfg->arena_bytes)
		return false;
	hl_say("run: an arena of %llu MiB is too small for %u workers: it needs "
	       "at least %llu MiB (--size)",
	       (unsigned long long)(cfg->arena_bytes >> 20), o->workers,
	       (unsigned long long)((need + (1u << 20) - 1) >> 20));
	return true;
}

/* Creates the arena; for a default name, draws another while the name is
 * taken (never reusing one). HL_EEXIST: a named arena exists. HL_EBUSY,
 * silently: a stop signal ended a --prefault creation (nothing is left). */
static int create(struct run_opts *o, struct run_arena *ra)
{
	hl_config cfg;
	config_of(o, &cfg);
	struct hl_create_stop stop = {.asked = signal_pending, .arg = &ra->stop_fd};
	int rc = HL_EEXIST;
	for (unsigned t = 0; t < HL_RUN_NAME_TRIES && rc == HL_EEXIST; t++) {
		if (o->arena_default)
			draw_default_name(o);
		rc = hl_arena_create_stoppable(o->arena, &cfg,
					       ra->stop_fd >= 0 ? &stop : NULL,
					       &ra->a);
		if (!o->arena_default)
			break;
	}
	char shown[96];
	hl_fmt_name(shown, sizeof shown, o->arena);
	if (rc == HL_EBUSY && ra->stop_fd >= 0 && signal_pending(&ra->stop_fd))
		return rc;
	if (rc == HL_ENOSPC)
		say_no_room(o, shown);
	else if (rc == HL_EEXIST && o->arena_default)
		hl_say("run: %u fresh arena names were all taken (is someone "
		       "creating helios-run-* names?): give --arena",
		       HL_RUN_NAME_TRIES);
	else if (rc == HL_EINVAL && too_small(o, &cfg))
		; /* said */
	else if (rc && rc != HL_EEXIST)
		hl_say("run: cannot create arena %s: %s", shown, hl_strerror(rc));
	return rc;
}

/* ---- the lock and its holder ---------------------------------------------- */

/* pid of the live coordinator holding the arena, 0 if none; *dead_pid gets
 * that of a coordinator that died without closing. */
static pid_t live_coordinator(hl_arena *a, pid_t *dead_pid)
{
	*dead_pid = 0;
	hl_process_info p;
	for (uint32_t i = 0; hl_arena_process(a, i, &p) != HL_ERANGE; i++) {
		if (p.role != HL_PROCESS_ROLE_COORDINATOR)
			continue;
		if (p.state == HL_PROCESS_LIVE)
			return (pid_t)p.pid;
		if (p.state == HL_PROCESS_DEAD)
			*dead_pid = (pid_t)p.pid;
	}
	return 0;
}

/* The lock is held elsewhere: name the holder, waiting (bounded) for its
 * slot to appear. */
static void say_held(const char *shown, const char *name)
{
	uint64_t deadline = hl_now_ns() + HL_RUN_HOLDER_WAIT_NS;
	pid_t live = 0, dead;
	do {
		hl_arena *ro;
		if (hl_arena_attach(name, HL_RDONLY, &ro) == 0) {
			live = live_coordinator(ro, &dead);
			hl_arena_close(ro);
		}
		if (!live)
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	} while (!live && hl_now_ns() < deadline);
	if (live)
		hl_say("run: arena %s is in use by the coordinator with pid %d",
		       shown, (int)live);
	else
		hl_say("run: arena %s is in use by another coordinator (it holds "
		       "the arena's lock; its pid is not in the arena yet)", shown);
}

static int lock(const struct run_opts *o, struct run_arena *ra, struct stat *st)
{
	char shown[96], path[300];
	hl_fmt_name(shown, sizeof shown, o->arena);
	int rc = hl_arena_lock(o->arena, &ra->lock_fd, st);
	if (rc == HL_EBUSY)
		say_held(shown, o->arena);
	else if (rc == HL_EFTYPE)
		hl_say("run: %s is not an arena (not a regular file or shm "
		       "object): pick another --arena", shown);
	else if (rc == HL_EACCES && owner_of(o->arena, path, sizeof path))
		hl_say("run: arena %s belongs to %s and this user may not open "
		       "it: pick another --arena", shown, path);
	else if (rc) {
		arena_path(o->arena, path, sizeof path);
		hl_fmt_name(shown, sizeof shown, path);
		hl_say("run: arena %s exists but cannot be opened (%s): remove "
		       "it (rm %s) or pick another --arena", shown,
		       hl_strerror(rc), shown);
	}
	return rc;
}

/* ---- reusing -------------------------------------------------------------- */

/* Invariant 2: the caller's own arena, or --trust-owner. */
static int check_owner(const struct run_opts *o, const char *shown,
		       uid_t file_uid, uid_t creator_uid)
{
	/* files are owned by the effective uid that made them, and the
	 * header records the real one (arena.c): compare like with like */
	uid_t me = geteuid();
	if (o->trust_owner || (file_uid == me && creator_uid == getuid()))
		return 0;
	char who[96];
	owner_name(file_uid != me ? file_uid : creator_uid, who, sizeof who);
	hl_say("run: arena %s %s by %s, not by you: refusing to run workers "
	       "on it (--trust-owner to use it anyway)", shown,
	       file_uid != me ? "is owned" : "was created", who);
	return HL_EACCES;
}

/* Item 13 of the review: a kept arena keeps its size and chunk. */
static int check_geometry(const struct run_opts *o, const char *shown,
			  const hl_stats *st)
{
	uint64_t size = hl_align_up(o->size, HL_PAGE_BYTES);
	if ((!o->size_given || size == st->arena_bytes) &&
	    (!o->chunk_given || o->chunk == st->chunk_bytes))
		return 0;
	char have[32];
	hl_fmt_bytes(have, sizeof have, st->arena_bytes);
	hl_say("run: arena %s is kept with --size %s (%llu bytes) and --chunk "
	       "%u, which it cannot change: drop --size and --chunk, or pick "
	       "another --arena", shown, have,
	       (unsigned long long)st->arena_bytes, st->chunk_bytes);
	return HL_EINVAL;
}

/* Steps 2 and 3 of the file comment, on a read-only look. */
static int inspect(const struct run_opts *o, const char *shown,
		   const struct stat *locked, pid_t *dead)
{
	hl_arena *ro;
	int rc = hl_arena_attach(o->arena, HL_RDONLY, &ro);
	if (rc) {
		char path[300], p[320];
		arena_path(o->arena, path, sizeof path);
		hl_say("run: arena %s exists but cannot be used (%s): remove it "
		       "(rm %s) or pick another --arena", shown, hl_strerror(rc),
		       hl_fmt_name(p, sizeof p, path));
		return rc;
	}
	hl_stats st;
	hl_arena_stats(ro, &st);
	if (!hl_arena_same_file(ro, locked))
		rc = HL_EBUSY;
	if (!rc)
		rc = check_owner(o, shown, locked->st_uid, hl_arena_creator_uid(ro));
	if (!rc)
		rc = check_geometry(o, shown, &st);
	pid_t live = rc ? 0 : live_coordinator(ro, dead);
	hl_arena_close(ro);
	if (rc == HL_EBUSY)
		hl_say("run: arena %s was replaced while it was being opened: "
		       "try again", shown);
	if (live) { /* a coordinator that holds no lock: an older helios */
		hl_say("run: arena %s is in use by the coordinator with pid %d",
		       shown, (int)live);
		rc = HL_EBUSY;
	}
	return rc;
}

static int reuse(const struct run_opts *o, struct run_arena *ra)
{
	char shown[96];
	hl_fmt_name(shown, sizeof shown, o->arena);
	struct stat locked;
	pid_t dead = 0;
	int rc = lock(o, ra, &locked);
	if (!rc)
		rc = inspect(o, shown, &locked, &dead);
	if (!rc && (rc = hl_arena_attach(o->arena, 0, &ra->a)) != 0)
		hl_say("run: cannot attach to arena %s: %s", shown, hl_strerror(rc));
	if (!rc && !hl_arena_same_file(ra->a, &locked)) { /* invariant 3 */
		hl_say("run: arena %s was replaced while it was being opened: "
		       "try again", shown);
		hl_arena_close(ra->a);
		ra->a = NULL;
		rc = HL_EBUSY;
	}
	if (rc)
		return rc;
	unsigned freed = hl_slots_reclaim_dead(ra->a, 0);
	hl_stats st;
	hl_arena_stats(ra->a, &st);
	if (dead)
		hl_say("run: recovering arena %s from its dead coordinator "
		       "(pid %d): %llu nodes kept, %u dead slots reclaimed",
		       shown, (int)dead, (unsigned long long)st.nodes, freed);
	else
		hl_say("run: reusing arena %s: %llu nodes kept", shown,
		       (unsigned long long)st.nodes);
	return 0;
}

/* ---- room for the workers ------------------------------------------------- */

/* Enough heap for every worker to hold a slab of each class it uses, with
 * room to spare: else the run would die of HL_EFULL at once. */
static int check_room(const struct run_opts *o, hl_arena *a)
{
	hl_stats st;
	hl_config cfg;
	uint64_t need = 0;
	unsigned procs = 2 * (o->workers + 1); /* the spare: a round of restarts */
	hl_arena_stats(a, &st);
	hl_config_init(&cfg); /* the geometry of the arena we have */
	cfg.chunk_bytes = st.chunk_bytes;
	cfg.max_processes = st.max_processes;
	if (hl_arena_bytes_for(&cfg, procs, 0, &need) == 0 &&
	    st.arena_bytes >= need && st.max_processes >= o->workers + 1)
		return 0;
	hl_say("run: an arena of %llu MiB is too small for %u workers: it needs "
	       "at least %llu MiB (--size)",
	       (unsigned long long)(st.arena_bytes >> 20), o->workers,
	       (unsigned long long)(need >> 20));
	return HL_EFULL;
}

/* ---- the calls ------------------------------------------------------------ */

static void release(const struct run_opts *o, struct run_arena *ra,
		    bool unlink_it)
{
	if (ra->a)
		hl_arena_close(ra->a);
	ra->a = NULL;
	if (unlink_it)
		hl_arena_unlink(o->arena);
	if (ra->lock_fd >= 0) /* after the unlink: nobody takes it over */
		close(ra->lock_fd);
	ra->lock_fd = -1;
}

int hl_run_arena_open(struct run_opts *o, struct run_arena *ra)
{
	ra->a = NULL; /* stop_fd is the caller's */
	ra->lock_fd = -1;
	ra->created = false;
	int rc = create(o, ra);
	if (rc == 0) {
		ra->created = true;
		struct stat st;
		rc = lock(o, ra, &st); /* HL_EBUSY: a reuser locked it first */
		if (!rc && !hl_arena_same_file(ra->a, &st))
			rc = HL_EBUSY;
	} else if (rc == HL_EEXIST && !o->arena_default) {
		rc = reuse(o, ra);
	}
	if (!rc)
		rc = check_room(o, ra->a);
	if (rc) {
		/* a fresh arena someone else locked is theirs now: leave it */
		release(o, ra, ra->created && ra->lock_fd >= 0);
		return rc;
	}
	hl_slot_set_role(ra->a, HL_ROLE_COORDINATOR, 0);
	return 0;
}

void hl_run_arena_close(const struct run_opts *o, struct run_arena *ra)
{
	release(o, ra, !o->keep);
}

/* ---- a full arena (invariant 4) ------------------------------------------- */

static double pct(uint64_t used, uint64_t all)
{
	return all ? 100.0 * (double)used / (double)all : 100.0;
}

/* The --size to suggest: room for twice what is stored and for twice the
 * processes, and at least twice this arena (the index grows with it). */
static uint64_t suggest_size(const struct run_opts *o, const hl_stats *st)
{
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.chunk_bytes = st->chunk_bytes;
	cfg.max_processes = st->max_processes;
	uint64_t need = 0, twice = 0, content = 0;
	if (hl_mul_overflows(st->stored_bytes, 2, &content) ||
	    hl_arena_bytes_for(&cfg, 2 * (o->workers + 1), content, &need))
		need = HL_ARENA_BYTES_MAX;
	if (hl_mul_overflows(st->arena_bytes, 2, &twice))
		twice = HL_ARENA_BYTES_MAX;
	need = need > twice ? need : twice;
	return hl_align_up(need > HL_ARENA_BYTES_MAX ? HL_ARENA_BYTES_MAX : need,
			   HL_ARENA_SIZE_STEP);
}

void hl_run_arena_full(const struct run_opts *o, const struct run_arena *ra)
{
	hl_stats st;
	if (hl_arena_stats(ra->a, &st))
		return;
	struct { const char *what; double pct; } part[] = {
		{"index", pct(st.index_used, st.index_capacity)},
		{"heap", pct(st.heap_used_bytes, st.heap_bytes)},
		{"process slots", pct(st.processes + st.processes_dead,
				      st.max_processes)},
		{"refs", pct(st.refs, st.refs_capacity)},
	};
	unsigned fullest = 0;
	for (unsigned i = 1; i < sizeof part / sizeof part[0]; i++)
		if (part[i].pct > part[fullest].pct)
			fullest = i;
	char shown[96], size[32];
	hl_fmt_name(shown, sizeof shown, o->arena);
	uint64_t suggest = suggest_size(o, &st);
	snprintf(size, sizeof size, "%lluM", (unsigned long long)(suggest >> 20));
	hl_say("run: arena %s is full: its %s (index %.1f%% of %llu entries, "
	       "heap %.1f%%, process slots %.1f%%, refs %.1f%%); workers that "
	       "found it full were not restarted", shown, part[fullest].what,
	       part[0].pct, (unsigned long long)st.index_capacity, part[1].pct,
	       part[2].pct, part[3].pct);
	if (!ra->created)
		hl_say("run: a kept arena cannot grow: start a new --arena with "
		       "--size %s or more", size);
	else
		hl_say("run: give a larger arena: --size %s or more", size);
}
