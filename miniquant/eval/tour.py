"""The tour: quantize the shipped model with many recipes and measure memory, quality and speed.

``run_tour`` returns one record per recipe (the float model first) with: bits per weight of the
whole model (what stays in float counted) and of the quantized matrices alone, its bytes, the SQNR of the
quantized weights (all matrices pooled, and the worst single matrix), bits per byte on held-out docstrings, KL
divergence from the float model (mean, 99th percentile), top-1 agreement, exact-match accuracy
on held-out arithmetic, and decode tokens/s through the kernels. ``save_records`` writes CSV
and JSON. Tests: ``tests/eval/test_tour.py``.
"""
from __future__ import annotations

import csv
import itertools
import json
import math

from ..files import atomic_write
from ..progress import progress_bar
from ..methods import Calibration, Recipe, quantize_model
from ..nn.gpt import GPT
from ..quant import QuantSpec
from .errors import model_weight_errors, pooled_sqnr_from_errors
from .memory import memory_ledger
from .quality import decode_speed_ratio, decode_tokens_per_second, evaluate_model, held_out_windows, logprobs


#: ``format_table`` columns and formats of ``run_tour`` records.
TOUR_COLUMNS = ["recipe", "bits_per_weight", "model_bytes", "weight_sqnr_db", "bits_per_byte", "kl_mean", "kl_p99",
                "top1_agreement", "arith_accuracy", "decode_tokens_per_s", "decode_vs_float"]
TOUR_FORMATS = {"kl_mean": ".2e", "kl_p99": ".2e", "top1_agreement": ".3f", "weight_sqnr_db": ".2f", "arith_accuracy": ".3f",
                "bits_per_byte": ".3f", "bits_per_weight": ".3f", "matrix_bits_per_weight": ".3f", "decode_tokens_per_s": ".0f",
                "decode_vs_float": ".2f"}


def format_recipes() -> list[Recipe]:
    """Element formats beside the integer grid at equal bits: NF4 and int4 with groups of 64 (float16 scales,
    4.25 bits per weight), NF4 with QLoRA's double quantization (4.127), MXFP4 (blocks of 32, E8M0 scales:
    4.25), FP4 (e2m1) with groups of 32, FP8 (e4m3) per channel, ternary (absmean) per channel.

    >>> [r.label() for r in format_recipes()]
    ['int4 sym g64', 'nf4 g64', 'nf4 g64 dq', 'mxfp4', 'fp4_e2m1 g32', 'fp8_e4m3 channel', 'ternary channel']
    """
    f16 = {"scale_dtype": "float16"}
    return [Recipe(QuantSpec(bits=4, group_size=64, **f16)), Recipe(QuantSpec(format="nf4", group_size=64, **f16)),
            Recipe(QuantSpec(format="nf4", group_size=64, double_quant=True)), Recipe(QuantSpec(format="mxfp4")),
            Recipe(QuantSpec(format="fp4_e2m1", group_size=32, **f16)),
            Recipe(QuantSpec(format="fp8_e4m3", granularity="channel", **f16)),
            Recipe(QuantSpec(format="ternary", granularity="channel", **f16))]


def tour_recipes(*, full: bool = False, quick: bool = False, methods: bool = False) -> list[Recipe]:
    """The recipes of ``miniquant tour``: the compact sweep and the element formats (``format_recipes``),
    fewer bit-widths and no formats with ``quick``, the grid with ``full``, and the careful methods beside
    round-to-nearest with ``methods`` (``methods_recipes``)."""
    if methods:
        return methods_recipes(granularities=("channel",) if quick else ("channel", 32), bits=(3,) if quick else (4, 3),
                               activations=not quick)
    if full:
        return full_recipes()
    if quick:
        return default_recipes(bits=(8, 4, 2))
    return default_recipes() + format_recipes()


def speed_note(records: list[dict]) -> str:
    """What the decode-speed column of ``run_tour`` records says, in words, from the measured numbers."""
    float_speed = records[0]["decode_tokens_per_s"]
    ratios = [r.get("decode_vs_float", r["decode_tokens_per_s"] / float_speed) for r in records[1:]]
    if not ratios:
        return ""
    if max(ratios) < 1:
        verdict = "slower than"
    elif min(ratios) < 1:
        verdict = "sometimes faster than"
    else:
        verdict = "faster than"
    return (f"Decode speed: the quantized models ran at {min(ratios):.2f}x to {max(ratios):.2f}x the float model's "
            f"{float_speed:.0f} tokens/s (decode_vs_float: each timed side by side with the float model), i.e. "
            f"{verdict} float.\nThe float weights of this small model fit in the CPU "
            "caches, so reading fewer bytes saves little and unpacking costs time;\nlow-bit pays off when weights "
            "stream from memory (see `miniquant bench` for large matrices).")


