/*
 * demo.c - helios-demo: a tour of Helios through a toy game, in two
 * processes, using only the public API (helios.h).
 *
 *   1. Create an arena under a unique name (unlinked at the end, and on
 *      errors and Ctrl-C).
 *   2. Play a few moves of Gomoku on a 15x15 board, committing the board
 *      after every move: each position becomes an immutable snapshot with a
 *      128-bit content address (its id).
 *   3. Reach the same position through another move order: same bytes, so
 *      the same id, and the commit stores nothing new (a transposition
 *      table for free).
 *   4. hl_fork a working state to try two replies side by side, and
 *      hl_restore back to an earlier position in O(1).
 *   5. Publish ids under names with hl_ref_set, then fork(2) a second
 *      process. The child attaches to the arena BY NAME (a child must never
 *      use its parent's handle), reads the refs, restores the position
 *      zero-copy (hl_state_view hands out pointers into the shared leaves),
 *      prints it, diffs two snapshots, commits a reply and publishes it.
 *   6. The parent reads the child's reply, and both print hl_arena_stats.
 *
 * The board is 226 bytes (225 cells + the side to move) and the arena uses
 * 64-byte chunks, so a position spans four chunks and commits show
 * chunk-level sharing. Exit status: 0 on success, 1 with a message on any
 * error.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helios.h"

#define N 15                     /* board side */
#define CELLS (N * N)            /* bytes 0..224: '.', 'X' or 'O' */
#define TO_MOVE CELLS            /* byte 225: the side to move */
#define BOARD_BYTES (CELLS + 1)

static char g_arena[64];  /* unlinked by the parent on every exit path */
static bool g_in_child;

static void cleanup(void)
{
	if (!g_in_child && g_arena[0])
		hl_arena_unlink(g_arena);
}

static void on_signal(int sig)
{
	cleanup(); /* one shm_unlink */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fprintf(stderr, "helios-demo (%s): error: ", g_in_child ? "child" : "parent");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (g_in_child)
		_exit(1); /* the parent owns the arena name and unlinks it */
	exit(1);
}

