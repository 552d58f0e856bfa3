"""Quantized matmul kernels against NumPy float32, measured side by side in one run.

    python benchmarks/bench_kernels.py            # the issue's shapes, every format (a few minutes)
    python benchmarks/bench_kernels.py --quick    # small shapes, seconds

Prints the machine's streaming read bandwidth, then per shape and format: time, effective
GB/s of weight traffic, the fraction of the bandwidth that is, and the ratio against
``x @ w`` in float32 (median over rounds); then the fused/tile+BLAS crossover in M, the
cost of alternating NumPy and Numba calls, and the Numba compile time cold and warm.
Same as ``miniquant bench``.
"""
import sys

from miniquant.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
