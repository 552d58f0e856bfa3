"""The standard properties of a quantizer, each a plain function on one example.

``check_quantizer`` (in ``check.py``) runs them under Hypothesis against any pair of
callables; the library's own tests call them directly too. Each raises
``PropertyFailed`` (an ``AssertionError``) whose message names the property.

Floating-point slack: the bounds allow a few float32 rounding errors of the values
involved (``FLOAT_SLACK``), never a fraction of a quantization step, so that a real
off-by-one-step bug still fails.
"""
from __future__ import annotations

import numpy as np

from ..quant.blocks import block_axes, to_blocks

#: Relative slack for float32 arithmetic in the bounds (a few units in the last place).
FLOAT_SLACK = 8 * float(np.finfo(np.float32).eps)
#: Absolute slack: the smallest float32 subnormal (products of subnormal scales).
ABS_SLACK = float(np.finfo(np.float32).smallest_subnormal)


class PropertyFailed(AssertionError):
    """A quantization property does not hold; ``.property`` names it."""

    def __init__(self, name: str, detail: str):
        super().__init__(f"property '{name}' failed: {detail}")
        self.property = name
        self.detail = detail


def _first_bad(mask: np.ndarray) -> str:
    idx = tuple(int(i) for i in np.argwhere(mask)[0])
    return f"{int(mask.sum())} element(s), the first at index {idx}"


def assert_codes_in_range(codes, qmin: int, qmax: int) -> None:
    """Codes are integers in ``[qmin, qmax]``."""
    codes = np.asarray(codes)
    if not (np.issubdtype(codes.dtype, np.integer) or (np.issubdtype(codes.dtype, np.floating) and np.all(codes == np.round(codes)))):
        raise PropertyFailed("codes_in_range", f"codes are not integers (dtype {codes.dtype})")
    bad = (codes < qmin) | (codes > qmax)
    if bad.any():
        raise PropertyFailed(
            "codes_in_range",
            f"codes must lie in [{qmin}, {qmax}], but {_first_bad(bad)} is {codes[bad][0]}",
        )


def flush_small_blocks(x, block: tuple[int, ...], smallest: float) -> np.ndarray:
    """``x`` with every block whose largest ``|x|`` is below ``smallest`` set to zeros (a declared domain)."""
    x = np.array(x, copy=True)
    v = to_blocks(x, block)
    small = np.max(np.abs(v), axis=block_axes(x.ndim), keepdims=True) < smallest
    v[np.broadcast_to(small, v.shape)] = 0
    return x


def zero_scale_allowed(x, block: tuple[int, ...], zero_blocks: bool, nearest: bool) -> np.ndarray:
    """Where a scale of 0 is legitimate, shape ``x.shape``: all-zero blocks if ``zero_blocks``,
    anywhere if scales are rounded to nearest (a tiny scale may underflow; the error bound judges it)."""
    x = np.asarray(x)
    if nearest:
        return np.ones(x.shape, dtype=bool)
    if not zero_blocks:
        return np.zeros(x.shape, dtype=bool)
    v = to_blocks(x, block)
    return np.broadcast_to(np.all(v == 0, axis=block_axes(x.ndim), keepdims=True), v.shape).reshape(x.shape)


def assert_params_valid(scale, zero_point, shape, scheme: str, qmin: int, qmax: int, *, signed: bool = False,
                        zero_allowed=False) -> None:
    """Scales are finite and positive (nonzero if ``signed``; 0 where ``zero_allowed``); zero points are
    integers in range (zero if symmetric); both broadcast to ``shape``."""
    scale, zero_point = np.asarray(scale), np.asarray(zero_point)
    for name, p in (("scale", scale), ("zero_point", zero_point)):
        try:
            np.broadcast_shapes(p.shape, shape)
        except ValueError:
            raise PropertyFailed("params_broadcast", f"{name} of shape {p.shape} does not broadcast against x of shape {shape}") from None
    full = np.broadcast_to(scale, shape)
    bad = ~np.isfinite(full) | ((full == 0) & ~np.broadcast_to(zero_allowed, shape))
    if not signed:
        bad |= full < 0
    if bad.any():
        rule = "nonzero" if signed else "> 0"
        raise PropertyFailed("scale_finite_positive", f"scale must be finite and {rule}, got {float(full[bad][0])!r} at "
                                                      f"{_first_bad(bad)}")
    if np.any(zero_point != np.round(zero_point)):
        raise PropertyFailed("zero_point_integer", f"zero_point must be integers, got {np.unique(zero_point)[:5]}")
    if scheme == "symmetric" and np.any(zero_point != 0):
        raise PropertyFailed("symmetric_zero_point_is_zero", f"got zero points {np.unique(zero_point)[:5]}")
    if np.any(zero_point < qmin) or np.any(zero_point > qmax):
        raise PropertyFailed("zero_point_in_range", f"zero points must lie in [{qmin}, {qmax}], got {np.unique(zero_point)[:5]}")


