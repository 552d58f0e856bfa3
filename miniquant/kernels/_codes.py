"""Scalar helpers the kernels share: read one code, one zero point, one float16 scale.

Each is a plain Python function (used as is when Numba is absent) and, with Numba, an
inlined JIT function. Tests: ``tests/kernels/test_codes.py``.
"""
from __future__ import annotations

import numpy as np

from ._jit import jit_inline

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
def scale_at(scale_f32, scale_f16, is_half, i):
    """Scale number ``i`` of the stored scales, as float32 (one of the two arrays is empty)."""
    if is_half:
        return half_to_float(scale_f16[i])
    return scale_f32[i]


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
