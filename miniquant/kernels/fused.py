"""Fused quantized matmul kernels: ``y = x @ w`` reading packed codes, never a float ``w``.

For small ``M`` (decode) the work is dominated by reading the weight, so these kernels
unpack and dequantize on the fly inside the dot product (see ``operands.py`` for the
formula they all compute). Three families:

* ``fused_u8``  -- 8-bit codes, one byte each;
* ``fused_u4``  -- 4-bit codes, two per byte; ``x`` is split once per call into its even and
  odd elements so that the inner loop reads ``x_even[j] * (byte & 15) + x_odd[j] * (byte >> 4)``
  with unit stride (the layout from ``KERNEL-NOTES.md``), the nibbles split in float
  arithmetic (``nibbles``);
* ``fused_chunks`` -- any width from 2 to 8 bits when ``K`` and the group size are multiples of
  8: eight codes always fill exactly ``bits`` bytes of the stream, so each run of ``bits``
  bytes is read into one integer and its eight codes are taken out with constant shifts; ``x``
  is split once per call into eight strided parts (``x8[m, j, c] = x[m, 8c + j]``) so that the
  loop over chunks runs with unit stride (one kernel per width, built by ``make_fused_chunks``);
* ``fused_generic`` -- any width from 2 to 8 bits, one code at a time from the bit stream (the
  fallback for lengths that are not multiples of 8).

``fused_u8`` and ``fused_u4`` process four output columns per iteration so that each load of
``x`` serves four weight rows. Output columns are split across threads with ``prange``; each
iteration owns its columns.

Tolerance: float32 sums in any order (``fastmath``); see ``matmul.qmatmul_tolerance``.
Reference: ``matmul.qmatmul_reference``. Tests: ``tests/kernels/test_matmul.py``.
"""
from __future__ import annotations

import numpy as np

from ._codes import code_at, scale_value, zero_value
from ._jit import SPECIALIZED_GROUPS, jit_fast, jit_inline, prange
from .tables import BYTE_KINDS, U8_TABLE, byte_row4, zero_terms

U8_KIND = BYTE_KINDS["u8"]   # byte_row4's kind for unsigned integer codes


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
def float_group_term(a, n, g, m, stride, bits, scales, zeros, xsum):
    """One group's contribution: ``s[n, g] * (a - z[n, g] * xsum[m, g])``."""
    i = n * stride + g
    return scale_value(scales, i) * (a - zero_value(zeros, i, bits) * xsum[m, g])


@jit_fast
def fused_generic(x, xsum, packed, bits, N, group_size, n_groups, stride, scales, zeros, out):
    """Any bit-width: ``out[m, n] = sum_g s * (sum_k x[m, k] * u[n, k] - z * xsum[m, g])``."""
    M, K = x.shape
    for n in prange(N):
        for m in range(M):
            acc = np.float32(0.0)
            for g in range(n_groups):
                a = np.float32(0.0)
                for k in range(g * group_size, (g + 1) * group_size):
                    a += x[m, k] * np.float32(code_at(packed, n * K + k, bits))
                acc += float_group_term(a, n, g, m, stride, bits, scales, zeros, xsum)
            out[m, n] = acc


