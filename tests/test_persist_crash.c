/*
 * test_persist_crash.c - the crash loop: a process tree (a coordinator
 * holding the arena and the persister, and committing workers) SIGKILLed
 * at random moments, round after round, on real files under /var/tmp.
 *
 * Each round: a root process creates the arena, starts the persister on
 * DIR (which recovers every earlier round first) and forks workers; each
 * worker commits self-checking states (chunk 0 shared by all, the rest its
 * own generation's pattern) and, once hl_commit returned, appends the id
 * and generation to its ack file with fdatasync - outside the arena. The
 * test kills the whole process group at a random moment, unlinks the shm
 * (what a reboot does), and recovers DIR into a fresh arena: every
 * acknowledged id must restore byte-identical, the refs must name
 * acknowledged ids, and the checkers must pass.
 *
 * Async: the same, acknowledging only what a completed hl_persist_sync
 * covered.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>

#include "persister.h"
#include "persist_util.h"
#include "shm.h"
#include "testutil.h"
#include "workers.h"

#define MiB (1024ull * 1024ull)
#define CHUNK PU_CHUNK
#define STATE_CHUNKS PU_STATE_CHUNKS
#define WORKERS 2u
#define ROUNDS 25u
#define GEN_PER_ROUND 1024u

static void fini(void)
{
	tu_unlink_all();
	pu_dir_remove();
}

/* The loop checks that every acknowledged id survives, and nothing holds
 * those ids in the arena (they are written down outside it): with a
 * collector they would be garbage, so it runs without one (HELIOS_GC=off).
 * Collections and recovery together: tests/test_gc.c. */
static void init(void)
{
	setenv("HELIOS_GC", "off", 1);
}

TestSuite(persist_crash, .init = init, .fini = fini, .timeout = 120);

struct ack {
	hl_id id;
	uint32_t gen;
	uint32_t check; /* ~gen: a torn entry never passes */
};

/* ---- the process tree (no Criterion asserts: exit codes) ------------------- */

static int ack_write(int fd, hl_id id, uint32_t gen)
{
	struct ack k = {id, gen, ~gen};
	if (write(fd, &k, sizeof k) != (ssize_t)sizeof k || fdatasync(fd) != 0)
		return 1;
	return 0;
}

static int worker(const char *name, unsigned w, unsigned round, bool async)
{
	char path[600];
	snprintf(path, sizeof path, "%s/acks-%u", pu_dir, w);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
	hl_arena *a;
	hl_state *s;
	if (fd < 0 || hl_arena_attach(name, 0, &a) || hl_state_new(a, &s))
		return 10;
	static unsigned char buf[STATE_CHUNKS * CHUNK];
	hl_id pending[16];
	uint32_t pending_gen[16], npending = 0;
	for (uint32_t n = 0; n < GEN_PER_ROUND / WORKERS; n++) {
		uint32_t gen = (round * GEN_PER_ROUND + n * WORKERS + w) & 0xfffff;
		hl_id id;
		pu_gen_fill(buf, gen);
		if (hl_state_resize(s, sizeof buf) ||
		    hl_state_write(s, 0, buf, sizeof buf))
			return 11;
		int rc = hl_commit_ex(s, &id, NULL, async ? HL_COMMIT_ASYNC : 0);
		if (rc)
			return 12;
		if (n % 8 == 0 && hl_ref_set(a, w ? "w1" : "w0", id))
			return 13;
		if (!async) {
			if (ack_write(fd, id, gen))
				return 14;
			continue;
		}
		pending[npending] = id;
		pending_gen[npending++] = gen;
		if (npending == 16) {
			if (hl_persist_sync(a, 0))
				return 15;
			for (uint32_t i = 0; i < npending; i++)
				if (ack_write(fd, pending[i], pending_gen[i]))
					return 14;
			npending = 0;
		}
	}
	return 0; /* done before the kill: exits, its acks stand */
}

