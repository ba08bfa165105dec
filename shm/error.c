/*
 * error.c - names of error codes, and the hl_id helpers.
 *
 * An id prints as 32 hex digits, hi word first, so the printed form sorts
 * like the 128-bit number it is.
 */
#include <string.h>

#include "shm.h"

const char *hl_strerror(int rc)
{
	switch (rc) {
	case HL_OK: return "HL_OK: success";
	case HL_EINVAL: return "HL_EINVAL: invalid argument";
	case HL_ENOMEM: return "HL_ENOMEM: out of process memory";
	case HL_ENOENT: return "HL_ENOENT: no such arena, snapshot or ref";
	case HL_EEXIST: return "HL_EEXIST: arena already exists";
	case HL_EFULL: return "HL_EFULL: arena full (index, heap, slots or refs)";
	case HL_ERANGE: return "HL_ERANGE: offset or size out of range";
	case HL_EVERSION: return "HL_EVERSION: arena has another format version";
	case HL_ECORRUPT: return "HL_ECORRUPT: arena failed validation";
	case HL_ECOLLISION: return "HL_ECOLLISION: hash collision, bytes differ";
	case HL_EACCES: return "HL_EACCES: permission denied";
	case HL_EROFS: return "HL_EROFS: arena attached read-only";
	case HL_EIO: return "HL_EIO: system call failed";
	case HL_EBUSY: return "HL_EBUSY: busy or changed concurrently";
	case HL_EMISMATCH: return "HL_EMISMATCH: object of another arena";
	case HL_EFTYPE: return "HL_EFTYPE: not a regular file or shm object";
	case HL_ENOSPC: return "HL_ENOSPC: no room on the arena's file system";
	default: return "unknown Helios error";
	}
}

int hl_id_eq(hl_id a, hl_id b)
{
	return a.lo == b.lo && a.hi == b.hi;
}

int hl_id_is_zero(hl_id id)
{
	return (id.lo | id.hi) == 0;
}

int hl_id_to_hex(hl_id id, char out[33])
{
	static const char digits[] = "0123456789abcdef";
	if (!out)
		return HL_EINVAL;
	for (int i = 0; i < 16; i++) {
		out[i] = digits[(id.hi >> (60 - 4 * i)) & 15];
		out[16 + i] = digits[(id.lo >> (60 - 4 * i)) & 15];
	}
	out[32] = '\0';
	return 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hl_id_from_hex(const char *hex, hl_id *out)
{
	if (!hex || !out || strnlen(hex, 33) != 32)
		return HL_EINVAL;
	uint64_t w[2] = {0, 0};
	for (int i = 0; i < 32; i++) {
		int v = hex_value(hex[i]);
		if (v < 0)
			return HL_EINVAL;
		w[i / 16] = (w[i / 16] << 4) | (uint64_t)v;
	}
	out->hi = w[0];
	out->lo = w[1];
	return 0;
}
