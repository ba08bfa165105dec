/*
 * test_placement.c - worker placement: the spreading order on hwloc
 * synthetic topologies (several nodes, packages, SMT, no cores, uneven and
 * CPU-less nodes), balance and prefix stability under oversubscription, and
 * binding on the real machine (this process and a forked child).
 *
 * Synthetic levels multiply: "pack:2 numa:2 core:4 pu:1" is 2 packages x 2
 * nodes x 4 cores = 16 cores, nodes 0-1 in package 0 and 2-3 in package 1.
 */
#include <criterion/criterion.h>
#include <hwloc.h>
#include <hwloc/glibc-sched.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kit.h"

TestSuite(placement);

#define WORKERS_MAX 64u

static hwloc_topology_t load(const char *synthetic)
{
	hwloc_topology_t t = NULL;

	cr_assert_eq(hl_topology_load(&t, synthetic), 0, "load \"%s\"",
		     synthetic ? synthetic : "(this machine)");
	cr_assert_not_null(t);
	return t;
}

/* Restricts t to the PUs in list ("0-4"), keeping CPU-less nodes. */
static void restrict_to(hwloc_topology_t t, const char *list)
{
	hwloc_bitmap_t set = hwloc_bitmap_alloc();

	cr_assert_eq(hwloc_bitmap_list_sscanf(set, list), 0);
	cr_assert_eq(hwloc_topology_restrict(t, set, 0), 0);
	hwloc_bitmap_free(set);
}

static unsigned core_count(hwloc_topology_t t)
{
	int n = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);

	if (n <= 0)
		n = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU);
	cr_assert_gt(n, 0);
	return (unsigned)n;
}

/* The object p names, found independently of placement.c's ranking. */
static hwloc_obj_t placed_obj(hwloc_topology_t t, const struct hl_placement *p)
{
	hwloc_obj_type_t type = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE) > 0
					? HWLOC_OBJ_CORE
					: HWLOC_OBJ_PU;
	hwloc_obj_t obj = hwloc_get_obj_by_type(t, type, (unsigned)p->core);

	cr_assert_not_null(obj, "core %d does not exist", p->core);
	return obj;
}

/* Every field of p agrees with the topology. */
static void check_fields(hwloc_topology_t t, const struct hl_placement *p)
{
	hwloc_obj_t obj = placed_obj(t, p);
	hwloc_obj_t pkg =
		hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_PACKAGE, obj);
	hwloc_obj_t node =
		hwloc_get_numanode_obj_by_os_index(t, (unsigned)p->numa_node);

	cr_assert_not_null(p->cpuset);
	cr_assert(hwloc_bitmap_isequal(p->cpuset, obj->cpuset),
		  "core %d: cpuset is not the core's", p->core);
	cr_assert_eq(p->pu_os_index, hwloc_bitmap_first(obj->cpuset));
	cr_assert_eq(p->package, pkg ? (int)pkg->logical_index : 0);
	cr_assert_not_null(node, "node %d does not exist", p->numa_node);
	cr_assert(hwloc_bitmap_isincluded(obj->cpuset, node->cpuset),
		  "core %d is not in node %d", p->core, p->numa_node);
}

static void place(hwloc_topology_t t, unsigned n, struct hl_placement *p)
{
	cr_assert_leq(n, WORKERS_MAX);
	cr_assert_eq(hl_place_workers(t, n, p), 0, "place %u workers", n);
	for (unsigned i = 0; i < n; i++)
		check_fields(t, &p[i]);
}

static void expect_cores(const struct hl_placement *p, const int *cores,
			 unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(p[i].core, cores[i], "worker %u: core %d, want %d",
			     i, p[i].core, cores[i]);
}

static void expect_nodes(const struct hl_placement *p, const int *nodes,
			 unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(p[i].numa_node, nodes[i],
			     "worker %u: node %d, want %d", i, p[i].numa_node,
			     nodes[i]);
}

