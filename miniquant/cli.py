"""The ``miniquant`` command: a thin argparse layer over library calls.

``miniquant tour`` (the main job) quantizes the shipped model with every recipe of a compact
sweep and measures memory, quality on two tasks, and speed; ``miniquant table`` does the same
for a single weight-like matrix (error metrics only); ``quantize`` saves a quantized model,
``eval`` and ``generate`` put a quantized model beside its float original, ``sensitivity``
ranks the matrices, ``bench`` times the kernels and ``train`` trains a model.

Each command checks every option and every output path before the long work starts, calls the
library (``eval.tour``, ``eval.compare``, ``eval.sensitivity``, ``eval.speed``, ``methods``,
``nn``) and prints; any error is one line that names the option and the value, exit status 2.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

from .eval.errors import ERROR_TABLE_COLUMNS, ERROR_TABLE_FORMATS, error_table, format_table
from .eval.samples import sample_weight
from .files import check_output_path
from .nn.functional import ACTIVATIONS
from .quant import CLIPS, GRANULARITIES, SCHEMES


# -- option types: each refuses a bad value with a message that names it ------------------------

def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
        return value
    parse.__name__ = f"integer >= {low}"
    return parse


def _finite_float(low: float = -math.inf, high: float = math.inf, *, strict_low: bool = False):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if not math.isfinite(value) or value < low or (strict_low and value == low) or value > high:
            bounds = f"{'>' if strict_low else '>='} {low:g}" if low > -math.inf else ""
            bounds += (" and " if bounds and high < math.inf else "") + (f"<= {high:g}" if high < math.inf else "")
            raise argparse.ArgumentTypeError(f"must be a finite number {bounds}, got {text!r}")
        return value
    parse.__name__ = "number"
    return parse


def _shape(text: str) -> tuple[int, int]:
    try:
        k, n = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape must look like 1024x256, got {text!r}") from None
    if k <= 0 or n <= 0:
        raise argparse.ArgumentTypeError(f"shape must be positive, got {text!r}")
    return k, n


def _bits(text: str) -> list[int]:
    try:
        bits = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bits must be a comma-separated list such as 8,4,2, got {text!r}") from None
    if any(not 2 <= b <= 8 for b in bits):
        raise argparse.ArgumentTypeError(f"every bit-width must be from 2 to 8, got {text!r}")
    return bits


def _shapes(text: str) -> list[tuple[int, int, int]]:
    try:
        shapes = [tuple(int(v) for v in item.lower().split("x")) for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"shapes must look like 1x4096x4096,32x4096x11008, got {text!r}") from None
    if any(len(s) != 3 or min(s) <= 0 for s in shapes):
        raise argparse.ArgumentTypeError(f"each shape must be M x K x N with positive sizes, got {text!r}")
    return shapes


def _counts(text: str) -> list[int]:
    try:
        counts = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"counts must be comma-separated integers such as 0,1,2,4, got {text!r}") from None
    if any(c < 0 for c in counts):
        raise argparse.ArgumentTypeError(f"counts must not be negative, got {text!r}")
    return counts


def _model_path(args):
    """The model the command reads: ``--model``, or the shipped checkpoint."""
    from .nn.io import DEFAULT_PATH

    return args.model if args.model is not None else DEFAULT_PATH


def _load(path):
    from .nn import load_default, load_model

    return load_default() if path is None else load_model(path)


# -- commands ---------------------------------------------------------------------------------

def cmd_table(args) -> int:
    w = sample_weight(args.shape, seed=args.seed)
    k, n = w.shape
    print(f"Quantizing a sample weight w of shape {k}x{n} (K x N, Student-t entries, per-column spread,")
    print(f"outliers; seed {args.seed}): float32 takes {w.nbytes:,} bytes = 32 bits per weight.")
    print(f"Scales stored as {args.scale_dtype}; range chosen by clip={args.clip!r}; groups of {args.group_size} along K.\n")
    rows = error_table(w, bits=args.bits, group_size=args.group_size, clip=args.clip, scale_dtype=args.scale_dtype)
    print(format_table(rows, ERROR_TABLE_COLUMNS, ERROR_TABLE_FORMATS))
    print(
        "\nRead it as: SQNR (dB, higher is better) gains about 6 dB per bit; per-channel and per-group "
        "scales\nbuy back what one outlier costs per-tensor, for the bits_per_weight their scales add."
    )
    return 0


def cmd_bench(args) -> int:
    import json

    from .eval import speed
    from .files import atomic_write

    if args.json:
        check_output_path(args.json, name="--json")
    if args.model:
        return _bench_model(args)
    if args.import_order:
        shape = (args.shapes or [(1, 1024, 1024) if args.quick else (1, 4096, 4096)])[0]
        print(speed.format_header(speed.machine_header()))
        rows = speed.import_order_ratios(shape, rounds=2 if args.quick else args.rounds, reps=3 if args.quick else args.reps,
                                         runs=1 if args.quick else 2)
        print(speed.format_import_order(rows, shape))
        if args.json:
            with atomic_write(args.json, "w") as fh:
                json.dump({"machine": speed.machine_header(), "shape": shape, "import_order": rows}, fh, indent=1)
        return 0
    progress = lambda shape: print(f"... {'x'.join(map(str, shape))} done", file=sys.stderr, flush=True)  # noqa: E731
    result = speed.run_benchmark(args.shapes, quick=args.quick, rounds=args.rounds, reps=args.reps, cold=args.cold,
                                 compile_time=not args.no_compile, progress=progress)
    print(speed.format_benchmark(result))
    if args.json:
        with atomic_write(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
        print(f"\nrecords saved to {args.json}")
    return 0


def _gpt2_shapes(value: str) -> list[str]:
    """``--model``: comma-separated GPT-2 shape names."""
    from .eval.decode_speed import GPT2_SHAPES

    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in GPT2_SHAPES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"--model takes GPT-2 shapes among {', '.join(GPT2_SHAPES)}, got {value!r}")
    return names


def _bench_model(args) -> int:
    """``miniquant bench --model``: the end-to-end decode table for each GPT-2 shape (``eval.decode_speed``)."""
    import json

    from .eval import decode_speed, speed
    from .files import atomic_write

    machine = speed.machine_header()
    print(speed.format_header(machine))
    bandwidth = speed.streaming_bandwidth()
    print(f"measured streaming read bandwidth: {bandwidth:.1f} GB/s")
    rounds = 2 if args.quick else args.rounds
    tokens = min(args.tokens, 6) if args.quick else args.tokens
    result = {"machine": machine, "bandwidth_gbps": bandwidth, "new_tokens": tokens, "shapes": {}}
    for name in args.model:
        config = decode_speed.GPT2_SHAPES[name]
        progress = lambda message: print(f"... {name}: {message}", file=sys.stderr, flush=True)  # noqa: E731
        rows = decode_speed.bench_decode(config, new_tokens=tokens, rounds=rounds, progress=progress)
        print("\n" + decode_speed.format_decode(name, config, rows, bandwidth))
        result["shapes"][name] = rows
    print(f"\n{tokens} tokens per run from a one-token prompt, greedy, KV cache; ratio = median over {rounds} rounds "
          "of t_float / t. Random weights: speed depends on the shapes, not on the values.")
    if args.json:
        with atomic_write(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
        print(f"records saved to {args.json}")
    return 0


def _check_output_folder(path, name: str) -> None:
    """A folder the command will create or fill: refuse a file in its place or an unwritable parent, now."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{name} {path!r} is a file; give a folder")
    existing = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(existing):
        existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{name} {path!r} is not writable")


