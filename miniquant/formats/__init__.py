"""Number formats beyond the integer grid: element formats (minifloats, NF4, ternary) and MX block formats.

The maths lives in ``miniquant.quant.elements`` and ``miniquant.quant.mx`` (NumPy only, like the
rest of ``quant``); this package is where formats are looked up by name.
``miniquant.formats.get(name)`` returns an element format with ``.values`` (every finite
value, ascending), ``.encode(x) -> uint8 codes`` and ``.decode(codes) -> float32``; see
``elements`` for the tables, the tie rules and the sources, and ``mx`` for the OCP Microscaling
block formats (32 elements, one E8M0 power-of-two scale).
"""
from ..quant.elements import FORMATS, ElementFormat, MinifloatFormat, TableFormat, TernaryFormat, get, normal_float_table
from ..quant.mx import MX_BLOCK, MX_FORMATS, MXFormat, e8m0_decode, get_mx, mx_dequantize, mx_quantize, shared_exponents

__all__ = ["FORMATS", "MX_BLOCK", "MX_FORMATS", "ElementFormat", "MXFormat", "MinifloatFormat", "TableFormat",
           "TernaryFormat", "e8m0_decode", "get", "get_mx", "mx_dequantize", "mx_quantize", "normal_float_table",
           "shared_exponents"]