/* Each core's worker count among p[0..n). */
static void count_per_core(const struct hl_placement *p, unsigned n,
			   unsigned *counts, unsigned ncores)
{
	memset(counts, 0, ncores * sizeof *counts);
	for (unsigned i = 0; i < n; i++) {
		cr_assert_lt((unsigned)p[i].core, ncores);
		counts[p[i].core]++;
	}
}

static void expect_each_core(const struct hl_placement *p, unsigned n,
			     unsigned ncores, unsigned times)
{
	unsigned counts[WORKERS_MAX];

	cr_assert_leq(ncores, WORKERS_MAX);
	count_per_core(p, n, counts, ncores);
	for (unsigned c = 0; c < ncores; c++)
		cr_assert_eq(counts[c], times, "core %u has %u workers, want %u",
			     c, counts[c], times);
}

/* No core holds two workers among p[0..n). */
static void expect_distinct(const struct hl_placement *p, unsigned n,
			    unsigned ncores)
{
	unsigned counts[WORKERS_MAX];

	cr_assert_leq(ncores, WORKERS_MAX);
	count_per_core(p, n, counts, ncores);
	for (unsigned c = 0; c < ncores; c++)
		cr_assert_leq(counts[c], 1, "core %u has %u workers", c,
			      counts[c]);
}

static bool same_placement(const struct hl_placement *a,
			   const struct hl_placement *b)
{
	return a->core == b->core && a->pu_os_index == b->pu_os_index &&
	       a->numa_node == b->numa_node && a->package == b->package &&
	       hwloc_bitmap_isequal(a->cpuset, b->cpuset);
}

/* ---- synthetic topologies --------------------------------------------------- */

Test(placement, eight_workers_spread_over_four_nodes)
{
	hwloc_topology_t t = load("pack:2 numa:2 core:4 pu:1");
	struct hl_placement p[8];
	static const int cores[] = {0, 4, 8, 12, 1, 5, 9, 13};
	unsigned per_node[4] = {0};

	cr_assert_eq(core_count(t), 16);
	cr_assert_eq(hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE), 4);
	place(t, 8, p);
	expect_cores(p, cores, 8);
	expect_distinct(p, 8, 16);
	for (unsigned i = 0; i < 8; i++) {
		cr_assert_eq(p[i].numa_node, (int)(i % 4));
		cr_assert_eq(p[i].package, p[i].numa_node / 2);
		cr_assert_eq(hwloc_bitmap_weight(p[i].cpuset), 1);
		cr_assert_eq(p[i].pu_os_index, p[i].core);
		if (i > 0)
			cr_assert_neq(p[i].numa_node, p[i - 1].numa_node,
				      "workers %u and %u share a node", i - 1, i);
		per_node[p[i].numa_node]++;
	}
	for (unsigned n = 0; n < 4; n++)
		cr_assert_eq(per_node[n], 2, "node %u has %u workers", n,
			     per_node[n]);
	hl_placement_free(p, 8);
	hwloc_topology_destroy(t);
}

Test(placement, oversubscription_wraps_in_the_same_order)
{
	hwloc_topology_t t = load("pack:2 numa:2 core:4 pu:1");
	struct hl_placement p[32];

	place(t, 16, p);
	expect_each_core(p, 16, 16, 1);
	hl_placement_free(p, 16);

	place(t, 32, p);
	expect_each_core(p, 32, 16, 2);
	for (unsigned i = 0; i < 16; i++)
		cr_assert(same_placement(&p[i], &p[i + 16]),
			  "worker %u is not where worker %u is", i + 16, i);
	hl_placement_free(p, 32);
	hwloc_topology_destroy(t);
}