/* Every Helios call returns 0 or a negative HL_E* code. */
#define TRY(call)                                                          \
	do {                                                               \
		int rc_ = (call);                                          \
		if (rc_ != 0)                                              \
			die("%s failed: %s", #call, hl_strerror(rc_));     \
	} while (0)

/* The first 8 hex digits are plenty to tell ids apart on screen. */
static const char *short_id(hl_id id, char buf[33])
{
	hl_id_to_hex(id, buf);
	buf[12] = '\0';
	return buf;
}

/* ---- the game ----------------------------------------------------------- */

/* Places the side to move's stone at (r, c) and passes the turn: two small
 * writes into the working state (copy-on-write of the chunks they touch). */
static void play(hl_state *s, int r, int c)
{
	char side, cell;
	TRY(hl_state_read(s, TO_MOVE, &side, 1));
	TRY(hl_state_read(s, (uint64_t)(r * N + c), &cell, 1));
	if (cell != '.')
		die("illegal move %c%d: occupied", 'a' + c, r + 1);
	TRY(hl_state_write(s, (uint64_t)(r * N + c), &side, 1));
	char next = side == 'X' ? 'O' : 'X';
	TRY(hl_state_write(s, TO_MOVE, &next, 1));
}

/* Plays a move, commits, and prints the move, the id and what was stored. */
static hl_id play_commit(hl_state *s, int r, int c)
{
	char side, hex[33];
	TRY(hl_state_read(s, TO_MOVE, &side, 1));
	play(s, r, c);
	hl_id id;
	hl_commit_info info;
	TRY(hl_commit(s, &id, &info));
	printf("    %c plays %c%-2d -> id %s..  new %4llu B in %llu nodes,"
	       " shared %4llu B\n", side, 'a' + c, r + 1, short_id(id, hex),
	       (unsigned long long)info.new_bytes,
	       (unsigned long long)info.new_nodes,
	       (unsigned long long)info.dedup_bytes);
	return id;
}

/* Prints the board of the state, reading it zero-copy: hl_state_view
 * returns pointers into the shared leaves themselves (one per chunk). */
static void print_board(hl_state *s, const char *indent)
{
	char board[BOARD_BYTES];
	uint64_t off = 0;
	unsigned views = 0;
	while (off < BOARD_BYTES) {
		const void *p;
		size_t len;
		TRY(hl_state_view(s, off, &p, &len));
		memcpy(board + off, p, len); /* only to lay the rows out */
		off += len;
		views++;
	}
	printf("%s   ", indent);
	for (int c = 0; c < N; c++)
		printf(" %c", 'a' + c);
	printf("\n");
	for (int r = 0; r < N; r++) {
		printf("%s%2d ", indent, r + 1);
		for (int c = 0; c < N; c++)
			printf(" %c", board[r * N + c]);
		printf("\n");
	}
	printf("%s(%c to move; read through %u zero-copy views of the shared"
	       " chunks)\n", indent, board[TO_MOVE], views);
}

/* hl_diff callback: one call per maximal run of differing bytes. */
static int print_range(uint64_t off, uint64_t len, void *ctx)
{
	int *runs = ctx;
	(*runs)++;
	printf("      bytes [%3llu, %3llu): ", (unsigned long long)off,
	       (unsigned long long)(off + len));
	for (uint64_t b = off; b < off + len; b++) {
		if (b == TO_MOVE)
			printf("side-to-move ");
		else
			printf("%c%llu ", 'a' + (int)(b % N),
			       (unsigned long long)(b / N + 1));
	}
	printf("\n");
	return 0;
}

static void print_stats(hl_arena *a, const char *who)
{
	hl_stats st;
	TRY(hl_arena_stats(a, &st));
	printf("  hl_arena_stats (%s):\n"
	       "    nodes %llu (leaves, inner nodes, roots), stored %llu B,"
	       " deduplicated %llu B (%llu hits)\n"
	       "    commits %llu, restores %llu, refs %llu, live processes %llu,"
	       " index %llu/%llu entries, heap %llu KiB of %llu MiB in slabs\n",
	       who, (unsigned long long)st.nodes,
	       (unsigned long long)st.stored_bytes,
	       (unsigned long long)st.dedup_bytes,
	       (unsigned long long)st.dedup_hits,
	       (unsigned long long)st.commits, (unsigned long long)st.restores,
	       (unsigned long long)st.refs, (unsigned long long)st.processes,
	       (unsigned long long)st.index_used,
	       (unsigned long long)st.index_capacity,
	       (unsigned long long)(st.heap_used_bytes >> 10),
	       (unsigned long long)(st.heap_bytes >> 20));
}

/* ---- the second process ----------------------------------------------------- */

static int child_main(void)
{
	g_in_child = true;
	char hex[33];
	hl_arena *a;
	/* Attach anew by name: the parent's handle belongs to the parent. */
	TRY(hl_arena_attach(g_arena, 0, &a));
	printf("\n[child %d] attached to arena \"%s\" by name (slot %d)\n",
	       (int)getpid(), g_arena, hl_arena_slot(a));

	hl_id pos, earlier;
	TRY(hl_ref_get(a, "game/position", &pos));
	TRY(hl_ref_get(a, "game/earlier", &earlier));
	printf("  ref game/position = %s..\n", short_id(pos, hex));

	hl_state *s;
	TRY(hl_state_new(a, &s));
	TRY(hl_restore(s, pos)); /* O(1): no bytes copied */
	printf("  restored it (O(1), nothing copied):\n");
	print_board(s, "    ");

	printf("  diff game/earlier -> game/position (only changed chunks are"
	       " read):\n");
	int runs = 0;
	TRY(hl_diff(a, earlier, pos, print_range, &runs));
	printf("    %d changed range(s)\n", runs);
	if (runs == 0)
		die("diff of two different positions reported no change");

	printf("  the child replies with a move and publishes it:\n");
	hl_id reply = play_commit(s, 5, 5);
	TRY(hl_ref_set(a, "game/reply", reply));
	print_stats(a, "seen by the child");

	hl_state_free(s);
	hl_arena_close(a);
	fflush(stdout);
	return 0;
}

/* ---- the first process ------------------------------------------------------ */

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0); /* parent and child interleave lines */
	snprintf(g_arena, sizeof g_arena, "demo.%d.%ld", (int)getpid(),
		 (long)time(NULL));
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	hl_config cfg;
	hl_config_init(&cfg);
	cfg.arena_bytes = 64u << 20; /* pages are touched lazily */
	cfg.chunk_bytes = 64;        /* small chunks: a board spans four */
	hl_arena *a;
	int rc = hl_arena_create(g_arena, &cfg, &a);
	if (rc) {
		g_arena[0] = '\0'; /* not ours to unlink */
		die("hl_arena_create(\"%s\") failed: %s", g_arena, hl_strerror(rc));
	}
	printf("Helios demo: arena \"%s\" (64 MiB, 64 B chunks), parent pid %d\n",
	       g_arena, (int)getpid());

	/* 1. An empty board, committed: the starting snapshot. */
	char hex[33];
	hl_state *s;
	TRY(hl_state_new(a, &s));
	char empty[BOARD_BYTES];
	memset(empty, '.', CELLS);
	empty[TO_MOVE] = 'X';
	TRY(hl_state_resize(s, BOARD_BYTES));
	TRY(hl_state_write(s, 0, empty, BOARD_BYTES));
	hl_id start;
	TRY(hl_commit(s, &start, NULL));
	TRY(hl_id_to_hex(start, hex));
	printf("\n1. empty board committed: id %s (ids are shown by their first"
	       " 12 hex digits below)\n", hex);

	/* 2. Line A, one commit per move. */
	printf("\n2. line A, committing after every move:\n");
	play_commit(s, 7, 7);
	hl_id a2 = play_commit(s, 7, 8);
	play_commit(s, 8, 8);
	hl_id line_a = play_commit(s, 6, 6);

	/* 3. Line B: the same stones in another order. */
	printf("\n3. line B from the empty board: same stones, other order:\n");
	TRY(hl_restore(s, start)); /* O(1) */
	play_commit(s, 8, 8);
	play_commit(s, 6, 6);
	play_commit(s, 7, 7);
	hl_id line_b = play_commit(s, 7, 8);
	if (!hl_id_eq(line_a, line_b))
		die("the same position got two ids");
	printf("    line A and line B end in the same position -> the same id"
	       " %s..: the last commit stored nothing new.\n",
	       short_id(line_b, hex));

	/* 4. Working-state fork: two candidate replies from one position. */
	printf("\n4. hl_fork: try two replies for X from this position:\n");
	hl_state *alt;
	TRY(hl_fork(s, &alt));
	hl_id try1 = play_commit(s, 9, 9);
	hl_id try2 = play_commit(alt, 5, 5);
	printf("    diff of the two tries:\n");
	int runs = 0;
	TRY(hl_diff(a, try1, try2, print_range, &runs));
	hl_state_free(alt);
	TRY(hl_restore(s, line_a)); /* back to the shared position */
	if (!hl_id_eq(hl_state_base(s), line_a))
		die("restore did not rebase the state");
	printf("    restored line A's position (O(1)).\n");

	/* 5. Publish, then let a second process take over. */
	TRY(hl_ref_set(a, "game/position", try1));
	TRY(hl_ref_set(a, "game/earlier", a2));
	printf("\n5. published refs game/position = %s.. and game/earlier = ",
	       short_id(try1, hex));
	printf("%s.. (after move 2); forking a second process\n",
	       short_id(a2, hex));
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0)
		_exit(child_main());
	int status;
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("the child process failed (status 0x%x)", status);

	/* 6. The parent sees the child's work through the shared arena. */
	hl_id reply;
	TRY(hl_ref_get(a, "game/reply", &reply));
	TRY(hl_restore(s, reply));
	printf("\n6. [parent] ref game/reply = %s.. set by the child; its board:\n",
	       short_id(reply, hex));
	print_board(s, "    ");
	print_stats(a, "seen by the parent");

	char msg[200] = "";
	TRY(hl_arena_check(a, msg, sizeof msg));
	printf("  hl_arena_check: every node and index entry consistent\n");
	hl_state_free(s);
	hl_arena_close(a);
	TRY(hl_arena_unlink(g_arena));
	g_arena[0] = '\0';
	printf("\narena unlinked. demo OK\n");
	return 0;
}
