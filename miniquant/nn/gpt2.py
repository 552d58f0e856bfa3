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

from .config import GPTConfig
from .gpt import GPT, expected_shapes
from .safetensors import load_safetensors


def gpt2_config(config_json: dict) -> GPTConfig:
    """Our ``GPTConfig`` from a Hugging Face GPT-2 ``config.json`` dict."""
    try:
        return GPTConfig(
            vocab_size=int(config_json["vocab_size"]), n_ctx=int(config_json.get("n_positions", config_json.get("n_ctx"))),
            n_embd=int(config_json["n_embd"]), n_head=int(config_json["n_head"]), n_layer=int(config_json["n_layer"]),
            layer_norm_eps=float(config_json.get("layer_norm_epsilon", 1e-5)),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"config.json is missing a GPT-2 field: {exc}") from None


def load_gpt2(directory) -> GPT:
    """A ``GPT`` from a Hugging Face GPT-2 checkpoint directory (``config.json`` + ``model.safetensors``)."""
    config_path = os.path.join(directory, "config.json")
    weights_path = os.path.join(directory, "model.safetensors")
    for path in (config_path, weights_path):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{directory} is not a GPT-2 checkpoint directory: {os.path.basename(path)} is missing")
    with open(config_path, encoding="utf-8") as fh:
        config = gpt2_config(json.load(fh))
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
        params[name] = value.astype(np.float32)
    expected = expected_shapes(config)
    unknown = sorted(set(params) - set(expected))
    missing = sorted(set(expected) - set(params))
    if unknown or missing:
        raise ValueError(f"{weights_path}: unknown keys {unknown[:5]}, missing keys {missing[:5]}")
    if head is not None and (head.shape != params["wte"].shape or not np.array_equal(head.astype(np.float32), params["wte"])):
        raise ValueError(f"{weights_path}: lm_head.weight differs from the token embedding; only tied heads are supported")
    return GPT(config, params)
