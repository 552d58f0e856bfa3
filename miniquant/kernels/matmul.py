"""``qmatmul``: ``y = x @ w`` for float activations and a quantized weight ``w``.

Three names, as for every kernel family:

* ``qmatmul_reference(x, qt)`` -- the specification, ``x @ qt.dequantize()`` in float32;
* ``qmatmul_numba(x, qt)`` -- fused kernels for small ``M`` (``fused.py``), dequantize-tile +
  BLAS for large ``M`` (``tiled.py``);
* ``qmatmul(x, qt, backend="auto")`` -- the public entry point.

Tolerance (float paths differ from the reference only in float32 rounding)::

    |y - y_ref| <= 4 * K * (eps32 * T + eta32),   T[m, n] = sum_k |x[m, k]| * (u[n, k] + |z|) * s[n, g(k)]

a worst-case bound for sums of ``2K`` float32 terms in any order (each of ``y`` and ``y_ref``
stays within ``2 K (eps32 T + eta32)`` of the exact value; ``T`` bounds the magnitudes the
kernels add, including the ``z * xsum`` term, and ``eta32`` (the smallest subnormal) covers
results that underflow). ``qmatmul_tolerance`` computes it. Tests:
``tests/kernels/test_matmul.py``.
"""
from __future__ import annotations

import numpy as np

from ..tensor import QTensor
from ._jit import HAS_AVX512, NUMBA_AVAILABLE
from .fused import FUSED_CHUNKS, fused_generic, fused_u4_for, fused_u8
from .operands import check_activations, check_weight, group_sums, weight_operands
from .tables import _NO_XSUM, _NO_ZEROS, fused_t4, table_kernel_for, table_matmul, table_operands
from .tiled import tiled_matmul

BACKENDS = ("auto", "numpy", "numba")
#: The value of every unsigned 4-bit code ``u`` for a symmetric grid with ``qmin`` (key ``qmin``; 0: ``u`` itself).
_INT4_TABLES = {qmin: (np.arange(16) + qmin).astype(np.float32) for qmin in (-8, -7, 0)}
#: From this many rows of ``x`` on, dequantize-tile + BLAS beats the fused loops. Measured with
#: ``speed.crossover`` (4-bit g32, K = N = 4096, two runs): fused 6.0-7.1 / 8.9-10.4 / 11.8-13.7 ms
#: at M = 8 / 12 / 16, tile+BLAS 8.6-11.9 / 10.3-13.5 / 9.9-11.3 ms.
PREFILL_M = 16


def qmatmul_reference(x, qt: QTensor) -> np.ndarray:
    """The specification: ``y = x @ qt.dequantize()`` in float32, shape ``(..., N)``."""
    K, N = check_weight(qt).shape
    x2, lead = check_activations(x, K)
    return (x2 @ qt.dequantize()).reshape(*lead, N)


def fused_matmul(x2: np.ndarray, op) -> np.ndarray:
    """The fused kernel for ``op``'s bit-width on float32 ``x2`` of shape ``(M, K)``."""
    M, K = x2.shape
    out = np.empty((M, op.N), np.float32)
    common = (op.group_size, op.n_groups, op.scale_stride, op.scales, op.zeros, out)
    _run_fused(x2, op, common, M * K * op.N)
    return out


def fused_path(op) -> str:
    """Which fused kernel serves ``op``: ``"u8"``, ``"t4"`` (4 bits, groups of a multiple of 32, AVX-512: the
    table kernel), ``"u4"``, ``"chunks"`` (any width, lengths multiple of 8) or ``"generic"``."""
    if op.bits == 8:
        return "u8"
    if op.bits == 4 and HAS_AVX512 and op.group_size % 32 == 0:
        return "t4"
    if op.bits == 4 and op.K % 2 == 0 and op.group_size % 2 == 0:
        return "u4"
    if op.K % 8 == 0 and op.group_size % 8 == 0:
        return "chunks"
    return "generic"


