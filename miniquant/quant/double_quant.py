"""Two-level scales (QLoRA's double quantization): the block scales quantized in turn.

With small blocks the scales cost real bits: NF4 in blocks of 64 with a float32 scale per block
spends ``32 / 64 = 0.5`` bits per weight on scales (4.5 in all). Double quantization stores each
scale ``s`` as an 8-bit float code relative to a float32 *second-level* scale ``c`` shared by
256 consecutive scales (in ``QTensor`` storage order)::

    c      = max(s over the 256 scales) / 448                     float32, rounded up
    code   = fp8_e4m3.encode(s / c), at least the smallest positive code (2^-9)
    s_hat  = float32(fp8_e4m3.decode(code) * c)                    the scale every code uses

    bits per weight = 4 + 8/64 + 32/(64 * 256) = 4.127            (NF4, blocks of 64)

as the QLoRA paper counts (Dettmers et al. 2023, section 3: "8-bit Floats with a blocksize of
256 for the second quantization"). Two choices differ from bitsandbytes' ``compress_statistics``,
which subtracts the scales' mean before quantizing them with its 8-bit dynamic map: this module
keeps the scales positive (no mean, so no stored offset and no decoded scale that could reach 0
or below) and uses the OCP e4m3 element as the 8-bit float. The element codes are computed
against ``s_hat``, the scale they will be decoded with, so nothing is computed against a value
that is never stored; a decoded scale about 6 % below its block's absmax makes that block's
largest element saturate, which the tests bound.

The number of scales must be a multiple of 256 (every second-level block full); fewer or
others is a ``ValueError`` that says how many there are. Tests: ``tests/quant/test_double_quant.py``.
"""
from __future__ import annotations

import numpy as np

from .elements import FORMATS
from .scale_formats import scale_format

#: Scales that share one second-level scale.
DOUBLE_QUANT_BLOCK = 256
#: The 8-bit float each first-level scale is stored in.
SCALE_ELEMENT = FORMATS["fp8_e4m3"]
_SMALLEST_CODE = 1                    # 2^-9, the smallest positive e4m3 value


def check_double_quant_count(n_scales: int) -> None:
    """Refuse a number of first-level scales that does not fill whole blocks of 256."""
    if n_scales < DOUBLE_QUANT_BLOCK or n_scales % DOUBLE_QUANT_BLOCK:
        raise ValueError(
            f"double_quant=True quantizes the scales in blocks of {DOUBLE_QUANT_BLOCK}: this tensor has "
            f"{n_scales} scale(s), not a multiple of {DOUBLE_QUANT_BLOCK}; use smaller groups, a larger tensor "
            "or double_quant=False"
        )


def double_quantize(scale) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, second)`` for positive first-level scales in storage order (any shape, flattened).

    Returns
    -------
    codes : uint8, shape ``scale.shape``
        e4m3 codes of ``s / c``.
    second : float32, shape ``(scale.size // 256,)``
        The second-level scales ``c``.
    """
    s = np.asarray(scale, dtype=np.float64)
    check_double_quant_count(s.size)
    blocks = s.reshape(-1, DOUBLE_QUANT_BLOCK)
    second = scale_format("float32").round_up(blocks.max(axis=1) / SCALE_ELEMENT.max)
    codes = SCALE_ELEMENT.encode(blocks / second.astype(np.float64)[:, None])
    codes = np.maximum(codes, _SMALLEST_CODE).astype(np.uint8)     # positive codes: sign bit clear, never 0
    return codes.reshape(s.shape), second


def double_dequantize(codes, second) -> np.ndarray:
    """``s_hat = float32(decode(code) * c)``: the scales the element codes use (float32, shape ``codes.shape``)."""
    codes = np.asarray(codes)
    values = SCALE_ELEMENT.decode(codes).astype(np.float64).reshape(-1, DOUBLE_QUANT_BLOCK)
    return (values * np.asarray(second, dtype=np.float64)[:, None]).astype(np.float32).reshape(codes.shape)


def check_double_quant_parts(codes: np.ndarray, second: np.ndarray) -> None:
    """Refuse stored two-level scales that are not positive e4m3 codes and finite positive float32 scales."""
    if codes.dtype != np.uint8:
        raise ValueError(f"double-quantized scales are uint8 e4m3 codes, got dtype {codes.dtype}")
    bad = (codes == 0) | (codes >= 0x7F)                         # zero, NaN (0x7F) or negative (sign bit)
    if np.any(bad):
        raise ValueError(f"stored_scale holds e4m3 codes that are not positive scales "
                         f"(e.g. {int(codes[bad].reshape(-1)[0]):#04x}, {int(bad.sum())} of {codes.size})")
    expected = (codes.size // DOUBLE_QUANT_BLOCK,)
    second = np.asarray(second)
    if second.dtype != np.float32 or second.shape != expected:
        raise ValueError(f"second_scale must be float32 of shape {expected} (one per {DOUBLE_QUANT_BLOCK} scales), "
                         f"got {second.dtype} {second.shape}")
    if not np.all(np.isfinite(second)) or np.any(second <= 0):
        raise ValueError("second_scale must be finite and positive")
    if not np.all(np.isfinite(double_dequantize(codes, second))):
        raise ValueError("second_scale is so large that a decoded scale overflows float32")


def double_quantize_params(scale, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Double-quantize block parameters ``scale`` (shape ``S // block``, as ``choose_qparams`` returns them).

    Blocks of 256 run in ``QTensor`` storage order (``axis`` moved last, C order).

    Returns
    -------
    decoded : float32, shape ``scale.shape``
        ``s_hat``, the scales the element codes are computed with.
    codes : uint8, the storage shape (``axis`` last)
    second : float32, ``(scale.size // 256,)``
    """
    stored = np.moveaxis(np.asarray(scale, dtype=np.float64), axis, -1)
    codes, second = double_quantize(np.ascontiguousarray(stored))
    decoded = np.moveaxis(double_dequantize(codes, second), -1, axis)
    return decoded, codes, second
