"""The affine map between real values and integer codes.

``codes = clip(round(x / scale) + zero_point, qmin, qmax)`` and
``x_hat = (codes - zero_point) * scale``.

``quantize_affine`` divides in float64 by the *stored* scale, so the codes are exactly
the ones the stored parameters describe; ``dequantize_affine`` computes in float32, the
precision the kernels use. Parameters have the compact shape ``x.shape // block``
(see ``miniquant.quant.blocks``). Tests: ``tests/quant/test_oracles.py`` and ``tests/quant/test_validation.py``.
"""
from __future__ import annotations

import numpy as np

from ._checks import check_float_array
from .blocks import blockwise, params_shape, to_blocks
from .rounding import round_values
from .spec import QuantSpec, make_spec


def code_dtype(spec: QuantSpec) -> np.dtype:
    """The integer dtype of codes: int8 for symmetric (signed), uint8 for asymmetric and element formats."""
    return np.dtype(np.int8 if spec.scheme == "symmetric" and spec.format == "int" else np.uint8)


def _check_params(scale, zero_point, expected_shape, spec):
    scale = np.asarray(scale)
    zero_point = np.asarray(zero_point)
    if scale.shape != expected_shape:
        raise ValueError(f"scale must have shape {expected_shape} (x.shape // block), got {scale.shape}")
    if zero_point.shape != expected_shape:
        raise ValueError(f"zero_point must have shape {expected_shape} (x.shape // block), got {zero_point.shape}")
    if not np.issubdtype(scale.dtype, np.floating) or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise ValueError("scale must be finite, positive floats")
    if not np.issubdtype(zero_point.dtype, np.integer):
        raise TypeError(f"zero_point must be integers, got dtype {zero_point.dtype}")
    if spec.format != "int" and np.any(zero_point != 0):
        raise ValueError(f"format {spec.format!r} has no zero point: zero_point must be all zeros")
    if np.any(zero_point < spec.qmin) or np.any(zero_point > spec.qmax):
        raise ValueError(f"zero_point must lie in [{spec.qmin}, {spec.qmax}]")
    return scale, zero_point


def quantize_blocks(xb, scale_b, zero_point_b, spec: QuantSpec, rng=None) -> np.ndarray:
    """Codes for a ``to_blocks`` view ``xb`` with broadcastable ``blockwise`` parameters.

    Returns integer-valued float64; the public functions cast to ``code_dtype``. An element format
    encodes ``x / scale`` to its nearest value's code instead (``spec.element``).
    """
    v = np.asarray(xb, dtype=np.float64) / np.asarray(scale_b, dtype=np.float64)
    if spec.format != "int":
        return spec.element.encode(v).astype(np.float64)
    return np.clip(round_values(v, spec.rounding, rng=rng) + zero_point_b, spec.qmin, spec.qmax)


def dequantize_blocks(codes_b, scale_b, zero_point_b, spec: QuantSpec | None = None) -> np.ndarray:
    """``(codes - zero_point) * scale`` in float32 on ``to_blocks`` views (``table[codes] * scale`` for an element format)."""
    if spec is not None and spec.format != "int":
        return spec.element.decode(np.asarray(codes_b).astype(np.int64)) * np.asarray(scale_b, dtype=np.float32)
    steps = (np.asarray(codes_b, dtype=np.int32) - np.asarray(zero_point_b, dtype=np.int32)).astype(np.float32)
    return steps * np.asarray(scale_b, dtype=np.float32)


def quantize_affine(x, scale, zero_point, spec: QuantSpec | None = None, *, rng=None, **options) -> np.ndarray:
    """Integer codes: ``codes = clip(round(x / scale) + zero_point, qmin, qmax)``.

    Parameters
    ----------
    x : ndarray of float16, float32 or float64, shape ``S``
    scale : ndarray of float, shape ``S // block``
    zero_point : ndarray of int, shape ``S // block``
    spec : QuantSpec, optional
        Or the same fields as keyword ``options`` (``bits=4, group_size=32, ...``).
    rng : numpy.random.Generator, optional
        For stochastic rounding; default ``np.random.default_rng(spec.seed)``.

    Returns
    -------
    codes : ndarray of int8 (symmetric) or uint8 (asymmetric), shape ``S``

    Notes
    -----
    Values outside the representable range ``[(qmin - zp) * scale, (qmax - zp) * scale]``
    are clipped to ``qmin``/``qmax`` (that is what a clipping range chooses to do).

    Examples
    --------
    >>> quantize_affine(np.array([0.1, -0.5, 0.7]), np.array([0.1]), np.array([0]), bits=4)
    array([ 1, -5,  7], dtype=int8)
    """
    spec = make_spec(spec, **options)
    x = check_float_array(x, "x")
    block = spec.block_shape(x.shape)
    scale, zero_point = _check_params(scale, zero_point, params_shape(x.shape, block), spec)
    if rng is None and spec.rounding == "stochastic":
        rng = np.random.default_rng(spec.seed)
    codes_b = quantize_blocks(to_blocks(x, block), blockwise(scale), blockwise(zero_point), spec, rng)
    return codes_b.reshape(x.shape).astype(code_dtype(spec))


def dequantize_affine(codes, scale, zero_point, spec: QuantSpec | None = None, **options) -> np.ndarray:
    """Reconstruction: ``x_hat = (codes - zero_point) * scale`` in float32.

    Parameters
    ----------
    codes : ndarray of int, shape ``S``
    scale : ndarray of float, shape ``S // block``
    zero_point : ndarray of int, shape ``S // block``
    spec : QuantSpec, optional
        Or keyword ``options``; only the block structure and the code range are used.

    Returns
    -------
    x_hat : ndarray of float32, shape ``S``

    Examples
    --------
    >>> dequantize_affine(np.array([1, -5, 7]), np.array([0.1]), np.array([0]), bits=4)
    array([ 0.1, -0.5,  0.7], dtype=float32)
    """
    spec = make_spec(spec, **options)
    codes = np.asarray(codes)
    if not np.issubdtype(codes.dtype, np.integer):
        raise TypeError(f"codes must be integers, got dtype {codes.dtype}")
    if codes.ndim == 0 or codes.size == 0:
        raise ValueError(f"codes must be a non-empty array, got shape {codes.shape}")
    if np.any(codes < spec.qmin) or np.any(codes > spec.qmax):
        raise ValueError(f"codes must lie in [{spec.qmin}, {spec.qmax}] for {spec.bits}-bit {spec.scheme}")
    block = spec.block_shape(codes.shape)
    scale, zero_point = _check_params(scale, zero_point, params_shape(codes.shape, block), spec)
    if spec.format != "int" and np.any(np.isnan(spec.element.decode(codes))):
        raise ValueError(f"codes hold a pattern that format {spec.format!r} reserves for NaN or inf")
    x_hat_b = dequantize_blocks(to_blocks(codes, block), blockwise(scale), blockwise(zero_point), spec)
    return x_hat_b.reshape(codes.shape)
