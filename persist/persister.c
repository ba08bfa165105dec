/*
 * persister.c - the persister thread: the persist ring drained into the
 * WAL with group commit, committers told when they are durable, and a
 * sticky error when the disk fails.
 *
 * One thread in the process that started it (the coordinator), with its
 * own view of the arena through the caller's handle: it reads the ring
 * (the one consumer, shm/ring_mpsc.c), and writes only the persist
 * region's persister words (layout.h: state, error, durable, wake, the
 * counters). The loop:
 *
 *   consume up to a batch of records; append each to the WAL (pending)
 *   no flush in flight and pending records (and, in an async arena, the
 *   oldest has waited lag_ns or the ring is half full): flush_begin
 *       -> the pending records are now the flight's
 *   poll: the flight ended durable -> for each slot of the flight, store
 *       durable = its last sequence in the flight, bump wake, futex wake
 *   nothing to do: sleep 50 us (heartbeat every turn)
 *
 * so one device flush covers every record that arrived while the previous
 * one ran (group commit), whatever process pushed it.
 *
 * State machine (ctl->state; layout.h enum hl_persister_state):
 *
 *   NONE/STOPPED --hl_persister_start--> RUNNING
 *   RUNNING --a failed append, flush or a full WAL (fail())--> ERROR
 *   RUNNING --hl_persister_stop (ring drained, flushed)--> STOPPED
 *   RUNNING --hl_persister_halt (nothing flushed)--> RUNNING with a dead
 *           thread: what a crash leaves; no start takes it over
 *           (invariant 4): the arena is recovered from DIR instead
 *   ERROR   --hl_persister_stop--> ERROR (sticky for the arena's life)
 *
 * Invariants:
 *  1. durable[i] is stored only after the flush holding slot i's record
 *     with that sequence completed (hl_wal_poll returned 0), and only grows
 *     (persist_ring.c invariant 3).
 *  2. A record is freed from the ring only after hl_wal_append copied it
 *     into the WAL's buffer (a persister killed before that leaves it in
 *     the ring; replay is idempotent, persist_rec.h), but it is durable
 *     only after the flush: see invariant 4 for a persister that dies.
 *  3. In ERROR the thread goes on draining and dropping records, so no
 *     committer waits on a full ring; every waiter is woken, sees the
 *     error (stored before the state and the wakes, release) and returns
 *     it, and so does every later durable commit.
 *  4. One persister per arena: start claims state RUNNING from NONE or
 *     STOPPED (a CAS). Never from a RUNNING one whose process died
 *     (HL_ECORRUPT): invariant 2's records it had appended but not flushed
 *     are lost, so the arena holds nodes the WAL lacks, which later
 *     records may name; such an arena is rebuilt from DIR instead.
 *  5. Delivery is at least once, and a record is durable only once
 *     flushed: the ring frees a record when the WAL buffer took it.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "persist_rec.h"
#include "persister.h"
#include "ring_mpsc.h"
#include "shm.h"

/* Records consumed per turn before the loop looks at flushes again. */
#define CONSUME_BATCH 4096u
/* Idle sleep between empty turns. */
#define IDLE_NS 50000l
/* The heartbeat's period at most (waiters call a persister dead after
 * HL_PERSIST_PUSH_TIMEOUT_NS without one). */
#define HEARTBEAT_NS 1000000ull

struct hl_persister {
	hl_arena *a;
	struct hl_persist_ctl *ctl;
	struct hl_wal *wal;
	pthread_t thread;
	_Atomic bool stop;
	_Atomic bool halt;  /* stop now, flushing nothing (hl_persister_halt) */
	bool flying;
	uint32_t slots;
	uint64_t *pend_seq; /* per slot: last sequence appended, not sealed */
	uint64_t *fly_seq;  /* per slot: last sequence in the flush in flight */
	uint64_t pend_records, pend_since_ns;
	uint32_t asks_seen;  /* ctl->flush_asks at the last flush */
	uint64_t records;    /* appended so far: ctl->records once a turn */
	void *leaf_buf;      /* a leaf record built from its node */
	uint64_t heartbeat_ns; /* the last heartbeat stored */
	int error;
};

