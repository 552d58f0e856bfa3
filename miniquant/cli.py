"""The ``miniquant`` command: a thin argparse layer over library calls.

``miniquant tour`` (the main job) quantizes the shipped model with every recipe of a compact
sweep and measures memory, quality on two tasks, and speed; ``miniquant table`` does the same
for a single weight-like matrix (error metrics only); ``quantize`` saves a quantized model,
``eval`` and ``generate`` put a quantized model beside its float original, ``sensitivity``
ranks the matrices, ``bench`` times the kernels and ``train`` trains a model.
"""
from __future__ import annotations

import argparse
import fnmatch
import os
import sys

import numpy as np

from .eval.errors import error_table, format_table
from .eval.samples import sample_weight

COLUMNS = ["bits", "scheme", "granularity", "group_size", "bits_per_weight", "nbytes", "sqnr_db", "rmse", "max_abs_error", "cosine_similarity"]


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


def cmd_table(args) -> int:
    w = sample_weight(args.shape, seed=args.seed)
    k, n = w.shape
    print(f"Quantizing a sample weight w of shape {k}x{n} (K x N, Student-t entries, per-column spread,")
    print(f"outliers; seed {args.seed}): float32 takes {w.nbytes:,} bytes = 32 bits per weight.")
    print(f"Scales stored as {args.scale_dtype}; range chosen by clip={args.clip!r}; groups of {args.group_size} along K.\n")
    rows = error_table(
        w, bits=args.bits, group_size=args.group_size, clip=args.clip, scale_dtype=np.dtype(args.scale_dtype),
    )
    print(format_table(rows, COLUMNS, formats={"cosine_similarity": ".6f"}))
    print(
        "\nRead it as: SQNR (dB, higher is better) gains about 6 dB per bit; per-channel and per-group "
        "scales\nbuy back what one outlier costs per-tensor, for the bits_per_weight their scales add."
    )
    return 0


def _shapes(text: str) -> list[tuple[int, int, int]]:
    try:
        shapes = [tuple(int(v) for v in item.lower().split("x")) for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"shapes must look like 1x4096x4096,32x4096x11008, got {text!r}") from None
    if any(len(s) != 3 or min(s) <= 0 for s in shapes):
        raise argparse.ArgumentTypeError(f"each shape must be M x K x N with positive sizes, got {text!r}")
    return shapes


def cmd_bench(args) -> int:
    import dataclasses
    import json

    from .eval import speed
    from .kernels import PREFILL_M

    if args.shapes:
        shapes = args.shapes
    elif args.quick:
        shapes = [(1, 1024, 1024), (64, 1024, 1024)]
    else:  # the shapes, then the shipped model's own matrices at decode (M = 1)
        from .nn import load_default

        shapes = list(speed.DEFAULT_SHAPES) + speed.model_shapes(load_default().config)
    rounds, reps = (2, 3) if args.quick else (args.rounds, args.reps)
    bandwidth = speed.streaming_bandwidth(64 * 2**20 if args.quick else 512 * 2**20)
    records = []
    if args.cold:
        print(f"cold caches: {speed.EVICT_BYTES // 2**20} MB of other data are read before every timed call")
    for shape in shapes:
        records += speed.bench_shape(shape, bandwidth=bandwidth, rounds=rounds, reps=reps, cold=args.cold)
        print(f"... {shape[0]}x{shape[1]}x{shape[2]} done", file=sys.stderr, flush=True)
    print(speed.format_records(records, bandwidth))
    k = 1024 if args.quick else 4096
    cross = speed.crossover(k, k, ms=(1, 4, 16, 64) if args.quick else (1, 2, 4, 8, 16, 32, 64), reps=reps)
    print(f"\nfused kernel vs tile+BLAS, 4-bit g32, K = N = {k} (the library switches at M = {PREFILL_M}):")
    for row in cross:
        print(f"  M = {row['M']:>3}: fused {row['fused_ms']:8.3f} ms   tile+BLAS {row['tiled_ms']:8.3f} ms   -> {row['faster']}")
    inter = speed.interleaved_cost(k, k)
    print(
        f"\nalternating NumPy and Numba calls (4-bit GEMV {k}x{k}): kernel alone {inter['kernel_ms']:.3f} ms, "
        f"NumPy alone {inter['numpy_ms']:.3f} ms, alternated {inter['alternated_ms']:.3f} ms per pair "
        f"({inter['penalty']:.2f}x the sum)"
    )
    compile_ = None if args.no_compile else speed.compile_times()
    if compile_:
        print(f"\nNumba compile time of the kernels in a fresh process: cold cache {compile_['cold_s']:.1f} s, warm cache {compile_['warm_s']:.2f} s")
    if args.json:
        data = {"bandwidth_gbps": bandwidth, "records": [dataclasses.asdict(r) for r in records], "crossover": cross,
                "interleaved": inter, "compile": compile_}
        with open(args.json, "w") as fh:
            json.dump(data, fh, indent=1)
        print(f"\nrecords saved to {args.json}")
    return 0


