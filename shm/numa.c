/*
 * numa.c - memory placement on NUMA machines, through libnuma.
 *
 * The arena's index and shared metadata are read by every process on every
 * node, so they are interleaved across the nodes this process may use; a
 * worker's heap slabs are read mostly by the worker that wrote them, so each
 * slab prefers the node its grabber runs on (heap.c calls hl_numa_prefer
 * before the slab's first touch: placement happens at page fault).
 *
 * Invariants:
 *
 *   1. Where the kernel has no NUMA support (numa_available() < 0: no
 *      mbind/get_mempolicy system calls, e.g. a kernel built without
 *      CONFIG_NUMA, or seccomp refusing them), every process is on node 0
 *      and the policy calls are no-ops that succeed: memory placement is
 *      an optimisation, never a reason to fail.
 *   2. Otherwise the policy calls are always made, even on a one-node
 *      machine where they change nothing, so the path that runs on big
 *      machines is the path tests run.
 *   3. MPOL_PREFERRED, not MPOL_BIND: a full node spills to another rather
 *      than failing the page fault with SIGBUS in the middle of a commit.
 *   4. Policies are set with flags 0 (no MPOL_MF_MOVE): they apply to pages
 *      faulted in later. Callers set them before first touch.
 *
 * The mappings are shared (POSIX shm or a file), so mbind sets the shared
 * policy of the object's pages: it holds for every process that maps them.
 *
 * There is no shared state here. The only process-wide state is the cached
 * answer of numa_available(), an atomic so concurrent handles in threads may
 * both compute it (the answer is the same).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_getcpu */
#endif
#include <numa.h>
#include <numaif.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "shm.h"

/* Nodes a one-node preference mask can name: the kernel's own limit
 * (MAX_NUMNODES is at most 1 << CONFIG_NODES_SHIFT = 1024). Kept on the
 * stack so hl_numa_prefer, called once per slab, allocates nothing
 * (libnuma's bitmask allocator exits the process on failure). */
#define NUMA_NODES_MAX 1024u
#define BITS_PER_LONG (8u * sizeof(unsigned long))

enum { NUMA_UNKNOWN = 0, NUMA_YES = 1, NUMA_NO = 2 };
static _Atomic int numa_state = NUMA_UNKNOWN;

static bool numa_on(void)
{
	int s = atomic_load_explicit(&numa_state, memory_order_relaxed);

	if (s == NUMA_UNKNOWN) {
		s = numa_available() < 0 ? NUMA_NO : NUMA_YES;
		atomic_store_explicit(&numa_state, s, memory_order_relaxed);
	}
	return s == NUMA_YES;
}

/* mbind needs a page-aligned start; anything else is a caller's bad
 * argument, reported rather than passed on as a failed system call. */
static bool page_aligned(const void *p)
{
	long page = sysconf(_SC_PAGESIZE);

	return page > 0 && (uintptr_t)p % (uintptr_t)page == 0;
}

int hl_numa_local_node(void)
{
	int cpu, node;

	if (!numa_on())
		return 0;
	cpu = sched_getcpu();
	if (cpu < 0)
		return 0;
	node = numa_node_of_cpu(cpu);
	return node < 0 ? 0 : node;
}

int hl_numa_interleave(void *p, size_t len)
{
	struct bitmask *nodes;
	long rc;

	if (!page_aligned(p))
		return HL_EINVAL;
	if (!numa_on())
		return 0;
	nodes = numa_get_mems_allowed();
	if (!nodes)
		return HL_ENOMEM;
	/* size + 1: the kernel counts maxnode one past the last bit (as
	 * libnuma's own numa_interleave_memory does) */
	rc = mbind(p, len, MPOL_INTERLEAVE, nodes->maskp, nodes->size + 1, 0);
	numa_bitmask_free(nodes);
	return rc == 0 ? 0 : HL_EIO;
}

int hl_numa_prefer(void *p, size_t len, int node)
{
	unsigned long mask[NUMA_NODES_MAX / BITS_PER_LONG] = { 0 };

	if (!page_aligned(p) || node < 0 || (unsigned)node >= NUMA_NODES_MAX)
		return HL_EINVAL;
	if (!numa_on())
		return 0;
	mask[(unsigned)node / BITS_PER_LONG] |= 1ul << ((unsigned)node % BITS_PER_LONG);
	if (mbind(p, len, MPOL_PREFERRED, mask, NUMA_NODES_MAX + 1, 0) != 0)
		return HL_EIO;
	return 0;
}
