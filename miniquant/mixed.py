"""LLM.int8()'s mixed-precision weight (Dettmers et al., 2022): outlier input features in float, the rest int8.

In large models a few input features (channels of ``x``) carry values far above the rest, in
almost every token; rounding the activations of a row to int8 with one scale per token then
crushes every other channel. The decomposition multiplies those features in float and only the
rest in int8::

    x w  =  x[:, O] @ w[O, :]        +   x[:, R] @ w[R, :]
            float x float (the few)      int8 x int8, W8A8: per-token x per-output-channel scales

``O`` are the input features whose ``|x|`` exceeds a threshold (6.0 in the paper). The paper
finds them per batch at run time; miniquant chooses them once, from calibration (the features
whose largest ``|x|`` over the calibration rows exceeds the threshold), so that the weight
rows of ``O`` can be *stored* in float and the memory ledger can count them. (bitsandbytes
instead keeps every row in int8 and multiplies the outlier columns with rows dequantized from
int8; its float part then carries the weights' rounding error.) A threshold of ``inf`` leaves
``O`` empty (exactly W8A8), a threshold of 0 puts every feature that is ever non-zero in ``O``
(the float layer). What is stored::

    outlier_index  int32[n_out]           the features in O, sorted
    outlier_rows   float32[n_out, N]      their weight rows
    int8           QTensor (K - n_out, N) 8-bit symmetric, one scale per output channel (None if n_out = K)

Tests: ``tests/test_mixed.py``.
"""
from __future__ import annotations

import numpy as np

from .tensor import QTensor, quantize


class MixedInt8Tensor:
    """A weight ``(K, N)`` split by input feature: ``outlier_rows`` in float32, the rest an int8 ``QTensor``.

    Attributes
    ----------
    shape : tuple (K, N)
    outlier_index : int32 array (n_out,), sorted
    rest_index : int32 array (K - n_out,), the other features in order
    outlier_rows : float32 array (n_out, N)
    int8 : QTensor (K - n_out, N) or None
    threshold : float
        The ``|x|`` above which a feature counted as an outlier (recorded, not used at run time).
    nbytes, bits_per_weight, float_fraction : the stored bytes, per element, and the share of features in float
    """

    __slots__ = ("_index", "_rest", "_rows", "_int8", "_shape", "threshold")

    def __init__(self, outlier_index, outlier_rows, int8: QTensor | None, shape, threshold: float = 6.0):
        try:
            K, N = (int(s) for s in shape)
        except (TypeError, ValueError):
            raise TypeError(f"shape must be (K, N), got {shape!r}") from None
        if K <= 0 or N <= 0:
            raise ValueError(f"shape must be positive, got {(K, N)}")
        index = np.asarray(outlier_index)
        if index.ndim != 1 or not (index.size == 0 or np.issubdtype(index.dtype, np.integer)):
            raise ValueError(f"outlier_index must be a 1-D integer array, got {index.dtype} {index.shape}")
        index = index.astype(np.int32)
        if index.size and (index.min() < 0 or index.max() >= K or np.any(np.diff(index) <= 0)):
            raise ValueError(f"outlier_index must be sorted, unique feature numbers in [0, {K}), got {index[:8]}")
        rows = np.asarray(outlier_rows)
        if rows.dtype != np.float32 or rows.shape != (index.size, N):
            raise ValueError(f"outlier_rows must be float32 of shape ({index.size}, {N}), got {rows.dtype} {rows.shape}")
        if not np.all(np.isfinite(rows)):
            raise ValueError("outlier_rows must be finite")
        n_rest = K - index.size
        if n_rest == 0:
            if int8 is not None:
                raise ValueError("every feature is an outlier: int8 must be None")
        else:
            if not isinstance(int8, QTensor):
                raise TypeError(f"int8 must be a QTensor of shape ({n_rest}, {N}), got {type(int8).__name__}")
            spec = int8.spec
            if int8.shape != (n_rest, N) or spec.bits != 8 or spec.scheme != "symmetric" or spec.granularity == "group":
                raise ValueError(f"int8 must be an 8-bit symmetric QTensor of shape ({n_rest}, {N}) quantized per tensor "
                                 f"or per channel (W8A8), got {int8!r}")
        self._index = index
        self._index.setflags(write=False)
        self._rest = np.setdiff1d(np.arange(K, dtype=np.int32), index).astype(np.int32)
        self._rest.setflags(write=False)
        self._rows = np.array(rows, copy=True)
        self._rows.setflags(write=False)
        self._int8 = int8
        self._shape = (K, N)
        self.threshold = float(threshold)

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def ndim(self) -> int:
        return 2

    @property
    def size(self) -> int:
        return self._shape[0] * self._shape[1]

    @property
    def outlier_index(self) -> np.ndarray:
        return self._index

    @property
    def rest_index(self) -> np.ndarray:
        return self._rest

    @property
    def outlier_rows(self) -> np.ndarray:
        return self._rows

    @property
    def int8(self) -> QTensor | None:
        return self._int8

    @property
    def float_fraction(self) -> float:
        """The share of input features multiplied in float."""
        return self._index.size / self._shape[0]

    @property
    def nbytes(self) -> int:
        """Every stored byte: the int8 part, the float rows and their indices."""
        return int((0 if self._int8 is None else self._int8.nbytes) + self._rows.nbytes + self._index.nbytes)

    @property
    def bits_per_weight(self) -> float:
        return 8 * self.nbytes / self.size

    def dequantize(self) -> np.ndarray:
        """The weight ``(K, N)`` as float32: float rows where stored, dequantized int8 elsewhere."""
        out = np.empty(self._shape, dtype=np.float32)
        out[self._index] = self._rows
        if self._int8 is not None:
            out[self._rest] = self._int8.dequantize()
        return out

    def __repr__(self) -> str:
        return (f"MixedInt8Tensor(shape={self._shape}, outliers={self._index.size}, threshold={self.threshold:g}, "
                f"nbytes={self.nbytes}, bits_per_weight={self.bits_per_weight:.4g})")


def split_outliers(w, abs_max, threshold: float, spec) -> MixedInt8Tensor:
    """The ``MixedInt8Tensor`` of ``w`` ``(K, N)``: features with ``abs_max > threshold`` in float, the rest by ``spec``.

    ``abs_max`` ``(K,)`` is the largest ``|x|`` of each input feature over the calibration rows.
    """
    w = np.asarray(w, dtype=np.float32)
    abs_max = np.asarray(abs_max, dtype=np.float64)
    if w.ndim != 2 or abs_max.shape != (w.shape[0],):
        raise ValueError(f"abs_max must have shape (K,) for w of shape (K, N), got {abs_max.shape} and {w.shape}")
    index = np.flatnonzero(abs_max > threshold).astype(np.int32)
    rest = np.setdiff1d(np.arange(w.shape[0]), index)
    int8 = quantize(w[rest], spec) if rest.size else None
    return MixedInt8Tensor(index, w[index], int8, w.shape, threshold)


#: The quantized weight types a model's linear layers may hold.
QUANTIZED_WEIGHTS = (QTensor, MixedInt8Tensor)


def is_quantized_weight(value) -> bool:
    """Whether ``value`` is one of the quantized weight types (``QTensor``, ``MixedInt8Tensor``)."""
    return isinstance(value, QUANTIZED_WEIGHTS)
