"""How a block's scale is stored: float32, float16, float64, bfloat16 or E8M0.

A scale is computed in float64 and stored in a *scale format*; ``round_up`` gives the smallest
stored value at least as large (so the chosen range still fits after storage) and
``encode``/``decode`` convert between the values and the stored bits::

    format     stored as                 bits  values (positive)                       round_up of 0.1
    float32    float32                   32    2^-149 .. 3.4e38, 24-bit significand     0.1 (next float32 up)
    float16    float16                   16    2^-24 .. 65504, 11-bit significand       0.10004
    float64    float64                   64    (full precision; for experiments)        0.1
    bfloat16   uint16: float32's top     16    2^-133 .. 3.39e38, 8-bit significand     0.10009766
               16 bits (sign, 8-bit
               exponent, 7-bit mantissa)
    e8m0       uint8: the exponent       8     2^-127 .. 2^127, powers of two only      0.125
               e + 127 (0xFF is NaN)

bfloat16 keeps float32's range with a short significand (what accelerators use for
activations and, in some formats, scales); E8M0 is the OCP Microscaling scale: a bare
power of two, so dequantizing is an exponent add. NumPy has neither type, so both are
stored as their bit patterns and decoded exactly to float32 (``decode``); ``value_dtype`` is
the dtype of the decoded values (float16/float32/float64 for the IEEE formats themselves).

``QuantSpec(scale_dtype=...)`` accepts a name (``"bfloat16"``, ``"e8m0"``), a NumPy dtype or
one of these objects, and holds the ``ScaleFormat``; it compares equal to its NumPy dtype
(``spec.scale_dtype == np.float16``). Tests: ``tests/quant/test_scale_formats.py``.
"""
from __future__ import annotations

import numpy as np

from ._checks import _short

#: E8M0's exponent bias; the byte 0xFF is NaN.
E8M0_BIAS = 127


class ScaleFormat:
    """One way to store positive scales (module docstring).

    Attributes
    ----------
    name : str
    bits : int
        Stored bits per scale (what the memory ledger counts).
    storage : np.dtype
        The dtype of the stored array (``QTensor.stored_scale``).
    value_dtype : np.dtype
        The dtype of decoded scales (``QTensor.scale``, ``choose_qparams``).
    max : float
        The largest finite value.
    """

    def __init__(self, name: str, bits: int, storage, value_dtype, max_value: float):
        self.name, self.bits = name, bits
        self.storage, self.value_dtype = np.dtype(storage), np.dtype(value_dtype)
        self.max = float(max_value)

    @property
    def dtype(self) -> np.dtype:
        """``value_dtype``: so that ``np.dtype(spec.scale_dtype)`` and ``a.astype(spec.scale_dtype)`` give the values' dtype."""
        return self.value_dtype

    @property
    def itemsize(self) -> int:
        """Bytes per stored scale."""
        return self.bits // 8

    def __repr__(self) -> str:
        return f"ScaleFormat({self.name!r})"

    def __eq__(self, other) -> bool:
        if isinstance(other, ScaleFormat):
            return other.name == self.name
        try:
            return SCALE_FORMATS.get(_name_of(other)) is self
        except TypeError:
            return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)

    def __reduce__(self):            # copies and pickles of a spec keep the one shared object
        return (scale_format, (self.name,))

    # -- the three conversions ---------------------------------------------------------------
    def round_up(self, scale) -> np.ndarray:
        """The smallest representable value ``>= scale`` for each element (``value_dtype``).

        Raises ``ValueError`` if a scale exceeds the format's largest value.
        """
        scale = np.asarray(scale, dtype=np.float64)
        if np.any(scale > self.max):
            raise ValueError(
                f"a scale of {float(scale.max()):.4g} overflows scale_dtype={self.name} "
                f"(largest {self.max:.4g}); use scale_dtype=np.float32 for inputs this large"
            )
        return self._round_up(scale)

    def _round_up(self, scale: np.ndarray) -> np.ndarray:
        dtype = self.value_dtype
        with np.errstate(under="ignore"):  # below the dtype's subnormals: rounded up next
            stored = scale.astype(dtype)
        shrunk = stored.astype(np.float64) < scale
        if np.any(shrunk):
            stored = np.where(shrunk, np.nextafter(stored, np.asarray(np.inf, dtype)), stored)
        return stored.astype(dtype, copy=False)

    def encode(self, values) -> np.ndarray:
        """The stored form (``storage`` dtype) of ``values``, which must be exactly representable."""
        values = np.asarray(values)
        with np.errstate(over="ignore", under="ignore"):
            stored = self._encode(values.astype(np.float64))
            back = self.decode(stored).astype(np.float64)
        if not np.array_equal(back, values.astype(np.float64)):
            raise ValueError(f"scale is not exactly representable in scale_dtype={self.name}; round it "
                             "with miniquant.quant.store_scale(scale, dtype) before computing the codes")
        return stored

    def _encode(self, values: np.ndarray) -> np.ndarray:
        return values.astype(self.storage)

    def decode(self, stored) -> np.ndarray:
        """The scale values (``value_dtype``) of stored scales."""
        return np.asarray(stored).astype(self.value_dtype, copy=False)

    def check_stored(self, stored: np.ndarray, name: str = "stored_scale") -> None:
        """Refuse stored scales that do not decode to finite, positive values."""
        values = self.decode(stored)
        bad = ~np.isfinite(values) | (values <= 0)
        if np.any(bad):
            first = np.asarray(stored)[bad].reshape(-1)[0]
            shown = float(first) if np.issubdtype(np.asarray(stored).dtype, np.floating) else f"{int(first):#x} (stored bits)"
            raise ValueError(f"{name} must be finite and positive, got {shown} ({int(bad.sum())} bad of {bad.size})")


