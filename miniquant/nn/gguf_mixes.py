"""Which block type each tensor of a ``gpt2`` model gets, the way ``llama-quantize`` chooses it.

``llama-quantize model.gguf out.gguf Q4_K_M`` does not write every matrix in Q4_K: its
``llama_tensor_get_type`` (``src/llama-quant.cpp``) gives some tensors more bits. For the ``gpt2``
architecture (one fused ``attn_qkv`` per layer, which it treats as the value projection; a head tied to
``token_embd``; no experts, no grouped-query attention) and the types miniquant writes, the rules are:

* **token_embd** (the tied output): Q6_K, or Q8_0 when the type asked for is Q8_0 or its rows are not a
  whole number of that type's blocks;
* **attn_qkv** of layer ``i`` of ``n``: Q2_K -> Q3_K; Q3_K_M -> Q5_K for the first two layers, else Q4_K;
  Q3_K_L -> Q5_K; Q4_K_S -> Q5_K for the first four; Q4_K_M and Q5_K_M -> Q6_K where ``use_more_bits``;
* **ffn_down** of layer ``i``: Q2_K -> Q3_K; Q3_K_M -> Q5_K for ``i < n/16``, else Q4_K; Q3_K_L -> Q5_K;
  Q4_K_S -> Q5_K for ``i < n/8``; Q4_K_M and Q5_K_M -> Q6_K where ``use_more_bits``;
* **attn_output**: Q2_K -> Q3_K; Q3_K_M -> Q4_K; Q3_K_L -> Q5_K;
* every other matrix (``ffn_up``) the type asked for; vectors and ``position_embd`` stay F32;
* then, a matrix whose rows are not a multiple of its type's block falls back: Q2_K and Q3_K -> Q4_0,
  Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0 (llama.cpp 0.3.36; older versions used IQ4_NL for the first two).

``use_more_bits(i, n) = i < n/8 or i >= 7n/8 or (i - n/8) % 3 == 2`` (integer division). These rules were
checked tensor by tensor against ``llama_model_quantize`` of llama-cpp-python 0.3.36 on the shipped model
and on larger ``gpt2`` shapes (``tests/nn/data/llama_quantize_types.json``, written by
``tests/nn/data/make_llama_quantize_types.py``).
"""
from __future__ import annotations

from ..formats import gguf as blocks

