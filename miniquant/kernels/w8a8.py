"""W8A8: int8 weights times int8 activations, accumulated in int32, scaled afterwards.

    x ~ sx[m] * xq[m, k]     (dynamic, per token: sx = max|x[m]| / 127, xq = rint(x / sx))
    w ~ s[n] * c[k, n]       (8-bit symmetric weight, per-tensor or per-channel)
    y[m, n] = float32(acc[m, n]) * sx[m] * s[n],   acc = sum_k int32(xq[m, k]) * int32(c[k, n])

Overflow: ``|xq| <= 127`` and ``|c| <= 128`` (full range), so each product is at most
16,256 in magnitude and an int32 sum of ``K`` of them cannot overflow while
``K <= (2**31 - 1) // 16256 = 132,104``; longer reductions are refused.

The integer sum is exact and the epilogue is the same three float32 operations in both
implementations, so ``w8a8_matmul_numba`` equals ``w8a8_matmul_reference`` *bit for bit*.

Two exact integer paths: for few rows a fused Numba loop with an int32 accumulator; from
``PREFILL_M`` rows on, float32 BLAS on chunks of ``CHUNK_K = 1024`` along K. That is exact
too: float32 represents every integer below ``2**24 = 16,777,216``, and a chunk's partial
sums never exceed ``1024 * 16,256 = 16,646,144`` in magnitude, whatever order BLAS adds in.
The chunk results are then added in int64.
What W8A8 teaches is accumulator widths and activation quantization error (compare with
``x @ w``), not speed: in Numba it does not reach the int8 dot-product instructions
(``KERNEL-NOTES.md``). Tests: ``tests/kernels/test_w8a8.py``.
"""
from __future__ import annotations

import numpy as np

from ..quant import choose_qparams, quantize_affine
from ..tensor import QTensor
from ._jit import jit_exact, prange
from ._codes import scale_value
from .matmul import PREFILL_M, use_numba
from .operands import check_activations, weight_operands

#: Longest reduction whose int32 accumulator cannot overflow: (2**31 - 1) // (127 * 128).
MAX_K = (2**31 - 1) // (127 * 128)
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


def _check_weight(qt: QTensor):
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
    op = _check_weight(qt)
    x2, lead = check_activations(x, op.K)
    xq, sx = quantize_per_token(x2)
    acc = xq.astype(np.int64) @ qt.codes.astype(np.int64)          # [M, K] @ [K, N], exact
    assert np.abs(acc).max() < 2**31  # guaranteed by MAX_K
    s = np.broadcast_to(qt.scale.astype(np.float32), (1, op.N))[0]  # [N]
    y = acc.astype(np.int32).astype(np.float32) * sx[:, None] * s[None, :]
    return y.reshape(*lead, op.N)


@jit_exact
def _w8a8_kernel(xq, sx, rows, zero_const, stride, scales, out):
    """``out[m, n] = float32(sum_k xq[m, k] * (u[n, k] - z)) * sx[m] * s[n]`` with int32 sums."""
    M, K = xq.shape
    N = rows.shape[0]
    z = np.int32(zero_const)
    for n in prange(N):
        r = rows[n]
        s = scale_value(scales, n * stride)
        for m in range(M):
            xm = xq[m]
            acc = np.int32(0)
            for k in range(K):
                # int32 casts keep the multiply-add in 32 bits (KERNEL-NOTES: it otherwise widens to int64)
                acc = np.int32(acc + np.int32(xm[k]) * (np.int32(r[k]) - z))
            out[m, n] = np.float32(acc) * sx[m] * s


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


def w8a8_matmul_numba(x, qt: QTensor) -> np.ndarray:
    """The Numba W8A8 paths; bitwise equal to ``w8a8_matmul_reference``."""
    op = _check_weight(qt)
    x2, lead = check_activations(x, op.K)
    xq, sx = quantize_per_token(x2)
    if x2.shape[0] >= PREFILL_M:
        return _w8a8_blas(xq, sx, op).reshape(*lead, op.N)
    out = np.empty((x2.shape[0], op.N), np.float32)
    _w8a8_kernel(xq, sx, op.packed.reshape(op.N, op.K), op.zeros[0], op.scale_stride, op.scales, out)
    return out.reshape(*lead, op.N)


def w8a8_matmul(x, qt: QTensor, *, backend: str = "auto") -> np.ndarray:
    """``y ~ x @ w`` with both operands in int8 (see the module docstring for the exact rule)."""
    return (w8a8_matmul_numba if use_numba(backend) else w8a8_matmul_reference)(x, qt)
