"""Hypothesis strategies for quantization: bit-widths, specs, shapes and hostile arrays.

Modelled on ``hypothesis.extra.numpy``: noun names, keyword-only options that accept a
value or a strategy, and generation inside the valid domain (no filtering). Every array
is finite; the ``kinds`` are the cases that break careless quantizers:

============================  ==========================================================
kind                          what it exercises
============================  ==========================================================
``zeros``                     an all-zero range (scale would be 0: division by zero)
``constant``                  one value everywhere: ``min == max`` in every block
``constant_columns``          constant per column: constant per-channel/per-group blocks
``constant_rows``             constant per row (blocks along ``axis=1``)
``uniform``                   spread values at magnitudes 1e-3, 1 and 1e3
``ties``                      values exactly half-way between two codes (rounding rules)
``negative_only``             no positive value (range widening to contain 0)
``skewed``                    GELU outputs: long positive tail, small negative dip
``outliers``                  a few values 10..1e4 times the rest (per-tensor scales break)
``tiny``                      magnitudes near the float's smallest normals and subnormals
``subnormal_scales``          integer multiples of a float32 subnormal (below 1.2e-38): blocks
                              whose float32 scale is subnormal, where rounding a scale up moves it
                              by a large fraction of itself (and ``1 / scale`` overflows)
``float16_subnormal_scales``  the same for float16 scales (subnormal below 6.1e-5, reached
                              at 8 bits by any block with ``max|x| < 7.8e-3``)
``huge``                      magnitudes up to ``max_magnitude``
============================  ==========================================================

Tests: ``tests/testing/test_check.py`` and ``tests/quant/test_scales.py`` (the subnormal kinds).
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis.strategies import SearchStrategy

from ..quant import CLIPS, GRANULARITIES, ROUNDINGS, SCHEMES, QuantSpec

__all__ = [
    "ARRAY_KINDS", "ELEMENT_KINDS", "bit_widths", "schemes", "roundings", "granularities", "group_sizes",
    "weight_shapes", "quant_specs", "quantizable_arrays", "element_formats", "element_codes", "element_floats",
]

#: What ``element_floats`` draws, for a format's own table (unscaled):
ELEMENT_KINDS = ("values", "ties", "near_ties", "between", "beyond", "tiny")

ARRAY_KINDS = (
    "zeros", "constant", "constant_columns", "constant_rows", "uniform", "ties",
    "negative_only", "skewed", "outliers", "tiny", "subnormal_scales", "float16_subnormal_scales", "huge",
)


def _strategy(value) -> SearchStrategy:
    return value if isinstance(value, SearchStrategy) else st.just(value)


def bit_widths(*, min_bits: int = 2, max_bits: int = 8) -> SearchStrategy[int]:
    """Code widths from ``min_bits`` to ``max_bits`` (shrinking towards ``min_bits``)."""
    if not 2 <= min_bits <= max_bits <= 8:
        raise ValueError(f"need 2 <= min_bits <= max_bits <= 8, got {min_bits} and {max_bits}")
    return st.integers(min_bits, max_bits)


def schemes() -> SearchStrategy[str]:
    """``"symmetric"`` or ``"asymmetric"``."""
    return st.sampled_from(SCHEMES)


def roundings(*, deterministic_only: bool = False) -> SearchStrategy[str]:
    """Rounding modes; ``deterministic_only`` leaves out ``"stochastic"``."""
    return st.sampled_from([r for r in ROUNDINGS if not (deterministic_only and r == "stochastic")])


def granularities() -> SearchStrategy[str]:
    """``"tensor"``, ``"channel"`` or ``"group"``."""
    return st.sampled_from(GRANULARITIES)


def group_sizes(length: int) -> SearchStrategy[int]:
    """Group sizes that divide ``length`` (every divisor, smallest first)."""
    if length < 1:
        raise ValueError(f"length must be positive, got {length}")
    return st.sampled_from([g for g in range(1, length + 1) if length % g == 0])


def weight_shapes(*, group_size=None, max_groups: int = 4, max_side: int = 24) -> SearchStrategy[tuple[int, int]]:
    """2-D shapes ``(K, N)``; with ``group_size``, ``K`` is a multiple of it.

    Parameters
    ----------
    group_size : int or strategy, optional
    max_groups : int
        Most groups along K when ``group_size`` is given.
    max_side : int
        Largest K (without a group size) and largest N.
    """
    n = st.integers(1, max_side)
    if group_size is None:
        return st.tuples(st.integers(1, max_side), n)
    return st.tuples(
        st.builds(lambda g, m: g * m, _strategy(group_size), st.integers(1, max_groups)), n
    )


@st.composite
def quant_specs(
    draw,
    *,
    shape,
    bits=bit_widths(),
    scheme=schemes(),
    granularity=granularities(),
    rounding=roundings(),
    clip=st.sampled_from(CLIPS),
    scale_dtype=st.sampled_from([np.float32, np.float16]),
    axis=0,
    full_range=st.booleans(),
) -> QuantSpec:
    """``QuantSpec`` objects valid for arrays of ``shape`` (group sizes divide ``shape[axis]``).

    Each option takes a value or a strategy. ``full_range`` is only drawn for symmetric specs.
    """
    shape = tuple(draw(_strategy(shape)))
    a = draw(_strategy(axis))
    sch = draw(_strategy(scheme))
    gran = draw(_strategy(granularity))
    gs = draw(group_sizes(shape[a])) if gran == "group" else None
    fr = draw(_strategy(full_range)) if sch == "symmetric" else False
    return QuantSpec(
        bits=draw(_strategy(bits)), scheme=sch, granularity=gran, group_size=gs, axis=a,
        rounding=draw(_strategy(rounding)), clip=draw(_strategy(clip)),
        scale_dtype=draw(_strategy(scale_dtype)), full_range=fr, seed=0,
    )


def _floats(lo, hi, dtype) -> SearchStrategy[float]:
    dt = np.dtype(dtype)
    lo, hi = float(dt.type(lo)), float(dt.type(hi))  # bounds must be representable at this width
    return st.floats(min_value=lo, max_value=hi, width=dt.itemsize * 8, allow_nan=False, allow_infinity=False)


def _signed(magnitudes: SearchStrategy[float]) -> SearchStrategy[float]:
    return st.builds(lambda m, neg: -m if neg else m, magnitudes, st.booleans())


@st.composite
def quantizable_arrays(draw, *, shape, dtype=np.float32, kinds=ARRAY_KINDS, max_magnitude: float | None = None):
    """Finite float arrays of ``shape`` drawn from the hostile ``kinds`` of the module table.

    Parameters
    ----------
    shape : tuple of int or strategy
    dtype : float16, float32 or float64 (or a strategy)
    kinds : sequence of str
        A subset of ``ARRAY_KINDS``; shrinking prefers the earlier ones.
    max_magnitude : float, optional
        Largest ``|x|`` (for ``huge`` and outliers). Default ``1e30`` (float16: ``6e4``).
    """
    shape = tuple(draw(_strategy(shape)))
    dtype = np.dtype(draw(_strategy(dtype)))
    unknown = set(kinds) - set(ARRAY_KINDS)
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {ARRAY_KINDS}, got {kinds!r}")
    fmax = float(np.finfo(dtype).max)
    big = min(1e30 if max_magnitude is None else float(max_magnitude), fmax / 4)
    kind = draw(st.sampled_from(list(kinds)))
    m = draw(st.sampled_from([1.0, 1e-3, 1e3]))
    m = min(m, big)
    uniform = lambda mag: hnp.arrays(dtype, shape, elements=_floats(-mag, mag, dtype))  # noqa: E731

    if kind == "zeros":
        x = np.zeros(shape, dtype)
    elif kind == "constant":
        x = np.full(shape, draw(_floats(-m, m, dtype)), dtype)
    elif kind == "constant_columns":
        x = np.broadcast_to(draw(hnp.arrays(dtype, (1,) * (len(shape) - 1) + shape[-1:], elements=_floats(-m, m, dtype))), shape)
    elif kind == "constant_rows":
        x = np.broadcast_to(draw(hnp.arrays(dtype, shape[:1] + (1,) * (len(shape) - 1), elements=_floats(-m, m, dtype))), shape)
    elif kind == "uniform":
        x = draw(uniform(m))
    elif kind == "ties":
        # Integers + 0.5 next to an extreme of +-Q: with Q = qmax of some bit-width the
        # min-max scale is exactly one unit, so every other value sits on a rounding tie.
        q = draw(st.sampled_from(sorted({v for b in range(2, 9) for v in (2**b - 1, 2 ** (b - 1) - 1, 2 ** (b - 1))} - {0})))
        k = draw(hnp.arrays(np.int64, shape, elements=st.integers(-q, q - 1)))
        x = k + 0.5
        x.reshape(-1)[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from([q, -q]))
        if draw(st.booleans()):
            x = np.abs(x)  # a non-negative array: the asymmetric zero point is 0, ties stay ties
        x = x * 2.0 ** draw(st.integers(-4, 4))
    elif kind == "negative_only":
        x = draw(hnp.arrays(dtype, shape, elements=_floats(-m, -float(np.finfo(dtype).tiny), dtype)))
    elif kind == "skewed":
        u = draw(hnp.arrays(np.float64, shape, elements=_floats(-4.0, 4.0, np.float64)))
        x = 0.5 * u * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (u + 0.044715 * u**3)))  # GELU
    elif kind == "outliers":
        x = draw(uniform(1.0)).copy()
        positions = draw(st.lists(st.integers(0, x.size - 1), min_size=1, max_size=3))
        for p in positions:
            x.reshape(-1)[p] = draw(_signed(_floats(10.0, min(1e4, big), dtype)))
    elif kind == "tiny":
        tiny = float(np.finfo(dtype).tiny)
        smallest = float(np.finfo(dtype).smallest_subnormal)
        x = draw(hnp.arrays(dtype, shape, elements=_signed(_floats(smallest, tiny * 1e4, dtype))))
    elif kind in ("subnormal_scales", "float16_subnormal_scales"):
        # A unit between the smallest subnormal of float32 (or float16) and its smallest normal
        # (in the array's own dtype), times small integers: max|x| / qmax is then a subnormal
        # scale of that dtype for every bit-width, often on a rounding tie.
        info = np.finfo(np.float16 if kind.startswith("float16") else np.float32)
        shift = draw(st.one_of(st.integers(0, 2), st.integers(0, info.nmant)))  # often the very smallest
        unit = float(info.smallest_subnormal) * 2.0**shift
        unit = max(unit, float(np.finfo(dtype).smallest_subnormal))
        top = draw(st.one_of(st.integers(1, 16), st.integers(1, 600)))  # max|x| in units: few units, coarsest scales
        k = draw(hnp.arrays(np.int64, shape, elements=st.integers(-top, top))).copy()
        k.reshape(-1)[draw(st.integers(0, k.size - 1))] = draw(st.sampled_from([top, -top]))
        x = np.asarray(k * unit, dtype=dtype)
    else:  # huge
        x = draw(hnp.arrays(dtype, shape, elements=_signed(_floats(big * 1e-3, big, dtype))))
    return np.ascontiguousarray(x, dtype=dtype)


def element_formats(names=None) -> SearchStrategy:
    """Element formats of ``miniquant.formats`` (all of them, or the ``names`` given)."""
    from ..quant.elements import FORMATS

    return st.sampled_from([FORMATS[n] for n in (sorted(FORMATS) if names is None else names)])


def _format(fmt):
    if isinstance(fmt, str):
        from ..quant.elements import get

        return get(fmt)
    return fmt


def element_codes(fmt, *, shape=(64,), reserved: bool = True) -> SearchStrategy[np.ndarray]:
    """Raw bit patterns of ``fmt`` (uint8 codes of shape ``shape``): every pattern, NaN and inf ones too unless
    ``reserved=False``. Often the whole table at once: ``np.arange(2^bits)`` in a random order."""
    fmt = _format(fmt)
    allowed = np.arange(2**fmt.bits) if reserved else np.flatnonzero(np.isfinite(fmt.table))
    shape = tuple(shape)
    anything = hnp.arrays(np.uint8, shape, elements=st.sampled_from(allowed.astype(np.uint8).tolist()))
    if int(np.prod(shape)) != allowed.size:
        return anything
    return st.one_of(st.permutations(allowed.astype(np.uint8).tolist()).map(lambda c: np.array(c, np.uint8).reshape(shape)),
                     anything)


def element_floats(fmt, *, shape=(32,), kinds=ELEMENT_KINDS) -> SearchStrategy[np.ndarray]:
    """float32 arrays that probe an encoder of ``fmt`` (a format or its name), one kind per array:

    ``values`` the representable values themselves; ``ties`` midpoints of neighbouring values (exact in
    float32 for these narrow formats); ``near_ties`` one float32 step either side of a midpoint; ``between``
    anything inside the range; ``beyond`` past ``+-max`` (saturation); ``tiny`` around the smallest
    non-zero value (subnormals of the minifloats) and signed zeros.
    """
    fmt = _format(fmt)
    unknown = set(kinds) - set(ELEMENT_KINDS)
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {ELEMENT_KINDS}, got {kinds!r}")
    return _element_floats(fmt, shape, tuple(kinds))


@st.composite
def _element_floats(draw, fmt, shape, kinds) -> np.ndarray:
    shape = tuple(draw(_strategy(shape)))
    values = fmt.values.astype(np.float64)
    mids = (values[:-1] + values[1:]) / 2
    kind = draw(st.sampled_from(list(kinds)))
    n = int(np.prod(shape))
    pick = lambda pool: np.asarray(pool)[draw(hnp.arrays(np.int64, shape, elements=st.integers(0, len(pool) - 1)))]  # noqa: E731
    if kind == "values":
        x = pick(values)
    elif kind == "ties":
        x = pick(mids)
    elif kind == "near_ties":
        m = pick(mids).astype(np.float32)
        up = draw(hnp.arrays(np.bool_, shape))
        x = np.nextafter(m, np.where(up, np.float32(np.inf), np.float32(-np.inf)))
    elif kind == "between":
        x = draw(hnp.arrays(np.float32, shape, elements=_floats(values[0], values[-1], np.float32)))
    elif kind == "beyond":
        top = float(fmt.max)
        mags = draw(hnp.arrays(np.float64, shape, elements=st.floats(top, top * 1e3, allow_nan=False)))
        x = np.where(draw(hnp.arrays(np.bool_, shape)), -mags, mags)
    else:  # tiny
        small = float(np.min(np.abs(values[values != 0])))
        x = pick(np.array([0.0, -0.0, small / 2, small, -small, small * 0.75, small * 1.5, -small / 2]))
    x = np.asarray(x, np.float32).reshape(shape)
    if n > 1 and draw(st.booleans()):      # mix in the largest values, so that saturation and ties meet
        x.reshape(-1)[draw(st.integers(0, n - 1))] = draw(st.sampled_from([fmt.max, -fmt.max]))
    return x
