"""Weights on disk: ``.npz`` checkpoints (never unpickled), float or quantized, and the shipped model.

A checkpoint holds one array per weight, named as in ``gpt.expected_shapes``, plus a
``__header__`` entry: a JSON string with the ``GPTConfig``, free-form metadata (training
command, seed, losses, the recipe) and, for a quantized model, which weights are ``QTensor``\\ s.
A float weight is one float32 array. A quantized weight ``name`` is stored as the ``QTensor``
holds it -- ``name@packed`` (uint8 bit stream), ``name@scale`` (the stored scales, e.g.
float16) and, if asymmetric, ``name@zero_point`` (packed) -- with its shape and ``QuantSpec``
in the header's ``"quantized"`` entry; so the file is about as small as the ledger says.

Reading uses ``allow_pickle=False`` and checks every name, shape, dtype and value, so a
corrupt or hostile file gives a clear ``ValueError``. Tests: ``tests/nn/test_io.py``.
"""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from ..quant import spec_from_dict, spec_to_dict
from ..tensor import QTensor
from .config import GPTConfig
from .gpt import GPT, expected_shapes

#: The model the project trains and ships (see docs/model-card.md).
DEFAULT_PATH = os.path.join(os.path.dirname(__file__), "weights", "default.npz")
#: Separates a weight's name from the part of a QTensor in the archive (``name@packed``).
PART_SEPARATOR = "@"


def save_checkpoint(path, config: GPTConfig, params: dict, meta: dict | None = None) -> None:
    """Write ``params`` (float32 arrays or ``QTensor``\\ s) with the config and ``meta`` as JSON into one ``.npz``."""
    arrays, quantized = {}, {}
    for name, value in params.items():
        if isinstance(value, QTensor):
            quantized[name] = {"shape": list(value.shape), "spec": spec_to_dict(value.spec)}
            arrays[f"{name}{PART_SEPARATOR}packed"] = value.packed
            arrays[f"{name}{PART_SEPARATOR}scale"] = value.stored_scale
            if value.zero_point_packed is not None:
                arrays[f"{name}{PART_SEPARATOR}zero_point"] = value.zero_point_packed
        else:
            arrays[name] = np.asarray(value, dtype=np.float32)
    header = {"config": dataclasses.asdict(config), "meta": meta or {}}
    if quantized:
        header["quantized"] = quantized
    np.savez(path, __header__=np.array(json.dumps(header)), **arrays)


def _read_qtensor(path, data, name: str, entry) -> QTensor:
    """Rebuild quantized weight ``name`` from its parts; any inconsistency is a ``ValueError``."""
    try:
        spec = spec_from_dict(entry["spec"])
        shape = tuple(int(s) for s in entry["shape"])
        part = lambda p: data[f"{name}{PART_SEPARATOR}{p}"] if f"{name}{PART_SEPARATOR}{p}" in data.files else None  # noqa: E731
        qt = QTensor(part("packed"), part("scale"), part("zero_point"), shape, spec)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: quantized weight {name!r} is corrupt: {exc}") from None
    scale = qt.stored_scale
    if not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
        raise ValueError(f"{path}: quantized weight {name!r} has scales that are not finite and positive")
    return qt


def load_checkpoint(path) -> tuple[GPTConfig, dict, dict]:
    """Read a checkpoint written by ``save_checkpoint``: ``(config, params, meta)``. Never unpickles."""
    with np.load(path, allow_pickle=False) as data:
        if "__header__" not in data.files:
            raise ValueError(f"{path} is not a miniquant checkpoint (no __header__ entry)")
        try:
            header = json.loads(str(data["__header__"]))
            config = GPTConfig(**header["config"])
            quantized = header.get("quantized", {})
            if not isinstance(quantized, dict):
                raise ValueError(f"'quantized' must be an object, got {type(quantized).__name__}")
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
        if isinstance(value, QTensor):
            if value.shape != shape:
                raise ValueError(f"{path}: quantized weight {name!r} must have shape {shape}, got {value.shape}")
        elif value.shape != shape or value.dtype != np.float32 or not np.all(np.isfinite(value)):
            raise ValueError(f"{path}: weight {name!r} must be finite float32 of shape {shape}")
    return config, params, header["meta"]


def load_model(path) -> GPT:
    """A ``GPT`` from a checkpoint file (float or quantized)."""
    config, params, _ = load_checkpoint(path)
    return GPT(config, params)


def load_default() -> GPT:
    """The shipped model (byte-level, trained on stdlib docstrings and arithmetic)."""
    if not os.path.exists(DEFAULT_PATH):
        raise FileNotFoundError(f"the shipped model is missing: {DEFAULT_PATH} (reinstall miniquant)")
    return load_model(DEFAULT_PATH)