Test(placement, no_numa_level_alternates_packages)
{
	hwloc_topology_t t = load("pack:2 core:4 pu:2");
	struct hl_placement p[8];
	static const int cores[] = {0, 4, 1, 5, 2, 6, 3, 7};

	cr_assert_eq(core_count(t), 8);
	place(t, 8, p);
	expect_cores(p, cores, 8);
	expect_distinct(p, 8, 8);
	for (unsigned i = 0; i < 8; i++) {
		cr_assert_eq(p[i].numa_node, 0);
		cr_assert_eq(p[i].package, (int)(i % 2));
		/* bound to the whole core: both of its hardware threads */
		cr_assert_eq(hwloc_bitmap_weight(p[i].cpuset), 2);
		cr_assert_eq(p[i].pu_os_index, 2 * p[i].core);
		cr_assert(hwloc_bitmap_isset(p[i].cpuset,
					     (unsigned)p[i].pu_os_index + 1));
	}
	hl_placement_free(p, 8);
	hwloc_topology_destroy(t);
}

Test(placement, nodes_without_packages)
{
	hwloc_topology_t t = load("numa:4 core:2 pu:1");
	struct hl_placement p[8];
	static const int cores[] = {0, 2, 4, 6, 1, 3, 5, 7};

	place(t, 8, p);
	expect_cores(p, cores, 8);
	expect_distinct(p, 8, 8);
	for (unsigned i = 0; i < 8; i++) {
		cr_assert_eq(p[i].numa_node, (int)(i % 4));
		cr_assert_eq(p[i].package, 0);
	}
	hl_placement_free(p, 8);
	hwloc_topology_destroy(t);
}

Test(placement, packages_alternate_within_a_node)
{
	/* Each node spans two packages: node 0 = packages 0-1 (cores 0-3),
	 * node 1 = packages 2-3 (cores 4-7). */
	hwloc_topology_t t = load("numa:2 pack:2 core:2 pu:1");
	struct hl_placement p[8];
	static const int cores[] = {0, 4, 2, 6, 1, 5, 3, 7};
	static const int packages[] = {0, 2, 1, 3, 0, 2, 1, 3};

	place(t, 8, p);
	expect_cores(p, cores, 8);
	for (unsigned i = 0; i < 8; i++) {
		cr_assert_eq(p[i].numa_node, (int)(i % 2));
		cr_assert_eq(p[i].package, packages[i]);
	}
	hl_placement_free(p, 8);
	hwloc_topology_destroy(t);
}

Test(placement, single_core_takes_every_worker)
{
	hwloc_topology_t t = load("core:1 pu:1");
	struct hl_placement p[4];

	place(t, 4, p);
	for (unsigned i = 0; i < 4; i++) {
		cr_assert_eq(p[i].core, 0);
		cr_assert_eq(p[i].pu_os_index, 0);
		cr_assert_eq(p[i].numa_node, 0);
		cr_assert_eq(p[i].package, 0);
		cr_assert(hwloc_bitmap_isequal(p[i].cpuset, p[0].cpuset));
		/* each worker owns its own copy */
		if (i > 0)
			cr_assert_neq(p[i].cpuset, p[0].cpuset);
	}
	hl_placement_free(p, 4);
	hwloc_topology_destroy(t);
}

Test(placement, topology_without_cores_uses_pus)
{
	hwloc_topology_t t = load("pu:3");
	struct hl_placement p[4];
	static const int cores[] = {0, 1, 2, 0};

	cr_assert_eq(hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE), 0);
	place(t, 4, p);
	expect_cores(p, cores, 4);
	for (unsigned i = 0; i < 4; i++) {
		cr_assert_eq(hwloc_bitmap_weight(p[i].cpuset), 1);
		cr_assert_eq(p[i].pu_os_index, cores[i]);
	}
	hl_placement_free(p, 4);
	hwloc_topology_destroy(t);
}

