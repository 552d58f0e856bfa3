"""``choose_qparams``: the first step of quantization, one ``(scale, zero_point)`` per block.

The three steps are ``choose_qparams -> quantize_affine -> dequantize_affine``; this module
joins the block structure (``blocks``), the range selection (``clipping``) and the affine
map (``scales``). Tests: ``tests/quant/test_oracles.py``, ``tests/quant/test_scales.py``.
"""
from __future__ import annotations

import numpy as np

from ._checks import check_float_array
from .affine import dequantize_affine, quantize_affine
from .blocks import block_axes, params_shape, to_blocks
from .clipping import minmax_range, mse_search, percentile_range
from .double_quant import double_quantize_params
from .scales import scale_from_range, store_scale
from .spec import QuantSpec, make_spec


def choose_qparams(x, spec: QuantSpec | None = None, **options) -> tuple[np.ndarray, np.ndarray]:
    """Per-block parameters: ``scale, zero_point = f(range of each block)``.

    Parameters
    ----------
    x : ndarray of float16, float32 or float64, shape ``S``
        For a weight ``(K, N)``, blocks run along ``axis=0`` (K).
    spec : QuantSpec, optional
        Or its fields as keyword ``options``: ``bits`` (required), ``scheme``,
        ``granularity``, ``group_size``, ``axis``, ``clip``, ``scale_dtype``, ...

    Returns
    -------
    scale : ndarray of ``spec.scale_dtype.value_dtype``, shape ``S // block``
        With ``double_quant=True``, the decoded two-level scales (float32).
    zero_point : ndarray of int32, shape ``S // block`` (zeros when symmetric)

    Notes
    -----
    The range is widened to contain 0 and a constant all-zero block gets ``scale = 1``,
    so no block divides by zero. See ``miniquant.quant.scales`` for the formulas and
    ``miniquant.quant.clipping`` for how ``[lo, hi]`` is chosen.

    Examples
    --------
    >>> w = np.array([[0.5, -1.0], [-2.0, 4.0]], dtype=np.float32)
    >>> scale, zp = choose_qparams(w, bits=8, granularity="channel")
    >>> scale * 127
    array([[2., 4.]], dtype=float32)
    >>> choose_qparams(w, bits=8, scheme="asymmetric")[1]
    array([[85]], dtype=int32)
    """
    spec = make_spec(spec, **options)
    x = check_float_array(x, "x")
    scale, zero_point = _first_level(x, spec)
    if spec.double_quant:
        scale = double_quantize_params(scale, spec.axis % x.ndim)[0]
    return scale, zero_point


def _first_level(x: np.ndarray, spec: QuantSpec) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, zero_point)`` of every block, the scales in ``spec.scale_dtype`` (before any double quantization)."""
    block = spec.block_shape(x.shape)
    xb = to_blocks(x, block)
    if spec.format == "ternary" and spec.clip == "minmax":
        # BitNet b1.58's absmean: the scale is the block's mean |x| (codes -1, 0, 1 after rounding x / scale)
        mean = np.mean(np.abs(np.asarray(xb, dtype=np.float64)), axis=block_axes(x.ndim), keepdims=True)
        scale = store_scale(mean, spec.scale_dtype)
        return scale.reshape(params_shape(x.shape, block)), np.zeros(params_shape(x.shape, block), dtype=np.int32)
    if spec.clip == "mse":
        scale, zero_point = mse_search(xb, spec)
    else:
        lo, hi = minmax_range(xb) if spec.clip == "minmax" else percentile_range(xb, spec.percentile)
        scale, zero_point = scale_from_range(lo, hi, spec)
    shape = params_shape(x.shape, block)
    return scale.reshape(shape), zero_point.reshape(shape)


def fake_quantize(x, spec: QuantSpec | None = None, **options) -> np.ndarray:
    """The round trip ``x_hat = dequantize(quantize(x))`` in one call, float32 out.

    Examples
    --------
    >>> fake_quantize(np.array([0.0, 0.3, 1.0]), bits=2)
    array([0., 0., 1.], dtype=float32)
    """
    spec = make_spec(spec, **options)
    scale, zero_point = choose_qparams(x, spec)
    codes = quantize_affine(x, scale, zero_point, spec)
    return dequantize_affine(codes, scale, zero_point, spec)