static int root(const char *name, unsigned round, bool async)
{
	hl_config c;
	tu_config_small(&c, 64 * MiB, CHUNK);
	c.persist_ring_bytes = 1 * MiB;
	c.durability = async ? HL_DURABILITY_ASYNC : HL_DURABILITY_SYNC;
	hl_arena *a;
	if (hl_arena_create(name, &c, &a))
		return 20;
	struct hl_persister_config pc;
	hl_persister_config_init(&pc);
	/* the WAL alone, as this suite tests it (test_checkpoint*.c: checkpoints) */
	pc.no_ckpt = true;
	pc.wal_bytes = 64 * MiB;
	struct hl_persister *p;
	if (hl_persister_start(a, pu_dir, &pc, hl_replay_record, a, NULL, &p))
		return 21;
	for (unsigned w = 0; w < WORKERS; w++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(worker(name, w, round, async));
		if (pid < 0)
			return 22;
	}
	for (;;)
		pause(); /* the persister thread works; the test kills us */
}

/* ---- the test's side ---------------------------------------------------- */

static void reap_all(void)
{
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
}

/* Runs round r and kills its tree after a random delay. */
static void round_run(const char *name, unsigned r, bool async,
		      struct tu_rng *rng)
{
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		setpgid(0, 0);
		_exit(root(name, r, async));
	}
	setpgid(pid, pid);
	uint64_t us = tu_rng_range(rng, 30000, 400000);
	tu_sleep_us(us);
	int st;
	pid_t w = waitpid(pid, &st, WNOHANG);
	cr_assert_eq(w, 0, "round %u: the root exited early (status %d)", r,
		     WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	kill(-pid, SIGKILL);
	reap_all();
	hl_arena_unlink(name); /* the reboot */
}

static unsigned char got[STATE_CHUNKS * CHUNK], want[STATE_CHUNKS * CHUNK];

static void check_ack(hl_arena *a, hl_state *s, const struct ack *k)
{
	int rc = hl_restore(s, k->id);
	cr_assert_eq(rc, 0, "acknowledged gen %u lost: %s", k->gen, hl_strerror(rc));
	cr_assert_eq(hl_state_size(s), sizeof got);
	cr_assert_eq(hl_state_read(s, 0, got, sizeof got), 0);
	pu_gen_fill(want, k->gen);
	cr_assert_eq(memcmp(got, want, sizeof got), 0, "gen %u differs", k->gen);
	(void)a;
}

/* Recovers DIR into a fresh arena and checks every acknowledgement;
 * returns how many there were. */
static uint64_t verify(const char *name)
{
	hl_config c;
	tu_config_small(&c, 64 * MiB, CHUNK);
	hl_arena *a = tu_arena_create_cfg(name, &c);
	struct hl_recovery_info info;
	int rc = hl_recover_dir(pu_dir, CHUNK, hl_replay_record, a, &info);
	/* HL_ENOENT: killed before its first segment was complete, DIR holds
	 * no WAL yet (wal_seg.c invariant 4), and no commit can have been
	 * acknowledged: the checks below find no acks */
	cr_assert(rc == 0 || rc == HL_ENOENT, "recovery: %s", hl_strerror(rc));
	tu_assert_arena_ok(a, "recovered");
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	uint64_t acks = 0;
	for (unsigned w = 0; w < WORKERS; w++) {
		size_t len = 0;
		const char *path = pu_path(w ? "acks-1" : "acks-0");
		if (access(path, F_OK) != 0)
			continue; /* killed before its first commit */
		unsigned char *b = pu_read_file(path, &len);
		for (size_t at = 0; b && at + sizeof(struct ack) <= len;
		     at += sizeof(struct ack)) {
			struct ack k;
			memcpy(&k, b + at, sizeof k);
			if (k.check != ~k.gen)
				break; /* a torn last entry: never acknowledged */
			check_ack(a, s, &k);
			acks++;
		}
		free(b);
		hl_id ref;
		rc = hl_ref_get(a, w ? "w1" : "w0", &ref);
		cr_assert(rc == 0 || rc == HL_ENOENT);
		if (rc == 0)
			cr_assert_eq(hl_restore(s, ref), 0, "a ref names a lost id");
	}
	hl_state_free(s);
	hl_arena_close(a);
	hl_arena_unlink(name);
	return acks;
}