Test(placement, uneven_nodes_share_rounds_until_one_runs_out)
{
	/* Node 0 keeps cores 0-3, node 1 only core 4. */
	hwloc_topology_t t = load("numa:2 core:4 pu:1");
	struct hl_placement p[6];
	static const int cores[] = {0, 4, 1, 2, 3, 0};
	static const int nodes[] = {0, 1, 0, 0, 0, 0};

	restrict_to(t, "0-4");
	cr_assert_eq(core_count(t), 5);
	place(t, 6, p);
	expect_cores(p, cores, 6);
	expect_nodes(p, nodes, 6);
	hl_placement_free(p, 6);
	hwloc_topology_destroy(t);
}

Test(placement, cpuless_node_gets_no_worker)
{
	/* Node 1 keeps its memory but loses its CPUs, like a CXL or
	 * flat-mode HBM node. */
	hwloc_topology_t t = load("numa:2 core:4 pu:1");
	struct hl_placement p[8];

	restrict_to(t, "0-3");
	cr_assert_eq(hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE), 2);
	place(t, 8, p);
	expect_each_core(p, 8, 4, 2);
	for (unsigned i = 0; i < 8; i++)
		cr_assert_eq(p[i].numa_node, 0, "worker %u on node %d", i,
			     p[i].numa_node);
	hl_placement_free(p, 8);
	hwloc_topology_destroy(t);
}

Test(placement, nearest_node_beats_a_machine_wide_one)
{
	/* Node 2 spans the machine; nodes 0 and 1 are each package's own. */
	hwloc_topology_t t = load("[numa] pack:2 [numa] core:2 pu:1");
	struct hl_placement p[4];
	static const int nodes[] = {0, 1, 0, 1};
	static const int cores[] = {0, 2, 1, 3};

	cr_assert_eq(hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE), 3);
	place(t, 4, p);
	expect_nodes(p, nodes, 4);
	expect_cores(p, cores, 4);
	hl_placement_free(p, 4);
	hwloc_topology_destroy(t);
}

Test(placement, equally_near_nodes_pick_the_lowest_index)
{
	/* Two nodes per package with the same CPUs (DDR + HBM style): nodes
	 * 0-1 in package 0, 2-3 in package 1. */
	hwloc_topology_t t = load("pack:2 [numa] [numa] core:2 pu:1");
	struct hl_placement p[4];
	static const int nodes[] = {0, 2, 0, 2};

	cr_assert_eq(hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE), 4);
	place(t, 4, p);
	expect_nodes(p, nodes, 4);
	hl_placement_free(p, 4);
	hwloc_topology_destroy(t);
}

/* Worker counts per core never differ by more than one, and placing k
 * workers gives exactly the first k of placing n. */
static void check_balance_and_prefix(const char *synthetic)
{
	hwloc_topology_t t = load(synthetic);
	unsigned ncores = core_count(t), n = 3 * ncores + 1;
	struct hl_placement all[WORKERS_MAX], some[WORKERS_MAX];
	unsigned counts[WORKERS_MAX];

	cr_assert_leq(n, WORKERS_MAX);
	place(t, n, all);
	for (unsigned k = 1; k <= n; k++) {
		unsigned lo = ~0u, hi = 0;

		place(t, k, some);
		for (unsigned i = 0; i < k; i++)
			cr_assert(same_placement(&some[i], &all[i]),
				  "%s: worker %u moves when placing %u, not %u",
				  synthetic, i, k, n);
		count_per_core(some, k, counts, ncores);
		for (unsigned c = 0; c < ncores; c++) {
			lo = counts[c] < lo ? counts[c] : lo;
			hi = counts[c] > hi ? counts[c] : hi;
		}
		cr_assert_leq(hi - lo, 1, "%s: %u workers unbalanced (%u..%u)",
			      synthetic, k, lo, hi);
		hl_placement_free(some, k);
	}
	hl_placement_free(all, n);
	hwloc_topology_destroy(t);
}

