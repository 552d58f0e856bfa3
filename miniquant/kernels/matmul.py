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
from ._jit import HAS_AVX512, NUMBA_AVAILABLE, SERIAL_WORK
from .decode_calls import t4_call, u8_call
from .fused import FUSED_CHUNKS, fused_generic, fused_u4_for, fused_u8
from .operands import NOTHING, activation_pass, check_activations, check_weight, prepared, weight_operands
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
    """The fused kernel for ``op``'s bit-width on float32 ``x2`` of shape ``(M, K)``.

    Raises ``ValueError`` when ``x2`` holds NaN or Inf (checked in ``activation_pass``).
    """
    return FusedProduct(op)(x2)


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


class FusedProduct:
    """``x2 @ w`` through the fused kernel of one weight, decided once (``fused_product(qt)`` keeps it per weight).

    A decode step multiplies each weight by one row of activations; for the shipped model's 128-wide
    matrices the kernel itself takes a few microseconds, so choosing the path and assembling a dozen
    arguments on every call was a third of the cost. Here they are chosen once: ``compiled(x2, out)``
    for the u8 and t4 paths below ``SERIAL_WORK`` (``decode_calls.py``: the pass over ``x`` and the kernel in one
    compiled call), else ``kernel`` (a ``TwoWayKernel``) and ``call(kernel, x2, xsum, x_even, x_odd, out)``,
    which passes the weight's operands in the kernel's order after ``operands.activation_pass``.
    """

    __slots__ = ("path", "K", "N", "work_per_row", "sum_group", "sums", "split", "kernel", "call", "compiled")

    def __init__(self, op):
        self.path = path = fused_path(op)
        self.K, self.N, self.work_per_row = op.K, op.N, op.K * op.N
        self.split = path in ("t4", "u4")        # the 4-bit kernels read x's even and odd elements apart
        self.sum_group = op.group_size
        self.sums = True                          # the zero points' share needs the group sums of x
        self.compiled = None                      # the pass and the kernel in one compiled call (decode_calls.py)
        G, ng, stride, scales, zeros = op.group_size, op.n_groups, op.scale_stride, op.scales, op.zeros
        if path == "u8":
            rows = op.packed.reshape(op.N, op.K)
            self.kernel = fused_u8
            self.call = lambda k, x2, xsum, xe, xo, out: k(x2, xsum, rows, G, ng, stride, scales, zeros, out)
            self.compiled = lambda x2, out: u8_call(x2, rows, G, ng, stride, scales, zeros, out)
        elif path == "t4":       # a 4-bit integer grid is a 16-entry table: the permute kernel of NF4 (tables.py)
            rows = op.packed.reshape(op.N, op.K // 2)
            if zeros.dtype == np.uint8:       # asymmetric: codes u, the zero points subtracted per group
                table, zero_bits, symmetric = _INT4_TABLES[0], 4, False
            else:                             # symmetric: the table holds u - z = u + qmin, no zero point left
                table, zeros, zero_bits, symmetric = _INT4_TABLES[-int(zeros[0])], _NO_ZEROS, 0, True
            self.kernel, self.sums = fused_t4, not symmetric
            self.call = lambda k, x2, xsum, xe, xo, out: k(xe, xo, _NO_XSUM if symmetric else xsum, rows, G, ng, stride,
                                                           scales, table, zeros, zero_bits, out)
            self.compiled = lambda x2, out: t4_call(x2, rows, G, ng, stride, scales, table, zeros, zero_bits, out)
        elif path == "u4":
            rows = op.packed.reshape(op.N, op.K // 2)
            self.kernel = fused_u4_for(G)
            self.call = lambda k, x2, xsum, xe, xo, out: k(xe, xo, xsum, rows, G, ng, stride, scales, zeros, out)
        elif path == "chunks":
            packed, N, K = op.packed, op.N, op.K

            def call(k, x2, xsum, xe, xo, out):
                x8 = np.ascontiguousarray(x2.reshape(x2.shape[0], K // 8, 8).transpose(0, 2, 1))  # [M, 8, K/8]
                k(x8, xsum, packed, N, G, ng, stride, scales, zeros, out)
            self.kernel, self.call = FUSED_CHUNKS[op.bits], call
        else:
            packed, bits, N = op.packed, op.bits, op.N
            self.kernel = fused_generic
            self.call = lambda k, x2, xsum, xe, xo, out: k(x2, xsum, packed, bits, N, G, ng, stride, scales, zeros, out)

    def __call__(self, x2: np.ndarray) -> np.ndarray:
        """``x2 @ w`` for float32 C-contiguous ``x2`` ``(M, K)``: float32 ``(M, N)``; serial below ``SERIAL_WORK``."""
        M = x2.shape[0]
        work = M * self.work_per_row
        if self.compiled is not None and work < SERIAL_WORK and NUMBA_AVAILABLE:
            out = np.empty((M, self.N), np.float32)
            if not self.compiled(x2, out):
                raise ValueError("x holds NaN or Inf")
            return out
        xsum = np.empty((M, self.K // self.sum_group), np.float32) if self.sums else NOTHING
        x_even, x_odd = (np.empty((M, self.K // 2), np.float32), np.empty((M, self.K // 2), np.float32)) \
            if self.split else (NOTHING, NOTHING)
        activation_pass(x2, self.sum_group, xsum, x_even, x_odd)
        out = np.empty((M, self.N), np.float32)
        self.call(self.kernel.for_work(work), x2, xsum, x_even, x_odd, out)
        return out


def fused_product(qt: QTensor) -> FusedProduct:
    """The ``FusedProduct`` of integer-grid weight ``qt``, built on first use and kept while ``qt`` lives."""
    return prepared(qt, "fused", lambda qt: FusedProduct(weight_operands(qt)))


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
    K, N = qt.shape
    x2, lead = check_activations(x, K, finite=False)
    if x2.shape[0] >= prefill_m:
        check_activations(x2, K)                   # the NaN/Inf check the fused path makes in its pass over x
        y = tiled_matmul(x2, weight_operands(qt))
    else:
        y = fused_product(qt)(x2)
    return y.reshape(*lead, N)


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