def cmd_tour(args) -> int:
    import time

    from .eval.plots import plot_knee, plot_memory
    from .eval.tour import (
        RECOVERY_COLUMNS, RECOVERY_FORMATS, TOUR_COLUMNS, TOUR_FORMATS, method_recovery, run_tour, save_records,
        speed_note, tour_recipes,
    )
    from .nn.data import build_corpus

    _check_output_folder(args.out, "--out")
    if args.full and args.methods:
        raise ValueError("--full and --methods are two different tours: choose one")
    t0 = time.perf_counter()
    model = _load(args.model)
    corpus = build_corpus()
    recipes = tour_recipes(full=args.full, quick=args.quick, methods=args.methods)
    skipped = [r.label() for r in recipes if not r.fits(model.params)]
    recipes = [r for r in recipes if r.fits(model.params)]
    if skipped:
        print(f"(skipped, group size does not divide every matrix: {', '.join(skipped)})")
    print(f"The tour: {len(recipes)} recipes on the model {model.config} ({model.n_params:,} weights).")
    windows, problems = (8, 50) if args.quick else (16, 200)
    print(f"Quality: the first {windows * model.config.n_ctx:,} bytes of the held-out docstrings (bits per byte; KL divergence")
    print(f"and top-1 agreement with the float model at every position) and {problems} held-out arithmetic problems")
    print("(exact match, greedy); speed: greedy decoding with the KV cache, quantized weights through the kernels.\n")
    calibration = _calibration(args)
    if any(r.needs_calibration for r in recipes):
        print(f"Calibrated methods see {calibration.windows} windows of {model.config.n_ctx} tokens from the training split "
              f"({calibration.source}, seed {calibration.seed}), never the held-out data.\n")
    records = run_tour(model, corpus, recipes, max_windows=windows, n_problems=problems, speed_tokens=32 if args.quick else 48,
                       calibration=calibration)
    columns = TOUR_COLUMNS + (["method_seconds"] if args.methods else [])
    print(format_table(records, columns, {**TOUR_FORMATS, "method_seconds": ".1f"}))
    if args.methods:
        print("\nWhat each method recovered of round-to-nearest's KL divergence at the same bits, scheme and granularity "
              "(vs_sym_rtn: against symmetric RTN):")
        print(format_table(method_recovery(records), RECOVERY_COLUMNS, RECOVERY_FORMATS))
    else:
        print("\n" + speed_note(records))
    os.makedirs(args.out, exist_ok=True)
    paths = list(save_records(records, os.path.join(args.out, "methods" if args.methods else "tour")))
    try:
        paths.append(plot_knee(records, os.path.join(args.out, "knee.png")))
        paths.append(plot_memory(records, os.path.join(args.out, "memory.png")))
    except ImportError:
        print('\n(no plots: matplotlib is not installed; pip install "miniquant[plots]")')
    print("\nsaved:\n  " + "\n  ".join(paths))
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


