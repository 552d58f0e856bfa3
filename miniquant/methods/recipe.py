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

from ..nn.functional import ACTIVATIONS
from ..quant import QuantSpec
from ..tensor import QTensor, quantize

#: Tensors kept in float unless a recipe says otherwise (patterns in ``fnmatch`` syntax).
DEFAULT_KEEP = ("wte", "wpe", "*.bias", "*ln_*")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Quantize every 2-D weight with ``spec``, except those matching ``keep`` (left in float).

    ``overrides`` maps a tensor-name pattern to another ``QuantSpec``, or to ``None`` to keep it
    in float; the first matching pattern wins. ``activations="int8"`` runs the quantized model
    with its activations rounded to int8 before every quantized matrix (W4A8 / W8A8 kernels;
    ``GPT(..., activations=...)``); it changes no stored byte.
    """

    spec: QuantSpec
    keep: tuple[str, ...] = DEFAULT_KEEP
    overrides: tuple[tuple[str, QuantSpec | None], ...] = ()
    activations: str = "float"

    def __post_init__(self):
        if self.activations not in ACTIVATIONS:
            raise ValueError(f"activations must be 'float' or 'int8', got {self.activations!r}")

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
        extra = ""
        if self.overrides:
            kinds = {("float" if o is None else f"int{o.bits}") for _, o in self.overrides}
            patterns = [pattern for pattern, _ in self.overrides]
            # exact tensor names are counted; wildcard patterns are shown, since one may match many tensors
            what = ",".join(patterns) if any(c in p for p in patterns for c in "*?[") else str(len(patterns))
            extra = f" +{what} at {kinds.pop()}" if len(kinds) == 1 else f" +{what} overrides"
        clip = "" if s.clip == "minmax" else f" {s.clip}"
        act = " +int8 act" if self.activations == "int8" else ""
        return f"int{s.bits} {'sym' if s.scheme == 'symmetric' else 'asym'} {gran}{clip}{extra}{act}"


def make_recipe(bits: int, *, scheme: str = "symmetric", granularity: str | None = None, group_size: int | None = None,
                clip: str = "minmax", scale_dtype="float16", protect=(), protect_bits: int | None = 8,
                activations: str = "float") -> Recipe:
    """A recipe from plain options (what the CLI takes): the default ``keep``, plus ``protect``.

    ``granularity`` defaults to ``"group"`` when ``group_size`` is given, else ``"channel"``.
    Tensors matching a ``protect`` pattern get the same spec at ``protect_bits`` (``None``: float).

    Examples
    --------
    >>> make_recipe(4, group_size=32).label()
    'int4 sym g32'
    >>> make_recipe(3, protect=["h.0.*"]).label()
    'int3 sym channel +h.0.* at int8'
    >>> make_recipe(3, protect=["h.0.attn.c_attn.weight", "h.0.mlp.c_fc.weight"]).label()
    'int3 sym channel +2 at int8'
    >>> make_recipe(4, group_size=128, activations="int8").label()
    'int4 sym g128 +int8 act'
    """
    granularity = granularity or ("group" if group_size is not None else "channel")
    spec = QuantSpec(bits=bits, scheme=scheme, granularity=granularity, group_size=group_size, clip=clip,
                     scale_dtype=scale_dtype)
    protected = None if protect_bits is None else spec.replace(bits=protect_bits)
    return Recipe(spec, overrides=tuple((pattern, protected) for pattern in protect), activations=activations)


def check_recipe(recipe: Recipe, params: dict) -> Recipe:
    """``recipe`` after checking it fits ``params``; ``ValueError`` naming what does not.

    Every override (``protect``) pattern must match a weight matrix, and every group size must
    divide the K of the matrices it applies to.

    Examples
    --------
    >>> params = {"h.0.mlp.c_fc.weight": np.zeros((48, 8), np.float32)}
    >>> check_recipe(make_recipe(4, group_size=32), params)
    Traceback (most recent call last):
    ...
    ValueError: group_size 32 must divide the K of every quantized matrix (K in [48])
    """
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a Recipe, got {type(recipe).__name__}")
    matrices = [k for k, v in params.items() if np.ndim(v) == 2]
    for pattern, _ in recipe.overrides:
        if not any(fnmatch.fnmatchcase(k, pattern) for k in matrices):
            example = next((k for k in matrices if recipe.spec_for(k, params[k]) is not None), None)
            raise ValueError(f"protect pattern {pattern!r} matches no weight matrix (they are named like {example!r})")
    if not recipe.fits(params):
        sizes = sorted({np.shape(v)[0] for k, v in params.items() if recipe.spec_for(k, v) is not None})
        raise ValueError(f"group_size {recipe.spec.group_size} must divide the K of every quantized matrix (K in {sizes})")
    return recipe


def is_quantized(params: dict) -> bool:
    """Whether any tensor of ``params`` is a ``QTensor``."""
    return any(isinstance(v, QTensor) for v in params.values())


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
