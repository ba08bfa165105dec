/*
 * c4_baseline_main.c - helios-c4-baseline, the private-memory Connect Four
 * MCTS (c4_baseline.c) on its own, to run by hand:
 *
 *   helios-c4-baseline [--position MOVES] [--playouts P] [--duration S]
 *                      [--seed N] [--puct] [--json] [--check]
 *
 * It searches from MOVES (columns 1-7, "4453"; default the empty board)
 * until P playouts (default 200000 when no --duration is given) or S
 * seconds, whichever comes first, and prints the playouts, their rate, the
 * root's visit distribution, best move, value, principal variation, nodes
 * and bytes per node; with --json one JSON object instead. Selection is
 * UCT, or PUCT with uniform priors with --puct. --check then
 * verifies the whole search graph (hl_c4_baseline_check; CI runs it).
 * Exit status 0, 1 if the search or the check fails, 2 for a bad command
 * line (a bad position names the bad move).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c4_baseline.h"

struct args {
	const char *position;
	uint64_t playouts;
	double seconds;
	uint64_t seed;
	int json;
	int check;
	int puct;
};

static int usage(const char *why, const char *what)
{
	if (why)
		fprintf(stderr, "helios-c4-baseline: %s%s%s\n", why, what ? ": " : "",
			what ? what : "");
	fprintf(stderr, "usage: helios-c4-baseline [--position MOVES] [--playouts P] "
			"[--duration SECONDS] [--seed N] [--puct] [--json] [--check]\n");
	return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	if (!s || !*s)
		return -1;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !(v > 0) || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	*a = (struct args){.position = "", .seed = 1};
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(o, "--json") || !strcmp(o, "--check") || !strcmp(o, "--puct")) {
			*(o[2] == 'j' ? &a->json : o[2] == 'c' ? &a->check : &a->puct) = 1;
			continue;
		}
		if (!strcmp(o, "--help") || !strcmp(o, "-h"))
			return usage(NULL, NULL), 1;
		if (strcmp(o, "--position") && strcmp(o, "--playouts") &&
		    strcmp(o, "--duration") && strcmp(o, "--seed"))
			return usage("unknown option", o);
		if (!v)
			return usage("missing value for", o);
		i++;
		if (!strcmp(o, "--position"))
			a->position = v;
		else if (!strcmp(o, "--playouts")) {
			if (parse_u64(v, &a->playouts) || !a->playouts)
				return usage("--playouts wants a positive integer", v);
		} else if (!strcmp(o, "--duration")) {
			if (parse_seconds(v, &a->seconds))
				return usage("--duration wants positive seconds", v);
		} else if (parse_u64(v, &a->seed)) { /* --seed */
			return usage("--seed wants a non-negative integer", v);
		}
	}
	if (!a->playouts && !(a->seconds > 0))
		a->playouts = 200000;
	return 0;
}

static void print_text(const struct args *a, const struct hl_c4_pos *p,
		       const struct hl_c4_baseline_result *r)
{
	char board[HL_C4_STRING_BYTES];
	hl_c4_to_string(p, board);
	printf("helios-c4-baseline: position \"%s\" (%s to move), %s, one process, "
	       "private memory\n%s", a->position,
	       hl_c4_side_to_move(p) == HL_C4_FIRST ? "X" : "O",
	       a->puct ? "PUCT" : "UCT", board);
	printf("  playouts  %llu in %.2f s: %.1fk playouts/s\n",
	       (unsigned long long)r->playouts, r->elapsed_s, r->playouts_per_s / 1e3);
	printf("  best move %d   value %+.3f (side to move)\n", r->best_move, r->value);
	printf("  visits   ");
	for (int c = 0; c < HL_C4_COLS; c++)
		printf(" %d:%llu", c + 1, (unsigned long long)r->visits[c]);
	uint64_t total = 0;
	for (int c = 0; c < HL_C4_COLS; c++)
		total += r->visits[c];
	printf("\n  centre    %.1f%% of root visits on column 4\n",
	       total ? 100.0 * r->visits[3] / total : 0.0);
	printf("  pv        %s\n", r->pv);
	printf("  nodes     %llu, %.1f bytes/node (%.1f MiB)%s\n",
	       (unsigned long long)r->nodes, r->bytes_per_node,
	       r->bytes / 1048576.0, r->full ? ", node limit reached" : "");
}

static void print_json(const struct args *a, const struct hl_c4_baseline_result *r)
{
	printf("{\"game\": \"connect4\", \"engine\": \"baseline\", \"rule\": \"%s\", "
	       "\"position\": \"%s\", "
	       "\"workers\": 1, \"seed\": %llu, \"playouts\": %llu, \"elapsed_s\": %.3f, "
	       "\"playouts_per_s\": %.0f, \"best_move\": %d, \"value\": %.4f, "
	       "\"visits\": [",
	       a->puct ? "puct" : "uct", a->position, (unsigned long long)a->seed, (unsigned long long)r->playouts,
	       r->elapsed_s, r->playouts_per_s, r->best_move, r->value);
	for (int c = 0; c < HL_C4_COLS; c++)
		printf("%s%llu", c ? ", " : "", (unsigned long long)r->visits[c]);
	printf("], \"pv\": \"%s\", \"nodes\": %llu, \"bytes_per_node\": %.1f, "
	       "\"full\": %s}\n",
	       r->pv, (unsigned long long)r->nodes, r->bytes_per_node,
	       r->full ? "true" : "false");
}

int main(int argc, char **argv)
{
	struct args a;
	int rc = parse_args(argc, argv, &a);
	if (rc)
		return rc == 1 ? 0 : rc;
	struct hl_c4_pos p;
	struct hl_c4_parse_error e;
	if (hl_c4_parse(a.position, &p, &e)) {
		char what[96];
		snprintf(what, sizeof what, "bad move '%c' at index %zu (move %zu): %s",
			 e.move, e.index, e.index + 1, hl_c4_parse_why_str(e.why));
		return usage(what, NULL);
	}
	if (hl_c4_status(&p) != HL_C4_ONGOING)
		return usage("the game is already over at", a.position);
	struct hl_c4_baseline_opts o = {
		.seed = a.seed,
		.rule = a.puct ? HL_C4_BASELINE_PUCT : HL_C4_BASELINE_UCT,
	};
	struct hl_c4_baseline_result r;
	struct hl_c4_baseline *b;
	char msg[256] = "";
	if ((rc = hl_c4_baseline_new(&p, &o, &b)))
		goto out_fail;
	if ((rc = hl_c4_baseline_run(b, a.playouts, a.seconds)))
		goto out_free;
	hl_c4_baseline_result(b, &r);
	if (a.check && (rc = hl_c4_baseline_check(b, msg, sizeof msg)))
		goto out_free;
	hl_c4_baseline_free(b);
	if (a.json)
		print_json(&a, &r);
	else
		print_text(&a, &p, &r);
	if (a.check)
		fprintf(stderr, "helios-c4-baseline: graph check passed (%llu nodes)\n",
			(unsigned long long)r.nodes);
	return 0;
out_free:
	hl_c4_baseline_free(b);
out_fail:
	fprintf(stderr, "helios-c4-baseline: %s: %s%s%s\n",
		a.check && msg[0] ? "graph check failed" : "search failed",
		hl_strerror(rc), msg[0] ? ": " : "", msg);
	return 1;
}
