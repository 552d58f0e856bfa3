"""Calibration: what the careful methods need to know about every linear layer's inputs.

A calibrated method (GPTQ, AWQ, SmoothQuant, LLM.int8) looks at the activations ``x`` ``(rows,
K)`` that reach a weight ``w`` ``(K, N)``. They come from running the model on *calibration
windows*: token windows drawn from the **training** split (``calibration_windows``), never from
the held-out text and problems that evaluation measures on. For each layer ``InputStats``
streams, batch by batch, in float64::

    rows       the number of input rows seen (tokens x windows)
    xtx        sum over rows of x^T x, shape (K, K)   (GPTQ's Hessian is H = 2 xtx)
    abs_max    max over rows of |x|, shape (K,)       (SmoothQuant, LLM.int8 outliers)
    abs_sum    sum over rows of |x|, shape (K,)       (AWQ: abs_mean = abs_sum / rows)

so memory is bounded by ``K x K`` per observed layer whatever the calibration size. The
statistics are taken at the one place where every linear layer runs (``GPT._linear`` calls
``GPT.observer``); ``collect_input_stats`` attaches an observer, runs the windows through the
model, and stops each forward pass as soon as the layers it was asked about have been seen.

Sequential calibration (``sequential_stages``): a method that quantizes layer after layer
collects each stage's statistics from the model whose earlier layers are *already quantized*,
so every layer compensates for the error of those before it (as GPTQ's reference code does).
The stages of a block are the groups of weights that share one input: ``c_attn``, the
attention's ``c_proj``, ``c_fc``, the MLP's ``c_proj``. Tests: ``tests/methods/test_calibration.py``.
"""
from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from ..nn.gpt import GPT
from ..nn.train import streams
from ..quant._checks import check_choice, check_positive_int

#: Where calibration windows come from (all from the training split).
CALIBRATION_SOURCES = ("mix", "docs", "arith")


def calibration_windows(corpus, n_ctx: int, windows: int = 64, *, seed: int = 0, source: str = "mix",
                        arith_fraction: float = 0.3) -> np.ndarray:
    """Token ids ``(windows, n_ctx)`` cut at random places from the corpus's *training* split.

    ``source="mix"`` draws a window from the arithmetic lines with probability
    ``arith_fraction`` (the training mixture) and from the docstrings otherwise; ``"docs"``
    and ``"arith"`` use one of them only (to measure what calibrating on the wrong task costs).
    The same ``seed`` gives the same windows.
    """
    windows = check_positive_int(windows, "windows")
    check_choice(source, "source", CALIBRATION_SOURCES)
    if not (isinstance(arith_fraction, numbers.Real) and 0.0 <= arith_fraction <= 1.0):
        raise ValueError(f"arith_fraction must be a number in [0, 1], got {arith_fraction!r}")
    docs, arith = streams(corpus)
    share = {"mix": float(arith_fraction), "docs": 0.0, "arith": 1.0}[source]
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(windows):
        src = arith if rng.random() < share else docs
        if len(src) <= n_ctx:
            raise ValueError(f"the training text ({len(src)} bytes) is shorter than one window of {n_ctx}")
        start = int(rng.integers(0, len(src) - n_ctx))
        rows.append(src[start:start + n_ctx])
    return np.stack(rows).astype(np.int64)


def check_calibration(ids, config) -> np.ndarray:
    """``ids`` as int64 after checking they are calibration windows for a model of ``config``.

    They must be integer token ids of shape ``(windows, time)`` with ``windows >= 1``,
    ``1 <= time <= n_ctx``, and every id in ``[0, vocab_size)``.
    """
    if ids is None:
        raise ValueError("calibration is required: token ids of shape (windows, time) from the training split")
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"calibration must be integer token ids, got dtype {ids.dtype}")
    if ids.ndim != 2:
        raise ValueError(f"calibration must have shape (windows, time), got shape {ids.shape}")
    if ids.size == 0:
        raise ValueError(f"calibration must hold at least one window of at least one token, got shape {ids.shape}")
    if ids.shape[1] > config.n_ctx:
        raise ValueError(f"calibration windows of {ids.shape[1]} tokens exceed the model's context of {config.n_ctx}")
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= config.vocab_size:
        raise ValueError(f"calibration token ids must lie in [0, {config.vocab_size - 1}], got {lo}..{hi}")
    return ids.astype(np.int64, copy=False)