Test(placement, balanced_and_prefix_stable)
{
	check_balance_and_prefix("pack:2 numa:2 core:4 pu:1");
	check_balance_and_prefix("pack:2 core:4 pu:2");
	check_balance_and_prefix("numa:4 core:2 pu:1");
	check_balance_and_prefix("numa:2 pack:2 core:2 pu:1");
	check_balance_and_prefix("core:1 pu:1");
	check_balance_and_prefix("pu:3");
}

Test(placement, zero_workers_fill_nothing)
{
	hwloc_topology_t t = load("pack:2 core:4 pu:2");
	struct hl_placement p[1], before;

	memset(p, 0xa5, sizeof p);
	before = p[0];
	cr_assert_eq(hl_place_workers(t, 0, p), 0);
	cr_assert_eq(memcmp(&before, &p[0], sizeof before), 0);
	cr_assert_eq(hl_place_workers(t, 0, NULL), 0);
	hwloc_topology_destroy(t);
}

Test(placement, bad_arguments_are_refused)
{
	hwloc_topology_t t = load("core:2 pu:1");
	struct hl_placement p[1];

	cr_assert_eq(hl_place_workers(NULL, 1, p), HL_EINVAL);
	cr_assert_eq(hl_place_workers(t, 1, NULL), HL_EINVAL);
	cr_assert_eq(hl_topology_load(NULL, "core:1 pu:1"), HL_EINVAL);
	cr_assert_eq(hl_placement_bind(t, getpid(), NULL), HL_EINVAL);
	p[0] = (struct hl_placement){.cpuset = NULL};
	cr_assert_eq(hl_placement_bind(t, getpid(), &p[0]), HL_EINVAL);
	hwloc_topology_destroy(t);
}

Test(placement, bad_synthetic_description_is_einval)
{
	static const char *bad[] = {"pack:2 bogus:3 pu:1", "", "core:x pu:1"};

	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		hwloc_topology_t t = NULL;

		cr_assert_eq(hl_topology_load(&t, bad[i]), HL_EINVAL,
			     "\"%s\" was accepted", bad[i]);
		cr_assert_null(t, "a failed load wrote *topo");
	}
}

Test(placement, free_clears_the_cpusets)
{
	hwloc_topology_t t = load("core:2 pu:1");
	struct hl_placement p[2];

	place(t, 2, p);
	hl_placement_free(p, 2);
	cr_assert_null(p[0].cpuset);
	cr_assert_null(p[1].cpuset);
	hl_placement_free(p, 2); /* a second free is harmless */
	hl_placement_free(NULL, 3);
	hwloc_topology_destroy(t);
}

Test(placement, describe_format)
{
	struct hl_placement p = {
		.core = 3, .pu_os_index = 6, .numa_node = 1, .package = 0};
	char buf[64], tiny[8];

	memset(buf, 'x', sizeof buf);
	hl_placement_describe(&p, buf, sizeof buf);
	cr_assert_str_eq(buf, "core 3 (pu 6, node 1, package 0)");

	memset(tiny, 'x', sizeof tiny);
	hl_placement_describe(&p, tiny, sizeof tiny);
	cr_assert_str_eq(tiny, "core 3 ");

	tiny[0] = 'x';
	hl_placement_describe(&p, tiny, 0);
	cr_assert_eq(tiny[0], 'x', "a zero-length buffer was written");
}

/* ---- this machine ------------------------------------------------------------ */

/* Process pid's affinity (0: this one) as an hwloc bitmap; caller frees. */
static hwloc_bitmap_t affinity_of(hwloc_topology_t t, pid_t pid)
{
	cpu_set_t mask;
	hwloc_bitmap_t set = hwloc_bitmap_alloc();

	cr_assert_not_null(set);
	CPU_ZERO(&mask);
	cr_assert_eq(sched_getaffinity(pid, sizeof mask, &mask), 0,
		     "sched_getaffinity(%ld): %s", (long)pid, strerror(errno));
	cr_assert_eq(hwloc_cpuset_from_glibc_sched_affinity(t, set, &mask,
							    sizeof mask),
		     0);
	return set;
}

