"""Scalar helpers the kernels share: read one code, one zero point, one float16 scale.

Each is a plain Python function (used as is when Numba is absent) and, with Numba, an
inlined JIT function. Tests: ``tests/kernels/test_matmul.py`` (the float16 decoding and the kernels that use it).
"""
from __future__ import annotations

import numpy as np

from ._jit import jit_inline, overload

# 2**(e - 25) for the float16 exponent field e; e = 0 (subnormals) uses 2**-24.
_HALF_EXP = np.array([2.0**-24] + [2.0 ** (e - 25) for e in range(1, 32)], dtype=np.float32)


@jit_inline
def half_to_float(h):
    """float16 bits (a ``uint16``) to float32, exactly: ``(-1)**sign * (1024 + m) * 2**(e - 25)``.

    Numba has no float16 type on the CPU, so the kernels read float16 scales as their raw
    bits and decode them here, as F16C hardware would; branch-free, because it runs once per
    group in the kernels' hot loop. Subnormals (``e = 0``) have no implicit 1024 and the
    weight ``2**-24``. Inf and NaN never occur in scales.
    """
    h = np.int32(h)
    exponent = (h >> 10) & 31
    mantissa = (h & 1023) + np.int32(exponent != 0) * 1024
    sign = np.float32(1 - 2 * (h >> 15))
    return sign * np.float32(mantissa) * _HALF_EXP[exponent]


@jit_inline
def code_at(packed, i, bits):
    """Code number ``i`` of a little-endian bit stream of ``bits``-bit codes (unsigned)."""
    bitpos = i * bits
    byte = bitpos >> 3
    shift = bitpos & 7
    v = np.int32(packed[byte])
    if shift + bits > 8:
        v |= np.int32(packed[byte + 1]) << 8
    return (v >> shift) & ((1 << bits) - 1)


#: Every E8M0 byte decoded: ``2^(b - 127)`` as float32 (``2^-127`` is a float32 subnormal, exact); 0xFF (NaN) never occurs.
E8M0_TABLE = np.append(np.ldexp(1.0, np.arange(255) - 127), np.nan).astype(np.float32)


def scale_value(scales, i):
    """Scale number ``i`` as float32: ``scales`` holds float32 values, float16 bits (``uint16``) or E8M0 bytes (``uint8``)."""
    if scales.dtype == np.uint16:
        return half_to_float(scales[i])
    if scales.dtype == np.uint8:
        return E8M0_TABLE[scales[i]]
    return np.float32(scales[i])


def zero_value(zeros, i, bits):
    """Effective zero point ``z = zero_point - qmin`` of block ``i``, as float32.

    ``zeros`` is either the packed asymmetric zero points (``uint8``, ``bits`` each) or a
    one-element float32 array holding the symmetric constant ``-qmin``.
    """
    if zeros.dtype == np.uint8:
        return np.float32(code_at(zeros, i, bits))
    return zeros[0]


# With Numba, the dtype tests above are made at compile time: each kernel is compiled once
# per (scale dtype, scheme) and its hot loop carries no branch on either.
#: Every float16 bit pattern decoded to float32 (256 KB). In the kernels' hot loop a table
#: load was faster than the arithmetic decode (measured: 4M decodes in 1.1-1.4 ms vs 1.6-2.5 ms).
HALF_TABLE = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)


@overload(scale_value)
def _scale_value(scales, i):
    if scales.dtype.bitwidth == 16:
        return lambda scales, i: HALF_TABLE[scales[i]]
    if scales.dtype.bitwidth == 8:
        return lambda scales, i: E8M0_TABLE[scales[i]]
    return lambda scales, i: np.float32(scales[i])


@overload(zero_value)
def _zero_value(zeros, i, bits):
    if zeros.dtype.bitwidth == 8:
        return lambda zeros, i, bits: np.float32(code_at(zeros, i, bits))
    return lambda zeros, i, bits: zeros[0]