def cmd_train(args) -> int:
    import dataclasses
    import time

    from .nn import GPTConfig
    from .nn.data import build_corpus
    from .nn.io import save_checkpoint
    from .nn.train import TrainConfig, train

    config = GPTConfig(vocab_size=256, n_ctx=args.n_ctx, n_embd=args.n_embd, n_head=args.n_head, n_layer=args.n_layer)
    tc = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, arith_fraction=args.arith_fraction,
                     seed=args.seed, log_every=args.log_every)
    check_output_path(args.out, name="--out")
    corpus = build_corpus(seed=args.seed)
    print(corpus.describe())
    print(f"{config}\n{tc}")
    command = "miniquant train " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "miniquant train"
    start = time.perf_counter()

    def on_log(params, record):
        print(f"step {record['step']}: loss {record['loss']:.4f} lr {record['lr']:.2e} grad-norm {record['grad_norm']:.2f} "
              f"({record['seconds']:.0f} s)", flush=True)
        meta = {"command": command, "train": dataclasses.asdict(tc), "step": record["step"], "loss": record["loss"],
                "wall_seconds": time.perf_counter() - start}
        save_checkpoint(args.out, config, params, meta)   # atomic: a cut-short write keeps the last one

    train(config, tc, corpus, progress=not args.quiet, on_log=on_log)
    print(f"saved {args.out} after {time.perf_counter() - start:.0f} s")
    return 0


def _method_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE an integer, a number, true or false."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"must look like KEY=VALUE (e.g. damp=0.1, act_order=true), got {text!r}")
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return key.strip(), lowered == "true"
    for kind in (int, float):
        try:
            return key.strip(), kind(value)
        except ValueError:
            pass
    raise argparse.ArgumentTypeError(f"the value of {key!r} must be an integer, a number, true or false, got {value!r}")


def _recipe(args):
    """The recipe the options describe, or ``None`` without ``--bits`` (checked against a model later)."""
    from .methods import make_recipe

    if args.bits is None and args.format == "int":
        if getattr(args, "recipe_required", False):
            raise ValueError("--bits is required (or a --format that fixes the code width)")
        for flag in ("group_size", "granularity", "scale_dtype"):
            if getattr(args, flag) is not None:
                raise ValueError(f"--{flag.replace('_', '-')} needs --bits")
        if args.double_quant:
            raise ValueError("--double-quant needs --bits or --format")
        if args.protect:
            raise ValueError("--protect needs --bits")
        if args.head is not None:
            raise ValueError("--head needs --bits or --format")
        if args.method != "rtn" or args.method_option:
            raise ValueError("--method and --method-option need --bits")
        return None
    return make_recipe(args.bits, format=args.format, scheme=args.scheme, granularity=args.granularity, group_size=args.group_size,
                       clip=args.clip, scale_dtype=args.scale_dtype, double_quant=args.double_quant, protect=args.protect,
                       protect_bits=args.protect_bits, activations=getattr(args, "activations", "float"), method=args.method,
                       head=args.head, **dict(args.method_option))


def _head(value: str):
    """``--head``: ``same`` or a bit-width 2..8."""
    if value == "same":
        return value
    if value.isdigit() and 2 <= int(value) <= 8:
        return int(value)
    raise argparse.ArgumentTypeError(f"--head must be 'same' or a bit-width 2..8, got {value!r}")


def _calibration(args):
    from .methods import Calibration

    return Calibration(windows=args.calibration_windows, seed=args.calibration_seed, source=args.calibration_source)


def _models(args, corpus=None):
    from .eval.compare import models_to_compare

    return models_to_compare(args.model, _recipe(args), activations=getattr(args, "activations", "float"),
                             calibration=_calibration(args), corpus=corpus)