def scale_storage_slack(codes, zero_point, scale) -> np.ndarray:
    """``(|code - zero_point| + 1/2) * spacing(scale) / 2``: what rounding the scale to nearest in its dtype adds.

    The codes were chosen for the unrounded scale ``d``; the stored one differs by up to half a
    spacing, which moves ``x_hat`` by ``|code - zero_point|`` times that, and the half step of
    ``d`` itself exceeds the half step of the stored scale by up to a quarter spacing.
    """
    scale = np.asarray(scale)
    dtype = scale.dtype if np.issubdtype(scale.dtype, np.floating) else np.dtype(np.float64)
    spacing = np.abs(np.spacing(np.abs(scale).astype(dtype))).astype(np.float64)
    steps = np.abs(np.asarray(codes, np.float64) - np.asarray(zero_point, np.float64))
    return (steps + 0.5) * spacing / 2


def assert_dequantize_is_affine(codes, scale, zero_point, x_hat) -> None:
    """``x_hat == (codes - zero_point) * scale`` up to float32 rounding."""
    expected = (np.asarray(codes, np.float64) - np.asarray(zero_point, np.float64)) * np.asarray(scale, np.float64)
    x_hat = np.asarray(x_hat, np.float64)
    if x_hat.shape != np.broadcast(expected, x_hat).shape:
        raise PropertyFailed("dequantize_shape", f"x_hat has shape {x_hat.shape}, expected {expected.shape}")
    bad = np.abs(x_hat - expected) > FLOAT_SLACK * np.abs(expected) + ABS_SLACK
    if bad.any():
        raise PropertyFailed(
            "dequantize_is_affine",
            f"x_hat must equal (codes - zero_point) * scale; {_first_bad(bad)}: "
            f"{float(x_hat[bad][0])!r} instead of {float(np.broadcast_to(expected, bad.shape)[bad][0])!r}",
        )


def assert_error_within_step(x, x_hat, scale, zero_point, qmin: int, qmax: int, *, fraction: float = 0.5,
                             slack=0.0) -> None:
    """``|x - x_hat| <= fraction * |scale| + slack`` wherever ``x`` lies inside the representable range.

    The range of each element runs between ``(qmin - zp) * scale`` and ``(qmax - zp) * scale``;
    ``fraction`` is 0.5 for round-to-nearest and 1 for stochastic rounding; ``slack`` (broadcast
    to ``x``) is what the declared scale storage adds (``scale_storage_slack``).
    """
    x = np.asarray(x, np.float64)
    x_hat = np.asarray(x_hat, np.float64)
    scale = np.broadcast_to(np.asarray(scale, np.float64), x.shape)
    zp = np.broadcast_to(np.asarray(zero_point, np.float64), x.shape)
    a, b = (qmin - zp) * scale, (qmax - zp) * scale
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    slack = np.broadcast_to(np.asarray(slack, np.float64), x.shape)
    inside = (x >= lo - slack) & (x <= hi + slack)
    err = np.abs(x - x_hat)
    bound = fraction * np.abs(scale) + slack + FLOAT_SLACK * (np.abs(x) + np.abs(x_hat)) + ABS_SLACK
    bad = inside & (err > bound)
    if bad.any():
        i = tuple(int(v) for v in np.argwhere(bad)[0])
        steps = err[i] / abs(scale[i]) if scale[i] else float("inf")
        raise PropertyFailed(
            "error_within_half_step" if fraction == 0.5 else "error_within_step",
            f"|x - x_hat| must be <= {fraction} * scale inside the range; at index {i}: "
            f"x={float(x[i])!r}, x_hat={float(x_hat[i])!r}, scale={float(scale[i])!r} (error {steps:.3f} steps)",
        )


def assert_zero_exact(x, x_hat) -> None:
    """Every ``x == 0.0`` reconstructs to exactly 0.0."""
    x, x_hat = np.asarray(x), np.asarray(x_hat)
    bad = (x == 0) & (x_hat != 0)
    if bad.any():
        raise PropertyFailed("zero_exact", f"0.0 must reconstruct exactly; {_first_bad(bad)} gives {float(x_hat[bad][0])!r}")


