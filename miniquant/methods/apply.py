"""``quantize_model``: apply a ``Recipe`` to a model's weights, with calibration where its method needs it.

Round-to-nearest and HQQ look at each weight alone. GPTQ needs the inputs of every layer: it
runs the model on the calibration windows **sequentially** (``calibration.sequential_stages``):
the statistics of each stage come from the model whose earlier layers are already quantized, so
each layer corrects for the error of those before it. AWQ takes the statistics of every layer
from the float model in one pass (as its reference code does: the scales it folds in keep the
float function unchanged) and records the ``alpha`` it chose per layer. The result's attribute
``reference`` holds the float weights that its quantized weights approximate: the input params,
or, for AWQ and SmoothQuant, the params with their scales folded in (the same float function),
which is what a weight error (SQNR) must be measured against. The output is a ``Params`` dict (the
model's ``config`` kept) whose attribute ``quantization`` records the method, its options, the
calibration set (windows, tokens per window, SHA-256 of the ids) and the seconds it took.
Tests: ``tests/methods/test_apply.py``.
"""
from __future__ import annotations

import hashlib
import time

import numpy as np

from ..mixed import is_quantized_weight
from ..progress import progress_bar
from ..nn.gpt import GPT, Params
from ..tensor import quantize
from .awq import apply_awq
from .calibration import check_calibration, collect_input_stats, linear_weights, sequential_stages
from .gptq import gptq_quantize
from .hqq import hqq_quantize
from .llm_int8 import llm_int8_quantize
from .recipe import Recipe
from .smoothquant import apply_smoothquant


def quantize_tensor(w, spec, recipe: Recipe, stats=None):
    """One weight ``w`` with ``spec`` by ``recipe``'s method; ``stats`` (``InputStats`` of its inputs) for calibrated ones.

    AWQ and SmoothQuant fold scales into *other* tensors (LayerNorms, the value projection), so they
    quantize a whole model only (``quantize_model``); asking for one tensor is an error.
    """
    w = np.asarray(w, dtype=np.float32)
    options = recipe.method_options()
    if recipe.method in ("awq", "smoothquant"):
        raise ValueError(f"method {recipe.method!r} folds its scales into the layers before each weight: "
                         "it quantizes whole models (quantize_model), not one tensor alone")
    if recipe.needs_calibration and stats is None:
        raise ValueError(f"method {recipe.method!r} needs the statistics of the layer's inputs (stats=InputStats)")
    if recipe.method == "hqq":
        return hqq_quantize(w, spec, **options)
    if recipe.method == "gptq":
        return gptq_quantize(w, stats.H, spec, **options)
    if recipe.method == "llm_int8":
        return llm_int8_quantize(w, stats.abs_max, spec, **options)
    return quantize(w, spec)


def quantize_model(params: dict, recipe: Recipe, calibration=None, *, config=None, progress: bool = False) -> Params:
    """A new params dict with every selected weight replaced by a ``QTensor`` (the input is not changed).

    Parameters
    ----------
    params : dict
        Float weights by name (``GPT.params``; a plain dict works for methods without calibration).
    recipe : Recipe
        The spec per tensor and the method (``recipe.method``) with its options.
    calibration : ndarray of int, shape (windows, time), optional
        Token ids from the *training* split (``calibration.calibration_windows``); required by
        methods that need data (``recipe.needs_calibration``), ignored by the others.
    config : GPTConfig, optional
        The model's shape, for calibrated methods when ``params`` does not carry it.
    progress : bool
        Print one line per calibrated stage to stderr.
    """
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a Recipe, got {type(recipe).__name__}")
    start = time.perf_counter()
    record = {"method": recipe.method, "options": recipe.method_options()}
    reference = params
    config = config if config is not None else getattr(params, "config", None)
    if recipe.needs_calibration:
        if calibration is None:
            raise ValueError(f"method {recipe.method!r} needs calibration data: pass calibration=ids, token ids of shape "
                             "(windows, time) from the training split (methods.calibration_windows)")
        if config is None:
            raise ValueError("a calibrated method runs the model, so it needs its shape: pass config=GPTConfig(...), "
                             "or the params of a GPT (model.params knows its config)")
        ids = check_calibration(calibration, config)
        if recipe.method == "awq":
            out, searches, reference = _quantize_awq(params, recipe, ids, config)
            record["alpha"] = {name: search.alpha for name, search in searches.items()}
        elif recipe.method == "llm_int8":
            out = _quantize_llm_int8(params, recipe, ids, config)
            record["float_fraction"] = {n: v.float_fraction for n, v in out.items() if hasattr(v, "float_fraction")}
        elif recipe.method == "smoothquant":
            out, scales, reference = _quantize_smoothquant(params, recipe, ids, config)
            record["largest_smoothing_scale"] = {name: float(s.max()) for name, s in scales.items()}
        else:
            out = _quantize_calibrated(params, recipe, ids, config, progress)
        record["calibration"] = {"windows": int(ids.shape[0]), "tokens_per_window": int(ids.shape[1]),
                                 "sha256": hashlib.sha256(np.ascontiguousarray(ids).tobytes()).hexdigest()}
    else:
        out = {}
        for name, value in params.items():
            spec = recipe.spec_for(name, value)
            out[name] = value if spec is None or is_quantized_weight(value) else quantize_tensor(value, spec, recipe)
    result = Params(config, out)
    record["seconds"] = time.perf_counter() - start
    result.quantization = record
    result.reference = reference
    return result


