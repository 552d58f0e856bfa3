"""Public property-testing kit: Hypothesis strategies and ``check_quantizer``.

Needs Hypothesis (``pip install "miniquant[testing]"``). The library never imports
this package; its tests and the tutorials do.
"""
from .check import check_packing, check_quantizer, library_quantizer
from .properties import PropertyFailed
from .strategies import (
    ARRAY_KINDS, bit_widths, granularities, group_sizes, quant_specs, quantizable_arrays, roundings,
    schemes, weight_shapes,
)

__all__ = [
    "ARRAY_KINDS", "PropertyFailed", "bit_widths", "check_packing", "check_quantizer",
    "granularities", "group_sizes", "library_quantizer", "quant_specs", "quantizable_arrays",
    "roundings", "schemes", "weight_shapes",
]
