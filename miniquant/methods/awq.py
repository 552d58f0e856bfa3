"""AWQ, Activation-aware Weight Quantization (Lin et al., 2023): protect the weights that big inputs multiply.

Observation: a weight row ``w[k]`` matters in proportion to how large its input ``x_k`` is. Scaling
row ``k`` *up* by ``s_k`` before quantization and the input *down* by the same factor leaves the
float layer unchanged, ``x w = (x / s)(s w)``, but shrinks the relative rounding error of the rows
with large ``s_k``. AWQ searches the scales per layer::

    s = mean|x|^alpha / sqrt(max * min)         (one scale per input channel k; alpha on a grid in [0, 1))
    alpha* = argmin || X w - (X / s) Q(s w) ||^2  = argmin tr(D^T diag(1/s) X^T X diag(1/s) D),
             D = s w - Q(s w)                    (computed from X^T X: no activations are stored)

``alpha = 0`` is round-to-nearest, so the search never does worse on this objective. The
division by ``s`` is folded into the operation that produces ``x``, so the model stays exactly
the same function in float (before quantization)::

    ln_1 -> attn.c_attn       LayerNorm gain and bias divided by s
    attn.c_attn (v) -> attn.c_proj   the value columns of c_attn (and their bias) divided by s:
                              attention mixes values linearly, so c_proj sees x / s
    ln_2 -> mlp.c_fc          LayerNorm gain and bias divided by s
    mlp.c_proj                not scaled: its input comes through GELU, which does not commute
                              with a scale (AWQ's reference code inserts an extra scaling
                              operation there; miniquant's GPT has none), so it gets the clipping
                              search only

Then a **clipping search** per block (group of one output column): shrink the block's range
by ``1 - i / n_grid`` (down to ``max_shrink``) and keep, per block, the ratio with the smallest
*output* error ``d^T (X_g^T X_g) d`` on that group's inputs -- not the weight error, as the
``"mse"`` clip of ``quant.clipping`` does. Statistics come from the float model (one pass over the
calibration windows), as in AWQ's reference code. Tests: ``tests/methods/test_awq.py``.
"""
from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from ..quant import QuantSpec, code_dtype, fake_quantize
from ..quant._checks import check_float_array, check_positive_int
from ..quant.affine import quantize_blocks
from ..quant.blocks import params_shape, to_blocks
from ..quant.clipping import mse_search
from ..tensor import QTensor, quantize
from ._checks import require_integer_grid

#: The options of AWQ and their defaults (the reference code's grid of 20).
AWQ_OPTIONS = {"n_grid": 20, "clip_search": True, "max_shrink": 0.5}


def check_awq_options(spec: QuantSpec, *, n_grid=20, clip_search=True, max_shrink=0.5) -> None:
    """``ValueError``/``TypeError`` for invalid options."""
    check_positive_int(n_grid, "n_grid")
    if not isinstance(clip_search, (bool, np.bool_)):
        raise TypeError(f"clip_search must be True or False, got {clip_search!r}")
    if isinstance(max_shrink, bool) or not isinstance(max_shrink, numbers.Real) or not 0 < max_shrink <= 1:
        raise ValueError(f"max_shrink must be a number in (0, 1] (the smallest range ratio tried), got {max_shrink!r}")
    require_integer_grid("awq", spec)
    if spec.axis not in (0, -2):
        raise ValueError(f"AWQ quantizes weights (K, N) in blocks along K: spec.axis must be 0, got {spec.axis}")
    if spec.clip != "minmax" and clip_search:
        raise ValueError(f"AWQ's clipping search replaces the spec's clip={spec.clip!r}: use clip='minmax', "
                         "or clip_search=False to keep the spec's own clipping")


