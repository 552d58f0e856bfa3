"""A quantized model beside its float original: which models to compare, and the side-by-side measurements.

``models_to_compare`` answers "what do I compare?": a float checkpoint alone, a float model and
the quantized model a recipe makes of it now, or a quantized checkpoint and the float model it
was made from (found and checked through ``nn.io.load_source``: the very file, by size and
SHA-256). ``compare_models`` measures every model on the same held-out data -- bits per byte on
validation and training text, held-out arithmetic, and (with a quantized model) KL divergence
and top-1 agreement with the float one -- and returns a ``Comparison``. ``miniquant eval`` and
``miniquant generate`` are these two calls and a print. Tests: ``tests/eval/test_compare.py``
and ``tests/test_cli.py``.
"""
from __future__ import annotations

import dataclasses

from ..methods import Calibration, Recipe, check_recipe, is_quantized, quantize_model
from ..nn.evaluate import arithmetic_results, bits_per_byte, ngram_bits_per_byte
from ..nn.gpt import GPT
from ..nn.io import load_checkpoint, load_default, load_source
from .memory import memory_ledger
from .quality import compare_to_float, held_out_windows, logprobs

#: ``format_table`` columns and formats of ``Comparison.rows``.
COMPARISON_COLUMNS = ["model", "bytes", "bits_per_weight", "val_bits_per_byte", "train_bits_per_byte", "arith_exact",
                      "add_2digit"]
KL_COLUMNS = ["kl_mean", "kl_p99", "top1_agreement"]
COMPARISON_FORMATS = {"bits_per_weight": ".3f", "val_bits_per_byte": ".3f", "train_bits_per_byte": ".3f",
                      "arith_exact": ".1%", "add_2digit": ".1%", "kl_mean": ".2e", "kl_p99": ".2e", "top1_agreement": ".3f"}


def models_to_compare(checkpoint=None, recipe: Recipe | None = None, *, activations: str = "float",
                      calibration: Calibration | None = None, corpus=None) -> list[tuple[str, GPT]]:
    """``[("float32", float_model)]``, plus ``(label, quantized_model)`` when there is one to compare.

    Parameters
    ----------
    checkpoint : path, optional
        A float or quantized checkpoint; default: the shipped model.
    recipe : Recipe, optional
        Quantize the (float) model now with it (checked with ``methods.check_recipe``).
    activations : {"float", "int8"}
        How a quantized checkpoint runs (a recipe carries its own; a checkpoint written for int8
        activations, ``meta["activations"]``, runs with them).
    calibration : Calibration, optional
        The calibration windows for a recipe whose method needs them (default ``Calibration()``),
        drawn from ``corpus`` (built if not given).

    Raises
    ------
    ValueError
        A recipe for a model that is already quantized, int8 activations without a quantized
        model, or a quantized checkpoint whose float source is missing or not the recorded file.
    """
    if checkpoint is None:
        model, meta = load_default(), {}
    else:
        config, params, meta = load_checkpoint(checkpoint)   # read once: weights and header
        model = GPT(config, params)
    if recipe is not None:
        if is_quantized(model.params):
            raise ValueError(f"{checkpoint} is already quantized; give a float model with a recipe")
        check_recipe(recipe, model.params)
        ids = None
        if recipe.needs_calibration:
            if corpus is None:
                from ..nn.data import build_corpus
                corpus = build_corpus()
            ids = (calibration or Calibration()).ids(corpus, model.config.n_ctx)
        quantized = GPT(model.config, quantize_model(model.params, recipe, ids), activations=recipe.activations)
        return [("float32", model), (recipe.label(), quantized)]
    if not is_quantized(model.params):
        if activations != "float":
            raise ValueError("activations='int8' needs a quantized model: give a recipe (--bits), or a quantized checkpoint")
        return [("float32", model)]
    if activations == "float" and meta.get("activations") == "int8":   # made for int8 activations (SmoothQuant, W8A8)
        activations = "int8"
    if activations != "float":
        model = GPT(model.config, model.params, activations=activations)
    float_model = load_source(checkpoint, meta)
    if float_model.config != model.config:
        raise ValueError(f"the float model recorded in {checkpoint} does not match its config")
    label = meta.get("recipe", "quantized")
    if activations == "int8" and meta.get("activations") != "int8":      # the recipe's label says it already
        label += " +int8 act"
    return [("float32", float_model), (label, model)]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """What ``compare_models`` measured: one row per model, and the data it was measured on."""

    rows: list[dict]
    columns: list[str]
    val_bytes: int
    train_bytes: int
    unigram_bits_per_byte: float
    bigram_bits_per_byte: float
    n_problems: int
    n_additions: int
    kl_positions: int | None = None
    kl_windows: int | None = None


def _check_limit(name: str, value, low: int) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
        raise ValueError(f"{name} must be an integer >= {low} or None, got {value!r}")


def compare_models(models: list[tuple[str, GPT]], corpus, *, max_bytes: int | None = None,
                   arith_problems: int | None = None, kl_windows: int = 256) -> Comparison:
    """Every model of ``models_to_compare`` on the same held-out data (module docstring).

    ``max_bytes`` limits the validation text (at least one context window plus a byte),
    ``arith_problems`` the held-out problems, ``kl_windows`` the windows for the KL divergence.
    """
    n_ctx = models[0][1].config.n_ctx
    _check_limit("max_bytes", max_bytes, n_ctx + 1)
    _check_limit("arith_problems", arith_problems, 1)
    _check_limit("kl_windows", kl_windows, 1)
    val = corpus.docs_val[:max_bytes]
    train_sample = corpus.docs_train[:len(val)]
    held_out = corpus.arith_val[:arith_problems]
    additions = [p for p in held_out if "+" in p and all(len(x) == 2 for x in p.split("=")[0].split("+"))]
    rows = []
    for name, model in models:
        right = dict(zip(held_out, arithmetic_results(model, held_out)))  # decode each problem once
        ledger = memory_ledger(model.params)
        rows.append({"model": name, "bytes": ledger.total_bytes, "bits_per_weight": ledger.bits_per_weight,
                     "val_bits_per_byte": bits_per_byte(model, val), "train_bits_per_byte": bits_per_byte(model, train_sample),
                     "arith_exact": sum(right.values()) / len(right),
                     "add_2digit": sum(right[p] for p in additions) / len(additions) if additions else None})
    columns = list(COMPARISON_COLUMNS)
    positions = windows = None
    if len(models) > 1:
        ids, targets = held_out_windows(val, n_ctx, kl_windows)
        reference = logprobs(models[0][1], ids)
        rows[0].update(kl_mean=0.0, kl_p99=0.0, top1_agreement=1.0)
        for row, (_, model) in zip(rows[1:], models[1:]):
            row.update({k: v for k, v in compare_to_float(reference, model, ids, targets).items() if k != "bits_per_byte"})
        columns += KL_COLUMNS
        positions, windows = int(ids.size), len(ids)
    return Comparison(rows=rows, columns=columns, val_bytes=len(val), train_bytes=len(train_sample),
                      unigram_bits_per_byte=ngram_bits_per_byte(corpus.docs_train, val, 1),
                      bigram_bits_per_byte=ngram_bits_per_byte(corpus.docs_train, val, 2),
                      n_problems=len(held_out), n_additions=len(additions), kl_positions=positions, kl_windows=windows)