@jit_fast
def fused_u8(x, xsum, rows, group_size, n_groups, stride, scales, zeros, out):
    """8-bit codes, ``rows`` = packed bytes viewed as ``(N, K)``; four columns per iteration.

    With groups (or rows) of a multiple of 32 codes, each block of four columns is one ``tables.byte_row4``
    call (on AVX-512: 32 codes per vector, group sums kept in registers).
    """
    M, K = x.shape
    N = rows.shape[0]
    fast = group_size % 32 == 0
    for blk in prange((N + 3) // 4):
        n0 = 4 * blk
        if n0 + 4 <= N:
            r0 = rows[n0]
            r1 = rows[n0 + 1]
            r2 = rows[n0 + 2]
            r3 = rows[n0 + 3]
            for m in range(M):
                xm = x[m]
                if fast:   # whole rows in vector registers (tables.byte_row4), then the zero points' share
                    acc0, acc1, acc2, acc3 = byte_row4(r0, r1, r2, r3, xm, n_groups, group_size, scales, n0 * stride,
                                                       (n0 + 1) * stride, (n0 + 2) * stride, (n0 + 3) * stride,
                                                       U8_TABLE, U8_KIND)
                    out[m, n0] = acc0 - zero_terms(n0 * stride, n_groups, scales, zeros, 8, xsum[m])
                    out[m, n0 + 1] = acc1 - zero_terms((n0 + 1) * stride, n_groups, scales, zeros, 8, xsum[m])
                    out[m, n0 + 2] = acc2 - zero_terms((n0 + 2) * stride, n_groups, scales, zeros, 8, xsum[m])
                    out[m, n0 + 3] = acc3 - zero_terms((n0 + 3) * stride, n_groups, scales, zeros, 8, xsum[m])
                    continue
                acc0 = np.float32(0.0)
                acc1 = np.float32(0.0)
                acc2 = np.float32(0.0)
                acc3 = np.float32(0.0)
                for g in range(n_groups):
                    a0 = np.float32(0.0)
                    a1 = np.float32(0.0)
                    a2 = np.float32(0.0)
                    a3 = np.float32(0.0)
                    # Slice views and a loop from 0: computed indices (base + k) would turn
                    # the loads into gathers (KERNEL-NOTES, item 2).
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
                    acc0 += float_group_term(a0, n0, g, m, stride, 8, scales, zeros, xsum)
                    acc1 += float_group_term(a1, n0 + 1, g, m, stride, 8, scales, zeros, xsum)
                    acc2 += float_group_term(a2, n0 + 2, g, m, stride, 8, scales, zeros, xsum)
                    acc3 += float_group_term(a3, n0 + 3, g, m, stride, 8, scales, zeros, xsum)
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
                        acc += float_group_term(a, n, g, m, stride, 8, scales, zeros, xsum)
                    out[m, n] = acc


def make_fused_u4(half_constant: int = 0):
    """Build ``fused_u4``; with ``half_constant = G // 2`` the group length is a compile-time constant.

    LLVM vectorizes a 16-iteration loop well only if it knows the trip count; the library
    builds kernels specialized to the common group sizes (``SPECIALIZED_GROUPS``) and a
    general one (``half_constant = 0``) for the rest. Kernels built by this factory are cached
    like any other: the closure constant is part of the cache key.
    """

    @jit_fast
    def fused_u4(x_even, x_odd, xsum, rows, group_size, n_groups, stride, scales, zeros, out):
        """4-bit codes, ``rows`` = packed bytes viewed as ``(N, K // 2)``; byte j holds codes 2j (low) and 2j+1.

        ``x_even[m, j] = x[m, 2j]`` and ``x_odd[m, j] = x[m, 2j + 1]``; a group of ``G`` codes is
        ``G // 2`` bytes. Four columns per iteration.
        """
        M = x_even.shape[0]
        N = rows.shape[0]
        half = group_size // 2 if half_constant == 0 else half_constant
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
                        b = g * half
                        for j in range(half):
                            xl = xe[b + j]
                            xh = xo[b + j]
                            l0, h0 = nibbles(r0[b + j])
                            l1, h1 = nibbles(r1[b + j])
                            l2, h2 = nibbles(r2[b + j])
                            l3, h3 = nibbles(r3[b + j])
                            a0 += l0 * xl + h0 * xh
                            a1 += l1 * xl + h1 * xh
                            a2 += l2 * xl + h2 * xh
                            a3 += l3 * xl + h3 * xh
                        acc0 += float_group_term(a0, n0, g, m, stride, 4, scales, zeros, xsum)
                        acc1 += float_group_term(a1, n0 + 1, g, m, stride, 4, scales, zeros, xsum)
                        acc2 += float_group_term(a2, n0 + 2, g, m, stride, 4, scales, zeros, xsum)
                        acc3 += float_group_term(a3, n0 + 3, g, m, stride, 4, scales, zeros, xsum)
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
                                lo, hi = nibbles(r[j])
                                a += lo * x_even[m, j] + hi * x_odd[m, j]
                            acc += float_group_term(a, n, g, m, stride, 4, scales, zeros, xsum)
                        out[m, n] = acc

    return fused_u4


def make_fused_chunks(bits: int):
    """Build ``fused_chunks`` for one code width (the width, its mask and shifts are compile-time constants).

    Measured against ``fused_generic`` on a 1 x 4096 x 4096 product with groups of 128: 3 bits
    1.4-2.1 ms vs 14.7-19.9 ms, 5 bits 1.6-1.9 vs 13.8-18.1 ms, 6 bits 1.8-2.2 vs 13.9-21.9 ms
    (NumPy float32: 1.5-2.0 ms).
    """
    mask = (1 << bits) - 1
    wide = bits > 4  # eight codes of more than 4 bits need a 64-bit word

    @jit_fast
    def fused_chunks(x8, xsum, packed, N, group_size, n_groups, stride, scales, zeros, out):
        """``x8[m, j, c] = x[m, 8c + j]``; chunk ``c`` of row ``n`` = codes ``8c .. 8c + 7`` in ``bits`` bytes."""
        M = x8.shape[0]
        C = x8.shape[2]                    # chunks per row: K // 8
        per_group = group_size // 8
        for n in prange(N):
            row = packed[n * C * bits:(n + 1) * C * bits]
            for m in range(M):
                xm = x8[m]
                x0 = xm[0]
                x1 = xm[1]
                x2 = xm[2]
                x3 = xm[3]
                x4 = xm[4]
                x5 = xm[5]
                x6 = xm[6]
                x7 = xm[7]
                acc = np.float32(0.0)
                for g in range(n_groups):
                    a = np.float32(0.0)
                    for cc in range(per_group):
                        # c from a loop starting at 0: a range starting at g * per_group made
                        # this loop 3-4x slower (measured; see KERNEL-NOTES on computed indices)
                        c = g * per_group + cc
                        if wide:
                            v = np.uint64(0)
                            for t in range(bits):
                                v |= np.uint64(row[c * bits + t]) << np.uint64(8 * t)
                        else:
                            v = np.uint32(0)
                            for t in range(bits):
                                v |= np.uint32(row[c * bits + t]) << np.uint32(8 * t)
                        a += (np.float32(v & mask) * x0[c] + np.float32((v >> bits) & mask) * x1[c]
                              + np.float32((v >> (2 * bits)) & mask) * x2[c] + np.float32((v >> (3 * bits)) & mask) * x3[c]
                              + np.float32((v >> (4 * bits)) & mask) * x4[c] + np.float32((v >> (5 * bits)) & mask) * x5[c]
                              + np.float32((v >> (6 * bits)) & mask) * x6[c] + np.float32((v >> (7 * bits)) & mask) * x7[c])
                    acc += float_group_term(a, n, g, m, stride, bits, scales, zeros, xsum)
                out[m, n] = acc

    return fused_chunks


#: One chunked kernel per width without a byte-aligned kernel of its own (8 and 4 bits have
#: ``fused_u8``/``fused_u4``, which serve every length the chunks could); compiled on first use.
FUSED_CHUNKS = {b: make_fused_chunks(b) for b in (2, 3, 5, 6, 7)}


#: Group sizes with a 4-bit kernel specialized to them (``make_fused_u4``).
fused_u4 = make_fused_u4(0)
_FUSED_U4 = {g: make_fused_u4(g // 2) for g in SPECIALIZED_GROUPS}


def fused_u4_for(group_size: int):
    """The 4-bit kernel for ``group_size``: specialized if it is a common size, else general."""
    return _FUSED_U4.get(group_size, fused_u4)
