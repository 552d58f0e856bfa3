"""Fused quantized matmul kernels: ``y = x @ w`` reading packed codes, never a float ``w``.

For small ``M`` (decode) the work is dominated by reading the weight, so these kernels
unpack and dequantize on the fly inside the dot product (see ``operands.py`` for the
formula they all compute). Three families:

* ``fused_u8``  -- 8-bit codes, one byte each;
* ``fused_u4``  -- 4-bit codes, two per byte; ``x`` is split once per call into its even and
  odd elements so that the inner loop reads ``x_even[j] * (byte & 15) + x_odd[j] * (byte >> 4)``
  with unit stride (the layout from ``KERNEL-NOTES.md``), the nibbles split in float
  arithmetic (``nibbles``);
* ``fused_generic`` -- any width from 2 to 8 bits, one code at a time from the bit stream.

``fused_u8`` and ``fused_u4`` process four output columns per iteration so that each load of
``x`` serves four weight rows. Output columns are split across threads with ``prange``; each
iteration owns its columns.

Tolerance: float32 sums in any order (``fastmath``); see ``matmul.qmatmul_tolerance``.
Reference: ``matmul.qmatmul_reference``. Tests: ``tests/kernels/test_matmul.py``.
"""
from __future__ import annotations

import numpy as np

from ._codes import code_at, scale_at
from ._jit import jit_fast, jit_inline, prange


@jit_inline
def zero_at(zp_packed, i, bits, asymmetric, zero_const):
    """Effective zero point ``z = zero_point - qmin`` of block ``i`` (an integer)."""
    if asymmetric:
        return np.int32(code_at(zp_packed, i, bits))
    return np.int32(zero_const)


@jit_inline
def nibbles(b):
    """The two 4-bit codes of byte ``b`` as float32: ``(b & 15, b >> 4)``, computed in float.

    Integer ``&`` and ``>>`` on uint8 are promoted to int64 in Numba, which halves the SIMD
    width and turns the conversion into a slow int64 -> float32; in float32 the same is
    ``hi = floor(b / 16)``, ``lo = b - 16 * hi`` (exact: b < 256). Measured on a 4096x4096
    row-dot: 0.87 ms with uint8 ops, 0.36 ms like this.
    """
    f = np.float32(b)
    hi = np.floor(f * np.float32(0.0625))
    return f - np.float32(16.0) * hi, hi


@jit_inline
def _combine(a, n, g, m, stride, bits, scale_f32, scale_f16, is_half, zp_packed, asymmetric, zero_const, xsum):
    """One group's contribution: ``s[n, g] * (a - z[n, g] * xsum[m, g])``."""
    i = n * stride + g
    z = zero_at(zp_packed, i, bits, asymmetric, zero_const)
    return scale_at(scale_f32, scale_f16, is_half, i) * (a - np.float32(z) * xsum[m, g])


@jit_fast
def fused_generic(x, xsum, packed, bits, N, group_size, n_groups, stride,
                  scale_f32, scale_f16, is_half, zp_packed, asymmetric, zero_const, out):
    """Any bit-width: ``out[m, n] = sum_g s * (sum_k x[m, k] * u[n, k] - z * xsum[m, g])``."""
    M, K = x.shape
    for n in prange(N):
        for m in range(M):
            acc = np.float32(0.0)
            for g in range(n_groups):
                a = np.float32(0.0)
                for k in range(g * group_size, (g + 1) * group_size):
                    a += x[m, k] * np.float32(code_at(packed, n * K + k, bits))
                acc += _combine(a, n, g, m, stride, bits, scale_f32, scale_f16, is_half, zp_packed, asymmetric, zero_const, xsum)
            out[m, n] = acc