def cmd_tour(args) -> int:
    import os
    import time

    from .eval.plots import plot_knee, plot_memory
    from .eval.tour import default_recipes, full_recipes, run_tour, save_records
    from .nn.data import build_corpus

    t0 = time.perf_counter()
    model = _load(args.model)
    corpus = build_corpus()
    if args.full:
        recipes = full_recipes()
    else:
        recipes = default_recipes(bits=(8, 4, 2) if args.quick else (8, 6, 5, 4, 3, 2))
    skipped = [r.label() for r in recipes if not r.fits(model.params)]
    recipes = [r for r in recipes if r.fits(model.params)]
    if skipped:
        print(f"(skipped, group size does not divide every matrix: {', '.join(skipped)})")
    print(f"The tour: {len(recipes)} recipes on the model {model.config} ({model.n_params:,} weights).")
    windows, problems = (8, 50) if args.quick else (16, 200)
    print(f"Quality: the first {windows * model.config.n_ctx:,} bytes of the held-out docstrings (bits per byte; KL divergence")
    print(f"and top-1 agreement with the float model at every position) and {problems} held-out arithmetic problems")
    print("(exact match, greedy); speed: greedy decoding with the KV cache, quantized weights through the kernels.\n")
    records = run_tour(model, corpus, recipes, max_windows=windows, n_problems=problems, speed_tokens=32 if args.quick else 48)
    columns = ["recipe", "bits_per_weight", "model_bytes", "weight_sqnr_db", "bits_per_byte", "kl_mean", "kl_p99",
               "top1_agreement", "arith_accuracy", "decode_tokens_per_s"]
    print(format_table(records, columns, formats={"kl_mean": ".2e", "kl_p99": ".2e", "top1_agreement": ".3f", "weight_sqnr_db": ".2f",
                                                   "arith_accuracy": ".3f", "bits_per_byte": ".3f", "bits_per_weight": ".3f",
                                                   "decode_tokens_per_s": ".0f"}))
    print(_speed_note(records))
    os.makedirs(args.out, exist_ok=True)
    paths = list(save_records(records, os.path.join(args.out, "tour")))
    try:
        paths.append(plot_knee(records, os.path.join(args.out, "knee.png")))
        paths.append(plot_memory(records, os.path.join(args.out, "memory.png")))
    except ImportError:
        print('\n(no plots: matplotlib is not installed; pip install "miniquant[plots]")')
    print("\nsaved:\n  " + "\n  ".join(paths))
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