void hl_persister_config_init(struct hl_persister_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	hl_io_config_init(&cfg->io);
}

uint64_t hl_persist_geometry(uint32_t chunk_bytes)
{
	return 0x48504c4700000000ull | chunk_bytes; /* "GLPH" : chunk */
}

/* ---- waking committers ----------------------------------------------------- */

static void wake_slot(struct hl_persist_slot *ps)
{
	atomic_fetch_add_explicit(&ps->wake, 1, memory_order_release);
	syscall(SYS_futex, (uint32_t *)&ps->wake, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Invariant 3: the error first, then the state, then every waiter. */
static void fail(struct hl_persister *p, int rc)
{
	if (p->error)
		return;
	p->error = rc == HL_EFULL ? HL_ENOSPC : rc;
	atomic_store_explicit(&p->ctl->error, p->error, memory_order_release);
	atomic_store_explicit(&p->ctl->state, HL_PERSISTER_ERROR,
			      memory_order_release);
	p->flying = false; /* the WAL's error is sticky: no flight will end */
	for (uint32_t i = 0; i < p->slots; i++)
		wake_slot(&p->a->pslots[i]);
}

/* Invariant 1: the flight ended durable. */
static void flight_done(struct hl_persister *p)
{
	for (uint32_t i = 0; i < p->slots; i++) {
		if (!p->fly_seq[i])
			continue;
		struct hl_persist_slot *ps = &p->a->pslots[i];
		if (atomic_load_explicit(&ps->durable, memory_order_relaxed) <
		    p->fly_seq[i]) {
			atomic_store_explicit(&ps->durable, p->fly_seq[i],
					      memory_order_release);
			wake_slot(ps);
		}
		p->fly_seq[i] = 0;
	}
	p->flying = false;
	atomic_fetch_add_explicit(&p->ctl->flushes, 1, memory_order_relaxed);
	atomic_store_explicit(&p->ctl->durable_lsn, hl_wal_durable_lsn(p->wal),
			      memory_order_relaxed);
}

/* ---- the loop --------------------------------------------------------------- */

static int on_record(void *ctx, const void *payload, uint32_t len)
{
	struct hl_persister *p = ctx;
	struct hl_prec_hdr h;
	if (len < sizeof h)
		return 0; /* not ours: nothing to log (a producer's bug) */
	memcpy(&h, payload, sizeof h);
	if (p->error)
		return 0; /* invariant 3: dropped */
	const void *rec;
	uint64_t lsn;
	/* a leaf by reference: its chunk from the node (persist_ring.c
	 * invariant 5); a stale one is redundant and not logged */
	int rc = hl_persist_expand(p->a, payload, len, p->leaf_buf, &rec, &len);
	if (rc == 0)
		rc = hl_wal_append(p->wal, HL_WAL_TYPE_PREC, rec, len, &lsn);
	else
		rc = 0;
	if (rc) {
		fail(p, rc);
		return 0;
	}
	if (h.slot < p->slots && h.seq > p->pend_seq[h.slot])
		p->pend_seq[h.slot] = h.seq;
	if (p->pend_records++ == 0)
		p->pend_since_ns = hl_now_ns();
	p->records++; /* published a turn at a time (publish_counters) */
	return 0;
}

static bool owner_dead(void *ctx, uint32_t owner)
{
	hl_arena *a = ctx;
	if (owner >= a->hdr->max_processes)
		return true;
	uint64_t w = atomic_load_explicit(&hl_slot_at(a, owner)->owner,
					  memory_order_acquire);
	return HL_OWNER_PID(w) == 0 || hl_slot_is_dead(a, owner);
}

/* Whether the pending records should be flushed now: at once in a sync
 * arena or when a sync waiter asked, else after the lag (or with the ring
 * half full). */
static bool flush_due(struct hl_persister *p)
{
	if (!p->pend_records || p->flying || p->error)
		return false;
	uint32_t asks = atomic_load_explicit(&p->ctl->flush_asks,
					     memory_order_relaxed);
	if (p->ctl->durability != HL_DURABILITY_ASYNC || asks != p->asks_seen) {
		p->asks_seen = asks;
		return true;
	}
	return hl_now_ns() - p->pend_since_ns >= p->ctl->lag_ns ||
	       hl_ring_mpsc_used(p->a->ring) > p->ctl->ring_bytes / 2;
}

static void begin_flush(struct hl_persister *p)
{
	int rc = hl_wal_flush_begin(p->wal);
	if (rc) {
		fail(p, rc);
		return;
	}
	uint64_t *t = p->fly_seq;
	p->fly_seq = p->pend_seq;
	p->pend_seq = t; /* all zero: flight_done cleared it */
	p->pend_records = 0;
	p->flying = true;
}

/* The ctl words the persister writes share a line with the error and
 * state every commit reads: each store costs every committer a miss, so
 * they are stored once a turn and only when they changed, the heartbeat
 * at most every HEARTBEAT_NS. */
static void publish_counters(struct hl_persister *p, uint64_t now)
{
	struct hl_persist_ctl *c = p->ctl;
	if (now - p->heartbeat_ns >= HEARTBEAT_NS) {
		atomic_store_explicit(&c->heartbeat_ns, now, memory_order_relaxed);
		p->heartbeat_ns = now;
	}
	if (atomic_load_explicit(&c->records, memory_order_relaxed) != p->records)
		atomic_store_explicit(&c->records, p->records, memory_order_relaxed);
	uint64_t end = hl_wal_end_lsn(p->wal);
	if (atomic_load_explicit(&c->wal_bytes, memory_order_relaxed) != end)
		atomic_store_explicit(&c->wal_bytes, end, memory_order_relaxed);
}

/* One turn: true if it did something. */
static bool turn(struct hl_persister *p)
{
	publish_counters(p, hl_now_ns());
	int64_t n = hl_ring_mpsc_consume(p->a->ring, on_record, p, owner_dead,
					 p->a, CONSUME_BATCH);
	bool busy = n > 0;
	if (p->flying && !p->error) {
		int rc = hl_wal_poll(p->wal, false);
		if (rc == 0) {
			flight_done(p);
			busy = true;
		} else if (rc != HL_EBUSY) {
			fail(p, rc);
		}
	}
	if (flush_due(p)) {
		begin_flush(p);
		busy = true;
	}
	publish_counters(p, p->heartbeat_ns); /* records and the WAL's end */
	return busy;
}

static bool drained(struct hl_persister *p)
{
	return hl_ring_mpsc_used(p->a->ring) == 0 && !p->flying &&
	       (p->pend_records == 0 || p->error);
}

static void *run(void *arg)
{
	struct hl_persister *p = arg;
	for (;;) {
		if (atomic_load_explicit(&p->halt, memory_order_acquire))
			break;
		bool busy = turn(p);
		if (atomic_load_explicit(&p->stop, memory_order_acquire) &&
		    drained(p))
			break;
		if (!busy) {
			struct timespec ts = {0, IDLE_NS};
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

/* ---- start and stop ---------------------------------------------------------- */

/* Invariant 4. */
static int claim(struct hl_persist_ctl *ctl)
{
	uint32_t s = atomic_load_explicit(&ctl->state, memory_order_acquire);
	if (s == HL_PERSISTER_ERROR)
		return atomic_load_explicit(&ctl->error, memory_order_acquire);
	if (s == HL_PERSISTER_RUNNING) {
		pid_t pid = (pid_t)atomic_load_explicit(&ctl->pid, memory_order_relaxed);
		if (pid > 0 && (kill(pid, 0) == 0 || errno == EPERM))
			return HL_EEXIST;
		/* it died: records it took from the ring and never flushed are
		 * gone, and later commits may build on them (invariant 5) */
		return HL_ECORRUPT;
	}
	if (!atomic_compare_exchange_strong_explicit(&ctl->state, &s,
						     HL_PERSISTER_RUNNING,
						     memory_order_acq_rel,
						     memory_order_relaxed))
		return HL_EEXIST;
	atomic_store_explicit(&ctl->pid, (uint32_t)getpid(), memory_order_relaxed);
	atomic_store_explicit(&ctl->heartbeat_ns, hl_now_ns(), memory_order_relaxed);
	return 0;
}

static int wal_path(const char *dir, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", dir, HL_PERSIST_WAL_NAME);
	return n < 0 || (size_t)n >= len ? HL_EINVAL : 0;
}

struct replay_ctx {
	hl_persist_apply_fn *apply;
	void *ctx;
	uint64_t records;
};

static int replay_one(void *ctx, uint64_t lsn, unsigned type,
		      const void *payload, uint32_t len)
{
	(void)lsn;
	struct replay_ctx *r = ctx;
	if (type != HL_WAL_TYPE_PREC)
		return 0;
	r->records++;
	return r->apply ? r->apply(r->ctx, payload, len) : 0;
}

/* Opens (replaying) or creates DIR's WAL; the handle pushes nothing while
 * it replays (the records are in the WAL already). */
static int open_wal(hl_arena *a, const char *dir,
		    const struct hl_persister_config *cfg,
		    struct replay_ctx *rc_ctx, struct hl_recovery_info *info,
		    struct hl_wal **out)
{
	char path[PATH_MAX];
	int rc = wal_path(dir, path, sizeof path);
	if (rc)
		return rc;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return hl_io_errno_rc(errno);
	struct hl_wal_config wc;
	hl_wal_config_init(&wc);
	wc.geometry = hl_persist_geometry(a->chunk_bytes);
	wc.file_bytes = cfg->wal_bytes ? cfg->wal_bytes : HL_PERSIST_WAL_BYTES_DEFAULT;
	wc.io = cfg->io;
	struct stat st;
	info->existed = stat(path, &st) == 0;
	if (!info->existed)
		return hl_wal_create(path, &wc, out);
	struct hl_persist_ctl *ctl = a->pctl;
	struct hl_wal_scan_result res;
	a->pctl = NULL; /* replay publishes without logging */
	rc = hl_wal_open(path, &wc, replay_one, rc_ctx, &res, out);
	a->pctl = ctl;
	info->records = rc_ctx->records;
	info->end_lsn = res.end_lsn;
	info->stop = res.stop;
	return rc;
}

static int persister_new(hl_arena *a, struct hl_persister **out)
{
	struct hl_persister *p = calloc(1, sizeof *p);
	if (!p)
		return HL_ENOMEM;
	p->a = a;
	p->ctl = a->pctl;
	p->records = atomic_load_explicit(&a->pctl->records, memory_order_relaxed);
	p->slots = a->hdr->max_processes;
	p->pend_seq = calloc(p->slots, sizeof *p->pend_seq);
	p->fly_seq = calloc(p->slots, sizeof *p->fly_seq);
	p->leaf_buf = malloc(sizeof(struct hl_prec_node) + a->chunk_bytes);
	if (!p->pend_seq || !p->fly_seq || !p->leaf_buf) {
		free(p->pend_seq);
		free(p->fly_seq);
		free(p->leaf_buf);
		free(p);
		return HL_ENOMEM;
	}
	*out = p;
	return 0;
}

static void persister_free(struct hl_persister *p)
{
	free(p->leaf_buf);
	free(p->pend_seq);
	free(p->fly_seq);
	free(p);
}

int hl_persister_start(hl_arena *a, const char *dir,
		       const struct hl_persister_config *cfg,
		       hl_persist_apply_fn *apply, void *apply_ctx,
		       struct hl_recovery_info *info, struct hl_persister **out)
{
	struct hl_persister_config def;
	struct hl_recovery_info scratch;
	if (!cfg) {
		hl_persister_config_init(&def);
		cfg = &def;
	}
	info = info ? info : &scratch;
	memset(info, 0, sizeof *info);
	if (!a || !dir || !out || !a->pctl || a->slot_index < 0)
		return HL_EINVAL;
	struct hl_persister *p;
	int rc = persister_new(a, &p);
	if (rc)
		return rc;
	uint64_t t0 = hl_now_ns();
	struct replay_ctx r = {apply, apply_ctx, 0};
	rc = open_wal(a, dir, cfg, &r, info, &p->wal);
	info->ns = hl_now_ns() - t0;
	if (rc)
		goto out_free;
	struct hl_io_stats st;
	hl_wal_io_stats(p->wal, &st);
	atomic_store_explicit(&p->ctl->io_fallbacks, st.fallbacks,
			      memory_order_relaxed);
	if ((rc = claim(p->ctl)))
		goto out_close;
	if (pthread_create(&p->thread, NULL, run, p) != 0) {
		atomic_store_explicit(&p->ctl->state, HL_PERSISTER_STOPPED,
				      memory_order_release);
		rc = HL_ENOMEM;
		goto out_close;
	}
	*out = p;
	return 0;

out_close:
	hl_wal_close(p->wal);
out_free:
	persister_free(p);
	return rc;
}

int hl_persister_stop(struct hl_persister *p)
{
	if (!p)
		return 0;
	atomic_store_explicit(&p->stop, true, memory_order_release);
	pthread_join(p->thread, NULL);
	int rc = p->error;
	if (!rc)
		atomic_store_explicit(&p->ctl->state, HL_PERSISTER_STOPPED,
				      memory_order_release);
	hl_wal_close(p->wal);
	persister_free(p);
	return rc;
}

void hl_persister_halt(struct hl_persister *p)
{
	if (!p)
		return;
	atomic_store_explicit(&p->halt, true, memory_order_release);
	pthread_join(p->thread, NULL);
	hl_wal_close(p->wal); /* a flight in flight is never seen durable */
	persister_free(p);
}

int hl_persist_dir_chunk(const char *dir, uint32_t *chunk_bytes)
{
	char path[PATH_MAX];
	unsigned char hdr[HL_WAL_HDR_BYTES];
	int rc = wal_path(dir, path, sizeof path);
	if (rc)
		return rc;
	FILE *f = fopen(path, "rb");
	if (!f)
		return hl_io_errno_rc(errno);
	size_t got = fread(hdr, 1, sizeof hdr, f);
	fclose(f);
	struct hl_wal_info wi;
	if ((rc = hl_wal_header_parse(hdr, got, &wi)))
		return rc;
	uint32_t c = (uint32_t)wi.geometry;
	if (hl_persist_geometry(c) != wi.geometry || c < HL_CHUNK_BYTES_MIN ||
	    c > HL_CHUNK_BYTES_MAX || (c & (c - 1)))
		return HL_EMISMATCH; /* not a persister's WAL */
	*chunk_bytes = c;
	return 0;
}

int hl_recover_dir(const char *dir, uint32_t chunk_bytes,
		   hl_persist_apply_fn *apply, void *apply_ctx,
		   struct hl_recovery_info *info)
{
	char path[PATH_MAX];
	memset(info, 0, sizeof *info);
	int rc = wal_path(dir, path, sizeof path);
	if (rc)
		return rc;
	uint64_t t0 = hl_now_ns();
	struct replay_ctx r = {apply, apply_ctx, 0};
	struct hl_wal_scan_result res;
	rc = hl_wal_scan_file(path, hl_persist_geometry(chunk_bytes), NULL,
			      replay_one, &r, &res);
	info->ns = hl_now_ns() - t0;
	if (rc)
		return rc;
	info->existed = true;
	info->records = r.records;
	info->end_lsn = res.end_lsn;
	info->stop = res.stop;
	return 0;
}
