"""Range selection ("clipping"): which ``[lo, hi]`` each block's codes should cover.

* ``"minmax"``: the block's minimum and maximum. Nothing is clipped, but one outlier
  stretches the step for every other value.
* ``"percentile"``: the ``(100 - p)``-th and ``p``-th percentiles of the block; values
  beyond them are clipped.
* ``"mse"``: shrink the min-max range by each ratio in ``MSE_RATIOS`` (1.0 first),
  quantize, and keep, per block, the ratio with the smallest squared error. Ratio 1.0 is
  min-max itself and a ratio replaces it only when *strictly* better, so the search
  never does worse than min-max on any block.

All functions work on a ``to_blocks`` view and return ``lo, hi`` (or the parameters)
with ``keepdims`` shapes that broadcast against it. Tests: ``tests/quant/test_clipping.py``.
"""
from __future__ import annotations

import numpy as np

from .affine import dequantize_blocks, quantize_blocks
from .blocks import block_axes
from .scales import scale_from_range
from .spec import QuantSpec

#: Shrink ratios tried by the MSE search, from 1.0 (min-max) down to 0.1 in steps of 0.025.
MSE_RATIOS = tuple(np.round(np.arange(1.0, 0.0999, -0.025), 3))


def minmax_range(xb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``lo, hi`` = minimum and maximum of each block."""
    axes = block_axes(xb.ndim // 2)
    return xb.min(axis=axes, keepdims=True), xb.max(axis=axes, keepdims=True)


def percentile_range(xb: np.ndarray, percentile: float) -> tuple[np.ndarray, np.ndarray]:
    """``lo, hi`` = the ``100 - percentile`` and ``percentile`` percentiles of each block."""
    axes = block_axes(xb.ndim // 2)
    x64 = np.asarray(xb, dtype=np.float64)
    lo = np.percentile(x64, 100.0 - percentile, axis=axes, keepdims=True)
    hi = np.percentile(x64, percentile, axis=axes, keepdims=True)
    return lo, hi


def block_sse(xb: np.ndarray, x_hat_b: np.ndarray) -> np.ndarray:
    """Sum of squared errors of each block, in float64."""
    err = np.asarray(xb, dtype=np.float64) - x_hat_b
    return np.sum(err * err, axis=block_axes(xb.ndim // 2), keepdims=True)


def mse_search(xb: np.ndarray, spec: QuantSpec, ratios=MSE_RATIOS, error=block_sse) -> tuple[np.ndarray, np.ndarray]:
    """Per-block ``(scale, zero_point)`` minimising squared error over shrunk min-max ranges.

    Parameters
    ----------
    xb : ndarray
        A ``to_blocks`` view of the data.
    spec : QuantSpec
        Stochastic rounding is evaluated with half-to-even rounding during the search.
    ratios : sequence of float
        Shrink factors; the first must be 1.0 (min-max), which the search starts from.
    error : callable
        ``error(xb, x_hat_b)``: the per-block error to minimise (``keepdims`` shape), the squared
        error ``block_sse`` by default; AWQ passes the layer-output error of each block.

    Returns
    -------
    scale, zero_point : ndarrays broadcastable against ``xb`` (``keepdims`` shape)
    """
    if not ratios or ratios[0] != 1.0:
        raise ValueError(f"ratios must start with 1.0 (the min-max range), got {ratios!r}")
    search_spec = spec.replace(rounding="half_even") if spec.rounding == "stochastic" else spec
    lo, hi = minmax_range(xb)
    best_scale = best_zp = best_err = None
    for ratio in ratios:
        scale, zp = scale_from_range(lo * ratio, hi * ratio, spec)
        x_hat = dequantize_blocks(quantize_blocks(xb, scale, zp, search_spec), scale, zp, spec)
        err = error(xb, x_hat)
        if best_err is None:
            best_scale, best_zp, best_err = scale, zp, err
            continue
        better = err < best_err
        best_scale = np.where(better, scale, best_scale)
        best_zp = np.where(better, zp, best_zp)
        best_err = np.where(better, err, best_err)
    return best_scale, best_zp
