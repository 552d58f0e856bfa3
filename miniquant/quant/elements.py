"""Element formats: what one stored code means, for the formats people ship beside the integer grid.

Every format here is a table: ``decode`` looks a code up, ``encode`` finds the nearest
representable value. They differ in how the table is made and in the tie rule.

**Minifloats** ``eXmY`` (sign, X exponent bits, Y mantissa bits, bias ``2^(X-1) - 1``)::

    value = (-1)^s * 2^(e - bias) * (1 + f / 2^Y)      for 0 < e   (normal)
            (-1)^s * 2^(1 - bias) * (f / 2^Y)          for e = 0   (subnormal, and +-0)

    fp4_e2m1   s e e m          +-{0, 0.5, 1, 1.5, 2, 3, 4, 6}         no inf, no NaN (OCP MX)
    fp6_e2m3   s e e m m m      max 7.5                                 no inf, no NaN (OCP MX)
    fp6_e3m2   s e e e m m      max 28                                  no inf, no NaN (OCP MX)
    fp8_e4m3   s e e e e m m m  max 448, one NaN pattern per sign      (OCP "e4m3fn": no inf)
    fp8_e5m2   s e e e e e m m  max 57344, inf and NaNs as in IEEE     (the e5m2 of OCP FP8)

e4m3 spends its bits on precision (3 mantissa bits, range 2^-9 .. 448), e5m2 on range
(2 mantissa bits, 2^-16 .. 57344): forward activations and weights versus gradients.
Ties go to the **even mantissa** (IEEE round-to-nearest-even), as ``ml_dtypes``' casts do;
the tests hold every code and 10^5 values against them.

**NF4** (NormalFloat-4, Dettmers et al. 2023, QLoRA): the 16 values are quantiles of the
standard normal, so that each code is equally likely for normally distributed weights scaled by
their block's absmax. As the paper and bitsandbytes build it: 8 positive quantiles at
probabilities evenly spaced from ``offset`` down to 0.5 (the last, 0.5, dropped), 7 negative
ones the same way, and an exact 0; then everything divided by the largest, so the table spans
[-1, 1]. ``offset = (1 - 1/(2*15) + 1 - 1/(2*16)) / 2 = 0.9677083`` is the midpoint of the
tail probabilities of a 15- and a 16-level symmetric quantization. The table is computed as
bitsandbytes computes it (``normal_float_table``), so it equals its published float32 constants
exactly. Ties go to the lower value, as in bitsandbytes' comparison tree (``x > midpoint``).

**ternary** (BitNet b1.58, Ma et al. 2024): ``{-1, 0, 1}``; ties to the even integer (0), as
``round`` in their ``RoundClip``. The per-block scale (mean ``|w|``) is the quantizer's business.

``encode`` saturates: values beyond the largest finite value get the largest code of their sign
(ml_dtypes' e4m3fn cast would give NaN, e5m2 inf; a quantizer clips). NaN or Inf input is a
``ValueError``. Codes are ``uint8``: the bit pattern for the minifloats (sign bit on top), the
table index (ascending values) for NF4 and ternary. Tests: ``tests/formats/test_elements.py``.
"""
from __future__ import annotations

import math
import statistics

import numpy as np

from ._checks import check_float_array


