"""Number formats beyond the integer grid: element formats (minifloats, NF4, ternary).

``miniquant.formats.get(name)`` returns an element format with ``.values`` (every finite
value, ascending), ``.encode(x) -> uint8 codes`` and ``.decode(codes) -> float32``; see
``elements`` for the tables, the tie rules and the sources.
"""
from .elements import FORMATS, ElementFormat, MinifloatFormat, TableFormat, TernaryFormat, get, normal_float_table

__all__ = ["FORMATS", "ElementFormat", "MinifloatFormat", "TableFormat", "TernaryFormat", "get", "normal_float_table"]
