/*
 * test_persist_io.c - the write engine under the WAL: every backend forced
 * and working, the fallbacks taken and reported once, injected and real
 * ENOSPC and EIO sticky, and simulated power losses that never lose a
 * record a completed flush acknowledged and never replay one past the
 * valid end.
 */
#include <errno.h>
#include <sys/mount.h>

#include "persist_util.h"

#include "iofault.h"
#include "io.h"

static char mnt_dir[600];

static void suite_fini(void)
{
	if (mnt_dir[0])
		umount2(mnt_dir, MNT_DETACH);
	mnt_dir[0] = 0;
	pu_dir_remove();
}

TestSuite(persist_io, .fini = suite_fini);

#define FILE_BYTES (8ull << 20)

struct reports { int calls; char last[256]; };

static void on_report(void *ctx, const char *msg)
{
	struct reports *r = ctx;
	r->calls++;
	snprintf(r->last, sizeof r->last, "%s", msg);
}

static struct hl_wal *wal_with(const char *path, const struct hl_io_config *io)
{
	struct hl_wal_config cfg;
	struct hl_wal *w;
	pu_wal_config(&cfg, FILE_BYTES);
	cfg.io = *io;
	int rc = hl_wal_create(path, &cfg, &w);
	cr_assert_eq(rc, 0, "create: %s", hl_strerror(rc));
	return w;
}

static uint64_t scan_from(const char *path, uint64_t first)
{
	struct pu_seen seen = { .first = first };
	int rc = hl_wal_scan_file(path, PU_GEOMETRY, NULL, pu_check_record,
				  &seen, NULL);
	cr_assert_eq(rc, 0, "scan: %s", hl_strerror(rc));
	cr_assert_eq(seen.bad, 0, "%s", seen.why);
	return seen.count;
}

/* Appends n records, flushing every 10, through the given engine setup,
 * and checks they all read back and what the engine says it used. */
static void run_backend(enum hl_io_backend be, enum hl_io_direct d,
			enum hl_io_sync sync)
{
	pu_dir_make();
	const char *p = pu_path("wal");
	struct hl_io_config io;
	struct reports rep = {0};
	hl_io_config_init(&io);
	io.backend = be;
	io.direct = d;
	io.sync = sync;
	io.report = on_report;
	io.report_ctx = &rep;
	struct hl_wal *w = wal_with(p, &io);
	for (uint64_t i = 0; i < 100; i++) {
		cr_assert_eq(pu_append(w, i, NULL), 0);
		if (i % 10 == 9)
			cr_assert_eq(hl_wal_flush(w), 0);
	}
	struct hl_io_stats st;
	hl_wal_io_stats(w, &st);
	hl_wal_close(w);
	cr_assert_eq(st.backend, be);
	cr_assert_eq(st.direct, d == HL_IO_DIRECT_AUTO);
	cr_assert_eq(st.sync, sync);
	cr_assert_eq(st.fallbacks, 0u, "no fallback: %s", st.fallback_msg);
	cr_assert_eq(rep.calls, 0);
	cr_assert_eq(st.error, 0);
	cr_assert_geq(st.batches, 11u, "header + 10 flushes");
	cr_assert_eq(scan_from(p, 0), 100);
}