def default_recipes(bits=(8, 6, 5, 4, 3, 2)) -> list[Recipe]:
    """The compact sweep: every bit-width symmetric per-channel and group 32 (float16 scales),
    4-bit also asymmetric and group 128, per-tensor at 8, 4 and 2 bits, MSE clipping
    against min-max at 4 and 3 bits per-channel (where clipping has the most to give), and the
    activations rounded to int8 too for 8-bit per-channel (W8A8) and 4-bit group 128 (W4A8)."""
    recipes = []
    for b in bits:
        if b in (8, 4, 2):
            recipes.append(Recipe(QuantSpec(bits=b, granularity="tensor")))
        recipes.append(Recipe(QuantSpec(bits=b, granularity="channel", scale_dtype="float16")))
        if b in (4, 3):
            recipes.append(Recipe(QuantSpec(bits=b, granularity="channel", scale_dtype="float16", clip="mse")))
        recipes.append(Recipe(QuantSpec(bits=b, group_size=32, scale_dtype="float16")))
        if b == 4:
            recipes.append(Recipe(QuantSpec(bits=b, group_size=128, scale_dtype="float16")))
            recipes.append(Recipe(QuantSpec(bits=b, group_size=128, scale_dtype="float16"), activations="int8"))
            recipes.append(Recipe(QuantSpec(bits=b, scheme="asymmetric", group_size=32, scale_dtype="float16")))
        if b == 8:
            recipes.append(Recipe(QuantSpec(bits=b, granularity="channel", scale_dtype="float16"), activations="int8"))
    return recipes


def methods_recipes(bits=(4, 3), granularities=("channel", 32), *, activations: bool = True) -> list[Recipe]:
    """The methods comparison: for each bit-width and granularity (a number is a group size), float16 scales:
    symmetric RTN, GPTQ, GPTQ with act-order (static groups) and AWQ, then asymmetric RTN and HQQ
    (which optimises the asymmetric grid, so its own baseline is asymmetric RTN); then, with
    ``activations``, W8A8 per-channel without and with SmoothQuant, and LLM.int8() (W8A8 with the
    outlier features in float).

    >>> [r.label() for r in methods_recipes(bits=(4,), granularities=(32,), activations=False)]
    ['int4 sym g32', 'int4 sym g32 gptq', 'int4 sym g32 gptq(act_order=True,static_groups=True)', 'int4 sym g32 awq', 'int4 asym g32', 'int4 asym g32 hqq']
    """
    recipes = []
    for b, gran in itertools.product(bits, granularities):
        kind = {"granularity": gran} if isinstance(gran, str) else {"group_size": gran}
        sym = QuantSpec(bits=b, scale_dtype="float16", **kind)
        asym = sym.replace(scheme="asymmetric")
        act_order = {"act_order": True, **({"static_groups": True} if sym.granularity == "group" else {})}
        recipes += [Recipe(sym), Recipe(sym, method="gptq"), Recipe(sym, method="gptq", options=act_order),
                    Recipe(sym, method="awq"), Recipe(asym), Recipe(asym, method="hqq")]
    if activations:
        w8 = QuantSpec(bits=8, granularity="channel", scale_dtype="float16")
        recipes += [Recipe(w8, activations="int8"), Recipe(w8, activations="int8", method="smoothquant"),
                    Recipe(w8, activations="int8", method="llm_int8")]
    return recipes


def method_recovery(records: list[dict]) -> list[dict]:
    """For each record of a calibrated or careful method: the share of its baseline's KL it recovered.

    The baseline is round-to-nearest with the same bits, scheme and granularity (``recovered =
    1 - kl_method / kl_rtn``), and for asymmetric methods also symmetric RTN (``vs_sym_rtn``).
    """
    def key(r, scheme=None):
        return (r.get("bits"), scheme or r.get("scheme"), r.get("granularity"), r.get("activations"))

    rtn = {key(r): r for r in records if r.get("method") == "rtn"}
    rows = []
    for r in records:
        if r.get("method") in (None, "float", "rtn") or key(r) not in rtn:
            continue
        base = rtn[key(r)]
        row = {"recipe": r["recipe"], "baseline": base["recipe"], "kl_baseline": base["kl_mean"], "kl_mean": r["kl_mean"],
               "recovered": 1 - r["kl_mean"] / base["kl_mean"] if base["kl_mean"] > 0 else float("nan"),
               "arith_baseline": base["arith_accuracy"], "arith_accuracy": r["arith_accuracy"],
               "method_seconds": r["method_seconds"]}
        sym = rtn.get(key(r, "symmetric"))
        if r.get("scheme") == "asymmetric" and sym is not None and sym["kl_mean"] > 0:
            row["vs_sym_rtn"] = 1 - r["kl_mean"] / sym["kl_mean"]
        rows.append(row)
    return rows


#: ``format_table`` columns and formats of ``method_recovery`` rows.
RECOVERY_COLUMNS = ["recipe", "baseline", "kl_baseline", "kl_mean", "recovered", "vs_sym_rtn", "arith_baseline",
                    "arith_accuracy", "method_seconds"]
