"""Reading a GGUF file without trusting it: every count, length and offset checked against the file first.

GGUF v2/v3 (little-endian), as llama.cpp writes it::

    "GGUF" | version u32 | tensor_count u64 | kv_count u64
    kv_count x  ( key: string | value_type u32 | value )          string = u64 length + UTF-8 bytes
    tensor_count x ( name: string | n_dims u32 | ne[n_dims] u64 | type u32 | offset u64 )
    padding to general.alignment (default 32) | tensor data, each at data_start + offset

A value is a scalar (u8 i8 u16 i16 u32 i32 f32 bool u64 i64 f64), a string, or an array (item type u32,
count u64, items). ``ne[0]`` is the contiguous axis, so a tensor's NumPy shape is ``ne`` reversed.

``read_gguf`` never allocates what a header claims before checking it: a count of items cannot exceed
the bytes left in the file (each takes at least one), a string's length must fit in what is left, a
tensor has at most 4 dimensions, its byte size (from its type's block size and type size) must lie
inside the data section, and its rows must be a whole number of blocks. Any violation is a
``ValueError`` naming the file, the field (or the tensor) and the value. The tensors' bytes are
memory-mapped, read-only. The ``gguf`` package can read the same files; this reader exists so that a
hostile file fails with a clear message instead of a huge allocation or a ``struct.error``.
Tests: ``tests/formats/test_gguf_files.py``.
"""
from __future__ import annotations

import dataclasses
import os
import struct

import numpy as np

from ...files import check_input_file
from .legacy import BlockType

#: ggml's type numbers of the tensor types miniquant reads (``enum ggml_type``).
GGML_TYPE_NUMBERS = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8, "Q2_K": 10, "Q3_K": 11,
                     "Q4_K": 12, "Q5_K": 13, "Q6_K": 14}
GGML_TYPE_NAMES = {number: name for name, number in GGML_TYPE_NUMBERS.items()}
MAX_DIMS = 4
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


@dataclasses.dataclass(frozen=True)
class GGUFTensor:
    """One tensor of a GGUF file: ``type_name`` (``"F32"``, ``"Q4_K"``, ...), NumPy ``shape`` (``ne`` reversed) and
    its bytes ``data`` (read-only uint8, ``shape[:-1] + (row bytes,)``)."""

    name: str
    type_name: str
    shape: tuple[int, ...]
    data: np.ndarray


@dataclasses.dataclass(frozen=True)
class GGUFFile:
    """What ``read_gguf`` found: the version, the metadata (key -> value) and the tensors, in file order."""

    version: int
    metadata: dict
    tensors: dict[str, GGUFTensor]


