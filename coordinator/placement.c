/*
 * placement.c - which core each worker runs on, and pinning it there.
 *
 * `helios run` asks hl_place_workers where workers 0..n-1 go and binds each
 * child it forks with hl_placement_bind. The topology comes from hwloc: the
 * real machine, or a synthetic description ("pack:2 numa:2 core:4 pu:1") so
 * that tests exercise the multi-node logic on a one-node box.
 *
 * THE SPREADING ORDER
 *
 * The cores of the topology are ranked once:
 *
 *     round 0:  the 1st core of node 0, the 1st of node 1, ..., of the last node
 *     round 1:  the 2nd core of each node that has one, in the same node order
 *     ...
 *
 * where a node's "k-th core" is taken round-robin over the node's packages,
 * each package's cores in logical order. Nodes go by OS index, packages by
 * logical index. Worker i gets the core of rank i mod ncores.
 *
 *   - Nodes first: each NUMA node has its own memory controllers, and a
 *     worker's heap slabs live on the node it runs on (heap.c has numa.c
 *     prefer the local node before a slab's first touch). Spreading workers
 *     over nodes spreads their commits' memory traffic, and the arena's
 *     per-node slabs, over every controller; packing them would saturate
 *     one node's bandwidth while the others idle.
 *   - Then packages: a package brings its own last-level cache and power
 *     budget.
 *   - Then cores, never a hardware thread on its own: the threads of one
 *     core share its execution units and L1/L2, and a commit is hash- and
 *     memory-bound, so a sibling thread adds little while a core is idle.
 *     A worker is bound to every PU of its core and the kernel picks one.
 *
 * Oversubscription: with more workers than cores the ranking wraps, so
 * worker counts per core differ by at most one. Workers sharing a core are
 * time-sliced by the kernel over all of its PUs; the engine takes no locks,
 * so a descheduled worker blocks nobody and throughput degrades rather
 * than collapses.
 *
 * INVARIANTS
 *
 *   1. Balance: among workers 0..n-1 no core has two more workers than
 *      another; no core gets a second worker before every core has one.
 *   2. Prefix stability: worker i's placement depends on i and the topology,
 *      never on n. Adding workers never moves one, and a restarted worker i
 *      goes back to its core, next to its node's slabs.
 *   3. Within one round each node that still has cores appears exactly
 *      once, in ascending order; within one node, each package likewise.
 *   4. A core's node is the most local NUMA node whose cpuset meets the
 *      core's: the smallest such cpuset, then the lowest OS index. A node
 *      without CPUs (CXL memory, HBM in flat mode) never receives a worker,
 *      and a machine-wide node loses to a package's own. No node at all
 *      (not produced by hwloc 2, but cheap to allow) reads as node 0.
 *   5. A topology without Core objects (some VMs report only PUs) is placed
 *      over its PUs, each PU standing for a core.
 *   6. All or nothing: when hl_place_workers fails, no cpuset is left
 *      allocated in out[].
 *
 * REPORTING
 *
 * hl_topology_load says why it failed (hwloc's reason is otherwise lost:
 * a bad synthetic string is rejected silently). hl_placement_bind says
 * nothing and leaves errno as the system set it: its caller knows which
 * worker it was binding and whether the run goes on unpinned, and it may be
 * called again at every restart.
 *
 * Nothing here is global or shared. The topology is only read, so threads
 * may place workers concurrently (hwloc allows concurrent readers).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kit.h"

/* One core (or PU, invariant 5) with the keys of the spreading order. */
struct rank_entry {
	hwloc_obj_t obj;
	int node;            /* OS index of its node; 0 without one */
	int package;         /* logical index of its package; 0 without one */
	unsigned in_package; /* its position in (node, package), core order */
	unsigned in_node;    /* its position in its node's round-robin */
};

int hl_topology_load(hwloc_topology_t *topo, const char *synthetic)
{
	hwloc_topology_t t;
	int rc;

	if (!topo)
		return HL_EINVAL;
	if (hwloc_topology_init(&t) < 0)
		return HL_ENOMEM;
	if (synthetic && hwloc_topology_set_synthetic(t, synthetic) < 0) {
		hl_say("topology: bad synthetic description \"%s\"", synthetic);
		rc = HL_EINVAL;
		goto out_destroy;
	}
	if (hwloc_topology_load(t) < 0) {
		hl_say("topology: cannot load: %s", strerror(errno));
		rc = HL_EIO;
		goto out_destroy;
	}
	*topo = t;
	return 0;

out_destroy:
	hwloc_topology_destroy(t);
	return rc;
}

/* The NUMA node closest to obj (invariant 4), or NULL if none meets it. */
static hwloc_obj_t nearest_node(hwloc_topology_t topo, hwloc_obj_t obj)
{
	hwloc_obj_t best = NULL, node = NULL;
	unsigned best_weight = 0;

	while ((node = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE,
						  node))) {
		unsigned weight;

		if (!node->cpuset ||
		    !hwloc_bitmap_intersects(node->cpuset, obj->cpuset))
			continue;
		/* An infinite cpuset (weight -1) becomes the widest. */
		weight = (unsigned)hwloc_bitmap_weight(node->cpuset);
		if (!best || weight < best_weight ||
		    (weight == best_weight && node->os_index < best->os_index)) {
			best = node;
			best_weight = weight;
		}
	}
	return best;
}

