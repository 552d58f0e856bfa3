"""HQQ, Half-Quadratic Quantization (Badri & Shaji, 2023): better scales and zero points without data.

Objective, per block (group) of weights ``W``, with a sparsity-promoting ``l_p`` norm (``p < 1``)
instead of the squared error, so that a few outliers do not dictate the grid::

    minimise over (s, z)    phi(s, z) = || W - Q^-1(Q(W; s, z); s, z) ||_p^p ,    p = lp_norm = 0.7

Half-quadratic splitting introduces the error ``W_e`` as an extra variable that must stay close to
``W - Q^-1(Q(W))`` (weight ``beta``, raised by ``kappa`` each iteration) and alternates closed-form
steps::

    W_q = round(W / s) + z                                      (the codes)
    W_e = shrink_p(W - (W_q - z) s, beta)                        (the outliers' error, l_p prox)
          shrink_p(x, beta) = sign(x) relu(|x| - |x|^(p-1) / beta)
    z   = mean(W_q - (W - W_e) / s)                              (least squares in z)
    s   = sum((W - W_e)(W_q - z)) / sum((W_q - z)^2)             (least squares in s)
    beta <- kappa beta

As in the paper's reference code, the loop keeps the best iterate and stops as soon as an
iteration would raise ``phi``; ``HQQResult.objective`` records ``phi`` of every kept iterate
(never increasing). Two differences, both forced by what a ``QTensor`` stores and the kernels
read: the zero point is an integer code, so each ``z`` step is projected to the nearest
integer in ``[qmin, qmax]`` (the exact minimiser of that one-dimensional quadratic over the
integers; the paper keeps ``z`` in float16); and symmetric specs keep ``z = 0`` and update
``s`` only. The paper optimises ``z`` alone; the ``s`` step (``optimize_scale=True``, the
default) is the same least-squares step for the other variable. Tests: ``tests/methods/test_hqq.py``.
"""
from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np

from ..quant import QuantSpec, choose_qparams, code_dtype, store_scale
from ..quant._checks import check_float_array, check_positive_int
from ..quant.affine import dequantize_blocks, quantize_blocks
from ..quant.blocks import block_axes, blockwise, params_shape, to_blocks
from ..tensor import QTensor
from ._checks import require_integer_grid

#: The options of ``hqq_quantize`` and their defaults (the reference code's: p 0.7, beta 10, kappa 1.01, 20 iterations).
HQQ_OPTIONS = {"iters": 20, "lp_norm": 0.7, "beta": 10.0, "kappa": 1.01, "optimize_scale": True}


@dataclasses.dataclass
class HQQResult:
    """The quantized weight and ``objective``: ``phi`` (summed over blocks) of each kept iterate, RTN first."""

    qtensor: QTensor
    objective: list[float]


def shrink_lp(x: np.ndarray, beta: float, p: float) -> np.ndarray:
    """The generalised soft-threshold: ``sign(x) * relu(|x| - |x|^(p-1) / beta)`` (``p = 1``: plain soft threshold)."""
    a = np.abs(x)
    with np.errstate(divide="ignore"):
        threshold = 1.0 / beta if p == 1 else np.power(a, p - 1.0, where=a > 0, out=np.full_like(a, np.inf)) / beta
    return np.sign(x) * np.maximum(a - threshold, 0.0)


def check_hqq_options(spec: QuantSpec, *, iters=20, lp_norm=0.7, beta=10.0, kappa=1.01, optimize_scale=True) -> None:
    """``ValueError``/``TypeError`` for invalid options."""
    check_positive_int(iters, "iters")
    for name, value, low in (("lp_norm", lp_norm, 0.0), ("beta", beta, 0.0), ("kappa", kappa, 1.0)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not 0 < lp_norm <= 1:
        raise ValueError(f"lp_norm must be in (0, 1] (HQQ's sparsity-promoting norm), got {lp_norm!r}")
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta!r}")
    if not kappa >= 1:
        raise ValueError(f"kappa must be >= 1 (beta grows each iteration), got {kappa!r}")
    if not isinstance(optimize_scale, (bool, np.bool_)):
        raise TypeError(f"optimize_scale must be True or False, got {optimize_scale!r}")
    if spec.scheme == "symmetric" and not optimize_scale:
        raise ValueError("a symmetric spec has no zero point to optimise: HQQ needs optimize_scale=True "
                         "or scheme='asymmetric'")
    require_integer_grid("hqq", spec)
    if spec.rounding == "stochastic":
        raise ValueError("HQQ's objective needs deterministic codes: use rounding='half_even' or 'half_away'")


