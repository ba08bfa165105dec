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
 * Checkpoints (checkpoint.c) run on a second thread, the checkpointer,
 * which asks this one to rotate the WAL (flush everything, start segment
 * s + 1 at L; wal_seg.c) and then copies pages while this one goes on
 * logging into the new segment. Triggers: the interval, the segment half
 * full (this thread raises it), hl_persister_checkpoint, and stop (a final
 * one on the caller's thread once both threads have ended). A segment that
 * fills before a checkpoint recycles the old ones is followed by a new one
 * at once, so a long run never ends in a full WAL while the disk has room
 * (HL_WAL_SEGMENTS_MAX bounds a run whose checkpoints keep failing).
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
 *  6. Only this thread touches the WAL handle while it runs; the
 *     checkpointer gets L and the segment through the rotation handshake
 *     (lock, rot_req, cv), and directory changes (segment creation and
 *     retirement) happen under dir_lock.
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

#include "checkpoint.h"
#include "persist_rec.h"
#include "persister.h"
#include "ring_mpsc.h"
#include "shm.h"
#include "recovery.h"
#include "wal_seg.h"

/* Records consumed per turn before the loop looks at flushes again. */
#define CONSUME_BATCH 4096u
/* Idle sleep between empty turns. */
#define IDLE_NS 50000l
/* The heartbeat's period at most (waiters call a persister dead after
 * HL_PERSIST_PUSH_TIMEOUT_NS without one). */
#define HEARTBEAT_NS 1000000ull
/* The checkpointer's longest sleep between looks at its triggers. */
#define CKPT_POLL_NS 10000000ull

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
	/* the WAL's segments (invariant 6) */
	char dir[PATH_MAX];
	struct hl_wal_config wc;
	uint64_t seg, seg_start, first_seg;
	pthread_mutex_t dir_lock;
	/* the checkpointer */
	struct hl_ckpt *ck;
	pthread_t ck_thread;
	bool ck_running;
	uint64_t interval_ns, last_ckpt_ns;
	uint32_t gc_asks_seen;  /* ctl->ckpt_asks last served */
	bool final_ckpt, no_ckpt;
	pthread_mutex_t lock;      /* guards what follows */
	pthread_cond_t cv;
	_Atomic bool rot_req;      /* the checkpointer asks for a rotation */
	int rot_rc;
	uint64_t rot_lsn, rot_seg;
	bool want, asked, ck_stop, ck_exited;
	uint64_t asks_done;        /* checkpoints done for hl_persister_checkpoint */
	int ask_rc;
	_Atomic int ck_error;      /* the checkpointer's failure, for fail() */
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

/* ---- rotating the WAL ------------------------------------------------------- */

/* Everything appended made durable, its committers told. */
static int flush_all(struct hl_persister *p)
{
	for (int round = 0; round < 2 && !p->error; round++) {
		if (p->flying) {
			int rc = hl_wal_poll(p->wal, true);
			if (rc) {
				fail(p, rc);
				break;
			}
			flight_done(p);
		}
		if (round == 0 && p->pend_records)
			begin_flush(p);
	}
	return p->error;
}

static void count_segments(struct hl_persister *p)
{
	atomic_store_explicit(&p->ctl->wal_segments, p->seg - p->first_seg + 1,
			      memory_order_relaxed);
}

/* Flushes, then starts segment seg + 1 where this one ends. */
static int rotate(struct hl_persister *p)
{
	int rc = flush_all(p);
	if (rc)
		return rc;
	struct hl_wal_config cfg = p->wc;
	cfg.start_lsn = hl_wal_end_lsn(p->wal);
	struct hl_wal *nw = NULL;
	pthread_mutex_lock(&p->dir_lock);
	if (p->seg + 1 - p->first_seg >= HL_WAL_SEGMENTS_MAX)
		rc = HL_EFULL; /* checkpoints are not recycling: stop */
	else
		rc = hl_walseg_create(p->dir, p->seg + 1, &cfg, &nw);
	if (!rc) {
		hl_wal_close(p->wal);
		p->wal = nw;
		p->seg++;
		p->seg_start = cfg.start_lsn;
		count_segments(p);
	}
	pthread_mutex_unlock(&p->dir_lock);
	return rc;
}

/* Segments no meta page needs any more (wal_seg.c invariant 2). */
static void recycle(struct hl_persister *p)
{
	uint64_t oldest = hl_ckpt_oldest_segment(p->ck);
	pthread_mutex_lock(&p->dir_lock);
	for (; p->first_seg < oldest && p->first_seg < p->seg; p->first_seg++)
		if (hl_walseg_retire(p->dir, p->first_seg))
			break;
	count_segments(p);
	pthread_mutex_unlock(&p->dir_lock);
}

/* The rotation the checkpointer asked for (invariant 6). */
static void serve_rotation(struct hl_persister *p)
{
	int rc = p->error ? p->error : rotate(p);
	pthread_mutex_lock(&p->lock);
	p->rot_rc = rc;
	p->rot_lsn = p->seg_start;
	p->rot_seg = p->seg;
	atomic_store_explicit(&p->rot_req, false, memory_order_relaxed);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->lock);
}

