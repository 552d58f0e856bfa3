"""Quantized matmul kernels: a NumPy reference beside every Numba fast path.

* ``qmatmul(x, qt)`` -- float activations times a quantized weight (any bit-width), fused
  kernels for decode, dequantize-tile + BLAS for prefill;
* ``w8a8_matmul(x, qt)`` -- int8 x int8 with int32 accumulation;
* ``w4a8_matmul(x, qt)`` -- 4-bit weights x int8 activations, int32 sums per group (AVX-512
  VNNI where the CPU has it, ``HAS_VNNI``).

See ``_jit.py`` for the Numba options and ``benchmarks/`` for the measurements.
"""
from ._jit import HAS_VNNI, NUMBA_AVAILABLE
from .matmul import PREFILL_M, qmatmul, qmatmul_numba, qmatmul_reference, qmatmul_tolerance
from .operands import WeightOperands, weight_operands
from .tiled import dequantize_columns
from .w4a8 import MAX_GROUP, quantize_activations, w4a8_error_bound, w4a8_matmul, w4a8_matmul_numba, w4a8_matmul_reference
from .w8a8 import MAX_K, quantize_per_token, w8a8_matmul, w8a8_matmul_numba, w8a8_matmul_reference

__all__ = [
    "HAS_VNNI", "MAX_GROUP", "MAX_K", "NUMBA_AVAILABLE", "PREFILL_M", "WeightOperands", "dequantize_columns",
    "qmatmul", "qmatmul_numba", "qmatmul_reference", "qmatmul_tolerance", "quantize_activations", "quantize_per_token",
    "w4a8_error_bound", "w4a8_matmul", "w4a8_matmul_numba", "w4a8_matmul_reference", "w8a8_matmul",
    "w8a8_matmul_numba", "w8a8_matmul_reference", "weight_operands",
]