def _check_layer(w, xtx):
    w = check_float_array(w, "w")
    if w.ndim != 2:
        raise ValueError(f"w must be a weight matrix (K, N), got shape {w.shape}")
    xtx = check_float_array(xtx, "xtx")
    if xtx.shape != (w.shape[0], w.shape[0]):
        raise ValueError(f"xtx must have shape (K, K) = {(w.shape[0],) * 2}, got {xtx.shape}")
    return w.astype(np.float64), xtx.astype(np.float64)


def output_error(xtx: np.ndarray, d: np.ndarray) -> float:
    """``|| X d ||^2 = tr(d^T X^T X d)`` for a weight error ``d`` ``(K, N)``."""
    return float(np.sum(d * (xtx @ d)))


@dataclasses.dataclass
class ScaleSearch:
    """The result of ``search_scales``: the scales, the chosen ``alpha``, the error at every grid point."""

    scales: np.ndarray
    alpha: float
    alphas: np.ndarray
    errors: np.ndarray


def awq_scales(abs_mean: np.ndarray, alpha: float) -> np.ndarray:
    """``s = mean|x|^alpha`` normalised by ``sqrt(max(s) min(s))``, with ``mean|x|`` floored at 1e-4 as in the reference."""
    s = np.maximum(np.asarray(abs_mean, dtype=np.float64), 1e-4) ** alpha
    return s / np.sqrt(s.max() * s.min())


def search_scales(w, xtx, abs_mean, spec: QuantSpec, *, n_grid: int = 20) -> ScaleSearch:
    """The per-input-channel scales ``s`` ``(K,)`` of the best ``alpha`` in ``0, 1/n_grid, ...`` (module docstring)."""
    w, xtx = _check_layer(w, xtx)
    abs_mean = check_float_array(abs_mean, "abs_mean")
    if abs_mean.shape != (w.shape[0],):
        raise ValueError(f"abs_mean must have shape (K,) = ({w.shape[0]},), got {abs_mean.shape}")
    alphas = np.arange(n_grid) / n_grid
    errors = np.empty(n_grid)
    for i, alpha in enumerate(alphas):
        s = awq_scales(abs_mean, alpha)
        scaled = w * s[:, None]
        d = scaled - fake_quantize(scaled, spec).astype(np.float64)  # error in the scaled space
        errors[i] = output_error(xtx / np.outer(s, s), d)          # with the inputs X / s
    best = int(np.argmin(errors))                                   # ties: the smallest alpha (RTN first)
    return ScaleSearch(awq_scales(abs_mean, alphas[best]), float(alphas[best]), alphas, errors)


