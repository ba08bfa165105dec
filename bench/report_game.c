/*
 * report_game.c - the Connect Four rows of `helios bench`'s report
 * (harness_game.c measures them): playouts per second of the shared search
 * at each worker count, each as a ratio to one worker and to the
 * private-memory baseline of the same run, with issue 10's targets:
 *
 *   2 workers >= 1.8x one; 8 workers >= 1.5x one (no collapse)
 *   one Helios worker >= 0.7x the baseline (sharing costs little)
 *
 * and the memory per node and the centre column's share of the root's
 * visits (perfect play: column 4 is the only winning first move).
 */
#include <math.h>
#include <stdio.h>

#include "bench.h"
#include "kit.h"

static const struct hl_bench_game_row *row_of(const struct hl_bench_report *r,
					      unsigned workers)
{
	for (unsigned i = 0; i < r->game_count && i < HL_BENCH_GAME_ROWS_MAX; i++)
		if (r->games[i].workers == workers && !r->games[i].failed)
			return &r->games[i];
	return NULL;
}

/* The target a row is held to, NAN when none: vs one worker for 2 and 8,
 * vs the baseline for 1. */
static double target_of(unsigned workers)
{
	return workers == 1 ? 0.7 : workers == 2 ? 1.8 : workers == 8 ? 1.5 : NAN;
}

static double ratio_of(const struct hl_bench_report *r,
		       const struct hl_bench_game_row *g)
{
	const struct hl_bench_game_row *ref = row_of(r, g->workers == 1 ? 0 : 1);
	return ref && ref->playouts_per_s > 0 ? g->playouts_per_s / ref->playouts_per_s
					      : NAN;
}

void hl_report_games_table(FILE *out, const struct hl_bench_report *r)
{
	if (!r->game_count)
		return;
	fprintf(out, "connect4 playouts (empty board, uniform random rollouts, UCT)\n");
	fprintf(out, "  %-24s %12s %8s %10s %10s  %s\n", "system", "playouts/s",
		"ratio", "B/node", "col-4", "target");
	for (unsigned i = 0; i < r->game_count && i < HL_BENCH_GAME_ROWS_MAX; i++) {
		const struct hl_bench_game_row *g = &r->games[i];
		char who[32], rate[16];
		if (g->workers)
			snprintf(who, sizeof who, "helios x%u", g->workers);
		else
			snprintf(who, sizeof who, "baseline (private memory)");
		if (g->failed) {
			fprintf(out, "  %-24s failed\n", who);
			continue;
		}
		hl_fmt_count(rate, sizeof rate, g->playouts_per_s);
		double x = ratio_of(r, g), t = target_of(g->workers);
		char verdict[64] = "";
		if (g->workers && !isnan(t) && !isnan(x))
			snprintf(verdict, sizeof verdict, ">= %.1fx %s  %s", t,
				 g->workers == 1 ? "baseline" : "one",
				 x >= t ? "PASS" : "MISS");
		char ratio[16] = "-";
		if (!isnan(x) && g->workers)
			snprintf(ratio, sizeof ratio, "%.2fx", x);
		fprintf(out, "  %-24s %12s %8s %10.0f %9.1f%%  %s%s\n", who, rate, ratio,
			g->bytes_per_node, 100 * g->centre_share, verdict,
			g->no_room ? " (memory filled)" : "");
	}
	fprintf(out, "  ratio: x1 to the baseline, others to one Helios worker; "
		"col-4: share of the root's visits on the centre column\n\n");
}

void hl_report_games_json(struct hl_json *j, const struct hl_bench_report *r)
{
	hl_json_open(j, "games", '[');
	for (unsigned i = 0; i < r->game_count && i < HL_BENCH_GAME_ROWS_MAX; i++) {
		const struct hl_bench_game_row *g = &r->games[i];
		double x = ratio_of(r, g), t = target_of(g->workers);
		hl_json_open(j, NULL, '{');
		hl_json_str(j, "game", "connect4", SIZE_MAX);
		hl_json_str(j, "system", g->workers ? "helios" : "baseline", SIZE_MAX);
		hl_json_u64(j, "workers", g->workers);
		hl_json_bool(j, "failed", g->failed);
		hl_json_num(j, "seconds", g->seconds);
		hl_json_u64(j, "playouts", g->playouts);
		hl_json_num(j, "playouts_per_s", g->playouts_per_s);
		hl_json_u64(j, "nodes", g->nodes);
		hl_json_num(j, "bytes_per_node", g->bytes_per_node);
		hl_json_u64(j, "best_move", (uint64_t)(g->best_move > 0 ? g->best_move : 0));
		hl_json_num(j, "centre_share", g->centre_share);
		hl_json_bool(j, "memory_filled", g->no_room);
		hl_json_num(j, "ratio", g->workers ? x : NAN);
		hl_json_num(j, "target", g->workers ? t : NAN);
		if (g->workers && !isnan(t) && !isnan(x))
			hl_json_bool(j, "pass", x >= t);
		else
			hl_json_null(j, "pass");
		hl_json_close(j);
	}
	hl_json_close(j);
}
