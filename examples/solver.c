/*
 * solver.c - helios-solver: a solver/monitor process that attaches to a
 * running arena by name and reads what the workers publish, through the
 * public API (helios.h) only.
 *
 *   helios-solver NAME [REF] [--rw]
 *
 *   1. Attach to arena NAME read-only (HL_RDONLY): the mapping is
 *      PROT_READ and takes no process slot, so a monitor can never disturb
 *      the workers, nor be refused because their slots are all taken.
 *      --rw attaches read-write instead (takes a slot; a solver that will
 *      publish results would).
 *   2. Read the refs the workers of `helios run` publish,
 *      "worker-<i>/latest" for i in 0..63 (a ref never set is skipped),
 *      plus REF when given: a ref name, or a snapshot id in 32 hex digits.
 *   3. Restore each snapshot into one working state: O(1), nothing copied;
 *      hl_state_view then hands out a pointer into the shared leaf itself,
 *      and the first 16 bytes are printed from there.
 *   4. Diff consecutive snapshots: hl_diff skips every subtree the two
 *      share, so its cost follows the change, not the state's size.
 *   5. Print the arena-wide totals of hl_arena_stats.
 *   6. Show that a read-only attach cannot change the arena: hl_ref_set
 *      must fail with HL_EROFS. If it did not, that is a bug worth a
 *      non-zero exit.
 *
 * Exit status: 0 success; 1 a runtime failure (no such arena, an
 * unreadable snapshot, the read-only probe not refused); 2 a bad command
 * line. Every failure prints one line "helios-solver: ..." on stderr.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helios.h"

#define WORKERS_MAX 64 /* `helios run` publishes worker-0 .. worker-63 */
#define PEEK_BYTES 16
#define PROBE_REF "solver/probe"
#define USAGE "usage: helios-solver NAME [REF] [--rw]\n"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

struct snap {
	char label[HL_REF_NAME_MAX + 1];
	hl_id id;
};

struct solver {
	const char *name;
	const char *ref;  /* REF, or NULL */
	bool rw;
	hl_arena *a;
	hl_state *s;
	struct snap snaps[WORKERS_MAX + 1];
	unsigned snaps_count;
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	va_list ap;
	fputs("helios-solver: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int usage_error(const char *what, const char *arg)
{
	say("%s '%s'", what, arg);
	fputs(USAGE, stderr);
	return EXIT_USAGE;
}

/* 0, EXIT_USAGE, or -1 for --help (printed). */
static int parse_args(int argc, char **argv, struct solver *sv)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			fputs(USAGE, stdout);
			return -1;
		} else if (!strcmp(arg, "--rw")) {
			sv->rw = true;
		} else if (arg[0] == '-' && arg[1]) {
			return usage_error("unknown option", arg);
		} else if (!sv->name) {
			sv->name = arg;
		} else if (!sv->ref) {
			sv->ref = arg;
		} else {
			return usage_error("unexpected argument", arg);
		}
	}
	if (!sv->name) {
		say("missing arena NAME");
		fputs(USAGE, stderr);
		return EXIT_USAGE;
	}
	return 0;
}

static int attach(struct solver *sv)
{
	int rc = hl_arena_attach(sv->name, sv->rw ? 0 : HL_RDONLY, &sv->a);
	if (rc == HL_ENOENT)
		say("no arena named %s (is `helios run --arena %s` running?)",
		    sv->name, sv->name);
	else if (rc)
		say("attaching to %s: %s", sv->name, hl_strerror(rc));
	if (!rc)
		rc = hl_state_new(sv->a, &sv->s);
	if (rc && sv->a)
		say("a working state: %s", hl_strerror(rc));
	if (!rc)
		printf("attached to arena %s %s\n", sv->name,
		       sv->rw ? "read-write (slot taken)"
			      : "read-only (HL_RDONLY: PROT_READ, no slot)");
	return rc;
}

/* ---- finding the snapshots ------------------------------------------------ */

static void snap_add(struct solver *sv, const char *label, hl_id id)
{
	struct snap *p = &sv->snaps[sv->snaps_count++];
	snprintf(p->label, sizeof p->label, "%s", label);
	p->id = id;
}

/* Adds every worker-<i>/latest that is set. 0, or the first error other
 * than HL_ENOENT (the others are still read). */
static int find_worker_refs(struct solver *sv)
{
	int failed = 0;
	for (unsigned i = 0; i < WORKERS_MAX; i++) {
		char ref[HL_REF_NAME_MAX + 1];
		hl_id id;
		snprintf(ref, sizeof ref, "worker-%u/latest", i);
		int rc = hl_ref_get(sv->a, ref, &id);
		if (rc == HL_ENOENT)
			continue;
		if (rc) {
			say("reading ref %s: %s", ref, hl_strerror(rc));
			failed = failed ? failed : rc;
			continue;
		}
		snap_add(sv, ref, id);
	}
	return failed;
}

/* REF is an id when it is 32 hex digits, else a ref name. */
static int find_user_ref(struct solver *sv)
{
	hl_id id;
	if (strlen(sv->ref) == 32 && hl_id_from_hex(sv->ref, &id) == 0) {
		snap_add(sv, "id", id);
		return 0;
	}
	int rc = hl_ref_get(sv->a, sv->ref, &id);
	if (rc == HL_ENOENT)
		say("no ref named %s in arena %s", sv->ref, sv->name);
	else if (rc)
		say("reading ref %s: %s", sv->ref, hl_strerror(rc));
	else
		snap_add(sv, sv->ref, id);
	return rc;
}

/* ---- reading them --------------------------------------------------------- */

