"""What the kernels read from a ``QTensor`` weight: its stored arrays, flattened, no copies.

A weight ``w`` of shape ``(K, N)`` (``y = x @ w``, blocks along ``axis=0``) is stored with
the block axis last (see ``miniquant.tensor``), so for output column ``n``:

* its ``K`` codes are entries ``n*K .. n*K + K - 1`` of the ``bits``-bit stream ``packed``,
  stored unsigned: ``u = code - qmin``;
* its ``n_groups`` scales are ``scales[n*scale_stride + g]`` (``scale_stride`` is 0 for
  per-tensor, 1 for per-channel, ``K // G`` for groups): the stored float32 values, or the
  stored float16 values read as raw ``uint16`` bits (Numba has no float16 on the CPU); other
  scale formats (float64, bfloat16, E8M0, two-level) are decoded to float32 on each call
  (``n_groups * N`` values) once per weight (``prepared``), except that the table kernels read E8M0
  bytes as they are stored;
* the weight is ``w[k, n] = (u - z) * s`` with the *effective zero point* ``z = zero_point - qmin``:
  ``zeros`` holds either the packed asymmetric zero points (``uint8``; ``qmin = 0``) or, when
  symmetric, a one-element float32 array with the constant ``-qmin``.

The kernels are compiled once per dtype of ``scales`` and of ``zeros``, so the scale format
and the scheme cost no branch in their loops (``_codes.scale_value``, ``_codes.zero_value``).

Every kernel therefore computes, per group ``g`` with ``xsum[m, g] = sum of x[m, k] over the group``::

    y[m, n] = sum_g s[n, g] * (sum_{k in g} x[m, k] * u[n, k]  -  z[n, g] * xsum[m, g])

so symmetric and asymmetric cost the same, and the inner loop is a plain dot product.
"""
from __future__ import annotations

import dataclasses
import weakref

import numpy as np

from ..tensor import QTensor
from ._jit import NUMBA_AVAILABLE, jit_reduce


@dataclasses.dataclass(frozen=True)
class WeightOperands:
    """The flattened stored arrays of a ``(K, N)`` QTensor weight and their geometry."""

    K: int
    N: int
    bits: int
    group_size: int
    n_groups: int
    scale_stride: int
    packed: np.ndarray
    scales: np.ndarray
    zeros: np.ndarray


def check_weight(qt: QTensor) -> QTensor:
    """``qt`` after checking it is a weight ``(K, N)`` quantized along axis 0 (any format)."""
    if not isinstance(qt, QTensor):
        raise TypeError(f"qt must be a QTensor, got {type(qt).__name__}")
    if qt.ndim != 2 or qt.spec.axis % 2 != 0:
        raise ValueError(
            f"qt must be a weight of shape (K, N) quantized along axis 0 (y = x @ w), "
            f"got shape {qt.shape} with axis={qt.spec.axis}"
        )
    return qt


def prepared(qt: QTensor, kind: str, build):
    """``build(qt)``, computed once per QTensor and ``kind`` and kept while ``qt`` lives.

    A decode step multiplies every weight once per token; deciding its geometry, viewing its arrays and
    decoding bfloat16 or two-level scales on every call cost more than the product of a small matrix.
    A QTensor's stored arrays are read-only and never change, so what is prepared from them stays valid.
    """
    per_tensor = _PREPARED.get(qt)
    if per_tensor is None:
        per_tensor = _PREPARED[qt] = {}
    if kind not in per_tensor:
        per_tensor[kind] = build(qt)
    return per_tensor[kind]


_PREPARED: "weakref.WeakKeyDictionary[QTensor, dict]" = weakref.WeakKeyDictionary()


def weight_operands(qt: QTensor) -> WeightOperands:
    """Views of ``qt``'s stored arrays for the integer-grid kernels (see the module docstring); prepared once per weight."""
    return prepared(check_weight(qt), "operands", _weight_operands)


def _weight_operands(qt: QTensor) -> WeightOperands:
    spec = qt.spec
    if spec.format != "int":
        raise ValueError(f"the integer kernels read format='int' weights; format {spec.format!r} codes index a table "
                         "(qmatmul multiplies them through its reference path)")
    K, N = qt.shape
    if spec.granularity == "group":
        group_size, n_groups, stride = spec.group_size, K // spec.group_size, K // spec.group_size
    else:
        group_size, n_groups, stride = K, 1, (1 if spec.granularity == "channel" else 0)
    scales = kernel_scales(qt)
    if spec.scheme == "asymmetric":
        zeros = qt.zero_point_packed
    else:
        zeros = np.array([-spec.qmin], dtype=np.float32)
    return WeightOperands(K=K, N=N, bits=spec.bits, group_size=group_size, n_groups=n_groups,
                          scale_stride=stride, packed=qt.packed, scales=scales, zeros=zeros)