def _speed_note(records: list[dict]) -> str:
    """What the decode-speed column says, in words, from the measured numbers."""
    float_speed = records[0]["decode_tokens_per_s"]
    ratios = [r["decode_tokens_per_s"] / float_speed for r in records[1:]]
    if not ratios:
        return ""
    if max(ratios) < 1:
        verdict = "slower than"
    elif min(ratios) < 1:
        verdict = "sometimes faster than"
    else:
        verdict = "faster than"
    return (f"\nDecode speed: the quantized models ran at {min(ratios):.2f}x to {max(ratios):.2f}x the float model's "
            f"{float_speed:.0f} tokens/s, i.e. {verdict} float.\nThe float weights of this small model fit in the CPU "
            "caches, so reading fewer bytes saves little and unpacking costs time;\nlow-bit pays off when weights "
            "stream from memory (see `miniquant bench` for large matrices).")


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
        save_checkpoint(args.out, config, params, meta)

    train(config, tc, corpus, progress=not args.quiet, on_log=on_log)
    print(f"saved {args.out} after {time.perf_counter() - start:.0f} s")
    return 0


def _load(path):
    from .nn import load_default, load_model

    return load_default() if path is None else load_model(path)


def _add_recipe_args(parser, *, required: bool = False, what: str = "", activations: bool = False) -> None:
    """The options that describe a round-to-nearest recipe (``methods.make_recipe``); ``--activations`` where a model runs."""
    group = parser.add_argument_group("quantization recipe" + (f" ({what})" if what else ""))
    group.add_argument("--bits", type=int, choices=range(2, 9), metavar="{2..8}", required=required,
                       help="code width of the weight matrices" + ("" if required else "; omit to use the model as it is"))
    group.add_argument("--scheme", choices=["symmetric", "asymmetric"], default="symmetric", help="(default symmetric)")
    group.add_argument("--granularity", choices=["tensor", "channel", "group"],
                       help="scale sharing (default: group if --group-size is given, else channel)")
    group.add_argument("--group-size", type=int, help="group length along K, e.g. 32 or 128")
    group.add_argument("--clip", choices=["minmax", "percentile", "mse"], default="minmax", help="range selection (default minmax)")
    group.add_argument("--scale-dtype", choices=["float16", "float32"], default="float16", help="(default float16)")
    group.add_argument("--protect", action="append", default=[], metavar="PATTERN",
                       help="keep tensors matching PATTERN (fnmatch, e.g. 'h.0.*') at --protect-bits; repeatable")
    group.add_argument("--protect-bits", type=int, choices=range(2, 9), metavar="{2..8}", default=8,
                       help="bits for --protect tensors (default 8)")
    if activations:
        group.add_argument("--activations", choices=["float", "int8"], default="float",
                           help="int8: round the activations to int8 before every quantized matrix and multiply "
                           "with the integer kernels, W4A8 / W8A8 (default float)")


def _recipe(args, params):
    """The recipe the options describe, or ``None`` without ``--bits``; checked against ``params``."""
    from .methods import make_recipe

    if args.bits is None:
        for flag in ("group_size", "granularity"):
            if getattr(args, flag) is not None:
                raise ValueError(f"--{flag.replace('_', '-')} needs --bits")
        return None
    recipe = make_recipe(args.bits, scheme=args.scheme, granularity=args.granularity, group_size=args.group_size,
                         clip=args.clip, scale_dtype=args.scale_dtype, protect=args.protect, protect_bits=args.protect_bits,
                         activations=getattr(args, "activations", "float"))
    matrices = [k for k, v in params.items() if np.ndim(v) == 2]
    for pattern in args.protect:
        if not any(fnmatch.fnmatchcase(k, pattern) for k in matrices):
            example = next(k for k in matrices if recipe.spec_for(k, params[k]) is not None)
            raise ValueError(f"--protect {pattern!r} matches no weight matrix (they are named like {example!r})")
    if not recipe.fits(params):
        sizes = sorted({np.shape(v)[0] for k, v in params.items() if recipe.spec_for(k, v) is not None})
        raise ValueError(f"--group-size {args.group_size} must divide the K of every quantized matrix (K in {sizes})")
    return recipe