Test(persist_io, uring_direct_dsync) { run_backend(HL_IO_BACKEND_URING, HL_IO_DIRECT_AUTO, HL_IO_SYNC_DSYNC); }
Test(persist_io, uring_direct_linked_fdatasync) { run_backend(HL_IO_BACKEND_URING, HL_IO_DIRECT_AUTO, HL_IO_SYNC_FDATASYNC); }
Test(persist_io, uring_buffered_dsync) { run_backend(HL_IO_BACKEND_URING, HL_IO_DIRECT_OFF, HL_IO_SYNC_DSYNC); }
Test(persist_io, uring_buffered_fdatasync) { run_backend(HL_IO_BACKEND_URING, HL_IO_DIRECT_OFF, HL_IO_SYNC_FDATASYNC); }
Test(persist_io, pwrite_direct_dsync) { run_backend(HL_IO_BACKEND_PWRITE, HL_IO_DIRECT_AUTO, HL_IO_SYNC_DSYNC); }
Test(persist_io, pwrite_direct_fdatasync) { run_backend(HL_IO_BACKEND_PWRITE, HL_IO_DIRECT_AUTO, HL_IO_SYNC_FDATASYNC); }
Test(persist_io, pwrite_buffered_dsync) { run_backend(HL_IO_BACKEND_PWRITE, HL_IO_DIRECT_OFF, HL_IO_SYNC_DSYNC); }
Test(persist_io, pwrite_buffered_fdatasync) { run_backend(HL_IO_BACKEND_PWRITE, HL_IO_DIRECT_OFF, HL_IO_SYNC_FDATASYNC); }

/* A refused io_uring or O_DIRECT is a fallback that works, reported once
 * through the callback and in the stats, however many flushes follow. */
static void run_refused(bool uring, bool direct, unsigned want_bits)
{
	pu_dir_make();
	const char *p = pu_path("wal");
	struct hl_iofault_config fc = { .refuse_uring = uring,
					.refuse_direct = direct };
	struct hl_iofault *f;
	cr_assert_eq(hl_iofault_new(&fc, &f), 0);
	struct hl_io_config io;
	struct reports rep = {0};
	hl_io_config_init(&io);
	io.fault = f;
	io.report = on_report;
	io.report_ctx = &rep;
	struct hl_wal *w = wal_with(p, &io);
	for (uint64_t i = 0; i < 50; i++) {
		cr_assert_eq(pu_append(w, i, NULL), 0);
		cr_assert_eq(hl_wal_flush(w), 0);
	}
	struct hl_io_stats st;
	hl_wal_io_stats(w, &st);
	hl_wal_close(w);
	hl_iofault_free(f);
	cr_assert_eq(st.fallbacks, want_bits);
	cr_assert_eq(rep.calls, __builtin_popcount(want_bits), "once each: %d",
		     rep.calls);
	cr_assert_eq(st.backend, uring ? HL_IO_BACKEND_PWRITE : HL_IO_BACKEND_URING);
	cr_assert_eq(st.direct, !direct);
	if (uring)
		cr_assert_not_null(strstr(st.fallback_msg, "io_uring refused"),
				   "%s", st.fallback_msg);
	if (direct)
		cr_assert_not_null(strstr(st.fallback_msg, "O_DIRECT refused"),
				   "%s", st.fallback_msg);
	cr_assert_eq(scan_from(p, 0), 50);
}

Test(persist_io, refused_uring_falls_back_to_pwrite_and_says_so_once)
{
	run_refused(true, false, HL_IO_FELL_BACK_URING);
}

Test(persist_io, refused_o_direct_falls_back_to_buffered_and_says_so_once)
{
	run_refused(false, true, HL_IO_FELL_BACK_DIRECT);
}

Test(persist_io, both_refused_still_persists)
{
	run_refused(true, true, HL_IO_FELL_BACK_URING | HL_IO_FELL_BACK_DIRECT);
}

/* An injected failure at the Nth write or flush: the flush that hit it
 * and everything after report it; what was durable before reads back. */