def _run_fused(x2, op, common, work: int) -> None:
    """Run ``op``'s fused kernel, serial below ``SERIAL_WORK`` multiply-adds (``TwoWayKernel.for_work``)."""
    M, K = x2.shape
    path = fused_path(op)
    symmetric_t4 = path == "t4" and op.zeros.dtype != np.uint8
    xsum = _NO_XSUM if symmetric_t4 else group_sums(x2, op.group_size)   # the zero points' share needs it
    if path == "u8":
        fused_u8.for_work(work)(x2, xsum, op.packed.reshape(op.N, K), *common)
    elif path == "t4":       # a 4-bit integer grid is a 16-entry table: the permute kernel of NF4 (tables.py)
        x_even = np.ascontiguousarray(x2[:, 0::2])
        x_odd = np.ascontiguousarray(x2[:, 1::2])
        group_size, n_groups, stride, scales, zeros, out = common
        if zeros.dtype == np.uint8:       # asymmetric: codes u, the zero points subtracted per group
            table, zero_bits = _INT4_TABLES[0], 4
        else:                             # symmetric: the table holds u - z = u + qmin, no zero point left
            table, zeros, zero_bits = _INT4_TABLES[-int(zeros[0])], _NO_ZEROS, 0
        fused_t4.for_work(work)(x_even, x_odd, xsum, op.packed.reshape(op.N, K // 2), group_size, n_groups, stride,
                                scales, table, zeros, zero_bits, out)
    elif path == "u4":
        x_even = np.ascontiguousarray(x2[:, 0::2])  # [M, K/2]: the codes in low nibbles
        x_odd = np.ascontiguousarray(x2[:, 1::2])   # [M, K/2]: the codes in high nibbles
        fused_u4_for(op.group_size).for_work(work)(x_even, x_odd, xsum, op.packed.reshape(op.N, K // 2), *common)
    elif path == "chunks":
        x8 = np.ascontiguousarray(x2.reshape(M, K // 8, 8).transpose(0, 2, 1))  # [M, 8, K/8]
        FUSED_CHUNKS[op.bits].for_work(work)(x8, xsum, op.packed, op.N, *common)
    else:
        fused_generic.for_work(work)(x2, xsum, op.packed, op.bits, op.N, *common)


def qmatmul_numba(x, qt: QTensor, *, prefill_m: int = PREFILL_M) -> np.ndarray:
    """Numba paths: fused kernels below ``prefill_m`` rows of ``x``, dequantize-tile + BLAS from it on.

    Element formats: the table kernels (``tables.py``) below ``prefill_m`` rows, else (and for formats
    without a table kernel) the reference, which dequantizes once and calls BLAS.
    """
    if check_weight(qt).spec.format != "int":
        K, N = qt.shape
        x2, lead = check_activations(x, K)
        y = None
        if x2.shape[0] < prefill_m and table_kernel_for(qt) is not None:
            y = table_matmul(x2, table_operands(qt))
        if y is None:
            y = x2 @ qt.dequantize()
        return y.reshape(*lead, N)
    op = weight_operands(qt)
    x2, lead = check_activations(x, op.K)
    y = tiled_matmul(x2, op) if x2.shape[0] >= prefill_m else fused_matmul(x2, op)
    return y.reshape(*lead, op.N)


def qmatmul(x, qt: QTensor, *, backend: str = "auto") -> np.ndarray:
    """``y = x @ w`` for a quantized weight: what ``x @ qt.dequantize()`` returns, within ``qmatmul_tolerance``.

    Parameters
    ----------
    x : ndarray of float, shape ``(..., K)``
        Activations; computed in float32.
    qt : QTensor
        A weight of shape ``(K, N)`` quantized along ``axis=0``: any bit-width 2-8, scheme,
        granularity and scale dtype, or an element or MX format (``spec.format``): NF4, FP4, FP8,
        MXFP4 and MXFP8 have table kernels (``tables.py``), the others run the reference.
    backend : {"auto", "numpy", "numba"}
        ``"auto"`` uses Numba when it is available (``miniquant.kernels.NUMBA_AVAILABLE``).

    Returns
    -------
    ndarray of float32, shape ``(..., N)``

    Examples
    --------
    >>> import numpy as np, miniquant as mq
    >>> rng = np.random.default_rng(0)
    >>> w = rng.standard_normal((64, 16)).astype(np.float32)
    >>> qt = mq.quantize(w, bits=4, group_size=32)
    >>> x = rng.standard_normal((2, 64)).astype(np.float32)
    >>> y = qmatmul(x, qt)
    >>> bool(np.all(np.abs(y - x @ qt.dequantize()) <= qmatmul_tolerance(x, qt)))
    True
    """
    return (qmatmul_numba if use_numba(backend) else qmatmul_reference)(x, qt)


def use_numba(backend: str) -> bool:
    """Resolve ``backend`` ("auto", "numpy" or "numba") to whether the Numba path runs."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    if backend == "numba" and not NUMBA_AVAILABLE:
        raise RuntimeError("backend='numba' needs Numba with JIT enabled; use backend='auto' or 'numpy'")
    return backend != "numpy" and NUMBA_AVAILABLE


def qmatmul_tolerance(x, qt: QTensor) -> np.ndarray:
    """The stated bound on ``|qmatmul(x, qt) - qmatmul_reference(x, qt)|``, shape ``(..., N)``.

    ``4 * K * (eps32 * T + eta32)`` with ``T[m, n] = sum_k |x[m, k]| * (u[n, k] + |z[n, g]|) * s[n, g]``
    (module docstring); computed in float64.
    """
    K, N = check_weight(qt).shape
    x2, lead = check_activations(x, K)
    spec = qt.spec
    f32 = np.finfo(np.float32)
    if spec.format != "int":
        T = np.abs(x2.astype(np.float64)) @ np.abs(qt.dequantize().astype(np.float64))
        return (4 * K * (f32.eps * T + f32.smallest_subnormal)).reshape(*lead, N)
    op = weight_operands(qt)
    u = qt.codes.astype(np.float64) - spec.qmin                             # [K, N] unsigned codes
    z = np.abs(qt.zero_point.astype(np.float64) - spec.qmin)                # [K/G, N] effective zeros
    block = qt.block_shape
    s = np.broadcast_to(np.repeat(qt.scale.astype(np.float64), block[0], axis=0), (op.K, op.N))
    z = np.broadcast_to(np.repeat(z, block[0], axis=0), (op.K, op.N))
    T = np.abs(x2.astype(np.float64)) @ ((u + z) * s)                       # [M, N]
    return (4 * op.K * (f32.eps * T + f32.smallest_subnormal)).reshape(*lead, op.N)