def block_view(a: np.ndarray, block: tuple[int, ...]) -> np.ndarray:
    """``a`` reshaped to ``(n_blocks, block_elements)``, one row per block (blocks in C order)."""
    v = to_blocks(a, block)                                   # (n0, b0, n1, b1, ...)
    inside = block_axes(a.ndim)
    outside = tuple(d for d in range(v.ndim) if d not in inside)
    return v.transpose(outside + inside).reshape(-1, int(np.prod(block)))


def assert_range_end_exact(x, x_hat, scale, block: tuple[int, ...], *, qmax: int, either_end: bool = False) -> None:
    """Symmetric min-max uses its whole range: the value that set each block's scale is exact.

    With the restricted range that value is the largest ``|x|`` of the block (it maps to
    ``+-qmax``); with ``either_end`` (full range, where ``-qmax - 1`` exists too) it is the
    block's minimum or its maximum, whichever needed the larger step. "Exact" allows the
    rounding of the stored scale: ``qmax`` units in the last place of the scale.
    """
    x = np.asarray(x, np.float64)
    x_hat = np.asarray(x_hat, np.float64)
    scale = np.broadcast_to(np.asarray(scale), x.shape)
    slack = 2 * qmax * np.abs(np.spacing(scale)).astype(np.float64) + FLOAT_SLACK * np.abs(x) + ABS_SLACK
    xb, hb, sb = (block_view(a, block) for a in (x, x_hat, slack))
    rows = np.arange(xb.shape[0])
    ok_rows = np.zeros(xb.shape[0], dtype=bool)
    ends = [np.argmin(xb, axis=1), np.argmax(xb, axis=1)] if either_end else [np.argmax(np.abs(xb), axis=1)]
    for j in ends:
        ok_rows |= np.abs(hb[rows, j] - xb[rows, j]) <= sb[rows, j]
    if not ok_rows.all():
        b = int(np.argmin(ok_rows))
        j = ends[-1][b]
        what = "neither its minimum nor its maximum reconstructs" if either_end else "its largest magnitude does not reconstruct"
        raise PropertyFailed(
            "range_end_exact",
            f"block {b}: {what} exactly ({float(xb[b, j])!r} -> {float(hb[b, j])!r}); "
            f"symmetric min-max must map the value that sets the scale to the extreme code",
        )


def requantize_with(x_hat, scale, zero_point, qmin: int, qmax: int) -> np.ndarray:
    """Codes of ``x_hat`` under fixed parameters: ``clip(rint(x_hat / scale) + zero_point)`` (0 steps where scale is 0)."""
    x_hat = np.asarray(x_hat, np.float64)
    scale = np.broadcast_to(np.asarray(scale, np.float64), x_hat.shape)
    v = np.divide(x_hat, scale, out=np.zeros(x_hat.shape), where=scale != 0)
    return np.clip(np.rint(v) + np.asarray(zero_point, np.float64), qmin, qmax)


def where_scale_nonzero(codes, codes_again, scale) -> np.ndarray:
    """``codes_again``, but ``codes`` where the scale is 0: codes under a zero scale mean nothing."""
    codes = np.asarray(codes)
    return np.where(np.broadcast_to(np.asarray(scale), codes.shape) == 0, codes, codes_again)


def assert_monotone(x, x_hat, block: tuple[int, ...]) -> None:
    """Within each block, a larger ``x`` never reconstructs smaller: ``x[i] <= x[j] => x_hat[i] <= x_hat[j]``."""
    xb = block_view(np.asarray(x, np.float64), block)
    hb = block_view(np.asarray(x_hat, np.float64), block)
    order = np.argsort(xb, axis=1, kind="stable")
    xs, hs = np.take_along_axis(xb, order, axis=1), np.take_along_axis(hb, order, axis=1)
    # equal x must give equal x_hat; a strictly larger x an x_hat at least as large
    bad = (np.diff(hs, axis=1) < 0) | ((np.diff(xs, axis=1) == 0) & (np.diff(hs, axis=1) != 0))
    if bad.any():
        b, j = (int(v) for v in np.argwhere(bad)[0])
        raise PropertyFailed("monotone", f"block {b}: x = {xs[b, j]!r} -> {hs[b, j]!r} but x = {xs[b, j + 1]!r} -> "
                                         f"{hs[b, j + 1]!r}; quantization must preserve order")


