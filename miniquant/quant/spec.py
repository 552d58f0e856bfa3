"""``QuantSpec``: every choice that defines one quantizer, in one frozen, validated object."""
from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from ._checks import _short, check_bits, check_choice, check_positive_int
from .blocks import GRANULARITIES, block_shape
from .elements import FORMATS
from .ranges import SCHEMES, integer_range
from .rounding import ROUNDINGS

CLIPS = ("minmax", "percentile", "mse")
SCALE_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def _check_scale_dtype(scale_dtype) -> np.dtype:
    try:
        dt = np.dtype(scale_dtype)
    except TypeError:
        raise TypeError(f"scale_dtype must be a NumPy float dtype, got {_short(scale_dtype)}") from None
    if dt not in SCALE_DTYPES:
        raise ValueError(f"scale_dtype must be float16, float32 or float64, got {dt}")
    return dt


@dataclasses.dataclass(frozen=True)
class QuantSpec:
    """How to quantize: code width, scheme, granularity, rounding, range and storage.

    Parameters
    ----------
    bits : int
        Code width, 2 to 8 (for ``format="int"``; an element format fixes its own width, and a
        ``bits`` that contradicts it is an error).
    scheme : {"symmetric", "asymmetric"}
        ``zero_point = 0`` with signed codes, or unsigned codes with an integer zero point.
    granularity : {"tensor", "channel", "group"}, optional
        Which elements share one ``(scale, zero_point)`` (see ``miniquant.quant.blocks``).
        Default: ``"group"`` when ``group_size`` is given, else ``"tensor"``.
    group_size : int, optional
        Block length along ``axis`` for ``"group"``.
    axis : int
        The axis blocks run along: 0 for a weight ``(K, N)``, 1 (or -1) for activations ``(M, K)``.
    rounding : {"half_even", "half_away", "stochastic"}
    clip : {"minmax", "percentile", "mse"}
        How each block's range is chosen (see ``miniquant.quant.clipping``).
    scale_dtype : dtype
        Storage dtype of the scales: float16, float32 (default) or float64.
    full_range : bool
        Symmetric only: also use the code ``-2**(bits-1)``.
    percentile : float
        Percentile kept by ``clip="percentile"`` (of ``|x|`` for symmetric, of each tail
        for asymmetric).
    seed : int, optional
        Seed for stochastic rounding.
    format : str
        What a code means: ``"int"`` (the affine integer grid, the default) or an element format
        of ``miniquant.formats`` (``"nf4"``, ``"fp4_e2m1"``, ``"fp6_e2m3"``, ``"fp6_e3m2"``,
        ``"fp8_e4m3"``, ``"fp8_e5m2"``, ``"ternary"``): ``x_hat = table[code] * scale``, symmetric, one
        scale per block (the block's absmax over the format's largest value; mean ``|x|`` for ternary,
        as BitNet b1.58 does), the format's own rounding (ties as the format says).

    Examples
    --------
    >>> spec = QuantSpec(bits=4, group_size=32)
    >>> spec.granularity, spec.qmin, spec.qmax
    ('group', -7, 7)
    >>> spec.block_shape((128, 16))
    (32, 1)
    """

    bits: int | None = None
    scheme: str = "symmetric"
    granularity: str | None = None
    group_size: int | None = None
    axis: int = 0
    rounding: str = "half_even"
    clip: str = "minmax"
    scale_dtype: np.dtype = np.dtype(np.float32)
    full_range: bool = False
    percentile: float = 99.9
    seed: int | None = None
    format: str = "int"

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        if self.format != "int":
            if self.format not in FORMATS:
                raise ValueError(f"format must be one of {['int'] + sorted(FORMATS)}, got {_short(self.format)}")
            width = FORMATS[self.format].bits
            if self.bits is not None and self.bits != width:
                raise ValueError(f"format {self.format!r} has {width}-bit codes, got bits={_short(self.bits)}")
            set_("bits", width)
            if self.scheme != "symmetric":
                raise ValueError(f"format {self.format!r} is symmetric (a scale per block, no zero point): "
                                 f"scheme={self.scheme!r} does not apply")
            if self.rounding != "half_even":
                raise ValueError(f"format {self.format!r} rounds as the format says (ties to even): rounding="
                                 f"{self.rounding!r} does not apply")
            if self.full_range:
                raise ValueError(f"full_range applies to format='int' only, got format={self.format!r}")
        elif self.bits is None:
            raise TypeError("bits is required for format='int' (an integer from 2 to 8)")
        set_("bits", check_bits(self.bits))
        check_choice(self.scheme, "scheme", SCHEMES)
        granularity = self.granularity
        if granularity is None:
            granularity = "group" if self.group_size is not None else "tensor"
        set_("granularity", check_choice(granularity, "granularity", GRANULARITIES))
        if self.granularity == "group":
            if self.group_size is None:
                raise ValueError("group_size is required when granularity='group'")
            set_("group_size", check_positive_int(self.group_size, "group_size"))
        elif self.group_size is not None:
            raise ValueError(
                f"group_size={self.group_size!r} only applies to granularity='group', "
                f"got granularity={self.granularity!r}"
            )
        if isinstance(self.axis, bool) or not isinstance(self.axis, numbers.Integral):
            raise TypeError(f"axis must be an integer, got {_short(self.axis)}")
        check_choice(self.rounding, "rounding", ROUNDINGS)
        check_choice(self.clip, "clip", CLIPS)
        set_("scale_dtype", _check_scale_dtype(self.scale_dtype))
        if not isinstance(self.full_range, (bool, np.bool_)):
            raise TypeError(f"full_range must be True or False, got {_short(self.full_range)}")
        if self.full_range and self.scheme == "asymmetric":
            raise ValueError("full_range=True applies to the symmetric scheme only (asymmetric codes always use the full range)")
        if not isinstance(self.percentile, numbers.Real) or not 50 < float(self.percentile) <= 100:
            raise ValueError(f"percentile must be a number in (50, 100], got {_short(self.percentile)}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral)):
            raise TypeError(f"seed must be an integer or None, got {_short(self.seed)}")

    @property
    def qmin(self) -> int:
        """Smallest code (an element format's codes are unsigned: 0)."""
        if self.format != "int":
            return 0
        return integer_range(self.bits, self.scheme, full_range=self.full_range)[0]

    @property
    def qmax(self) -> int:
        """Largest code (an element format's: ``2^bits - 1``, NaN patterns included: QTensor refuses those)."""
        if self.format != "int":
            return 2**self.bits - 1
        return integer_range(self.bits, self.scheme, full_range=self.full_range)[1]

    @property
    def granularity_label(self) -> str:
        """``"tensor"``, ``"channel"`` or ``"g32"``: how tables and labels name the granularity."""
        return f"g{self.group_size}" if self.granularity == "group" else self.granularity

    @property
    def element(self):
        """The element format (``miniquant.formats.get(format)``), or ``None`` for ``"int"``."""
        return None if self.format == "int" else FORMATS[self.format]

    def block_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The block sharing one ``(scale, zero_point)`` in an array of ``shape``."""
        return block_shape(shape, self.granularity, axis=self.axis, group_size=self.group_size)

    def replace(self, **changes) -> "QuantSpec":
        """A copy with some fields changed (validated again).

        Switching ``granularity`` away from ``"group"`` drops the group size, and giving a
        ``group_size`` alone switches to ``"group"``.

        Examples
        --------
        >>> QuantSpec(bits=4, group_size=32).replace(granularity="channel").group_size is None
        True
        >>> QuantSpec(bits=4).replace(group_size=64).granularity
        'group'
        """
        if changes.get("granularity", "group") != "group" and "group_size" not in changes:
            changes["group_size"] = None
        if changes.get("group_size") is not None and "granularity" not in changes:
            changes["granularity"] = "group"
        return dataclasses.replace(self, **changes)


#: The fields of a QuantSpec, in the order ``spec_to_dict`` writes them.
SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(QuantSpec))


def spec_to_dict(spec: QuantSpec) -> dict:
    """A JSON-ready dict of ``spec`` (``scale_dtype`` as its name), for checkpoint headers.

    Examples
    --------
    >>> d = spec_to_dict(QuantSpec(bits=4, group_size=32, scale_dtype=np.float16))
    >>> d["bits"], d["granularity"], d["scale_dtype"]
    (4, 'group', 'float16')
    >>> spec_from_dict(d) == QuantSpec(bits=4, group_size=32, scale_dtype=np.float16)
    True
    """
    d = dataclasses.asdict(spec)
    d["scale_dtype"] = spec.scale_dtype.name
    return d


def spec_from_dict(d) -> QuantSpec:
    """The ``QuantSpec`` written by ``spec_to_dict``; unknown or invalid fields raise ``ValueError``."""
    if not isinstance(d, dict):
        raise ValueError(f"a quantization spec must be a JSON object, got {_short(d)}")
    unknown = sorted(set(d) - set(SPEC_FIELDS))
    if unknown:
        raise ValueError(f"unknown quantization spec fields {unknown}")
    try:
        return QuantSpec(**d)
    except TypeError as exc:  # a field of the wrong type: corrupt data, reported as such
        raise ValueError(str(exc)) from None


def make_spec(spec: QuantSpec | None = None, **options) -> QuantSpec:
    """Return ``spec``, or build one from keyword ``options``; giving both is an error."""
    if spec is not None:
        if not isinstance(spec, QuantSpec):
            raise TypeError(f"spec must be a QuantSpec, got {_short(spec)}")
        if options:
            raise TypeError(f"give either spec or keyword options, not both (got spec and {sorted(options)})")
        return spec
    if options.get("bits") is None and options.get("format", "int") == "int":
        raise TypeError("bits is required (an integer from 2 to 8), or a format=, or pass spec=QuantSpec(...)")
    return QuantSpec(**options)
