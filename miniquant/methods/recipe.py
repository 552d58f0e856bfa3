"""``Recipe``: how to quantize a whole model (``quantize_model`` in ``methods.apply`` applies it).

A recipe names the default ``QuantSpec`` for weight matrices, which tensors stay in float
(by default the embeddings, the LayerNorm gains and all biases: they are looked up or added,
not multiplied, and small), per-tensor overrides (e.g. keep the most sensitive matrix at 8
bits), and the *method* that chooses the codes: ``"rtn"`` (round-to-nearest with the spec's
clipping, the baseline), ``"gptq"`` (calibrated, ``methods.gptq``), ``"awq"`` (calibrated,
``methods.awq``), ``"smoothquant"`` (calibrated, for int8 activations, ``methods.smoothquant``),
``"llm_int8"`` (calibrated outlier features kept in float, ``miniquant.mixed``) or ``"hqq"``
(data-free, ``methods.hqq``), with that method's options. Every method but LLM.int8() produces
the same kind of ``QTensor`` for the same spec, so the kernels, the ledger and checkpoints do not
care which one ran; LLM.int8() produces ``MixedInt8Tensor``\\ s (``miniquant.mixed``), which
they handle too. Tests: ``tests/methods/test_recipe.py``.
"""
from __future__ import annotations

import dataclasses
import fnmatch

import numpy as np

from ..nn.functional import ACTIVATIONS
from ..quant import QuantSpec
from ..quant.mx import MX_FORMATS
from ..mixed import is_quantized_weight
from .awq import AWQ_OPTIONS, check_awq_options
from .gptq import GPTQ_OPTIONS, check_gptq_options
from .hqq import HQQ_OPTIONS, check_hqq_options
from .llm_int8 import LLM_INT8_OPTIONS, check_llm_int8_options
from .smoothquant import SMOOTHQUANT_OPTIONS, check_smoothquant_options

#: Tensors kept in float unless a recipe says otherwise (patterns in ``fnmatch`` syntax).
DEFAULT_KEEP = ("wte", "wpe", "*.bias", "*ln_*")
#: The tied output head and token embedding: quantized only when a recipe's ``head`` asks.
TIED_HEAD = "wte"


@dataclasses.dataclass(frozen=True)
class Method:
    """One way of choosing the codes: its options with their defaults, whether it needs calibration data."""

    name: str
    defaults: dict
    needs_calibration: bool
    check: object = None  # check(spec, **options) raises on options that are invalid or contradict the spec


#: The methods a ``Recipe`` can name, by name.
METHODS = {
    "rtn": Method("rtn", {}, False),
    "gptq": Method("gptq", GPTQ_OPTIONS, True, check_gptq_options),
    "hqq": Method("hqq", HQQ_OPTIONS, False, check_hqq_options),
    "awq": Method("awq", AWQ_OPTIONS, True, check_awq_options),
    "smoothquant": Method("smoothquant", SMOOTHQUANT_OPTIONS, True, check_smoothquant_options),
    "llm_int8": Method("llm_int8", LLM_INT8_OPTIONS, True, check_llm_int8_options),
}


