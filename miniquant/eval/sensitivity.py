"""Per-layer sensitivity: quantize one weight matrix at a time and see how much the model moves.

``layer_sensitivity`` returns, for every matrix a recipe would quantize, the KL divergence of the
model with *only that matrix* quantized (everything else in float), largest first.
``mixed_precision`` turns the ranking into a recipe that keeps the ``n`` most sensitive matrices at
a higher precision. Tests: ``tests/eval/test_sensitivity.py``.
"""
from __future__ import annotations

import dataclasses

from ..methods import Recipe, collect_input_stats, quantize_tensor
from ..nn.gpt import GPT
from ..quant import QuantSpec
from .quality import compare_to_float


def layer_sensitivity(model: GPT, recipe: Recipe, reference, ids, targets, calibration=None) -> list[dict]:
    """``[{"tensor", "kl_mean", "kl_p99", "bits_per_byte"}]`` for each matrix quantized alone, most harmful first.

    ``reference`` are the float model's log-probabilities on ``ids`` (``quality.logprobs``). Each
    matrix is quantized by the recipe's method; a calibrated one (GPTQ) takes its statistics from
    the float model on the ``calibration`` ids (the other matrices stay float).
    """
    names = [name for name, value in model.params.items() if recipe.spec_for(name, value) is not None]
    stats = {}
    if recipe.needs_calibration:
        if calibration is None:
            raise ValueError(f"method {recipe.method!r} needs calibration data: pass calibration=ids")
        stats = collect_input_stats(model, calibration, names)
    rows = []
    for name in names:
        value = model.params[name]
        params = dict(model.params)
        params[name] = quantize_tensor(value, recipe.spec_for(name, value), recipe, stats.get(name))
        record = compare_to_float(reference, GPT(model.config, params), ids, targets)
        rows.append({"tensor": name, "kl_mean": record["kl_mean"], "kl_p99": record["kl_p99"],
                     "bits_per_byte": record["bits_per_byte"]})
    return sorted(rows, key=lambda r: -r["kl_mean"])


#: ``format_table`` columns and formats of ``layer_sensitivity`` rows.
SENSITIVITY_COLUMNS = ["tensor", "kl_mean", "kl_p99", "bits_per_byte"]
SENSITIVITY_FORMATS = {"kl_mean": ".2e", "kl_p99": ".2e", "bits_per_byte": ".3f"}
#: ``format_table`` columns of the ``run_tour`` records of ``protection_candidates`` (formats: ``tour.TOUR_FORMATS``).
CANDIDATE_COLUMNS = ["recipe", "bits_per_weight", "matrix_bits_per_weight", "model_bytes", "bits_per_byte", "kl_mean",
                     "kl_p99", "arith_accuracy"]


def protection_candidates(recipe: Recipe, ranking: list[dict], counts, protect_bits: int) -> list[Recipe]:
    """Recipes to weigh against each other at similar memory (``miniquant sensitivity``).

    ``recipe`` with the ``n`` most sensitive matrices of ``ranking`` at ``protect_bits`` for each
    ``n`` of ``counts`` (those the ranking has), then everything at ``protect_bits``, and, if there
    is a width in between, everything one bit wider than ``recipe``.
    """
    protected = recipe.spec.replace(bits=protect_bits)
    candidates = [mixed_precision(recipe, ranking, n, protected) for n in counts if n <= len(ranking)]
    candidates.append(dataclasses.replace(recipe, spec=protected, overrides=()))   # the method is kept
    if recipe.spec.bits + 1 < protect_bits:
        candidates.append(dataclasses.replace(recipe, spec=recipe.spec.replace(bits=recipe.spec.bits + 1), overrides=()))
    return candidates


def mixed_precision(recipe: Recipe, sensitivity: list[dict], n_protected: int, protected_spec: QuantSpec) -> Recipe:
    """``recipe`` with the ``n_protected`` most sensitive tensors quantized with ``protected_spec`` instead."""
    if not 0 <= n_protected <= len(sensitivity):
        raise ValueError(f"n_protected must be between 0 and {len(sensitivity)}, got {n_protected}")
    overrides = tuple((row["tensor"], protected_spec) for row in sensitivity[:n_protected])
    return dataclasses.replace(recipe, overrides=overrides + recipe.overrides)
