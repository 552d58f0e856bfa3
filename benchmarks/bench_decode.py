"""End-to-end decode at GPT-2's shapes: float32 against the quantized recipes, tokens/s side by side.

    python benchmarks/bench_decode.py                  # small, medium and large (about 15 minutes)
    python benchmarks/bench_decode.py medium           # one shape
    python benchmarks/bench_decode.py medium --tokens 32

Random weights (speed depends on the shapes, not on the values); every configuration runs through
``GPT`` and ``generate`` with the KV cache. Prints per configuration the bits per weight of its
matrices, the bytes one decode step reads, tokens/s, the ratio to float32 and the bandwidth reached
against the measured streaming read. Same as ``miniquant bench --model``.
"""
import sys

from miniquant.cli import main

if __name__ == "__main__":
    shapes = [a for a in sys.argv[1:] if not a.startswith("-") and not a.isdigit()]
    rest = [a for a in sys.argv[1:] if a not in shapes]
    sys.exit(main(["bench", "--model", ",".join(shapes) or "small,medium,large", *rest]))
