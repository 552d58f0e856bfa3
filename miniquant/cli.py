"""The ``miniquant`` command: a thin argparse layer over library calls.

``miniquant tour`` (the main job) quantizes the shipped model with every recipe of a compact
sweep and measures memory, quality on two tasks, and speed; ``miniquant table`` does the same
for a single weight-like matrix (error metrics only).
"""
from __future__ import annotations

import argparse
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

    shapes = args.shapes or ([(1, 1024, 1024), (64, 1024, 1024)] if args.quick else list(speed.DEFAULT_SHAPES))
    rounds, reps = (2, 3) if args.quick else (args.rounds, args.reps)
    bandwidth = speed.streaming_bandwidth(64 * 2**20 if args.quick else 512 * 2**20)
    records = []
    for shape in shapes:
        records += speed.bench_shape(shape, bandwidth=bandwidth, rounds=rounds, reps=reps)
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
    from .eval.tour import default_recipes, run_tour, save_records
    from .nn.data import build_corpus

    t0 = time.perf_counter()
    model = _load(args.model)
    corpus = build_corpus()
    recipes = [r for r in default_recipes(bits=(8, 4, 2) if args.quick else (8, 6, 5, 4, 3, 2)) if r.fits(model.params)]
    print(f"The tour: {len(recipes)} recipes on the model {model.config} ({model.n_params:,} weights).")
    windows, problems = (8, 50) if args.quick else (16, 200)
    print(f"Quality: the first {windows * model.config.n_ctx:,} bytes of the held-out docstrings (bits per byte; KL divergence")
    print(f"and top-1 agreement with the float model at every position) and {problems} held-out arithmetic problems")
    print("(exact match, greedy); speed: greedy decoding with the KV cache, quantized weights through the kernels.\n")
    records = run_tour(model, corpus, recipes, max_windows=windows, n_problems=problems, speed_tokens=32 if args.quick else 48)
    columns = ["recipe", "bits_per_weight", "model_bytes", "bits_per_byte", "kl_mean", "kl_p99", "top1_agreement",
               "arith_accuracy", "decode_tokens_per_s"]
    print(format_table(records, columns, formats={"kl_mean": ".2e", "kl_p99": ".2e", "top1_agreement": ".3f",
                                                   "arith_accuracy": ".3f", "bits_per_byte": ".3f", "bits_per_weight": ".3f",
                                                   "decode_tokens_per_s": ".0f"}))
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


def cmd_eval(args) -> int:
    import time

    from .nn.data import build_corpus
    from .nn.evaluate import arithmetic_results, bits_per_byte, ngram_bits_per_byte

    t0 = time.perf_counter()
    model = _load(args.model)
    print(f"model: {model.config} ({model.n_params:,} weights), loaded in {time.perf_counter() - t0:.2f} s")
    corpus = build_corpus(seed=args.seed)
    print(corpus.describe())
    val = corpus.docs_val[: args.max_bytes]
    print(f"validation docstrings ({len(val):,} bytes), bits per byte (lower is better):")
    print(f"  unigram baseline {ngram_bits_per_byte(corpus.docs_train, val, 1):.3f}")
    print(f"  bigram baseline  {ngram_bits_per_byte(corpus.docs_train, val, 2):.3f}")
    print(f"  model            {bits_per_byte(model, val):.3f}")
    train_sample = corpus.docs_train[: args.max_bytes]
    print(f"  model on {len(train_sample):,} training bytes: {bits_per_byte(model, train_sample):.3f}")
    held_out = corpus.arith_val[: args.arith_problems]
    additions = [p for p in held_out if "+" in p and all(len(x) == 2 for x in p.split("=")[0].split("+"))]
    right = dict(zip(held_out, arithmetic_results(model, held_out)))  # decode each problem once
    print(f"held-out arithmetic, exact match: {sum(right.values()) / len(right):.1%} of {len(held_out)} problems; "
          f"2-digit additions: {sum(right[p] for p in additions) / len(additions):.1%} of {len(additions)}")
    return 0


def cmd_generate(args) -> int:
    from .nn import ByteTokenizer, generate

    model = _load(args.model)
    tok = ByteTokenizer()
    prompt = tok.encode(args.prompt)
    n = min(args.tokens, model.config.n_ctx - len(prompt))
    out = generate(model, prompt, n, temperature=args.temperature, top_k=args.top_k, seed=args.seed)
    print(tok.decode(out))
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
    tour.set_defaults(func=cmd_tour)

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

    bench = sub.add_parser(
        "bench",
        help="time the quantized matmul kernels against NumPy float32, side by side",
        description="Time every kernel format against NumPy float32 x @ w in one run and print time, effective "
        "GB/s of weight traffic, the fraction of the measured memory bandwidth, and the speed ratio; then the "
        "fused / tile+BLAS crossover, the cost of alternating NumPy and Numba calls, and the Numba compile time.",
    )
    bench.add_argument("--quick", action="store_true", help="small shapes and few repetitions (seconds)")
    bench.add_argument("--shapes", type=_shapes, help="comma-separated M x K x N, e.g. 1x4096x4096,512x4096x4096")
    bench.add_argument("--rounds", type=int, default=3, help="rounds per ratio; the median is reported (default 3)")
    bench.add_argument("--reps", type=int, default=10, help="timed calls per round after warm-up (default 10)")
    bench.add_argument("--no-compile", action="store_true", help="skip the cold/warm compile-time measurement")
    bench.add_argument("--json", help="also save the records to this JSON file")
    bench.set_defaults(func=cmd_bench)

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

    ev = sub.add_parser(
        "eval",
        help="evaluate a model: bits per byte on held-out docstrings (with baselines) and held-out arithmetic",
        description="Bits per byte on the validation docstrings against unigram and bigram baselines, and "
        "exact-match accuracy on held-out arithmetic problems (greedy decoding).",
    )
    ev.add_argument("--model", help="checkpoint (.npz); default: the shipped model")
    ev.add_argument("--max-bytes", type=int, default=None, help="evaluate on at most this many bytes")
    ev.add_argument("--arith-problems", type=int, default=None, help="at most this many held-out problems")
    ev.add_argument("--seed", type=int, default=0)
    ev.set_defaults(func=cmd_eval)

    gen = sub.add_parser("generate", help="continue a prompt with a model", description="Continue a prompt with a model.")
    gen.add_argument("--model", help="checkpoint (.npz); default: the shipped model")
    gen.add_argument("--prompt", default="Return the ", help="text to continue")
    gen.add_argument("--tokens", type=int, default=100, help="bytes to generate (up to the context length)")
    gen.add_argument("--temperature", type=float, default=0.8)
    gen.add_argument("--top-k", type=int, default=None)
    gen.add_argument("--seed", type=int, default=0)
    gen.set_defaults(func=cmd_generate)
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