def clip_search_qtensor(w, xtx, spec: QuantSpec, *, n_grid: int = 20, max_shrink: float = 0.5) -> QTensor:
    """Quantize ``w`` choosing, per block, the range ratio with the smallest output error on its inputs."""
    w, xtx = _check_layer(w, xtx)
    K, N = w.shape
    block = spec.block_shape(w.shape)
    G = block[0]                                                    # rows per block (K for channel and tensor)
    n_groups = K // G
    wb = to_blocks(w, block)                                        # [K//G, G, N//b1, b1]
    H_blocks = np.stack([xtx[g * G:(g + 1) * G, g * G:(g + 1) * G] for g in range(n_groups)])   # [n_groups, G, G]

    def output_error_per_block(xb, x_hat_b):                        # d_g^T H_gg d_g, summed over a block's columns
        d = (xb - x_hat_b).reshape(n_groups, G, N)
        err = np.sum(d * np.matmul(H_blocks, d), axis=1)            # [n_groups, N]
        return err.reshape(n_groups, 1, N // block[1], block[1]).sum(axis=3, keepdims=True)

    ratios = tuple(1.0 - i / n_grid for i in range(int(round((1 - max_shrink) * n_grid)) + 1))
    scale, zero = mse_search(wb, spec, ratios, error=output_error_per_block)
    pshape = params_shape(w.shape, block)
    codes = quantize_blocks(wb, scale, zero, spec).reshape(w.shape)
    return QTensor.from_codes(codes.astype(code_dtype(spec)), scale.reshape(pshape).astype(spec.scale_dtype.value_dtype),
                              zero.reshape(pshape).astype(np.int32), spec)


def awq_quantize(w, xtx, spec: QuantSpec, *, clip_search: bool = True, n_grid: int = 20,
                 max_shrink: float = 0.5) -> QTensor:
    """Quantize an (already scaled) weight: the clipping search, or the spec's own choice without it."""
    if clip_search:
        return clip_search_qtensor(w, xtx, spec, n_grid=n_grid, max_shrink=max_shrink)
    return quantize(np.asarray(w, dtype=np.float32), spec)


def scaling_pairs(i: int) -> list[tuple[str, str, str]]:
    """``(weight, how, producer)``: ``how`` is ``"ln"`` (a LayerNorm's gain and bias) or ``"value"`` (c_attn's value part)."""
    p = f"h.{i}."
    return [(p + "attn.c_attn.weight", "ln", p + "ln_1"),
            (p + "attn.c_proj.weight", "value", p + "attn.c_attn"),
            (p + "mlp.c_fc.weight", "ln", p + "ln_2")]


def fold_scales(params: dict, weight: str, how: str, producer: str, s: np.ndarray) -> None:
    """Multiply ``weight``'s rows by ``s`` and divide its input's producer by ``s``, in place (same float function)."""
    params[weight] = (params[weight].astype(np.float64) * s[:, None]).astype(np.float32)
    if how == "ln":
        for part in (".weight", ".bias"):
            params[producer + part] = (params[producer + part].astype(np.float64) / s).astype(np.float32)
    elif how == "value":
        E = s.shape[0]
        w = params[producer + ".weight"].astype(np.float64)
        b = params[producer + ".bias"].astype(np.float64)
        w[:, 2 * E:] /= s                                            # the value columns of [q | k | v]
        b[2 * E:] /= s
        params[producer + ".weight"], params[producer + ".bias"] = w.astype(np.float32), b.astype(np.float32)
    else:  # pragma: no cover - scaling_pairs names only these
        raise ValueError(f"unknown producer kind {how!r}")


def apply_awq(params: dict, config, stats: dict, spec_for, *, n_grid: int = 20, clip_search: bool = True,
              max_shrink: float = 0.5) -> tuple[dict, dict, dict]:
    """AWQ over a model: ``(quantized params, {weight: ScaleSearch}, folded float params)``.

    The folded float params are the model with the scales folded in and nothing quantized (the
    same float function): what the quantized weights approximate.

    ``stats`` are ``InputStats`` of every linear layer from the float model; ``spec_for(name)``
    gives each weight's spec (``None``: stays float, and is not scaled).
    """
    out = dict(params)                          # fold_scales replaces arrays, it never writes into the input's
    searches = {}
    for i in range(config.n_layer):
        for weight, how, producer in scaling_pairs(i):
            spec = spec_for(weight)
            if spec is None:
                continue
            st = stats[weight]
            search = search_scales(out[weight], st.xtx, st.abs_mean, spec, n_grid=n_grid)
            searches[weight] = search
            fold_scales(out, weight, how, producer, search.scales)
    folded = dict(out)
    for name in list(out):
        spec = spec_for(name)
        if spec is None or name not in stats:
            continue
        xtx = stats[name].xtx
        if name in searches:                                         # the inputs are now X / s
            s = searches[name].scales
            xtx = xtx / np.outer(s, s)
        out[name] = awq_quantize(out[name], xtx, spec, clip_search=clip_search, n_grid=n_grid, max_shrink=max_shrink)
    return out, searches, folded


__all__ = ["AWQ_OPTIONS", "ScaleSearch", "apply_awq", "awq_quantize", "awq_scales", "check_awq_options",
           "clip_search_qtensor", "fold_scales", "output_error", "scaling_pairs", "search_scales"]
