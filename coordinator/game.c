/*
 * game.c - the `helios` program's side of a game search (`helios run --game
 * connect4`, `helios stat NAME --search`): the position from the command
 * line, the search's root, progress lines while it runs, and the summary
 * at the end, as text for people or as one JSON object for programs.
 *
 * The search itself runs in the workers (workers/games/c4_search.c); what
 * is printed here is read back from the shared graph, through the same
 * calls a monitor in any other process would use.
 *
 * The JSON object (stdout carries exactly it; progress goes to stderr):
 *
 *   {"game": "connect4", "position": "4453", "workers": 2,
 *    "playouts": 200000, "elapsed_s": 1.93, "playouts_per_s": 103626,
 *    "best_move": 4, "value": 0.12, "proven": null,
 *    "visits": [1200, 3100, 20000, 150000, 18000, 6000, 1700],
 *    "pv": "4435", "nodes": 81234, "bytes_per_node": 296, ...}
 *
 * best_move is a column 1-7 (null before any playout); visits has 7
 * entries in column order (0 for full columns); value is in [-1, 1] and
 * proven one of "win", "loss", "draw" or null, both from the side to move
 * at the position. root_plies is the stones on the search's root's board:
 * the position's own while the root has not moved, more once self-play
 * (or any hl_mcts_set_root) has moved it, and then the rest of the
 * summary is about that root.
 */
#include <stdio.h>
#include <string.h>

#include "coordinator.h"
#include "games/c4_search.h"

int hl_game_parse(const char *game, const char *position, struct hl_c4_pos *out)
{
	if (strcmp(game, "connect4")) {
		hl_say("run: --game %s: the games are: connect4", game);
		return HL_EXIT_USAGE;
	}
	struct hl_c4_parse_error err;
	if (hl_c4_parse(position ? position : "", out, &err)) {
		char shown[8];
		unsigned char m = (unsigned char)err.move;
		snprintf(shown, sizeof shown, m > 0x20 && m < 0x7f ? "%c" : "\\x%02x", m);
		hl_say("run: --position %s: bad move '%s' at %zu: %s", position,
		       shown, err.index + 1, hl_c4_parse_why_str(err.why));
		return HL_EXIT_USAGE;
	}
	return 0;
}

/* The move string a search started from, kept in the arena for monitors
 * (`helios stat --search`): a snapshot of its bytes, named by this ref. */
#define POSITION_REF "game/" HL_C4_SEARCH_NAME "/position"

static int position_save(hl_arena *a, const char *position)
{
	hl_state *st;
	hl_id id;
	int rc = hl_state_new(a, &st);
	if (rc)
		return rc;
	size_t n = strlen(position);
	if ((rc = hl_state_resize(st, n + 1)) == 0 &&
	    (rc = hl_state_write(st, 0, position, n + 1)) == 0 &&
	    (rc = hl_commit(st, &id, NULL)) == 0)
		rc = hl_ref_set(a, POSITION_REF, id);
	hl_state_free(st);
	return rc;
}

void hl_game_position(hl_arena *a, char *out, size_t len)
{
	hl_state *st;
	hl_id id;
	snprintf(out, len, "?");
	if (hl_ref_get(a, POSITION_REF, &id) || hl_state_new(a, &st))
		return;
	uint64_t n = 0;
	if (hl_restore(st, id) == 0 && (n = hl_state_size(st)) > 0 && n <= len &&
	    hl_state_read(st, 0, out, n) == 0)
		out[n - 1] = '\0';
	else
		snprintf(out, len, "?");
	hl_state_free(st);
}

int hl_game_prepare(hl_arena *a, const struct hl_c4_pos *root,
		    const char *position)
{
	int rc = hl_c4_search_create(a, root);
	if (!rc)
		rc = position_save(a, position);
	if (rc == HL_EEXIST)
		hl_say("run: the arena holds a search from another position: "
		       "pick another --arena");
	else if (rc)
		hl_say("run: cannot start the search: %s", hl_strerror(rc));
	return rc;
}

static const char *proven_name(uint32_t r)
{
	return r == HL_MCTS_WIN ? "win" : r == HL_MCTS_LOSS ? "loss"
	       : r == HL_MCTS_DRAW ? "draw" : NULL;
}

void hl_game_progress(hl_arena *a, double elapsed_s, double rate, FILE *out)
{
	struct hl_c4_summary s;
	if (hl_c4_search_summary(a, &s))
		return;
	char playouts[16], per_s[16], nodes[16];
	hl_fmt_count(playouts, sizeof playouts, (double)s.playouts);
	hl_fmt_count(per_s, sizeof per_s, rate);
	hl_fmt_count(nodes, sizeof nodes, (double)s.nodes);
	fprintf(out, "[%6.1fs] playouts %s (%s/s) | nodes %s | best %d | value %+.3f%s%s\n",
		elapsed_s, playouts, per_s, nodes, s.best_move, s.value,
		s.proven ? " | proven " : "", s.proven ? proven_name(s.proven) : "");
	fflush(out);
}