/* ---- the loop --------------------------------------------------------------- */

static int append(struct hl_persister *p, const void *payload, uint32_t len)
{
	uint64_t lsn;
	int rc = hl_wal_append(p->wal, HL_WAL_TYPE_PREC, payload, len, &lsn);
	if (rc == HL_EFULL && !(rc = rotate(p))) /* a full segment: the next */
		rc = hl_wal_append(p->wal, HL_WAL_TYPE_PREC, payload, len, &lsn);
	return rc;
}

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
	/* a leaf by reference: its chunk from the node (persist_ring.c
	 * invariant 5); a stale one is redundant and not logged */
	int rc = hl_persist_expand(p->a, payload, len, p->leaf_buf, &rec, &len);
	if (rc == 0)
		rc = append(p, rec, len);
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

/* The WAL-usage trigger: the segment half full wakes the checkpointer. */
static void check_usage(struct hl_persister *p)
{
	if (!p->ck_running ||
	    hl_wal_end_lsn(p->wal) - p->seg_start < p->wc.file_bytes / 2)
		return;
	pthread_mutex_lock(&p->lock);
	if (!p->want) {
		p->want = true;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->lock);
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
	int ce = atomic_load_explicit(&p->ck_error, memory_order_relaxed);
	if (ce)
		fail(p, ce);
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
	if (atomic_load_explicit(&p->rot_req, memory_order_relaxed)) {
		serve_rotation(p);
		busy = true;
	}
	check_usage(p);
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

/* ---- the checkpointer ------------------------------------------------------- */

/* One checkpoint from the checkpointer: L through the rotation handshake. */
static int ckpt_once(struct hl_persister *p)
{
	pthread_mutex_lock(&p->lock);
	atomic_store_explicit(&p->rot_req, true, memory_order_relaxed);
	while (atomic_load_explicit(&p->rot_req, memory_order_relaxed))
		pthread_cond_wait(&p->cv, &p->lock);
	int rc = p->rot_rc;
	uint64_t lsn = p->rot_lsn, seg = p->rot_seg;
	pthread_mutex_unlock(&p->lock);
	if (!rc)
		rc = hl_ckpt_take(p->ck, lsn, seg, NULL);
	if (!rc)
		recycle(p);
	p->last_ckpt_ns = hl_now_ns();
	return rc == HL_EBUSY ? 0 : rc; /* skipped (a stopped process): later */
}

static void deadline_at(struct timespec *ts, uint64_t ns)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ns / 1000000000ull);
	ts->tv_nsec += (long)(ns % 1000000000ull);
	if (ts->tv_nsec >= 1000000000l) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000l;
	}
}

