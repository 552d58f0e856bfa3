"""llama.cpp's first block types: 32 weights, a float16 scale (and a float16 minimum), 4-, 5- or 8-bit codes.

Each type is a small class with its byte layout drawn; ``quantize_blocks`` takes float32 blocks
``(n, 32)`` and returns their bytes ``(n, type_size)``, ``dequantize_blocks`` the reverse. Every step is
done in float32, as ggml's reference C code does it (``quantize_row_q4_0_ref`` and its siblings in
``ggml-quants.c``), because the rounding details decide the bytes:

* the scale is computed in float32 and stored as float16 (round to nearest, ties to even); the codes
  are computed with the **float32** scale, not the stored one;
* ``id = 1 / d`` is a float32 reciprocal, and a block of zeros has ``d = 0`` and ``id = 0``;
* Q4_0, Q4_1, Q5_0 and Q5_1 round by adding 8.5, 0.5, 16.5 or 0.5 in float32 and truncating (C's
  ``(int8_t)`` cast), which is not ``rint``: a value exactly halfway between two codes always goes up;
* Q8_0 rounds half away from zero (C's ``roundf``);
* Q4_0 and Q5_0 take ``max``, the value of largest magnitude *with its sign* (the first one when two
  tie), and use ``d = max / -8`` (``-16``): the full range ``-8 .. 7`` of the codes, the extreme value
  landing exactly on code 0 whatever its sign, and a scale that is negative when ``max`` is positive.

In miniquant's words (``QuantSpec``): Q8_0 is symmetric int8 in groups of 32 with float16 scales,
``d = absmax / 127``, rounding half away from zero; Q4_0 is symmetric int4 in groups of 32 with float16
scales but a *signed* scale over the full range (``qmin = -8``, where miniquant's symmetric grid stops at
``-7``); Q4_1 and Q5_1 are asymmetric with a float16 minimum ``m`` in place of an integer zero point
(``x = d * q + m``), so their zero point is not on the integer grid. ``bridge.py`` converts where the
maths allows (Q8_0 exactly; the others, and why not, there).

Proof: ``tests/formats/test_gguf_blocks.py`` compares every byte with the ``gguf`` package on random,
tie-heavy, constant and zero blocks, and with bytes written by llama.cpp itself. The two references differ
in one place: a block whose minimum is zero and whose first zero is ``-0.0`` (``-3.0 * 0`` gives one) has
``m = -0.0`` in ggml (its loop keeps the first minimum) but ``+0.0`` in the ``gguf`` package (``np.min``);
miniquant follows ggml (``first_min_max``), and the comparison with the ``gguf`` package uses ``x + 0.0``,
which turns every ``-0.0`` into ``+0.0``.
"""
from __future__ import annotations

import abc

import numpy as np

QK = 32   # weights per block in every legacy type


HALF_MAX = float(np.finfo(np.float16).max)


def half_bytes(v: np.ndarray, what: str = "scale") -> np.ndarray:
    """float32 ``(n,)`` -> the little-endian bytes of its float16 rounding, ``(n, 2)`` uint8.

    A value that float16 cannot hold (it would be stored as Inf) is refused: ``ValueError`` naming it.
    """
    big = np.abs(v) >= 65520            # rounds to Inf in float16 (65504 is the largest finite value)
    if big.any():
        raise ValueError(f"a block's {what} of {float(v.reshape(-1)[np.argmax(big.reshape(-1))]):.6g} exceeds float16's "
                         f"largest value {HALF_MAX:g}: GGUF stores it as float16 (scale the weights down first)")
    return np.ascontiguousarray(v.astype(np.float16).reshape(-1, 1)).view(np.uint8)


def half_values(b: np.ndarray) -> np.ndarray:
    """``(n, 2)`` uint8 little-endian float16 bytes -> float32 ``(n, 1)`` (for broadcasting over a block)."""
    return np.ascontiguousarray(b).view(np.float16).astype(np.float32)


def round_half_away(v: np.ndarray) -> np.ndarray:
    """C's ``roundf``: to the nearest integer, halfway cases away from zero (``np.rint`` sends them to even)."""
    t = np.trunc(v)
    return np.where(np.abs(v - t) == 0.5, t + np.sign(v), np.rint(v))   # v - t is exact in float


def truncate_after_adding(v: np.ndarray, offset: float, top: int) -> np.ndarray:
    """``min(top, (int)(v + offset))`` with the addition in float32 and C's truncating cast (``v + offset >= 0``)."""
    return np.minimum(np.trunc(v + np.float32(offset)), top).astype(np.uint8)


