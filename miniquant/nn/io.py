"""Weights on disk: ``.npz`` checkpoints (never unpickled) and the shipped default model.

A checkpoint holds one float32 array per weight, named as in ``gpt.expected_shapes``, plus a
``__header__`` entry: a JSON string with the ``GPTConfig`` and free-form metadata (training
command, seed, losses). Reading uses ``allow_pickle=False`` and checks every name, shape,
dtype and value, so a corrupt or hostile file gives a clear ``ValueError``.
Tests: ``tests/nn/test_io.py``.
"""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from .config import GPTConfig
from .gpt import GPT, expected_shapes

#: The model the project trains and ships (see docs/model-card.md).
DEFAULT_PATH = os.path.join(os.path.dirname(__file__), "weights", "default.npz")


def save_checkpoint(path, config: GPTConfig, params: dict, meta: dict | None = None) -> None:
    """Write ``params`` (float32) with the config and ``meta`` as JSON into one ``.npz`` file."""
    header = json.dumps({"config": dataclasses.asdict(config), "meta": meta or {}})
    arrays = {name: np.asarray(value, dtype=np.float32) for name, value in params.items()}
    np.savez(path, __header__=np.array(header), **arrays)


def load_checkpoint(path) -> tuple[GPTConfig, dict, dict]:
    """Read a checkpoint written by ``save_checkpoint``: ``(config, params, meta)``. Never unpickles."""
    with np.load(path, allow_pickle=False) as data:
        if "__header__" not in data.files:
            raise ValueError(f"{path} is not a miniquant checkpoint (no __header__ entry)")
        try:
            header = json.loads(str(data["__header__"]))
            config = GPTConfig(**header["config"])
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path} has a corrupt header: {exc}") from None
        params = {name: data[name] for name in data.files if name != "__header__"}
    expected = expected_shapes(config)
    if set(params) != set(expected):
        raise ValueError(f"{path}: weights do not match the config (missing {sorted(set(expected) - set(params))[:3]}, "
                         f"unknown {sorted(set(params) - set(expected))[:3]})")
    for name, shape in expected.items():
        if params[name].shape != shape or params[name].dtype != np.float32 or not np.all(np.isfinite(params[name])):
            raise ValueError(f"{path}: weight {name!r} must be finite float32 of shape {shape}")
    return config, params, header["meta"]


def load_model(path) -> GPT:
    """A ``GPT`` from a checkpoint file."""
    config, params, _ = load_checkpoint(path)
    return GPT(config, params)


def load_default() -> GPT:
    """The shipped model (byte-level, trained on stdlib docstrings and arithmetic)."""
    if not os.path.exists(DEFAULT_PATH):
        raise FileNotFoundError(f"the shipped model is missing: {DEFAULT_PATH} (reinstall miniquant)")
    return load_model(DEFAULT_PATH)