static void run_sticky(enum hl_io_backend be, bool at_flush, int err, int want)
{
	pu_dir_make();
	const char *p = pu_path("wal");
	struct hl_iofault_config fc = {0};
	if (at_flush) {
		fc.flush_fail_at = 6;   /* the header's flush is the first */
		fc.flush_errno = err;
	} else {
		fc.write_fail_at = 6;
		fc.write_errno = err;
	}
	struct hl_iofault *f;
	cr_assert_eq(hl_iofault_new(&fc, &f), 0);
	struct hl_io_config io;
	hl_io_config_init(&io);
	io.backend = be;
	io.fault = f;
	struct hl_wal *w = wal_with(p, &io);
	uint64_t i = 0;
	for (; i < 5 * 4; i++) {         /* 5 good flushes of 4 records */
		cr_assert_eq(pu_append(w, i, NULL), 0);
		if (i % 4 == 3 && i < 16)
			cr_assert_eq(hl_wal_flush(w), 0, "flush %llu",
				     (unsigned long long)i);
	}
	uint64_t durable = hl_wal_durable_lsn(w);
	cr_assert_eq(hl_wal_flush(w), want, "the failing flush");
	cr_assert_eq(hl_wal_durable_lsn(w), durable, "nothing more is durable");
	for (int k = 0; k < 3; k++) {
		cr_assert_eq(pu_append(w, i + (uint64_t)k, NULL), want, "sticky append");
		cr_assert_eq(hl_wal_flush(w), want, "sticky flush");
		cr_assert_eq(hl_wal_flush_begin(w), want);
	}
	struct hl_io_stats st;
	hl_wal_io_stats(w, &st);
	cr_assert_eq(st.error, want);
	cr_assert_eq(st.error_errno, err);
	hl_wal_close(w);
	hl_iofault_free(f);
	cr_assert_eq(scan_from(p, 0), 16, "the durable records are intact");
}

Test(persist_io, injected_enospc_at_a_write_is_sticky_uring) { run_sticky(HL_IO_BACKEND_URING, false, ENOSPC, HL_EFULL); }
Test(persist_io, injected_enospc_at_a_write_is_sticky_pwrite) { run_sticky(HL_IO_BACKEND_PWRITE, false, ENOSPC, HL_EFULL); }
Test(persist_io, injected_eio_at_a_flush_is_sticky_uring) { run_sticky(HL_IO_BACKEND_URING, true, EIO, HL_EIO); }
Test(persist_io, injected_eio_at_a_flush_is_sticky_pwrite) { run_sticky(HL_IO_BACKEND_PWRITE, true, EIO, HL_EIO); }
Test(persist_io, injected_eio_at_a_write_is_sticky) { run_sticky(HL_IO_BACKEND_URING, false, EIO, HL_EIO); }

/* ---- power loss ---------------------------------------------------------------- */

struct session {
	uint64_t acked;      /* records acknowledged by completed flushes */
	uint64_t appended;   /* records appended in all */
};

/* One life of the WAL between crashes: reopen (or create), check what
 * survived, append and flush some (acknowledged), append more and leave
 * them unflushed or in flight, then "lose power". */
static void live(const char *p, struct hl_iofault *f, enum hl_io_backend be,
		 enum hl_io_direct d, uint64_t seed, struct session *s, bool first)
{
	struct hl_io_config io;
	hl_io_config_init(&io);
	io.backend = be;
	io.direct = d;
	io.fault = f;
	struct hl_wal *w;
	if (first) {
		w = wal_with(p, &io);
	} else {
		struct hl_wal_config cfg;
		struct pu_seen seen = {0};
		pu_wal_config(&cfg, 0);
		cfg.io = io;
		cr_assert_eq(hl_wal_open(p, &cfg, pu_check_record, &seen, NULL, &w), 0);
		cr_assert_eq(seen.bad, 0, "seed %llu: %s",
			     (unsigned long long)seed, seen.why);
		cr_assert_geq(seen.count, s->acked, "seed %llu: acknowledged record "
			      "lost", (unsigned long long)seed);
		cr_assert_leq(seen.count, s->appended);
		s->appended = s->acked = seen.count; /* the log goes on from here */
	}
	uint64_t rounds = seed % 4; /* 0: a crash before any flush completes */
	for (uint64_t r = 0; r < rounds; r++) {
		for (uint64_t k = 0; k < 1 + (seed >> 3) % 6; k++)
			cr_assert_eq(pu_append(w, s->appended++, NULL), 0);
		cr_assert_eq(hl_wal_flush(w), 0);
		s->acked = s->appended;
	}
	for (uint64_t k = 0; k < 1 + (seed >> 5) % 9; k++) {
		cr_assert_eq(pu_append(w, s->appended++, NULL), 0);
		if (k % 3 == 2)
			cr_assert_eq(hl_wal_flush_begin(w), 0); /* in flight */
	}
	hl_wal_close(w);
	struct hl_iofault_crash_info ci;
	cr_assert_eq(hl_iofault_crash(f, p, seed * 7919 + 1, &ci), 0);
}