def _method_note(quantized) -> str:
    """One line: how long ``quantize_model``'s method took, and on what calibration data."""
    record = quantized.quantization
    data = ""
    if "calibration" in record:
        c = record["calibration"]
        data = f" on {c['windows']} calibration windows x {c['tokens_per_window']} tokens of the training split"
    return f"{record['method']}: {record['seconds']:.2f} s{data}"


def cmd_quantize(args) -> int:
    from .eval.errors import WEIGHT_ERROR_COLUMNS, WEIGHT_ERROR_FORMATS, model_weight_errors, pooled_sqnr_from_errors
    from .eval.memory import memory_ledger
    from .methods import check_recipe, is_quantized, quantize_model
    from .nn.io import save_checkpoint, source_record

    out = check_output_path(args.out, name="--out", inputs=[_model_path(args)])
    recipe = _recipe(args)
    model = _load(args.model)
    if is_quantized(model.params):
        raise ValueError(f"--model {args.model} is already quantized")
    check_recipe(recipe, model.params)
    calibration = ids = None
    if recipe.needs_calibration:
        from .nn.data import build_corpus

        calibration = _calibration(args)
        ids = calibration.ids(build_corpus(), model.config.n_ctx)
    qparams = quantize_model(model.params, recipe, ids, progress=True)
    print(_method_note(qparams))
    ledger = memory_ledger(qparams)
    if args.ledger:
        print(ledger, end="\n\n")
    errors = model_weight_errors(qparams.reference, qparams)   # AWQ, SmoothQuant: against the folded float weights
    print(format_table(errors, WEIGHT_ERROR_COLUMNS, WEIGHT_ERROR_FORMATS))
    print(f"all quantized matrices together: SQNR {pooled_sqnr_from_errors(errors):.2f} dB\n")
    method = dict(qparams.quantization)
    if calibration is not None:
        method["calibration"] = {**method["calibration"], **calibration.to_dict()}
    meta = {"recipe": recipe.label(), "source": source_record(args.model, out), "method": method,
            "activations": recipe.activations,
            "command": "miniquant quantize " + " ".join(sys.argv[2:])}
    save_checkpoint(out, model.config, qparams, meta)
    float_bytes = memory_ledger(model.params).total_bytes
    print(f"{recipe.label()}: {ledger.total_bytes:,} bytes held ({ledger.bits_per_weight:.3f} bits per weight, "
          f"{'wpe' if recipe.head is not None else 'embeddings'}, LayerNorms and biases in float) vs {float_bytes:,} in float32 ({float_bytes / ledger.total_bytes:.2f}x smaller)")
    print(f"saved {out} ({os.path.getsize(out):,} bytes on disk)")
    print(f"next: miniquant eval --model {out}   or   miniquant generate --model {out}")
    return 0


def cmd_eval(args) -> int:
    import time

    from .eval.compare import COMPARISON_FORMATS, compare_models
    from .nn.data import build_corpus

    t0 = time.perf_counter()
    _recipe(args)                    # bad recipe options fail here, before the corpus is read
    corpus = build_corpus(seed=args.seed)
    models = _models(args, corpus)
    float_model = models[0][1]
    print(f"model: {float_model.config} ({float_model.n_params:,} weights), ready in {time.perf_counter() - t0:.2f} s")
    if len(models) > 1 and hasattr(models[1][1].params, "quantization"):
        print(_method_note(models[1][1].params))
    print(corpus.describe())
    result = compare_models(models, corpus, max_bytes=args.max_bytes, arith_problems=args.arith_problems,
                            kl_windows=args.kl_windows)
    print(f"\nbaselines on the validation docstrings ({result.val_bytes:,} bytes), bits per byte: "
          f"unigram {result.unigram_bits_per_byte:.3f}, bigram {result.bigram_bits_per_byte:.3f}")
    print(f"\nheld-out arithmetic: {result.n_problems} problems ({result.n_additions} two-digit additions), greedy exact "
          f"match; training-text bits per byte on the first {result.train_bytes:,} bytes")
    if result.kl_positions is not None:
        print(f"KL divergence (nats) and top-1 agreement with the float model at the {result.kl_positions:,} positions of the "
              f"first {result.kl_windows} validation windows")
    print()
    print(format_table(result.rows, result.columns, COMPARISON_FORMATS))
    return 0


