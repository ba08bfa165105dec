/*
 * checkpoint.h - checkpoints: page images of a persisted arena in DIR, the
 * meta pages that say which image is whole and where the WAL replay
 * starts, and recovery from them (checkpoint.c writes, ckpt_recover.c
 * reads; checkpoint.c's comment is the design).
 *
 * THE FILES (every integer little-endian)
 *
 *   DIR/ckpt.meta   two meta pages: meta 0 at offset 0, meta 1 at 4096.
 *                   Checkpoint k writes meta k % 2, last of all.
 *   DIR/ckpt.0      image 0 (checkpoints 2, 4, 6, ...), sparse:
 *   DIR/ckpt.1      image 1 (checkpoints 1, 3, 5, ...)
 *
 *     image offset p * 4096              arena page p, as of the checkpoint
 *                                        that last wrote it
 *     image offset crc_off + 4 p         u32: page p's CRC (hl_ckpt_page_crc),
 *                                        0: page never written (absent)
 *     crc_off = arena_bytes rounded up to 4096
 *
 *   The meta page (struct hl_ckpt_meta, 4096 bytes):
 *
 *     off  size  field
 *       0     8  magic        "HLCKPT01" (HL_CKPT_MAGIC)
 *       8     4  version      HL_CKPT_VERSION; a newer one is HL_EVERSION
 *      12     4  image        k % 2: the image this checkpoint wrote
 *      16     8  ckpt         k, the checkpoint number (>= 1)
 *      24     8  lsn          L: the WAL is replayed from this LSN
 *      32     8  segment      the WAL segment starting at L (wal_seg.c)
 *      40     8  arena_bytes  the arena's size
 *      48     8  pages        arena_bytes / 4096
 *      56     8  crc_off      where the image's CRC array starts
 *      64     8  ring_bytes   the persist ring's configured size
 *      72     4  durability   the arena's default (HL_DURABILITY_*)
 *      76     4  reserved     zero
 *      80     8  lag_ns       the arena's async lag
 *      88     8  pages_written  pages this checkpoint wrote
 *      96     8  unix_ns      when it completed (CLOCK_REALTIME)
 *     104     8  ns           how long it took
 *     112     8  heap_next    the header's heap word when it was copied
 *     120   392  reserved     zero
 *     512   504  hdr          the arena header's bytes [0, 504): magic,
 *                             version, features, every field that fixes
 *                             an offset, its checksum (layout.h)
 *    1016  3076  reserved     zero
 *    4092     4  crc          CRC32C of bytes [0, 4092)
 */
#ifndef HL_PERSIST_CHECKPOINT_H
#define HL_PERSIST_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "helios.h"
#include "io.h"

#define HL_CKPT_MAGIC 0x31305450434b4c48ull /* the bytes "HLCKPT01", LE */
#define HL_CKPT_VERSION 1u
#define HL_CKPT_META_NAME "ckpt.meta"
#define HL_CKPT_IMAGE_NAME "ckpt.%u"
#define HL_CKPT_HDR_BYTES 504u

struct hl_ckpt_meta {
	uint64_t magic;
	uint32_t version;
	uint32_t image;
	uint64_t ckpt;
	uint64_t lsn;
	uint64_t segment;
	uint64_t arena_bytes;
	uint64_t pages;
	uint64_t crc_off;
	uint64_t ring_bytes;
	uint32_t durability;
	uint32_t reserved0;
	uint64_t lag_ns;
	uint64_t pages_written;
	uint64_t unix_ns;
	uint64_t ns;
	uint64_t heap_next;
	uint8_t reserved1[512 - 120];
	uint8_t hdr[HL_CKPT_HDR_BYTES];
	uint8_t reserved2[4092 - 1016];
	uint32_t crc;
};
_Static_assert(__builtin_offsetof(struct hl_ckpt_meta, segment) == 32, "meta layout");
_Static_assert(__builtin_offsetof(struct hl_ckpt_meta, ring_bytes) == 64, "meta layout");
_Static_assert(__builtin_offsetof(struct hl_ckpt_meta, lag_ns) == 80, "meta layout");
_Static_assert(__builtin_offsetof(struct hl_ckpt_meta, heap_next) == 112, "meta layout");
_Static_assert(__builtin_offsetof(struct hl_ckpt_meta, hdr) == 512, "meta layout");
_Static_assert(__builtin_offsetof(struct hl_ckpt_meta, crc) == 4092, "meta layout");
_Static_assert(sizeof(struct hl_ckpt_meta) == 4096, "meta is a page");

/* A page's CRC as the image stores it: CRC32C of the page seeded with its
 * number (a page written at the wrong offset fails), never 0 (0 is
 * "absent"). */
uint32_t hl_ckpt_page_crc(uint64_t page, const void *bytes);

/* The persist_ring_bytes an arena with header h was created with. */
struct hl_arena_hdr;
uint64_t hl_ckpt_ring_config(const struct hl_arena_hdr *h);