/* Restores one snapshot and prints its first bytes, read in place. */
static int show_snap(struct solver *sv, const struct snap *p)
{
	char hex[33];
	hl_id_to_hex(p->id, hex);
	int rc = hl_restore(sv->s, p->id); /* O(1): repoints, copies nothing */
	if (rc) {
		say("restoring %s (%s): %s", p->label, hex, hl_strerror(rc));
		return rc;
	}
	uint64_t size = hl_state_size(sv->s);
	printf("  %-20s %s  %10llu B ", p->label, hex, (unsigned long long)size);
	const void *view = NULL;
	size_t len = 0;
	if (size > 0) {
		rc = hl_state_view(sv->s, 0, &view, &len); /* the shared leaf */
		if (rc) {
			printf("\n");
			say("viewing %s: %s", p->label, hl_strerror(rc));
			return rc;
		}
	}
	const unsigned char *b = view;
	for (size_t i = 0; i < PEEK_BYTES && i < len; i++)
		printf("%s%02x", i ? "" : " ", b[i]);
	printf("%s\n", size ? "" : " (empty state)");
	return 0;
}

struct diff_sum {
	uint64_t ranges, bytes;
};

static int diff_count(uint64_t off, uint64_t len, void *ctx)
{
	struct diff_sum *d = ctx;
	(void)off;
	d->ranges++;
	d->bytes += len;
	return 0;
}

static int diff_pair(struct solver *sv, const struct snap *x,
		     const struct snap *y)
{
	struct diff_sum d = {0, 0};
	int rc = hl_diff(sv->a, x->id, y->id, diff_count, &d);
	if (rc) {
		say("diff %s -> %s: %s", x->label, y->label, hl_strerror(rc));
		return rc;
	}
	printf("  %s -> %s: %llu differing range%s, %llu byte%s\n", x->label,
	       y->label, (unsigned long long)d.ranges, d.ranges == 1 ? "" : "s",
	       (unsigned long long)d.bytes, d.bytes == 1 ? "" : "s");
	return 0;
}

static int show_snaps(struct solver *sv)
{
	int failed = 0;
	printf("\nsnapshots (%u), restored zero-copy; first %d bytes:\n",
	       sv->snaps_count, PEEK_BYTES);
	if (sv->snaps_count == 0)
		printf("  none published yet (no worker-<i>/latest ref is set)\n");
	for (unsigned i = 0; i < sv->snaps_count; i++)
		if (show_snap(sv, &sv->snaps[i]))
			failed = 1;
	if (sv->snaps_count < 2)
		return failed;
	printf("\ndiffs of consecutive snapshots:\n");
	for (unsigned i = 1; i < sv->snaps_count; i++)
		if (diff_pair(sv, &sv->snaps[i - 1], &sv->snaps[i]))
			failed = 1;
	return failed;
}

static int show_stats(struct solver *sv)
{
	hl_stats st;
	int rc = hl_arena_stats(sv->a, &st);
	if (rc) {
		say("hl_arena_stats: %s", hl_strerror(rc));
		return rc;
	}
	uint64_t seen = st.dedup_bytes + st.stored_bytes;
	printf("\narena totals:\n");
	printf("  nodes %llu, stored %llu B, dedup %llu B (%.1f%%)\n",
	       (unsigned long long)st.nodes, (unsigned long long)st.stored_bytes,
	       (unsigned long long)st.dedup_bytes,
	       seen ? 100.0 * (double)st.dedup_bytes / (double)seen : 0.0);
	printf("  commits %llu, restores %llu, index %llu / %llu, refs %llu\n",
	       (unsigned long long)st.commits, (unsigned long long)st.restores,
	       (unsigned long long)st.index_used,
	       (unsigned long long)st.index_capacity,
	       (unsigned long long)st.refs);
	printf("  processes %llu alive, %llu dead\n",
	       (unsigned long long)st.processes,
	       (unsigned long long)st.processes_dead);
	return 0;
}

/* A read-only attach must refuse every change: 0 when hl_ref_set failed
 * with HL_EROFS, -1 otherwise. */
static int probe_read_only(struct solver *sv)
{
	hl_id id = sv->snaps_count ? sv->snaps[0].id : (hl_id){0, 0};
	int rc = hl_ref_set(sv->a, PROBE_REF, id);
	printf("\nread-only probe: hl_ref_set(\"%s\") -> %s\n", PROBE_REF,
	       rc ? hl_strerror(rc) : "0 (success)");
	if (rc == HL_EROFS) {
		printf("  refused, as it must be: this process cannot change "
		       "the arena\n");
		return 0;
	}
	say("a read-only attach was %s by hl_ref_set: expected HL_EROFS",
	    rc ? "refused for another reason" : "allowed to write a ref");
	return -1;
}

int main(int argc, char **argv)
{
	struct solver sv;
	memset(&sv, 0, sizeof sv);
	int rc = parse_args(argc, argv, &sv);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	int status = EXIT_OK;
	if (attach(&sv)) {
		status = EXIT_FAILED;
		goto out_close;
	}
	if (find_worker_refs(&sv))
		status = EXIT_FAILED;
	if (sv.ref && find_user_ref(&sv))
		status = EXIT_FAILED;
	if (show_snaps(&sv))
		status = EXIT_FAILED;
	if (show_stats(&sv))
		status = EXIT_FAILED;
	if (sv.rw)
		printf("\nread-write attach: the read-only probe is skipped\n");
	else if (probe_read_only(&sv))
		status = EXIT_FAILED;
	hl_state_free(sv.s);
out_close:
	hl_arena_close(sv.a);
	return status;
}