def assert_sign_symmetric(x_hat, x_hat_of_negative) -> None:
    """A symmetric quantizer (restricted range, or a signed scale) reconstructs ``-x`` as ``-x_hat``."""
    a, b = np.asarray(x_hat, np.float64), np.asarray(x_hat_of_negative, np.float64)
    bad = a != -b
    if bad.any():
        i = tuple(int(v) for v in np.argwhere(bad)[0])
        raise PropertyFailed("sign_symmetric", f"x_hat(-x) must be -x_hat(x); {_first_bad(bad)}: "
                                               f"{float(a[i])!r} vs {float(b[i])!r}")


def _round_ties(v: np.ndarray, rounding: str) -> np.ndarray:
    if rounding == "half_away":
        return np.sign(v) * np.floor(np.abs(v) + 0.5)
    if rounding == "half_up":
        return np.floor(v + 0.5)
    return np.rint(v)


def assert_ties_follow_rounding(x, codes, scale, zero_point, qmin: int, qmax: int, rounding: str) -> None:
    """Where ``x / scale`` is exactly half-way between two codes (inside the range), the code is the declared rounding."""
    x = np.asarray(x, np.float64)
    scale = np.broadcast_to(np.asarray(scale, np.float64), x.shape)
    zp = np.broadcast_to(np.asarray(zero_point, np.float64), x.shape)
    v = np.divide(x, scale, out=np.zeros(x.shape), where=scale != 0)
    tie = (scale != 0) & (v - np.floor(v) == 0.5)
    want = np.clip(_round_ties(v, rounding) + zp, qmin, qmax)
    bad = tie & (np.asarray(codes, np.float64) != want)
    if bad.any():
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        raise PropertyFailed("ties_follow_rounding", f"x / scale = {v[i]!r} is a tie: rounding={rounding!r} gives code "
                                                     f"{int(want[i])}, got {np.asarray(codes)[i]!r} ({_first_bad(bad)})")


def assert_requantize_stable(codes, codes_again, how: str = "") -> None:
    """Quantizing the reconstruction again gives the same codes."""
    codes, codes_again = np.asarray(codes), np.asarray(codes_again)
    if codes.shape != codes_again.shape:
        raise PropertyFailed("requantize_stable", f"shapes differ: {codes.shape} vs {codes_again.shape}")
    bad = codes != codes_again
    if bad.any():
        raise PropertyFailed(
            "requantize_stable",
            f"quantizing x_hat {how} must give the same codes; {_first_bad(bad)}: "
            f"{codes[bad][0]} became {codes_again[bad][0]}",
        )


