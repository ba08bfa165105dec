/*
 * worker.c - how a worker process spawned by `helios run` finds its arena.
 *
 * The coordinator passes the arena's name in HELIOS_ARENA and the worker's
 * index (0..N-1) in HELIOS_WORKER. The index is recorded in the worker's
 * slot so monitors can show per-worker counters; the slot itself is taken
 * like any other (first free), and the coordinator finds it by pid.
 */
#include <stdlib.h>

#include "workers.h"

static int parse_index(const char *text, unsigned *out)
{
	if (!text || !*text)
		return HL_EINVAL;
	char *end;
	unsigned long v = strtoul(text, &end, 10);
	if (*end || v > HL_PROCESSES_MAX || (text[0] < '0' || text[0] > '9'))
		return HL_EINVAL;
	*out = (unsigned)v;
	return 0;
}

int hl_worker_attach_env(hl_arena **out, unsigned *worker_index)
{
	if (!out)
		return HL_EINVAL;
	const char *name = getenv("HELIOS_ARENA");
	unsigned index;
	if (!name || !*name || parse_index(getenv("HELIOS_WORKER"), &index))
		return HL_EINVAL;
	int rc = hl_arena_attach(name, 0, out);
	if (rc)
		return rc;
	hl_slot_set_role(*out, HL_ROLE_WORKER, index);
	if (worker_index)
		*worker_index = index;
	return 0;
}
