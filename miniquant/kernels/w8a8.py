"""W8A8: int8 weights times int8 activations, accumulated in int32, scaled afterwards.

    x ~ sx[m] * xq[m, k]     (dynamic, per token: sx = max|x[m]| / 127, xq = rint(x / sx))
    w ~ s[n] * c[k, n]       (8-bit symmetric weight, per-tensor or per-channel)
    y[m, n] = float32(acc[m, n]) * sx[m] * s[n],   acc = sum_k int32(xq[m, k]) * int32(c[k, n])

Overflow: ``|xq| <= 127`` and ``|c| <= 128`` (full range), so each product is at most
16,256 in magnitude and an int32 sum of ``K`` of them cannot overflow while
``K <= (2**31 - 1) // 16256 = 132,104``; longer reductions are refused.

The integer sum is exact and the epilogue is the same three float32 operations in both
implementations, so ``w8a8_matmul_numba`` equals ``w8a8_matmul_reference`` *bit for bit*.

Two exact integer paths: a Numba kernel, register-blocked over four
weight rows and four activation rows, with int32 accumulators of ``xq * u`` on the unsigned
stored codes ``u = c + z`` (at most ``127 * 255`` each, so ``K <= MAX_K_BLOCKED = 66,311``) and
the zero point applied after the loop; for longer K, float32 BLAS on chunks of
``CHUNK_K = 1024`` along K (slower at every M measured, see ``w8a8_matmul_numba``). That is exact
too: float32 represents every integer below ``2**24 = 16,777,216``, and a chunk's partial
sums never exceed ``1024 * 16,256 = 16,646,144`` in magnitude, whatever order BLAS adds in.
The chunk results are then added in int64.
What W8A8 teaches first is accumulator widths and activation quantization error (compare with
``x @ w``); with the 4 x 4 register blocking it is also faster than NumPy float32 for small and
medium M on this machine. Tests: ``tests/kernels/test_w8a8.py``.
"""
from __future__ import annotations

import numpy as np

from ..quant import choose_qparams, quantize_affine
from ..tensor import QTensor
from ._jit import jit_exact, jit_inline, jit_serial, prange
from .matmul import use_numba
from .operands import check_activations, weight_operands

#: Longest reduction whose int32 accumulator cannot overflow: (2**31 - 1) // (127 * 128).
MAX_K = (2**31 - 1) // (127 * 128)
#: Longest reduction for the blocked kernel, which sums products of int8 activations and *unsigned*
#: codes (up to 127 * 255 each) in int32: (2**31 - 1) // (127 * 255). Longer ones use the BLAS chunks.
MAX_K_BLOCKED = (2**31 - 1) // (127 * 255)
#: Longest K chunk whose integer sums float32 holds exactly: 2**24 // (127 * 128) rounded down to 1024.
CHUNK_K = 1024


def quantize_per_token(x) -> tuple[np.ndarray, np.ndarray]:
    """Dynamic int8 quantization of activations, one scale per row: ``(xq int8 (M, K), sx float32 (M,))``.

    The library's own symmetric 8-bit per-channel quantizer with ``axis=1`` (one scale per
    token), so its conventions (restricted range, round half to even, scale rounded up to
    float32) are the ones documented in ``miniquant.quant``.
    """
    x = np.asarray(x, dtype=np.float32)
    scale, _ = choose_qparams(x, bits=8, granularity="channel", axis=1)
    xq = quantize_affine(x, scale, np.zeros_like(scale, dtype=np.int32), bits=8, granularity="channel", axis=1)
    return xq, scale[:, 0].astype(np.float32)


@jit_inline
def _store_scale_f32(wanted):
    """``quant.scales.store_scale(wanted, float32)`` for one float64 value: rounded up, 0 becomes 1."""
    if wanted == 0.0:
        return np.float32(1.0)
    s = np.float32(wanted)
    if np.float64(s) < wanted:
        s = np.nextafter(s, np.float32(np.inf))
    return s