/* Whether two arena headers ([0, 504) bytes) fix the same offsets. */
bool hl_ckpt_geometry_eq(const void *x, const void *y);

/* The arena header bytes a meta page records, into an aligned header. */
void hl_ckpt_meta_hdr(const struct hl_ckpt_meta *m, struct hl_arena_hdr *out);

/* Checks one meta page read from disk: 0, HL_ECORRUPT (magic, crc, fields
 * that disagree), HL_EVERSION (newer). slot: which of the two it is. */
int hl_ckpt_meta_check(const struct hl_ckpt_meta *m, unsigned slot);

/* Reads DIR's two meta pages: *newest gets the index (0/1) of the valid
 * one with the higher checkpoint number, -1 when none is valid; rc[i] each
 * page's check result (HL_ENOENT: no meta file). */
int hl_ckpt_meta_read(const char *dir, struct hl_ckpt_meta m[2], int rc[2],
		      int *newest);

/* ---- writing (checkpoint.c) ------------------------------------------------ */

struct hl_ckpt;

/* Opens (creating) DIR's checkpoint files for arena a: the images' CRC
 * arrays are read back, the meta pages decide the next checkpoint number.
 * A DIR whose meta pages name another geometry: HL_EMISMATCH. */
int hl_ckpt_open(hl_arena *a, const char *dir, const struct hl_io_config *io,
		 struct hl_ckpt **out);

/* What one checkpoint did. */
struct hl_ckpt_result {
	uint64_t ckpt, lsn, segment;
	uint64_t pages_written, ns;
};

/* Checkpoint k = last + 1: the caller has made L = lsn the start of WAL
 * segment `segment`, every record below it durable. Waits a grace period
 * (hl_epoch_barrier), copies and writes the pages dirtied since
 * checkpoint k - 2, then meta k % 2; ckpt_begun/ckpt_done tell the
 * collector. HL_EBUSY: the grace period timed out (a process stopped in
 * a section), nothing written, try later; HL_EIO, HL_EFULL (ENOSPC),
 * HL_ENOMEM. */
int hl_ckpt_take(struct hl_ckpt *c, uint64_t lsn, uint64_t segment,
		 struct hl_ckpt_result *res);

/* The WAL segment the older of the two valid checkpoints replays from
 * (segments below it are needed by no recovery), 0 when there are fewer
 * than two: every segment is still needed. */
uint64_t hl_ckpt_oldest_segment(const struct hl_ckpt *c);

/* Marks every page of a dirty so the next two checkpoints write it whole
 * (after recovery, or on a DIR whose images are behind). */
void hl_ckpt_mark_all(struct hl_ckpt *c);

void hl_ckpt_close(struct hl_ckpt *c);

/* ---- recovery (ckpt_recover.c) --------------------------------------------- */

struct hl_ckpt_load_info {
	bool loaded;               /* a checkpoint was loaded */
	uint64_t ckpt, lsn, segment;
	unsigned meta_used;        /* which meta page */
	bool fell_back;            /* the newest meta page failed: the other */
	uint64_t pages_read, bad_pages;
	uint64_t nodes_dropped;    /* index entries tombstoned: failed hashes */
	uint64_t refs_dropped;
	uint64_t nodes_reindexed;  /* named by a kept node, absent from the
				    * image's index (a fuzzy copy): indexed */
	uint64_t objects_freed;    /* heap objects put back on free lists */
	uint64_t read_ns;          /* of ns: reading and checking pages */
	uint64_t ns;
};

/* The hl_config an arena must be created with to take DIR's newest
 * checkpoint (geometry from its meta page): 0, HL_ENOENT (no valid
 * checkpoint), HL_EVERSION. */
int hl_ckpt_config(const char *dir, hl_config *cfg);

/* Loads DIR's newest valid checkpoint into a, a fresh arena of its
 * geometry (nothing published yet): HL_EMISMATCH (another geometry, with
 * *want_bytes the arena size DIR needs), HL_EBUSY (a is not fresh),
 * HL_ENOENT (no valid checkpoint: info->loaded false), HL_EIO. */
int hl_ckpt_load(hl_arena *a, const char *dir, const struct hl_io_config *io,
		 struct hl_ckpt_load_info *info, uint64_t *want_bytes);

/* `helios check --persist`: both meta pages, every present page's CRC of
 * the newest image, and (loaded into a scratch arena) every node's hash.
 * Fills msg with what it found; 0 clean, 1 damage found, <0 error. */
struct hl_ckpt_check {
	int meta_rc[2];
	struct hl_ckpt_meta meta[2];
	int newest;
	uint64_t pages, bad_pages;
};
int hl_ckpt_check_images(const char *dir, struct hl_ckpt_check *out);

#endif /* HL_PERSIST_CHECKPOINT_H */