/* Under p->lock: whether a trigger fired (or stop). */
static bool ckpt_due(struct hl_persister *p)
{
	/* a collector waiting to reuse what it swept (shm/gc.c invariant 6) */
	uint32_t asks = atomic_load_explicit(&p->ctl->ckpt_asks, memory_order_relaxed);
	if (asks != p->gc_asks_seen) {
		p->gc_asks_seen = asks;
		return true;
	}
	return p->ck_stop || p->want || p->asked ||
	       (p->interval_ns != UINT64_MAX &&
		hl_now_ns() - p->last_ckpt_ns >= p->interval_ns);
}

/* The next rotation's file, made ahead (wal_seg.c). A failure here is
 * not an error yet: the rotation makes the file itself. */
static void prepare_spare(struct hl_persister *p)
{
	hl_walseg_prepare_spare(p->dir, p->wc.file_bytes, &p->wc.io);
}

static void *ckpt_run(void *arg)
{
	struct hl_persister *p = arg;
	prepare_spare(p);
	pthread_mutex_lock(&p->lock);
	while (!p->ck_stop) {
		while (!ckpt_due(p)) {
			struct timespec ts;
			deadline_at(&ts, CKPT_POLL_NS);
			pthread_cond_timedwait(&p->cv, &p->lock, &ts);
		}
		if (p->ck_stop)
			break;
		p->want = p->asked = false;
		pthread_mutex_unlock(&p->lock);
		int rc = ckpt_once(p);
		pthread_mutex_lock(&p->lock);
		p->ask_rc = rc;
		p->asks_done++;
		pthread_cond_broadcast(&p->cv);
		if (rc) { /* sticky: the persister thread fails with it */
			atomic_store_explicit(&p->ck_error, rc, memory_order_relaxed);
			break;
		}
		pthread_mutex_unlock(&p->lock);
		prepare_spare(p);
		pthread_mutex_lock(&p->lock);
	}
	p->ck_exited = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int hl_persister_checkpoint(struct hl_persister *p, uint64_t *ckpt)
{
	if (!p || !p->ck_running)
		return HL_EINVAL;
	pthread_mutex_lock(&p->lock);
	uint64_t want = p->asks_done + 1;
	p->asked = true;
	pthread_cond_broadcast(&p->cv);
	while (p->asks_done < want && !p->ck_exited)
		pthread_cond_wait(&p->cv, &p->lock);
	int rc = p->asks_done >= want ? p->ask_rc : HL_EBUSY;
	pthread_mutex_unlock(&p->lock);
	if (!rc && ckpt)
		hl_ckpt_counters(p->a, &(uint64_t){0}, ckpt);
	return rc ? rc : atomic_load_explicit(&p->ctl->error, memory_order_acquire);
}

static void ckpt_thread_stop(struct hl_persister *p)
{
	if (!p->ck_running)
		return;
	pthread_mutex_lock(&p->lock);
	p->ck_stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->ck_thread, NULL);
	p->ck_running = false;
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

static int persister_new(hl_arena *a, const char *dir,
			 const struct hl_persister_config *cfg,
			 struct hl_persister **out)
{
	if (strlen(dir) >= sizeof ((struct hl_persister *)0)->dir - 32)
		return HL_EINVAL;
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
	strcpy(p->dir, dir);
	hl_wal_config_init(&p->wc);
	p->wc.geometry = hl_persist_geometry(a->chunk_bytes);
	p->wc.file_bytes = cfg->wal_bytes ? cfg->wal_bytes : HL_PERSIST_WAL_BYTES_DEFAULT;
	p->wc.io = cfg->io;
	p->interval_ns = cfg->ckpt_interval_ns ? cfg->ckpt_interval_ns
					       : HL_CKPT_INTERVAL_NS_DEFAULT;
	p->final_ckpt = !cfg->no_final_ckpt && !cfg->no_ckpt;
	p->no_ckpt = cfg->no_ckpt;
	p->last_ckpt_ns = hl_now_ns();
	pthread_mutex_init(&p->dir_lock, NULL);
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	*out = p;
	return 0;
}

static void persister_free(struct hl_persister *p)
{
	free(p->leaf_buf);
	hl_ckpt_close(p->ck);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->dir_lock);
	free(p->pend_seq);
	free(p->fly_seq);
	free(p);
}

