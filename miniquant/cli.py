"""The ``miniquant`` command: a thin argparse layer over library calls.

``miniquant tour`` quantizes a weight-like sample matrix at every bit-width, scheme and
granularity and prints the error and memory table. (When the project's own model lands,
the tour runs on it.)
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


def cmd_tour(args) -> int:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="miniquant", description="Learn and test neural-network quantization in NumPy.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    tour = sub.add_parser(
        "tour",
        help="quantize a sample weight at every bit-width, scheme and granularity; print errors and memory",
        description="Quantize a weight-like sample matrix at every bit-width, scheme and granularity "
        "and print the error (SQNR, RMSE, max error, cosine) and memory (bytes, bits per weight) table.",
    )
    tour.add_argument("--shape", type=_shape, default=(1024, 256), help="K x N of the sample weight (default 1024x256)")
    tour.add_argument("--bits", type=_bits, default=[8, 6, 5, 4, 3, 2], help="bit-widths, comma-separated (default 8,6,5,4,3,2)")
    tour.add_argument("--group-size", type=int, default=32, help="group size along K for per-group rows (default 32)")
    tour.add_argument("--clip", choices=["minmax", "percentile", "mse"], default="minmax", help="range selection (default minmax)")
    tour.add_argument("--scale-dtype", choices=["float16", "float32"], default="float16", help="scale storage (default float16)")
    tour.add_argument("--seed", type=int, default=0, help="seed of the sample weight (default 0)")
    tour.set_defaults(func=cmd_tour)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError) as exc:
        parser.exit(2, f"miniquant {args.command}: error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
