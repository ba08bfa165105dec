/*
 * ahead.c - a helper thread per read-write handle that allocates the heap's
 * next pages before any process grabs them, on a core the commits leave
 * free.
 *
 * populate.c prepares a slab whole when it is grabbed: one call instead of
 * a fault in each of the ~31 commits that fill a 128 KiB leaf slab, but
 * the commit that grabs pays the whole allocation (~60-90 us: the p99).
 * Pages past hdr->heap_next are unused and zero, so anyone may allocate
 * them at any time (populate.c invariant 1) without owning them. This
 * thread keeps the window [heap_next, heap_next + HL_AHEAD_BYTES) of the
 * heap allocated and in this process's page tables; a later grab by this
 * process then finds its slab's pages present and its MADV_POPULATE_WRITE
 * only walks them, and a grab by another process finds them allocated and
 * only maps them (2-4x cheaper).
 *
 * Where it runs: never on the CPU of a process pinned to one (helios run
 * and helios bench pin each worker): such a process's helper may run on
 * every CPU but its own, or, when its coordinator says which CPUs no
 * worker is pinned to (HELIOS_PAGE_HELPER_CPUS, an hwloc list such as
 * "1" or "2-3,5"; empty: none), on those alone, so that it never
 * preempts another worker (two workers on two cores have no helper:
 * each one's helper on the other's core cut 2-worker W1 throughput from
 * 1.91x to 1.51x one worker). A helper on the process's own CPU preempted its
 * commits there (in the harness that took W1's p99 from 85 to 131 us);
 * one on an idle sibling core takes the slab preparation off the commit
 * path. It runs at the process's priority, not SCHED_IDLE: a helper
 * starved on a busy core while it held a page's lock (inside its
 * MADV_POPULATE_WRITE) stalled a commit faulting the same page for
 * 87-155 ms (a pinned W1 micro run on a loaded machine); at normal
 * priority the scheduler gives it the CPU back within its latency.
 *
 * States of the helper (struct hl_ahead), and who moves it:
 *
 *   absent   -> running   the first hl_ahead_kick (a slab grab, so a
 *                         process that only attaches, or attaches and
 *                         forks, has no thread), on an arena without
 *                         prefault, by a process with a CPU left for the
 *                         helper (two allowed, or pinned to one of two or
 *                         more online), and not when the environment has
 *                         HELIOS_PAGE_HELPER=0. Without a helper each
 *                         grab populates its slab itself (populate.c).
 *   running  -> running   hl_ahead_kick (slab_grab): when less than
 *                         HL_AHEAD_WAKE_BYTES of the window is left past
 *                         heap_next, or the grabbed slab is not ready,
 *                         bumps `seq` and wakes the thread, which fills
 *                         the window and sleeps again (invariant 6); always
 *                         the kick answers whether the helper has already
 *                         populated the grabbed slab, and when not (it is
 *                         behind, or starved on a busy core), the grab
 *                         populates the slab itself, as without a helper
 *   running  -> stopped   hl_ahead_stop (close, by the process that opened
 *                         the handle): `stop`, a wake, and a join
 *   a fork's child has the handle but not the thread: it never kicks and
 *   its close only frees the memory (no join: there is no thread).
 *
 * Invariants:
 *  1. The thread writes no byte of the arena (populate.c invariant 1) and
 *     touches no word of the handle but its own struct: the heap, the
 *     slots and the cursors are the calling thread's alone, as before.
 *  2. heap_next is read relaxed: a stale value only moves the window back
 *     (pages populated that were already in use, which is harmless) or
 *     leaves a part of it for the grab to populate itself.
 *  3. `seq` is the futex word: the kick's release increment pairs with
 *     the thread's acquire load, and FUTEX_WAIT on the value last seen
 *     cannot sleep through a kick made after that load.
 *  4. Best effort throughout: a thread that cannot be made, or a populate
 *     that fails, costs only the faults it would have saved.
 *  5. [covered, done) of the heap (heap-relative) has been populated by
 *     the helper, in one piece: it grows at `done` a unit at a time and
 *     restarts (covered = done = heap_next) when it jumps past slabs
 *     grabbed before it got there. Only the thread writes them: `covered`
 *     first, then `done` with release; a kick loads `done` with acquire
 *     and then `covered`, and both only grow, so a slab inside the pair
 *     it read was populated (a stale pair only answers "not yet", and the
 *     grab populates its slab itself: invariant 4).
 *  6. A kick that leaves the helper asleep leaves it with at least
 *     HL_AHEAD_WAKE_BYTES populated past the heap_next it read (which its
 *     own grab had already moved), so the next grabs still find slabs
 *     ready; the first kick that finds less, or a slab not ready, wakes
 *     it. Skipping a wake never loses one: `seq` moves only with a wake,
 *     so the thread's check before FUTEX_WAIT (invariant 3) is unchanged.
 *     Stale loads (relaxed heap_next, done) only make a kick wake when it
 *     need not, or - by another process's grabs moving heap_next after the
 *     load - sleep a grab or two longer, which invariant 4 covers.
 *     So after a kick the window past heap_next is HL_AHEAD_WAKE_BYTES or
 *     more, not HL_AHEAD_BYTES: a helper that filled its window before a
 *     commit's next grab (a commit grabs a slab of each class it needs)
 *     is not woken by it, and stays asleep a slab short of the full window.
 *  7. `asleep` is seq + 1 of the kick the thread last filled for, stored
 *     (release) after that fill's last store of `done` and before it
 *     sleeps, and 0 once it wakes: equal to seq + 1 (hl_ahead_settled),
 *     the window is what every kick so far asked for and stays so until
 *     the next kick.
 *
 * The cost it moves is real work (a fresh shm page costs ~3.5 us here):
 * when commits allocate pages faster than one helper core can, the grab
 * still populates whatever the window has not reached. The p99 the
 * harness reports with it is in the README (Performance).
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shm.h"

struct hl_ahead {
	pthread_t thread;
	hl_arena *a;
	_Atomic uint32_t seq;   /* futex word: kicks so far */
	_Atomic bool stop;
	_Atomic uint64_t covered; /* invariant 5: [covered, done) populated */
	_Atomic uint64_t done;    /* heap-relative */
	_Atomic uint64_t asleep;  /* invariant 7: seq + 1 it last slept at, 0 awake */
	bool first_round;       /* below first_end: nothing skipped */
	uint64_t first_end;     /* the starting slab + HL_AHEAD_BYTES */
	uint64_t kicks, wakes;  /* the kicking thread's: grabs and the wakes
				 * they made (hl_ahead_counts) */
};

