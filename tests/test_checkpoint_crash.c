/*
 * test_checkpoint_crash.c - checkpoints under SIGKILL, on real files under
 * /var/tmp.
 *
 *  - The crash loop of test_persist_crash.c (a coordinator with the
 *    persister, committing workers that record every acknowledged id
 *    outside the arena, the whole tree killed at a random moment, the shm
 *    dropped as a reboot would) with checkpoints at random moments and a
 *    1 MiB WAL, so segments are recycled during the loop: after each
 *    round, recovery (image + WAL) restores every acknowledged id
 *    byte-identical and the checkers pass.
 *  - A process killed in the middle of a checkpoint: the newest complete
 *    image and its WAL recover everything; and with that image's meta page
 *    damaged too, the older image - torn by the killed checkpoint, which
 *    was writing it (the kill lands after its image file changed) - and
 *    its longer WAL still recover everything, never wrong bytes.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "persister.h"
#include "persist_util.h"
#include "shm.h"
#include "wal_seg.h"
#include "testutil.h"
#include "workers.h"

#define MiB (1024ull * 1024ull)
#define CHUNK PU_CHUNK
#define STATE_BYTES (PU_STATE_CHUNKS * PU_CHUNK)
#define WORKERS 2u
#define ROUNDS 12u
#define GEN_PER_ROUND 1024u
#define ARENA_BYTES (128 * MiB)

static void fini(void)
{
	tu_unlink_all();
	pu_dir_remove();
}

TestSuite(checkpoint_crash, .fini = fini, .timeout = 240);

struct ack {
	hl_id id;
	uint32_t gen;
	uint32_t check; /* ~gen: a torn entry never passes */
};

static void config(hl_config *c)
{
	tu_config_small(c, ARENA_BYTES, CHUNK);
	c->persist_ring_bytes = 1 * MiB;
	c->durability = HL_DURABILITY_SYNC;
}

/* ---- the process tree (no Criterion asserts: exit codes) ------------------- */

static int ack_write(int fd, hl_id id, uint32_t gen)
{
	struct ack k = {id, gen, ~gen};
	if (write(fd, &k, sizeof k) != (ssize_t)sizeof k || fdatasync(fd) != 0)
		return 1;
	return 0;
}

static int worker(const char *name, unsigned w, uint32_t first, uint32_t n)
{
	char path[600];
	snprintf(path, sizeof path, "%s/acks-%u", pu_dir, w);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
	hl_arena *a;
	hl_state *s;
	if (fd < 0 || hl_arena_attach(name, 0, &a) || hl_state_new(a, &s))
		return 10;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t gen = (first + i * WORKERS + w) & 0xfffff;
		hl_id id;
		if (pu_gen_commit(s, gen, 0, &id))
			return 12;
		if (i % 8 == 0 && hl_ref_set(a, w ? "w1" : "w0", id))
			return 13;
		if (ack_write(fd, id, gen))
			return 14;
	}
	return 0; /* done before the kill: exits, its acks stand */
}

/* The root: arena, persister (recovering DIR), workers, and checkpoints
 * at random moments until killed. */
static int root(const char *name, unsigned round, uint64_t seed)
{
	hl_config c;
	config(&c);
	hl_arena *a;
	if (hl_arena_create(name, &c, &a))
		return 20;
	struct hl_persister_config pc;
	hl_persister_config_init(&pc);
	pc.wal_bytes = 1 * MiB;
	pc.ckpt_interval_ns = 50000000ull; /* and the root's own, below */
	struct hl_persister *p;
	if (hl_persister_start(a, pu_dir, &pc, hl_replay_record, a, NULL, &p))
		return 21;
	for (unsigned w = 0; w < WORKERS; w++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(worker(name, w, round * GEN_PER_ROUND,
				     GEN_PER_ROUND / WORKERS));
		if (pid < 0)
			return 22;
	}
	struct tu_rng rng;
	tu_rng_seed(&rng, seed);
	for (;;) {
		tu_sleep_us(tu_rng_range(&rng, 2000, 40000));
		if (hl_persister_checkpoint(p, NULL))
			return 23;
	}
}

/* ---- the test's side ---------------------------------------------------- */

static void reap_all(void)
{
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
}

static void round_run(const char *name, unsigned r, struct tu_rng *rng)
{
	uint64_t seed = tu_rng_range(rng, 1, UINT64_MAX - 1);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		setpgid(0, 0);
		_exit(root(name, r, seed));
	}
	setpgid(pid, pid);
	tu_sleep_us(tu_rng_range(rng, 100000, 700000));
	int st;
	pid_t w = waitpid(pid, &st, WNOHANG);
	cr_assert_eq(w, 0, "round %u: the root exited early (status %d)", r,
		     WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	kill(-pid, SIGKILL);
	reap_all();
	hl_arena_unlink(name); /* the reboot */
}