def assert_pack_roundtrip(pack, unpack, codes, bits: int) -> None:
    """``unpack(pack(codes)) == codes`` and the packed size is ``ceil(n * bits / 8)`` bytes."""
    codes = np.asarray(codes)
    packed = np.asarray(pack(codes, bits))
    expected = -(-codes.size * bits // 8)
    if packed.nbytes != expected:
        raise PropertyFailed("packed_size", f"{codes.size} codes of {bits} bits must take {expected} bytes, took {packed.nbytes}")
    back = np.asarray(unpack(packed, bits, codes.size)).reshape(codes.shape)
    if not np.array_equal(back, codes):
        raise PropertyFailed("pack_roundtrip", f"unpack(pack(codes)) differs at {_first_bad(back != codes)}")


def assert_ledger_matches(qt) -> None:
    """The memory ledger of a ``QTensor`` equals its real ``nbytes``."""
    from ..eval.memory import ledger_row

    row = ledger_row(qt)
    if row.total_bits != 8 * qt.nbytes or row.total_bytes != qt.nbytes:
        raise PropertyFailed("ledger_matches_nbytes", f"ledger says {row.total_bits} bits, nbytes is {qt.nbytes} bytes")
    if abs(row.bits_per_weight - qt.bits_per_weight) > 1e-12:
        raise PropertyFailed("ledger_matches_nbytes", f"ledger {row.bits_per_weight} vs {qt.bits_per_weight} bits per weight")


# -- element formats (codebooks): NF4, FP4, FP8, ... -------------------------------------------------
def assert_codes_valid(codes, fmt) -> None:
    """Codes are integers in ``[0, 2^bits)`` and none is a pattern the format reserves for NaN or inf."""
    codes = np.asarray(codes)
    assert_codes_in_range(codes, 0, 2**fmt.bits - 1)
    reserved = np.isin(codes.astype(np.int64), np.flatnonzero(~np.isfinite(fmt.table)))
    if reserved.any():
        raise PropertyFailed("codes_not_reserved", f"{_first_bad(reserved)} is code {int(codes[reserved][0])}, which "
                                                   f"{fmt.name} reserves for NaN or inf")


def assert_decode_is_the_table(codes, values, fmt) -> None:
    """``decode(codes)`` is the format's value of every code (NaN patterns decode to NaN; ``-0`` may be ``0``)."""
    codes = np.asarray(codes).astype(np.int64)
    values = np.asarray(values, np.float64)
    want = fmt.table[codes]
    bad = ~((values == want) | (np.isnan(values) & np.isnan(want)))
    if values.shape != codes.shape or bad.any():
        if values.shape != codes.shape:
            raise PropertyFailed("decode_is_the_table", f"decode must keep the shape {codes.shape}, got {values.shape}")
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        raise PropertyFailed("decode_is_the_table", f"code {int(codes[i])} ({int(codes[i]):#04x}) means {want[i]!r} in "
                                                    f"{fmt.name}, decode gave {values[i]!r} ({_first_bad(bad)})")


def assert_table_roundtrip(encode, decode, fmt) -> None:
    """Every finite value of the table encodes to a code that decodes to that very value."""
    values = np.asarray(fmt.values, np.float32)
    back = np.asarray(decode(np.asarray(encode(values))), np.float64)
    bad = back != values.astype(np.float64)
    if bad.any():
        i = int(np.argwhere(bad)[0][0])
        raise PropertyFailed("table_values_roundtrip", f"{values[i]!r} is a value of {fmt.name}, but decode(encode(.)) "
                                                       f"gave {back[i]!r} ({_first_bad(bad)})")


def _nearest_reference(v: np.ndarray, fmt) -> np.ndarray:
    return fmt.decode(fmt.encode(v)).astype(np.float64)


def assert_nearest_value(v, v_hat, fmt, *, slack=0.0, check_ties: bool = True) -> None:
    """``v_hat`` is the representable value nearest ``v`` (saturating at ``+-max``); ties as the format says.

    ``slack`` (same shape or scalar) widens the distance test, for values that were divided by a scale in
    another precision than float64; ties are then left unchecked (``check_ties=False``).
    """
    v = np.asarray(v, np.float64)
    v_hat = np.asarray(v_hat, np.float64)
    ref = _nearest_reference(v, fmt)
    lo, hi = float(fmt.values[0]), float(fmt.values[-1])
    beyond = (v > hi) | (v < lo)
    sat = beyond & (v_hat != np.clip(v, lo, hi))
    if sat.any():
        i = tuple(int(k) for k in np.argwhere(sat)[0])
        raise PropertyFailed("saturates", f"{v[i]!r} is beyond {fmt.name}'s range [{lo:g}, {hi:g}]: it must become "
                                          f"{np.clip(v[i], lo, hi)!r}, got {v_hat[i]!r} ({_first_bad(sat)})")
    far = ~beyond & (np.abs(v - v_hat) > np.abs(v - ref) + slack)
    if far.any():
        i = tuple(int(k) for k in np.argwhere(far)[0])
        raise PropertyFailed("nearest_value", f"{v[i]!r} became {v_hat[i]!r}, but {ref[i]!r} is nearer "
                                              f"({_first_bad(far)})")
    if check_ties:
        tie = ~beyond & (v_hat != ref) & (np.abs(v - v_hat) == np.abs(v - ref))
        if tie.any():
            i = tuple(int(k) for k in np.argwhere(tie)[0])
            rule = "the even mantissa" if fmt.tie == "even" else "the lower value"
            raise PropertyFailed("ties_follow_the_format", f"{v[i]!r} is half-way between {min(ref[i], v_hat[i])!r} and "
                                                           f"{max(ref[i], v_hat[i])!r}: {fmt.name} rounds to {rule}, "
                                                           f"{ref[i]!r}; got {v_hat[i]!r} ({_first_bad(tie)})")


def assert_values_monotone(v, v_hat) -> None:
    """A larger input never encodes to a smaller value (over the whole array)."""
    v = np.asarray(v, np.float64).reshape(-1)
    h = np.asarray(v_hat, np.float64).reshape(-1)
    assert_monotone(v[None, :], h[None, :], (1, v.size))


def assert_encode_idempotent(codes, codes_again, fmt) -> None:
    """Encoding a decoded value gives a code of the same value (``+0`` and ``-0`` count as one)."""
    a = fmt.table[np.asarray(codes).astype(np.int64)]
    b = fmt.table[np.asarray(codes_again).astype(np.int64)]
    bad = ~((a == b) | (np.isnan(a) & np.isnan(b)))
    if bad.any():
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        raise PropertyFailed("encode_idempotent", f"encode(decode(code)) must keep the value: {a[i]!r} became "
                                                  f"{b[i]!r} ({_first_bad(bad)})")
