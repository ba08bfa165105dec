/*
 * test_heap_mp.c - the shared heap (shm/heap.c) under many processes:
 * allocating and freeing concurrently, racing to fill the heap, and
 * killed mid-allocation. Children fork, attach by name (never the
 * parent's handle) and report through their exit status; every object is
 * self-checking (heap_util.h).
 */
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "heap_util.h"

TestSuite(heap_mp, .fini = unlink_all);

/* ---- many processes ---------------------------------------------------------- */

#define CHILDREN 4
#define CHILD_ITERS 200000
#define CHILD_LIVE 512

static void child_fail(int code, const char *what, uint64_t v)
{
	fprintf(stderr, "child %d: %s (%llu)\n", (int)getpid(), what,
		(unsigned long long)v);
	_exit(code);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Waits (at most 20 s) until every child reached the barrier. Spins rather
 * than sleeps so the children leave it together and really race. */
static void barrier_wait(_Atomic int *barrier, int count)
{
	uint64_t deadline = now_ns() + 20000000000ull;

	atomic_fetch_add(barrier, 1);
	while (atomic_load(barrier) < count) {
		if (now_ns() > deadline)
			child_fail(20, "barrier timed out", 0);
		sched_yield();
	}
}

static void child_verify(hl_arena *a, struct obj *live, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (obj_bad_word(a, &live[i]) >= 0)
			child_fail(13, "object overwritten", live[i].off);
}

/* Allocates and frees in a random mix (both rewinds and pushes), keeps up
 * to CHILD_LIVE objects, verifies them all once every child is done
 * writing. Never returns. */
static void child_run(const char *name, int id, _Atomic int *barrier)
{
	static struct obj live[CHILD_LIVE];
	hl_arena *a = NULL;
	uint64_t rng = 0x1234567ull * (uint64_t)(id + 1);
	size_t n = 0;

	if (hl_arena_attach(name, 0, &a) != 0)
		child_fail(10, "attach", 0);
	const unsigned hot[3] = { a->class_leaf, a->class_inner, a->class_root };
	barrier_wait(&barrier[0], CHILDREN); /* all start together */
	for (uint64_t it = 0; it < CHILD_ITERS; it++) {
		uint64_t r = rng_next(&rng);
		if (n < CHILD_LIVE && (n == 0 || r % 8 < 5)) {
			/* mostly the node classes, so the processes contend */
			unsigned cls = (r >> 4) % 4
				? hot[(r >> 8) % 3]
				: (unsigned)((r >> 8) % a->hdr->class_count);
			uint64_t gen = ((uint64_t)id << 40) | it;
			int rc = alloc_obj(a, cls, gen, &live[n]);
			if (rc == HL_EFULL)
				continue;
			if (rc)
				child_fail(11, "alloc", (uint64_t)-rc);
			if (!obj_placed_ok(a, &live[n]))
				child_fail(12, "misplaced", live[n].off);
			n++;
		} else {
			/* half the time the newest object: the rewind path */
			size_t k = r % 2 ? n - 1 : (r >> 8) % n;
			if (obj_bad_word(a, &live[k]) >= 0)
				child_fail(13, "object overwritten", live[k].off);
			unsigned cls = (unsigned)hl_heap_class_of(a->hdr, live[k].bytes);
			hl_heap_free(a, cls, live[k].off);
			live[k] = live[--n];
		}
	}
	barrier_wait(&barrier[1], CHILDREN); /* all done writing */
	child_verify(a, live, n);
	if (objs_overlap(live, n) >= 0)
		child_fail(14, "own objects overlap", 0);
	for (size_t i = 0; i < n; i++)
		hl_heap_free(a, (unsigned)hl_heap_class_of(a->hdr, live[i].bytes),
			     live[i].off);
	hl_arena_close(a);
	_exit(0);
}

Test(heap_mp, processes_allocate_and_free_concurrently, .timeout = 60)
{
	const char *name;
	hl_arena *a = arena_new(32u << 20, 4096, &name);
	_Atomic int *barrier = mmap(NULL, HL_PAGE_BYTES, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pids[CHILDREN];

	cr_assert_neq(barrier, MAP_FAILED);
	atomic_store(&barrier[0], 0);
	atomic_store(&barrier[1], 0);
	for (int i = 0; i < CHILDREN; i++) {
		pids[i] = fork();
		cr_assert_geq(pids[i], 0);
		if (pids[i] == 0)
			child_run(name, i, barrier);
	}
	for (int i = 0; i < CHILDREN; i++) {
		int st;
		cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "child %d: status 0x%x", i, st);
	}
	assert_heap_ok(a);
	cr_assert_gt(hl_heap_used(a), 0);
	munmap(barrier, HL_PAGE_BYTES);
	hl_arena_close(a);
}

/* Allocates leaves until the heap is full, then checks every one. */
static void child_fill(const char *name, _Atomic int *barrier,
		       _Atomic uint64_t *count)
{
	static struct obj objs[FULL_MAX];
	hl_arena *a = NULL;
	size_t n = 0;
	int rc = 0;

	if (hl_arena_attach(name, 0, &a) != 0)
		child_fail(10, "attach", 0);
	barrier_wait(&barrier[0], CHILDREN);
	while (n < FULL_MAX &&
	       (rc = alloc_obj(a, a->class_leaf, (uint64_t)getpid(), &objs[n])) == 0) {
		if (!obj_placed_ok(a, &objs[n]))
			child_fail(12, "misplaced", objs[n].off);
		n++;
	}
	if (rc != HL_EFULL)
		child_fail(11, "not HL_EFULL at the end", (uint64_t)-rc);
	barrier_wait(&barrier[1], CHILDREN);
	child_verify(a, objs, n);
	atomic_fetch_add(count, n);
	hl_arena_close(a);
	_exit(0);
}

Test(heap_mp, processes_race_to_fill_the_heap, .timeout = 60)
{
	const char *name;
	hl_arena *a = arena_new(32u << 20, 4096, &name);
	void *shared = mmap(NULL, HL_PAGE_BYTES, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(shared, MAP_FAILED);
	_Atomic int *barrier = shared;
	_Atomic uint64_t *count = (_Atomic uint64_t *)((char *)shared + 64);
	pid_t pids[CHILDREN];

	for (int i = 0; i < CHILDREN; i++) {
		pids[i] = fork();
		cr_assert_geq(pids[i], 0);
		if (pids[i] == 0)
			child_fill(name, barrier, count);
	}
	for (int i = 0; i < CHILDREN; i++) {
		int st;
		cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "child %d: status 0x%x", i, st);
	}
	uint64_t heap_bytes = a->hdr->regions[HL_REGION_HEAP].bytes;
	uint64_t slab = class_slab(a, a->class_leaf);
	uint64_t per_slab = slab / a->hdr->class_bytes[a->class_leaf];
	/* the heap_next CAS never passes the end; less than a slab is left */
	cr_assert_leq(heap_next(a), heap_bytes);
	cr_assert_lt(heap_bytes - hl_heap_used(a), slab);
	/* every slab was carved to the last whole leaf by one process */
	cr_assert_eq(atomic_load(count), heap_bytes / slab * per_slab,
		     "%llu leaves in %llu slabs",
		     (unsigned long long)atomic_load(count),
		     (unsigned long long)(heap_bytes / slab));
	assert_heap_ok(a);
	munmap(shared, HL_PAGE_BYTES);
	hl_arena_close(a);
}

/* A child that allocates and frees until it is killed. */
static void child_churn(const char *name, int ready_fd)
{
	static uint64_t held[64];
	hl_arena *a = NULL;
	uint64_t rng = (uint64_t)getpid() * 0x9e3779b9ull + 1;
	unsigned held_cls[64];
	size_t n = 0;

	if (hl_arena_attach(name, 0, &a) != 0)
		_exit(10);
	if (write(ready_fd, "x", 1) != 1)
		_exit(11);
	for (;;) {
		uint64_t r = rng_next(&rng);
		if (n < 64 && (n == 0 || r % 2)) {
			unsigned cls = (unsigned)((r >> 8) % a->hdr->class_count);
			if (hl_heap_alloc(a, cls, &held[n]) == 0)
				held_cls[n++] = cls;
		} else {
			size_t k = (r >> 8) % n;
			hl_heap_free(a, held_cls[k], held[k]);
			held[k] = held[--n];
			held_cls[k] = held_cls[n];
		}
	}
}

Test(heap_mp, killed_processes_leave_a_consistent_heap, .timeout = 60)
{
	const char *name;
	hl_arena *a = arena_new(16u << 20, 4096, &name);
	uint64_t rng = (uint64_t)time(NULL) | 1; /* a new kill schedule each run */

	cr_log_info("kill schedule seed %llu", (unsigned long long)rng);

	for (int round = 0; round < 12; round++) {
		int fds[2];
		char c;
		cr_assert_eq(pipe(fds), 0);
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			close(fds[0]);
			child_churn(name, fds[1]);
		}
		close(fds[1]);
		cr_assert_eq(read(fds[0], &c, 1), 1, "round %d: child never attached",
			     round);
		close(fds[0]);
		usleep((useconds_t)(rng_next(&rng) % 20000));
		kill(pid, SIGKILL);
		int st;
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		cr_assert(WIFSIGNALED(st), "round %d: child exited 0x%x", round, st);
		assert_heap_ok(a);
	}
	/* the heap still works for the survivors */
	struct obj o;
	cr_assert_eq(alloc_obj(a, a->class_leaf, 1, &o), 0);
	cr_assert_eq(obj_bad_word(a, &o), -1);
	assert_heap_ok(a);
	hl_arena_close(a);
}

