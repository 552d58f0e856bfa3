"""llama.cpp's block types, byte for byte: ``quantize(x, "Q4_0")`` and ``dequantize(blocks, "Q4_0", shape)``.

The conventions are those of ``gguf.quants.quantize`` / ``dequantize``: ``x`` is float32 ``(..., K)`` with
``K`` a multiple of the type's block size, and its bytes are ``uint8 (..., K // block_size * type_size)``,
blocks one after the other along the last axis; type names as ggml spells them (``"Q8_0"``,
``"Q4_K"``, ...). ``legacy.py`` holds the 32-weight types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1), ``kquants.py``
the 256-weight K-quants (Q2_K ... Q6_K) with their scale searches in ``ksearch.py``. ``TYPES`` lists them
all; ``bits_per_weight`` equals ggml's type sizes. Quantization writes the bytes llama.cpp's reference
quantizers write without an importance matrix (what ``llama-quantize`` runs without ``--imatrix``).

>>> import numpy as np
>>> from miniquant.formats import gguf
>>> x = np.linspace(-1, 1, 64, dtype=np.float32)
>>> blocks = gguf.quantize(x, "Q4_0")
>>> blocks.shape, gguf.TYPES["Q4_0"].bits_per_weight
((36,), 4.5)
>>> float(np.abs(gguf.dequantize(blocks, "Q4_0", x.shape) - x).max()) < 0.07
True
"""
from __future__ import annotations

import numpy as np

from ...quant._checks import check_float_array
from .container import GGUFFile, GGUFTensor, read_gguf, tensor_values
from .kquants import K_TYPES, QK_K
from .legacy import LEGACY_TYPES, QK, BlockType

#: Every block type by its ggml name.
TYPES: dict[str, BlockType] = {**LEGACY_TYPES, **K_TYPES}

__all__ = ["QK", "QK_K", "TYPES", "BlockType", "GGUFFile", "GGUFTensor", "block_type", "dequantize", "quantize",
           "read_gguf", "tensor_values"]


def block_type(type_name) -> BlockType:
    """The ``BlockType`` named ``type_name`` (``"Q4_0"``, ``"Q6_K"``, ...), or a ``ValueError`` listing the names."""
    if type_name not in TYPES:
        raise ValueError(f"type_name must be one of {sorted(TYPES)}, got {type_name!r}")
    return TYPES[type_name]


def quantize(x, type_name: str) -> np.ndarray:
    """The bytes of ``x`` ``(..., K)`` in block type ``type_name``: ``uint8 (..., K // block_size * type_size)``.

    ``x`` is rounded to float32 first (ggml quantizes float32 rows); ``K`` must be a multiple of the block
    size, and ``x`` finite (ggml's C code would write meaningless bytes for NaN or Inf).
    """
    t = block_type(type_name)
    x = check_float_array(x, "x").astype(np.float32, copy=False)
    K = _check_row_length(x.shape, t)
    blocks = np.ascontiguousarray(x).reshape(-1, t.block_size)
    data = t.quantize_blocks(blocks)
    return data.reshape(*x.shape[:-1], K // t.block_size * t.type_size)


def dequantize(blocks, type_name: str, shape) -> np.ndarray:
    """float32 values of shape ``shape`` ``(..., K)`` from their bytes ``uint8 (..., K // block_size * type_size)``."""
    t = block_type(type_name)
    shape = check_blocks(blocks, type_name, shape)
    values = t.dequantize_blocks(np.ascontiguousarray(blocks).reshape(-1, t.type_size))
    return values.astype(np.float32, copy=False).reshape(shape)


def check_blocks(blocks, type_name: str, shape) -> tuple[int, ...]:
    """``shape`` as a tuple after checking ``blocks`` are uint8 bytes of ``type_name`` values of that shape."""
    t = block_type(type_name)
    data = np.asarray(blocks)
    if data.dtype != np.uint8:
        raise TypeError(f"blocks must be a uint8 array of {type_name} bytes, got dtype {data.dtype}")
    shape = tuple(int(s) for s in np.atleast_1d(shape))
    K = _check_row_length(shape, t)
    expected = (*shape[:-1], K // t.block_size * t.type_size)
    if data.shape != expected:
        raise ValueError(f"blocks must have shape {expected} for {type_name} values of shape {shape}, got {data.shape}")
    return shape


def _check_row_length(shape: tuple, t: BlockType) -> int:
    if len(shape) == 0 or shape[-1] == 0 or shape[-1] % t.block_size:
        raise ValueError(f"{t.name} stores rows of a multiple of {t.block_size} weights: the last axis of the shape "
                         f"{tuple(shape)} is not")
    return shape[-1]
