/*
 * test_cli_selfplay.c - `helios run --game connect4 --selfplay G` end to
 * end: the real program (exec of $HELIOS_BIN), real workers, a real arena.
 * What a user of self-play relies on:
 *
 *  1. G games are played to their end: the totals add up (first-player
 *     wins + second-player wins + draws = G; the moves and playouts are
 *     the games' sums), and every game's moves, replayed by an independent
 *     checker, are legal and end exactly where the game ends, with the
 *     result reported.
 *  2. --json: stdout carries exactly one JSON object with the documented
 *     fields (selfplay.c); the progress (a line per game) goes to stderr.
 *  3. The search is reused from move to move: moves start from visits kept
 *     from the moves before; each move searched gets its playouts (moves
 *     from a position proven already are played without a search).
 *  4. With --seed and one worker a run plays the same games every time; a
 *     different seed plays others.
 *  5. Bad arguments are usage errors (exit 2) that say what is wrong.
 *  6. A full arena is said once and the games still finish.
 *  7. A worker killed mid-game (SIGKILL, paths in flight) is restarted by
 *     the coordinator and the games finish with totals that add up.
 *  8. A kept arena is left with the search at its start: `helios stat
 *     --search` reads it there, and the next run reuses it.
 */
#include "testutil.h"
#include "coordinator_util.h"

TestSuite(cli_selfplay, .fini = tc_fini, .timeout = 180);

/* A Connect Four referee in Python, independent of the engine: replays a
 * move string from a start string and says who won (or "draw", or
 * "ongoing"); asserts every move is legal and none follows the end. */
static const char referee_py[] =
	"def referee(start, moves):\n"
	"    h = [0] * 7\n"
	"    cell = {}\n"
	"    def four(c, r, p):\n"
	"        for dc, dr in ((1, 0), (0, 1), (1, 1), (1, -1)):\n"
	"            n = 1\n"
	"            for s in (1, -1):\n"
	"                k = 1\n"
	"                while cell.get((c + s * k * dc, r + s * k * dr)) == p:\n"
	"                    n += 1\n"
	"                    k += 1\n"
	"            if n >= 4:\n"
	"                return True\n"
	"        return False\n"
	"    over = None\n"
	"    for i, m in enumerate(start + moves):\n"
	"        assert over is None, ('a move after the end', i, moves)\n"
	"        c = int(m) - 1\n"
	"        assert 0 <= c < 7 and h[c] < 6, ('illegal move', i, moves)\n"
	"        p = i % 2\n"
	"        cell[(c, h[c])] = p\n"
	"        h[c] += 1\n"
	"        if four(c, h[c] - 1, p):\n"
	"            over = 'first' if p == 0 else 'second'\n"
	"        elif sum(h) == 42:\n"
	"            over = 'draw'\n"
	"    return over or 'ongoing'\n";

/* Runs python over the JSON text of each of the n procs (d[0..n)); the
 * referee above is defined; asserts the code exits 0. */
static void check_json(const struct tc_proc *const *p, int n, const char *code)
{
	const char *py = tc_file("py");
	FILE *f = fopen(py, "w");
	cr_assert_not_null(f);
	fprintf(f, "import json, sys\n%s"
		   "d = [json.loads(open(a).read()) for a in sys.argv[1:]]\n"
		   "%s\n", referee_py, code);
	fclose(f);
	char cmd[1024];
	int len = snprintf(cmd, sizeof cmd, "python3 %s", py);
	for (int i = 0; i < n; i++)
		len += snprintf(cmd + len, sizeof cmd - (size_t)len, " %s", p[i]->out);
	int st = system(cmd);
	cr_assert_eq(st, 0, "python check failed on:\n%s", tc_stdout(p[0]));
}

