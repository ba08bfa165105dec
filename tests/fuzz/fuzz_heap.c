/*
 * fuzz_heap.c - libFuzzer target: hl_restore, hl_state_read, hl_diff (and
 * a commit) over an arena whose index, slab map and heap are damaged as the
 * input says (fuzz_arena.c describes the input and the oracle).
 */
#include "fuzz_arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	hl_fuzz_one(HL_FUZZ_HEAP, data, size);
	return 0;
}
