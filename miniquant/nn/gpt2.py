"""Loading a Hugging Face GPT-2 checkpoint directory into the NumPy ``GPT``.

A directory with ``config.json`` and ``model.safetensors`` (keys with or without the
``transformer.`` prefix; ``wte.weight``/``wpe.weight``; Conv1D weights already stored as
``(in, out)``, which is our ``(K, N)``). The attention mask buffers (``attn.bias``,
``attn.masked_bias``) are skipped and a separate ``lm_head.weight`` must equal the tied
embedding. Nothing is downloaded: the user points at a directory.
Tests: ``tests/nn/test_gpt2.py`` (on a tiny checkpoint the test writes).
"""
from __future__ import annotations

import json
import os

import numpy as np

from ..files import check_input_file
from .config import GPTConfig
from .gpt import GPT, expected_shapes
from .safetensors import load_safetensors


def gpt2_config(config_json: dict) -> GPTConfig:
    """Our ``GPTConfig`` from a Hugging Face GPT-2 ``config.json`` dict (sizes must be integers: 16.9 is refused)."""
    if not isinstance(config_json, dict):
        raise ValueError(f"config.json must hold a JSON object, got {type(config_json).__name__}")
    fields = {"vocab_size": "vocab_size", "n_ctx": "n_positions" if "n_positions" in config_json else "n_ctx",
              "n_embd": "n_embd", "n_head": "n_head", "n_layer": "n_layer"}
    sizes = {}
    for ours, theirs in fields.items():
        if theirs not in config_json:
            raise ValueError(f"config.json is missing the GPT-2 field {theirs!r}")
        value = config_json[theirs]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"config.json: {theirs} must be an integer, got {value!r}")
        sizes[ours] = value
    eps = config_json.get("layer_norm_epsilon", 1e-5)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        raise ValueError(f"config.json: layer_norm_epsilon must be a number, got {eps!r}")
    return GPTConfig(**sizes, layer_norm_eps=float(eps))


def load_gpt2(directory) -> GPT:
    """A ``GPT`` from a Hugging Face GPT-2 checkpoint directory (``config.json`` + ``model.safetensors``)."""
    config_path = os.path.join(directory, "config.json")
    weights_path = os.path.join(directory, "model.safetensors")
    for path in (config_path, weights_path):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{directory} is not a GPT-2 checkpoint directory: {os.path.basename(path)} is missing")
    try:
        with open(check_input_file(config_path, name="config.json"), encoding="utf-8") as fh:
            config = gpt2_config(json.load(fh))
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise ValueError(f"{config_path}: {exc}") from None
    raw = load_safetensors(weights_path)
    params, head = {}, None
    for key, value in raw.items():
        name = key[len("transformer."):] if key.startswith("transformer.") else key
        if name.endswith(("attn.bias", "attn.masked_bias")) and value.ndim != 1:
            continue  # causal-mask buffers of older checkpoints, not weights
        if name == "lm_head.weight":
            head = value
            continue
        name = {"wte.weight": "wte", "wpe.weight": "wpe"}.get(name, name)
        if not np.issubdtype(value.dtype, np.floating):
            raise ValueError(f"{weights_path}: weight {key!r} must be floating point, got {value.dtype}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{weights_path}: weight {key!r} holds NaN or Inf")
        with np.errstate(over="raise"):
            try:
                params[name] = value.astype(np.float32)
            except FloatingPointError:
                raise ValueError(f"{weights_path}: weight {key!r} holds values beyond float32's range") from None
    expected = expected_shapes(config)
    unknown = sorted(set(params) - set(expected))
    missing = sorted(set(expected) - set(params))
    if unknown or missing:
        raise ValueError(f"{weights_path}: unknown keys {unknown[:5]}, missing keys {missing[:5]}")
    if head is not None and (head.shape != params["wte"].shape or not np.array_equal(head.astype(np.float32), params["wte"])):
        raise ValueError(f"{weights_path}: lm_head.weight differs from the token embedding; only tied heads are supported")
    return GPT(config, params)
