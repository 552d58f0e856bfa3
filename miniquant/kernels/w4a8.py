"""W4A8: 4-bit weights times int8 activations, summed in int32 group by group, scaled afterwards.

This is the dot product llama.cpp runs on the CPU for its 4-bit formats (``Q4_0 x Q8_0``):
the activations are rounded to int8 once per call, so that the inner loop multiplies small
integers -- 64 of them per instruction with AVX-512 VNNI (``simd.py``) -- instead of
converting every 4-bit code to float. The price is a second rounding, of the activations::

    x[m, k] ~ dx[m, g] * xq[m, k]      dynamic int8, one scale per token and weight group g:
                                       dx = max|x[m, k in g]| / 127 (rounded up to float32),
                                       xq = rint(x / dx), so |xq| <= 127 and |x - dx xq| <= dx / 2
    w[k, n] = s[n, g] * (u[n, k] - z[n, g])            the QTensor as stored (operands.py)
    i[m, n, g] = sum_{k in g} xq[m, k] * u[n, k]  -  z[n, g] * sum_{k in g} xq[m, k]     int32, exact
    y[m, n] = sum over g, in order, of  float32(i[m, n, g]) * s[n, g] * dx[m, g]        float32

Overflow: ``|xq * (u - z)| <= 127 * 15``, so the int32 group sums are exact while the group
size is at most ``MAX_GROUP = (2**31 - 1) // (127 * 15) = 1,127,288`` (per-channel and
per-tensor weights: one group of ``K``).

``w4a8_matmul_numba`` equals ``w4a8_matmul_reference`` *bit for bit*: the integer sums are
exact, the activation rounding follows the library's quantizer exactly, and the epilogue is
the same float32 operations in the same order (the kernel is compiled without ``fastmath``).
Against ``x @ qt.dequantize()`` the difference is the activation rounding,
``|y - x @ w| <= sum_k |w[k, n]| * dx[m, g(k)] / 2`` plus float32 rounding
(``w4a8_error_bound``). Tests: ``tests/kernels/test_w4a8.py``.
"""
from __future__ import annotations

import numpy as np

from ..tensor import QTensor
from ._codes import zero_value
from ._jit import HAS_VNNI, SPECIALIZED_GROUPS, jit_exact, prange
from .matmul import qmatmul_tolerance, use_numba
from .operands import check_activations, weight_operands
from .simd import dots4, int_group_term, group_terms4, prefetch, q4_q8_dot
from .tables import block_columns, store4
from .w8a8 import quantize_blocks_numba, quantize_per_token

#: Longest group (or K, for per-channel and per-tensor weights) whose int32 sums cannot overflow.
MAX_GROUP = (2**31 - 1) // (127 * 15)


def check_w4a8_weight(qt: QTensor):
    """The kernel operands of ``qt``, or ``ValueError`` if W4A8 cannot multiply it (4 bits, even groups, no overflow)."""
    op = weight_operands(qt)
    if op.bits != 4:
        raise ValueError(f"W4A8 needs a 4-bit weight, got bits={op.bits}")
    if op.group_size % 2:
        raise ValueError(
            f"W4A8 needs an even group size (two codes per byte, none shared by two groups), "
            f"got a group of {op.group_size}"
        )
    if op.group_size > MAX_GROUP:
        raise ValueError(f"a group of {op.group_size} could overflow the int32 sums (at most {MAX_GROUP})")
    return op


