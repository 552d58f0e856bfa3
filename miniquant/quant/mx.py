"""OCP Microscaling (MX) block formats, spec v1.0: 32 elements share one power-of-two scale, stored as E8M0.

For each block of ``k = 32`` consecutive values ``V`` along ``axis`` (section 6.3 of the spec)::

    shared_exp = floor(log2(max_i |V_i|)) - emax_elem     emax_elem: exponent of the element format's largest normal
    X          = 2^shared_exp                              stored as the E8M0 byte shared_exp + 127
    P_i        = element.encode(V_i / X)                   nearest, ties to even, saturating at the element's max
    V_hat_i    = X * element.decode(P_i)

``floor(log2(m))`` is read exactly from the float's exponent (``np.frexp``), not computed with
``log2``. ``shared_exp`` is clamped to E8M0's range ``[-127, 127]`` (byte 0xFF is NaN and never
written); a block of zeros gets the smallest scale, ``2^-127``. Dividing by ``X`` puts the block's
largest magnitude in ``[2^emax, 2^(emax+1))``, so it can exceed the element's largest value
(``7.9 / 1`` in FP4, whose max is 6): the element encoder saturates, as the spec allows
("clamped to the maximum normal") and as Microsoft's ``microxcaling`` reference does.

==========  ===============================  =========  ===============
format      element                          emax_elem  bits per weight
==========  ===============================  =========  ===============
mxfp8       fp8_e4m3 (max 448)               8          8.25
mxfp6       fp6_e2m3 (max 7.5)               2          6.25
mxfp6_e3m2  fp6_e3m2 (max 28)                4          6.25
mxfp4       fp4_e2m1 (max 6)                 2          4.25
mxint8      int8 x 2^-6 (codes -127 .. 127)  0          8.25
==========  ===============================  =========  ===============

(bits per weight: ``(32 * element bits + 8) / 32``.)

MXINT8's element is a two's-complement int8 with an implicit scale of ``2^-6`` (values
``k / 64``); miniquant uses the symmetric codes ``-127 .. 127``. Tests: ``tests/formats/test_mx.py``.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ._checks import check_axis, check_float_array
from .elements import FORMATS, ElementFormat, TableFormat
from .scale_formats import E8M0_BIAS

#: Elements per block, fixed by the spec.
MX_BLOCK = 32


class FixedPointInt8(TableFormat):
    """MXINT8's element: ``k / 64`` for ``k`` in ``-127 .. 127`` (code: ``k`` as a two's-complement byte); ties to even."""

    tie = "even"

    def __init__(self):
        k = np.arange(256)
        signed = np.where(k < 128, k, k - 256)
        table = np.where(signed == -128, np.nan, signed / 64.0)
        super().__init__("int8_fixed_2^-6", 8, table, "int8 with an implicit 2^-6 (MXINT8's element)")
        self.emax = 0

    def _nearest(self, x, codes, values):
        return (np.clip(np.rint(x * 64.0), -127, 127).astype(np.int64) % 256).astype(np.uint8)


@dataclasses.dataclass(frozen=True)
class MXFormat:
    """An MX block format: an element format, blocks of 32, one E8M0 scale per block."""

    name: str
    element: ElementFormat

    @property
    def emax(self) -> int:
        return self.element.emax

    @property
    def bits_per_weight(self) -> float:
        """``(32 * element bits + 8) / 32``."""
        return self.element.bits + 8 / MX_BLOCK


#: The MX formats by name.
MX_FORMATS = {
    "mxfp8": MXFormat("mxfp8", FORMATS["fp8_e4m3"]),
    "mxfp6": MXFormat("mxfp6", FORMATS["fp6_e2m3"]),
    "mxfp6_e3m2": MXFormat("mxfp6_e3m2", FORMATS["fp6_e3m2"]),
    "mxfp4": MXFormat("mxfp4", FORMATS["fp4_e2m1"]),
    "mxint8": MXFormat("mxint8", FixedPointInt8()),
}


def get_mx(name: str) -> MXFormat:
    """The MX format called ``name`` (one of ``MX_FORMATS``)."""
    if name not in MX_FORMATS:
        raise ValueError(f"MX format must be one of {sorted(MX_FORMATS)}, got {name!r}")
    return MX_FORMATS[name]


def e8m0_decode(scale_bytes) -> np.ndarray:
    """``2^(byte - 127)`` as float32 (float64 where float32 has no such power: ``2^-127`` is float32-subnormal but exact)."""
    b = np.asarray(scale_bytes)
    if b.dtype != np.uint8:
        raise TypeError(f"E8M0 scales are uint8 bytes, got dtype {b.dtype}")
    return np.where(b == 0xFF, np.nan, np.ldexp(1.0, b.astype(np.int32) - E8M0_BIAS))


def shared_exponents(x, fmt: MXFormat, axis: int = -1) -> np.ndarray:
    """``shared_exp`` (int32) of every block of 32 along ``axis``: shape ``x.shape`` with ``axis`` divided by 32."""
    blocks, _ = _blocks(x, axis)
    return shared_exponent(np.max(np.abs(blocks), axis=-1), fmt.emax)


def shared_exponent(amax, emax: int) -> np.ndarray:
    """``floor(log2 amax) - emax`` clamped to ``[-127, 127]`` (int32); ``-127`` for ``amax = 0``.

    ``floor(log2 amax)`` is read exactly from the float's exponent: ``amax = f * 2^e`` with
    ``f`` in ``[0.5, 1)`` (``np.frexp``) gives ``e - 1``.
    """
    amax = np.asarray(amax, dtype=np.float64)
    _, e = np.frexp(amax)
    shared = np.where(amax > 0, e - 1 - emax, -E8M0_BIAS)
    return np.clip(shared, -E8M0_BIAS, E8M0_BIAS).astype(np.int32)


def _blocks(x, axis: int):
    x = check_float_array(x, "x").astype(np.float64)
    axis = check_axis(axis, x.ndim)
    if x.shape[axis] % MX_BLOCK:
        raise ValueError(f"MX formats use blocks of {MX_BLOCK} along axis {axis}: its length {x.shape[axis]} "
                         f"is not a multiple of {MX_BLOCK}")
    moved = np.moveaxis(x, axis, -1)
    return moved.reshape(*moved.shape[:-1], moved.shape[-1] // MX_BLOCK, MX_BLOCK), axis


def mx_quantize(x, fmt: MXFormat | str, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, scale_bytes)``: element codes (uint8, shape of ``x``) and E8M0 bytes (one per block).

    ``scale_bytes`` has the shape of ``x`` with ``axis`` divided by 32.

    Examples
    --------
    >>> x = np.zeros(32, np.float32); x[:4] = [0.1, -0.35, 1.0, 3.1]
    >>> codes, scale = mx_quantize(x, "mxfp4")
    >>> int(scale[0]), mx_dequantize(codes, scale, "mxfp4")[:4]     # X = 2^(1 - 2) = 0.5
    (126, array([ 0.  , -0.25,  1.  ,  3.  ], dtype=float32))
    """
    fmt = get_mx(fmt) if isinstance(fmt, str) else fmt
    blocks, axis = _blocks(x, axis)
    shared = shared_exponents(x, fmt, axis)
    scaled = blocks / np.ldexp(1.0, shared)[..., None]
    codes = fmt.element.encode(scaled).reshape(*blocks.shape[:-2], -1)      # [..., K], axis last
    scale_bytes = (shared + E8M0_BIAS).astype(np.uint8)                        # [..., K / 32], axis last
    return np.moveaxis(codes, -1, axis), np.moveaxis(scale_bytes, -1, axis)


def mx_dequantize(codes, scale_bytes, fmt: MXFormat | str, axis: int = -1) -> np.ndarray:
    """``X * element.decode(codes)`` block by block, float32 (the inverse of ``mx_quantize``'s layout)."""
    fmt = get_mx(fmt) if isinstance(fmt, str) else fmt
    codes = np.asarray(codes)
    axis = check_axis(axis, codes.ndim)
    values = np.moveaxis(fmt.element.decode(codes).astype(np.float64), axis, -1)
    scale = np.moveaxis(e8m0_decode(np.asarray(scale_bytes)), axis, -1)                       # [..., n_blocks]
    expected = values.shape[:-1] + (values.shape[-1] // MX_BLOCK,)
    if scale.shape != expected:
        raise ValueError(f"scale_bytes must have shape {expected[:-1]} with {expected[-1]} blocks along axis {axis}, "
                         f"got {np.asarray(scale_bytes).shape}")
    out = values.reshape(*values.shape[:-1], -1, MX_BLOCK) * scale[..., None]
    return np.moveaxis(out.reshape(values.shape), -1, axis).astype(np.float32)
