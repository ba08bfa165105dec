/*
 * run_gc.c - `helios run`'s background collector: a thread of the
 * coordinator that runs a collection whenever the heap passes a threshold,
 * so workers seldom find it full (and when they do, their commit runs or
 * waits for one: shm/gc.c).
 *
 * The thread has an arena handle of its own (a handle is one thread's),
 * hence its own process slot. Every HL_RUN_GC_POLL_NS it reads two
 * numbers: the heap's slabs handed out (hl_stats.heap_used_bytes: slabs
 * never go back, so this only says the heap is nearly all carved) and the
 * bytes published since its last collection (the counters). It collects
 * when the first is past the threshold (--gc-at, default 75%) and the
 * second past an eighth of the heap: the heap is carved, and enough new
 * content arrived that a collection finds something. It never collects
 * more often than that, so a heap full of live data costs one collection
 * per eighth of a heap of new content.
 *
 * State machine of the thread: RUNNING --stop (hl_run_gc_stop)--> joined.
 * A collection in progress when stop is asked finishes first (it is
 * bounded: a stopped worker makes it give up after its barrier timeout).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "kit.h"

#define HL_RUN_GC_POLL_NS (20ull * 1000000ull)

struct hl_run_gc {
	hl_arena *a;
	pthread_t thread;
	_Atomic bool stop;
	double at;             /* collect past this fraction of the heap carved */
	uint64_t stored_last;  /* published bytes at the last collection */
	uint64_t runs, failures;
};

static uint64_t published(hl_arena *a)
{
	hl_stats st;
	return hl_arena_stats(a, &st) == 0 ? st.stored_bytes : 0;
}

static bool due(struct hl_run_gc *g)
{
	hl_stats st;
	if (hl_arena_stats(g->a, &st) || st.heap_bytes == 0)
		return false;
	return (double)st.heap_used_bytes >= g->at * (double)st.heap_bytes &&
	       st.stored_bytes - g->stored_last >= st.heap_bytes / 8;
}

static void *loop(void *arg)
{
	struct hl_run_gc *g = arg;
	while (!atomic_load_explicit(&g->stop, memory_order_acquire)) {
		if (due(g)) {
			int rc = hl_gc(g->a, NULL);
			if (rc == 0)
				g->runs++;
			else if (rc != HL_EBUSY)
				g->failures++;
			g->stored_last = published(g->a);
		}
		struct timespec ts = {0, (long)HL_RUN_GC_POLL_NS};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int hl_run_gc_start(const char *arena, double at, struct hl_run_gc **out)
{
	*out = NULL;
	struct hl_run_gc *g = calloc(1, sizeof *g);
	if (!g)
		return HL_ENOMEM;
	int rc = hl_arena_attach(arena, 0, &g->a);
	if (rc) {
		free(g);
		return rc;
	}
	g->at = at;
	g->stored_last = 0;
	if (pthread_create(&g->thread, NULL, loop, g)) {
		hl_arena_close(g->a);
		free(g);
		return HL_ENOMEM;
	}
	*out = g;
	return 0;
}

void hl_run_gc_stop(struct hl_run_gc *g)
{
	if (!g)
		return;
	atomic_store_explicit(&g->stop, true, memory_order_release);
	pthread_join(g->thread, NULL);
	hl_arena_close(g->a);
	free(g);
}