class ElementFormat:
    """A format whose ``2^bits`` codes each mean one value (``table[code]``; NaN for a NaN pattern).

    Attributes
    ----------
    name : str
    bits : int
    table : float64 array (2^bits,)
        The value of every code.
    values : float32 array
        Every finite representable value, ascending, each once (``+0`` and ``-0`` are one value).
    max : float
        The largest finite value.
    """

    tie = "even"   # which neighbour a value exactly halfway gets: "even" code (mantissa) or "lower" value

    def __init__(self, name: str, bits: int, table, description: str = ""):
        self.name, self.bits, self.description = name, bits, description
        self.table = np.asarray(table, dtype=np.float64)
        self.table.setflags(write=False)
        finite = np.isfinite(self.table)
        self.values = np.unique(self.table[finite]).astype(np.float32) + np.float32(0.0)   # -0 and +0: one value, 0
        self.max = float(self.table[finite].max())
        # the finite codes sorted by value (for -0 and +0 the code with the sign bit clear comes first)
        order = np.lexsort((np.arange(self.table.size), np.where(finite, self.table, 0.0)))
        self._codes = order[finite[order]].astype(np.uint8)
        self._sorted = self.table[self._codes]

    def __repr__(self) -> str:
        return f"<element format {self.name}: {self.bits} bits, {self.values.size} values in [{self.values[0]:g}, {self.max:g}]>"

    def decode(self, codes) -> np.ndarray:
        """The value of each code, float32, same shape (NaN for NaN patterns)."""
        codes = np.asarray(codes)
        if not np.issubdtype(codes.dtype, np.integer):
            raise TypeError(f"codes must be integers, got dtype {codes.dtype}")
        if codes.size and (codes.min() < 0 or codes.max() >= self.table.size):
            raise ValueError(f"codes of {self.name} must lie in [0, {self.table.size - 1}], got {int(codes.min())}..{int(codes.max())}")
        return self.table[codes].astype(np.float32)

    def encode(self, x) -> np.ndarray:
        """The code of the nearest representable value of each element (uint8, same shape); saturating."""
        x = check_float_array(x, "x").astype(np.float64)
        return self._nearest(x, self._codes, self._sorted)

    def _nearest(self, x: np.ndarray, codes: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Codes of the nearest of ``values`` (ascending, with their ``codes``), ties by ``self.tie``."""
        hi = np.clip(np.searchsorted(values, x, side="left"), 1, len(values) - 1)
        lo = hi - 1
        d_lo, d_hi = x - values[lo], values[hi] - x
        pick_hi = d_hi < d_lo
        tie = d_hi == d_lo
        if self.tie == "even":
            pick_hi |= tie & (codes[hi] % 2 == 0)
        chosen = np.where(pick_hi, hi, lo)
        chosen = np.where(x >= values[-1], len(values) - 1, np.where(x <= values[0], 0, chosen))   # saturate
        return codes[chosen].astype(np.uint8)


class MinifloatFormat(ElementFormat):
    """A sign / exponent / mantissa format (module docstring); ties to the even mantissa, signed zero kept."""

    def __init__(self, name: str, exponent_bits: int, mantissa_bits: int, *, nan: str = "none", description: str = ""):
        E, M = exponent_bits, mantissa_bits
        bits = 1 + E + M
        self.exponent_bits, self.mantissa_bits, self.bias = E, M, 2 ** (E - 1) - 1
        codes = np.arange(2**bits)
        sign = np.where(codes >> (E + M) & 1, -1.0, 1.0)
        e = (codes >> M) & (2**E - 1)
        f = codes & (2**M - 1)
        magnitude = np.where(e == 0, f / 2**M * 2.0 ** (1 - self.bias), (1 + f / 2**M) * 2.0 ** (e - self.bias))
        table = sign * magnitude
        top = e == 2**E - 1
        if nan == "ieee":              # e5m2: exponent all ones is inf (mantissa 0) or NaN
            table = np.where(top & (f == 0), sign * np.inf, np.where(top, np.copysign(np.nan, sign), table))
        elif nan == "one":             # e4m3fn: only exponent and mantissa all ones is NaN
            table = np.where(top & (f == 2**M - 1), np.copysign(np.nan, sign), table)
        super().__init__(name, bits, table, description)
        self.emax = int(math.floor(math.log2(self.max)))      # the exponent of the largest normal (MX's emax_elem)
        positive = self._codes[self._sorted >= 0]
        positive = positive[positive >> (E + M) == 0]          # +0 and the positive codes, ascending
        self._magnitude_codes = positive
        self._magnitudes = self.table[positive]

    def encode(self, x) -> np.ndarray:
        x = check_float_array(x, "x").astype(np.float64)
        codes = self._nearest(np.abs(x), self._magnitude_codes, self._magnitudes)
        return np.where(np.signbit(x), codes | np.uint8(1 << (self.bits - 1)), codes).astype(np.uint8)


class TableFormat(ElementFormat):
    """A codebook: ``values[code]`` for ``code`` in ``0 .. len - 1`` (ascending), ties to the lower value."""

    tie = "lower"


def _linspace_float32(start: float, stop: float, num: int) -> np.ndarray:
    """``torch.linspace`` in float32: the first half counted up from ``start``, the rest down from ``stop``."""
    start, stop = np.float32(start), np.float32(stop)
    step = np.float32((stop - start) / np.float32(num - 1))
    return np.array([start + step * np.float32(i) if i < num // 2 else stop - step * np.float32(num - 1 - i)
                     for i in range(num)], dtype=np.float32)


def normal_float_table(n_positive: int = 8, n_negative: int = 7, *, as_bitsandbytes: bool = True) -> np.ndarray:
    """NF4's values (module docstring): normal quantiles, an exact zero, scaled to [-1, 1].

    ``as_bitsandbytes=True`` (the format's table) computes as bitsandbytes' ``create_normal_map``
    does: ``offset`` written as 0.9677083 and the probabilities spaced in float32 (``torch.linspace``),
    which gives its published table exactly. ``False`` is the same derivation in float64 with the
    exact offset; the two differ by at most 3e-7 (a few float32 ulps).

    Examples
    --------
    >>> np.round(normal_float_table()[[0, 7, 8, 15]], 7)
    array([-1.       ,  0.       ,  0.0795803,  1.       ], dtype=float32)
    """
    inv_cdf = statistics.NormalDist().inv_cdf
    if as_bitsandbytes:
        offset, linspace = 0.9677083, _linspace_float32
    else:
        offset, linspace = (1 - 1 / (2 * 15) + 1 - 1 / (2 * 16)) / 2, np.linspace
    positive = [inv_cdf(float(p)) for p in linspace(offset, 0.5, n_positive + 1)[:-1]]
    negative = [-inv_cdf(float(p)) for p in linspace(offset, 0.5, n_negative + 1)[:-1]]
    values = np.sort(np.array(positive + [0.0] + negative, dtype=np.float32 if as_bitsandbytes else np.float64))
    return values / values.max()


class TernaryFormat(TableFormat):
    """``{-1, 0, 1}``: codes 0, 1, 2; ties to the even integer, 0."""

    tie = "even"

    def __init__(self):
        super().__init__("ternary", 2, [-1.0, 0.0, 1.0, np.nan],
                         "BitNet b1.58: -1, 0, 1 (a 2-bit code with one unused pattern)")

    def _nearest(self, x, codes, values):
        return (np.clip(np.rint(x), -1, 1) + 1).astype(np.uint8)      # rint: ties to even


#: Every element format by name.
FORMATS = {
    "fp4_e2m1": MinifloatFormat("fp4_e2m1", 2, 1, description="OCP MX FP4: +-{0, 0.5, 1, 1.5, 2, 3, 4, 6}"),
    "fp6_e2m3": MinifloatFormat("fp6_e2m3", 2, 3, description="OCP MX FP6 (e2m3): max 7.5"),
    "fp6_e3m2": MinifloatFormat("fp6_e3m2", 3, 2, description="OCP MX FP6 (e3m2): max 28"),
    "fp8_e4m3": MinifloatFormat("fp8_e4m3", 4, 3, nan="one", description="OCP FP8 e4m3fn: max 448, no inf"),
    "fp8_e5m2": MinifloatFormat("fp8_e5m2", 5, 2, nan="ieee", description="OCP FP8 e5m2: max 57344, inf and NaN"),
    "nf4": TableFormat("nf4", 4, normal_float_table(), "QLoRA NormalFloat-4: normal quantiles in [-1, 1]"),
    "ternary": TernaryFormat(),
}


def get(name: str) -> ElementFormat:
    """The element format called ``name`` (one of ``FORMATS``).

    Examples
    --------
    >>> get("fp4_e2m1").values
    array([-6. , -4. , -3. , -2. , -1.5, -1. , -0.5,  0. ,  0.5,  1. ,  1.5,  2. ,  3. ,  4. ,  6. ],
          dtype=float32)
    >>> get("fp8_e4m3").max, get("fp8_e5m2").max
    (448.0, 57344.0)
    >>> get("fp4_e2m1").encode(np.array([5.0, 5.1, -0.25]))    # 5 is a tie: to the even mantissa, 4
    array([6, 7, 8], dtype=uint8)
    """
    if name == "int":
        raise ValueError("format 'int' is the affine integer grid of miniquant.quant (its values depend on bits, "
                         "scheme and scale): quantize with format='int' and bits=...")
    if name not in FORMATS:
        raise ValueError(f"format must be one of {['int'] + sorted(FORMATS)}, got {name!r}")
    return FORMATS[name]