class BFloat16(ScaleFormat):
    """bfloat16 as the top 16 bits of a float32 (``uint16``); decoded exactly to float32."""

    def __init__(self):
        super().__init__("bfloat16", 16, np.uint16, np.float32, float(np.uint32(0x7F7F0000).view(np.float32)))

    def _round_up(self, scale):
        f32 = _F32.round_up(scale)                              # float32 first, rounded up
        bits = f32.view(np.uint32)
        up = (bits & np.uint32(0xFFFF)) != 0                   # positive scales: dropping bits rounds down
        top = (bits >> np.uint32(16)) + up.astype(np.uint32)
        return (top << np.uint32(16)).view(np.float32)

    def _encode(self, values):
        return (values.astype(np.float32).view(np.uint32) >> np.uint32(16)).astype(np.uint16)

    def decode(self, stored):
        return (np.asarray(stored).astype(np.uint32) << np.uint32(16)).view(np.float32)


class E8M0(ScaleFormat):
    """E8M0: ``2^(byte - 127)`` for bytes 0 .. 254 (0xFF is NaN); decoded exactly to float32."""

    def __init__(self):
        super().__init__("e8m0", 8, np.uint8, np.float32, 2.0**E8M0_BIAS)

    def _round_up(self, scale):
        f, e = np.frexp(scale)                                  # scale = f * 2^e, f in [0.5, 1)
        exponent = np.where(f == 0.5, e - 1, e)                 # an exact power of two stays
        exponent = np.where(scale > 0, exponent, -E8M0_BIAS)
        return np.ldexp(1.0, np.clip(exponent, -E8M0_BIAS, E8M0_BIAS)).astype(np.float32)

    def _encode(self, values):
        f, e = np.frexp(values)
        ok = (f == 0.5) & (e - 1 >= -E8M0_BIAS) & (e - 1 <= E8M0_BIAS)
        return np.where(ok, e - 1 + E8M0_BIAS, 0xFF).astype(np.uint8)       # not a power of two: NaN, refused

    def decode(self, stored):
        b = np.asarray(stored)
        if b.dtype != np.uint8:
            raise TypeError(f"E8M0 scales are stored as uint8 bytes, got dtype {b.dtype}")
        with np.errstate(under="ignore"):
            return np.where(b == 0xFF, np.nan, np.ldexp(1.0, b.astype(np.int32) - E8M0_BIAS)).astype(np.float32)


_F32 = ScaleFormat("float32", 32, np.float32, np.float32, np.finfo(np.float32).max)

#: Every scale format by name.
SCALE_FORMATS = {
    "float16": ScaleFormat("float16", 16, np.float16, np.float16, np.finfo(np.float16).max),
    "float32": _F32,
    "float64": ScaleFormat("float64", 64, np.float64, np.float64, np.finfo(np.float64).max),
    "bfloat16": BFloat16(),
    "e8m0": E8M0(),
}


def _name_of(x) -> str:
    if isinstance(x, ScaleFormat):
        return x.name
    if isinstance(x, str):
        if x in SCALE_FORMATS:
            return x
    return np.dtype(x).name        # TypeError for what is not a dtype


def scale_format(x) -> ScaleFormat:
    """The ``ScaleFormat`` for a name (``"float16"``, ``"bfloat16"``, ``"e8m0"``, ...), a NumPy dtype or a format.

    Raises ``TypeError`` for what names no dtype and ``ValueError`` for a dtype that is not a scale format.
    """
    try:
        name = _name_of(x)
    except TypeError:
        raise TypeError(f"scale_dtype must be a NumPy float dtype or one of {sorted(SCALE_FORMATS)}, "
                        f"got {_short(x)}") from None
    if name not in SCALE_FORMATS:
        raise ValueError(f"scale_dtype must be one of float16, float32, float64, bfloat16 or e8m0, got {name}")
    return SCALE_FORMATS[name]