/* Checks 1-3 over d[i] for a run of `games` games of `playouts` a move. */
static const char totals_py[] =
	"def totals(r, games, playouts):\n"
	"    keys = ['game', 'mode', 'position', 'games', 'games_played', 'workers',\n"
	"            'playouts_per_move', 'seed', 'first_wins', 'second_wins',\n"
	"            'draws', 'moves', 'playouts', 'elapsed_s', 'playouts_per_s',\n"
	"            'heap_bytes', 'heap_used_bytes', 'heap_peak_bytes', 'nodes',\n"
	"            'records', 'no_room', 'unsearched_moves', 'proven_moves',\n"
	"            'reused_visits',\n"
	"            'results']\n"
	"    missing = [k for k in keys if k not in r]\n"
	"    assert not missing, missing\n"
	"    assert r['game'] == 'connect4' and r['mode'] == 'selfplay'\n"
	"    assert r['games'] == games and r['games_played'] == games, r\n"
	"    assert r['first_wins'] + r['second_wins'] + r['draws'] == games, r\n"
	"    assert len(r['results']) == games\n"
	"    assert r['playouts_per_move'] == playouts\n"
	"    assert sum(g['plies'] for g in r['results']) == r['moves']\n"
	"    assert sum(g['playouts'] for g in r['results']) <= r['playouts']\n"
	"    won = {'first': 0, 'second': 0, 'draw': 0}\n"
	"    for g in r['results']:\n"
	"        assert len(g['moves']) == g['plies'], g\n"
	"        assert referee(r['position'], g['moves']) == g['winner'], g\n"
	"        won[g['winner']] += 1\n"
	"    assert won == {'first': r['first_wins'], 'second': r['second_wins'],\n"
	"                   'draw': r['draws']}, (won, r)\n"
	"    searched = r['moves'] - r['unsearched_moves'] - r['proven_moves']\n"
	"    assert r['playouts'] >= searched * playouts, r\n"
	"    assert 0 < r['heap_used_bytes'] <= r['heap_peak_bytes'] <= r['heap_bytes']\n"
	"    assert r['nodes'] > 0 and r['records'] > 0\n"
	"    assert r['elapsed_s'] > 0 and r['playouts_per_s'] > 0\n";

static void check_totals(const struct tc_proc *p, int games, int playouts,
			 const char *more)
{
	char code[4096];
	snprintf(code, sizeof code, "%stotals(d[0], %d, %d)\nr = d[0]\n%s\n",
		 totals_py, games, playouts, more ? more : "");
	check_json(&p, 1, code);
}

Test(cli_selfplay, three_games_are_played_to_the_end_and_add_up)
{
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--game", "connect4", "--selfplay", "3",
		 "--playouts", "300", "--workers", "2", "--json", NULL);
	tc_expect_exit(&p, 120, 0);
	/* the search below the move played is kept: moves start from it */
	check_totals(&p, 3, 300, "assert r['reused_visits'] > 0, r\n"
				 "assert r['workers'] == 2 and r['position'] == ''\n");
	/* a line per game on stderr, not in the JSON */
	tc_assert_has(tc_stderr(&p), "game 1/3:", "stderr");
	tc_assert_has(tc_stderr(&p), "game 3/3:", "stderr");
	tc_assert_has(tc_stderr(&p), "playouts/s", "stderr");
}

Test(cli_selfplay, the_text_report_names_the_results_and_the_memory)
{
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--game", "connect4", "--selfplay", "2",
		 "--playouts", "200", "--workers", "2", "--position", "4453", NULL);
	tc_expect_exit(&p, 120, 0);
	const char *out = tc_stdout(&p);
	tc_assert_has(out, "self-play, 2 of 2 games of connect4 from \"4453\"", "stdout");
	tc_assert_has(out, "results   first player", "stdout");
	tc_assert_has(out, "second player", "stdout");
	tc_assert_has(out, "draws", "stdout");
	tc_assert_has(out, "playouts ", "stdout");
	tc_assert_has(out, "memory    heap", "stdout");
	tc_assert_has(out, "peak", "stdout");
	tc_assert_has(tc_stderr(&p), "game 2/2:", "stderr");
	tc_assert_has(tc_stderr(&p), "heap", "stderr");
}

