#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/).

An input is a recipe (fuzz_arena.c): a mode byte, then patches of
<u32 offset, u8 length, bytes>. The seeds aim the fuzzer at the words that
matter: header geometry (with the checksum recomputed), the mutable header
words, slot cursors, the index, nodes and the slab map. Offsets follow
shm/layout.h; heap-target offsets count from the index region.
Run from the repository root: python3 tests/fuzz/make_seeds.py

The corpus also holds the inputs (named by their SHA-1) that earlier runs
found to add coverage, merged in with libFuzzer's -merge=1:
  ./build-fuzz/tests/fuzz/fuzz_heap -merge=1 tests/fuzz/corpus/heap NEW_DIR
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def patch(off, data):
    return struct.pack('<IB', off, len(data)) + data


def u64(v):
    return struct.pack('<Q', v)


def u32(v):
    return struct.pack('<I', v)


ATTACH = {
    'valid-rw': bytes([0]),
    'valid-ro': bytes([2]),
    'buckets-2e58': bytes([1]) + patch(48, u64(1 << 58)),
    'heap-bytes-huge': bytes([1]) + patch(64 + 4 * 16 + 8, u64(2**64 - 4096)),
    'slab-unit-odd': bytes([1]) + patch(276, u32(3 << 16)),
    'class-slab-zero': bytes([1]) + patch(280 + 4, u32(0)),
    'class-bytes-dup': bytes([1]) + patch(196 + 4, u32(32)),
    'chunk-8k': bytes([1]) + patch(28, u32(8192)),
    'max-procs-big': bytes([3]) + patch(36, u32(1024)),
    'heap-next-odd': bytes([0]) + patch(576, u64(32)),
    'free-top-wild': bytes([0]) + patch(640, u64(0x7fff_ffff_ffe0)),
    'slot1-cursors': bytes([0]) + patch(4096 + 384 + 128, u64(8) + u64(2**64 - 1)),
    'slot0-owner': bytes([2]) + patch(4096, u64(0xffff_ffff)),
    'flip-checksummed': bytes([0]) + patch(100, b'\xff'),
    'raw-magic': bytes([4]) + b'HLSARENA' + bytes(56),
    'raw-header': bytes([5]) + b'HLSARENA' + u32(2) + bytes(4) + u64(1 << 20),
}

HEAP = {
    'valid-rw': bytes([0]),
    'valid-ro': bytes([2]),
    'index-entry': bytes([0]) + patch(0, u64(0xffff_ffff_ffff_ffff)),
    'index-entry-tag': bytes([0]) + patch(8, u64(1 << 40 | 0x8000)),
    'slabmap': bytes([0]) + patch(8192 + 2, b'\x11\x00'),
    'node-kind': bytes([0]) + patch(20000, b'\x03\x05'),
    'node-len': bytes([0]) + patch(60000, u32(0xffff_ffff)),
    'inner-child': bytes([0]) + patch(100000, u64(0x1234_5678)),
    'deep-zero': bytes([0]) + patch(200000, bytes(64)),
    'many': bytes([0]) + patch(300000, b'\xaa' * 32) + patch(400000, b'\x55' * 32),
    'ro-damage': bytes([2]) + patch(150000, b'\x01' * 16),
}


def write(target, seeds):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


write('attach', ATTACH)
write('heap', HEAP)
