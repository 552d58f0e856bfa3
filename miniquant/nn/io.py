"""Weights on disk: ``.npz`` checkpoints (never unpickled), float or quantized, and the shipped model.

A checkpoint holds one array per weight, named as in ``gpt.expected_shapes``, plus a
``__header__`` entry: a JSON string with the ``GPTConfig``, free-form metadata (training
command, seed, losses, the recipe) and, for a quantized model, which weights are ``QTensor``\\ s.
A float weight is one float32 array. A quantized weight ``name`` is stored as the ``QTensor``
holds it -- ``name@packed`` (uint8 bit stream), ``name@scale`` (the stored scales, e.g.
float16; bfloat16 as uint16 bits, E8M0 as bytes), if asymmetric ``name@zero_point`` (packed) and, if
double-quantized, ``name@second_scale`` (float32) -- with its shape and ``QuantSpec`` in the header's
``"quantized"`` entry; so the file is about as small as the ledger says. An element format's entry
also holds its value ``table`` (``null`` for NaN and inf patterns), so that a reader without miniquant can
decode the codes; on reading it must equal the library's table exactly (a tampered table or
format name is refused). An
LLM.int8() weight (``MixedInt8Tensor``) adds ``name@outlier_index`` (int32) and
``name@outlier_rows`` (float32) beside its int8 part, and ``"mixed": {"threshold", "n_outliers"}``
to its entry (whose ``spec`` is that of the int8 part, ``null`` when every feature is float).

Writing is atomic (``miniquant.files.atomic_write``) and uses the path exactly as given.
Reading refuses what is not a regular file, uses ``allow_pickle=False`` and checks every name,
shape, dtype and value (the ``QTensor`` type checks its own codes and scales), so a truncated,
corrupt or hostile file gives a clear ``ValueError`` that names it.

A quantized checkpoint records its float source in ``meta["source"]``: ``"shipped"``, or
``{"path", "size", "sha256"}`` with the path relative to the checkpoint's folder
(``source_record``); ``load_source`` finds that file again and checks that it is the same one.
Tests: ``tests/nn/test_io.py``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import zipfile

import numpy as np

from ..files import atomic_write, check_input_file, check_output_path, file_digest, same_file
from ..quant import spec_from_dict, spec_to_dict
from ..mixed import MixedInt8Tensor, is_quantized_weight
from ..tensor import QTensor
from .config import GPTConfig
from .gpt import GPT, expected_shapes

#: The model the project trains and ships (see docs/model-card.md).
DEFAULT_PATH = os.path.join(os.path.dirname(__file__), "weights", "default.npz")
#: Separates a weight's name from the part of a QTensor in the archive (``name@packed``).
PART_SEPARATOR = "@"


def save_checkpoint(path, config: GPTConfig, params: dict, meta: dict | None = None) -> None:
    """Write ``params`` (float32 arrays or ``QTensor``\\ s) with the config and ``meta`` as JSON into one ``.npz``.

    The file is written atomically at exactly ``path`` (no ``.npz`` is appended); a directory,
    a missing folder or an unwritable path is refused before anything is written.
    """
    path = check_output_path(path)
    arrays, quantized = {}, {}
    for name, value in params.items():
        if isinstance(value, MixedInt8Tensor):
            inner = value.int8
            quantized[name] = {"shape": list(value.shape), "spec": None if inner is None else spec_to_dict(inner.spec),
                               "mixed": {"threshold": value.threshold if np.isfinite(value.threshold) else None,
                                         "n_outliers": int(value.outlier_index.size)}}
            arrays[f"{name}{PART_SEPARATOR}outlier_index"] = value.outlier_index
            arrays[f"{name}{PART_SEPARATOR}outlier_rows"] = value.outlier_rows
            if inner is not None:
                arrays[f"{name}{PART_SEPARATOR}packed"] = inner.packed
                arrays[f"{name}{PART_SEPARATOR}scale"] = inner.stored_scale
        elif isinstance(value, QTensor):
            quantized[name] = {"shape": list(value.shape), "spec": spec_to_dict(value.spec)}
            if value.spec.element is not None:
                quantized[name]["table"] = _table_record(value.spec)
            arrays[f"{name}{PART_SEPARATOR}packed"] = value.packed
            arrays[f"{name}{PART_SEPARATOR}scale"] = value.stored_scale
            if value.zero_point_packed is not None:
                arrays[f"{name}{PART_SEPARATOR}zero_point"] = value.zero_point_packed
            if value.second_scale is not None:
                arrays[f"{name}{PART_SEPARATOR}second_scale"] = value.second_scale
        else:
            arrays[name] = np.asarray(value, dtype=np.float32)
    header = {"config": dataclasses.asdict(config), "meta": meta or {}}
    if quantized:
        header["quantized"] = quantized
    text = json.dumps(header, allow_nan=False)
    with atomic_write(path) as fh:
        np.savez(fh, __header__=np.array(text), **arrays)


def _table_record(spec) -> list:
    """The element format's value of every code, as JSON (``None`` for NaN and inf patterns; floats are exact in JSON)."""
    return [float(v) if np.isfinite(v) else None for v in spec.element.table]


