"""``Recipe``: how to quantize a whole model, and ``quantize_model`` to apply it.

A recipe names the default ``QuantSpec`` for weight matrices, which tensors stay in float
(by default the embeddings, the LayerNorm gains and all biases: they are looked up or added,
not multiplied, and small), and per-tensor overrides (e.g. keep the most sensitive matrix at 8
bits). Round-to-nearest with the core's clipping options is the baseline method; later methods
(GPTQ, AWQ) produce the same kind of dict. Tests: ``tests/methods/test_recipe.py``.
"""
from __future__ import annotations

import dataclasses
import fnmatch

import numpy as np

from ..quant import QuantSpec
from ..tensor import QTensor, quantize

#: Tensors kept in float unless a recipe says otherwise (patterns in ``fnmatch`` syntax).
DEFAULT_KEEP = ("wte", "wpe", "*.bias", "*ln_*")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Quantize every 2-D weight with ``spec``, except those matching ``keep`` (left in float).

    ``overrides`` maps a tensor-name pattern to another ``QuantSpec``, or to ``None`` to keep it
    in float; the first matching pattern wins.
    """

    spec: QuantSpec
    keep: tuple[str, ...] = DEFAULT_KEEP
    overrides: tuple[tuple[str, QuantSpec | None], ...] = ()

    def spec_for(self, name: str, value) -> QuantSpec | None:
        """The spec for tensor ``name``, or ``None`` if it stays in float (vectors always do)."""
        if np.ndim(value) != 2:
            return None
        for pattern, spec in self.overrides:
            if fnmatch.fnmatchcase(name, pattern):
                return spec
        if any(fnmatch.fnmatchcase(name, p) for p in self.keep):
            return None
        return self.spec

    def fits(self, params: dict) -> bool:
        """Whether every group size divides the K of the matrix it applies to."""
        for name, value in params.items():
            spec = self.spec_for(name, value)
            if spec is not None and spec.granularity == "group" and np.shape(value)[spec.axis] % spec.group_size:
                return False
        return True

    def label(self) -> str:
        s = self.spec
        gran = {"tensor": "tensor", "channel": "channel"}.get(s.granularity, f"g{s.group_size}")
        extra = f" +{len(self.overrides)} overrides" if self.overrides else ""
        clip = "" if s.clip == "minmax" else f" {s.clip}"
        return f"int{s.bits} {'sym' if s.scheme == 'symmetric' else 'asym'} {gran}{clip}{extra}"


def quantize_model(params: dict, recipe: Recipe) -> dict:
    """A new params dict with every selected weight replaced by a ``QTensor`` (the input is not changed)."""
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a Recipe, got {type(recipe).__name__}")
    out = {}
    for name, value in params.items():
        spec = recipe.spec_for(name, value)
        if spec is None or isinstance(value, QTensor):
            out[name] = value
        else:
            out[name] = quantize(np.asarray(value, dtype=np.float32), spec)
    return out


def fake_quantize_model(params: dict, recipe: Recipe) -> dict:
    """Like ``quantize_model`` but dequantized back to float32: same numbers, plain NumPy matmuls (for checking)."""
    return {k: (v.dequantize() if isinstance(v, QTensor) else v) for k, v in quantize_model(params, recipe).items()}
