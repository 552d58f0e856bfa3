"""The functions a GPT-2 forward pass is made of, each a few lines of NumPy.

Shapes: ``T`` tokens, ``E = n_embd`` features, ``H`` heads of size ``D = E // H``. Every
function takes and returns float32. ``linear`` is the one place where a weight may be a
``QTensor``: it then runs through ``miniquant.kernels.qmatmul``, so quantized models use
the fast kernels without any other change; with ``activations="int8"`` the activations are
rounded to int8 too and multiplied by integer kernels (``w4a8_matmul`` for 4-bit weights,
``w8a8_matmul`` for 8-bit ones). Tests: ``tests/nn/test_functional.py``.
"""
from __future__ import annotations

import numpy as np

from ..kernels import mixed_int8_matmul, qmatmul, w4a8_matmul, w8a8_matmul
from ..kernels.w4a8 import check_w4a8_weight
from ..kernels.w8a8 import check_w8a8_weight
from ..mixed import MixedInt8Tensor
from ..tensor import QTensor

#: How ``linear`` multiplies a quantized weight: float32 activations, or activations rounded to int8.
ACTIVATIONS = ("float", "int8")


def gelu(x: np.ndarray) -> np.ndarray:
    """GPT-2's tanh approximation: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""
    return 0.5 * x * (1.0 + np.tanh(np.float32(np.sqrt(2.0 / np.pi)) * (x + np.float32(0.044715) * (x * x * x))))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``exp(x - max) / sum(exp(x - max))`` along ``axis`` (stable for large logits)."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``x - max - log(sum(exp(x - max)))`` along ``axis``: log-probabilities, stable for large logits."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Normalize the last axis to mean 0 and variance 1, then scale by ``g`` and shift by ``b``."""
    mean = x.mean(axis=-1, keepdims=True)                       # [..., 1]
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)        # [..., 1]
    return (x - mean) / np.sqrt(var + np.float32(eps)) * g + b  # [..., E]


def int8_activation_matmul(w: QTensor):
    """The integer kernel that multiplies ``w`` with int8 activations; ``ValueError`` if there is none.

    4-bit weights (any scheme and granularity, even group sizes): ``w4a8_matmul``; 8-bit
    symmetric weights per tensor or per channel: ``w8a8_matmul``.
    """
    if w.spec.bits == 4:
        check_w4a8_weight(w)
        return w4a8_matmul
    if w.spec.bits == 8:
        check_w8a8_weight(w)
        return w8a8_matmul
    raise ValueError(f"int8 activations need a 4-bit weight (W4A8) or an 8-bit one (W8A8), got bits={w.spec.bits}")


def linear(x: np.ndarray, w, b: np.ndarray | None = None, activations: str = "float") -> np.ndarray:
    """``x @ w + b`` with ``w`` of shape ``(K, N)``: a float array, a ``QTensor`` (fast kernels) or a
    ``MixedInt8Tensor`` (LLM.int8(): its outlier features in float, the rest W8A8 whatever ``activations`` says).

    ``activations="int8"`` multiplies a ``QTensor`` with the activations rounded to int8 per token
    (``int8_activation_matmul``); float weights are always multiplied in float32.
    """
    if isinstance(w, MixedInt8Tensor):
        y = mixed_int8_matmul(x, w)                               # LLM.int8(): always W8A8 beside the float part
    elif isinstance(w, QTensor):
        if activations == "int8":
            y = int8_activation_matmul(w)(x, w)                   # [..., K] @ [K, N] -> [..., N]
        else:
            y = qmatmul(x, w)                                     # [..., K] @ [K, N] -> [..., N]
    else:
        y = (x.reshape(-1, x.shape[-1]) @ w).reshape(*x.shape[:-1], w.shape[1])  # 2-D: faster than batched
    return y if b is None else y + b


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Scaled dot-product attention: ``softmax(q k^T / sqrt(D) + mask) v``.

    ``q``: ``[..., Tq, D]``, ``k`` and ``v``: ``[..., Tk, D]`` (leading axes: batch, heads),
    ``mask``: ``[Tq, Tk]`` with 0 where attending is allowed and a large negative number elsewhere.
    """
    scores = q @ np.swapaxes(k, -1, -2) / np.float32(np.sqrt(q.shape[-1]))  # [..., Tq, Tk]
    return softmax(scores + mask) @ v                                        # [..., Tq, D]


def causal_mask(t_query: int, t_key: int) -> np.ndarray:
    """``[Tq, Tk]`` mask letting query ``i`` (the last ``Tq`` of ``Tk`` positions) see keys ``<= i``."""
    offset = t_key - t_query
    allowed = np.arange(t_key)[None, :] <= (np.arange(t_query)[:, None] + offset)
    return np.where(allowed, np.float32(0.0), np.float32(-1e10))