def _quantize_calibrated(params: dict, recipe: Recipe, ids: np.ndarray, config, progress: bool) -> dict:
    """GPTQ over the model, stage after stage, each seeing the quantized layers before it."""
    import sys

    current = dict(params)
    selected = set(_selected_linear(params, recipe, config))
    stages = [[n for n in stage if n in selected] for stage in sequential_stages(config)]
    stages = [stage for stage in stages if stage]
    for stage in progress_bar(stages, desc=recipe.method, unit="stage", enabled=progress):
        model = GPT(config, current, activations=recipe.activations)
        stats = collect_input_stats(model, ids, stage)
        for name in stage:
            current[name] = quantize_tensor(params[name], recipe.spec_for(name, params[name]), recipe, stats[name])
    return current


def _selected_linear(params: dict, recipe: Recipe, config) -> list[str]:
    """The float linear weights the recipe quantizes, in forward order; any other selected tensor is an error."""
    selected = {name for name, value in params.items()
                if recipe.spec_for(name, value) is not None and not is_quantized_weight(value)}
    linear = [n for n in linear_weights(config) if n in selected]
    if selected - set(linear):
        raise ValueError(f"method {recipe.method!r} quantizes linear layers only; {sorted(selected - set(linear))[0]!r} "
                         "is not one (keep it in float)")
    return linear


def _float_stats(params: dict, recipe: Recipe, ids: np.ndarray, config, *, hessian: bool):
    """Statistics of every selected linear layer from the float model, in one pass; and the spec lookup."""
    linear = _selected_linear(params, recipe, config)
    stats = collect_input_stats(GPT(config, params), ids, linear, hessian=hessian)
    return stats, (lambda n: recipe.spec_for(n, params[n]) if n in stats else None)


def _quantize_awq(params: dict, recipe: Recipe, ids: np.ndarray, config):
    """AWQ: statistics from the float model, then scales, folding, clipping (``awq.apply_awq``)."""
    stats, spec_for = _float_stats(params, recipe, ids, config, hessian=True)
    return apply_awq(params, config, stats, spec_for, **recipe.method_options())


def _quantize_smoothquant(params: dict, recipe: Recipe, ids: np.ndarray, config):
    """SmoothQuant: per-channel maxima from the float model, smoothing folded in, then RTN."""
    stats, spec_for = _float_stats(params, recipe, ids, config, hessian=False)
    return apply_smoothquant(params, config, stats, spec_for, **recipe.method_options())


def _quantize_llm_int8(params: dict, recipe: Recipe, ids: np.ndarray, config) -> dict:
    """LLM.int8(): the features whose calibration max |x| exceeds the threshold stay float, the rest int8."""
    stats, spec_for = _float_stats(params, recipe, ids, config, hessian=False)
    return {name: (quantize_tensor(value, spec_for(name), recipe, stats[name]) if name in stats else value)
            for name, value in params.items()}


def fake_quantize_model(params: dict, recipe: Recipe, calibration=None, *, config=None) -> dict:
    """Like ``quantize_model`` but dequantized back to float32: same numbers, plain NumPy matmuls (for checking)."""
    quantized = quantize_model(params, recipe, calibration, config=config)
    return {k: (v.dequantize() if is_quantized_weight(v) else v) for k, v in quantized.items()}