def quantize_activations(x, group_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Dynamic int8 quantization of ``x`` ``(M, K)`` in blocks of ``group_size`` along K.

    Returns ``(xq int8 (M, K), dx float32 (M, K // group_size))``: the library's symmetric 8-bit
    quantizer (``w8a8.quantize_per_token``) applied to each block as if it were a token.
    """
    x = np.asarray(x, dtype=np.float32)
    M, K = x.shape
    xq, dx = quantize_per_token(x.reshape(M * (K // group_size), group_size))
    return xq.reshape(M, K), dx.reshape(M, K // group_size)


def w4a8_matmul_reference(x, qt: QTensor) -> np.ndarray:
    """NumPy specification (module docstring): quantize ``x`` per group, exact integer sums, then scale."""
    op = check_w4a8_weight(qt)
    x2, lead = check_activations(x, op.K)
    M, G, n_groups = x2.shape[0], op.group_size, op.n_groups
    xq, dx = quantize_activations(x2, G)
    u = qt.codes.astype(np.int64) - qt.spec.qmin                                      # [K, N] unsigned codes
    z = np.broadcast_to(qt.zero_point.astype(np.int64) - qt.spec.qmin, (n_groups, op.N))  # [G's, N]
    s = np.broadcast_to(qt.scale.astype(np.float32), (n_groups, op.N))
    y = np.zeros((M, op.N), np.float32)
    for g in range(n_groups):
        block = slice(g * G, (g + 1) * G)
        xg = xq[:, block].astype(np.int64)
        exact = xg @ u[block] - xg.sum(axis=1, keepdims=True) * z[g]              # [M, N], int64
        assert np.abs(exact).max() < 2**31  # guaranteed by MAX_GROUP
        y += exact.astype(np.int32).astype(np.float32) * s[g] * dx[:, g:g + 1]
    return y.reshape(*lead, op.N)


def make_w4a8_kernel(group_bytes: int = 0):
    """Build the W4A8 kernel; with ``group_bytes = G // 2`` the group length is a compile-time constant.

    A constant length lets LLVM drop the branches of ``q4_q8_dot`` that cannot run (a group of
    128 is exactly one 64-byte ``vpdpbusd`` run). Groups of 32 (16 bytes) are taken four at a
    time through ``simd.group_terms4``: one 512-bit instruction pair and one vector epilogue for
    four groups. Measured at 1 x 4096 x 4096, best of 60 calls: 0.26 ms, against 0.33-0.34 ms
    with four 128-bit pairs and scalar epilogues and 0.46 ms one group at a time. Kernels built
    here are cached like any other: the closure constant is part of the cache key.
    """

    @jit_exact
    def w4a8_kernel(xe, xo, xqsum, dx, rows, group_size, n_groups, stride, scales, zeros, out):
        """``out[m, n] = y[m, n]`` (module docstring); ``rows`` = packed codes as ``(N, K // 2)`` bytes.

        One output column per iteration; a group is ``group_size // 2`` bytes of its row, summed by
        ``q4_q8_dot`` (VNNI when the CPU has it). The zero point and the scales are applied once per
        group, after the integer sum, in the order of the groups.
        """
        M = xe.shape[0]
        N = rows.shape[0]
        nbytes = group_size // 2 if group_bytes == 0 else group_bytes
        quads = n_groups // 4 if group_bytes == 16 else 0   # a constant 0 unless groups of 32
        for n in prange(N):
            row = rows[n]
            # the row two ahead, a line per 64 bytes: the stream prefetchers restart at every 4 KB page,
            # which a row of 4096 codes (2 KB) crosses every other row
            ahead = rows[min(n + 2, N - 1)]
            for j in range(0, rows.shape[1], 64):
                prefetch(ahead, j)
            for m in range(M):
                e = xe[m]
                o = xo[m]
                acc = np.float32(0.0)
                dx_row = dx[m]
                xsum_row = xqsum[m]
                for q in range(quads):
                    g = 4 * q
                    i = n * stride + g
                    t0, t1, t2, t3 = group_terms4(
                        row, e, o, 64 * q, scales, i, dx_row, xsum_row, g,
                        np.int32(zero_value(zeros, i, 4)), np.int32(zero_value(zeros, i + 1, 4)),
                        np.int32(zero_value(zeros, i + 2, 4)), np.int32(zero_value(zeros, i + 3, 4)))
                    acc += t0   # in the order of the groups, as the reference adds them
                    acc += t1
                    acc += t2
                    acc += t3
                for g in range(4 * quads, n_groups):
                    dot = q4_q8_dot(row, e, o, g * nbytes, nbytes)
                    i = n * stride + g
                    acc += int_group_term(dot, zero_value(zeros, i, 4), scales, i, xqsum[m, g], dx[m, g])
                out[m, n] = acc

    return w4a8_kernel


def make_w4a8_rows4_kernel(group_bytes: int = 0):
    """Build the four-column W4A8 kernel for groups of a multiple of 128 codes (``group_bytes = G // 2`` a
    multiple of 64 as a compile-time constant, or 0: read from ``group_size``).

    Same arguments and the same result, bit for bit, as ``make_w4a8_kernel``'s, for a different loop:
    each iteration owns four output columns, so one load of ``xe`` and ``xo`` serves four rows and the
    four int32 sums of a 64-byte run are added in one transposing tree (``simd.dots4``) instead of a lane
    sum each. The zero points and the scales follow per group and per row, in the order of the groups.
    The next block's rows are prefetched while this one is read.
    """

    @jit_exact
    def w4a8_rows4_kernel(xe, xo, xqsum, dx, rows, group_size, n_groups, stride, scales, zeros, out):
        """``out[m, n] = y[m, n]`` (module docstring), four columns per iteration; the last block repeats a row."""
        M = xe.shape[0]
        N = rows.shape[0]
        nbytes = group_size // 2 if group_bytes == 0 else group_bytes
        for blk in prange((N + 3) // 4):
            n0, n1, n2, n3 = block_columns(blk, N)
            r0, r1, r2, r3 = rows[n0], rows[n1], rows[n2], rows[n3]
            p0, p1 = rows[min(n0 + 4, N - 1)], rows[min(n0 + 5, N - 1)]
            p2, p3 = rows[min(n0 + 6, N - 1)], rows[min(n0 + 7, N - 1)]
            i0, i1, i2, i3 = n0 * stride, n1 * stride, n2 * stride, n3 * stride
            for m in range(M):
                e = xe[m]
                o = xo[m]
                acc0 = np.float32(0.0)
                acc1 = np.float32(0.0)
                acc2 = np.float32(0.0)
                acc3 = np.float32(0.0)
                for g in range(n_groups):
                    d0 = np.int32(0)
                    d1 = np.int32(0)
                    d2 = np.int32(0)
                    d3 = np.int32(0)
                    for j in range(g * nbytes, (g + 1) * nbytes, 64):
                        if m == 0:
                            prefetch(p0, j)
                            prefetch(p1, j)
                            prefetch(p2, j)
                            prefetch(p3, j)
                        t0, t1, t2, t3 = dots4(r0, r1, r2, r3, e, o, j)
                        d0 = np.int32(d0 + t0)
                        d1 = np.int32(d1 + t1)
                        d2 = np.int32(d2 + t2)
                        d3 = np.int32(d3 + t3)
                    xs = xqsum[m, g]
                    step = dx[m, g]
                    acc0 += int_group_term(d0, zero_value(zeros, i0 + g, 4), scales, i0 + g, xs, step)
                    acc1 += int_group_term(d1, zero_value(zeros, i1 + g, 4), scales, i1 + g, xs, step)
                    acc2 += int_group_term(d2, zero_value(zeros, i2 + g, 4), scales, i2 + g, xs, step)
                    acc3 += int_group_term(d3, zero_value(zeros, i3 + g, 4), scales, i3 + g, xs, step)
                store4(out[m], n0, N, acc0, acc1, acc2, acc3)

    return w4a8_rows4_kernel


#: Group sizes with a kernel specialized to them; any other even size uses the general one.
_KERNELS = {g: make_w4a8_kernel(g // 2) for g in SPECIALIZED_GROUPS}
_w4a8_kernel = make_w4a8_kernel(0)
#: Groups of a multiple of 128 codes on a CPU with VNNI: four columns per iteration (``make_w4a8_rows4_kernel``).
_ROWS4_KERNELS = {64: make_w4a8_rows4_kernel(64)}
_w4a8_rows4_kernel = make_w4a8_rows4_kernel(0)


def w4a8_kernel_for(group_size: int):
    """The W4A8 kernel for ``group_size``: with VNNI and groups of a multiple of 128, four columns per iteration
    (specialized for 128); else one column per iteration, specialized if ``group_size`` is a common size."""
    if HAS_VNNI and group_size % 128 == 0:
        return _ROWS4_KERNELS.get(group_size // 2, _w4a8_rows4_kernel)
    return _KERNELS.get(group_size, _w4a8_kernel)


def w4a8_matmul_numba(x, qt: QTensor) -> np.ndarray:
    """The Numba W4A8 path: activations quantized in Numba, then the int32 kernel; bitwise equal to the reference."""
    op = check_w4a8_weight(qt)
    x2, lead = check_activations(x, op.K)
    M, K, N = x2.shape[0], op.K, op.N
    xq = np.empty((M, K), np.int8)
    xqsum = np.empty((M, op.n_groups), np.int32)
    dx = np.empty((M, op.n_groups), np.float32)
    quantize_blocks_numba(x2, op.group_size, xq, xqsum, dx)
    xe = np.ascontiguousarray(xq[:, 0::2])   # [M, K/2]: the codes in low nibbles multiply these
    xo = np.ascontiguousarray(xq[:, 1::2])   # [M, K/2]: the codes in high nibbles
    out = np.empty((M, N), np.float32)
    w4a8_kernel_for(op.group_size).for_work(M * K * N)(xe, xo, xqsum, dx, op.packed.reshape(N, K // 2), op.group_size,
                                                       op.n_groups, op.scale_stride, op.scales, op.zeros, out)
    return out.reshape(*lead, N)


def w4a8_matmul(x, qt: QTensor, *, backend: str = "auto") -> np.ndarray:
    """``y ~ x @ w`` for a 4-bit weight, with the activations rounded to int8 per group (module docstring).

    Parameters
    ----------
    x : ndarray of float, shape ``(..., K)``
    qt : QTensor
        A 4-bit weight of shape ``(K, N)`` quantized along ``axis=0``: symmetric or asymmetric,
        per tensor, per channel or in groups of an even size; float16 or float32 scales.
    backend : {"auto", "numpy", "numba"}

    Returns
    -------
    ndarray of float32, shape ``(..., N)``; within ``w4a8_error_bound(x, qt)`` of ``x @ qt.dequantize()``.

    Examples
    --------
    >>> import numpy as np, miniquant as mq
    >>> rng = np.random.default_rng(0)
    >>> qt = mq.quantize(rng.standard_normal((256, 8)).astype(np.float32), bits=4, group_size=128)
    >>> x = rng.standard_normal((1, 256)).astype(np.float32)
    >>> y = w4a8_matmul(x, qt)
    >>> bool(np.all(np.abs(y - x @ qt.dequantize()) <= w4a8_error_bound(x, qt)))
    True
    """
    return (w4a8_matmul_numba if use_numba(backend) else w4a8_matmul_reference)(x, qt)


def w4a8_error_bound(x, qt: QTensor) -> np.ndarray:
    """A bound on ``|w4a8_matmul(x, qt) - x @ qt.dequantize()|``, shape ``(..., N)``.

    The activation rounding, ``sum_k |w[k, n]| * dx[m, g(k)] / 2`` (each ``x`` moves by at most
    half its step), plus float32 rounding: ``qmatmul_tolerance`` for both sides. Computed in float64.
    """
    op = check_w4a8_weight(qt)
    x2, lead = check_activations(x, op.K)
    _, dx = quantize_activations(x2, op.group_size)
    step = np.repeat(dx.astype(np.float64), op.group_size, axis=1)                  # [M, K]
    rounding = 0.5 * step @ np.abs(qt.dequantize().astype(np.float64))               # [M, N]
    return rounding.reshape(*lead, op.N) + 2 * qmatmul_tolerance(x, qt)


