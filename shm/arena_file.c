/*
 * arena_file.c - the file under an arena: its name, opening it, making it,
 * room for it on its file system, and the coordinator lock on it. What is
 * inside the file (layout, header, validation, the handle) is arena.c.
 *
 * An arena is one file: a POSIX shm object (/dev/shm/helios.NAME) for a
 * name, or a regular file for a path (any name with a '/').
 *
 * Invariants:
 *  1. An arena is a regular file (a shm object is one, on tmpfs). The name
 *     is opened with O_NONBLOCK, so a FIFO or device planted at it cannot
 *     block the open, and fstat must then show a regular file, else
 *     HL_EFTYPE: nothing else is ever waited on, sized or mapped. shm_open
 *     follows no symlink at the name (glibc adds O_NOFOLLOW): ELOOP is
 *     HL_EFTYPE too.
 *  2. A name is created exclusively (linkat, or O_EXCL, below) with mode
 *     0600 (cfg.mode), so it is never created twice nor readable by other
 *     users by default.
 *  3. A name appears complete or not at all: the file is made unnamed
 *     (O_TMPFILE in the arena's directory, /dev/shm for shm names), sized,
 *     reserved, prefaulted and given its header by arena.c, and only then
 *     linked at its name (hl_arena_file_link; EEXIST if taken meanwhile,
 *     so creation stays exclusive). A creator killed anywhere before the
 *     link leaves nothing behind - not a 6 GiB half-prefaulted object in
 *     /dev/shm - and nobody attaches to a half-made arena. File systems
 *     without O_TMPFILE fall back to an O_EXCL create at the name (unlinked
 *     on failure; an attacher meanwhile sees an empty or magic-less file:
 *     HL_EBUSY, arena.c invariant 1).
 *  4. Creation refuses an arena its file system cannot hold (HL_ENOSPC): a
 *     page touched past the room left is SIGBUS in whichever process
 *     touches it first, long after creation said yes. Without prefault the
 *     check is the file system's free space (fstatvfs), since the heap
 *     pages must stay untouched until each slab's NUMA binding (arena.c
 *     invariant 3) and fallocate would place them all now; with prefault
 *     every page is placed at creation anyway, so posix_fallocate reserves
 *     them for good before the first touch (after the interleave policy,
 *     which tmpfs applies to fallocated pages too). Without prefault a
 *     file system filled by others after creation can still SIGBUS a
 *     later first touch: only a reservation closes that, and it would
 *     give up NUMA placement.
 *  5. The coordinator lock is an exclusive flock on the arena file
 *     (hl_arena_lock): atomic, held by one open file description, and
 *     dropped by the kernel when its holder dies, so a SIGKILLed
 *     coordinator never leaves a stale lock and no header word changes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "shm.h"

/* ---- names and opening ---------------------------------------------------- */

static bool is_path_name(const char *name)
{
	return strchr(name, '/') != NULL;
}

static bool valid_shm_name(const char *name)
{
	size_t n = strnlen(name, HL_ARENA_NAME_MAX + 1);
	if (n == 0 || n > HL_ARENA_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' ||
			  c == '-';
		if (!ok)
			return false;
	}
	return true;
}

static int open_errno(int err)
{
	switch (err) {
	case ENOENT: return HL_ENOENT;
	case EEXIST: return HL_EEXIST;
	case EACCES:
	case EPERM: return HL_EACCES;
	case EINVAL:
	case ENAMETOOLONG: return HL_EINVAL;
	case EISDIR:
	case ENXIO:
	case ENODEV:
	case ELOOP: return HL_EFTYPE; /* a directory, a FIFO or device, or a
				       * symlink where shm_open takes none */
	default: return HL_EIO;
	}
}

bool hl_arena_name_valid(const char *name)
{
	if (!name)
		return false;
	if (is_path_name(name))
		return strnlen(name, 4096) < 4096;
	return valid_shm_name(name);
}

/* Opens the arena file; returns an fd or a negative HL_E*. Never blocks,
 * and never returns an fd of anything but a regular file (invariant 1). */
int hl_arena_file_open(const char *name, int oflags, mode_t mode)
{
	if (!name)
		return HL_EINVAL;
	int fd;
	oflags |= O_NONBLOCK | O_CLOEXEC;
	if (is_path_name(name)) {
		if (strnlen(name, 4096) >= 4096)
			return HL_EINVAL;
		fd = open(name, oflags, mode);
	} else {
		if (!valid_shm_name(name))
			return HL_EINVAL;
		char shm_name[HL_ARENA_NAME_MAX + 16];
		snprintf(shm_name, sizeof shm_name, "/helios.%s", name);
		fd = shm_open(shm_name, oflags, mode);
	}
	if (fd < 0)
		return open_errno(errno);
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return HL_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return HL_EFTYPE;
	}
	return fd;
}

int hl_arena_unlink(const char *name)
{
	if (!name)
		return HL_EINVAL;
	int rc;
	if (is_path_name(name)) {
		rc = unlink(name);
	} else {
		if (!valid_shm_name(name))
			return HL_EINVAL;
		char shm_name[HL_ARENA_NAME_MAX + 16];
		snprintf(shm_name, sizeof shm_name, "/helios.%s", name);
		rc = shm_unlink(shm_name);
	}
	if (rc == 0)
		return 0;
	return errno == ENOENT ? HL_ENOENT
	       : (errno == EACCES || errno == EPERM) ? HL_EACCES
						      : HL_EIO;
}