RECOVERY_FORMATS = {"kl_baseline": ".2e", "kl_mean": ".2e", "recovered": ".0%", "vs_sym_rtn": ".0%",
                    "arith_baseline": ".3f", "arith_accuracy": ".3f", "method_seconds": ".1f"}


def full_recipes(bits=(8, 6, 5, 4, 3, 2), schemes=("symmetric", "asymmetric"),
                 granularities=("tensor", "channel", 32, 128), clips=("minmax", "mse")) -> list[Recipe]:
    """The whole grid: bits x scheme x granularity (a number is a group size) x clipping, float16 scales.

    >>> len(full_recipes())
    96
    """
    recipes = []
    for b, scheme, gran, clip in itertools.product(bits, schemes, granularities, clips):
        kind = {"granularity": gran} if isinstance(gran, str) else {"group_size": gran}
        recipes.append(Recipe(QuantSpec(bits=b, scheme=scheme, clip=clip, scale_dtype="float16", **kind)))
    return recipes


def run_tour(model: GPT, corpus, recipes: list[Recipe], *, max_windows: int = 16, n_problems: int = 200,
             speed_tokens: int = 48, progress: bool = True, calibration: Calibration | None = None) -> list[dict]:
    """Measure the float model and every recipe on the same held-out data (module docstring).

    Recipes whose method needs calibration data get the windows ``calibration`` describes (default
    ``Calibration()``: 64 windows of the training split, seed 0), drawn once for all of them.
    """
    ids, targets = held_out_windows(corpus.docs_val, model.config.n_ctx, max_windows)
    calibration_ids = None
    if any(r.needs_calibration for r in recipes):
        calibration_ids = (calibration or Calibration()).ids(corpus, model.config.n_ctx)
    problems = corpus.arith_val[:n_problems]
    reference = logprobs(model, ids)
    quantized_names = [k for k, v in model.params.items() if recipes and recipes[0].spec_for(k, v) is not None]
    rows = [None] + list(recipes)  # None: the float model itself
    float_model = GPT(model.config, model.params)
    records = []
    bar = progress_bar(rows, desc="tour", unit="recipe", enabled=progress)
    for recipe in bar:
        label = "float32" if recipe is None else recipe.label()
        bar.set_postfix_str(label)
        params = model.params if recipe is None else quantize_model(model.params, recipe, calibration_ids)
        candidate = GPT(model.config, params, activations="float" if recipe is None else recipe.activations)
        ledger = memory_ledger(params)
        matrices = {k: v for k, v in params.items() if k in quantized_names}
        record = {"recipe": label, **_recipe_fields(recipe), "bits_per_weight": ledger.bits_per_weight,
                  "matrix_bits_per_weight": memory_ledger(matrices).bits_per_weight, "model_bytes": ledger.total_bytes,
                  "method_seconds": 0.0 if recipe is None else params.quantization["seconds"]}
        errors = model_weight_errors(getattr(params, "reference", model.params), params)   # AWQ: the folded floats
        record["weight_sqnr_db"] = pooled_sqnr_from_errors(errors)
        record["worst_tensor_sqnr_db"] = min((e["sqnr_db"] for e in errors), default=float("inf"))
        record.update(evaluate_model(reference, candidate, ids, targets, problems))
        if recipe is None:
            record["decode_tokens_per_s"], record["decode_vs_float"] = decode_tokens_per_second(candidate, speed_tokens), 1.0
        else:                         # side by side with the float model, so the shared machine's drift cancels
            speed = decode_speed_ratio(float_model, candidate, speed_tokens)
            record["decode_tokens_per_s"], record["decode_vs_float"] = speed["tokens_per_s"], speed["ratio"]
        records.append(record)
    bar.close()
    return records


def _recipe_fields(recipe: Recipe | None) -> dict:
    """The structured fields of a tour record (what ``method_recovery`` and the plots group by)."""
    if recipe is None:
        return {"method": "float", "options": "", "bits": None, "scheme": None, "format": None, "granularity": None,
                "clip": None, "scale_dtype": None, "double_quant": False, "activations": "float"}
    s = recipe.spec
    options = ",".join(f"{k}={v}" for k, v in recipe.options)
    return {"method": recipe.method, "options": options, "bits": s.bits, "scheme": s.scheme, "format": s.format,
            "granularity": s.granularity_label, "clip": s.clip, "scale_dtype": s.scale_dtype.name,
            "double_quant": s.double_quant, "activations": recipe.activations}


def save_records(records: list[dict], stem) -> tuple[str, str]:
    """Write ``stem.csv`` and ``stem.json``; returns their paths.

    Infinite or NaN values (the float model's weight SQNR is infinite) are written as empty CSV
    cells and JSON ``null``, so that strict JSON readers and spreadsheets accept the files.
    """
    clean = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()} for r in records]
    csv_path, json_path = f"{stem}.csv", f"{stem}.json"
    with atomic_write(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(clean[0]))
        writer.writeheader()
        writer.writerows(clean)
    with atomic_write(json_path, "w") as fh:
        json.dump(clean, fh, indent=1, allow_nan=False)
    return csv_path, json_path
