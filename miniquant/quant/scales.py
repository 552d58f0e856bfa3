"""From a range ``[lo, hi]`` to ``(scale, zero_point)``: the affine map of each block.

Symmetric (``zero_point = 0``)::

    scale = max(hi / qmax, lo / qmin)        # the smallest step with lo and hi both representable

which is ``max|x| / qmax`` on the restricted range. Asymmetric::

    scale      = (hi - lo) / (qmax - qmin)
    zero_point = clip(round(qmin - lo / scale), qmin, qmax)   # an integer: 0.0 is exact

In both schemes the range is first widened to contain 0 (``lo <= 0 <= hi``), so that
0.0 is always representable (exactly, in the asymmetric scheme, via the integer zero point).

Storage: the scale is computed in float64 and then stored in ``spec.scale_dtype``. A
cast that would shrink the scale is rounded *up* to the next representable value, so
that the chosen range still fits after storage. A block whose range is all zeros gets
``scale = 1``: any positive step represents it exactly, and nothing divides by zero.

Coarse scales (symmetric): where the stored scale is a *subnormal* of its dtype (float16
below 6.1e-5: at 8 bits that is any block with ``max|x| < 7.8e-3``; float32 below 1.2e-38),
rounding it up can move it by a large fraction of itself, the extreme value then no longer
maps to ``qmax``, and re-quantizing ``x_hat`` would choose a smaller scale and other codes
(``x = [1e-44] * 4`` at 3 bits: the exact scale is 7/3 units of 2**-149, stored as 3 units,
codes 2, ``x_hat`` = 6 units, whose scale is 2 units). ``settle_symmetric_scale`` then steps
the scale down to the value that ``x_hat`` re-chooses, until it is a fixed point, so min-max
quantization stays idempotent. With normal scales it changes nothing (the rounding is far
below the half step that the extreme code tolerates).
"""
from __future__ import annotations

import numpy as np

from .rounding import round_values
from .mx import shared_exponent
from .scale_formats import scale_format
from .spec import QuantSpec


def store_scale(scale: np.ndarray, dtype) -> np.ndarray:
    """Round float64 ``scale`` up to the scale format ``dtype`` (a dtype, a name such as ``"bfloat16"``
    or ``"e8m0"``, or a ``ScaleFormat``), replacing 0 with 1.

    Returns the values in the format's ``value_dtype`` (float16 for float16; float32 for bfloat16
    and E8M0, which NumPy has no dtype for: the values are exactly representable in the format).

    Raises
    ------
    ValueError
        If a scale does not fit ``dtype`` (e.g. values above ~8e6 with float16 scales at 8 bits).
    """
    scale = np.asarray(scale, dtype=np.float64)
    scale = np.where(scale == 0, 1.0, scale)
    return scale_format(dtype).round_up(scale)


def mx_scale(lo, hi, spec: QuantSpec) -> np.ndarray:
    """The OCP MX shared scale ``2^(floor(log2 amax) - emax_elem)`` (clamped to E8M0's range), float32.

    A block of zeros gets the smallest scale, ``2^-127`` (``miniquant.quant.mx``).
    """
    amax = np.maximum(np.asarray(hi, dtype=np.float64), -np.asarray(lo, dtype=np.float64))
    with np.errstate(under="ignore"):
        return np.ldexp(1.0, shared_exponent(amax, spec.element.emax)).astype(np.float32)


def scale_from_range(lo: np.ndarray, hi: np.ndarray, spec: QuantSpec) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, zero_point)`` for ranges ``[lo, hi]`` (any shape), as the module docstring says.

    Returns
    -------
    scale : ndarray of ``spec.scale_dtype``
    zero_point : ndarray of int32 (all zeros for the symmetric scheme)
    """
    lo = np.minimum(np.asarray(lo, dtype=np.float64), 0.0)
    hi = np.maximum(np.asarray(hi, dtype=np.float64), 0.0)
    qmin, qmax = spec.qmin, spec.qmax
    if spec.is_mx:                    # OCP MX: a power of two from the absmax's exponent (may saturate)
        scale = mx_scale(lo, hi, spec)
        return scale, np.zeros(scale.shape, dtype=np.int32)
    if spec.format != "int":          # an element format: the range's absmax lands on its largest value
        scale = store_scale(np.maximum(hi, -lo) / spec.element.max, spec.scale_dtype)
        return scale, np.zeros(scale.shape, dtype=np.int32)
    if spec.scheme == "symmetric":
        scale = store_scale(np.maximum(hi / qmax, lo / qmin), spec.scale_dtype)
        scale = settle_symmetric_scale(lo, hi, scale, spec)
        zero_point = np.zeros(scale.shape, dtype=np.int32)
        _check_reconstruction_fits(scale, zero_point, qmin, qmax)
        return scale, zero_point
    scale = store_scale((hi - lo) / (qmax - qmin), spec.scale_dtype)
    zero_point = np.clip(np.rint(qmin - lo / scale.astype(np.float64)), qmin, qmax)
    _check_reconstruction_fits(scale, zero_point, qmin, qmax)
    return scale, zero_point.astype(np.int32)


def settle_symmetric_scale(lo, hi, scale: np.ndarray, spec: QuantSpec) -> np.ndarray:
    """The stored symmetric ``scale`` of ranges ``[lo, hi]`` that re-quantizing ``x_hat`` chooses again.

    Repeats ``scale <- store_scale(max(hi_hat / qmax, lo_hat / qmin))`` with ``hi_hat``,
    ``lo_hat`` the reconstructions of the range ends, until nothing changes (module
    docstring). Each step can only lower a scale (the codes of the ends are at most
    ``qmax``), except that a block whose ends both round to code 0 becomes an all-zero block
    (scale 1), so the loop ends after a few steps.
    """
    mode = "half_away" if spec.rounding == "half_away" else "half_even"  # the codes of the ends
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    qmin, qmax = spec.qmin, spec.qmax
    for _ in range(64):
        s = scale.astype(np.float64)
        hi_hat = np.clip(round_values(hi / s, mode), qmin, qmax) * s
        lo_hat = np.clip(round_values(lo / s, mode), qmin, qmax) * s
        again = store_scale(np.maximum(hi_hat / qmax, lo_hat / qmin), spec.scale_dtype)
        if np.array_equal(again, scale):
            return scale
        scale = again
    raise AssertionError("settle_symmetric_scale did not reach a fixed point")  # pragma: no cover


def _check_reconstruction_fits(scale, zero_point, qmin, qmax):
    """Dequantization runs in float32: the extreme codes must not overflow it."""
    reach = np.maximum(zero_point - qmin, qmax - zero_point) * scale.astype(np.float64)
    limit = float(np.finfo(np.float32).max)
    if np.any(reach > limit):
        raise ValueError(
            f"x is too large to quantize: a reconstruction would reach {float(reach.max()):.4g}, "
            f"beyond float32's largest value {limit:.4g}"
        )