static void futex_wake(_Atomic uint32_t *w)
{
	(void)syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void futex_wait(_Atomic uint32_t *w, uint32_t seen)
{
	(void)syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

/* Allocates and maps the heap from h->done up to heap_next +
 * HL_AHEAD_BYTES, one slab unit per call, nearest first. The first window
 * (HL_AHEAD_BYTES from the slab whose grab started the helper) skips
 * nothing, so the other grabs of that first commit are covered. Past it, slabs
 * grabbed before the helper got to them are skipped (done jumps to
 * heap_next): their commits fault their pages in themselves, which costs
 * them no more than without a helper, while populating behind them only
 * contends with their faults (measured in a tight W1 loop: a helper that
 * never skipped took p90 from 4 us to 9 us, p50 from 0.7 to 1.1 us;
 * one that skipped even in its first round left holes). heap_next is
 * read again after each unit, so the window follows the grabs, and no
 * call holds page-table locks long enough to stall a commit's fault. */
static void fill_window(struct hl_ahead *h)
{
	hl_arena *a = h->a;
	const struct hl_region *heap = hl_region(a, HL_REGION_HEAP);
	uint64_t unit = a->hdr->slab_unit_bytes;
	/* only this thread stores them (invariant 5) */
	uint64_t done = atomic_load_explicit(&h->done, memory_order_relaxed);

	for (;;) {
		if (atomic_load_explicit(&h->stop, memory_order_relaxed))
			return;
		uint64_t next = atomic_load_explicit(&a->hdr->heap_next,
						     memory_order_relaxed);
		if (h->first_round && done >= h->first_end)
			h->first_round = false;
		if (done < next && !h->first_round) { /* invariant 2 */
			done = next;
			atomic_store_explicit(&h->covered, done, memory_order_relaxed);
			atomic_store_explicit(&h->done, done, memory_order_release);
		}
		if (done >= heap->bytes || heap->bytes - done < unit ||
		    (done > next && done - next >= HL_AHEAD_BYTES))
			return;
		/* page-aligned: both are multiples of the slab unit */
		(void)madvise(hl_at(a, heap->off + done), unit, MADV_POPULATE_WRITE);
		done += unit;
		/* release: pairs with the kick's acquire (invariant 5) */
		atomic_store_explicit(&h->done, done, memory_order_release);
	}
}

static void *ahead_main(void *arg)
{
	struct hl_ahead *h = arg;

	while (!atomic_load_explicit(&h->stop, memory_order_acquire)) {
		uint32_t seen = atomic_load_explicit(&h->seq, memory_order_acquire);
		fill_window(h);
		if (atomic_load_explicit(&h->seq, memory_order_acquire) == seen &&
		    !atomic_load_explicit(&h->stop, memory_order_acquire)) {
			/* release: after fill_window's stores of done (invariant 7) */
			atomic_store_explicit(&h->asleep, (uint64_t)seen + 1,
					      memory_order_release);
			futex_wait(&h->seq, seen); /* invariant 3 */
			atomic_store_explicit(&h->asleep, 0, memory_order_relaxed);
		}
	}
	return NULL;
}

/* The thread blocks every signal: they are the application's, delivered
 * to its own threads. `cpus` is where it may run (NULL: the process's own
 * mask). */
static int spawn(struct hl_ahead *h, const cpu_set_t *cpus)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int rc = pthread_attr_init(&attr);
	if (rc)
		return rc;
	if (cpus)
		rc = pthread_attr_setaffinity_np(&attr, sizeof *cpus, cpus);
	if (!rc) {
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rc = pthread_create(&h->thread, &attr, ahead_main, h);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	pthread_attr_destroy(&attr);
	return rc;
}

/* HELIOS_PAGE_HELPER=0 in the environment: no helper (a process that
 * wants no thread of the library's, or one core it must not share); =1:
 * one even in a sanitizer build. Those are off by default: gcc 12's ASan
 * allocator is not fork-safe beside a second thread (a child forked while
 * the helper was inside it inherits its lock held, and hangs at its first
 * allocation from that size class; the multiproc suite did). */
static bool helper_wanted(void)
{
	const char *v = getenv("HELIOS_PAGE_HELPER");
	if (v && v[0] && !v[1])
		return v[0] != '0';
#if defined(__SANITIZE_ADDRESS__)
	return false;
#else
	return true;
#endif
}

/* An hwloc CPU list ("1", "0-3,6", "" for none) into set; false when it
 * is not one (then it is ignored, as if unset). */
static bool parse_cpu_list(const char *s, cpu_set_t *set)
{
	CPU_ZERO(set);
	while (*s) {
		char *end;
		unsigned long a = strtoul(s, &end, 10), b = a;
		if (end == s || a >= CPU_SETSIZE)
			return false;
		if (*end == '-') {
			s = end + 1;
			b = strtoul(s, &end, 10);
			if (end == s || b < a || b >= CPU_SETSIZE)
				return false;
		}
		for (unsigned long c = a; c <= b; c++)
			CPU_SET((int)c, set);
		if (*end == ',')
			end++;
		else if (*end)
			return false;
		s = end;
	}
	return true;
}

/* Where the helper may run: the process's own CPUs when it may use two
 * or more (*cpus left unset, *own true), else every online CPU but the
 * one it is pinned to (a thread inherits the mask, and there it would
 * preempt the process's own commits), narrowed to HELIOS_PAGE_HELPER_CPUS
 * when the coordinator set it. False: no CPU for a helper. */
static bool helper_cpus(cpu_set_t *cpus, bool *own)
{
	cpu_set_t mine, told;
	if (sched_getaffinity(0, sizeof mine, &mine) != 0)
		return false;
	*own = CPU_COUNT(&mine) >= 2;
	if (*own)
		return true;
	const char *list = getenv("HELIOS_PAGE_HELPER_CPUS");
	bool narrowed = list && parse_cpu_list(list, &told);
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	CPU_ZERO(cpus);
	for (long c = 0; c < online && c < CPU_SETSIZE; c++)
		if (!CPU_ISSET((int)c, &mine) && (!narrowed || CPU_ISSET((int)c, &told)))
			CPU_SET((int)c, cpus);
	return CPU_COUNT(cpus) > 0;
}

static void ahead_start(hl_arena *a, uint64_t slab_rel)
{
	cpu_set_t cpus;
	bool own;

	a->ahead = NULL;
	if ((a->flags & HL_RDONLY) || (a->hdr->flags & HL_ARENA_F_PREFAULT) ||
	    !helper_wanted() || !helper_cpus(&cpus, &own))
		return;
	struct hl_ahead *h = calloc(1, sizeof *h);
	if (!h)
		return; /* invariant 4 */
	h->a = a;
	/* the starting grab's slab, then what follows */
	atomic_init(&h->covered, slab_rel);
	atomic_init(&h->done, slab_rel);
	h->first_round = true;
	h->first_end = slab_rel + HL_AHEAD_BYTES;
	if (spawn(h, own ? NULL : &cpus) != 0) {
		free(h); /* e.g. a cpuset that allows none of those CPUs */
		return;
	}
	a->ahead = h;
}

/* True when the helper has already populated [slab_rel, slab_rel +
 * bytes) (invariant 5); the grab then populates nothing itself. False for
 * a fork's child (it has the handle but not the thread), for the grab
 * that starts the helper (the window is only begun) and whenever the
 * helper has not got there: behind the grabs, or starved at SCHED_IDLE
 * on a busy core. Every call tells a running helper to go on. */
bool hl_ahead_kick(hl_arena *a, uint64_t slab_rel, uint64_t bytes)
{
	if (getpid() != a->pid)
		return false;
	if (!a->ahead_tried) {
		a->ahead_tried = true;
		ahead_start(a, slab_rel);
		if (a->ahead)
			futex_wake(&a->ahead->seq);
		return false;
	}
	struct hl_ahead *h = a->ahead;
	if (!h)
		return false;

	/* acquire: pairs with fill_window's release store (invariant 5) */
	uint64_t done = atomic_load_explicit(&h->done, memory_order_acquire);
	uint64_t covered = atomic_load_explicit(&h->covered, memory_order_relaxed);
	bool ready = covered <= slab_rel && slab_rel <= done && bytes <= done - slab_rel;
	/* relaxed: a stale value only wakes early or late (invariant 6) */
	uint64_t next = atomic_load_explicit(&a->hdr->heap_next, memory_order_relaxed);
	h->kicks++;
	if (!ready || done < next || done - next < HL_AHEAD_WAKE_BYTES) {
		h->wakes++;
		atomic_fetch_add_explicit(&h->seq, 1, memory_order_release);
		futex_wake(&h->seq);
	}
	return ready;
}

void hl_ahead_counts(const hl_arena *a, uint64_t *kicks, uint64_t *wakes)
{
	const struct hl_ahead *h = a->ahead;
	*kicks = h ? h->kicks : 0;
	*wakes = h ? h->wakes : 0;
}

bool hl_ahead_settled(const hl_arena *a, uint64_t *done)
{
	const struct hl_ahead *h = a->ahead;
	if (!h)
		return false;
	/* acquire: pairs with the release store before the sleep (invariant 7) */
	uint64_t asleep = atomic_load_explicit(&h->asleep, memory_order_acquire);
	*done = atomic_load_explicit(&h->done, memory_order_relaxed);
	return asleep &&
	       asleep == (uint64_t)atomic_load_explicit(&h->seq, memory_order_relaxed) + 1;
}

void hl_ahead_stop(hl_arena *a)
{
	struct hl_ahead *h = a->ahead;

	if (!h)
		return;
	a->ahead = NULL;
	if (getpid() == a->pid) {
		atomic_store_explicit(&h->stop, true, memory_order_release);
		atomic_fetch_add_explicit(&h->seq, 1, memory_order_release);
		futex_wake(&h->seq);
		pthread_join(h->thread, NULL);
	}
	free(h);
}