#: llama-quantize's file types: name -> (the type of its plain matrices, ``general.file_type``).
FILE_TYPES = {
    "F32": ("F32", "ALL_F32"), "F16": ("F16", "MOSTLY_F16"),
    "Q8_0": ("Q8_0", "MOSTLY_Q8_0"), "Q4_0": ("Q4_0", "MOSTLY_Q4_0"), "Q4_1": ("Q4_1", "MOSTLY_Q4_1"),
    "Q5_0": ("Q5_0", "MOSTLY_Q5_0"), "Q5_1": ("Q5_1", "MOSTLY_Q5_1"), "Q2_K": ("Q2_K", "MOSTLY_Q2_K"),
    "Q3_K_S": ("Q3_K", "MOSTLY_Q3_K_S"), "Q3_K_M": ("Q3_K", "MOSTLY_Q3_K_M"), "Q3_K_L": ("Q3_K", "MOSTLY_Q3_K_L"),
    "Q4_K_S": ("Q4_K", "MOSTLY_Q4_K_S"), "Q4_K_M": ("Q4_K", "MOSTLY_Q4_K_M"),
    "Q5_K_S": ("Q5_K", "MOSTLY_Q5_K_S"), "Q5_K_M": ("Q5_K", "MOSTLY_Q5_K_M"), "Q6_K": ("Q6_K", "MOSTLY_Q6_K"),
}
#: llama-quantize's short names: Q3_K is Q3_K_M, Q4_K is Q4_K_M, Q5_K is Q5_K_M.
ALIASES = {"Q3_K": "Q3_K_M", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M"}
#: ``llama-quantize``'s fallback when a row is not a multiple of a K-quant's 256.
K_FALLBACK = {"Q2_K": "Q4_0", "Q3_K": "Q4_0", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}


def file_type(type_name: str) -> str:
    """``type_name`` with llama-quantize's aliases resolved, or a ``ValueError`` listing the names."""
    name = ALIASES.get(type_name, type_name)
    if name not in FILE_TYPES:
        raise ValueError(f"type_name must be one of {sorted(FILE_TYPES) + sorted(ALIASES)}, got {type_name!r}")
    return name


def use_more_bits(i_layer: int, n_layers: int) -> bool:
    """llama-quantize's choice of layers that get more bits: the first and last eighths, and every third between."""
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


def tensor_types(shapes: dict[str, tuple[int, ...]], type_name: str, *, pure: bool = False) -> dict[str, str]:
    """The type of every tensor (llama.cpp names -> NumPy shapes, in file order) for ``type_name``.

    ``pure=True``: every matrix in the plain type (with the fallbacks), no extra bits anywhere.
    """
    ftype = file_type(type_name)
    base = FILE_TYPES[ftype][0]
    n_layer = sum(1 for name in shapes if name.endswith("attn_qkv.weight"))
    counters = {"attn_qkv": 0, "ffn_down": 0}
    chosen = {}
    for name, shape in shapes.items():
        if len(shape) != 2 or name == "position_embd.weight" or base in ("F32", "F16"):
            chosen[name] = "F32" if len(shape) != 2 or name == "position_embd.weight" else base
            continue
        kind = name.split(".")[-2] if name.startswith("blk.") else name.split(".")[0]
        t = base if pure else _more_bits(kind, ftype, base, shape, counters, n_layer)
        if kind in counters:
            counters[kind] += 1
        chosen[name] = _fit(name, shape, t)
    return chosen


def _more_bits(kind: str, ftype: str, base: str, shape, counters, n_layer: int) -> str:
    """``llama_tensor_get_type`` for the gpt2 tensors (module docstring), before the fallback."""
    if kind == "token_embd":
        if base == "Q8_0" or shape[1] % blocks.block_type(base).block_size:
            return "Q8_0"
        return "Q6_K"
    i = counters.get(kind, 0)
    if kind == "attn_qkv":
        rules = {"Q2_K": "Q3_K", "Q3_K_M": "Q5_K" if i < 2 else "Q4_K", "Q3_K_L": "Q5_K",
                 "Q4_K_S": "Q5_K" if i < 4 else base}
        if ftype in ("Q4_K_M", "Q5_K_M") and use_more_bits(i, n_layer):
            return "Q6_K"
        return rules.get(ftype, base)
    if kind == "ffn_down":
        rules = {"Q2_K": "Q3_K", "Q3_K_M": "Q5_K" if i < n_layer // 16 else "Q4_K", "Q3_K_L": "Q5_K",
                 "Q4_K_S": "Q5_K" if i < n_layer // 8 else base}
        if ftype in ("Q4_K_M", "Q5_K_M") and use_more_bits(i, n_layer):
            return "Q6_K"
        return rules.get(ftype, base)
    if kind == "attn_output":
        return {"Q2_K": "Q3_K", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K"}.get(ftype, base)
    return base


def _fit(name: str, shape, t: str) -> str:
    """``t``, or llama-quantize's fallback when the rows of ``shape`` are not a multiple of ``t``'s block."""
    K = shape[1]
    if K % blocks.block_type(t).block_size == 0:
        return t
    fallback = K_FALLBACK.get(t)
    if fallback is None or K % blocks.block_type(fallback).block_size:
        raise ValueError(f"{name}: rows of {K} weights do not fit {t}'s blocks of {blocks.block_type(t).block_size}, "
                         "nor any fallback type's (GGUF rows must be a multiple of 32)")
    return fallback