def cmd_generate(args) -> int:
    from .nn import ByteTokenizer, generate

    if not args.prompt:
        raise ValueError("--prompt must not be empty")
    models = _models(args)
    n_ctx = models[0][1].config.n_ctx
    tok = ByteTokenizer()
    prompt = tok.encode(args.prompt)
    if len(prompt) >= n_ctx:
        raise ValueError(f"--prompt is {len(prompt)} bytes; the model's context is {n_ctx}, so it must be shorter")
    n = min(args.tokens, n_ctx - len(prompt))
    texts = []
    for name, model in models:
        out = generate(model, prompt, n, temperature=args.temperature, top_k=args.top_k, seed=args.seed)
        texts.append(tok.decode(out))
        if len(models) > 1:
            print(f"--- {name} ---")
        print(texts[-1])
    if len(models) > 1:
        same = next((i for i, (a, b) in enumerate(zip(*texts)) if a != b), min(map(len, texts)))
        shown = "greedy" if args.temperature == 0 else f"temperature {args.temperature}, the same seed {args.seed}"
        print(f"--- ({shown}) the two agree on the first {same - len(args.prompt)} of {n} generated characters ---")
    return 0


def cmd_export_gguf(args) -> int:
    import collections
    import os

    from .formats.gguf import TYPES
    from .nn.gguf_io import export_gguf

    model = _load(args.model)
    chosen = export_gguf(model, args.out, args.type, pure=args.pure)
    by_type = collections.defaultdict(list)
    for name, t in chosen.items():
        by_type[t].append(name)
    size = os.path.getsize(args.out)
    print(f"wrote {args.out}: {size:,} bytes for {model.n_params:,} weights ({8 * size / model.n_params:.2f} bits per "
          f"weight with the header and vocabulary), architecture gpt2")
    for t, names in sorted(by_type.items(), key=lambda item: -len(item[1])):
        bits = f"{TYPES[t].bits_per_weight:g} bits" if t in TYPES else {"F32": "32 bits", "F16": "16 bits"}[t]
        print(f"  {t:5s} ({bits}): {len(names)} tensors, e.g. {', '.join(names[:3])}")
    print("  (the types llama-quantize gives each tensor for this file type: gguf_mixes.py)" if not args.pure else
          "  (every matrix in the plain type; rows that do not fit its blocks take llama-quantize's fallback)")
    print(f"next: miniquant eval --model {args.out}")
    return 0


def cmd_sensitivity(args) -> int:
    from .eval.quality import held_out_windows, logprobs
    from .eval.sensitivity import (
        CANDIDATE_COLUMNS, SENSITIVITY_COLUMNS, SENSITIVITY_FORMATS, layer_sensitivity, protection_candidates,
    )
    from .eval.tour import TOUR_FORMATS, run_tour
    from .methods import check_recipe, is_quantized
    from .nn.data import build_corpus

    recipe = _recipe(args)
    model = _load(args.model)
    if is_quantized(model.params):
        raise ValueError(f"--model {args.model} is already quantized; give a float model")
    check_recipe(recipe, model.params)
    corpus = build_corpus()
    ids, targets = held_out_windows(corpus.docs_val, model.config.n_ctx, args.windows)
    print(f"Per-layer sensitivity of {recipe.label()}: each matrix quantized alone, the rest in float; KL divergence "
          f"from the float model over {ids.size:,} held-out positions (nats), most harmful first.\n")
    calibration = _calibration(args).ids(corpus, model.config.n_ctx) if recipe.needs_calibration else None
    ranking = layer_sensitivity(model, recipe, logprobs(model, ids), ids, targets, calibration)
    print(format_table(ranking, SENSITIVITY_COLUMNS, SENSITIVITY_FORMATS))
    candidates = protection_candidates(recipe, ranking, args.counts, args.protect_bits)
    print(f"\nWhat protecting the most sensitive matrices at {args.protect_bits} bits buys, against spending the memory uniformly:")
    records = run_tour(model, corpus, candidates, max_windows=args.windows, n_problems=args.problems, speed_tokens=8,
                       calibration=_calibration(args))
    print(format_table(records, CANDIDATE_COLUMNS, TOUR_FORMATS))
    return 0


def _add_calibration_args(group) -> None:
    from .methods import CALIBRATION_SOURCES

    group.add_argument("--calibration-windows", type=_int_at_least(1), default=64,
                       help="windows of the training split that calibrated methods run through the model (default 64)")
    group.add_argument("--calibration-seed", type=_int_at_least(0), default=0, help="seed of those windows (default 0)")
    group.add_argument("--calibration-source", choices=CALIBRATION_SOURCES, default="mix",
                       help="calibrate on the training mix, docstrings only or arithmetic only (default mix)")