static void report_json(FILE *out, const struct hl_game_run *g,
			const struct hl_c4_summary *s)
{
	struct hl_json j;
	hl_json_begin(&j, out, false);
	hl_json_open(&j, NULL, '{');
	hl_json_str(&j, "game", "connect4", SIZE_MAX);
	hl_json_str(&j, "position", g->position, SIZE_MAX);
	hl_json_u64(&j, "workers", g->workers);
	hl_json_u64(&j, "playouts", s->playouts);
	hl_json_fixed(&j, "elapsed_s", g->elapsed_s, 3);
	hl_json_fixed(&j, "playouts_per_s",
		      g->elapsed_s > 0 ? (double)g->playouts / g->elapsed_s : 0, 0);
	if (s->best_move)
		hl_json_u64(&j, "best_move", (uint64_t)s->best_move);
	else
		hl_json_null(&j, "best_move");
	hl_json_fixed(&j, "value", s->value, 4);
	if (proven_name(s->proven))
		hl_json_str(&j, "proven", proven_name(s->proven), SIZE_MAX);
	else
		hl_json_null(&j, "proven");
	hl_json_open(&j, "visits", '[');
	for (int c = 0; c < HL_C4_COLS; c++)
		hl_json_u64(&j, NULL, s->visits[c]);
	hl_json_close(&j);
	hl_json_str(&j, "pv", s->pv, sizeof s->pv);
	hl_json_u64(&j, "nodes", s->nodes);
	hl_json_u64(&j, "bytes_per_node", s->bytes_per_node);
	hl_json_u64(&j, "root_visits", s->root_visits);
	hl_json_u64(&j, "no_room", s->no_room);
	if (s->root_plies >= 0)
		hl_json_u64(&j, "root_plies", (uint64_t)s->root_plies);
	else
		hl_json_null(&j, "root_plies");
	hl_json_close(&j);
	hl_json_end(&j);
}

static void report_text(FILE *out, const struct hl_game_run *g,
			const struct hl_c4_summary *s)
{
	uint64_t sum = 0;
	for (int c = 0; c < HL_C4_COLS; c++)
		sum += s->visits[c];
	fprintf(out, "helios run: connect4 from \"%s\", %u workers, %.1f s\n",
		g->position, g->workers, g->elapsed_s);
	size_t start = strlen(g->position); /* the start's plies: one a move */
	if (s->root_plies >= 0 && (size_t)s->root_plies != start &&
	    g->position[0] != '?')
		fprintf(out, "  root      moved: %d plies into the game, %d past the "
			"start (self-play, or hl_mcts_set_root)\n", s->root_plies,
			s->root_plies - (int)start);
	fprintf(out, "  playouts  %llu (%.0f/s)\n", (unsigned long long)s->playouts,
		g->elapsed_s > 0 ? (double)g->playouts / g->elapsed_s : 0);
	fprintf(out, "  best move %d   value %+.3f (side to move)   proven %s\n",
		s->best_move, s->value, proven_name(s->proven) ? proven_name(s->proven) : "-");
	fprintf(out, "  visits   ");
	for (int c = 0; c < HL_C4_COLS; c++)
		fprintf(out, " %d:%llu", c + 1, (unsigned long long)s->visits[c]);
	fprintf(out, "\n  share     %.1f%% of the root's visits on column %d\n",
		sum && s->best_move ? 100.0 * (double)s->visits[s->best_move - 1] / (double)sum : 0,
		s->best_move);
	fprintf(out, "  pv        %s\n", s->pv[0] ? s->pv : "-");
	char bytes[16];
	hl_fmt_bytes(bytes, sizeof bytes, s->record_bytes);
	fprintf(out, "  nodes     %llu, %llu bytes per node with its position (records %s)\n",
		(unsigned long long)s->nodes, (unsigned long long)s->bytes_per_node, bytes);
	if (s->no_room)
		fprintf(out, "  memory    the arena filled: %llu expansions refused, the "
			"search went on with statistics only\n",
			(unsigned long long)s->no_room);
	fflush(out);
}

int hl_game_report(hl_arena *a, const struct hl_game_run *g, bool json, FILE *out)
{
	struct hl_c4_summary s;
	int rc = hl_c4_search_summary(a, &s);
	if (rc) {
		hl_say("the search cannot be read: %s", hl_strerror(rc));
		return rc;
	}
	if (json)
		report_json(out, g, &s);
	else
		report_text(out, g, &s);
	return 0;
}