def reciprocal(d: np.ndarray) -> np.ndarray:
    """``1 / d`` in float32, and 0 where ``d`` is 0 (ggml's ``id = d ? 1.0f / d : 0.0f``).

    Also 0 where ``1 / d`` overflows (``d`` below float32's normal range, every ``|x|`` under about 1e-36):
    ggml's codes are then undefined (a cast of Inf); these blocks get a zero block's codes. Their float16
    scale is 0, so they dequantize to zeros (or to the minimum) either way.
    """
    with np.errstate(divide="ignore", over="ignore"):
        inverse = np.float32(1) / np.where(d == 0, np.float32(1), d)
    return np.where((d == 0) | ~np.isfinite(inverse), np.float32(0), inverse).astype(np.float32)


def first_min_max(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per block, the smallest and the largest value, each the *first* of its equals ``(n, 1)``: ggml's loop keeps
    the first, which decides the sign of a zero minimum (``-0.0`` then stored as the float16 ``0x8000``).
    (``np.min`` may return either zero; the ``gguf`` package's quantizers use it and differ from ggml there.)"""
    return (np.take_along_axis(blocks, blocks.argmin(axis=1)[:, None], axis=1),
            np.take_along_axis(blocks, blocks.argmax(axis=1)[:, None], axis=1))


def signed_absmax(blocks: np.ndarray) -> np.ndarray:
    """Per block, the value of largest magnitude with its sign: the first one when several tie. ``(n, 1)``."""
    return np.take_along_axis(blocks, np.abs(blocks).argmax(axis=1)[:, None], axis=1)


def pack_nibbles(codes: np.ndarray) -> np.ndarray:
    """Codes ``(n, 32)`` of 4 bits (or the low 4 bits of 5) -> ``(n, 16)`` bytes: element ``j`` in the low nibble
    of byte ``j``, element ``j + 16`` in its high nibble (not neighbours: the two halves of the block)."""
    return (codes[:, :16] & 0x0F) | ((codes[:, 16:] & 0x0F) << 4)


def unpack_nibbles(qs: np.ndarray) -> np.ndarray:
    """The inverse of ``pack_nibbles``: ``(n, 16)`` bytes -> ``(n, 32)`` codes."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=1)


def pack_fifth_bits(codes: np.ndarray) -> np.ndarray:
    """The 5th bit of each of 32 codes as one little-endian uint32: bit ``j`` is code ``j``'s, ``(n, 4)`` bytes."""
    bits = (codes >> 4) & 1
    return np.packbits(bits, axis=1, bitorder="little")


def unpack_fifth_bits(qh: np.ndarray) -> np.ndarray:
    """The inverse of ``pack_fifth_bits``: ``(n, 4)`` bytes -> ``(n, 32)`` values 0 or 16."""
    return np.unpackbits(qh, axis=1, bitorder="little") << 4


class BlockType(abc.ABC):
    """A GGUF block type: ``block_size`` weights stored in ``type_size`` bytes."""

    name: str
    block_size: int
    type_size: int

    @property
    def bits_per_weight(self) -> float:
        return 8 * self.type_size / self.block_size

    @abc.abstractmethod
    def quantize_blocks(self, blocks: np.ndarray) -> np.ndarray:
        """float32 blocks ``(n, block_size)`` -> their bytes ``(n, type_size)``."""

    @abc.abstractmethod
    def dequantize_blocks(self, data: np.ndarray) -> np.ndarray:
        """Bytes ``(n, type_size)`` -> float32 values ``(n, block_size)``."""

    def __repr__(self) -> str:
        return f"<GGUF block type {self.name}: {self.block_size} weights in {self.type_size} bytes>"


class Q8_0(BlockType):
    """Symmetric 8-bit codes, one float16 scale per 32 weights (8.5 bits per weight)::

        byte   0 1   2      3            33
              [ d ][ q[0] ][ q[1] ] ... [ q[31] ]      q: int8;  x[j] = d * q[j];  d = absmax / 127

    Codes: ``roundf(x / d)``, halfway cases away from zero.
    """

    name, block_size, type_size = "Q8_0", QK, 2 + QK

    def quantize_blocks(self, blocks):
        d = np.abs(blocks).max(axis=1, keepdims=True) / np.float32(127)
        q = round_half_away(blocks * reciprocal(d)).astype(np.int8)
        return np.concatenate([half_bytes(d), q.view(np.uint8)], axis=1)

    def dequantize_blocks(self, data):
        return data[:, 2:].view(np.int8).astype(np.float32) * half_values(data[:, :2])


class Q4_0(BlockType):
    """Symmetric 4-bit codes over the full range -8 .. 7, a signed float16 scale per 32 weights (4.5 bits)::

        byte   0 1   2                  3                        17
              [ d ][ c[0] | c[16] << 4 ][ c[1] | c[17] << 4 ] ... [ c[15] | c[31] << 4 ]

        x[j] = d * (c[j] - 8);   d = max / -8 with max the value of largest magnitude, sign included

    Codes: ``min(15, trunc(x / d + 8.5))``.
    """

    name, block_size, type_size = "Q4_0", QK, 2 + QK // 2

    def quantize_blocks(self, blocks):
        d = signed_absmax(blocks) / np.float32(-8)
        codes = truncate_after_adding(blocks * reciprocal(d), 8.5, 15)
        return np.concatenate([half_bytes(d), pack_nibbles(codes)], axis=1)

    def dequantize_blocks(self, data):
        codes = unpack_nibbles(data[:, 2:]).astype(np.int8) - np.int8(8)
        return half_values(data[:, :2]) * codes.astype(np.float32)


class Q4_1(BlockType):
    """Asymmetric 4-bit codes 0 .. 15 with a float16 scale and a float16 minimum per 32 weights (5 bits)::

        byte   0 1   2 3   4                  5                        19
              [ d ][ m ][ c[0] | c[16] << 4 ][ c[1] | c[17] << 4 ] ... [ c[15] | c[31] << 4 ]

        x[j] = d * c[j] + m;   d = (max - min) / 15,  m = min

    Codes: ``min(15, trunc((x - min) / d + 0.5))``.
    """

    name, block_size, type_size = "Q4_1", QK, 4 + QK // 2

    def quantize_blocks(self, blocks):
        lo, hi = first_min_max(blocks)
        d = (hi - lo) / np.float32(15)
        codes = truncate_after_adding((blocks - lo) * reciprocal(d), 0.5, 15)
        return np.concatenate([half_bytes(d), half_bytes(lo, "minimum"), pack_nibbles(codes)], axis=1)

    def dequantize_blocks(self, data):
        codes = unpack_nibbles(data[:, 4:]).astype(np.float32)
        return half_values(data[:, :2]) * codes + half_values(data[:, 2:4])


class Q5_0(BlockType):
    """Symmetric 5-bit codes over -16 .. 15, a signed float16 scale per 32 weights (5.5 bits)::

        byte   0 1   2 ... 5                        6 ... 21
              [ d ][ qh: bit j = bit 4 of c[j] ][ low nibbles, laid out as in Q4_0 ]

        x[j] = d * (c[j] - 16);   d = max / -16

    Codes: ``min(31, trunc(x / d + 16.5))``.
    """

    name, block_size, type_size = "Q5_0", QK, 2 + 4 + QK // 2

    def quantize_blocks(self, blocks):
        d = signed_absmax(blocks) / np.float32(-16)
        codes = truncate_after_adding(blocks * reciprocal(d), 16.5, 31)
        return np.concatenate([half_bytes(d), pack_fifth_bits(codes), pack_nibbles(codes)], axis=1)

    def dequantize_blocks(self, data):
        codes = (unpack_nibbles(data[:, 6:]) | unpack_fifth_bits(data[:, 2:6])).astype(np.int8) - np.int8(16)
        return half_values(data[:, :2]) * codes.astype(np.float32)


class Q5_1(BlockType):
    """Asymmetric 5-bit codes 0 .. 31 with a float16 scale and minimum per 32 weights (6 bits)::

        byte   0 1   2 3   4 ... 7                        8 ... 23
              [ d ][ m ][ qh: bit j = bit 4 of c[j] ][ low nibbles, laid out as in Q4_0 ]

        x[j] = d * c[j] + m;   d = (max - min) / 31,  m = min

    Codes: ``trunc((x - min) / d + 0.5)``.
    """

    name, block_size, type_size = "Q5_1", QK, 4 + 4 + QK // 2

    def quantize_blocks(self, blocks):
        lo, hi = first_min_max(blocks)
        d = (hi - lo) / np.float32(31)
        # ggml's C code has no upper clamp here; (max - min) * id stays below 31.5, so min(31) changes nothing
        codes = truncate_after_adding((blocks - lo) * reciprocal(d), 0.5, 31)
        return np.concatenate([half_bytes(d), half_bytes(lo, "minimum"), pack_fifth_bits(codes), pack_nibbles(codes)], axis=1)

    def dequantize_blocks(self, data):
        codes = (unpack_nibbles(data[:, 8:]) | unpack_fifth_bits(data[:, 4:8])).astype(np.float32)
        return half_values(data[:, :2]) * codes + half_values(data[:, 2:4])


LEGACY_TYPES = {t.name: t for t in (Q8_0(), Q4_0(), Q4_1(), Q5_0(), Q5_1())}
