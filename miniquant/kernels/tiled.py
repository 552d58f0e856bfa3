"""Prefill path: dequantize tiles of the weight, then let BLAS multiply.

For large ``M`` a matmul is compute-bound: BLAS reaches far more FLOP/s than a Numba loop,
and the cost of dequantizing a tile (``K * tile`` values) is shared by all ``M`` rows. So
``tiled_matmul`` dequantizes ``tile`` output columns at a time into a float32 buffer
``(tile, K)`` and calls ``x @ buffer.T``.

``dequantize_rows`` reproduces ``QTensor.dequantize()`` bit for bit (``u - z`` is an exact
small integer in float32, times a float32 scale is one rounding), so the only difference from the reference
is BLAS's summation order. Tests: ``tests/kernels/test_matmul.py``.
"""
from __future__ import annotations

import numpy as np

from ._codes import code_at, scale_value, zero_value
from ._jit import jit_exact, prange
from .fused import nibbles
from .operands import WeightOperands

#: Bytes of float32 weight dequantized per tile (16 MB: 1,024 columns at K = 4096). Large
#: tiles mean few hand-overs between Numba's and OpenBLAS's threads, which cost more than
#: the cache misses of a tile that outgrows L2.
TILE_BYTES = 16 * 2**20


@jit_exact
def dequantize_rows(packed, bits, K, n0, n1, group_size, n_groups, stride, scales, zeros, out):
    """``out[r, k] = float32(u[n0 + r, k] - z) * s`` for columns ``n0 .. n1 - 1`` of the weight.

    8-bit and 4-bit codes are read a byte at a time through slice views (so that LLVM
    vectorizes the loops); other widths eight codes at a time from ``bits`` bytes when ``K``
    and the group size are multiples of 8 (as ``fused.make_fused_chunks`` does), else one code
    at a time from the bit stream.
    """
    byte_aligned_u4 = bits == 4 and K % 2 == 0 and group_size % 2 == 0
    chunked = K % 8 == 0 and group_size % 8 == 0
    mask = np.uint64((1 << bits) - 1)
    for r in prange(n1 - n0):
        n = n0 + r
        o = out[r]
        for g in range(n_groups):
            i = n * stride + g
            s = scale_value(scales, i)
            z = zero_value(zeros, i, bits)
            k0 = g * group_size
            if bits == 8:
                q = packed[n * K + k0:n * K + k0 + group_size]
                og = o[k0:k0 + group_size]
                for k in range(group_size):
                    og[k] = (np.float32(q[k]) - z) * s
            elif byte_aligned_u4:
                half = group_size // 2
                q = packed[(n * K + k0) // 2:(n * K + k0) // 2 + half]
                og = o[k0:k0 + group_size]
                for j in range(half):
                    lo, hi = nibbles(q[j])
                    og[2 * j] = (lo - z) * s
                    og[2 * j + 1] = (hi - z) * s
            elif chunked:
                base = (n * K + k0) // 8 * bits          # the group starts on a chunk boundary
                og = o[k0:k0 + group_size]
                for c in range(group_size // 8):
                    v = np.uint64(0)
                    for t in range(bits):
                        v |= np.uint64(packed[base + c * bits + t]) << np.uint64(8 * t)
                    for j in range(8):
                        og[8 * c + j] = (np.float32((v >> np.uint64(j * bits)) & mask) - z) * s
            else:
                for k in range(k0, k0 + group_size):
                    o[k] = (np.float32(code_at(packed, n * K + k, bits)) - z) * s


def dequantize_columns(op: WeightOperands, n0: int, n1: int, out: np.ndarray | None = None) -> np.ndarray:
    """Columns ``n0 .. n1 - 1`` of the weight, dequantized, as a float32 ``(n1 - n0, K)`` array."""
    if out is None:
        out = np.empty((n1 - n0, op.K), np.float32)
    dequantize_rows(op.packed, op.bits, op.K, n0, n1, op.group_size, op.n_groups, op.scale_stride,
                    op.scales, op.zeros, out)
    return out


def tiled_matmul(x: np.ndarray, op: WeightOperands, tile: int | None = None) -> np.ndarray:
    """``x @ w`` for float32 ``x`` of shape ``(M, K)``: dequantize ``tile`` columns, then BLAS."""
    M = x.shape[0]
    tile = tile or max(1, TILE_BYTES // (4 * op.K))
    out = np.empty((M, op.N), np.float32)
    buffer = np.empty((min(tile, op.N), op.K), np.float32)
    for n0 in range(0, op.N, tile):
        n1 = min(n0 + tile, op.N)
        w_tile = dequantize_columns(op, n0, n1, buffer[: n1 - n0])  # [tile, K]
        np.matmul(x, w_tile.T, out=out[:, n0:n1])                     # [M, K] @ [K, tile] -> [M, tile]
    return out