Test(cli_selfplay, a_seeded_run_with_one_worker_plays_the_same_games)
{
	struct tc_proc a, b, c;
	tc_start(&a, NULL, "run", "--game", "connect4", "--selfplay", "3",
		 "--playouts", "400", "--workers", "1", "--json", "--quiet",
		 "--seed", "42", NULL);
	tc_expect_exit(&a, 120, 0);
	tc_start(&b, NULL, "run", "--game", "connect4", "--selfplay", "3",
		 "--playouts", "400", "--workers", "1", "--json", "--quiet",
		 "--seed", "42", NULL);
	tc_expect_exit(&b, 120, 0);
	tc_start(&c, NULL, "run", "--game", "connect4", "--selfplay", "3",
		 "--playouts", "400", "--workers", "1", "--json", "--quiet",
		 "--seed", "43", NULL);
	tc_expect_exit(&c, 120, 0);
	const struct tc_proc *runs[] = {&a, &b, &c};
	check_json(runs, 3,
		   "games = [[(g['moves'], g['winner'], g['playouts']) for g in r['results']]\n"
		   "         for r in d]\n"
		   "assert games[0] == games[1], ('seed 42 twice', games[0], games[1])\n"
		   "assert d[0]['playouts'] == d[1]['playouts']\n"
		   "assert games[0] != games[2], ('seeds 42 and 43 alike', games[0])\n");
}

Test(cli_selfplay, bad_arguments_are_usage_errors)
{
	struct {
		const char *args[12];
		const char *says;
	} cases[] = {
		{{"run", "--game", "connect4", "--selfplay", "0"},
		 "--selfplay takes a count of games"},
		{{"run", "--game", "connect4", "--selfplay", "many"},
		 "--selfplay takes a count of games"},
		{{"run", "--game", "connect4", "--selfplay", "1000001"},
		 "--selfplay takes a count of games"},
		{{"run", "--game", "connect4", "--selfplay", "2", "--position", "4455667"},
		 "the game is already over"},
		{{"run", "--game", "connect4", "--selfplay", "2", "--position", "1212121"},
		 "the game is already over"},
		{{"run", "--selfplay", "2"}, "go with --game"},
		{{"run", "--workload", "w1", "--selfplay", "2"}, "go with --game"},
		{{"run", "--game", "connect4", "--selfplay", "2", "--duration", "3"},
		 "--duration does not go with --selfplay"},
		{{"run", "--game", "connect4", "--selfplay", "2", "--playouts", "0"},
		 "--playouts takes a count"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *const *v = cases[i].args;
		struct tc_proc p;
		tc_start(&p, NULL, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
			 v[8], NULL);
		tc_expect_exit(&p, 20, 2);
		tc_assert_has(tc_stderr(&p), cases[i].says, "stderr");
		cr_assert_eq(tc_stdout(&p)[0], '\0', "case %zu printed on stdout", i);
	}
}

/* A move's search that outgrows the arena by itself (20000 playouts of
 * live records in 8 MiB: collections free only what earlier moves left;
 * 3000 a move in 16 MiB fit once slabs changed class as needed). */
Test(cli_selfplay, a_full_arena_is_said_once_and_the_games_finish)
{
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--game", "connect4", "--selfplay", "2",
		 "--playouts", "20000", "--workers", "2", "--size", "8M", "--json",
		 NULL);
	tc_expect_exit(&p, 150, 0);
	cr_assert_eq(tc_count(tc_stderr(&p), "the arena is full"), 1,
		     "said %u times:\n%s", tc_count(tc_stderr(&p), "the arena is full"),
		     tc_stderr(&p));
	check_totals(&p, 2, 20000, "assert r['no_room'] > 0, r\n");
}