def _check_method(method: str, options, specs) -> tuple[tuple[str, object], ...]:
    """``options`` as sorted ``(name, value)`` pairs after checking them against ``method`` and every spec."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    options = dict(options or ())
    defaults = METHODS[method].defaults
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        takes = ", ".join(defaults) if defaults else "no options"
        raise ValueError(f"method {method!r} has no option {unknown[0]!r} (it takes {takes})")
    check = METHODS[method].check
    if check is not None:
        for spec in specs:
            check(spec, **{**defaults, **options})
    return tuple(sorted(options.items()))


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Quantize every 2-D weight with ``spec``, except those matching ``keep`` (left in float).

    ``overrides`` maps a tensor-name pattern to another ``QuantSpec``, or to ``None`` to keep it
    in float; the first matching pattern wins. ``activations="int8"`` runs the quantized model
    with its activations rounded to int8 before every quantized matrix (W4A8 / W8A8 kernels;
    ``GPT(..., activations=...)``); it changes no stored byte. ``method`` names one of
    ``METHODS`` and ``options`` (a dict, kept as sorted pairs) overrides its defaults; options
    that contradict a spec of the recipe are refused here.

    ``head`` (``None``: float) quantizes the tied output head, the token embedding ``wte``
    ``[V, E]``, with that spec along its rows (``axis=1``, the ``E`` that the logits ``x @ wte.T``
    sum over), as llama.cpp stores ``output`` and ``token_embd`` quantized: the model then multiplies
    the logits with the quantized matrix and dequantizes embedding rows on lookup. It is the largest
    matrix of a GPT-2 (38 M of GPT-2 small's 124 M weights) and every token reads it whole.
    Round-to-nearest only: the calibrated methods quantize the linear layers.
    """

    spec: QuantSpec
    keep: tuple[str, ...] = DEFAULT_KEEP
    overrides: tuple[tuple[str, QuantSpec | None], ...] = ()
    activations: str = "float"
    method: str = "rtn"
    options: tuple = ()
    head: QuantSpec | None = None

    def __post_init__(self):
        if self.activations not in ACTIVATIONS:
            raise ValueError(f"activations must be 'float' or 'int8', got {self.activations!r}")
        if not isinstance(self.spec, QuantSpec):
            raise TypeError(f"spec must be a QuantSpec, got {type(self.spec).__name__}")
        if self.head is not None:
            if not isinstance(self.head, QuantSpec):
                raise TypeError(f"head must be a QuantSpec or None, got {type(self.head).__name__}")
            if self.method != "rtn":
                raise ValueError(f"head= quantizes the tied output head by round-to-nearest; method {self.method!r} "
                                 "quantizes the linear layers only (leave head=None)")
            object.__setattr__(self, "head", self.head.replace(axis=1))
        specs = [self.spec] + [o for _, o in self.overrides if o is not None] + [self.head] * (self.head is not None)
        object.__setattr__(self, "options", _check_method(self.method, self.options, specs))
        formats = sorted({s.format for s in specs} - {"int"})   # each method's own check refuses formats it cannot use
        if formats and self.activations == "int8":
            raise ValueError(f"activations='int8' runs the integer kernels (W4A8, W8A8); format {formats[0]!r} has none")
        if self.method == "smoothquant" and self.activations != "int8":
            raise ValueError("SmoothQuant makes activations easier to quantize: it needs activations='int8' (W8A8, W4A8)")

    @property
    def needs_calibration(self) -> bool:
        """Whether ``quantize_model`` needs calibration token ids for this recipe's method."""
        return METHODS[self.method].needs_calibration

    def method_options(self) -> dict:
        """Every option of the method: its defaults updated with the recipe's ``options``."""
        return {**METHODS[self.method].defaults, **dict(self.options)}

    def spec_for(self, name: str, value) -> QuantSpec | None:
        """The spec for tensor ``name``, or ``None`` if it stays in float (vectors always do).

        ``"wte"`` gets ``head`` (along ``axis=1``) whatever ``keep`` and ``overrides`` say.
        """
        if np.ndim(value) != 2:
            return None
        if name == TIED_HEAD:
            return self.head
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
        gran = s.granularity_label
        extra = ""
        if self.overrides:
            kinds = {("float" if o is None else f"int{o.bits}") for _, o in self.overrides}
            patterns = [pattern for pattern, _ in self.overrides]
            # exact tensor names are counted; wildcard patterns are shown, since one may match many tensors
            what = ",".join(patterns) if any(c in p for p in patterns for c in "*?[") else str(len(patterns))
            extra = f" +{what} at {kinds.pop()}" if len(kinds) == 1 else f" +{what} overrides"
        clip = "" if s.clip == "minmax" else f" {s.clip}"
        act = " +int8 act" if self.activations == "int8" else ""
        method = "" if self.method == "rtn" else f" {self.method}"
        changed = {k: v for k, v in self.options if METHODS[self.method].defaults.get(k) != v}
        if changed:
            method += "(" + ",".join(f"{k}={v}" for k, v in changed.items()) + ")"
        head = ""
        if self.head is not None:
            h = self.head
            same_blocks = h.is_mx or h.granularity_label == gran
            head = " +head" if h.replace(axis=0) == s else f" +head {_kind(h)}{'' if same_blocks else ' ' + h.granularity_label}"
        if s.is_mx:                       # blocks of 32 and E8M0 scales are the format's own
            return f"{_kind(s)}{clip}{extra}{head}{method}{act}"
        scales = " dq" if s.double_quant else {"bfloat16": " bf16", "e8m0": " e8m0"}.get(s.scale_dtype.name, "")
        return f"{_kind(s)} {gran}{scales}{clip}{extra}{head}{method}{act}"


