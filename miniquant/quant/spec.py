"""``QuantSpec``: every choice that defines one quantizer, in one frozen, validated object."""
from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from ._checks import _short, check_bits, check_choice, check_positive_int
from .blocks import GRANULARITIES, block_shape
from .elements import FORMATS
from .mx import MX_BLOCK, MX_FORMATS
from .ranges import SCHEMES, integer_range
from .rounding import ROUNDINGS
from .scale_formats import SCALE_FORMATS, ScaleFormat, scale_format

CLIPS = ("minmax", "percentile", "mse")
#: Every ``format=`` a QuantSpec accepts: the integer grid, the element formats and the MX block formats.
ALL_FORMATS = ("int",) + tuple(sorted(FORMATS)) + tuple(sorted(MX_FORMATS))


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
    scale_dtype : dtype or str
        How the scales are stored (``miniquant.quant.scale_formats``): float16, float32 (the
        default), float64, ``"bfloat16"`` or ``"e8m0"`` (powers of two; the MX formats' scale and
        their default). Held as a ``ScaleFormat``, which compares equal to its NumPy dtype.
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
        as BitNet b1.58 does), the format's own rounding (ties as the format says). Or an OCP MX
        block format (``"mxfp8"``, ``"mxfp6"``, ``"mxfp6_e3m2"``, ``"mxfp4"``, ``"mxint8"``): its
        element, blocks of 32 along ``axis`` (implied) and E8M0 scales chosen by the spec's rule
        ``2^(floor(log2 amax) - emax_elem)`` (``miniquant.quant.mx``).
    double_quant : bool
        Quantize the block scales in turn (QLoRA): 8-bit e4m3 codes with a float32 scale per 256
        of them (``miniquant.quant.double_quant``); ``scale_dtype`` must then be float32.
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
    scale_dtype: ScaleFormat | None = None
    full_range: bool = False
    percentile: float = 99.9
    seed: int | None = None
    format: str = "int"
    double_quant: bool = False

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        if not isinstance(self.format, str) or self.format not in ALL_FORMATS:
            raise ValueError(f"format must be one of {list(ALL_FORMATS)}, got {_short(self.format)}")
        if self.format in MX_FORMATS:
            self._check_mx(set_)
        elif self.scale_dtype is None:
            set_("scale_dtype", SCALE_FORMATS["float32"])
        if self.format != "int":
            width = self.element.bits
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
        set_("scale_dtype", scale_format(self.scale_dtype))
        if not isinstance(self.double_quant, (bool, np.bool_)):
            raise TypeError(f"double_quant must be True or False, got {_short(self.double_quant)}")
        set_("double_quant", bool(self.double_quant))
        if self.double_quant:
            if self.format in MX_FORMATS:
                raise ValueError(f"format {self.format!r} stores its scales as E8M0 bytes already: double_quant=True "
                                 "does not apply")
            if self.scale_dtype != np.float32:
                raise ValueError(f"double_quant=True stores float32 second-level scales: scale_dtype must be float32, "
                                 f"got {self.scale_dtype.name}")
            if self.granularity == "tensor":
                raise ValueError("double_quant=True quantizes many block scales: granularity='tensor' has one")
        if not isinstance(self.full_range, (bool, np.bool_)):
            raise TypeError(f"full_range must be True or False, got {_short(self.full_range)}")
        if self.full_range and self.scheme == "asymmetric":
            raise ValueError("full_range=True applies to the symmetric scheme only (asymmetric codes always use the full range)")
        if not isinstance(self.percentile, numbers.Real) or not 50 < float(self.percentile) <= 100:
            raise ValueError(f"percentile must be a number in (50, 100], got {_short(self.percentile)}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral)):
            raise TypeError(f"seed must be an integer or None, got {_short(self.seed)}")

    def _check_mx(self, set_) -> None:
        """An MX format fixes blocks of 32 along ``axis`` and E8M0 scales: fill them in, refuse others."""
        if self.granularity not in (None, "group") or self.group_size not in (None, MX_BLOCK):
            got = f"group_size={self.group_size!r}" if self.group_size not in (None, MX_BLOCK) else \
                f"granularity={self.granularity!r}"
            raise ValueError(f"format {self.format!r} uses blocks of {MX_BLOCK} along the axis (OCP MX): {got} "
                             f"does not apply (leave it out, or give group_size={MX_BLOCK})")
        set_("granularity", "group")
        set_("group_size", MX_BLOCK)
        if self.scale_dtype is None:
            set_("scale_dtype", SCALE_FORMATS["e8m0"])
        elif scale_format(self.scale_dtype) != "e8m0":
            raise ValueError(f"format {self.format!r} stores E8M0 scales (OCP MX): scale_dtype="
                             f"{scale_format(self.scale_dtype).name} does not apply")
        if self.clip != "minmax":
            raise ValueError(f"format {self.format!r} chooses its shared exponent from the block's absmax (OCP MX): "
                             f"clip={self.clip!r} does not apply")

    @property
    def is_mx(self) -> bool:
        """Whether ``format`` is an OCP MX block format (E8M0 exponent per 32 elements, the spec's scale rule)."""
        return self.format in MX_FORMATS

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
        if self.format == "int":
            return None
        return MX_FORMATS[self.format].element if self.format in MX_FORMATS else FORMATS[self.format]

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
    d = {name: getattr(spec, name) for name in SPEC_FIELDS}
    d["scale_dtype"] = spec.scale_dtype.name
    if not d["double_quant"]:
        del d["double_quant"]             # files written before double quantization read the same
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