static int package_of(hwloc_topology_t topo, hwloc_obj_t obj)
{
	hwloc_obj_t pkg =
		hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, obj);

	return pkg ? (int)pkg->logical_index : 0;
}

static int cmp(long a, long b)
{
	return (a > b) - (a < b);
}

/* Groups each (node, package)'s cores, in core order. */
static int by_package(const void *pa, const void *pb)
{
	const struct rank_entry *a = pa, *b = pb;
	int c = cmp(a->node, b->node);

	if (!c)
		c = cmp(a->package, b->package);
	if (!c)
		c = cmp(a->obj->logical_index, b->obj->logical_index);
	return c;
}

/* Each node's cores, round-robin over its packages. */
static int by_node_round(const void *pa, const void *pb)
{
	const struct rank_entry *a = pa, *b = pb;
	int c = cmp(a->node, b->node);

	if (!c)
		c = cmp(a->in_package, b->in_package);
	if (!c)
		c = cmp(a->package, b->package);
	return c;
}

/* The final order: round-robin over the nodes. */
static int by_round(const void *pa, const void *pb)
{
	const struct rank_entry *a = pa, *b = pb;
	int c = cmp(a->in_node, b->in_node);

	if (!c)
		c = cmp(a->node, b->node);
	return c;
}

/* After by_package: numbers the cores within each (node, package). */
static void number_in_package(struct rank_entry *e, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		bool same = i > 0 && e[i].node == e[i - 1].node &&
			    e[i].package == e[i - 1].package;

		e[i].in_package = same ? e[i - 1].in_package + 1 : 0;
	}
}

/* After by_node_round: numbers the cores within each node. */
static void number_in_node(struct rank_entry *e, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		bool same = i > 0 && e[i].node == e[i - 1].node;

		e[i].in_node = same ? e[i - 1].in_node + 1 : 0;
	}
}

/* Fills e[0..count) with the objects of type and sorts them into the
 * spreading order. */
static void rank_cores(hwloc_topology_t topo, hwloc_obj_type_t type,
		       struct rank_entry *e, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		hwloc_obj_t obj = hwloc_get_obj_by_type(topo, type, i);
		hwloc_obj_t node = nearest_node(topo, obj);

		e[i] = (struct rank_entry){
			.obj = obj,
			.node = node ? (int)node->os_index : 0,
			.package = package_of(topo, obj),
		};
	}
	qsort(e, count, sizeof *e, by_package);
	number_in_package(e, count);
	qsort(e, count, sizeof *e, by_node_round);
	number_in_node(e, count);
	qsort(e, count, sizeof *e, by_round);
}

static int fill_placement(const struct rank_entry *e, struct hl_placement *p)
{
	hwloc_bitmap_t set = hwloc_bitmap_dup(e->obj->cpuset);

	if (!set)
		return HL_ENOMEM;
	*p = (struct hl_placement){
		.core = (int)e->obj->logical_index,
		.pu_os_index = hwloc_bitmap_first(set),
		.numa_node = e->node,
		.package = e->package,
		.cpuset = set,
	};
	return 0;
}

int hl_place_workers(hwloc_topology_t topo, unsigned n,
		     struct hl_placement *out)
{
	hwloc_obj_type_t type = HWLOC_OBJ_CORE;
	struct rank_entry *e;
	int count;

	if (!topo || (n && !out))
		return HL_EINVAL;
	if (n == 0)
		return 0;
	count = hwloc_get_nbobjs_by_type(topo, type);
	if (count <= 0) {
		type = HWLOC_OBJ_PU;
		count = hwloc_get_nbobjs_by_type(topo, type);
	}
	if (count <= 0)
		return HL_EINVAL;
	e = calloc((size_t)count, sizeof *e);
	if (!e)
		return HL_ENOMEM;
	rank_cores(topo, type, e, (unsigned)count);
	for (unsigned i = 0; i < n; i++) {
		if (fill_placement(&e[i % (unsigned)count], &out[i]) < 0) {
			hl_placement_free(out, i);
			free(e);
			return HL_ENOMEM;
		}
	}
	free(e);
	return 0;
}

void hl_placement_free(struct hl_placement *out, unsigned n)
{
	if (!out)
		return;
	for (unsigned i = 0; i < n; i++) {
		hwloc_bitmap_free(out[i].cpuset);
		out[i].cpuset = NULL;
	}
}

int hl_placement_bind(hwloc_topology_t topo, pid_t pid,
		      const struct hl_placement *p)
{
	if (!topo || !p || !p->cpuset)
		return HL_EINVAL;
	if (hwloc_set_proc_cpubind(topo, pid, p->cpuset,
				   HWLOC_CPUBIND_PROCESS) < 0)
		return HL_EIO; /* errno says why; see REPORTING above */
	return 0;
}

void hl_placement_describe(const struct hl_placement *p, char *buf,
			   size_t len)
{
	if (!buf || len == 0)
		return;
	if (!p) {
		snprintf(buf, len, "unplaced");
		return;
	}
	snprintf(buf, len, "core %d (pu %d, node %d, package %d)", p->core,
		 p->pu_os_index, p->numa_node, p->package);
}