def _kind(s: QuantSpec) -> str:
    """``"int4 sym"``, ``"nf4"``, ``"mxfp4"``: a spec's grid, as a label starts."""
    return f"int{s.bits} {'sym' if s.scheme == 'symmetric' else 'asym'}" if s.format == "int" else s.format


def make_recipe(bits: int | None = None, *, format: str = "int", scheme: str = "symmetric", granularity: str | None = None, group_size: int | None = None,
                clip: str = "minmax", scale_dtype=None, double_quant: bool = False, protect=(),
                protect_bits: int | None = 8, activations: str = "float", method: str = "rtn", head=None,
                **options) -> Recipe:
    """A recipe from plain options (what the CLI takes): the default ``keep``, plus ``protect``.

    ``granularity`` defaults to ``"group"`` when ``group_size`` is given, else ``"channel"``.
    Tensors matching a ``protect`` pattern get the same spec at ``protect_bits`` (``None``: float).
    ``method`` and its ``options`` as keywords (``damp=0.1``, ``act_order=True``): see ``METHODS``.
    ``format`` names an element format (``"nf4"``, ``"fp8_e4m3"``, ...; ``bits`` then follows from it)
    or an MX format (``"mxfp4"``: blocks of 32 and E8M0 scales, so no granularity).
    ``scale_dtype`` defaults to float16, float32 with ``double_quant`` (QLoRA's second level) and E8M0
    for the MX formats. ``head`` quantizes the tied output head (``Recipe.head``): ``"same"`` with the
    recipe's spec, an integer with the integer grid at that many bits (the recipe's granularity and
    scales; 8 bits per channel, one scale per token row, which the W8A8 kernel multiplies too;
    llama.cpp's mixes keep ``output`` at more bits than the layers), ``None`` (default) float.

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
    >>> make_recipe(4, group_size=128, method="gptq").label()
    'int4 sym g128 gptq'
    >>> make_recipe(3, method="gptq", act_order=True).label()
    'int3 sym channel gptq(act_order=True)'
    >>> make_recipe(format="nf4", group_size=64).label()
    'nf4 g64'
    >>> make_recipe(format="nf4", group_size=64, double_quant=True).label()
    'nf4 g64 dq'
    >>> make_recipe(format="mxfp4").label()
    'mxfp4'
    >>> make_recipe(4, group_size=128, head="same").label()
    'int4 sym g128 +head'
    >>> make_recipe(4, group_size=128, head=8).label()
    'int4 sym g128 +head int8 sym channel'
    """
    mx = format in MX_FORMATS
    if not mx:
        granularity = granularity or ("group" if group_size is not None else "channel")
    if scale_dtype is None and not mx:
        scale_dtype = "float32" if double_quant else "float16"
    spec = QuantSpec(bits=bits, scheme=scheme, granularity=granularity, group_size=group_size, clip=clip,
                     scale_dtype=scale_dtype, format=format, double_quant=double_quant)
    protected = None
    if protect_bits is not None:   # protected matrices: the integer grid at protect_bits, single-level scales
        protected = spec.replace(bits=protect_bits, format="int", double_quant=False,
                                 scale_dtype="float16" if mx or double_quant else spec.scale_dtype)
    if head is None or head == "same":
        head_spec = None if head is None else spec
    elif isinstance(head, bool) or not isinstance(head, (int, np.integer)):
        raise ValueError(f"head must be None (float), 'same' or a bit-width, got {head!r}")
    else:                          # the integer grid at head bits, single-level scales, like protect_bits
        head_spec = spec.replace(bits=int(head), format="int", double_quant=False,
                                 scale_dtype="float16" if mx or double_quant else spec.scale_dtype)
        if head == 8:              # 8 bits: one scale per token row, which W8A8 multiplies too
            head_spec = head_spec.replace(granularity="channel", group_size=None)
    return Recipe(spec, overrides=tuple((pattern, protected) for pattern in protect), activations=activations,
                  method=method, options=options, head=head_spec)


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
    """Whether any tensor of ``params`` is a quantized weight (``QTensor``, ``MixedInt8Tensor``)."""
    return any(is_quantized_weight(v) for v in params.values())
