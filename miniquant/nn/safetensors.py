"""Reading and writing the safetensors format, from scratch (no pickle, no torch).

Layout of a ``.safetensors`` file::

    8 bytes   little-endian uint64 N: the length of the header
    N bytes   JSON: {name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
                     "__metadata__": {...} (optional)}
    the rest  the tensors' bytes, little-endian, at [begin, end) relative to the end of the header

Every offset, size and dtype is checked before a byte is interpreted, so a truncated or
hostile file gives a ``ValueError``. Tests: ``tests/nn/test_gpt2.py``.
"""
from __future__ import annotations

import json
import struct

import numpy as np

_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": None, "I64": np.int64, "I32": np.int32, "U8": np.uint8}
_NAMES = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.int64): "I64",
          np.dtype(np.int32): "I32", np.dtype(np.uint8): "U8"}
_MAX_HEADER = 100 * 2**20


def load_safetensors(path) -> dict[str, np.ndarray]:
    """All tensors of a safetensors file as NumPy arrays (bfloat16 is widened to float32)."""
    with open(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for a safetensors file ({len(raw)} bytes)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > min(_MAX_HEADER, len(raw) - 8):
        raise ValueError(f"{path}: header length {n} does not fit the file")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: corrupt header: {exc}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the header must be a JSON object")
    data = memoryview(raw)[8 + n:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype_name, shape, (begin, end) = info["dtype"], [int(s) for s in info["shape"]], info["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise ValueError(f"{path}: bad header entry for {name!r}") from None
        if dtype_name not in _DTYPES:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {dtype_name!r}")
        itemsize = 2 if dtype_name == "BF16" else np.dtype(_DTYPES[dtype_name]).itemsize
        count = int(np.prod(shape)) if shape else 1
        if any(s < 0 for s in shape) or not (0 <= begin <= end <= len(data)) or end - begin != count * itemsize:
            raise ValueError(f"{path}: tensor {name!r} has offsets {begin}..{end} that do not match shape {shape} {dtype_name}")
        chunk = data[begin:end]
        if dtype_name == "BF16":
            array = (np.frombuffer(chunk, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            array = np.frombuffer(chunk, dtype=np.dtype(_DTYPES[dtype_name]).newbyteorder("<")).astype(_DTYPES[dtype_name])
        tensors[name] = array.reshape(shape)
    return tensors


def save_safetensors(path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Write arrays to a safetensors file (used by the tests to build tiny checkpoints)."""
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        if array.dtype not in _NAMES:
            raise ValueError(f"cannot store dtype {array.dtype} of {name!r} in safetensors")
        blob = array.astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _NAMES[array.dtype], "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)  # align the data to 8 bytes, as the reference writer does
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)))
        fh.write(text)
        for blob in blobs:
            fh.write(blob)
