"""Methods that decide how each weight is quantized: recipes, calibration, round-to-nearest, GPTQ, AWQ,
SmoothQuant, HQQ and LLM.int8().

``make_recipe(4, group_size=128, method="gptq")`` names what to do; ``quantize_model(params,
recipe, calibration=ids)`` does it. One module per algorithm (``gptq``, ``awq``, ``smoothquant``,
``hqq``, ``llm_int8``), each opening with the paper's objective and update rule; ``calibration``
collects what calibrated methods need of every layer's inputs.
"""
from .apply import fake_quantize_model, quantize_model, quantize_tensor
from .awq import AWQ_OPTIONS, ScaleSearch, apply_awq, awq_scales, fold_scales, search_scales
from .calibration import (
    CALIBRATION_SOURCES, Calibration, InputStats, calibration_windows, check_calibration, collect_input_stats,
    linear_weights, sequential_stages,
)
from .gptq import GPTQ_OPTIONS, GPTQResult, gptq, gptq_quantize, gptq_quantize_reference
from .hqq import HQQ_OPTIONS, HQQResult, hqq, hqq_quantize, shrink_lp
from .llm_int8 import LLM_INT8_OPTIONS, llm_int8_quantize
from .recipe import DEFAULT_KEEP, METHODS, Method, Recipe, check_recipe, is_quantized, make_recipe
from .smoothquant import SMOOTHQUANT_OPTIONS, apply_smoothquant, smooth_model, smoothing_scales

__all__ = [
    "AWQ_OPTIONS", "CALIBRATION_SOURCES", "DEFAULT_KEEP", "GPTQ_OPTIONS", "HQQ_OPTIONS", "LLM_INT8_OPTIONS", "METHODS",
    "SMOOTHQUANT_OPTIONS", "Calibration", "GPTQResult", "HQQResult", "InputStats", "Method", "Recipe", "ScaleSearch",
    "apply_awq", "apply_smoothquant", "awq_scales", "calibration_windows", "check_calibration", "check_recipe",
    "collect_input_stats", "fake_quantize_model", "fold_scales", "gptq", "gptq_quantize", "gptq_quantize_reference",
    "hqq", "hqq_quantize", "is_quantized", "linear_weights", "llm_int8_quantize", "make_recipe", "quantize_model",
    "quantize_tensor", "search_scales", "sequential_stages", "shrink_lp", "smooth_model", "smoothing_scales",
]
