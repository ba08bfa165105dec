/*
 * crc32c.h - CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of every WAL record and checkpoint page.
 *
 * hl_crc32c(crc, p, n) continues a checksum: start from 0, feed the bytes
 * in any number of pieces, and the result equals one call over all of them
 * (the pre- and post-inversion are inside). The same function iSCSI
 * (RFC 3720), ext4 metadata and SSE4.2's crc32 instruction compute.
 */
#ifndef HL_PERSIST_CRC32C_H
#define HL_PERSIST_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The fastest implementation this CPU runs (chosen once, at first use). */
uint32_t hl_crc32c(uint32_t crc, const void *p, size_t n);

/* The two implementations, exposed so tests can hold them against each
 * other. hl_crc32c_hw may only be called when hl_crc32c_hw_available(). */
uint32_t hl_crc32c_sw(uint32_t crc, const void *p, size_t n);
uint32_t hl_crc32c_hw(uint32_t crc, const void *p, size_t n);
bool hl_crc32c_hw_available(void);

#endif