def _check_table(spec, entry) -> None:
    """A stored value table must be the library's own for ``spec.format``."""
    if "table" not in entry:
        raise ValueError(f"format {spec.format!r} needs its value table in the header entry")
    stored = entry["table"]
    if not isinstance(stored, list) or stored != _table_record(spec):
        raise ValueError(f"its value table does not match format {spec.format!r} (tampered, or another format's); "
                         "refusing to decode its codes with a different table")


def _read_qtensor(path, data, name: str, entry):
    """Rebuild quantized weight ``name`` (a ``QTensor`` or ``MixedInt8Tensor``) from its parts; any inconsistency is a ``ValueError``."""
    try:
        shape = tuple(int(s) for s in entry["shape"])
        part = lambda p: data[f"{name}{PART_SEPARATOR}{p}"] if f"{name}{PART_SEPARATOR}{p}" in data.files else None  # noqa: E731
        if "mixed" in entry:
            mixed = entry["mixed"]
            index = part("outlier_index")
            if index is None or part("outlier_rows") is None:
                raise ValueError("its outlier_index or outlier_rows part is missing")
            n_out = int(mixed["n_outliers"])
            if index.shape != (n_out,) or len(shape) != 2:
                raise ValueError(f"it lists {n_out} outliers but holds {index.shape}")
            inner = None
            if entry["spec"] is not None:
                inner = QTensor(part("packed"), part("scale"), part("zero_point"), (shape[0] - n_out, shape[1]),
                                spec_from_dict(entry["spec"]))
            threshold = float("inf") if mixed["threshold"] is None else float(mixed["threshold"])
            return MixedInt8Tensor(index, part("outlier_rows"), inner, shape, threshold)
        spec = spec_from_dict(entry["spec"])
        if spec.element is not None:
            _check_table(spec, entry)
        elif "table" in entry:
            raise ValueError("it holds a value table but its format is 'int'")
        qt = QTensor(part("packed"), part("scale"), part("zero_point"), shape, spec, second_scale=part("second_scale"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: quantized weight {name!r} is corrupt: {exc}") from None
    return qt


def load_checkpoint(path) -> tuple[GPTConfig, dict, dict]:
    """Read a checkpoint written by ``save_checkpoint``: ``(config, params, meta)``. Never unpickles.

    A GGUF file (``gpt2`` architecture, found by its magic ``GGUF``) is read too, by ``gguf_io.load_gguf``:
    its weights dequantized to float32 (a float model whose weights are GGUF's values), ``meta`` =
    ``{"format": "gguf", "tensor_types": {gguf name: type}}``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is not a regular file, not an ``.npz`` archive (truncated, empty, a ``.npy`` or a
        text file), or anything in it is inconsistent; the message names the file.
    """
    path = check_input_file(path, name="checkpoint")
    with open(path, "rb") as fh:
        if fh.read(4) == b"GGUF":
            return _read_gguf_model(path)
    try:
        return _read_checkpoint(path)
    except ValueError as exc:
        if str(exc).startswith(path):
            raise
        raise ValueError(f"{path}: {exc}") from None
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path} is not a readable miniquant checkpoint (.npz): {exc or type(exc).__name__}") from None


def _read_gguf_model(path):
    from ..formats.gguf import read_gguf
    from .gguf_io import gpt_from_gguf

    f = read_gguf(path)                       # parsed once: the model and the types come from the same read
    model = gpt_from_gguf(f, path)
    types = {name: t.type_name for name, t in f.tensors.items()}
    return model.config, dict(model.params), {"format": "gguf", "tensor_types": types}


def _read_checkpoint(path):
    with open(path, "rb") as fh:  # opened here, so that a corrupt archive cannot leave it open
        if fh.read(4) != b"PK\x03\x04":  # every .npz is a zip archive
            raise ValueError(f"{path} is not a miniquant checkpoint: not an .npz (zip) archive")
        fh.seek(0)
        return _read_archive(path, fh)


def _read_archive(path, fh):
    with np.load(fh, allow_pickle=False) as data:
        if "__header__" not in data.files:
            raise ValueError(f"{path} is not a miniquant checkpoint (no __header__ entry)")
        try:
            header = json.loads(str(data["__header__"]))
            if not isinstance(header, dict):
                raise ValueError(f"the header must be a JSON object, got {type(header).__name__}")
            config = GPTConfig(**header["config"])
            quantized = header.get("quantized", {})
            if not isinstance(quantized, dict):
                raise ValueError(f"'quantized' must be an object, got {type(quantized).__name__}")
            if not isinstance(header.get("meta"), dict):
                raise ValueError("it has no 'meta' object")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"{path} has a corrupt header: {exc}") from None
        params = {name: _read_qtensor(path, data, name, entry) for name, entry in quantized.items()}
        parts = {f for f in data.files if PART_SEPARATOR in f}
        stray = sorted(f for f in parts if f.split(PART_SEPARATOR)[0] not in quantized)
        if stray:
            raise ValueError(f"{path}: parts of quantized weights not listed in the header: {stray[:3]}")
        for name in data.files:
            if name != "__header__" and name not in parts:
                if name in params:
                    raise ValueError(f"{path}: weight {name!r} is stored both quantized and in float")
                params[name] = data[name]
    expected = expected_shapes(config)
    if set(params) != set(expected):
        raise ValueError(f"{path}: weights do not match the config (missing {sorted(set(expected) - set(params))[:3]}, "
                         f"unknown {sorted(set(params) - set(expected))[:3]})")
    for name, shape in expected.items():
        value = params[name]
        if is_quantized_weight(value):
            if value.shape != shape:
                raise ValueError(f"{path}: quantized weight {name!r} must have shape {shape}, got {value.shape}")
        elif value.shape != shape or value.dtype != np.float32 or not np.all(np.isfinite(value)):
            raise ValueError(f"{path}: weight {name!r} must be finite float32 of shape {shape}")
    return config, params, header["meta"]