static int restore_gen(hl_state *s, hl_id id, uint32_t gen)
{
	static unsigned char got[STATE_BYTES], want[STATE_BYTES];
	int rc = hl_restore(s, id);
	if (rc)
		return rc;
	cr_assert_eq(hl_state_size(s), sizeof got);
	cr_assert_eq(hl_state_read(s, 0, got, sizeof got), 0);
	pu_gen_fill(want, gen);
	cr_assert_eq(memcmp(got, want, sizeof got), 0, "gen %u differs", gen);
	return 0;
}

/* Recovers DIR into a fresh arena, checks every acknowledgement; returns
 * how many there were. */
static uint64_t verify(const char *name, struct hl_recovery_info *info)
{
	hl_config c;
	config(&c);
	hl_arena *a = tu_arena_create_cfg(name, &c);
	int rc = hl_recover_into(a, pu_dir, hl_replay_record, a, info, NULL);
	cr_assert_eq(rc, 0, "recovery: %s (checkpoint %llu%s, %llu records, "
		     "stop %d, %llu segments, %llu bad pages, %llu dropped)",
		     hl_strerror(rc), (unsigned long long)info->ckpt,
		     info->fell_back ? ", fell back" : "",
		     (unsigned long long)info->records, (int)info->stop,
		     (unsigned long long)info->segments,
		     (unsigned long long)info->bad_pages,
		     (unsigned long long)info->nodes_dropped);
	tu_assert_arena_ok(a, "recovered");
	hl_state *s;
	cr_assert_eq(hl_state_new(a, &s), 0);
	uint64_t acks = 0;
	for (unsigned w = 0; w < WORKERS; w++) {
		size_t len = 0;
		const char *path = pu_path(w ? "acks-1" : "acks-0");
		if (access(path, F_OK) != 0)
			continue;
		unsigned char *b = pu_read_file(path, &len);
		for (size_t at = 0; b && at + sizeof(struct ack) <= len;
		     at += sizeof(struct ack)) {
			struct ack k;
			memcpy(&k, b + at, sizeof k);
			if (k.check != ~k.gen)
				break; /* a torn last entry: never acknowledged */
			rc = restore_gen(s, k.id, k.gen);
			cr_assert_eq(rc, 0, "acknowledged gen %u lost: %s (checkpoint "
				     "%llu)", k.gen, hl_strerror(rc),
				     (unsigned long long)info->ckpt);
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

static unsigned wal_files(void)
{
	uint64_t lo, hi, n;
	cr_assert_eq(hl_walseg_list(pu_dir, &lo, &hi, &n), 0);
	return (unsigned)n;
}

Test(checkpoint_crash, crash_loop_with_checkpoints_and_a_small_wal)
{
	pu_dir_make();
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	struct tu_rng rng;
	tu_rng_seed(&rng, 0xc4ec0001);
	uint64_t last = 0, ckpts = 0, most_files = 0, retired = 0;
	const char *tree = tu_arena_name("ccrash"), *check = tu_arena_name("ccrash");
	for (unsigned r = 0; r < ROUNDS; r++) {
		round_run(tree, r, &rng);
		struct hl_recovery_info info;
		uint64_t acks = verify(check, &info);
		cr_assert_geq(acks, last, "acknowledgements never go away");
		last = acks;
		ckpts += info.ckpt > 0;
		unsigned n = wal_files();
		most_files = n > most_files ? n : most_files;
		uint64_t lo, hi, k;
		hl_walseg_list(pu_dir, &lo, &hi, &k);
		retired = lo > 1 ? lo - 1 : retired;
	}
	cr_assert_gt(last, 0u, "nothing was acknowledged: the loop tested nothing");
	cr_assert_gt(ckpts, ROUNDS / 2, "recoveries went through checkpoints");
	cr_assert_gt(retired, 0u, "WAL segments were recycled during the loop "
		     "(%llu recoveries through a checkpoint, at most %llu files)",
		     (unsigned long long)ckpts, (unsigned long long)most_files);
	cr_log_info("checkpoint crash loop: %u rounds, %llu acknowledged commits "
		    "restored, %llu recoveries through a checkpoint, at most %llu "
		    "WAL files, %llu segments retired", ROUNDS,
		    (unsigned long long)last, (unsigned long long)ckpts,
		    (unsigned long long)most_files, (unsigned long long)retired);
}

/* ---- killed in the middle of a checkpoint ----------------------------------- */

/* Commits, checkpoints three times, then keeps committing and
 * checkpointing until killed. */
static int mid_root(const char *name)
{
	hl_config c;
	config(&c);
	hl_arena *a;
	if (hl_arena_create(name, &c, &a))
		return 30;
	struct hl_persister_config pc;
	hl_persister_config_init(&pc);
	pc.wal_bytes = 64 * MiB;
	pc.ckpt_interval_ns = UINT64_MAX;
	pc.no_final_ckpt = true;
	struct hl_persister *p;
	if (hl_persister_start(a, pu_dir, &pc, hl_replay_record, a, NULL, &p))
		return 31;
	for (uint32_t k = 0;; k++) {
		if (worker(name, 0, k * 1500, 1500))
			return 32;
		if (hl_persister_checkpoint(p, NULL))
			return 33;
	}
}

static struct timespec mtime_of(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return (struct timespec){0, 0};
	return st.st_mtim;
}

/* Kills pid's group once checkpoint `want` has begun, is not complete,
 * and has written into its image (image want % 2's file changed). */
static bool kill_mid_checkpoint(const char *name, uint64_t want, pid_t pid)
{
	hl_arena *a = NULL;
	char img[32];
	snprintf(img, sizeof img, HL_CKPT_IMAGE_NAME, (unsigned)(want % 2));
	const char *path = pu_path(img);
	struct timespec before = {0, 0};
	bool begun_seen = false;
	for (int i = 0; i < 200000; i++) {
		if (!a && hl_arena_attach(name, HL_RDONLY, &a) != 0)
			a = NULL;
		uint64_t begun = 0, done = 0;
		if (a)
			hl_ckpt_counters(a, &begun, &done);
		if (!begun_seen && begun >= want && begun > done) {
			begun_seen = true;
			before = mtime_of(path);
		} else if (begun_seen && done >= want) {
			break; /* it completed first */
		} else if (begun_seen) {
			struct timespec now = mtime_of(path);
			if (now.tv_sec != before.tv_sec || now.tv_nsec != before.tv_nsec) {
				kill(-pid, SIGKILL);
				hl_arena_close(a);
				return true;
			}
		}
		if (waitpid(pid, NULL, WNOHANG) == pid)
			break;
		tu_sleep_us(50);
	}
	if (a)
		hl_arena_close(a);
	return false;
}

Test(checkpoint_crash, killed_in_the_middle_of_a_checkpoint)
{
	pu_dir_make();
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	const char *tree = tu_arena_name("ccrash"), *check = tu_arena_name("ccrash");
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		setpgid(0, 0);
		_exit(mid_root(tree));
	}
	setpgid(pid, pid);
	/* checkpoint 4, or a later one if a loaded machine let it pass */
	uint64_t k = 4;
	while (k < 10 && !kill_mid_checkpoint(tree, k, pid))
		k++;
	kill(-pid, SIGKILL);
	reap_all();
	hl_arena_unlink(tree);
	cr_assert_lt(k, 10u, "the kill landed inside a checkpoint, after it "
				"wrote pages");

	/* the newest complete image (k - 1) and its WAL */
	struct hl_recovery_info info;
	uint64_t acks = verify(check, &info);
	cr_assert_eq(info.ckpt, k - 1, "checkpoint %llu never completed",
		     (unsigned long long)k);
	cr_assert_geq(acks, k * 1500u);

	/* and with meta (k - 1) % 2 damaged: image k % 2, which the killed
	 * checkpoint k was overwriting, and the WAL from checkpoint k - 2's L */
	const char *meta = pu_path(HL_CKPT_META_NAME);
	unsigned char x = 0xff;
	pu_write_at(meta, &x, 1, (k - 1) % 2 * 4096 + 40);
	uint64_t again = verify(check, &info);
	cr_assert(info.fell_back);
	cr_assert_eq(info.ckpt, k - 2, "the older checkpoint");
	cr_assert_eq(again, acks, "nothing acknowledged is lost");
	cr_log_info("killed in checkpoint %llu: %llu acks restored from the one "
		    "before; from the torn image of the one before that: %llu "
		    "pages failed their CRC, %llu nodes dropped, %llu records "
		    "replayed", (unsigned long long)k,
		    (unsigned long long)acks, (unsigned long long)info.bad_pages,
		    (unsigned long long)info.nodes_dropped,
		    (unsigned long long)info.records);
}
