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
 * States of the helper (struct hl_ahead), and who moves it:
 *
 *   absent   -> running   the first hl_ahead_kick (a slab grab, so a
 *                         process that only attaches, or attaches and
 *                         forks, has no thread), on an arena without
 *                         prefault, by a process allowed
 *                         on two or more CPUs: one pinned to a single core
 *                         would have the helper preempt its own commits
 *                         there - in the harness that took W1's p99 from
 *                         85 to 131 us; and not when the environment has
 *                         HELIOS_PAGE_HELPER=0). Without a helper each
 *                         grab populates its slab itself (populate.c).
 *   running  -> running   hl_ahead_kick (slab_grab): bumps `seq`, wakes the
 *                         thread, which fills the window and sleeps again
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
	uint64_t done;          /* heap-relative: allocated below, since start */
	bool first_round;       /* below first_end: nothing skipped */
	uint64_t first_end;     /* the starting slab + HL_AHEAD_BYTES */
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

	for (;;) {
		if (atomic_load_explicit(&h->stop, memory_order_relaxed))
			return;
		uint64_t next = atomic_load_explicit(&a->hdr->heap_next,
						     memory_order_relaxed);
		if (h->first_round && h->done >= h->first_end)
			h->first_round = false;
		if (h->done < next && !h->first_round)
			h->done = next; /* invariant 2 */
		if (h->done >= heap->bytes || heap->bytes - h->done < unit ||
		    (h->done > next && h->done - next >= HL_AHEAD_BYTES))
			return;
		/* page-aligned: both are multiples of the slab unit */
		(void)madvise(hl_at(a, heap->off + h->done), unit, MADV_POPULATE_WRITE);
		h->done += unit;
	}
}


static void *ahead_main(void *arg)
{
	struct hl_ahead *h = arg;

	while (!atomic_load_explicit(&h->stop, memory_order_acquire)) {
		uint32_t seen = atomic_load_explicit(&h->seq, memory_order_acquire);
		fill_window(h);
		if (atomic_load_explicit(&h->seq, memory_order_acquire) == seen &&
		    !atomic_load_explicit(&h->stop, memory_order_acquire))
			futex_wait(&h->seq, seen); /* invariant 3 */
	}
	return NULL;
}

/* The thread blocks every signal: they are the application's, delivered
 * to its own threads. */
static int spawn(struct hl_ahead *h)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&h->thread, NULL, ahead_main, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
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

/* CPUs this process may run on: a thread inherits the mask, so a process
 * pinned to one core (helios run and helios bench pin each worker) would
 * have its helper preempt its own commits there. */
static int cpus_allowed(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) != 0)
		return 1;
	return CPU_COUNT(&set);
}

static void ahead_start(hl_arena *a, uint64_t slab_rel)
{
	a->ahead = NULL;
	if ((a->flags & HL_RDONLY) || (a->hdr->flags & HL_ARENA_F_PREFAULT) ||
	    cpus_allowed() < 2 || !helper_wanted())
		return;
	struct hl_ahead *h = calloc(1, sizeof *h);
	if (!h)
		return; /* invariant 4 */
	h->a = a;
	h->done = slab_rel; /* the starting grab's slab, then what follows */
	h->first_round = true;
	h->first_end = slab_rel + HL_AHEAD_BYTES;
	if (spawn(h) != 0) {
		free(h);
		return;
	}
	a->ahead = h;
}

/* A fork's child has the handle but not the thread: it answers false, and
 * heap.c populates the slab itself. So does the grab that starts the
 * helper: the window is only begun. True means the helper has been told:
 * the slab's pages are allocated ahead when it kept up, and faulted in by
 * its commits when it did not. */
bool hl_ahead_kick(hl_arena *a, uint64_t slab_rel)
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

	atomic_fetch_add_explicit(&h->seq, 1, memory_order_release);
	futex_wake(&h->seq);
	return true;
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