Test(cli_selfplay, workers_killed_mid_game_are_restarted_and_the_games_finish)
{
	char name[64];
	snprintf(name, sizeof name, "t-selfplay-kill-%d", (int)getpid());
	tu_arena_name_register(name);
	hl_arena_unlink(name);
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--game", "connect4", "--selfplay", "40",
		 "--playouts", "1000", "--workers", "2", "--arena", name, "--json",
		 NULL);
	struct tc_view v;
	int kills = 0;
	for (int k = 0; k < 3; k++) {
		tc_wait_workers(name, 2, &p, 30, &v);
		tu_sleep_us(150000);
		if (!tc_running(&p))
			break; /* every game played already: nothing left to kill */
		pid_t victim = v.worker_pid[k % 2];
		cr_assert_gt(victim, 0);
		if (kill(victim, SIGKILL) != 0)
			continue;
		kills++; /* paths in flight, likely */
		tc_wait_gone(victim, &p, 30); /* the next view cannot offer it */
	}
	tc_expect_exit(&p, 150, 0);
	cr_assert_geq(kills, 1, "no worker was killed: the games ended first");
	cr_assert_geq(tc_count(tc_stderr(&p), "restarting in"), (unsigned)kills,
		      "%s", tc_stderr(&p));
	check_totals(&p, 40, 1000, NULL);
	hl_arena_unlink(name);
}

Test(cli_selfplay, a_kept_arena_is_left_at_the_start_for_stat_and_the_next_run)
{
	char name[64];
	snprintf(name, sizeof name, "t-selfplay-kept-%d", (int)getpid());
	tu_arena_name_register(name);
	hl_arena_unlink(name);
	struct tc_proc p, s;
	tc_start(&p, NULL, "run", "--game", "connect4", "--selfplay", "2",
		 "--playouts", "300", "--workers", "2", "--position", "44",
		 "--arena", name, "--keep", "--quiet", NULL);
	tc_expect_exit(&p, 120, 0);
	tc_start(&s, NULL, "stat", name, "--search", "--json", NULL);
	tc_expect_exit(&s, 20, 0);
	const struct tc_proc *one[] = {&s};
	check_json(one, 1, "r = d[0]\n"
		   "assert r['root_plies'] == 2, r\n"   /* "44": the start */
		   "assert r['position'] == '44', r\n"
		   "assert r['root_visits'] > 0 and r['best_move'] in range(1, 8)\n");
	/* the next run on the kept arena goes on from the same search */
	tc_start(&p, NULL, "run", "--game", "connect4", "--selfplay", "1",
		 "--playouts", "300", "--workers", "2", "--position", "44",
		 "--arena", name, "--keep", "--json", "--quiet", NULL);
	tc_expect_exit(&p, 120, 0);
	check_totals(&p, 1, 300, "assert r['reused_visits'] > 0\n");
	hl_arena_unlink(name);
}

/* Issue 12's done-when in small: many games in an arena a fraction of
 * what they grow, collections making room as they go (tree reuse leaves
 * the earlier games' lines unreachable): every game ends, no worker finds
 * the arena full, the heap stays within the arena. */
Test(cli_selfplay, many_games_in_a_small_arena_are_collected_as_they_go)
{
	struct tc_proc p;
	tc_start(&p, NULL, "run", "--game", "connect4", "--selfplay", "40",
		 "--playouts", "300", "--workers", "2", "--size", "24M", "--json",
		 NULL);
	tc_expect_exit(&p, 240, 0);
	check_totals(&p, 40, 300,
		     "assert r['gc_cycles'] >= 2, r\n"
		     "assert r['gc_freed_bytes'] > r['heap_bytes'], r\n"
		     "assert r['heap_peak_bytes'] <= r['heap_bytes'], r\n");
	const char *err = tc_stderr(&p);
	cr_assert_null(strstr(err, "HL_EFULL"), "a worker found the arena full:\n%s", err);
	cr_assert_null(strstr(err, "restarting"), "a worker died:\n%s", err);
}