def _add_recipe_args(parser, *, required: bool = False, what: str = "", activations: bool = False) -> None:
    """The options that describe a round-to-nearest recipe (``methods.make_recipe``); ``--activations`` where a model runs."""
    group = parser.add_argument_group("quantization recipe" + (f" ({what})" if what else ""))
    group.add_argument("--bits", type=int, choices=range(2, 9), metavar="{2..8}",
                       help="code width of the weight matrices" + (" (required unless --format fixes it)" if required
                                                                    else "; omit to use the model as it is"))
    from .quant.spec import ALL_FORMATS

    group.add_argument("--format", choices=ALL_FORMATS, default="int",
                       help="what a code means: the integer grid (default), an element format such as nf4 or "
                       "fp8_e4m3 (absmax scale per block; --bits follows from it), or an MX block format such as "
                       "mxfp4 (blocks of 32, E8M0 scales)")
    parser.set_defaults(recipe_required=required)
    group.add_argument("--scheme", choices=SCHEMES, default="symmetric", help="(default symmetric)")
    group.add_argument("--granularity", choices=GRANULARITIES,
                       help="scale sharing (default: group if --group-size is given, else channel)")
    group.add_argument("--group-size", type=_int_at_least(1), help="group length along K, e.g. 32 or 128")
    group.add_argument("--clip", choices=CLIPS, default="minmax", help="range selection (default minmax)")
    group.add_argument("--scale-dtype", choices=["float16", "float32", "bfloat16", "e8m0"],
                       help="how scales are stored (default float16; float32 with --double-quant; e8m0 for MX formats)")
    group.add_argument("--double-quant", action="store_true",
                       help="quantize the scales too (QLoRA): 8-bit e4m3 codes with a float32 scale per 256")
    group.add_argument("--head", type=_head, metavar="{same,2..8}",
                       help="quantize the tied output head (wte) too: 'same' as the matrices, or a bit-width "
                       "(8: per channel); default float")
    group.add_argument("--protect", action="append", default=[], metavar="PATTERN",
                       help="keep tensors matching PATTERN (fnmatch, e.g. 'h.0.*') at --protect-bits; repeatable")
    group.add_argument("--protect-bits", type=int, choices=range(2, 9), metavar="{2..8}", default=8,
                       help="bits for --protect tensors (default 8)")
    from .methods import METHODS

    group.add_argument("--method", choices=list(METHODS), default="rtn",
                       help="how the codes are chosen: round-to-nearest, GPTQ or AWQ (calibrated), HQQ (data-free), "
                       "SmoothQuant (calibrated, with --activations int8), LLM.int8() (8-bit, outlier features in float) "
                       "(default rtn)")
    group.add_argument("--method-option", type=_method_option, action="append", default=[], metavar="KEY=VALUE",
                       help="an option of --method, e.g. damp=0.1, act_order=true, static_groups=true, iters=40; repeatable")
    _add_calibration_args(group)
    if activations:
        group.add_argument("--activations", choices=ACTIVATIONS, default="float",
                           help="int8: round the activations to int8 before every quantized matrix and multiply "
                           "with the integer kernels, W4A8 / W8A8 (default float)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="miniquant", description="Learn and test neural-network quantization in NumPy.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    tour = sub.add_parser(
        "tour",
        help="the main job: quantize the shipped model many ways, measure memory, quality and speed",
        description="Quantize the shipped model (or --model) with a compact sweep of recipes (bits x scheme x "
        "granularity), measure memory (ledger), quality (bits per byte, KL divergence, top-1 agreement, held-out "
        "arithmetic) and decode speed, print the table and save records (CSV, JSON) and plots to --out.",
    )
    tour.add_argument("--model", help="checkpoint (.npz); default: the shipped model")
    tour.add_argument("--out", default="tour-output", help="folder for the records and plots (default tour-output)")
    tour.add_argument("--quick", action="store_true", help="fewer recipes and less data (seconds)")
    tour.add_argument("--methods", action="store_true",
                      help="the careful methods (GPTQ, GPTQ with act-order, AWQ, HQQ) beside round-to-nearest at 4 and 3 bits, "
                      "per-channel and g32, and W8A8 with and without SmoothQuant and LLM.int8(), with the share of RTN's KL "
                      "divergence each recovers")
    _add_calibration_args(tour)
    tour.add_argument("--full", action="store_true",
                      help="the whole grid: bits 8..2 x sym/asym x tensor/channel/g32/g128 x minmax/mse clipping "
                      "(96 recipes, several minutes)")
    tour.set_defaults(func=cmd_tour)

    quant = sub.add_parser(
        "quantize",
        help="quantize a model with a recipe and save it (packed codes + scales, as held in memory)",
        description="Quantize every weight matrix of the shipped model (or --model) round-to-nearest with the "
        "given recipe, keep embeddings, LayerNorms and biases in float, and save an .npz checkpoint that holds "
        "the packed codes and scales. Example: miniquant quantize --bits 4 --group-size 32 --out model-int4.npz",
    )
    quant.add_argument("--model", help="float checkpoint (.npz); default: the shipped model")
    quant.add_argument("--out", required=True, help="where to write the quantized checkpoint (.npz)")
    quant.add_argument("--ledger", action="store_true", help="print the memory ledger, tensor by tensor")
    _add_recipe_args(quant, required=True, activations=True)
    quant.set_defaults(func=cmd_quantize)

    ev = sub.add_parser(
        "eval",
        help="evaluate a model, or a quantized model against its float original",
        description="Bits per byte on the validation docstrings (with unigram and bigram baselines) and on "
        "training text, and exact-match accuracy on held-out arithmetic (greedy decoding). With --bits, or "
        "a quantized --model, the quantized model is measured beside the float one, with the KL divergence "
        "and top-1 agreement of their next-byte distributions and the memory each holds.",
    )
    ev.add_argument("--model", help="checkpoint (.npz), float or quantized; default: the shipped model")
    ev.add_argument("--max-bytes", type=_int_at_least(1), default=None, help="evaluate on at most this many bytes")
    ev.add_argument("--arith-problems", type=_int_at_least(1), default=None, help="at most this many held-out problems")
    ev.add_argument("--kl-windows", type=_int_at_least(1), default=256, help="windows of validation text for the KL divergence (default 256)")
    ev.add_argument("--seed", type=_int_at_least(0), default=0)
    _add_recipe_args(ev, what="quantize the model now and compare", activations=True)
    ev.set_defaults(func=cmd_eval)

    gen = sub.add_parser(
        "generate",
        help="continue a prompt with a model; with a recipe, float and quantized side by side",
        description="Continue a prompt with the model. With --bits (or a quantized --model) the float and the "
        "quantized model continue the same prompt with the same seed, one after the other, and the number of "
        "characters on which they agree is printed.",
    )
    gen.add_argument("--model", help="checkpoint (.npz), float or quantized; default: the shipped model")
    gen.add_argument("--prompt", default="Return the ", help="text to continue (default 'Return the ')")
    gen.add_argument("--tokens", type=_int_at_least(1), default=100, help="bytes to generate, up to the context length (default 100)")
    gen.add_argument("--temperature", type=_finite_float(0.0), default=0.8, help="0 for greedy (default 0.8)")
    gen.add_argument("--top-k", type=_int_at_least(1), default=None, help="sample among the k most likely bytes")
    gen.add_argument("--seed", type=_int_at_least(0), default=0)
    _add_recipe_args(gen, what="also generate with the quantized model", activations=True)
    gen.set_defaults(func=cmd_generate)

    sens = sub.add_parser(
        "sensitivity",
        help="which matrices hurt most when quantized, and what protecting them buys at a memory budget",
        description="Quantize one weight matrix at a time with the recipe (the rest stays float) and rank the "
        "matrices by the KL divergence they cause; then compare recipes that keep the most sensitive ones at "
        "--protect-bits with uniform recipes, by bits per weight and quality. Example: miniquant sensitivity --bits 3",
    )
    sens.add_argument("--model", help="float checkpoint (.npz); default: the shipped model")
    sens.add_argument("--windows", type=_int_at_least(1), default=8, help="held-out windows to measure on (default 8)")
    sens.add_argument("--problems", type=_int_at_least(1), default=100, help="held-out arithmetic problems (default 100)")
    sens.add_argument("--counts", type=_counts, default=[0, 1, 2, 4],
                      help="how many of the most sensitive matrices to protect, comma-separated (default 0,1,2,4)")
    _add_recipe_args(sens, required=True)
    sens.set_defaults(func=cmd_sensitivity)

    bench = sub.add_parser(
        "bench",
        help="time the quantized matmul kernels against NumPy float32, side by side",
        description="Time every kernel format against NumPy float32 x @ w in one run (the shapes of a 7B-class "
        "layer, then the shipped model's own matrices at M = 1) and print time, effective "
        "GB/s of weight traffic, the fraction of the measured memory bandwidth, and the speed ratio; then the "
        "fused / tile+BLAS crossover, the cost of alternating NumPy and Numba calls, and the Numba compile time.",
    )
    bench.add_argument("--quick", action="store_true", help="small shapes and few repetitions (seconds)")
    bench.add_argument("--shapes", type=_shapes, help="comma-separated M x K x N, e.g. 1x4096x4096,512x4096x4096")
    bench.add_argument("--rounds", type=_int_at_least(1), default=3, help="rounds per ratio; the median is reported (default 3)")
    bench.add_argument("--reps", type=_int_at_least(1), default=10, help="timed calls per round after warm-up (default 10)")
    bench.add_argument("--cold", action="store_true",
                       help="read 64 MB of other data before every timed call, as a model's other layers would: "
                       "weights come from memory, not from the cache a repeated call leaves them in")
    bench.add_argument("--no-compile", action="store_true", help="skip the cold/warm compile-time measurement")
    bench.add_argument("--import-order", action="store_true",
                       help="time every decode kernel in fresh processes with NumPy imported first and with "
                       "miniquant first, and print both ratios (the first --shapes entry, default 1x4096x4096)")
    bench.add_argument("--model", nargs="?", const="small,medium,large", type=_gpt2_shapes, metavar="SHAPES",
                       help="decode end to end instead: GPT-2-shaped models with random weights (comma-separated "
                       "small, medium, large; default all three), float32 against int8, int4 g128 and W4A8 with "
                       "and without a quantized head, tokens/s through generate, bytes per token and GB/s")
    bench.add_argument("--tokens", type=_int_at_least(2), default=16, help="tokens generated per timed run with --model (default 16)")
    bench.add_argument("--json", help="also save the records to this JSON file")
    bench.set_defaults(func=cmd_bench)

    table = sub.add_parser(
        "table",
        help="quantize a sample weight at every bit-width, scheme and granularity; print errors and memory",
        description="Quantize a weight-like sample matrix at every bit-width, scheme and granularity "
        "and print the error (SQNR, RMSE, max error, cosine) and memory (bytes, bits per weight) table.",
    )
    table.add_argument("--shape", type=_shape, default=(1024, 256), help="K x N of the sample weight (default 1024x256)")
    table.add_argument("--bits", type=_bits, default=[8, 6, 5, 4, 3, 2], help="bit-widths, comma-separated (default 8,6,5,4,3,2)")
    table.add_argument("--group-size", type=_int_at_least(1), default=32, help="group size along K for per-group rows (default 32)")
    table.add_argument("--clip", choices=CLIPS, default="minmax", help="range selection (default minmax)")
    table.add_argument("--scale-dtype", choices=["float16", "float32", "bfloat16", "e8m0"], default="float16",
                       help="scale storage (default float16)")
    table.add_argument("--seed", type=_int_at_least(0), default=0, help="seed of the sample weight (default 0)")
    table.set_defaults(func=cmd_table)

    from .nn.gguf_mixes import ALIASES, FILE_TYPES

    exp = sub.add_parser(
        "export-gguf",
        help="write the shipped model (or --model) as a GGUF file llama.cpp runs, in one of llama.cpp's types",
        description="Write a float model as a GGUF v3 file (architecture gpt2, the byte vocabulary) of llama-quantize's "
        "file type --type (F32, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_S/M/L, Q4_K_S/M, Q5_K_S/M, Q6_K): each "
        "tensor in the type llama-quantize would give it, with its fallbacks for rows that do not fit 256; vectors "
        "and position embeddings in F32. The bytes are miniquant's own, equal to llama.cpp's; eval, generate and the "
        "tour read the file back with --model.",
    )
    exp.add_argument("--type", required=True, choices=sorted(FILE_TYPES) + sorted(ALIASES), help="llama-quantize file type")
    exp.add_argument("--pure", action="store_true", help="every matrix in the plain type (no extra bits for some layers)")
    exp.add_argument("--out", required=True, help="the .gguf file to write")
    exp.add_argument("--model", help="float checkpoint (.npz or .gguf); default: the shipped model")
    exp.set_defaults(func=cmd_export_gguf)

    tr = sub.add_parser(
        "train",
        help="train a small byte-level GPT on stdlib docstrings + arithmetic (NumPy, CPU)",
        description="Train a GPT-2-style byte-level model with the project's NumPy training code on the "
        "standard library's docstrings mixed with arithmetic lines; saves an .npz checkpoint at every log step.",
    )
    tr.add_argument("--out", required=True, help="checkpoint path (.npz), rewritten at every log step")
    tr.add_argument("--steps", type=_int_at_least(1), default=2000)
    tr.add_argument("--batch-size", type=_int_at_least(1), default=16)
    tr.add_argument("--lr", type=_finite_float(0.0, strict_low=True), default=3e-3)
    tr.add_argument("--arith-fraction", type=_finite_float(0.0, 1.0), default=0.3, help="share of training windows taken from arithmetic")
    tr.add_argument("--n-ctx", type=_int_at_least(1), default=128)
    tr.add_argument("--n-embd", type=_int_at_least(1), default=128)
    tr.add_argument("--n-head", type=_int_at_least(1), default=4)
    tr.add_argument("--n-layer", type=_int_at_least(1), default=4)
    tr.add_argument("--seed", type=_int_at_least(0), default=0)
    tr.add_argument("--log-every", type=_int_at_least(1), default=100)
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError, RuntimeError) as exc:
        parser.exit(2, f"miniquant {args.command}: error: {exc}\n")
    except KeyboardInterrupt:
        parser.exit(130, f"miniquant {args.command}: interrupted (files already written are complete)\n")


if __name__ == "__main__":
    sys.exit(main())