def _models(args) -> list[tuple[str, object]]:
    """``[("float32", float_model)]``, plus ``(label, quantized_model)`` when there is one to compare.

    With ``--bits`` the (float) model is quantized now; a quantized checkpoint is compared with
    the float model it was made from (recorded in its header).
    """
    from .methods import is_quantized, quantize_model
    from .nn import GPT, load_default
    from .nn.io import load_checkpoint

    if args.model is None:
        model, meta = load_default(), {}
    else:
        config, params, meta = load_checkpoint(args.model)   # read once: weights and header
        model = GPT(config, params)
    recipe = _recipe(args, model.params)
    if recipe is not None:
        if is_quantized(model.params):
            raise ValueError(f"--model {args.model} is already quantized; give a float model with --bits")
        quantized = GPT(model.config, quantize_model(model.params, recipe), activations=recipe.activations)
        return [("float32", model), (recipe.label(), quantized)]
    activations = getattr(args, "activations", "float")
    if not is_quantized(model.params):
        if activations != "float":
            raise ValueError("--activations int8 needs a quantized model: give --bits, or a quantized --model")
        return [("float32", model)]
    if activations != "float":
        model = GPT(model.config, model.params, activations=activations)
    source = meta.get("source")
    try:
        float_model = _load(None if source in (None, "shipped") else source)
    except FileNotFoundError:
        raise ValueError(f"--model {args.model} was quantized from {source}, which is not there any more; "
                         "quantize the float model again (miniquant quantize --model FLOAT ...)") from None
    if float_model.config != model.config:
        raise ValueError(f"the float model {source!r} recorded in {args.model} does not match its config")
    label = meta.get("recipe", "quantized") + (" +int8 act" if activations == "int8" else "")
    return [("float32", float_model), (label, model)]


def cmd_quantize(args) -> int:
    from .eval.errors import model_weight_errors, pooled_sqnr_from_errors
    from .eval.memory import memory_ledger
    from .methods import is_quantized, quantize_model
    from .nn.io import save_checkpoint

    model = _load(args.model)
    if is_quantized(model.params):
        raise ValueError(f"--model {args.model} is already quantized")
    recipe = _recipe(args, model.params)
    qparams = quantize_model(model.params, recipe)
    ledger = memory_ledger(qparams)
    if args.ledger:
        print(ledger, end="\n\n")
    errors = model_weight_errors(model.params, qparams)
    print(format_table(errors, ["tensor", "storage", "bits_per_weight", "sqnr_db", "rmse", "max_abs_error"],
                       formats={"bits_per_weight": ".3f", "sqnr_db": ".2f", "rmse": ".3e", "max_abs_error": ".3e"}))
    print(f"all quantized matrices together: SQNR {pooled_sqnr_from_errors(errors):.2f} dB\n")
    meta = {"recipe": recipe.label(), "source": args.model or "shipped",
            "command": "miniquant quantize " + " ".join(sys.argv[2:])}
    save_checkpoint(args.out, model.config, qparams, meta)
    float_bytes = memory_ledger(model.params).total_bytes
    print(f"{recipe.label()}: {ledger.total_bytes:,} bytes held ({ledger.bits_per_weight:.3f} bits per weight, "
          f"embeddings, LayerNorms and biases in float) vs {float_bytes:,} in float32 ({float_bytes / ledger.total_bytes:.2f}x smaller)")
    print(f"saved {args.out} ({os.path.getsize(args.out):,} bytes on disk)")
    print(f"next: miniquant eval --model {args.out}   or   miniquant generate --model {args.out}")
    return 0