static void run_power_loss(enum hl_io_backend be, enum hl_io_direct d)
{
	uint64_t torn = 0, dropped = 0, garbled = 0;
	for (uint64_t seed = 1; seed <= 60; seed++) {
		pu_dir_make();
		const char *p = pu_path("wal");
		struct hl_iofault_config fc = { .record = true };
		struct hl_iofault *f;
		cr_assert_eq(hl_iofault_new(&fc, &f), 0);
		struct session s = {0};
		for (int life = 0; life < 4; life++)
			live(p, f, be, d, seed + 1000u * (unsigned)life, &s,
			     life == 0);
		/* The last crash, read back by a plain scan. */
		uint64_t got = scan_from(p, 0);
		cr_assert_geq(got, s.acked, "seed %llu: lost acknowledged records",
			      (unsigned long long)seed);
		cr_assert_leq(got, s.appended, "seed %llu: replayed past the end",
			      (unsigned long long)seed);
		hl_iofault_free(f);
		pu_dir_remove();
		torn += got > s.acked && got < s.appended;
		dropped += got == s.acked;
		garbled += got == s.appended;
	}
	/* The layer must have done something: some runs lost unflushed
	 * records, some kept them all. */
	cr_assert_gt(dropped, 0u, "no run lost an unflushed record");
	cr_assert_gt(torn + garbled, 0u, "no run kept an unflushed record");
}

Test(persist_io, power_loss_keeps_every_acknowledged_record_uring, .timeout = 120)
{
	run_power_loss(HL_IO_BACKEND_URING, HL_IO_DIRECT_AUTO);
}

Test(persist_io, power_loss_keeps_every_acknowledged_record_pwrite, .timeout = 120)
{
	run_power_loss(HL_IO_BACKEND_PWRITE, HL_IO_DIRECT_AUTO);
}

Test(persist_io, power_loss_keeps_every_acknowledged_record_buffered, .timeout = 120)
{
	run_power_loss(HL_IO_BACKEND_URING, HL_IO_DIRECT_OFF);
}

/* The layer itself: a crash with writes recorded changes the file, one
 * after a completed flush does not. */
Test(persist_io, the_power_loss_layer_tears_only_unflushed_writes)
{
	pu_dir_make();
	const char *p = pu_path("f");
	struct hl_iofault_config fc = { .record = true };
	struct hl_iofault *f;
	cr_assert_eq(hl_iofault_new(&fc, &f), 0);
	struct hl_io_config io;
	hl_io_config_init(&io);
	io.fault = f;
	struct hl_io *e;
	cr_assert_eq(hl_io_open(p, HL_IO_CREATE, 1 << 20, &io, &e), 0);
	unsigned char *buf = hl_io_buf_alloc(64 * 1024);
	memset(buf, 0xab, 64 * 1024);
	struct hl_io_write wr = { buf, 64 * 1024, 0 };
	cr_assert_eq(hl_io_submit(e, &wr, 1), 0);
	cr_assert_eq(hl_io_poll(e, true), 0);      /* durable */
	memset(buf, 0xcd, 64 * 1024);
	wr.off = 64 * 1024;
	cr_assert_eq(hl_io_submit(e, &wr, 1), 0);  /* never seen complete */
	hl_io_close(e);
	uint64_t changed = 0;
	for (uint64_t seed = 1; seed < 40; seed++) {
		/* Rewrite the unflushed write's bytes, record, crash. */
		struct hl_iofault_crash_info ci;
		cr_assert_eq(hl_io_open(p, 0, 0, &io, &e), 0);
		cr_assert_eq(hl_io_submit(e, &wr, 1), 0);
		hl_io_close(e);
		cr_assert_eq(hl_iofault_crash(f, p, seed, &ci), 0);
		cr_assert_eq(ci.writes, 1u + (seed == 1));
		size_t len;
		unsigned char *img = pu_read_file(p, &len);
		for (size_t i = 0; i < 64 * 1024; i++)
			cr_assert_eq(img[i], 0xab, "durable byte %zu changed", i);
		for (size_t i = 64 * 1024; i < 128 * 1024; i++)
			if (img[i] != 0xcd) {
				changed++;
				break;
			}
		free(img);
	}
	cr_assert_gt(changed, 0u, "some crash must lose or tear the write");
	hl_io_buf_free(buf);
	hl_iofault_free(f);
}

