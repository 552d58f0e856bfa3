"""llama.cpp's K-quants: super-blocks of 256 weights, sub-blocks with quantized scales (scales of scales).

A K-quant stores one or two float16 numbers per super-block of ``QK_K = 256`` weights (``d``, and ``dmin``
for the types with minimums) and a small integer scale (and minimum) per sub-block of 16 or 32 weights:
the sub-block's real scale is ``d * sc``, its real minimum ``dmin * m``. That is miniquant's two-level
scaling (``double_quant``) with the second level on an unsigned integer grid, 4 or 6 bits.

=====  ==============  =========================  ===========================  ============  =====
type   weight codes    sub-blocks (scale, min)    super-block                  bytes / 256   bits
=====  ==============  =========================  ===========================  ============  =====
Q2_K   2 bits, 0..3    16 x 16, 4-bit sc and m    d, dmin (float16)            84            2.625
Q3_K   3 bits, -4..3   16 x 16, 6-bit sc - 32     d (float16)                  110           3.4375
Q4_K   4 bits, 0..15   8 x 32, 6-bit sc and m     d, dmin (float16)            144           4.5
Q5_K   5 bits, 0..31   8 x 32, 6-bit sc and m     d, dmin (float16)            176           5.5
Q6_K   6 bits, -32..31 16 x 16, int8 sc           d (float16)                  210           6.5625
=====  ==============  =========================  ===========================  ============  =====

``x = d * sc * q - dmin * m`` (Q2_K, Q4_K, Q5_K) or ``x = d * sc * q`` (Q3_K, Q6_K), in float32 in
that order: ``(d * sc)`` first, as ggml's ``dequantize_row_q*_K`` and the ``gguf`` package compute it.
The bit layouts below are the ones of ``ggml-common.h`` (``block_q2_K`` ...); each ``_codes`` function
says where weight ``i`` of a super-block finds its bits. Quantization (the reference searches of
``ggml-quants.c``) is not here yet: ``quantize`` refuses K-quants with a message saying so.

Proof: ``tests/formats/test_gguf_blocks.py`` compares the dequantized values with the ``gguf`` package's
on random bytes (every bit pattern of scales, minimums and codes).
"""
from __future__ import annotations

import numpy as np

from .legacy import BlockType, half_values

QK_K = 256


def two_bit_codes(qs: np.ndarray) -> np.ndarray:
    """Q2_K's and Q3_K's low bits: ``(n, 64)`` bytes -> ``(n, 256)`` 2-bit values.

    Two halves of 128 weights, 32 bytes each; weight ``128 h + 32 s + l`` is bits ``2s, 2s + 1`` of byte
    ``32 h + l`` (four weights 32 apart share a byte).
    """
    n = qs.shape[0]
    halves = qs.reshape(n, 2, 1, 32)                                       # [half, -, l]
    shifts = np.array([0, 2, 4, 6], np.uint8).reshape(1, 1, 4, 1)
    return ((halves >> shifts) & 3).reshape(n, QK_K)                       # [half, s, l] -> 128 h + 32 s + l


def bit_planes(qh: np.ndarray, planes: int) -> np.ndarray:
    """One extra bit per weight from ``(n, 32)`` bytes: weight ``32 b + l`` is bit ``b`` of byte ``l`` (``planes`` bits)."""
    n = qh.shape[0]
    return ((qh.reshape(n, 1, 32) >> np.arange(planes, dtype=np.uint8).reshape(1, planes, 1)) & 1).reshape(n, 32 * planes)


def nibble_codes(qs: np.ndarray) -> np.ndarray:
    """Q4_K's and Q5_K's low nibbles: ``(n, 128)`` bytes -> ``(n, 256)``.

    Four chunks of 64 weights, 32 bytes each; weight ``64 c + l`` is the low nibble of byte ``32 c + l``
    and weight ``64 c + 32 + l`` its high nibble.
    """
    n = qs.shape[0]
    chunks = qs.reshape(n, 4, 1, 32)
    return ((chunks >> np.array([0, 4], np.uint8).reshape(1, 1, 2, 1)) & 0x0F).reshape(n, QK_K)


