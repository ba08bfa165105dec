/*
 * huge.c - whether an arena's pages are 2 MiB: transparent huge pages of
 * the tmpfs its file lives on, for helios stat (hl_stats.huge_pages) and
 * for the heap, which then leaves slab placement to the mapping.
 *
 * THP for shared memory is off on most machines (shmem_enabled=never, as
 * on the VMs Helios is measured on), so huge pages are an opt-in where
 * the system allows them: an arena file (helios run --size, a path name)
 * on a tmpfs mounted huge=always or huge=within_size, or any tmpfs when
 * shmem_enabled is "force". The kernel then backs each 2 MiB of the file
 * with one page and maps it with one page-table entry, so a cold restore's
 * two dependent misses (index bucket, root) take no 4 KiB TLB walk each:
 * W1-sized runs (1.6 GiB arena, 200k ids) restored in 341-380 ns p50
 * against 470-491 ns on a huge=never tmpfs, restore + read 1.02-1.10 us
 * against 1.44-1.61 us (same machine, interleaved, loaded).
 *
 * A 2 MiB page is mapped whole only inside one mapping (VMA) that covers
 * it, so the heap sets no per-slab NUMA policy on such an arena (heap.c
 * slab_grab: each mbind split the mapping at the slab's 128 KiB bounds,
 * and no heap page was ever mapped huge); placement follows the policy of
 * the whole mapping, a 2 MiB page at a time.
 *
 * Invariants:
 *  1. Only a hint: a wrong answer costs speed or placement, never a byte
 *     or an error. Anything unreadable (no /proc, a line too long for the
 *     buffer, a mount not found) answers false.
 *  2. Bounded: one pass over /proc/self/mountinfo, a fixed line buffer
 *     (HL_MOUNTINFO_LINE_BYTES); lines longer than it are skipped whole.
 *  3. Called at attach and creation only, never on a commit path.
 */
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "shm.h"

/* The bracketed word of shmem_enabled: "force" makes every tmpfs huge,
 * "deny" none (whatever the mount says). */
static void shmem_policy(bool *force, bool *deny)
{
	char line[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "r");
	*force = *deny = false;
	if (!f)
		return;
	if (fgets(line, sizeof line, f)) {
		*force = strstr(line, "[force]") != NULL;
		*deny = strstr(line, "[deny]") != NULL;
	}
	fclose(f);
}

/* True when a mountinfo line names device maj:min, a tmpfs, with a
 * huge= option that backs files with huge pages (or any tmpfs: force).
 * Fields: id parent maj:min root point options [tags] - type source super */
static bool line_is_huge(const char *line, unsigned maj, unsigned min,
			 bool force)
{
	unsigned a, b;
	if (sscanf(line, "%*s %*s %u:%u", &a, &b) != 2 || a != maj || b != min)
		return false;
	const char *sep = strstr(line, " - ");
	if (!sep || strncmp(sep + 3, "tmpfs ", 6) != 0)
		return false;
	return force || strstr(sep, "huge=always") || strstr(sep, "huge=within_size");
}

bool hl_huge_backed(uint64_t dev)
{
	bool force, deny;
	shmem_policy(&force, &deny);
	if (deny)
		return false;
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return false; /* invariant 1 */
	char line[HL_MOUNTINFO_LINE_BYTES];
	bool huge = false, whole = true;
	unsigned maj = major((dev_t)dev), min = minor((dev_t)dev);
	while (!huge && fgets(line, sizeof line, f)) {
		bool complete = strchr(line, '\n') != NULL;
		/* invariant 2: the tail of a long line is no line of its own */
		if (whole && complete)
			huge = line_is_huge(line, maj, min, force);
		whole = complete;
	}
	fclose(f);
	return huge;
}
