/*
 * fuzz_arena.h - the fuzz harness's one-input functions, shared by the
 * libFuzzer targets (fuzz_attach.c, fuzz_heap.c) and by the corruption
 * suite, which replays the checked-in corpus and every regression input
 * through the very same code (test_corrupt.c).
 */
#ifndef HELIOS_TESTS_FUZZ_ARENA_H
#define HELIOS_TESTS_FUZZ_ARENA_H

#include <stddef.h>
#include <stdint.h>

enum hl_fuzz_target {
	HL_FUZZ_ATTACH = 0, /* patches anywhere in the file, then attach + check + stats */
	HL_FUZZ_HEAP = 1,   /* patches in index, slab map and heap, then restore/diff/read */
};

/* Builds the template arena the target patches (once per process): 0, or
 * a negative HL_E* code. */
int hl_fuzz_init(enum hl_fuzz_target t);
/* Runs one input. Returns normally for any input; a broken promise (a
 * checker that passes over wrong bytes) aborts with a message, like a
 * crash, so the fuzzer keeps the input. */
void hl_fuzz_one(enum hl_fuzz_target t, const uint8_t *data, size_t size);
/* Removes the target's files (the template and the work arena). */
void hl_fuzz_fini(void);

#endif