def source_record(source, checkpoint) -> dict | str:
    """What a quantized ``checkpoint`` records of its float ``source`` (``None``: the shipped model).

    ``{"path", "size", "sha256"}``, the path relative to the checkpoint's folder when it can be
    (so the two files can move together), or ``"shipped"``.
    """
    if source is None:
        return "shipped"
    source = check_input_file(source, name="model")
    folder = os.path.dirname(os.path.abspath(checkpoint))
    try:
        where = os.path.relpath(os.path.abspath(source), folder)
    except ValueError:  # another drive (Windows)
        where = os.path.abspath(source)
    return {"path": where, "size": os.path.getsize(source), "sha256": file_digest(source)}


def load_source(checkpoint, meta: dict) -> GPT:
    """The float model a quantized ``checkpoint`` was made from, checked to be the very file recorded.

    The recorded path is resolved relative to the checkpoint's folder; what is found must be a
    regular file (never a FIFO or a device) with the recorded size and SHA-256.
    """
    record = meta.get("source")
    if record == "shipped":
        return load_default()
    if not (isinstance(record, dict) and isinstance(record.get("path"), str) and isinstance(record.get("size"), int)
            and isinstance(record.get("sha256"), str)):
        raise ValueError(f"{checkpoint} does not record the size and hash of its float source (source: {record!r}); "
                         "quantize the float model again (miniquant quantize --model FLOAT ...)")
    path = os.path.join(os.path.dirname(os.path.abspath(checkpoint)), record["path"])
    if not os.path.exists(path):
        raise ValueError(f"{checkpoint} was quantized from {record['path']}, which is not there any more; "
                         "quantize the float model again (miniquant quantize --model FLOAT ...)")
    path = check_input_file(path, name="the float source")
    if same_file(path, checkpoint):
        raise ValueError(f"{checkpoint} names itself as its float source")
    if os.path.getsize(path) != record["size"] or file_digest(path) != record["sha256"]:
        raise ValueError(f"{path} is not the float model {checkpoint} was quantized from (its size or SHA-256 differs "
                         "from the recorded ones)")
    return load_model(path)


def load_model(path) -> GPT:
    """A ``GPT`` from a checkpoint file (float or quantized)."""
    config, params, _ = load_checkpoint(path)
    return GPT(config, params)


def load_default() -> GPT:
    """The shipped model (byte-level, trained on stdlib docstrings and arithmetic)."""
    if not os.path.exists(DEFAULT_PATH):
        raise FileNotFoundError(f"the shipped model is missing: {DEFAULT_PATH} (reinstall miniquant)")
    return load_model(DEFAULT_PATH)