Test(placement, real_machine_places_one_to_eight_workers)
{
	hwloc_topology_t t = load(NULL);
	hwloc_const_cpuset_t allowed = hwloc_topology_get_allowed_cpuset(t);
	unsigned ncores = core_count(t);
	struct hl_placement p[8];

	for (unsigned n = 1; n <= 8; n++) {
		place(t, n, p);
		for (unsigned i = 0; i < n; i++) {
			cr_assert(!hwloc_bitmap_iszero(p[i].cpuset));
			cr_assert(hwloc_bitmap_isincluded(p[i].cpuset, allowed),
				  "worker %u of %u placed outside the allowed "
				  "cpuset", i, n);
		}
		if (n <= ncores && ncores <= WORKERS_MAX)
			expect_distinct(p, n, ncores);
		hl_placement_free(p, n);
	}
	hwloc_topology_destroy(t);
}

Test(placement, real_machine_binds_this_process)
{
	hwloc_topology_t t = load(NULL);
	hwloc_bitmap_t old = hwloc_bitmap_alloc(), now;
	unsigned n = core_count(t);
	struct hl_placement p[WORKERS_MAX];

	n = n < WORKERS_MAX ? n : WORKERS_MAX;
	cr_assert_eq(hwloc_get_proc_cpubind(t, getpid(), old,
					    HWLOC_CPUBIND_PROCESS),
		     0);
	place(t, n, p);
	/* the last worker's core first, so a no-op bind cannot pass */
	for (unsigned k = 0; k < 2; k++) {
		const struct hl_placement *w = k == 0 ? &p[n - 1] : &p[0];

		cr_assert_eq(hl_placement_bind(t, getpid(), w), 0);
		now = affinity_of(t, 0);
		cr_assert(hwloc_bitmap_isequal(now, w->cpuset),
			  "affinity is not worker's cpuset after binding");
		hwloc_bitmap_free(now);
	}
	cr_assert_eq(hwloc_set_proc_cpubind(t, getpid(), old,
					    HWLOC_CPUBIND_PROCESS),
		     0);
	now = affinity_of(t, 0);
	cr_assert(hwloc_bitmap_isequal(now, old), "binding not restored");
	hwloc_bitmap_free(now);
	hwloc_bitmap_free(old);
	hl_placement_free(p, n);
	hwloc_topology_destroy(t);
}

/* What `helios run` does: bind a child it forked, by pid. */
Test(placement, real_machine_binds_a_child)
{
	hwloc_topology_t t = load(NULL);
	unsigned n = core_count(t);
	struct hl_placement p[WORKERS_MAX];
	int gate[2], status;
	hwloc_bitmap_t seen;
	pid_t child;
	char c;

	n = n < WORKERS_MAX ? n : WORKERS_MAX;
	place(t, n, p);
	cr_assert_eq(pipe(gate), 0);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		close(gate[1]);
		_exit(read(gate[0], &c, 1) == 0 ? 0 : 1); /* until closed */
	}
	close(gate[0]);
	cr_assert_eq(hl_placement_bind(t, child, &p[n - 1]), 0);
	seen = affinity_of(t, child);
	cr_assert(hwloc_bitmap_isequal(seen, p[n - 1].cpuset),
		  "the child's affinity is not its cpuset");
	close(gate[1]);
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	hwloc_bitmap_free(seen);
	hl_placement_free(p, n);
	hwloc_topology_destroy(t);
}

Test(placement, binding_a_dead_process_is_eio)
{
	hwloc_topology_t t = load(NULL);
	struct hl_placement p[1];
	pid_t child;

	place(t, 1, p);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0)
		_exit(0);
	cr_assert_eq(waitpid(child, NULL, 0), child); /* reaped: pid is gone */
	cr_assert_eq(hl_placement_bind(t, child, &p[0]), HL_EIO);
	hl_placement_free(p, 1);
	hwloc_topology_destroy(t);
}
