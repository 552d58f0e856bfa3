"""Public property-testing kit: Hypothesis strategies and ``check_quantizer``.

Needs Hypothesis (``pip install "miniquant[testing]"``). The library never imports
this package; its tests and the tutorials do.
"""
try:
    import hypothesis  # noqa: F401
except ModuleNotFoundError as exc:  # the one optional dependency of this package
    raise ImportError('miniquant.testing needs Hypothesis, which is not installed: pip install "miniquant[testing]"') from exc

from .check import SCALE_ROUNDINGS, ZERO_BLOCKS, check_element_format, check_packing, check_quantizer, library_quantizer
from .properties import PropertyFailed
from .strategies import (
    ARRAY_KINDS, ELEMENT_KINDS, bit_widths, element_codes, element_floats, element_formats, granularities,
    group_sizes, quant_specs, quantizable_arrays, roundings, schemes, weight_shapes,
)

__all__ = [
    "ARRAY_KINDS", "ELEMENT_KINDS", "PropertyFailed", "SCALE_ROUNDINGS", "ZERO_BLOCKS", "bit_widths",
    "check_element_format", "check_packing", "check_quantizer", "element_codes", "element_floats", "element_formats",
    "granularities", "group_sizes", "library_quantizer", "quant_specs", "quantizable_arrays",
    "roundings", "schemes", "weight_shapes",
]