def six_bit_scales_and_mins(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q4_K's and Q5_K's 12 bytes -> eight 6-bit scales and eight 6-bit minimums, ``(n, 8)`` each.

    ::

        byte 0..3    scale j (j < 4) in the low 6 bits; the top 2 bits of scale j + 4
        byte 4..7    min j   (j < 4) in the low 6 bits; the top 2 bits of min j + 4
        byte 8..11   low nibble: low 4 bits of scale j + 4;  high nibble: low 4 bits of min j + 4
    """
    first, second, third = scales[:, 0:4], scales[:, 4:8], scales[:, 8:12]
    sc = np.concatenate([first & 63, (third & 0x0F) | ((first >> 6) << 4)], axis=1)
    m = np.concatenate([second & 63, (third >> 4) | ((second >> 6) << 4)], axis=1)
    return sc, m


def q3_scales(scales: np.ndarray) -> np.ndarray:
    """Q3_K's 12 bytes -> sixteen signed 6-bit scales ``sc - 32``, ``(n, 16)`` int.

    The low 4 bits of scale ``i`` are the low nibble of byte ``i`` (``i < 8``) or the high nibble of byte
    ``i - 8``; its top 2 bits are bits ``2 (i // 4), 2 (i // 4) + 1`` of byte ``8 + i % 4``.
    """
    low = np.concatenate([scales[:, 0:8] & 0x0F, scales[:, 0:8] >> 4], axis=1)          # [n, 16]
    top = (scales[:, 8:12].reshape(-1, 1, 4) >> np.array([0, 2, 4, 6], np.uint8).reshape(1, 4, 1)) & 3
    return (low | (top.reshape(-1, 16) << 4)).astype(np.int16) - 32


def per_sub_block(values: np.ndarray, size: int) -> np.ndarray:
    """``(n, QK_K // size)`` per-sub-block numbers repeated to every weight: ``(n, QK_K)``."""
    return np.repeat(values, size, axis=1)


class Q2_K(BlockType):
    """``scales[16] | qs[64] | d | dmin``: 2-bit codes, 16 sub-blocks of 16 with a 4-bit scale (low nibble) and
    4-bit minimum (high nibble) each. ``x = (d * sc) * q - (dmin * m)``."""

    name, block_size, type_size = "Q2_K", QK_K, 16 + 64 + 2 + 2

    def dequantize_blocks(self, data):
        scales, qs = data[:, :16], data[:, 16:80]
        d, dmin = half_values(data[:, 80:82]), half_values(data[:, 82:84])
        dl = per_sub_block(d * (scales & 0x0F).astype(np.float32), 16)
        ml = per_sub_block(dmin * (scales >> 4).astype(np.float32), 16)
        return dl * two_bit_codes(qs).astype(np.float32) - ml


class Q3_K(BlockType):
    """``hmask[32] | qs[64] | scales[12] | d``: 3-bit codes ``-4 .. 3`` (two low bits in ``qs``, the third in
    ``hmask``: weight ``32 b + l`` is bit ``b`` of ``hmask[l]``, and a *clear* bit subtracts 4), 16 sub-blocks of
    16 with a signed 6-bit scale. ``x = (d * (sc - 32)) * q``."""

    name, block_size, type_size = "Q3_K", QK_K, 32 + 64 + 12 + 2

    def dequantize_blocks(self, data):
        hmask, qs, scales = data[:, :32], data[:, 32:96], data[:, 96:108]
        d = half_values(data[:, 108:110])
        q = two_bit_codes(qs).astype(np.int8) - 4 * (1 - bit_planes(hmask, 8)).astype(np.int8)
        dl = per_sub_block(d * q3_scales(scales).astype(np.float32), 16)
        return dl * q.astype(np.float32)


class Q4_K(BlockType):
    """``d | dmin | scales[12] | qs[128]``: 4-bit codes, 8 sub-blocks of 32 with a 6-bit scale and a 6-bit
    minimum each (``six_bit_scales_and_mins``). ``x = (d * sc) * q - (dmin * m)``."""

    name, block_size, type_size = "Q4_K", QK_K, 2 + 2 + 12 + 128

    def dequantize_blocks(self, data):
        d, dmin = half_values(data[:, 0:2]), half_values(data[:, 2:4])
        sc, m = six_bit_scales_and_mins(data[:, 4:16])
        q = nibble_codes(data[:, 16:144]).astype(np.float32)
        return per_sub_block(d * sc.astype(np.float32), 32) * q - per_sub_block(dmin * m.astype(np.float32), 32)


class Q5_K(BlockType):
    """``d | dmin | scales[12] | qh[32] | qs[128]``: Q4_K's layout plus a fifth bit per weight (weight
    ``32 b + l`` is bit ``b`` of ``qh[l]``). ``x = (d * sc) * q - (dmin * m)``."""

    name, block_size, type_size = "Q5_K", QK_K, 2 + 2 + 12 + 32 + 128

    def dequantize_blocks(self, data):
        d, dmin = half_values(data[:, 0:2]), half_values(data[:, 2:4])
        sc, m = six_bit_scales_and_mins(data[:, 4:16])
        q = (nibble_codes(data[:, 48:176]) | (bit_planes(data[:, 16:48], 8) << 4)).astype(np.float32)
        return per_sub_block(d * sc.astype(np.float32), 32) * q - per_sub_block(dmin * m.astype(np.float32), 32)


def six_bit_codes(ql: np.ndarray, qh: np.ndarray) -> np.ndarray:
    """Q6_K's codes ``0 .. 63`` from ``ql (n, 128)`` and ``qh (n, 64)``: two halves of 128 weights; in half ``h``,
    weight ``64 k + 32 s' + l`` (``k``: nibble, ``s'``: which 32 bytes of ``ql``) takes the nibble from
    ``ql[64 h + 32 s' + l]`` and its top two bits from bits ``2 s, 2 s + 1`` of ``qh[32 h + l]`` with ``s = 2k + s'``."""
    n = ql.shape[0]
    low = (ql.reshape(n, 2, 1, 64) >> np.array([0, 4], np.uint8).reshape(1, 1, 2, 1)) & 0x0F     # [h, k, 64]
    top = (qh.reshape(n, 2, 1, 32) >> np.array([0, 2, 4, 6], np.uint8).reshape(1, 1, 4, 1)) & 3  # [h, s, 32]
    return low.reshape(n, QK_K) | (top.reshape(n, QK_K) << 4)


class Q6_K(BlockType):
    """``ql[128] | qh[64] | scales[16] | d``: 6-bit codes ``q - 32`` (``six_bit_codes``), 16 sub-blocks of 16 with
    an int8 scale. ``x = (d * sc) * (q - 32)``."""

    name, block_size, type_size = "Q6_K", QK_K, 128 + 64 + 16 + 2

    def dequantize_blocks(self, data):
        ql, qh, scales = data[:, :128], data[:, 128:192], data[:, 192:208].view(np.int8)
        d = half_values(data[:, 208:210])
        q = six_bit_codes(ql, qh).astype(np.int8) - np.int8(32)
        return per_sub_block(d * scales.astype(np.float32), 16) * q.astype(np.float32)


K_TYPES = {t.name: t for t in (Q2_K(), Q3_K(), Q4_K(), Q5_K(), Q6_K())}
