"""Bit packing: ``n`` unsigned ``bits``-bit codes stored in ``ceil(n * bits / 8)`` bytes.

Layout: one little-endian bit stream. Code ``i`` occupies stream bits
``[i * bits, (i + 1) * bits)`` with its least significant bit first, and stream bit ``j``
is bit ``j % 8`` of byte ``j // 8``. Eight codes always fill exactly ``bits`` bytes, which is
how the fast path works. For ``bits = 3``, codes ``a b c d e f g h`` (``a0`` is the lowest
bit of ``a``), drawn from bit 7 down to bit 0::

             bit 7  6  5  4  3  2  1  0
    byte 0:     c1 c0 b2 b1 b0 a2 a1 a0
    byte 1:     f0 e2 e1 e0 d2 d1 d0 c2       <- c and f straddle a byte boundary
    byte 2:     h2 h1 h0 g2 g1 g0 f2 f1

For ``bits = 4`` this is the familiar nibble order (code ``2i`` in the low nibble of byte
``i``, code ``2i + 1`` in the high nibble); for ``bits = 2`` four codes per byte, lowest
first; for ``bits = 8`` one code per byte. The stream ends with zero bits up to a whole
byte. Signed codes are stored shifted by ``-qmin`` (offset binary), see ``QTensor``.

``pack_codes_reference``/``unpack_codes_reference`` do the same one bit at a time and
are the specification; tests prove the fast versions equal (``tests/test_packing.py``).
"""
from __future__ import annotations

import numpy as np

from .quant._checks import check_bits

__all__ = ["pack_codes", "pack_codes_reference", "packed_nbytes", "unpack_codes", "unpack_codes_reference"]


def packed_nbytes(count: int, bits: int) -> int:
    """Bytes that ``count`` codes of ``bits`` bits take: ``ceil(count * bits / 8)``."""
    return -(-int(count) * int(bits) // 8)


def _check_codes(codes, bits: int) -> np.ndarray:
    bits = check_bits(bits)
    codes = np.asarray(codes)
    if not np.issubdtype(codes.dtype, np.integer):
        raise TypeError(f"codes must be unsigned integers below 2**bits, got dtype {codes.dtype}")
    if codes.size and (codes.min() < 0 or codes.max() >= 2**bits):
        raise ValueError(
            f"codes must lie in [0, {2**bits - 1}] to pack at bits={bits}, "
            f"got values from {int(codes.min())} to {int(codes.max())}"
        )
    return codes.reshape(-1).astype(np.uint8)


def _check_packed(packed, bits: int, count: int) -> np.ndarray:
    bits = check_bits(bits)
    packed = np.asarray(packed)
    if packed.dtype != np.uint8 or packed.ndim != 1:
        raise TypeError(f"packed must be a 1-D uint8 array, got {packed.dtype} with shape {packed.shape}")
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    if packed.size != packed_nbytes(count, bits):
        raise ValueError(
            f"packed has {packed.size} bytes but {count} codes of {bits} bits need {packed_nbytes(count, bits)}"
        )
    return packed


def pack_codes(codes, bits: int) -> np.ndarray:
    """Pack unsigned codes into a little-endian bit stream: ``uint8[ceil(n * bits / 8)]``.

    Parameters
    ----------
    codes : ndarray of int, any shape, values in ``[0, 2**bits - 1]``
        Flattened in C order.
    bits : int
        2 to 8.

    Returns
    -------
    ndarray of uint8, 1-D

    Examples
    --------
    >>> pack_codes(np.array([1, 2, 3]), bits=4)    # 0x21, then 0x03 padded
    array([33,  3], dtype=uint8)
    >>> pack_codes(np.arange(8), bits=3).size
    3
    """
    flat = _check_codes(codes, bits)
    count = flat.size
    padded = np.zeros(-(-count // 8) * 8, dtype=np.uint64)
    padded[:count] = flat
    octets = padded.reshape(-1, 8)  # [n_octets, 8] codes -> one 64-bit word each
    word = np.zeros(octets.shape[0], dtype=np.uint64)
    for i in range(8):
        word |= octets[:, i] << np.uint64(bits * i)
    out = np.empty((octets.shape[0], bits), dtype=np.uint8)  # [n_octets, bits] bytes
    for j in range(bits):
        out[:, j] = (word >> np.uint64(8 * j)) & np.uint64(0xFF)
    return out.reshape(-1)[: packed_nbytes(count, bits)]


def unpack_codes(packed, bits: int, count: int) -> np.ndarray:
    """Inverse of ``pack_codes``: the first ``count`` codes as ``uint8[count]``.

    Examples
    --------
    >>> unpack_codes(np.array([33, 3], dtype=np.uint8), bits=4, count=3)
    array([1, 2, 3], dtype=uint8)
    """
    packed = _check_packed(packed, bits, count)
    n_octets = -(-count // 8)
    padded = np.zeros(n_octets * bits, dtype=np.uint64)
    padded[: packed.size] = packed
    rows = padded.reshape(-1, bits)  # [n_octets, bits] bytes -> one 64-bit word each
    word = np.zeros(n_octets, dtype=np.uint64)
    for j in range(bits):
        word |= rows[:, j] << np.uint64(8 * j)
    mask = np.uint64(2**bits - 1)
    out = np.empty((n_octets, 8), dtype=np.uint8)
    for i in range(8):
        out[:, i] = (word >> np.uint64(bits * i)) & mask
    return out.reshape(-1)[:count]


def pack_codes_reference(codes, bits: int) -> np.ndarray:
    """The specification of ``pack_codes``, one bit at a time."""
    flat = _check_codes(codes, bits)
    stream = (flat[:, None] >> np.arange(bits)) & 1  # [n, bits], least significant bit first
    return np.packbits(stream.reshape(-1).astype(np.uint8), bitorder="little")


def unpack_codes_reference(packed, bits: int, count: int) -> np.ndarray:
    """The specification of ``unpack_codes``, one bit at a time."""
    packed = _check_packed(packed, bits, count)
    stream = np.unpackbits(packed, bitorder="little")[: count * bits].reshape(count, bits)
    return (stream.astype(np.uint8) << np.arange(bits, dtype=np.uint8)).sum(axis=1).astype(np.uint8)