/* ---- a real full disk ------------------------------------------------------------ */

/* A 1 MiB tmpfs: writes past it fail with a real ENOSPC. */
static bool mount_small(void)
{
	pu_dir_make();
	snprintf(mnt_dir, sizeof mnt_dir, "%s/mnt", pu_dir);
	cr_assert_eq(mkdir(mnt_dir, 0700), 0);
	if (mount("helios-test", mnt_dir, "tmpfs", 0, "size=1m") != 0) {
		mnt_dir[0] = 0;
		return false;
	}
	return true;
}

static void run_real_enospc(enum hl_io_backend be, enum hl_io_sync sync)
{
	if (!mount_small())
		cr_skip_test("cannot mount a size-limited tmpfs here (%s): the "
			     "injected ENOSPC tests cover the path", strerror(errno));
	char path[700];
	snprintf(path, sizeof path, "%s/f", mnt_dir);
	struct hl_io_config io;
	hl_io_config_init(&io);
	io.backend = be;
	io.sync = sync;
	struct hl_io *e;
	cr_assert_eq(hl_io_open(path, HL_IO_CREATE, 0, &io, &e), 0);
	/* 192 KiB writes: one of them straddles the end of the disk, so
	 * it comes back short before the next fails outright (and with a
	 * linked datasync, the short write cancels it). */
	const uint64_t piece = 192 * 1024;
	unsigned char *buf = hl_io_buf_alloc(piece);
	int rc = 0;
	uint64_t off = 0;
	for (int i = 0; i < 24 && !rc; i++, off += piece) {
		struct hl_io_write wr = { buf, piece, off };
		rc = hl_io_submit(e, &wr, 1);
		if (!rc)
			rc = hl_io_poll(e, true);
	}
	cr_assert_eq(rc, HL_EFULL, "4.5 MiB written to a 1 MiB disk: %s",
		     hl_strerror(rc));
	struct hl_io_write wr = { buf, 4096, 0 };
	cr_assert_eq(hl_io_submit(e, &wr, 1), HL_EFULL, "sticky");
	cr_assert_eq(hl_io_poll(e, true), HL_EFULL, "sticky");
	struct hl_io_stats st;
	hl_io_stats_get(e, &st);
	cr_assert_eq(st.error_errno, ENOSPC);
	hl_io_close(e);
	hl_io_buf_free(buf);

	/* A WAL bigger than the disk fails at creation, and leaves no file. */
	struct hl_wal_config cfg;
	struct hl_wal *w;
	snprintf(path, sizeof path, "%s/wal", mnt_dir);
	pu_wal_config(&cfg, 4ull << 20);
	cr_assert_eq(hl_wal_create(path, &cfg, &w), HL_EFULL);
	cr_assert_neq(access(path, F_OK), 0);
	umount2(mnt_dir, MNT_DETACH);
	mnt_dir[0] = 0;
}

Test(persist_io, a_real_full_disk_is_sticky_enospc_uring) { run_real_enospc(HL_IO_BACKEND_URING, HL_IO_SYNC_DSYNC); }
Test(persist_io, a_real_full_disk_is_sticky_enospc_uring_linked) { run_real_enospc(HL_IO_BACKEND_URING, HL_IO_SYNC_FDATASYNC); }
Test(persist_io, a_real_full_disk_is_sticky_enospc_pwrite) { run_real_enospc(HL_IO_BACKEND_PWRITE, HL_IO_SYNC_DSYNC); }

