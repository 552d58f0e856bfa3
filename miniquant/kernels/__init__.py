"""Quantized matmul kernels: a NumPy reference beside every Numba fast path.

* ``qmatmul(x, qt)`` -- float activations times a quantized weight (any bit-width), fused
  kernels for decode, dequantize-tile + BLAS for prefill;
* ``w8a8_matmul(x, qt)`` -- int8 x int8 with int32 accumulation;
* ``mixed_int8_matmul(x, w)`` -- LLM.int8(): outlier features in float, the rest W8A8;
* ``w4a8_matmul(x, qt)`` -- 4-bit weights x int8 activations, int32 sums per group (AVX-512
  VNNI where the CPU has it, ``HAS_VNNI``);
* ``table_matmul(x, table_operands(qt))`` -- the element formats' decode kernels (NF4, FP4, FP8, MX;
  AVX-512 permutes and half conversions where the CPU has them, ``HAS_AVX512``), which ``qmatmul`` runs.

See ``_jit.py`` for the Numba options and ``benchmarks/`` for the measurements.
"""
from ._jit import HAS_AVX512, HAS_VNNI, NUMBA_AVAILABLE
from .mixed import mixed_int8_matmul, mixed_int8_matmul_reference
from .matmul import PREFILL_M, fused_matmul, fused_path, qmatmul, qmatmul_numba, qmatmul_reference, qmatmul_tolerance
from .operands import WeightOperands, check_activations, group_sums, weight_operands
from .tables import TABLE_KERNELS, table_kernel_for, table_matmul, table_operands
from .tiled import dequantize_columns, tiled_matmul
from .w4a8 import (
    MAX_GROUP, check_w4a8_weight, quantize_activations, w4a8_error_bound, w4a8_matmul, w4a8_matmul_numba,
    w4a8_matmul_reference,
)
from .w8a8 import MAX_K, check_w8a8_weight, quantize_per_token, w8a8_matmul, w8a8_matmul_numba, w8a8_matmul_reference

__all__ = [
    "HAS_AVX512", "HAS_VNNI", "MAX_GROUP", "TABLE_KERNELS", "MAX_K", "NUMBA_AVAILABLE", "PREFILL_M", "WeightOperands", "check_activations",
    "check_w4a8_weight", "check_w8a8_weight", "dequantize_columns", "fused_matmul", "fused_path", "group_sums",
    "mixed_int8_matmul", "mixed_int8_matmul_reference", "qmatmul", "qmatmul_numba", "qmatmul_reference",
    "qmatmul_tolerance", "quantize_activations", "quantize_per_token", "table_kernel_for", "table_matmul",
    "table_operands", "tiled_matmul", "w4a8_error_bound",
    "w4a8_matmul", "w4a8_matmul_numba", "w4a8_matmul_reference", "w8a8_matmul", "w8a8_matmul_numba",
    "w8a8_matmul_reference", "weight_operands",
]