static void crash_loop(bool async, uint64_t seed)
{
	pu_dir_make();
	/* the workers outlive their root for a moment after the kill: as our
	 * orphans, reap_all waits for them too */
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	struct tu_rng rng;
	tu_rng_seed(&rng, seed);
	uint64_t last = 0;
	/* one name for every round's tree, one for the recovered arenas:
	 * each is unlinked before the next use */
	const char *tree = tu_arena_name("pcrash"), *check = tu_arena_name("pcrash");
	for (unsigned r = 0; r < ROUNDS; r++) {
		round_run(tree, r, async, &rng);
		uint64_t acks = verify(check);
		cr_assert_geq(acks, last, "acknowledgements never go away");
		last = acks;
	}
	cr_assert_gt(last, 0u, "no commit was ever acknowledged: the loop "
				"tested nothing");
	cr_log_info("%s crash loop: %u rounds, %llu acknowledged commits "
		    "restored", async ? "async" : "sync", ROUNDS,
		    (unsigned long long)last);
}

/* A WAL file named in DIR, wal.000001 or a half-made wal.000001.new. */
static bool wal_file_there(void)
{
	return access(pu_path("wal.000001"), F_OK) == 0 ||
	       access(pu_path("wal.000001.new"), F_OK) == 0;
}

/* The first persister start on an empty DIR zero-fills its first segment
 * (64 MiB here: tens of ms, seconds on a slow disk) before it writes its
 * header. Killed the moment a WAL file appears - inside that fill, where
 * the crash loop's first round lands on a slow machine - DIR still
 * recovers (to nothing, or to a complete segment). Before wal_seg.c
 * invariant 4 the kill left wal.000001 all zeros, and recovery and every
 * later persister start on DIR failed with HL_ECORRUPT. */
Test(persist_crash, killed_while_making_its_first_segment_leaves_a_dir_that_recovers)
{
	pu_dir_make();
	const char *tree = tu_arena_name("pcrash"), *check = tu_arena_name("pcrash");
	for (int round = 0; round < 3; round++) {
		pid_t pid = fork();
		cr_assert_neq(pid, -1);
		if (pid == 0) {
			hl_config c;
			tu_config_small(&c, 64 * MiB, CHUNK);
			c.persist_ring_bytes = 1 * MiB;
			c.durability = HL_DURABILITY_SYNC;
			hl_arena *a;
			if (hl_arena_create(tree, &c, &a))
				_exit(20);
			struct hl_persister_config pc;
			hl_persister_config_init(&pc);
			pc.no_ckpt = true;
			pc.wal_bytes = 64 * MiB;
			struct hl_persister *p;
			_exit(hl_persister_start(a, pu_dir, &pc, hl_replay_record, a,
						 NULL, &p) ? 21 : 0);
		}
		uint64_t deadline = tu_now_ns() + 30ull * 1000000000ull;
		while (!wal_file_there() && waitpid(pid, NULL, WNOHANG) == 0 &&
		       tu_now_ns() < deadline)
			tu_sleep_us(100);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		hl_arena_unlink(tree);

		hl_config c;
		tu_config_small(&c, 64 * MiB, CHUNK);
		hl_arena *a = tu_arena_create_cfg(check, &c);
		struct hl_recovery_info info;
		int rc = hl_recover_dir(pu_dir, CHUNK, hl_replay_record, a, &info);
		cr_assert(rc == 0 || rc == HL_ENOENT, "round %d: recovery after a kill "
			  "while the first segment was made: %s", round, hl_strerror(rc));
		hl_arena_close(a);
		hl_arena_unlink(check);
		pu_dir_remove();
		pu_dir_make();
	}
}

Test(persist_crash, sync_loop_keeps_every_acknowledged_commit)
{
	crash_loop(false, 0x5eed0001);
}

Test(persist_crash, async_loop_keeps_everything_before_the_last_sync)
{
	crash_loop(true, 0x5eed0002);
}
