"""Quantization maths in plain NumPy: ``choose_qparams -> quantize_affine -> dequantize_affine``.

Reading order: ``ranges`` (code ranges), ``rounding``, ``blocks`` (granularity as a block
shape), ``spec`` (``QuantSpec``), ``scales`` (range to scale and zero point), ``affine``
(the map itself), ``clipping`` (range selection), ``qparams`` (putting them together).
This package imports NumPy only.
"""
from .affine import code_dtype, dequantize_affine, quantize_affine
from .blocks import GRANULARITIES, block_shape, expand_params, params_shape
from .clipping import MSE_RATIOS
from .qparams import choose_qparams, fake_quantize
from .ranges import SCHEMES, integer_range
from .rounding import ROUNDINGS, round_values
from .scales import scale_from_range, store_scale
from .spec import CLIPS, QuantSpec, make_spec, spec_from_dict, spec_to_dict

__all__ = [
    "CLIPS", "GRANULARITIES", "MSE_RATIOS", "ROUNDINGS", "SCHEMES", "QuantSpec",
    "block_shape", "choose_qparams", "code_dtype", "dequantize_affine", "expand_params",
    "fake_quantize", "integer_range", "make_spec", "params_shape", "quantize_affine",
    "round_values", "scale_from_range", "spec_from_dict", "spec_to_dict", "store_scale",
]