/* A reopened WAL whose valid end is inside a block (its last flush was
 * torn) rewrites that block. What recovery found must not hinge on that
 * rewrite: a power loss during the first flush after the reopen keeps
 * every record the reopen replayed. */
Test(persist_io, records_recovered_from_a_torn_tail_survive_the_next_power_loss)
{
	for (uint64_t seed = 1; seed <= 40; seed++) {
		pu_dir_make();
		const char *p = pu_path("wal");
		struct hl_io_config io;
		hl_io_config_init(&io);
		struct hl_wal *w = wal_with(p, &io);
		for (uint64_t i = 0; i < 12; i++)
			cr_assert_eq(pu_append(w, i, NULL), 0);
		cr_assert_eq(hl_wal_flush(w), 0);
		uint64_t end = hl_wal_end_lsn(w) - (1ull << 20);
		hl_wal_close(w);
		/* Tear the last block: zero its second half (the pad and the
		 * end of the records in it). */
		uint64_t last = HL_WAL_HDR_BYTES + end - HL_WAL_BLOCK_BYTES;
		static unsigned char zero[HL_WAL_BLOCK_BYTES / 2];
		pu_write_at(p, zero, sizeof zero, last + sizeof zero);

		struct hl_iofault_config fc = { .record = true };
		struct hl_iofault *f;
		cr_assert_eq(hl_iofault_new(&fc, &f), 0);
		io.fault = f;
		struct hl_wal_config cfg;
		struct pu_seen seen = {0};
		struct hl_wal_scan_result res;
		pu_wal_config(&cfg, 0);
		cfg.io = io;
		cr_assert_eq(hl_wal_open(p, &cfg, pu_check_record, &seen, &res, &w), 0);
		uint64_t recovered = seen.count;
		cr_assert_neq(res.end_lsn % HL_WAL_BLOCK_BYTES, 0,
			      "the valid end is inside a block");
		cr_assert_gt(recovered, 0u);
		for (uint64_t i = recovered; i < recovered + 3; i++)
			cr_assert_eq(pu_append(w, i, NULL), 0);
		cr_assert_eq(hl_wal_flush_begin(w), 0);  /* in flight: crash */
		hl_wal_close(w);
		cr_assert_eq(hl_iofault_crash(f, p, seed, NULL), 0);
		hl_iofault_free(f);
		cr_assert_geq(scan_from(p, 0), recovered,
			      "seed %llu: a recovered record was lost",
			      (unsigned long long)seed);
		pu_dir_remove();
	}
}

/* Group commit: records appended while a flush is in flight wait for the
 * next one, and that one flush covers all of them. */
static void run_group_commit(enum hl_io_backend be)
{
	pu_dir_make();
	const char *p = pu_path("wal");
	struct hl_io_config io;
	hl_io_config_init(&io);
	io.backend = be;
	struct hl_wal *w = wal_with(p, &io);
	uint64_t first_end;
	cr_assert_eq(pu_append(w, 0, NULL), 0);
	cr_assert_eq(hl_wal_flush_begin(w), 0);      /* batch 2: record 0 */
	first_end = hl_wal_end_lsn(w);
	for (uint64_t i = 1; i < 100; i++)            /* while it is in flight */
		cr_assert_eq(pu_append(w, i, NULL), 0);
	cr_assert_lt(hl_wal_durable_lsn(w), first_end, "not seen complete yet");
	cr_assert_eq(hl_wal_poll(w, true), 0);
	cr_assert_eq(hl_wal_durable_lsn(w), first_end,
		     "the first flush covers only what was there when it began");
	cr_assert_eq(hl_wal_flush(w), 0);            /* batch 3: records 1-99 */
	cr_assert_eq(hl_wal_durable_lsn(w), hl_wal_end_lsn(w));
	struct hl_io_stats st;
	hl_wal_io_stats(w, &st);
	cr_assert_eq(st.batches, 3u, "header, record 0, then one flush for 99");
	hl_wal_close(w);
	cr_assert_eq(scan_from(p, 0), 100);
}