/* ---- the coordinator lock and room --------------------------------------- */

int hl_arena_lock(const char *name, int *fd_out, struct stat *st)
{
	if (!fd_out || !st)
		return HL_EINVAL;
	int fd = hl_arena_file_open(name, O_RDONLY, 0);
	if (fd < 0)
		return fd;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) { /* invariant 5 */
		int rc = errno == EWOULDBLOCK ? HL_EBUSY : HL_EIO;
		close(fd);
		return rc;
	}
	if (fstat(fd, st) != 0) {
		close(fd);
		return HL_EIO;
	}
	*fd_out = fd;
	return 0;
}

/* The directory an arena's file lives in: /dev/shm, or the path's own. */
static int arena_dir(const char *name, char *dir, size_t len)
{
	if (!name)
		return HL_EINVAL;
	if (!is_path_name(name)) {
		if (!valid_shm_name(name))
			return HL_EINVAL;
		snprintf(dir, len, "/dev/shm");
		return 0;
	}
	const char *slash = strrchr(name, '/');
	size_t n = slash == name ? 1 : (size_t)(slash - name);
	if (n >= len)
		return HL_EINVAL;
	memcpy(dir, name, n);
	dir[n] = '\0';
	return 0;
}

static uint64_t vfs_free_bytes(const struct statvfs *v)
{
	uint64_t free_bytes;
	if (hl_mul_overflows((uint64_t)v->f_bavail, (uint64_t)v->f_frsize,
			     &free_bytes))
		return UINT64_MAX;
	return free_bytes;
}

int hl_arena_fs_free(const char *name, uint64_t *free_bytes)
{
	char dir[4096];
	struct statvfs v;
	if (!free_bytes || arena_dir(name, dir, sizeof dir))
		return HL_EINVAL;
	if (statvfs(dir, &v) != 0)
		return HL_EIO;
	*free_bytes = v.f_blocks ? vfs_free_bytes(&v) : UINT64_MAX;
	return 0;
}

/* Invariant 4, without --prefault: the room the file system has left.
 * A file system that reports no size (f_blocks 0: an unlimited tmpfs)
 * has room. */
int hl_arena_file_check_room(int fd, uint64_t bytes)
{
	struct statvfs v;
	if (fstatvfs(fd, &v) != 0)
		return HL_EIO;
	if (v.f_blocks && vfs_free_bytes(&v) < bytes)
		return HL_ENOSPC;
	return 0;
}

/* Invariant 4, with --prefault: the pages of [at, at+len) reserved before
 * any is touched. A file system without fallocate falls back to the
 * free-space check for everything from at on, once (*reserve = false). */
int hl_arena_file_reserve(int fd, uint64_t at, uint64_t len, uint64_t bytes,
			  bool *reserve)
{
	int err = posix_fallocate(fd, (off_t)at, (off_t)len);
	if (err == 0)
		return 0;
	if (err == ENOSPC || err == EFBIG)
		return HL_ENOSPC;
	if (err == EOPNOTSUPP || err == EINVAL) {
		*reserve = false;
		return hl_arena_file_check_room(fd, bytes - at);
	}
	return err == EINTR ? HL_EBUSY : HL_EIO;
}

/* ---- making the file (invariants 2, 3) ------------------------------------ */

/* The path of arena name's file: /dev/shm/helios.NAME, or the path. */
static int arena_file_path(const char *name, char *path, size_t len)
{
	if (!hl_arena_name_valid(name))
		return HL_EINVAL;
	int n = is_path_name(name) ? snprintf(path, len, "%s", name)
				   : snprintf(path, len, "/dev/shm/helios.%s", name);
	return n > 0 && (size_t)n < len ? 0 : HL_EINVAL;
}

/* Invariant 3: an unnamed file in the arena's directory. -1 in *fd with 0
 * returned: this file system has no O_TMPFILE (use the named create). */
static int open_unnamed(const char *name, mode_t mode, int *fd)
{
	char dir[4096];
	int rc = arena_dir(name, dir, sizeof dir);
	if (rc)
		return rc;
	*fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
	if (*fd >= 0)
		return 0;
	if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)
		return 0; /* *fd is -1 */
	return open_errno(errno);
}

/* Invariant 3: names the complete arena; HL_EEXIST if the name was taken
 * meanwhile. */
int hl_arena_file_link(int fd, const char *name)
{
	char proc[64], path[4096 + 32];
	int rc = arena_file_path(name, path, sizeof path);
	if (rc)
		return rc;
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	return open_errno(errno);
}

/* The arena's file, unnamed where the file system allows (*named false),
 * else created at its name. A name already present is HL_EEXIST at once,
 * before seconds of prefaulting are spent on a file that cannot be linked. */
int hl_arena_file_new(const char *name, mode_t mode, bool *named)
{
	char path[4096 + 32];
	struct stat st;
	int rc = arena_file_path(name, path, sizeof path);
	if (rc)
		return rc;
	if (lstat(path, &st) == 0)
		return HL_EEXIST;
	int fd = -1;
	rc = open_unnamed(name, mode, &fd);
	if (rc)
		return rc;
	*named = fd < 0;
	if (fd < 0)
		fd = hl_arena_file_open(name, O_RDWR | O_CREAT | O_EXCL, mode);
	return fd;
}
