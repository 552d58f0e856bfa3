"""llama.cpp's K-quants: super-blocks of 256 weights, sub-blocks with quantized scales (scales of scales).

A K-quant stores one or two float16 numbers per super-block of ``QK_K = 256`` weights (``d``, and ``dmin``
for the types with minimums) and a small integer scale (and minimum) per sub-block of 16 or 32 weights:
the sub-block's real scale is ``d * sc``, its real minimum ``dmin * m``. That is miniquant's two-level
scaling (``double_quant``) with the second level on an unsigned integer grid, 4 or 6 bits.

=====  ===============  =========================  ===================  ============  =======
type   weight codes     sub-blocks (scale, min)    super-block          bytes / 256   bits
=====  ===============  =========================  ===================  ============  =======
Q2_K   2 bits, 0..3     16 x 16, 4-bit sc and m    d, dmin (float16)    84            2.625
Q3_K   3 bits, -4..3    16 x 16, 6-bit sc - 32     d (float16)          110           3.4375
Q4_K   4 bits, 0..15    8 x 32, 6-bit sc and m     d, dmin (float16)    144           4.5
Q5_K   5 bits, 0..31    8 x 32, 6-bit sc and m     d, dmin (float16)    176           5.5
Q6_K   6 bits, -32..31  16 x 16, int8 sc           d (float16)          210           6.5625
=====  ===============  =========================  ===================  ============  =======

``x = d * sc * q - dmin * m`` (Q2_K, Q4_K, Q5_K) or ``x = d * sc * q`` (Q3_K, Q6_K), in float32 in
that order: ``(d * sc)`` first, as ggml's ``dequantize_row_q*_K`` and the ``gguf`` package compute it.
The bit layouts below are the ones of ``ggml-common.h`` (``block_q2_K`` ...); each ``_codes`` function
says where weight ``i`` of a super-block finds its bits.

Quantization follows the reference functions llama.cpp runs when no importance matrix is given
(``quantize_q*_K`` calls ``quantize_row_q*_K_ref``): each sub-block's scale (and minimum) is searched
first (``ksearch.py``: ``make_qkx2_quants`` for Q2_K, Q4_K, Q5_K; ``make_q3_quants`` for Q3_K;
``make_qx_quants`` for Q6_K), the sub-block scales are then rounded to their integer grid against the
largest one (which sets ``d``, and ``dmin``), and every weight is rounded again with the stored, quantized
scales -- except in a sub-block whose quantized scale is 0, which keeps the codes of the search, as ggml
does. All arithmetic is float32 in ggml's order (``ksearch.py`` says why that matters).

Proof: ``tests/formats/test_gguf_blocks.py`` compares the dequantized values with the ``gguf`` package's
on random bytes (every bit pattern of scales, minimums and codes).
"""
from __future__ import annotations

import numpy as np

from .ksearch import argmax_abs_first, f32, fit_q3, fit_symmetric, fit_with_minimum, nearest_int, sequential_sum
from .legacy import BlockType, half_bytes, half_values

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


def pack_two_bit_codes(L: np.ndarray) -> np.ndarray:
    """The inverse of ``two_bit_codes``: ``(n, 256)`` values 0..3 -> ``(n, 64)`` bytes."""
    n = L.shape[0]
    q = L.reshape(n, 2, 4, 32).astype(np.uint8)                            # [half, s, l]
    return (q[:, :, 0] | (q[:, :, 1] << 2) | (q[:, :, 2] << 4) | (q[:, :, 3] << 6)).reshape(n, 64)


def pack_bit_planes(bits: np.ndarray) -> np.ndarray:
    """The inverse of ``bit_planes``: ``(n, 32 * planes)`` values 0/1 -> ``(n, 32)`` bytes (weight ``32 b + l``: bit ``b`` of byte ``l``)."""
    n = bits.shape[0]
    planes = bits.reshape(n, -1, 32).astype(np.uint8)
    return np.bitwise_or.reduce(planes << np.arange(planes.shape[1], dtype=np.uint8).reshape(1, -1, 1), axis=1)