Test(persist_io, group_commit_one_flush_covers_what_arrived_meanwhile_uring)
{
	run_group_commit(HL_IO_BACKEND_URING);
}

Test(persist_io, group_commit_one_flush_covers_what_arrived_meanwhile_pwrite)
{
	run_group_commit(HL_IO_BACKEND_PWRITE);
}

/* The file is preallocated and zero-filled at creation: appending and
 * flushing changes neither its size nor its allocation. */
Test(persist_io, appends_change_no_file_metadata)
{
	pu_dir_make();
	const char *p = pu_path("wal");
	struct hl_io_config io;
	hl_io_config_init(&io);
	struct hl_wal *w = wal_with(p, &io);
	struct stat before, after;
	cr_assert_eq(stat(p, &before), 0);
	cr_assert_eq(before.st_size, (off_t)FILE_BYTES);
	cr_assert_geq((uint64_t)before.st_blocks * 512, FILE_BYTES, "allocated");
	for (uint64_t i = 0; i < 500; i++) {
		cr_assert_eq(pu_append(w, i, NULL), 0);
		if (i % 25 == 24)
			cr_assert_eq(hl_wal_flush(w), 0);
	}
	cr_assert_eq(hl_wal_flush(w), 0);
	cr_assert_eq(stat(p, &after), 0);
	cr_assert_eq(after.st_size, before.st_size);
	cr_assert_eq(after.st_blocks, before.st_blocks);
	hl_wal_close(w);
}

/* A file system that takes O_DIRECT at open but refuses the writes
 * (EINVAL): the first write falls back to buffered, reported once, and
 * nothing is lost - neither the preallocation nor any record. */
static void run_direct_writes_refused(enum hl_io_backend be)
{
	pu_dir_make();
	const char *p = pu_path("wal");
	struct hl_iofault_config fc = { .refuse_direct_writes = true };
	struct hl_iofault *f;
	cr_assert_eq(hl_iofault_new(&fc, &f), 0);
	struct hl_io_config io;
	struct reports rep = {0};
	hl_io_config_init(&io);
	io.backend = be;
	io.fault = f;
	io.report = on_report;
	io.report_ctx = &rep;
	struct hl_wal *w = wal_with(p, &io);
	for (uint64_t i = 0; i < 30; i++) {
		cr_assert_eq(pu_append(w, i, NULL), 0);
		cr_assert_eq(hl_wal_flush(w), 0);
	}
	struct hl_io_stats st;
	hl_wal_io_stats(w, &st);
	hl_wal_close(w);
	cr_assert_not(st.direct);
	cr_assert_eq(st.fallbacks, HL_IO_FELL_BACK_DIRECT);
	cr_assert_eq(rep.calls, 1);
	cr_assert_not_null(strstr(st.fallback_msg, "O_DIRECT write refused"),
			   "%s", st.fallback_msg);
	cr_assert_eq(scan_from(p, 0), 30);

	/* Reopened: the open takes O_DIRECT again, the tail-less log needs
	 * no write, and the first flush falls back again. */
	struct hl_wal_config cfg;
	pu_wal_config(&cfg, 0);
	cfg.io = io;
	rep.calls = 0;
	cr_assert_eq(hl_wal_open(p, &cfg, NULL, NULL, NULL, &w), 0);
	cr_assert_eq(pu_append(w, 30, NULL), 0);
	cr_assert_eq(hl_wal_flush(w), 0);
	hl_wal_close(w);
	cr_assert_eq(rep.calls, 1);
	cr_assert_eq(scan_from(p, 0), 31);
	hl_iofault_free(f);
}

Test(persist_io, o_direct_writes_refused_fall_back_to_buffered_uring)
{
	run_direct_writes_refused(HL_IO_BACKEND_URING);
}

Test(persist_io, o_direct_writes_refused_fall_back_to_buffered_pwrite)
{
	run_direct_writes_refused(HL_IO_BACKEND_PWRITE);
}
