"""GGUF blocks and miniquant's ``QTensor``, converted where the maths allows it exactly.

* **Q8_0 <-> QTensor** (``bits=8``, symmetric, ``group_size=32`` along the last axis, float16 scales): the
  same numbers exactly. A Q8_0 block is ``x = d * q`` with ``q`` in ``-127 .. 127`` and ``d`` float16 >= 0 --
  a group of miniquant's symmetric int8 grid. One detail: a block of zeros has ``d = 0``, which a ``QTensor``
  refuses (its scales are positive), so it gets the smallest positive float16 with codes 0 (still exactly
  zero); back in Q8_0, a group whose codes are all 0 is written with ``d = 0``, as ggml writes a block of zeros.
* **Q4_0 and Q5_0** are *not* exact: their scale is signed (``d = max / -8``) and the extreme value always
  lands on code ``-8`` (``-16``), so half the blocks would need the code ``+8`` (``+16``) once the sign is moved
  into the codes. **Q4_1 and Q5_1** store a float minimum, not an integer zero point, and the **K-quants**
  scale their sub-blocks by ``d * sc`` with integer ``sc`` -- none of them is a ``QTensor`` today.
  ``to_qtensor`` refuses them with that reason; ``dequantize`` reads them as floats.

A GGUF matrix is stored as rows of ``K`` (``(N, K)``, see ``miniquant.nn.gguf_io``); ``to_qtensor`` returns a
QTensor of that shape quantized along its last axis, whose ``.T`` is miniquant's ``(K, N)`` weight (axis 0),
sharing the bytes. Tests: ``tests/formats/test_gguf_bridge.py``.
"""
from __future__ import annotations

import numpy as np

from ...quant import QuantSpec
from ...tensor import QTensor
from . import check_blocks
from .legacy import QK, half_bytes

#: The QTensor spec that holds Q8_0 exactly.
Q8_0_SPEC = QuantSpec(bits=8, scheme="symmetric", group_size=QK, scale_dtype="float16", axis=-1)
_SMALLEST_HALF = np.float16(2.0 ** -24)
_NOT_EXACT = {
    "Q4_0": "its float16 scale is signed and its extreme code -8 would become +8 (a QTensor's 4-bit grid ends at 7)",
    "Q5_0": "its float16 scale is signed and its extreme code -16 would become +16 (a QTensor's 5-bit grid ends at 15)",
    "Q4_1": "it stores a float16 minimum, not an integer zero point",
    "Q5_1": "it stores a float16 minimum, not an integer zero point",
}


def to_qtensor(blocks, type_name: str, shape) -> QTensor:
    """The ``QTensor`` of shape ``shape`` (``(..., K)``) holding exactly the values of Q8_0 ``blocks``."""
    if type_name != "Q8_0":
        reason = _NOT_EXACT.get(type_name, "its sub-block scales d * sc are a two-level integer scale a QTensor "
                                           "does not hold" if type_name.endswith("_K") else None)
        if reason is None:
            raise ValueError(f"type_name must be a GGUF block type, got {type_name!r}")
        raise ValueError(f"{type_name} is not a QTensor exactly: {reason}; dequantize(blocks, {type_name!r}, shape) "
                         "gives its values")
    shape = check_blocks(blocks, "Q8_0", shape)                       # dtype, shape and row length
    data = np.ascontiguousarray(blocks).reshape(-1, 2 + QK)
    d = data[:, :2].copy().view(np.float16)[:, 0]
    q = data[:, 2:].view(np.int8)
    if np.any(q == -128):
        raise ValueError("a Q8_0 block holds the code -128, which ggml never writes (codes are -127 .. 127)")
    d = np.where(d == 0, _SMALLEST_HALF, d)                          # a block of zeros (codes all 0)
    if not np.all(d > 0):
        raise ValueError("a Q8_0 block has a negative or non-finite scale, which ggml never writes")
    scale = d.astype(np.float32).reshape(*shape[:-1], shape[-1] // QK)
    codes = q.reshape(shape).astype(np.int8)
    return QTensor.from_codes(codes, scale, None, Q8_0_SPEC.replace(axis=len(shape) - 1))


def from_qtensor(qt: QTensor) -> np.ndarray:
    """Q8_0 bytes ``uint8 (..., K // 32 * 34)`` of a QTensor of ``Q8_0_SPEC`` (quantized along its last axis)."""
    if not isinstance(qt, QTensor):
        raise TypeError(f"qt must be a QTensor, got {type(qt).__name__}")
    spec = qt.spec
    if (spec.format, spec.bits, spec.scheme, spec.granularity, spec.group_size, spec.full_range, spec.double_quant,
            spec.scale_dtype) != ("int", 8, "symmetric", "group", QK, False, False, np.float16) \
            or spec.axis != qt.ndim - 1:
        raise ValueError(f"only a QTensor of int8, symmetric, groups of 32 along the last axis, float16 scales is Q8_0 "
                         f"exactly; got {spec}")
    codes = np.asarray(qt.codes).reshape(-1, QK).astype(np.int8)
    d = np.asarray(qt.scale, dtype=np.float32).reshape(-1)
    d = np.where((codes == 0).all(axis=1), np.float32(0), d)         # ggml's block of zeros
    data = np.concatenate([half_bytes(d), codes.view(np.uint8)], axis=1)
    return data.reshape(*qt.shape[:-1], qt.shape[-1] // QK * (2 + QK))