def cmd_eval(args) -> int:
    import time

    from .eval.memory import memory_ledger
    from .eval.quality import compare_to_float, held_out_windows, logprobs
    from .nn.data import build_corpus
    from .nn.evaluate import arithmetic_results, bits_per_byte, ngram_bits_per_byte

    t0 = time.perf_counter()
    models = _models(args)
    float_model = models[0][1]
    quantized = models[1][1] if len(models) > 1 else None
    print(f"model: {float_model.config} ({float_model.n_params:,} weights), ready in {time.perf_counter() - t0:.2f} s")
    corpus = build_corpus(seed=args.seed)
    print(corpus.describe())
    val = corpus.docs_val[: args.max_bytes]
    train_sample = corpus.docs_train[: len(val)]
    held_out = corpus.arith_val[: args.arith_problems]
    additions = [p for p in held_out if "+" in p and all(len(x) == 2 for x in p.split("=")[0].split("+"))]
    print(f"\nbaselines on the validation docstrings ({len(val):,} bytes), bits per byte: "
          f"unigram {ngram_bits_per_byte(corpus.docs_train, val, 1):.3f}, bigram {ngram_bits_per_byte(corpus.docs_train, val, 2):.3f}")
    rows = []
    for name, model in models:
        right = dict(zip(held_out, arithmetic_results(model, held_out)))  # decode each problem once
        ledger = memory_ledger(model.params)
        rows.append({"model": name, "bytes": ledger.total_bytes, "bits_per_weight": ledger.bits_per_weight,
                     "val_bits_per_byte": bits_per_byte(model, val), "train_bits_per_byte": bits_per_byte(model, train_sample),
                     "arith_exact": sum(right.values()) / len(right),
                     "add_2digit": sum(right[p] for p in additions) / max(len(additions), 1)})
    columns = ["model", "bytes", "bits_per_weight", "val_bits_per_byte", "train_bits_per_byte", "arith_exact", "add_2digit"]
    if quantized is not None:
        ids, targets = held_out_windows(val, float_model.config.n_ctx, args.kl_windows)
        rows[0].update(kl_mean=0.0, kl_p99=0.0, top1_agreement=1.0)
        rows[1].update({k: v for k, v in compare_to_float(logprobs(float_model, ids), quantized, ids, targets).items()
                        if k != "bits_per_byte"})
        columns += ["kl_mean", "kl_p99", "top1_agreement"]
    print(f"\nheld-out arithmetic: {len(held_out)} problems ({len(additions)} two-digit additions), greedy exact match; "
          f"training-text bits per byte on the first {len(train_sample):,} bytes")
    if quantized is not None:
        print(f"KL divergence (nats) and top-1 agreement with the float model at the {ids.size:,} positions of the "
              f"first {len(ids)} validation windows")
    print()
    print(format_table(rows, columns, formats={"bits_per_weight": ".3f", "val_bits_per_byte": ".3f", "train_bits_per_byte": ".3f",
                                               "arith_exact": ".1%", "add_2digit": ".1%", "kl_mean": ".2e", "kl_p99": ".2e",
                                               "top1_agreement": ".3f"}))
    return 0


def cmd_generate(args) -> int:
    from .nn import ByteTokenizer, generate

    models = _models(args)
    n_ctx = models[0][1].config.n_ctx
    tok = ByteTokenizer()
    prompt = tok.encode(args.prompt)
    n = min(args.tokens, n_ctx - len(prompt))
    if n <= 0:
        raise ValueError(f"--prompt is {len(prompt)} bytes; the model's context is {n_ctx}")
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