@jit_serial
def quantize_blocks_numba(x, block, xq, xqsum, scale):
    """``quantize_per_token`` on every run of ``block`` values of each row of ``x`` ``(M, K)``, in Numba, bit for bit.

    Writes ``xq[m, k]`` (int8 codes), ``xqsum[m, b]`` (the sum of block ``b``'s codes) and
    ``scale[m, b]``. The scale is computed as ``quant.scales.store_scale`` does: ``max|x| / 127`` in
    float64, rounded *up* to float32, 1 for an all-zero block, then settled as
    ``quant.scales.settle_symmetric_scale`` does (a subnormal scale); the codes as ``quantize_affine``:
    ``rint(float64(x) / float64(scale))``, clipped to [-127, 127]. The library's NumPy
    quantizer costs ~0.2 ms per call in Python overhead, more than a whole small decode product.
    """
    M, K = x.shape
    for m in range(M):
        for b in range(K // block):
            k0 = b * block
            amax = np.float32(0.0)
            for k in range(k0, k0 + block):
                amax = max(amax, abs(x[m, k]))
            s = _store_scale_f32(np.float64(amax) / 127.0)
            while True:  # quant.scales.settle_symmetric_scale: only subnormal scales ever move
                code = min(np.rint(np.float64(amax) / np.float64(s)), 127.0)
                again = _store_scale_f32(code * np.float64(s) / 127.0)
                if again == s:
                    break
                s = again
            scale[m, b] = s
            total = 0
            for k in range(k0, k0 + block):
                q = np.int8(min(max(np.rint(np.float64(x[m, k]) / np.float64(s)), -127.0), 127.0))
                xq[m, k] = q
                total += np.int32(q)
            xqsum[m, b] = total


def check_w8a8_weight(qt: QTensor):
    """The kernel operands of ``qt``, or ``ValueError`` if W8A8 cannot multiply it (8-bit symmetric, tensor or channel)."""
    op = weight_operands(qt)
    spec = qt.spec
    if spec.bits != 8 or spec.scheme != "symmetric" or spec.granularity == "group":
        raise ValueError(
            "W8A8 needs an 8-bit symmetric weight quantized per tensor or per channel, got "
            f"bits={spec.bits}, scheme={spec.scheme!r}, granularity={spec.granularity!r}"
        )
    if op.K > MAX_K:
        raise ValueError(f"K={op.K} could overflow the int32 accumulator (at most {MAX_K})")
    return op


def w8a8_matmul_reference(x, qt: QTensor) -> np.ndarray:
    """NumPy specification: quantize ``x`` per token, exact integer matmul, then scale."""
    op = check_w8a8_weight(qt)
    x2, lead = check_activations(x, op.K)
    xq, sx = quantize_per_token(x2)
    acc = xq.astype(np.int64) @ qt.codes.astype(np.int64)          # [M, K] @ [K, N], exact
    assert np.abs(acc).max() < 2**31  # guaranteed by MAX_K
    s = np.broadcast_to(qt.scale.astype(np.float32), (1, op.N))[0]  # [N]
    y = acc.astype(np.int32).astype(np.float32) * sx[:, None] * s[None, :]
    return y.reshape(*lead, op.N)


@jit_inline
def _dot_1x4(x, r0, r1, r2, r3):
    """Four exact int32 dot products of one activation row with four rows of unsigned codes."""
    c0 = np.int32(0)
    c1 = np.int32(0)
    c2 = np.int32(0)
    c3 = np.int32(0)
    for k in range(x.shape[0]):
        a = np.int32(x[k])
        # int32 casts keep the multiply-add in 32 bits (KERNEL-NOTES: it otherwise widens to int64)
        c0 = np.int32(c0 + a * np.int32(r0[k]))
        c1 = np.int32(c1 + a * np.int32(r1[k]))
        c2 = np.int32(c2 + a * np.int32(r2[k]))
        c3 = np.int32(c3 + a * np.int32(r3[k]))
    return c0, c1, c2, c3


@jit_exact
def _w8a8_kernel(xq, rows, acc):
    """``acc[m, n] = sum_k xq[m, k] * u[n, k]`` in int32 with the *unsigned* stored codes, blocked 4 x 4.

    Each iteration owns four output columns (four weight rows ``r0..r3``) and walks the rows of
    ``xq`` four at a time, so every weight byte loaded serves four activation rows and every
    activation byte four weight rows: 16 independent int32 accumulators, which LLVM turns into
    multiply-adds of small integers (``vpdpwssd``/``vpdpbusd`` where the CPU has them). The
    zero point is applied afterwards (``w8a8_matmul_numba``): subtracting it inside the loop
    doubled the time. Measured at M = 32, K = 4096, N = 11008: 13.5 ms, against 32 ms with the
    subtraction inside and 58-74 ms for one (m, n) pair at a time (NumPy float32: 24 ms).
    """
    M, K = xq.shape
    N = rows.shape[0]
    for blk in prange((N + 3) // 4):
        n0 = 4 * blk
        if n0 + 4 > N:  # the last columns, one at a time
            for n in range(n0, N):
                r = rows[n]
                for m in range(M):
                    x = xq[m]
                    c = np.int32(0)
                    for k in range(K):
                        c = np.int32(c + np.int32(x[k]) * np.int32(r[k]))
                    acc[m, n] = c
            continue
        r0 = rows[n0]
        r1 = rows[n0 + 1]
        r2 = rows[n0 + 2]
        r3 = rows[n0 + 3]
        m_blocked = M - M % 4
        for m0 in range(0, m_blocked, 4):
            x0 = xq[m0]
            x1 = xq[m0 + 1]
            x2 = xq[m0 + 2]
            x3 = xq[m0 + 3]
            c00 = np.int32(0)
            c01 = np.int32(0)
            c02 = np.int32(0)
            c03 = np.int32(0)
            c10 = np.int32(0)
            c11 = np.int32(0)
            c12 = np.int32(0)
            c13 = np.int32(0)
            c20 = np.int32(0)
            c21 = np.int32(0)
            c22 = np.int32(0)
            c23 = np.int32(0)
            c30 = np.int32(0)
            c31 = np.int32(0)
            c32 = np.int32(0)
            c33 = np.int32(0)
            for k in range(K):
                w0 = np.int32(r0[k])
                w1 = np.int32(r1[k])
                w2 = np.int32(r2[k])
                w3 = np.int32(r3[k])
                a0 = np.int32(x0[k])
                a1 = np.int32(x1[k])
                a2 = np.int32(x2[k])
                a3 = np.int32(x3[k])
                c00 = np.int32(c00 + a0 * w0)
                c01 = np.int32(c01 + a0 * w1)
                c02 = np.int32(c02 + a0 * w2)
                c03 = np.int32(c03 + a0 * w3)
                c10 = np.int32(c10 + a1 * w0)
                c11 = np.int32(c11 + a1 * w1)
                c12 = np.int32(c12 + a1 * w2)
                c13 = np.int32(c13 + a1 * w3)
                c20 = np.int32(c20 + a2 * w0)
                c21 = np.int32(c21 + a2 * w1)
                c22 = np.int32(c22 + a2 * w2)
                c23 = np.int32(c23 + a2 * w3)
                c30 = np.int32(c30 + a3 * w0)
                c31 = np.int32(c31 + a3 * w1)
                c32 = np.int32(c32 + a3 * w2)
                c33 = np.int32(c33 + a3 * w3)
            acc[m0, n0] = c00
            acc[m0, n0 + 1] = c01
            acc[m0, n0 + 2] = c02
            acc[m0, n0 + 3] = c03
            acc[m0 + 1, n0] = c10
            acc[m0 + 1, n0 + 1] = c11
            acc[m0 + 1, n0 + 2] = c12
            acc[m0 + 1, n0 + 3] = c13
            acc[m0 + 2, n0] = c20
            acc[m0 + 2, n0 + 1] = c21
            acc[m0 + 2, n0 + 2] = c22
            acc[m0 + 2, n0 + 3] = c23
            acc[m0 + 3, n0] = c30
            acc[m0 + 3, n0 + 1] = c31
            acc[m0 + 3, n0 + 2] = c32
            acc[m0 + 3, n0 + 3] = c33
        for m in range(m_blocked, M):  # the last rows (all of them when M < 4, e.g. decode)
            c0, c1, c2, c3 = _dot_1x4(xq[m], r0, r1, r2, r3)
            acc[m, n0] = c0
            acc[m, n0 + 1] = c1
            acc[m, n0 + 2] = c2
            acc[m, n0 + 3] = c3


@jit_exact
def _codes_as_float(rows, zero_const, k0, k1, out):
    """``out[n, k - k0] = float32(u[n, k] - z)``: the signed weight codes of one K chunk."""
    z = np.float32(zero_const)
    for n in prange(rows.shape[0]):
        r = rows[n, k0:k1]
        o = out[n]
        for k in range(k1 - k0):
            o[k] = np.float32(r[k]) - z


def _w8a8_blas(xq, sx, op) -> np.ndarray:
    """Exact integer accumulation with float32 BLAS on K chunks of ``CHUNK_K`` (module docstring)."""
    M, K = xq.shape
    rows = op.packed.reshape(op.N, K)
    acc = np.zeros((M, op.N), np.int64)
    xf = xq.astype(np.float32)
    buffer = np.empty((op.N, min(CHUNK_K, K)), np.float32)
    for k0 in range(0, K, CHUNK_K):
        k1 = min(k0 + CHUNK_K, K)
        c = buffer[:, : k1 - k0]
        _codes_as_float(rows, op.zeros[0], k0, k1, c)              # [N, chunk] exact small integers
        acc += (xf[:, k0:k1] @ c.T).astype(np.int64)                 # exact: every partial sum < 2**24
    s = _scales(op)
    return acc.astype(np.int32).astype(np.float32) * sx[:, None] * s[None, :]


def _scales(op) -> np.ndarray:
    """Per-output-column float32 scales ``s[n]`` of a per-tensor or per-channel weight."""
    stored = op.scales.view(np.float16).astype(np.float32) if op.scales.dtype == np.uint16 else op.scales
    return np.broadcast_to(stored, (op.N,)) if stored.size == 1 else stored


def w8a8_matmul_numba(x, qt: QTensor, *, chunks: bool | None = None) -> np.ndarray:
    """The Numba W8A8 paths; bitwise equal to ``w8a8_matmul_reference``.

    The blocked int32 kernel on the unsigned codes, then ``acc - z * sum_k xq[m, k]`` in int64
    (exact); the exact float32-BLAS chunks when ``K > MAX_K_BLOCKED`` or ``chunks=True``.
    Measured at K = 4096, N = 11008 (one run): the blocked kernel took 3.0 / 8.9 / 19.1 / 66 /
    260 ms at M = 1 / 8 / 32 / 128 / 512, the chunks 35 / 56 / 86 / 117 / 343 ms, NumPy float32
    ``x @ w`` 4.4 / 14.5 / 24.6 / 68 / 228 ms.
    """
    op = check_w8a8_weight(qt)
    x2, lead = check_activations(x, op.K)
    M = x2.shape[0]
    xq, xqsum, sx = np.empty((M, op.K), np.int8), np.empty((M, 1), np.int32), np.empty((M, 1), np.float32)
    quantize_blocks_numba(x2, op.K, xq, xqsum, sx)                  # = quantize_per_token(x2), bit for bit
    sx = sx[:, 0]
    if chunks or op.K > MAX_K_BLOCKED:
        return _w8a8_blas(xq, sx, op).reshape(*lead, op.N)
    acc_u = np.empty((M, op.N), np.int32)
    _w8a8_kernel.for_work(M * op.K * op.N)(xq, op.packed.reshape(op.N, op.K), acc_u)
    z = int(op.zeros[0])                                             # -qmin: u = c + z
    acc = (acc_u.astype(np.int64) - z * xqsum.astype(np.int64)).astype(np.int32)
    y = acc.astype(np.float32) * sx[:, None] * _scales(op)[None, :]
    return y.reshape(*lead, op.N)


def w8a8_matmul(x, qt: QTensor, *, backend: str = "auto") -> np.ndarray:
    """``y ~ x @ w`` with both operands in int8 (see the module docstring for the exact rule)."""
    return (w8a8_matmul_numba if use_numba(backend) else w8a8_matmul_reference)(x, qt)
