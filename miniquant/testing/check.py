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

import math
import signal
import threading
import time
import warnings

import numpy as np
from hypothesis import HealthCheck, given, seed as hseed, settings as hsettings
from hypothesis import strategies as st

from ..quant import QuantSpec, choose_qparams, dequantize_affine, expand_params, integer_range, quantize_affine
from ..quant.blocks import block_shape
from . import properties as P
from .strategies import ARRAY_KINDS, ELEMENT_KINDS, element_codes, element_floats, quantizable_arrays, weight_shapes

__all__ = ["ZERO_BLOCKS", "SCALE_ROUNDINGS", "check_element_format", "check_quantizer", "check_packing",
           "library_quantizer"]

#: What an all-zero block may store: a positive scale (miniquant stores 1), or also scale 0 (gguf's ``d = 0``).
ZERO_BLOCKS = ("positive_scale", "zero_scale")
#: How the returned scale relates to the codes: ``"exact"`` -- the codes were computed with the very
#: scale returned (miniquant rounds its scale up into the storage dtype first); ``"nearest"`` -- the
#: codes were computed with an unrounded scale, which was then rounded to nearest in its storage
#: dtype (gguf, PyTorch's float16 scales), so each reconstruction may be off by
#: ``|code| * spacing(scale) / 2`` more, and a scale that underflows to 0 is possible.
SCALE_ROUNDINGS = ("exact", "nearest")
#: Rounding modes a quantizer can declare: miniquant's three and ``"half_up"`` (``floor(v + 0.5)``,
#: gguf's ``trunc(x / d + 8.5)`` for Q4_0).
KIT_ROUNDINGS = ("half_even", "half_away", "half_up", "stochastic")


class _Hung(BaseException):
    """A call did not return in time. A BaseException, so that Hypothesis does not shrink by re-running it."""

    def __init__(self, what: str, seconds: float):
        super().__init__(what, seconds)
        self.what, self.seconds = what, seconds