def hqq(w, spec: QuantSpec, *, iters: int = 20, lp_norm: float = 0.7, beta: float = 10.0, kappa: float = 1.01,
        optimize_scale: bool = True) -> HQQResult:
    """HQQ on every block of ``w`` at once; ``HQQResult`` (the weight, the objective per kept iterate).

    ``w`` is any float array quantized along ``spec.axis`` (a weight ``(K, N)``: groups along K).
    Starts from ``spec``'s own choice of parameters (its clipping rule) and never ends worse on ``phi``.
    """
    if not isinstance(spec, QuantSpec):
        raise TypeError(f"spec must be a QuantSpec, got {type(spec).__name__}")
    w = check_float_array(w, "w")
    check_hqq_options(spec, iters=iters, lp_norm=lp_norm, beta=beta, kappa=kappa, optimize_scale=optimize_scale)
    block = spec.block_shape(w.shape)
    pshape = params_shape(w.shape, block)
    axes = block_axes(w.ndim)
    Wb = to_blocks(w.astype(np.float64), block)                       # [..., n_blocks, block_len, ...]
    scale, zero = choose_qparams(w, spec)
    s = blockwise(scale.astype(np.float64))
    z = blockwise(zero.astype(np.int64))
    asymmetric = spec.scheme == "asymmetric"

    def codes_and_phi(s, z):  # phi measured on the float32 reconstruction, as QTensor.dequantize gives it
        q = quantize_blocks(Wb, s, z, spec)
        return q, float(np.sum(np.abs(Wb - dequantize_blocks(q, s, z)) ** lp_norm))

    q, best = codes_and_phi(s, z)
    objective = [best]
    for _ in range(iters):
        W_e = shrink_lp(Wb - (q - z) * s, beta, lp_norm)
        target = Wb - W_e                                              # what the grid should reproduce
        new_z = z
        if asymmetric:
            mean = np.mean(q - target / s, axis=axes, keepdims=True)
            new_z = np.clip(np.rint(mean), spec.qmin, spec.qmax).astype(np.int64)
        new_s = s
        if optimize_scale:
            steps = q - new_z
            den = np.sum(steps * steps, axis=axes, keepdims=True)
            num = np.sum(target * steps, axis=axes, keepdims=True)
            fitted = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
            ok = np.isfinite(fitted) & (fitted > 0) & (fitted <= float(spec.scale_dtype.max) / 2)
            new_s = np.where(ok, fitted, s)
            new_s = store_scale(new_s.reshape(pshape), spec.scale_dtype).astype(np.float64).reshape(s.shape)
        beta *= kappa
        new_q, value = codes_and_phi(new_s, new_z)
        if not value < best:
            break
        s, z, q, best = new_s, new_z, new_q, value
        objective.append(best)
    codes = q.reshape(w.shape).astype(code_dtype(spec))
    stored = s.reshape(pshape).astype(spec.scale_dtype.value_dtype)
    qt = QTensor.from_codes(codes, stored, z.reshape(pshape).astype(np.int32), spec)
    return HQQResult(qt, objective)


def hqq_quantize(w, spec: QuantSpec, *, iters: int = 20, lp_norm: float = 0.7, beta: float = 10.0,
                 kappa: float = 1.01, optimize_scale: bool = True) -> QTensor:
    """HQQ-quantized ``QTensor`` of ``w`` (see ``hqq``); calibration-free.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> w = rng.standard_t(3, size=(128, 16)).astype(np.float32)          # heavy tails
    >>> from miniquant import quantize
    >>> spec = QuantSpec(bits=3, scheme="asymmetric", group_size=32, scale_dtype="float16")
    >>> lp = lambda q: float(np.sum(np.abs(w - q.dequantize()) ** 0.7))
    >>> lp(hqq_quantize(w, spec)) < lp(quantize(w, spec))
    True
    """
    return hqq(w, spec, iters=iters, lp_norm=lp_norm, beta=beta, kappa=kappa, optimize_scale=optimize_scale).qtensor
