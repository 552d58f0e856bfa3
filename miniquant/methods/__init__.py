"""Methods that decide how each weight is quantized: recipes, calibration, round-to-nearest, GPTQ, AWQ, SmoothQuant and HQQ.

``make_recipe(4, group_size=128, method="gptq")`` names what to do; ``quantize_model(params,
recipe, calibration=ids)`` does it. One module per algorithm (``gptq``, ``awq``, ``smoothquant``, ``hqq``), each opening
with the paper's objective and update rule; ``calibration`` collects what calibrated methods
need of every layer's inputs.
"""
from .apply import fake_quantize_model, quantize_model, quantize_tensor
from .awq import AWQ_OPTIONS, ScaleSearch, apply_awq, awq_scales, fold_scales, search_scales
from .calibration import (
    CALIBRATION_SOURCES, Calibration, InputStats, calibration_windows, check_calibration, collect_input_stats, linear_weights,
    sequential_stages,
)
from .gptq import GPTQ_OPTIONS, GPTQResult, gptq, gptq_quantize, gptq_quantize_reference
from .hqq import HQQ_OPTIONS, HQQResult, hqq, hqq_quantize, shrink_lp
from .smoothquant import SMOOTHQUANT_OPTIONS, apply_smoothquant, smooth_model, smoothing_scales
from .recipe import DEFAULT_KEEP, METHODS, Method, Recipe, check_recipe, is_quantized, make_recipe

__all__ = [
    "AWQ_OPTIONS", "ScaleSearch", "apply_awq", "awq_scales", "fold_scales", "search_scales",
    "SMOOTHQUANT_OPTIONS", "apply_smoothquant", "smooth_model", "smoothing_scales",
    "CALIBRATION_SOURCES", "Calibration", "DEFAULT_KEEP", "GPTQ_OPTIONS", "GPTQResult", "HQQ_OPTIONS", "HQQResult", "InputStats",
    "METHODS", "Method", "Recipe", "calibration_windows", "check_calibration", "check_recipe", "collect_input_stats",
    "fake_quantize_model", "gptq", "gptq_quantize", "gptq_quantize_reference", "hqq", "hqq_quantize", "is_quantized",
    "linear_weights", "make_recipe", "quantize_model", "quantize_tensor", "sequential_stages", "shrink_lp",
]