def _settings(max_examples, seed=None):
    # One failure, shrunk to its smallest array, is what a learner needs to see. The kit times each
    # call itself (``timeout``), so Hypothesis's own deadline stays off.
    base = hsettings(
        deadline=None, report_multiple_bugs=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    if max_examples is not None:
        base = hsettings(base, max_examples=max_examples)
    if seed is not None:  # the same examples on every run: no randomness, no replay from a database
        base = hsettings(base, database=None)
    return base


def _run_quietly(fn, *args, what: str, timeout: float | None = None):
    """Call ``fn``; an exception or a floating-point warning becomes a property failure.

    A call still running after ``timeout`` seconds is interrupted (in the main thread, where a
    timer signal can reach it) and reported as a hang; one that returns late fails too.
    """
    alarm = timeout is not None and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    previous = None
    if alarm:
        def on_alarm(signum, frame):
            raise _Hung(what, timeout)
        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    start = time.perf_counter()
    try:
        # Underflow to a subnormal is benign and common with tiny values; the rest is a bug.
        with warnings.catch_warnings(), np.errstate(divide="raise", over="raise", invalid="raise", under="ignore"):
            warnings.simplefilter("error")
            result = fn(*args)
    except (P.PropertyFailed, _Hung):
        raise
    except Exception as exc:  # the student's code raised: report it as a failed property
        raise P.PropertyFailed(
            "runs_without_error_or_warning", f"{what} raised {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    if timeout is not None and time.perf_counter() - start > timeout:
        raise _Hung(what, timeout)
    return result


def _numeric(name: str, value, what: str) -> np.ndarray:
    """``value`` as an ndarray of numbers, or a ``PropertyFailed`` saying what it was."""
    try:
        a = np.asarray(value)
    except Exception as exc:  # e.g. a ragged list
        raise P.PropertyFailed("returns_arrays", f"{what}: {name} is not an array ({type(exc).__name__}: {exc})") from None
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise P.PropertyFailed("returns_arrays", f"{what}: {name} must be real numbers, got {type(value).__name__} "
                                                 f"of dtype {a.dtype}: {value!r:.60}")
    return a


def _three_arrays(result, what: str):
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        got = f"a {len(result)}-tuple" if isinstance(result, (tuple, list)) else f"{type(result).__name__} {result!r:.40}"
        raise P.PropertyFailed("returns_codes_scale_zero_point", f"{what} must return (codes, scale, zero_point), got {got}")
    return tuple(_numeric(name, v, what) for name, v in zip(("codes", "scale", "zero_point"), result))


def check_quantizer(
    quantize,
    dequantize,
    *,
    bits: int | None = None,
    scheme: str = "symmetric",
    format="int",
    granularity: str = "tensor",
    group_size: int | None = None,
    axis: int = 0,
    full_range: bool = False,
    rounding: str = "half_even",
    clip: str = "minmax",
    zero_block: str = "positive_scale",
    scale_rounding: str = "exact",
    signed_scale: bool = False,
    min_block_magnitude: float = 0.0,
    shapes=None,
    kinds=ARRAY_KINDS,
    max_magnitude: float = 1e30,
    max_examples: int | None = None,
    timeout: float | None = 10.0,
    seed: int | None = None,
) -> None:
    """Check a quantize/dequantize pair against the properties every correct quantizer has.

    The quantizer is judged by what it *declares*: its code range, blocks and rounding, and the
    conventions below, not by miniquant's own choices.

    Parameters
    ----------
    quantize : callable
        ``quantize(x) -> (codes, scale, zero_point)`` for a float32 array ``x``; the three
        results must broadcast against ``x``.
    dequantize : callable
        ``dequantize(codes, scale, zero_point) -> x_hat``.
    bits, scheme, full_range
        Codes must lie in ``integer_range(bits, scheme, full_range=...)``: restricted
        (``[-7, 7]`` at 4 bits) or full (``[-8, 7]``) symmetric, or unsigned asymmetric.
    format : str or ElementFormat
        ``"int"`` (the integer grid, the default) or an element format -- a name of
        ``miniquant.formats`` (``"nf4"``, ``"fp8_e4m3"``, ...) or an ``ElementFormat`` of your own table:
        then the codes index the table (``x_hat = table[codes] * scale``, one positive scale per block,
        no zero point), ``bits``/``scheme``/``full_range``/``rounding`` do not apply, and the
        properties are the codebook's (see Notes).
    granularity, group_size, axis
        Its blocks (used by the per-block properties).
    rounding : {"half_even", "half_away", "half_up", "stochastic"}
        How ties round. Stochastic rounding only promises an error below one step, and no
        stable re-quantization.
    clip : {"minmax", "percentile", "mse", "absmean"}
        With ``"minmax"`` two more properties apply: re-quantizing ``x_hat`` gives the same
        codes, and (symmetric) the value that set each block's scale is exact; with an element
        format, no block saturates. ``"absmean"`` (ternary, BitNet b1.58) and the clipping rules
        let large values saturate.
    zero_block : {"positive_scale", "zero_scale"}
        What an all-zero block stores: a positive scale (miniquant: 1) or also 0 (gguf: ``d = 0``).
    scale_rounding : {"exact", "nearest"}
        ``"exact"``: the codes were computed with the scale returned. ``"nearest"``: with an
        unrounded scale that was then rounded to nearest in the returned dtype (gguf, PyTorch);
        the error bounds then allow ``|code| * spacing(scale) / 2`` more, a scale may underflow
        to 0, and ties are not checked.
    signed_scale : bool
        The scale may be negative (gguf's Q4_0 stores ``d = max / -8``, which puts the block's
        largest magnitude on code -8 whatever its sign); bounds use ``|scale|``.
    min_block_magnitude : float
        The quantizer's declared domain: a block whose largest ``|x|`` is below this (but not 0)
        is set to zeros before the check. gguf and llama.cpp compute ``1 / d`` in float32, which
        overflows when ``d`` is subnormal: their domain starts at ``127 * 2**-126``.
    shapes : strategy of tuple, optional
        Default: 2-D shapes whose ``axis`` length suits ``group_size``.
    kinds : sequence of str
        The hostile array kinds to draw (see ``strategies.ARRAY_KINDS``).
    max_magnitude : float
        Largest ``|x|`` drawn.
    max_examples : int, optional
        Default: the current Hypothesis profile's.
    timeout : float or None
        Seconds one call may take: a quantizer that hangs is interrupted and reported (default 10).
    seed : int, optional
        Draw the same examples on every run (tutorials and course material should pass one).

    Raises
    ------
    AssertionError
        Naming the property and the minimal falsifying array.

    Notes
    -----
    The properties of every correct quantizer, checked on every example:

    ========================  ===================================================================
    runs / finishes           no exception, no floating-point warning, returns within ``timeout``,
                              returns three real arrays (constant and all-zero blocks included)
    codes_in_range            integer codes in ``[qmin, qmax]`` of the declared range
    params_valid              finite scales, positive (or nonzero with ``signed_scale``; 0 where
                              ``zero_block`` or ``scale_rounding`` allows it); integer zero points
                              in range, 0 when symmetric
    dequantize_is_affine      ``x_hat = (codes - zero_point) * scale``
    error_within_half_step    ``|x - x_hat| <= |scale| / 2`` (one step if stochastic) inside the
                              representable range, plus the declared scale-storage slack
    zero_exact                0.0 reconstructs exactly (the asymmetric zero point is an integer)
    requantize_stable         quantizing ``x_hat`` with the same parameters gives the same codes
    monotone                  within a block, ``x[i] <= x[j]`` implies ``x_hat[i] <= x_hat[j]``
    sign_symmetric            symmetric, restricted range and sign-symmetric ties (or a signed
                              scale): ``x_hat(-x) = -x_hat(x)``
    ties_follow_rounding      with exact scales: where ``x / scale`` is a tie, the code is the
                              declared rounding of it
    ========================  ===================================================================

    With an element ``format`` the properties are: ``runs``, ``codes_valid`` (in ``[0, 2^bits)``, no NaN
    or inf pattern), ``params_valid`` (positive scales, zero points 0), ``dequantize_is_table_times_scale``,
    ``nearest_value`` (``table[code]`` is the value nearest ``x / scale``; ``saturates`` beyond
    ``+-max``), ``ties_follow_the_format`` (exact scales only), ``zero_exact``, ``monotone``,
    ``encode_idempotent`` (encoding ``x_hat / scale`` again keeps every value), for a table
    symmetric about 0 ``sign_symmetric``, and with ``clip="minmax"`` ``range_fits`` (no block saturates).

    Min-max range selection (``clip="minmax"``) also promises, for the symmetric scheme, that the
    value that set each block's scale (the largest magnitude; with ``full_range`` the minimum or
    the maximum) reconstructs exactly, and that ``quantize(x_hat)`` gives the same codes.
    Asymmetric min-max does not promise the latter: when ``qmin - lo / scale`` is an exact tie,
    the rounded zero point moves one range end onto a tie too, and ``x_hat`` can span one step
    less than ``x``. Monotonicity, sign symmetry and stable re-quantization are skipped for
    stochastic rounding.

    Examples
    --------
    >>> def quantize(x):
    ...     scale = np.float32(np.abs(x).max() / 7) or np.float32(1)
    ...     return np.clip(np.rint(x / scale), -7, 7).astype(np.int8), scale, 0
    >>> def dequantize(codes, scale, zero_point):
    ...     return (codes.astype(np.float32) - zero_point) * scale
    >>> check_quantizer(quantize, dequantize, bits=4, scheme="symmetric", max_examples=20, seed=0)
    """
    fmt = _element_format(format)
    if fmt is None and bits is None:
        raise TypeError("check_quantizer needs bits= for format='int' (or an element format=)")
    qmin, qmax = (0, 2**fmt.bits - 1) if fmt is not None else integer_range(bits, scheme, full_range=full_range)
    for value, name, choices in ((rounding, "rounding", KIT_ROUNDINGS), (zero_block, "zero_block", ZERO_BLOCKS),
                                 (scale_rounding, "scale_rounding", SCALE_ROUNDINGS)):
        if value not in choices:
            raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    if not (isinstance(min_block_magnitude, (int, float)) and 0 <= min_block_magnitude < math.inf):
        raise ValueError(f"min_block_magnitude must be a finite number >= 0, got {min_block_magnitude!r}")
    if timeout is not None and not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    deterministic = rounding != "stochastic"
    nearest = scale_rounding == "nearest"
    if shapes is None:
        if granularity == "group" and group_size is None:
            raise ValueError("group_size is required when granularity='group'")
        g = group_size if granularity == "group" else None
        shapes = weight_shapes(group_size=g) if axis == 0 else weight_shapes(group_size=g).map(lambda s: s[::-1])
    arrays = shapes.flatmap(lambda s: quantizable_arrays(shape=s, kinds=kinds, max_magnitude=max_magnitude))
    extreme = max(qmax, -qmin)

    def quantized(x, what):
        return _three_arrays(_run_quietly(quantize, x, what=what, timeout=timeout), what)

    def reconstructed(codes, scale, zero_point, shape, what):
        x_hat = _numeric("x_hat", _run_quietly(dequantize, codes, scale, zero_point, what=what, timeout=timeout), what)
        if x_hat.shape != shape or not np.all(np.isfinite(x_hat)):
            raise P.PropertyFailed("x_hat_finite", f"x_hat must be finite with shape {shape}, got shape {x_hat.shape}")
        return x_hat

    def one_format_example(x: np.ndarray) -> None:
        block = block_shape(x.shape, granularity, axis=axis, group_size=group_size)
        codes, scale, zero_point = quantized(x.copy(), "quantize(x)")
        if codes.shape != x.shape:
            raise P.PropertyFailed("codes_shape", f"codes must have the shape of x {x.shape}, got {codes.shape}")
        P.assert_codes_valid(codes, fmt)
        zero_ok = P.zero_scale_allowed(x, block, zero_block == "zero_scale", nearest)
        P.assert_params_valid(scale, zero_point, x.shape, "symmetric", qmin, qmax, zero_allowed=zero_ok)
        x_hat = reconstructed(codes, scale, zero_point, x.shape, "dequantize(codes, scale, zero_point)")
        s = np.broadcast_to(np.asarray(scale, np.float64), x.shape)
        table_values = fmt.table[codes.astype(np.int64)]
        want = table_values * s
        off = np.abs(x_hat - want) > P.FLOAT_SLACK * np.abs(want) + P.ABS_SLACK
        if off.any():
            i = tuple(int(k) for k in np.argwhere(off)[0])
            raise P.PropertyFailed("dequantize_is_table_times_scale", f"x_hat must be table[code] * scale = {want[i]!r}, "
                                                                      f"got {x_hat[i]!r}")
        v = np.divide(x.astype(np.float64), s, out=np.zeros(x.shape), where=s != 0)
        if clip == "minmax":          # min-max: every block's range fits, nothing saturates
            over = (np.abs(v) > fmt.max * (1 + P.FLOAT_SLACK)) & (s != 0)
            if over.any():
                i = tuple(int(k) for k in np.argwhere(over)[0])
                raise P.PropertyFailed("range_fits", f"clip='minmax' promises each block's largest |x| fits: x = {x[i]!r} "
                                                     f"is {v[i]:.6g} scales, beyond {fmt.name}'s largest value {fmt.max:g}")
        P.assert_nearest_value(np.where(s != 0, v, 0.0), np.where(s != 0, table_values, 0.0), fmt,
                               slack=P.FLOAT_SLACK * np.abs(v) * (64 if nearest else 1), check_ties=not nearest)
        P.assert_zero_exact(x, x_hat)
        P.assert_monotone(x, x_hat, block)
        again = fmt.encode(np.divide(x_hat.astype(np.float64), s, out=np.zeros(x.shape), where=s != 0))
        P.assert_encode_idempotent(np.where(s != 0, codes, again), again, fmt)
        if np.array_equal(fmt.values, -fmt.values[::-1]):
            codes_neg, scale_neg, zp_neg = quantized(-x, "quantize(-x)")
            P.assert_sign_symmetric(x_hat, reconstructed(codes_neg, scale_neg, zp_neg, x.shape, "dequantize(quantize(-x))"))

    def one_example(x: np.ndarray) -> None:
        if fmt is not None:
            return one_format_example(x)
        block = block_shape(x.shape, granularity, axis=axis, group_size=group_size)
        codes, scale, zero_point = quantized(x.copy(), "quantize(x)")
        if codes.shape != x.shape:
            raise P.PropertyFailed("codes_shape", f"codes must have the shape of x {x.shape}, got {codes.shape}")
        P.assert_codes_in_range(codes, qmin, qmax)
        zero_ok = P.zero_scale_allowed(x, block, zero_block == "zero_scale", nearest)
        P.assert_params_valid(scale, zero_point, x.shape, scheme, qmin, qmax, signed=signed_scale, zero_allowed=zero_ok)
        x_hat = reconstructed(codes, scale, zero_point, x.shape, "dequantize(codes, scale, zero_point)")
        P.assert_dequantize_is_affine(codes, scale, zero_point, x_hat)
        storage = P.scale_storage_slack(codes, zero_point, scale) if nearest else 0.0
        P.assert_error_within_step(x, x_hat, scale, zero_point, qmin, qmax, fraction=0.5 if deterministic else 1.0,
                                   slack=storage)
        P.assert_zero_exact(x, x_hat)
        if not deterministic:
            return
        again = P.where_scale_nonzero(codes, P.requantize_with(x_hat, scale, zero_point, qmin, qmax), scale)
        P.assert_requantize_stable(codes, again, "with the same scale and zero point")
        P.assert_monotone(x, x_hat, block)
        if not nearest:
            P.assert_ties_follow_rounding(x, codes, scale, zero_point, qmin, qmax, rounding)
        # -x mirrors x when the grid does: a restricted range (or a scale that flips sign with x),
        # and ties that round the same way on both sides (not half_up, unless the scale flips)
        if scheme == "symmetric" and (signed_scale or (not full_range and rounding != "half_up")):
            codes_neg, scale_neg, zp_neg = quantized(-x, "quantize(-x)")
            x_hat_neg = reconstructed(codes_neg, scale_neg, zp_neg, x.shape, "dequantize(quantize(-x))")
            P.assert_sign_symmetric(x_hat, x_hat_neg)
        if clip == "minmax" and scheme == "symmetric":
            P.assert_range_end_exact(x, x_hat, scale, block, qmax=extreme, either_end=full_range)
            # Symmetric min-max re-chooses the same scale from x_hat. (Asymmetric need not:
            # when a range end sits exactly on a rounding tie, x_hat spans one step less.)
            again = quantized(x_hat.astype(np.float32), "quantize(x_hat)")[0]
            P.assert_requantize_stable(codes, P.where_scale_nonzero(codes, again, scale), "by quantize(x_hat)")

    @_settings(max_examples, seed)
    @given(arrays)
    def run(x):
        if min_block_magnitude > 0:  # report the x that was checked
            x = P.flush_small_blocks(x, block_shape(x.shape, granularity, axis=axis, group_size=group_size),
                                     min_block_magnitude)
        try:
            one_example(x)
        except P.PropertyFailed as failure:
            raise P.PropertyFailed(failure.property, failure.detail + _where(x)) from failure
        except _Hung as hung:
            hung.x = x
            raise

    _run_reporting(run, seed, "check_quantizer")


def _element_format(format):
    """``None`` for the integer grid, else the ``ElementFormat`` named (or given)."""
    from ..quant.elements import ElementFormat, get

    if isinstance(format, ElementFormat):
        return format
    if format == "int":
        return None
    if not isinstance(format, str):
        raise TypeError(f"format must be a format name or an ElementFormat, got {type(format).__name__}")
    return get(format)


def check_element_format(encode, decode, *, format, kinds=ELEMENT_KINDS, max_examples: int | None = None,
                         timeout: float | None = 10.0, seed: int | None = None) -> None:
    """Check an element encoder/decoder pair (your own NF4 or FP8, say) against the format it claims to be.

    Parameters
    ----------
    encode : callable
        ``encode(x) -> codes``: float32 values (unscaled: the format's own range) to integer codes.
    decode : callable
        ``decode(codes) -> values``.
    format : str or ElementFormat
        The format: a name of ``miniquant.formats`` (``"nf4"``, ``"fp4_e2m1"``, ``"fp8_e4m3"``, ...) or an
        ``ElementFormat`` (for example ``TableFormat("mine", 4, table)``) whose table, tie rule and range
        are the specification.
    kinds, max_examples, timeout, seed
        As ``check_quantizer`` (``kinds``: ``strategies.ELEMENT_KINDS``).

    Properties: ``decode_is_the_table`` (every bit pattern, the NaN and inf ones included, drawn raw by
    ``strategies.element_codes``), ``table_values_roundtrip``, then on tie-heavy floats
    (``strategies.element_floats``): ``codes_valid``, ``nearest_value``, ``saturates``,
    ``ties_follow_the_format`` (FP formats: to the even mantissa; NF4: to the lower value), ``monotone``,
    ``encode_idempotent`` and, for a table symmetric about 0, ``sign_symmetric``.

    Examples
    --------
    >>> import miniquant as mq
    >>> fp4 = mq.formats.get("fp4_e2m1")
    >>> check_element_format(fp4.encode, fp4.decode, format="fp4_e2m1", max_examples=20, seed=0)
    """
    fmt = _element_format(format)
    if fmt is None:
        raise ValueError("check_element_format checks element formats; for format='int' use check_quantizer")
    symmetric = np.array_equal(fmt.values, -fmt.values[::-1])
    n_codes = 2**fmt.bits

    def decoded(codes, what):
        return _numeric("values", _run_quietly(decode, codes, what=what, timeout=timeout), what).astype(np.float64)

    def encoded(x, what):
        return _numeric("codes", _run_quietly(encode, x, what=what, timeout=timeout), what)

    @_settings(max_examples, seed)
    @given(element_codes(fmt, shape=(n_codes,)), st.sampled_from(list(kinds)).flatmap(
        lambda k: element_floats(fmt, shape=(32,), kinds=(k,))))
    def run(raw, x):
        try:
            P.assert_decode_is_the_table(raw, decoded(raw.copy(), "decode(codes)"), fmt)
            P.assert_table_roundtrip(lambda v: encoded(v, "encode(table values)"),
                                     lambda c: decoded(c, "decode(encode(table values))"), fmt)
            codes = encoded(x.copy(), "encode(x)")
            if codes.shape != x.shape:
                raise P.PropertyFailed("codes_shape", f"codes must have the shape of x {x.shape}, got {codes.shape}")
            P.assert_codes_valid(codes, fmt)
            values = fmt.table[codes.astype(np.int64)]
            P.assert_nearest_value(x, values, fmt)
            P.assert_values_monotone(x, values)
            again = encoded(values.astype(np.float32), "encode(decode(encode(x)))")
            P.assert_codes_valid(again, fmt)
            P.assert_encode_idempotent(codes, again, fmt)
            if symmetric:
                negative = fmt.table[encoded(-x, "encode(-x)").astype(np.int64)]
                P.assert_sign_symmetric(values, negative)
        except P.PropertyFailed as failure:
            raise P.PropertyFailed(failure.property, failure.detail + _where(x, "x")) from failure

    _run_reporting(run, seed, "check_element_format")


def _run_reporting(run, seed, who: str) -> None:
    """Run a kit's Hypothesis test (with ``seed`` if given); a failed property or a hang becomes one AssertionError."""
    if seed is not None:
        run = hseed(seed)(run)
    try:
        run()
    except P.PropertyFailed as failure:
        raise AssertionError(f"{who}: {failure}") from failure
    except _Hung as hung:
        where = _where(hung.x, "the x it was given") if hasattr(hung, "x") else ""
        raise AssertionError(f"{who}: property 'finishes_in_time' failed: {hung.what} did not return "
                             f"within {hung.seconds:g} s (raise timeout= if it is just slow){where}") from None


def _where(x, what: str = "minimal falsifying x") -> str:
    with np.printoptions(precision=9, threshold=200):
        return f"\n{what} (shape {x.shape}, {x.dtype}):\n{x!r}"


def check_packing(pack, unpack, *, bits: int, max_examples: int | None = None, timeout: float | None = 10.0,
                  seed: int | None = None) -> None:
    """Check ``unpack(pack(codes, bits), bits, count) == codes`` and the packed size.

    ``pack(codes, bits)`` takes unsigned codes in ``[0, 2**bits - 1]`` and returns bytes;
    ``unpack(packed, bits, count)`` returns the ``count`` codes. An exception, a warning, a hang
    (``timeout`` seconds) or a result that is not an array of numbers fails with the minimal
    codes, as in ``check_quantizer``; ``seed`` makes the run repeatable.
    """
    codes = st.integers(0, 300).flatmap(
        lambda n: st.lists(st.integers(0, 2**bits - 1), min_size=n, max_size=n)
    ).map(lambda v: np.array(v, dtype=np.uint8))

    def pack_(c, b):
        return _numeric("packed", _run_quietly(pack, c, b, what=f"pack(codes, {b})", timeout=timeout), "pack")

    def unpack_(p, b, n):
        return _numeric("codes", _run_quietly(unpack, p, b, n, what=f"unpack(packed, {b}, {n})", timeout=timeout), "unpack")

    @_settings(max_examples, seed)
    @given(codes)
    def run(c):
        try:
            P.assert_pack_roundtrip(pack_, unpack_, c, bits)
        except P.PropertyFailed as failure:
            raise P.PropertyFailed(failure.property, failure.detail + f"\nminimal falsifying codes: {c!r}") from failure
        except _Hung as hung:
            hung.x = c
            raise

    if seed is not None:
        run = hseed(seed)(run)
    try:
        run()
    except P.PropertyFailed as failure:
        raise AssertionError(f"check_packing: {failure}") from failure
    except _Hung as hung:
        raise AssertionError(f"check_packing: property 'finishes_in_time' failed: {hung.what} did not return within "
                             f"{hung.seconds:g} s; codes: {hung.x!r}") from None


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
