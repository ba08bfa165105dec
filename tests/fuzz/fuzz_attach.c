/*
 * fuzz_attach.c - libFuzzer target: attach + hl_arena_check + stats over
 * an arena file damaged as the input says, with and without a recomputed
 * header checksum (fuzz_arena.c describes the input).
 */
#include "fuzz_arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	hl_fuzz_one(HL_FUZZ_ATTACH, data, size);
	return 0;
}
