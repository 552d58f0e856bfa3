"""LLM.int8()'s decomposition as a matmul: the outlier features in float, the rest through W8A8.

``y = x[:, O] @ w[O, :] + w8a8(x[:, R], int8)`` for a ``MixedInt8Tensor`` (``miniquant.mixed``).
The float part is one BLAS call on the few outlier columns; the int8 part is ``w8a8_matmul``
(activations rounded to int8 per token over the remaining features only, so an outlier no longer
sets every token's scale). ``mixed_int8_matmul_reference`` runs the int8 part through
``w8a8_matmul_reference``; they are equal within the W8A8 kernels' own agreement.
Tests: ``tests/test_mixed.py``.
"""
from __future__ import annotations

import numpy as np

from ..mixed import MixedInt8Tensor
from .operands import check_activations
from .w8a8 import w8a8_matmul, w8a8_matmul_reference


def _mixed(x, w: MixedInt8Tensor, int8_matmul) -> np.ndarray:
    if not isinstance(w, MixedInt8Tensor):
        raise TypeError(f"w must be a MixedInt8Tensor, got {type(w).__name__}")
    K, N = w.shape
    x2, lead = check_activations(x, K)                                   # [M, K] float32
    y = x2[:, w.outlier_index] @ w.outlier_rows                          # [M, n_out] @ [n_out, N]: float
    if w.int8 is not None:
        y = y + int8_matmul(np.ascontiguousarray(x2[:, w.rest_index]), w.int8)   # [M, K - n_out] -> [M, N]: int8
    return y.astype(np.float32, copy=False).reshape(*lead, N)


def mixed_int8_matmul_reference(x, w: MixedInt8Tensor) -> np.ndarray:
    """NumPy specification: float outlier part plus ``w8a8_matmul_reference`` on the rest."""
    return _mixed(x, w, w8a8_matmul_reference)


def mixed_int8_matmul(x, w: MixedInt8Tensor, *, backend: str = "auto") -> np.ndarray:
    """``y ~ x @ w`` for a ``MixedInt8Tensor`` (module docstring); ``backend`` as for ``w8a8_matmul``."""
    return _mixed(x, w, lambda a, q: w8a8_matmul(a, q, backend=backend))
