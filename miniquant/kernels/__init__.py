"""Quantized matmul kernels: a NumPy reference beside every Numba fast path.

* ``qmatmul(x, qt)`` -- float activations times a quantized weight (any bit-width), fused
  kernels for decode, dequantize-tile + BLAS for prefill;
* ``w8a8_matmul(x, qt)`` -- int8 x int8 with int32 accumulation.

See ``_jit.py`` for the Numba options and ``benchmarks/`` for the measurements.
"""
from ._jit import NUMBA_AVAILABLE
from .matmul import PREFILL_M, qmatmul, qmatmul_numba, qmatmul_reference, qmatmul_tolerance
from .operands import WeightOperands, weight_operands
from .tiled import dequantize_columns
from .w8a8 import MAX_K, quantize_per_token, w8a8_matmul, w8a8_matmul_numba, w8a8_matmul_reference

__all__ = [
    "MAX_K", "NUMBA_AVAILABLE", "PREFILL_M", "WeightOperands", "dequantize_columns", "qmatmul",
    "qmatmul_numba", "qmatmul_reference", "qmatmul_tolerance", "quantize_per_token",
    "w8a8_matmul", "w8a8_matmul_numba", "w8a8_matmul_reference", "weight_operands",
]