def kernel_scales(qt: QTensor, *, e8m0_bytes: bool = False) -> np.ndarray:
    """The scales as the kernels read them (``_codes.scale_value``), flattened in storage order.

    float32 as stored, float16 as its ``uint16`` bits, E8M0 as its bytes when ``e8m0_bytes`` (the
    table kernels decode them with a 256-entry table); anything else decoded to float32.
    """
    spec = qt.spec
    stored = qt.stored_scale.reshape(-1)
    if not spec.double_quant:
        if spec.scale_dtype == np.float32:
            return stored
        if spec.scale_dtype == np.float16:
            return stored.view(np.uint16)
        if e8m0_bytes and spec.scale_dtype == "e8m0":
            return stored
    return np.ascontiguousarray(np.moveaxis(qt.scale, qt.spec.axis, -1), dtype=np.float32).reshape(-1)


def check_activations(x, K: int, *, finite: bool = True) -> tuple[np.ndarray, tuple[int, ...]]:
    """``x`` of shape ``(..., K)`` as a C-contiguous float32 ``(M, K)`` array, and its leading shape.

    ``finite=False`` leaves the NaN/Inf check to the caller (the fused paths do it in ``activation_pass``,
    in the same pass that sums the groups); the range check of float64 values always runs here.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":                  # np.issubdtype(x.dtype, np.floating), at a tenth of its cost per call
        raise TypeError(f"x must be a floating-point array, got dtype {x.dtype}")
    if x.ndim == 0 or x.shape[-1] != K:
        raise ValueError(f"x must have shape (..., {K}) to multiply a weight with K={K}, got {x.shape}")
    if x.size == 0:
        raise ValueError(f"x must not be empty, got shape {x.shape}")
    # one sum is finite whenever every element is (and is several times cheaper than isfinite on a
    # decode step's vector); only when it is not is each element looked at: NaN/Inf, or an overflowing sum
    if finite and not np.isfinite(x.sum(dtype=np.float64)) and not np.all(np.isfinite(x)):
        raise ValueError("x holds NaN or Inf")
    if x.dtype.itemsize > 4:  # the kernels compute in float32: a larger value would become inf, then NaN
        big = float(np.abs(x).max())
        if big > float(np.finfo(np.float32).max):
            raise ValueError(f"x holds {big:.4g}, beyond float32's range (largest {float(np.finfo(np.float32).max):.4g}); "
                             "the kernels compute in float32")
    lead = x.shape[:-1]
    return np.ascontiguousarray(x.reshape(-1, K), dtype=np.float32), lead


def group_sums(x: np.ndarray, group_size: int) -> np.ndarray:
    """``xsum[m, g]``: the sum of ``x[m, k]`` over each group, float32 ``(M, K // G)``."""
    M, K = x.shape
    return x.reshape(M, K // group_size, group_size).sum(axis=2, dtype=np.float32)


#: What ``activation_pass`` is given for an output it need not write.
NOTHING = np.empty((0, 0), np.float32)


def activation_pass(x: np.ndarray, group_size: int, xsum: np.ndarray, x_even: np.ndarray, x_odd: np.ndarray) -> None:
    """One pass over float32 ``x`` ``(M, K)`` for the fused kernels, writing the outputs it is given.

    ``xsum[m, g]``: the group sums (``group_sums``, float32 ``(M, K // group_size)``, added in float64);
    ``x_even = x[:, 0::2]`` and ``x_odd = x[:, 1::2]`` (``(M, K // 2)`` each: the 4-bit kernels read the low
    and the high nibbles against them). An output passed as ``NOTHING`` is not written. Raises
    ``ValueError`` when ``x`` holds NaN or Inf: a float64 sum of float32 values cannot overflow, so the
    sum of every element is finite exactly when each element is. Why one pass: a decode step's product of
    a small matrix takes a few microseconds, and the NumPy calls this replaces (a finiteness sum, the group
    sums, two strided copies) cost as much again. The outputs are allocated by the caller because arrays
    returned from a Numba function cost a microsecond each to hand back to Python.
    """
    if NUMBA_AVAILABLE:
        finite = _activation_pass(x, group_size, xsum, x_even, x_odd)
    else:                                 # without the JIT: the same in NumPy (the loops would crawl)
        M, K = x.shape
        sums = x.reshape(M, K // group_size, group_size).sum(axis=2, dtype=np.float64)
        finite = bool(np.all(np.isfinite(sums)))
        if xsum.size:
            xsum[...] = sums
        if x_even.size:
            x_even[...], x_odd[...] = x[:, 0::2], x[:, 1::2]
    if not finite:
        raise ValueError("x holds NaN or Inf")


@jit_reduce
def _activation_pass(x, group_size, xsum, x_even, x_odd):
    """``activation_pass`` in one loop over ``x`` (reassociated float64 sums, which vectorize); True if all finite."""
    M, K = x.shape
    sums = xsum.shape[0] > 0
    split = x_even.shape[0] > 0
    total = 0.0
    for m in range(M):
        row = x[m]
        for g in range(K // group_size):
            acc = 0.0
            for k in range(g * group_size, (g + 1) * group_size):
                acc += np.float64(row[k])
            if sums:
                xsum[m, g] = np.float32(acc)
            total += acc
        if split:
            even = x_even[m]
            odd = x_odd[m]
            for j in range(K // 2):
                even[j] = row[2 * j]
                odd[j] = row[2 * j + 1]
    # NaN or Inf anywhere makes ``total`` NaN or Inf; ``total - total`` is 0 exactly when it is finite
    return total - total == 0.0