@dataclasses.dataclass
class InputStats:
    """Running statistics of one layer's inputs ``x`` (rows of length ``K``), in float64."""

    K: int
    hessian: bool = True
    rows: int = 0
    xtx: np.ndarray | None = None
    abs_max: np.ndarray | None = None
    abs_sum: np.ndarray | None = None

    def __post_init__(self):
        self.xtx = np.zeros((self.K, self.K)) if self.hessian else None
        self.abs_max = np.zeros(self.K)
        self.abs_sum = np.zeros(self.K)

    def update(self, x) -> None:
        """Add the rows of ``x`` (shape ``(..., K)``)."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.K)     # [rows, K]
        if self.xtx is not None:
            self.xtx += x.T @ x                                       # [K, K]
        a = np.abs(x)
        np.maximum(self.abs_max, a.max(axis=0), out=self.abs_max)
        self.abs_sum += a.sum(axis=0)
        self.rows += x.shape[0]

    @property
    def abs_mean(self) -> np.ndarray:
        """Mean ``|x|`` per input channel, ``(K,)``."""
        return self.abs_sum / max(self.rows, 1)

    @property
    def H(self) -> np.ndarray:
        """GPTQ's Hessian of the layer-output error ``||x w - x w_hat||^2``: ``2 x^T x``, ``(K, K)``."""
        if self.xtx is None:
            raise ValueError("these statistics were collected without x^T x (hessian=False)")
        return 2.0 * self.xtx

    def outlier_ratio(self) -> float:
        """The largest per-channel max ``|x|`` over the median one (1 means no outlier channel)."""
        median = float(np.median(self.abs_max))
        return float(self.abs_max.max()) / median if median > 0 else float("inf")


class _Seen(Exception):
    """Raised by the observer once every requested layer has been seen: the rest of the forward is not needed."""


def collect_input_stats(model: GPT, ids, names, *, hessian: bool = True, batch_size: int = 16) -> dict[str, InputStats]:
    """Run ``ids`` ``(windows, time)`` through ``model`` and return ``InputStats`` of each weight in ``names``.

    ``names`` are weight names as in the params dict (``"h.0.mlp.c_fc.weight"``). Each forward
    pass stops once all of them have been seen; nothing else of the model's activations is kept.
    """
    ids = check_calibration(ids, model.config)
    names = list(names)
    linear = set(linear_weights(model.config))
    missing = [n for n in names if n not in linear]
    if missing:
        raise ValueError(f"no linear layer has the weight {missing[0]!r} (they are named like 'h.0.mlp.c_fc.weight')")
    stats = {name: InputStats(model.params[name].shape[0], hessian=hessian) for name in names}
    wanted = set(names)
    seen: set[str] = set()

    def observe(name, x):
        if name in wanted:
            stats[name].update(x)
            seen.add(name)
            if seen == wanted:
                raise _Seen

    previous, model.observer = model.observer, observe
    try:
        for i in range(0, len(ids), batch_size):
            seen.clear()
            try:
                model.forward(ids[i:i + batch_size])
            except _Seen:
                pass
    finally:
        model.observer = previous
    return stats


def linear_weights(config) -> list[str]:
    """Every linear layer's weight name, in the order a forward pass reaches them."""
    return [f"h.{i}.{layer}.weight" for i in range(config.n_layer)
            for layer in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")]


def sequential_stages(config) -> list[list[str]]:
    """The weights grouped by shared input, in forward order: one stage per linear layer of GPT-2."""
    return [[name] for name in linear_weights(config)]


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Which calibration windows to draw (a description of the data, recorded with the result).

    ``Calibration(windows=64, seed=0, source="mix").ids(corpus, n_ctx)`` gives the token ids that
    ``quantize_model(..., calibration=ids)`` takes (``calibration_windows``).
    """

    windows: int = 64
    seed: int = 0
    source: str = "mix"

    def __post_init__(self):
        check_positive_int(self.windows, "windows")
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        check_choice(self.source, "source", CALIBRATION_SOURCES)

    def ids(self, corpus, n_ctx: int) -> np.ndarray:
        """The windows ``(windows, n_ctx)`` from the corpus's training split."""
        return calibration_windows(corpus, n_ctx, self.windows, seed=self.seed, source=self.source)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
