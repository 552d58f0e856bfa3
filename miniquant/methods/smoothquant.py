"""SmoothQuant (Xiao et al., 2022): move the difficulty of quantizing activations into the weights.

Problem: with int8 activations (W8A8) every token's row ``x`` gets one scale, ``max|x| / 127``.
Large language models have a few input channels whose values are 10-100x larger than the
rest, in every token; they set that scale and the ordinary channels are left with a handful of
codes. Weights have no such outliers. SmoothQuant divides each input channel ``j`` by

    s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)          (alpha = 0.5: split the difficulty evenly)

and multiplies row ``j`` of the weight by it: ``x w = (x / s)(s w)``, the same float function.
``max|X_j|`` is the largest ``|x_j|`` over the calibration rows (``InputStats.abs_max``),
``max|W_j|`` the largest ``|w[j, :]|``; ``s`` is floored at 1e-5 as in the reference code. As
in the paper, the division is folded into the LayerNorm in front of ``attn.c_attn`` and
``mlp.c_fc`` (``awq.fold_scales``), whose inputs are the ones with outlier channels; then
every weight is quantized round-to-nearest and the model runs with int8 activations.
``outlier_ratio`` (largest per-channel ``max|x|`` over the median one) says whether a model
needs it. Tests: ``tests/methods/test_smoothquant.py``.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..quant import QuantSpec
from ..quant._checks import check_float_array
from ..tensor import quantize
from .awq import fold_scales

#: The options of SmoothQuant and their defaults (the paper's alpha for most models).
SMOOTHQUANT_OPTIONS = {"alpha": 0.5}


def check_smoothquant_options(spec: QuantSpec, *, alpha=0.5) -> None:
    """``ValueError`` for an ``alpha`` outside ``[0, 1]``."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1] (the share of the difficulty moved to the weights), got {alpha!r}")


def smoothing_scales(act_max, w, alpha: float = 0.5) -> np.ndarray:
    """``s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)`` ``(K,)`` for a weight ``w`` ``(K, N)``, floored at 1e-5.

    Examples
    --------
    >>> w = np.array([[1.0, -2.0], [0.5, 0.5]])
    >>> smoothing_scales(np.array([16.0, 1.0]), w, alpha=0.5)    # sqrt(16 / 2), sqrt(1 / 0.5)
    array([2.82842712, 1.41421356])
    """
    act_max = check_float_array(act_max, "act_max").astype(np.float64)
    w = check_float_array(w, "w").astype(np.float64)
    if w.ndim != 2 or act_max.shape != (w.shape[0],):
        raise ValueError(f"act_max must have shape (K,) for w of shape (K, N), got {act_max.shape} and {w.shape}")
    w_max = np.abs(w).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = act_max**alpha / w_max ** (1.0 - alpha)
    s = np.where(np.isfinite(s), s, 1.0)            # an all-zero row or input: nothing to move
    return np.maximum(s, 1e-5)


def smoothed_layers(i: int) -> list[tuple[str, str, str]]:
    """The weights SmoothQuant smooths in block ``i``, with the LayerNorm each one's division goes into."""
    p = f"h.{i}."
    return [(p + "attn.c_attn.weight", "ln", p + "ln_1"), (p + "mlp.c_fc.weight", "ln", p + "ln_2")]


def smooth_model(params: dict, config, stats: dict, *, alpha: float = 0.5, names=None) -> tuple[dict, dict]:
    """``(float params with the scales folded in, {weight: s})``; the float function is unchanged.

    ``stats``: ``InputStats`` of the smoothed layers from the float model. ``names``: the weights to
    smooth (default: every ``smoothed_layers`` weight).
    """
    out = dict(params)                          # fold_scales replaces arrays, it never writes into the input's
    scales = {}
    for i in range(config.n_layer):
        for weight, how, producer in smoothed_layers(i):
            if names is not None and weight not in names:
                continue
            s = smoothing_scales(stats[weight].abs_max, out[weight], alpha)
            fold_scales(out, weight, how, producer, s)
            scales[weight] = s
    return out, scales


def apply_smoothquant(params: dict, config, stats: dict, spec_for, *, alpha: float = 0.5) -> tuple[dict, dict, dict]:
    """Smooth, then quantize every selected weight round-to-nearest: ``(params, {weight: s}, smoothed float params)``."""
    selected = {n for n in params if spec_for(n) is not None}
    smoothed, scales = smooth_model(params, config, stats, alpha=alpha, names=selected)
    out = dict(smoothed)
    for name in selected:
        out[name] = quantize(np.asarray(smoothed[name], dtype=np.float32), spec_for(name))
    return out, scales, smoothed