def cmd_sensitivity(args) -> int:
    from .eval.quality import held_out_windows, logprobs
    from .eval.sensitivity import layer_sensitivity, mixed_precision
    from .eval.tour import run_tour
    from .methods import Recipe
    from .nn.data import build_corpus

    model = _load(args.model)
    recipe = _recipe(args, model.params)
    corpus = build_corpus()
    ids, targets = held_out_windows(corpus.docs_val, model.config.n_ctx, args.windows)
    print(f"Per-layer sensitivity of {recipe.label()}: each matrix quantized alone, the rest in float; KL divergence "
          f"from the float model over {ids.size:,} held-out positions (nats), most harmful first.\n")
    ranking = layer_sensitivity(model, recipe, logprobs(model, ids), ids, targets)
    print(format_table(ranking, ["tensor", "kl_mean", "kl_p99", "bits_per_byte"],
                       formats={"kl_mean": ".2e", "kl_p99": ".2e", "bits_per_byte": ".3f"}))
    protected = recipe.spec.replace(bits=args.protect_bits)
    counts = [n for n in args.counts if n <= len(ranking)]
    candidates = [mixed_precision(recipe, ranking, n, protected) for n in counts]
    candidates.append(Recipe(protected))
    if args.bits + 1 < args.protect_bits:
        candidates.append(Recipe(recipe.spec.replace(bits=args.bits + 1)))
    print(f"\nWhat protecting the most sensitive matrices at {args.protect_bits} bits buys, against spending the memory uniformly:")
    records = run_tour(model, corpus, candidates, max_windows=args.windows, n_problems=args.problems, speed_tokens=8)
    print(format_table(records, ["recipe", "bits_per_weight", "matrix_bits_per_weight", "model_bytes", "bits_per_byte",
                                 "kl_mean", "kl_p99", "arith_accuracy"],
                       formats={"bits_per_weight": ".3f", "matrix_bits_per_weight": ".3f", "bits_per_byte": ".3f",
                                "kl_mean": ".2e", "kl_p99": ".2e", "arith_accuracy": ".3f"}))
    return 0


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
    _add_recipe_args(quant, required=True)
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
    ev.add_argument("--max-bytes", type=int, default=None, help="evaluate on at most this many bytes")
    ev.add_argument("--arith-problems", type=int, default=None, help="at most this many held-out problems")
    ev.add_argument("--kl-windows", type=int, default=256, help="windows of validation text for the KL divergence (default 256)")
    ev.add_argument("--seed", type=int, default=0)
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
    gen.add_argument("--tokens", type=int, default=100, help="bytes to generate, up to the context length (default 100)")
    gen.add_argument("--temperature", type=float, default=0.8, help="0 for greedy (default 0.8)")
    gen.add_argument("--top-k", type=int, default=None)
    gen.add_argument("--seed", type=int, default=0)
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
    sens.add_argument("--windows", type=int, default=8, help="held-out windows to measure on (default 8)")
    sens.add_argument("--problems", type=int, default=100, help="held-out arithmetic problems (default 100)")
    sens.add_argument("--counts", type=lambda t: [int(v) for v in t.split(",")], default=[0, 1, 2, 4],
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
    bench.add_argument("--rounds", type=int, default=3, help="rounds per ratio; the median is reported (default 3)")
    bench.add_argument("--reps", type=int, default=10, help="timed calls per round after warm-up (default 10)")
    bench.add_argument("--cold", action="store_true",
                       help="read 64 MB of other data before every timed call, as a model's other layers would: "
                       "weights come from memory, not from the cache a repeated call leaves them in")
    bench.add_argument("--no-compile", action="store_true", help="skip the cold/warm compile-time measurement")
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
    table.add_argument("--group-size", type=int, default=32, help="group size along K for per-group rows (default 32)")
    table.add_argument("--clip", choices=["minmax", "percentile", "mse"], default="minmax", help="range selection (default minmax)")
    table.add_argument("--scale-dtype", choices=["float16", "float32"], default="float16", help="scale storage (default float16)")
    table.add_argument("--seed", type=int, default=0, help="seed of the sample weight (default 0)")
    table.set_defaults(func=cmd_table)

    tr = sub.add_parser(
        "train",
        help="train a small byte-level GPT on stdlib docstrings + arithmetic (NumPy, CPU)",
        description="Train a GPT-2-style byte-level model with the project's NumPy training code on the "
        "standard library's docstrings mixed with arithmetic lines; saves an .npz checkpoint at every log step.",
    )
    tr.add_argument("--out", required=True, help="checkpoint path (.npz), rewritten at every log step")
    tr.add_argument("--steps", type=int, default=2000)
    tr.add_argument("--batch-size", type=int, default=16)
    tr.add_argument("--lr", type=float, default=3e-3)
    tr.add_argument("--arith-fraction", type=float, default=0.3, help="share of training windows taken from arithmetic")
    tr.add_argument("--n-ctx", type=int, default=128)
    tr.add_argument("--n-embd", type=int, default=128)
    tr.add_argument("--n-head", type=int, default=4)
    tr.add_argument("--n-layer", type=int, default=4)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--log-every", type=int, default=100)
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError) as exc:
        parser.exit(2, f"miniquant {args.command}: error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
