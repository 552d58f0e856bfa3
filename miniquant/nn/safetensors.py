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
import os
import struct

import numpy as np

from ..files import atomic_write, check_input_file, check_output_path

_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": None, "I64": np.int64, "I32": np.int32, "U8": np.uint8}
_NAMES = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.int64): "I64",
          np.dtype(np.int32): "I32", np.dtype(np.uint8): "U8"}
_MAX_HEADER = 100 * 2**20


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate keys {sorted({k for k in keys if keys.count(k) > 1})[:3]}")
    return dict(pairs)


def _is_count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _entry(path, name, info, data_size):
    """``(dtype_name, shape, begin, end)`` of one header entry, every field checked."""
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise ValueError(f"{path}: tensor {name!r} must have exactly dtype, shape and data_offsets, got {info!r:.80}")
    dtype_name, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype_name, str) or dtype_name not in _DTYPES:
        raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {dtype_name!r}")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise ValueError(f"{path}: tensor {name!r} must have a shape that is a list of non-negative integers, got {shape!r:.60}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)):
        raise ValueError(f"{path}: tensor {name!r} must have data_offsets [begin, end] of two integers, got {offsets!r:.60}")
    begin, end = offsets
    itemsize = 2 if dtype_name == "BF16" else np.dtype(_DTYPES[dtype_name]).itemsize
    count = int(np.prod(shape, dtype=object)) if shape else 1
    if not begin <= end <= data_size or end - begin != count * itemsize:
        raise ValueError(f"{path}: tensor {name!r} has offsets {begin}..{end} that do not match shape {shape} "
                         f"{dtype_name} in {data_size} bytes of data")
    return dtype_name, shape, begin, end


def load_safetensors(path) -> dict[str, np.ndarray]:
    """All tensors of a safetensors file as NumPy arrays (bfloat16 is widened to float32).

    The header is read and checked first (one JSON object without duplicate keys; every tensor's
    dtype, shape and offsets; the tensors tile the data exactly, with no overlap and no hole, as
    the format requires), and only then the data.
    """
    path = check_input_file(path, name="safetensors file")
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        if size < 8:
            raise ValueError(f"{path}: too short for a safetensors file ({size} bytes)")
        (n,) = struct.unpack("<Q", fh.read(8))
        if n > min(_MAX_HEADER, size - 8):
            raise ValueError(f"{path}: header length {n} does not fit the file ({size} bytes)")
        try:
            header = json.loads(fh.read(n).decode("utf-8"), object_pairs_hook=_no_duplicates)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"{path}: corrupt header: {exc}") from None
        if not isinstance(header, dict):
            raise ValueError(f"{path}: the header must be a JSON object")
        metadata = header.get("__metadata__", {})
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise ValueError(f"{path}: __metadata__ must map strings to strings")
        data_size = size - 8 - n
        entries = {name: _entry(path, name, info, data_size) for name, info in header.items() if name != "__metadata__"}
        covered = 0
        for name, (_, _, begin, end) in sorted(entries.items(), key=lambda item: (item[1][2], item[1][3])):
            if begin != covered:
                what = "overlaps the tensor before it" if begin < covered else f"leaves bytes {covered}..{begin} unused"
                raise ValueError(f"{path}: tensor {name!r} at {begin}..{end} {what}")
            covered = end
        if covered != data_size:
            raise ValueError(f"{path}: the tensors cover {covered} of the {data_size} data bytes")
        data = fh.read(data_size)
    tensors = {}
    for name, (dtype_name, shape, begin, end) in entries.items():
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
    with atomic_write(check_output_path(path)) as fh:
        fh.write(struct.pack("<Q", len(text)))
        fh.write(text)
        for blob in blobs:
            fh.write(blob)