static int threads_start(struct hl_persister *p)
{
	if (pthread_create(&p->thread, NULL, run, p) != 0)
		return HL_ENOMEM;
	if (p->no_ckpt)
		return 0;
	if (pthread_create(&p->ck_thread, NULL, ckpt_run, p) != 0) {
		atomic_store_explicit(&p->stop, true, memory_order_release);
		pthread_join(p->thread, NULL);
		return HL_ENOMEM;
	}
	p->ck_running = true;
	p->gc_asks_seen = atomic_load_explicit(&p->ctl->ckpt_asks, memory_order_relaxed);
	atomic_store_explicit(&p->ctl->ckpt_running, 1, memory_order_release);
	return 0;
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
	if (!a || !dir || !out || !a->pctl || a->slot_index < 0 ||
	    (cfg->ckpt_interval_ns > HL_CKPT_INTERVAL_NS_MAX &&
	     cfg->ckpt_interval_ns != UINT64_MAX))
		return HL_EINVAL;
	struct hl_persister *p;
	int rc = persister_new(a, dir, cfg, &p);
	if (rc)
		return rc;
	struct hl_persist_log log;
	if ((rc = hl_persist_recover_open(a, dir, &p->wc, apply, apply_ctx, info,
					  &log)))
		goto out_free;
	p->wal = log.wal;
	p->seg = log.seg;
	p->seg_start = log.seg_start;
	p->first_seg = log.first_seg;
	count_segments(p);
	struct hl_io_stats st;
	hl_wal_io_stats(p->wal, &st);
	atomic_store_explicit(&p->ctl->io_fallbacks, st.fallbacks,
			      memory_order_relaxed);
	if ((rc = hl_ckpt_open(a, dir, &cfg->io, &p->ck)))
		goto out_close;
	if (info->existed) /* the images are behind what was recovered */
		hl_ckpt_mark_all(p->ck);
	if ((rc = claim(p->ctl)))
		goto out_close;
	if ((rc = threads_start(p))) {
		atomic_store_explicit(&p->ctl->state, HL_PERSISTER_STOPPED,
				      memory_order_release);
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

/* The checkpoint of a clean stop, on the caller's thread (both threads
 * have ended: invariant 6 holds trivially). */
static int final_checkpoint(struct hl_persister *p)
{
	int rc = rotate(p);
	if (!rc)
		rc = hl_ckpt_take(p->ck, p->seg_start, p->seg, NULL);
	if (!rc)
		recycle(p);
	if (rc == HL_EBUSY)
		return 0; /* a process stopped in a section: the WAL has it all */
	if (rc)
		fail(p, rc);
	return rc;
}

int hl_persister_stop(struct hl_persister *p)
{
	if (!p)
		return 0;
	atomic_store_explicit(&p->ctl->ckpt_running, 0, memory_order_release);
	ckpt_thread_stop(p); /* first: it may wait on a rotation */
	atomic_store_explicit(&p->stop, true, memory_order_release);
	pthread_join(p->thread, NULL);
	int ce = atomic_load_explicit(&p->ck_error, memory_order_relaxed);
	if (ce)
		fail(p, ce);
	if (!p->error && p->final_ckpt)
		final_checkpoint(p);
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
	ckpt_thread_stop(p);
	atomic_store_explicit(&p->halt, true, memory_order_release);
	pthread_join(p->thread, NULL);
	hl_wal_close(p->wal); /* a flight in flight is never seen durable */
	persister_free(p);
}