@jit_fast
def fused_u8(x, xsum, rows, group_size, n_groups, stride,
             scale_f32, scale_f16, is_half, zp_packed, asymmetric, zero_const, out):
    """8-bit codes, ``rows`` = packed bytes viewed as ``(N, K)``; four columns per iteration."""
    M, K = x.shape
    N = rows.shape[0]
    for blk in prange((N + 3) // 4):
        n0 = 4 * blk
        if n0 + 4 <= N:
            r0 = rows[n0]
            r1 = rows[n0 + 1]
            r2 = rows[n0 + 2]
            r3 = rows[n0 + 3]
            for m in range(M):
                xm = x[m]
                acc0 = np.float32(0.0)
                acc1 = np.float32(0.0)
                acc2 = np.float32(0.0)
                acc3 = np.float32(0.0)
                for g in range(n_groups):
                    a0 = np.float32(0.0)
                    a1 = np.float32(0.0)
                    a2 = np.float32(0.0)
                    a3 = np.float32(0.0)
                    k0 = g * group_size
                    q0 = r0[k0:k0 + group_size]
                    q1 = r1[k0:k0 + group_size]
                    q2 = r2[k0:k0 + group_size]
                    q3 = r3[k0:k0 + group_size]
                    xs = xm[k0:k0 + group_size]
                    for k in range(group_size):
                        xv = xs[k]
                        a0 += xv * np.float32(q0[k])
                        a1 += xv * np.float32(q1[k])
                        a2 += xv * np.float32(q2[k])
                        a3 += xv * np.float32(q3[k])
                    acc0 += _combine(a0, n0, g, m, stride, 8, scale_f32, scale_f16, is_half, zp_packed, asymmetric, zero_const, xsum)
                    acc1 += _combine(a1, n0 + 1, g, m, stride, 8, scale_f32, scale_f16, is_half, zp_packed, asymmetric, zero_const, xsum)
                    acc2 += _combine(a2, n0 + 2, g, m, stride, 8, scale_f32, scale_f16, is_half, zp_packed, asymmetric, zero_const, xsum)
                    acc3 += _combine(a3, n0 + 3, g, m, stride, 8, scale_f32, scale_f16, is_half, zp_packed, asymmetric, zero_const, xsum)
                out[m, n0] = acc0
                out[m, n0 + 1] = acc1
                out[m, n0 + 2] = acc2
                out[m, n0 + 3] = acc3
        else:
            for n in range(n0, N):
                r = rows[n]
                for m in range(M):
                    acc = np.float32(0.0)
                    for g in range(n_groups):
                        a = np.float32(0.0)
                        for k in range(g * group_size, (g + 1) * group_size):
                            a += x[m, k] * np.float32(r[k])
                        acc += _combine(a, n, g, m, stride, 8, scale_f32, scale_f16, is_half, zp_packed, asymmetric, zero_const, xsum)
                    out[m, n] = acc


@jit_fast
def fused_u4(x_even, x_odd, xsum, rows, group_size, n_groups, stride,
             scale_f32, scale_f16, is_half, zp_packed, asymmetric, zero_const, out):
    """4-bit codes, ``rows`` = packed bytes viewed as ``(N, K // 2)``; byte j holds codes 2j (low) and 2j+1.

    ``x_even[m, j] = x[m, 2j]`` and ``x_odd[m, j] = x[m, 2j + 1]``; a group of ``G`` codes is
    ``G // 2`` bytes. Four columns per iteration.
    """
    M = x_even.shape[0]
    N = rows.shape[0]
    half = group_size // 2
    for blk in prange((N + 3) // 4):
        n0 = 4 * blk
        if n0 + 4 <= N:
            r0 = rows[n0]
            r1 = rows[n0 + 1]
            r2 = rows[n0 + 2]
            r3 = rows[n0 + 3]
            for m in range(M):
                xe = x_even[m]
                xo = x_odd[m]
                acc0 = np.float32(0.0)
                acc1 = np.float32(0.0)
                acc2 = np.float32(0.0)
                acc3 = np.float32(0.0)
                for g in range(n_groups):
                    a0 = np.float32(0.0)
                    a1 = np.float32(0.0)
                    a2 = np.float32(0.0)
                    a3 = np.float32(0.0)
                    # Slice views and a loop from 0: computed indices (base + j) would turn
                    # the loads into gathers (KERNEL-NOTES, item 2).
                    j0 = g * half
                    q0 = r0[j0:j0 + half]
                    q1 = r1[j0:j0 + half]
                    q2 = r2[j0:j0 + half]
                    q3 = r3[j0:j0 + half]
                    xs = xe[j0:j0 + half]
                    xt = xo[j0:j0 + half]
                    for j in range(half):
                        xl = xs[j]
                        xh = xt[j]
                        l0, h0 = nibbles(q0[j])
                        l1, h1 = nibbles(q1[j])
                        l2, h2 = nibbles(q2[j])
                        l3, h3 = nibbles(q3[j])
                        a0 += l0 * xl + h0 * xh
                        a1 += l1 * xl + h1 * xh
                        a2 += l2 * xl + h2 * xh
                        a3 += l3 * xl + h3 * xh
                    acc0 += _combine(a0, n0, g, m, stride, 4, scale_f32, scale_f16, is_half, zp_packed, asymmetric, zero_const, xsum)
                    acc1 += _combine(a1, n0 + 1, g, m, stride, 4, scale_f32, scale_f16, is_half, zp_packed, asymmetric, zero_const, xsum)
                    acc2 += _combine(a2, n0 + 2, g, m, stride, 4, scale_f32, scale_f16, is_half, zp_packed, asymmetric, zero_const, xsum)
                    acc3 += _combine(a3, n0 + 3, g, m, stride, 4, scale_f32, scale_f16, is_half, zp_packed, asymmetric, zero_const, xsum)
                out[m, n0] = acc0
                out[m, n0 + 1] = acc1
                out[m, n0 + 2] = acc2
                out[m, n0 + 3] = acc3
        else:
            for n in range(n0, N):
                r = rows[n]
                for m in range(M):
                    acc = np.float32(0.0)
                    for g in range(n_groups):
                        a = np.float32(0.0)
                        for j in range(g * half, (g + 1) * half):
                            lo_, hi_ = nibbles(r[j])
                            a += lo_ * x_even[m, j] + hi_ * x_odd[m, j]
                        acc += _combine(a, n, g, m, stride, 4, scale_f32, scale_f16, is_half, zp_packed, asymmetric, zero_const, xsum)
                    out[m, n] = acc