def pack_nibble_codes(L: np.ndarray) -> np.ndarray:
    """The inverse of ``nibble_codes``: ``(n, 256)`` values 0..15 -> ``(n, 128)`` bytes."""
    n = L.shape[0]
    q = L.reshape(n, 4, 2, 32).astype(np.uint8)
    return (q[:, :, 0] | (q[:, :, 1] << 4)).reshape(n, 128)


def pack_six_bit_scales_and_mins(sc: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The inverse of ``six_bit_scales_and_mins``: eight 6-bit scales and minimums ``(n, 8)`` -> ``(n, 12)`` bytes."""
    sc, m = sc.astype(np.uint8), m.astype(np.uint8)
    first = (sc[:, :4] & 63) | ((sc[:, 4:] >> 4) << 6)
    second = (m[:, :4] & 63) | ((m[:, 4:] >> 4) << 6)
    third = (sc[:, 4:] & 0x0F) | ((m[:, 4:] & 0x0F) << 4)
    return np.concatenate([first, second, third], axis=1)


def pack_q3_scales(codes: np.ndarray) -> np.ndarray:
    """The inverse of ``q3_scales`` for the stored codes ``sc`` (0..63, before subtracting 32): ``(n, 16)`` -> ``(n, 12)``."""
    codes = codes.astype(np.uint8)
    low = (codes[:, :8] & 0x0F) | ((codes[:, 8:] & 0x0F) << 4)
    top = (codes >> 4).reshape(-1, 4, 4)                                    # [i // 4, i % 4]
    high = np.bitwise_or.reduce(top << (2 * np.arange(4, dtype=np.uint8)).reshape(1, 4, 1), axis=1)
    return np.concatenate([low, high], axis=1)


def requantize(x: np.ndarray, L: np.ndarray, step: np.ndarray, offset, lo: int, hi: int, shift: int) -> np.ndarray:
    """Every weight rounded again with its sub-block's stored scale: ``clamp(nearest_int((x + offset) / step)) + shift``,
    except where ``step`` is 0, which keeps the search's codes ``L`` (ggml's ``if (!d) continue``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        again = np.clip(nearest_int((x + offset) / step), lo, hi) + shift
    return np.where(step == 0, L, again)


class Q2_K(BlockType):
    """``scales[16] | qs[64] | d | dmin``: 2-bit codes, 16 sub-blocks of 16 with a 4-bit scale (low nibble) and
    4-bit minimum (high nibble) each. ``x = (d * sc) * q - (dmin * m)``."""

    name, block_size, type_size = "Q2_K", QK_K, 16 + 64 + 2 + 2

    def quantize_blocks(self, blocks):
        n = blocks.shape[0]
        x = blocks.reshape(n * 16, 16)
        scales, mins, L = fit_with_minimum(x, np.abs(x), 3, -0.5, 0.1, 15, use_mad=True)
        scales, mins = scales.reshape(n, 16), mins.reshape(n, 16)
        d_q, sc = _scales_on_grid(scales, 15)
        dmin_q, mq = _scales_on_grid(mins, 15)
        d, dmin = half_bytes(d_q), half_bytes(dmin_q, "minimum scale")
        step = per_sub_block(half_values(d) * sc.astype(np.float32), 16)
        offset = per_sub_block(half_values(dmin) * mq.astype(np.float32), 16)
        codes = requantize(blocks, L.reshape(n, QK_K), step, offset, 0, 3, 0)
        return np.concatenate([(sc | (mq << 4)).astype(np.uint8), pack_two_bit_codes(codes), d, dmin], axis=1)

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

    def quantize_blocks(self, blocks):
        n = blocks.shape[0]
        scales, L = fit_q3(blocks.reshape(n * 16, 16), 4)
        scales, L = scales.reshape(n, 16), L.reshape(n, QK_K)
        max_scale = np.take_along_axis(scales, argmax_abs_first(scales)[:, None], axis=1)     # signed, [n, 1]
        nonzero = max_scale != 0
        with np.errstate(divide="ignore"):
            iscale = np.where(nonzero, np.float32(-32) / np.where(nonzero, max_scale, 1), 0).astype(np.float32)
        codes = np.where(nonzero, np.clip(nearest_int(iscale * scales), -32, 31) + 32, 0)
        d = half_bytes(np.where(nonzero, np.float32(1) / np.where(nonzero, iscale, 1), 0).astype(np.float32))
        packed_scales = np.where(nonzero, pack_q3_scales(codes), 0).astype(np.uint8)
        step = per_sub_block(half_values(d) * q3_scales(packed_scales).astype(np.float32), 16)
        q = requantize(blocks, L, step, np.float32(0), -4, 3, 4)            # 0..7
        high = (q > 3).astype(np.uint8)
        return np.concatenate([pack_bit_planes(high), pack_two_bit_codes(q - 4 * high), packed_scales, d], axis=1)

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

    def quantize_blocks(self, blocks):
        d, dmin, packed, codes = _quantize_with_six_bit_scales(blocks, 15, -1.0, 0.1, 20)
        return np.concatenate([d, dmin, packed, pack_nibble_codes(codes)], axis=1)

    def dequantize_blocks(self, data):
        d, dmin = half_values(data[:, 0:2]), half_values(data[:, 2:4])
        sc, m = six_bit_scales_and_mins(data[:, 4:16])
        q = nibble_codes(data[:, 16:144]).astype(np.float32)
        return per_sub_block(d * sc.astype(np.float32), 32) * q - per_sub_block(dmin * m.astype(np.float32), 32)


class Q5_K(BlockType):
    """``d | dmin | scales[12] | qh[32] | qs[128]``: Q4_K's layout plus a fifth bit per weight (weight
    ``32 b + l`` is bit ``b`` of ``qh[l]``). ``x = (d * sc) * q - (dmin * m)``."""

    name, block_size, type_size = "Q5_K", QK_K, 2 + 2 + 12 + 32 + 128

    def quantize_blocks(self, blocks):
        d, dmin, packed, codes = _quantize_with_six_bit_scales(blocks, 31, -0.5, 0.1, 15)
        return np.concatenate([d, dmin, packed, pack_bit_planes(codes >> 4), pack_nibble_codes(codes & 0x0F)], axis=1)

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


def pack_six_bit_codes(q: np.ndarray) -> np.ndarray:
    """The inverse of ``six_bit_codes``: ``(n, 256)`` codes 0..63 -> ``ql (n, 128) | qh (n, 64)`` bytes."""
    n = q.shape[0]
    halves = q.reshape(n, 2, 2, 64).astype(np.uint8)                        # [h, k, 64]: weight 64 k + byte
    ql = (halves[:, :, 0] & 0x0F) | ((halves[:, :, 1] & 0x0F) << 4)          # [h, 64]
    top = (q.reshape(n, 2, 4, 32) >> 4).astype(np.uint8)                     # [h, s, 32]
    qh = top[:, :, 0] | (top[:, :, 1] << 2) | (top[:, :, 2] << 4) | (top[:, :, 3] << 6)
    return np.concatenate([ql.reshape(n, 128), qh.reshape(n, 64)], axis=1)


class Q6_K(BlockType):
    """``ql[128] | qh[64] | scales[16] | d``: 6-bit codes ``q - 32`` (``six_bit_codes``), 16 sub-blocks of 16 with
    an int8 scale. ``x = (d * sc) * (q - 32)``."""

    name, block_size, type_size = "Q6_K", QK_K, 128 + 64 + 16 + 2

    def quantize_blocks(self, blocks):
        n = blocks.shape[0]
        scales, L = fit_symmetric(blocks.reshape(n * 16, 16), 32)
        scales, L = scales.reshape(n, 16), L.reshape(n, QK_K)
        max_scale = np.take_along_axis(scales, argmax_abs_first(scales)[:, None], axis=1)
        live = np.abs(max_scale) >= np.float32(1e-15)                        # ggml's GROUP_MAX_EPS: else all zero
        with np.errstate(divide="ignore"):
            iscale = np.where(live, np.float32(-128) / np.where(live, max_scale, 1), 0).astype(np.float32)
        sc = np.where(live, np.minimum(127, nearest_int(iscale * scales)), 0).astype(np.int8)
        d = half_bytes(np.where(live, np.float32(1) / np.where(live, iscale, 1), 0).astype(np.float32))
        step = per_sub_block(half_values(d) * sc.astype(np.float32), 16)
        q = np.where(live, requantize(blocks, L, step, np.float32(0), -32, 31, 32), 0)      # 0..63
        data = np.concatenate([pack_six_bit_codes(q), sc.view(np.uint8), d], axis=1)
        return data

    def dequantize_blocks(self, data):
        ql, qh, scales = data[:, :128], data[:, 128:192], data[:, 192:208].view(np.int8)
        d = half_values(data[:, 208:210])
        q = six_bit_codes(ql, qh).astype(np.int8) - np.int8(32)
        return per_sub_block(d * scales.astype(np.float32), 16) * q.astype(np.float32)


K_TYPES = {t.name: t for t in (Q2_K(), Q3_K(), Q4_K(), Q5_K(), Q6_K())}


def _scales_on_grid(values: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """Q2_K: sub-block scales (or minimums) ``(n, 16)`` >= 0 on the grid ``0..top`` against their largest:
    ``(largest / top, nearest_int(top / largest * value))``; zeros where the largest is not positive."""
    largest = values.max(axis=1, keepdims=True)
    positive = largest > 0
    with np.errstate(divide="ignore"):
        inverse = np.where(positive, np.float32(top) / np.where(positive, largest, 1), 0).astype(np.float32)
    codes = np.where(positive, nearest_int(inverse * values), 0)
    step = np.where(positive, largest / np.float32(top), 0).astype(np.float32)
    return step, codes


def _quantize_with_six_bit_scales(blocks, nmax, rmin, rdelta, nstep):
    """Q4_K and Q5_K: ``(d, dmin, packed scales, codes (n, 256))`` (``quantize_row_q4_K_ref``, ``_q5_K_ref``)."""
    n = blocks.shape[0]
    x = blocks.reshape(n * 8, 32)
    av_x = np.sqrt(sequential_sum(x * x) / np.float32(32))                    # [n * 8]
    weights = av_x[:, None] + np.abs(x)
    scales, mins, L = fit_with_minimum(x, weights, nmax, rmin, rdelta, nstep, use_mad=False)
    scales, mins = scales.reshape(n, 8), mins.reshape(n, 8)
    # ggml starts both at +0 and keeps a value only if it is larger: never -0 (an all-zero sub-block's minimum is -0)
    max_scale, max_min = (np.where(v > 0, v, f32(0)) for v in (scales.max(axis=1, keepdims=True),
                                                                mins.max(axis=1, keepdims=True)))
    with np.errstate(divide="ignore"):
        inv_scale = np.where(max_scale > 0, np.float32(63) / np.where(max_scale > 0, max_scale, 1), 0).astype(np.float32)
        inv_min = np.where(max_min > 0, np.float32(63) / np.where(max_min > 0, max_min, 1), 0).astype(np.float32)
    sc = np.minimum(63, nearest_int(inv_scale * scales) & 0xFF)             # C: a uint8_t, then MIN(63, .)
    m = np.minimum(63, nearest_int(inv_min * mins) & 0xFF)
    d = half_bytes((max_scale / np.float32(63)).astype(np.float32))
    dmin = half_bytes((max_min / np.float32(63)).astype(np.float32), "minimum scale")
    step = per_sub_block(half_values(d) * sc.astype(np.float32), 32)
    offset = per_sub_block(half_values(dmin) * m.astype(np.float32), 32)
    codes = requantize(blocks, L.reshape(n, QK_K), step, offset, 0, nmax, 0)
    return d, dmin, pack_six_bit_scales_and_mins(sc, m), codes.astype(np.uint8)
