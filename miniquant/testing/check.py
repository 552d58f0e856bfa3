"""``check_quantizer``: run the standard properties against *any* quantizer, under Hypothesis.

A teacher points it at a student's two functions::

    def quantize(x):                       # float32 array -> (codes, scale, zero_point)
        scale = np.abs(x).max() / 7 or 1.0
        return np.clip(np.rint(x / scale), -7, 7), np.float32(scale), 0

    def dequantize(codes, scale, zero_point):
        return (codes - zero_point) * scale

    check_quantizer(quantize, dequantize, bits=4, scheme="symmetric")

and gets either silence or an ``AssertionError`` naming the first property that failed,
with the smallest array Hypothesis could find. Tests: ``tests/testing/test_check.py``.
"""
from __future__ import annotations

import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings as hsettings
from hypothesis import strategies as st

from ..quant import QuantSpec, choose_qparams, dequantize_affine, expand_params, integer_range, quantize_affine
from ..quant.blocks import block_shape
from . import properties as P
from .strategies import ARRAY_KINDS, quantizable_arrays, weight_shapes

__all__ = ["check_quantizer", "check_packing", "library_quantizer"]


def _settings(max_examples):
    # One failure, shrunk to its smallest array, is what a learner needs to see.
    base = hsettings(
        deadline=None, report_multiple_bugs=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    if max_examples is not None:
        base = hsettings(base, max_examples=max_examples)
    return base


def _run_quietly(fn, *args, what: str):
    """Call ``fn``; an exception or a floating-point warning becomes a property failure."""
    try:
        # Underflow to a subnormal is benign and common with tiny values; the rest is a bug.
        with warnings.catch_warnings(), np.errstate(divide="raise", over="raise", invalid="raise", under="ignore"):
            warnings.simplefilter("error")
            return fn(*args)
    except P.PropertyFailed:
        raise
    except Exception as exc:  # the student's code raised: report it as a failed property
        raise P.PropertyFailed(
            "runs_without_error_or_warning", f"{what} raised {type(exc).__name__}: {exc}"
        ) from exc


def check_quantizer(
    quantize,
    dequantize,
    *,
    bits: int,
    scheme: str,
    granularity: str = "tensor",
    group_size: int | None = None,
    axis: int = 0,
    full_range: bool = False,
    rounding: str = "half_even",
    clip: str = "minmax",
    shapes=None,
    kinds=ARRAY_KINDS,
    max_magnitude: float = 1e30,
    max_examples: int | None = None,
) -> None:
    """Check a quantize/dequantize pair against the standard properties.

    Parameters
    ----------
    quantize : callable
        ``quantize(x) -> (codes, scale, zero_point)`` for a float32 array ``x``; the three
        results must broadcast against ``x``.
    dequantize : callable
        ``dequantize(codes, scale, zero_point) -> x_hat``.
    bits, scheme, full_range
        What the quantizer claims to be: codes must lie in ``integer_range(bits, scheme, full_range=...)``.
    granularity, group_size, axis
        Its blocks (used for the per-block property "max magnitude exact").
    rounding : {"half_even", "half_away", "stochastic"}
        Stochastic rounding only promises an error below one step, and no stable re-quantization.
    clip : {"minmax", "percentile", "mse"}
        With ``"minmax"`` two more properties apply: re-quantizing ``x_hat`` gives the same
        codes, and (symmetric) the largest magnitude of each block is exact.
    shapes : strategy of tuple, optional
        Default: 2-D shapes whose ``axis`` length suits ``group_size``.
    kinds : sequence of str
        The hostile array kinds to draw (see ``strategies.ARRAY_KINDS``).
    max_magnitude : float
        Largest ``|x|`` drawn.
    max_examples : int, optional
        Default: the current Hypothesis profile's.

    Raises
    ------
    AssertionError
        Naming the property and the minimal falsifying array.

    Notes
    -----
    Properties checked on every example: the functions run without an exception or a
    floating-point warning (constant and all-zero blocks included); codes are integers in
    ``[qmin, qmax]``; scales are finite and positive and zero points integers in range (0
    when symmetric); ``x_hat = (codes - zero_point) * scale``; ``|x - x_hat| <= scale / 2``
    for values inside the representable range; 0.0 reconstructs exactly; quantizing
    ``x_hat`` again with the same scale and zero point gives the same codes.

    Symmetric min-max also promises: ``quantize(x_hat)`` gives the same codes, and the
    value that set each block's scale (the largest magnitude; with ``full_range`` the
    minimum or the maximum) reconstructs exactly. Asymmetric min-max does not promise the
    first: when ``qmin - lo / scale`` is an exact tie, the rounded zero point moves one
    range end onto a tie too, and ``x_hat`` can span one step less than ``x``.

    Examples
    --------
    >>> def quantize(x):
    ...     scale = np.float32(np.abs(x).max() / 7) or np.float32(1)
    ...     return np.clip(np.rint(x / scale), -7, 7).astype(np.int8), scale, 0
    >>> def dequantize(codes, scale, zero_point):
    ...     return (codes.astype(np.float32) - zero_point) * scale
    >>> check_quantizer(quantize, dequantize, bits=4, scheme="symmetric", max_examples=20)
    """
    qmin, qmax = integer_range(bits, scheme, full_range=full_range)
    deterministic = rounding != "stochastic"
    if shapes is None:
        if granularity == "group" and group_size is None:
            raise ValueError("group_size is required when granularity='group'")
        g = group_size if granularity == "group" else None
        shapes = weight_shapes(group_size=g) if axis == 0 else weight_shapes(group_size=g).map(lambda s: s[::-1])
    arrays = shapes.flatmap(lambda s: quantizable_arrays(shape=s, kinds=kinds, max_magnitude=max_magnitude))

    def one_example(x: np.ndarray) -> None:
        codes, scale, zero_point = _run_quietly(quantize, x.copy(), what="quantize(x)")
        codes, scale, zero_point = np.asarray(codes), np.asarray(scale), np.asarray(zero_point)
        if codes.shape != x.shape:
            raise P.PropertyFailed("codes_shape", f"codes must have the shape of x {x.shape}, got {codes.shape}")
        P.assert_codes_in_range(codes, qmin, qmax)
        P.assert_params_valid(scale, zero_point, x.shape, scheme, qmin, qmax)
        x_hat = np.asarray(_run_quietly(dequantize, codes, scale, zero_point, what="dequantize(codes, scale, zero_point)"))
        if x_hat.shape != x.shape or not np.all(np.isfinite(x_hat)):
            raise P.PropertyFailed("x_hat_finite", f"x_hat must be finite with shape {x.shape}, got shape {x_hat.shape}")
        P.assert_dequantize_is_affine(codes, scale, zero_point, x_hat)
        P.assert_error_within_step(x, x_hat, scale, zero_point, qmin, qmax, fraction=0.5 if deterministic else 1.0)
        P.assert_zero_exact(x, x_hat)
        if deterministic:
            P.assert_requantize_stable(codes, P.requantize_with(x_hat, scale, zero_point, qmin, qmax), "with the same scale and zero point")
        if clip == "minmax" and deterministic and scheme == "symmetric":
            block = block_shape(x.shape, granularity, axis=axis, group_size=group_size)
            P.assert_range_end_exact(x, x_hat, scale, block, qmax=max(qmax, -qmin), either_end=full_range)
            # Symmetric min-max re-chooses the same scale from x_hat. (Asymmetric need not:
            # when a range end sits exactly on a rounding tie, x_hat spans one step less.)
            again = _run_quietly(quantize, x_hat.astype(np.float32), what="quantize(x_hat)")[0]
            P.assert_requantize_stable(codes, again, "by quantize(x_hat)")

    @_settings(max_examples)
    @given(arrays)
    def run(x):
        try:
            one_example(x)
        except P.PropertyFailed as failure:
            with np.printoptions(precision=9, threshold=200):
                where = f"\nminimal falsifying x (shape {x.shape}, {x.dtype}):\n{x!r}"
            raise P.PropertyFailed(failure.property, failure.detail + where) from failure

    try:
        run()
    except P.PropertyFailed as failure:
        raise AssertionError(f"check_quantizer: {failure}") from failure



def check_packing(pack, unpack, *, bits: int, max_examples: int | None = None) -> None:
    """Check ``unpack(pack(codes, bits), bits, count) == codes`` and the packed size.

    ``pack(codes, bits)`` takes unsigned codes in ``[0, 2**bits - 1]`` and returns bytes;
    ``unpack(packed, bits, count)`` returns the ``count`` codes.
    """
    codes = st.integers(0, 300).flatmap(
        lambda n: st.lists(st.integers(0, 2**bits - 1), min_size=n, max_size=n)
    ).map(lambda v: np.array(v, dtype=np.uint8))

    @_settings(max_examples)
    @given(codes)
    def run(c):
        P.assert_pack_roundtrip(pack, unpack, c, bits)

    try:
        run()
    except P.PropertyFailed as failure:
        raise AssertionError(f"check_packing: {failure}") from failure


def library_quantizer(spec: QuantSpec | None = None, **options):
    """miniquant's own quantizer as a ``(quantize, dequantize)`` pair for ``check_quantizer``.

    ``quantize`` returns codes with scales and zero points repeated to the full shape
    (so that they broadcast against ``x``).
    """
    from ..quant import make_spec

    spec = make_spec(spec, **options)

    def quantize(x):
        scale, zero_point = choose_qparams(x, spec)
        codes = quantize_affine(x, scale, zero_point, spec)
        block = spec.block_shape(x.shape)
        return codes, expand_params(scale, block), expand_params(zero_point, block)

    def dequantize(codes, scale, zero_point):
        # Back to one parameter per block: the first element of each block.
        block = spec.block_shape(codes.shape)
        index = tuple(slice(None, None, b) for b in block)
        return dequantize_affine(codes, scale[index], zero_point[index], spec)

    return quantize, dequantize