class _Cursor:
    """Reads little-endian fields from the file's bytes, refusing to read past the end."""

    def __init__(self, buffer, path: str):
        self.buffer, self.pos, self.path = buffer, 0, path

    def left(self) -> int:
        return len(self.buffer) - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or n > self.left():
            raise ValueError(f"{self.path}: {what} needs {n} bytes at offset {self.pos}, the file has {self.left()} left "
                             "(truncated or corrupt)")
        chunk = bytes(self.buffer[self.pos:self.pos + n])
        self.pos += n
        return chunk

    def scalar(self, fmt: str, what: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def count(self, what: str, item_bytes: int = 1) -> int:
        n = self.scalar("<Q", what)
        if n * item_bytes > self.left():
            raise ValueError(f"{self.path}: {what} is {n}, more than the {self.left()} bytes left in the file could hold")
        return n

    def string(self, what: str) -> str:
        raw = self.take(self.count(f"the length of {what}"), what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{self.path}: {what} is not UTF-8: {raw[:40]!r}") from None

    def value(self, kind: int, what: str):
        if kind in _SCALARS:
            return self.scalar(_SCALARS[kind], what)
        if kind == _STRING:
            return self.string(what)
        if kind == _ARRAY:
            item = self.scalar("<I", f"the item type of {what}")
            if item == _ARRAY:
                raise ValueError(f"{self.path}: {what} is an array of arrays, which miniquant does not read")
            size = struct.calcsize(_SCALARS[item]) if item in _SCALARS else 8   # a string takes >= 8 bytes
            n = self.count(f"the length of {what}", size)
            if item in _SCALARS:
                return np.frombuffer(self.take(n * size, what), dtype=np.dtype(_SCALARS[item])).tolist()
            return [self.value(item, f"{what}[{i}]") for i in range(n)]
        raise ValueError(f"{self.path}: {what} has the unknown value type {kind}")


def read_gguf(path) -> GGUFFile:
    """Parse the GGUF file at ``path`` (module docstring); ``ValueError`` for anything malformed."""
    from . import TYPES

    path = check_input_file(path)
    buffer = np.memmap(path, dtype=np.uint8, mode="r") if _size(path) else np.zeros(0, np.uint8)
    cur = _Cursor(buffer, path)
    magic = cur.take(4, "the magic number") if cur.left() >= 4 else b""
    if magic != b"GGUF":
        raise ValueError(f"{path}: not a GGUF file (it starts with {bytes(buffer[:4])!r}, not b'GGUF')")
    version = cur.scalar("<I", "the version")
    if version not in (2, 3):
        raise ValueError(f"{path}: GGUF version {version} is not supported (2 or 3)")
    n_tensors = cur.count("the tensor count", 8)
    n_kv = cur.count("the metadata count", 8)
    metadata = {}
    for i in range(n_kv):
        key = cur.string(f"metadata key {i}")
        kind = cur.scalar("<I", f"the value type of {key!r}")
        if key in metadata:
            raise ValueError(f"{path}: metadata key {key!r} appears twice")
        metadata[key] = cur.value(kind, f"metadata {key!r}")
    infos = []
    for i in range(n_tensors):
        name = cur.string(f"the name of tensor {i}")
        n_dims = cur.scalar("<I", f"the dimension count of tensor {name!r}")
        if not 1 <= n_dims <= MAX_DIMS:
            raise ValueError(f"{path}: tensor {name!r} has {n_dims} dimensions (GGUF allows 1 to {MAX_DIMS})")
        ne = [cur.scalar("<Q", f"dimension {d} of tensor {name!r}") for d in range(n_dims)]
        number = cur.scalar("<I", f"the type of tensor {name!r}")
        offset = cur.scalar("<Q", f"the data offset of tensor {name!r}")
        if number not in GGML_TYPE_NAMES:
            raise ValueError(f"{path}: tensor {name!r} has ggml type {number}, which miniquant does not read "
                             f"(it reads {sorted(GGML_TYPE_NUMBERS)})")
        infos.append((name, ne, GGML_TYPE_NAMES[number], offset))
    alignment = metadata.get("general.alignment", 32)
    if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise ValueError(f"{path}: general.alignment must be a power of two, got {alignment!r}")
    data_start = -(-cur.pos // alignment) * alignment
    tensors = {}
    for name, ne, type_name, offset in infos:
        if name in tensors:
            raise ValueError(f"{path}: tensor {name!r} appears twice")
        if any(n == 0 for n in ne):
            raise ValueError(f"{path}: tensor {name!r} has the empty shape {tuple(ne[::-1])}")
        row_bytes = _row_bytes(path, name, type_name, ne[0], TYPES)
        n_rows = int(np.prod(ne[1:], dtype=object)) if len(ne) > 1 else 1
        nbytes = n_rows * row_bytes
        if offset % alignment:
            raise ValueError(f"{path}: tensor {name!r} starts at offset {offset}, not a multiple of the alignment {alignment}")
        if data_start + offset + nbytes > len(buffer):
            raise ValueError(f"{path}: tensor {name!r} ({type_name}, shape {tuple(ne[::-1])}) needs bytes {offset} .. "
                             f"{offset + nbytes} of the data, which ends at {len(buffer) - data_start} (truncated or corrupt)")
        shape = tuple(int(n) for n in ne[::-1])
        data = buffer[data_start + offset:data_start + offset + nbytes].reshape(*shape[:-1], row_bytes)
        tensors[name] = GGUFTensor(name, type_name, shape, data)
    _check_overlaps(path, tensors, infos)
    return GGUFFile(version, metadata, tensors)


def tensor_values(tensor: GGUFTensor) -> np.ndarray:
    """A tensor's values as float32 of ``tensor.shape``: float types read, block types dequantized by miniquant."""
    from . import dequantize

    if tensor.type_name == "F32":
        return np.array(tensor.data.view(np.float32).reshape(tensor.shape))
    if tensor.type_name == "F16":
        return tensor.data.view(np.float16).reshape(tensor.shape).astype(np.float32)
    return dequantize(np.asarray(tensor.data), tensor.type_name, tensor.shape)


def _size(path: str) -> int:
    return os.path.getsize(path)


def _row_bytes(path, name, type_name, ne0: int, types: dict[str, BlockType]) -> int:
    if type_name in ("F32", "F16"):
        return ne0 * (4 if type_name == "F32" else 2)
    t = types[type_name]
    if ne0 % t.block_size:
        raise ValueError(f"{path}: tensor {name!r} has rows of {ne0} weights, not a multiple of {type_name}'s blocks of "
                         f"{t.block_size}")
    return ne0 // t.block_size * t.type_size


def _check_overlaps(path, tensors, infos) -> None:
    """Two tensors may not share bytes (a crafted file could alias one onto another)."""
    spans = sorted((offset, offset + tensors[name].data.nbytes, name) for name, _, _, offset in infos)
    for (s0, e0, a), (s1, _, b) in zip(spans, spans[1:]):
        if s1 < e0:
            raise ValueError(f"{path}: tensors {a!r} and {b!r} overlap in the data section (bytes {s1} .. {e0})")
