"""Training in NumPy: batches from the corpus, AdamW, gradient clipping, a warmup + cosine schedule.

``train`` runs the loop and prints a progress line with the loss; checkpoints are written by
``miniquant.nn.io``. Tests: ``tests/nn/test_train.py``.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import time

import numpy as np

from ..progress import progress_bar
from .backward import loss_and_grads
from .config import GPTConfig
from .data import Corpus
from .gpt import init_params


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run."""

    steps: int = 2000
    batch_size: int = 16
    lr: float = 3e-3
    min_lr: float = 3e-4
    warmup: int = 100
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    arith_fraction: float = 0.3
    seed: int = 0
    log_every: int = 50

    def __post_init__(self):
        for name in ("steps", "batch_size", "log_every"):
            _check_int(name, getattr(self, name), low=1)
        _check_int("warmup", self.warmup, low=0)
        _check_int("seed", self.seed, low=0)
        for name in ("lr", "min_lr", "grad_clip"):
            _check_real(name, getattr(self, name), positive=True)
        _check_real("weight_decay", self.weight_decay)
        _check_real("arith_fraction", self.arith_fraction, high=1.0)


def _check_int(name: str, value, *, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _check_real(name: str, value, *, positive: bool = False, high: float | None = None) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > 0 if positive else value >= 0) and (high is None or value <= high)
    if not ok:
        bounds = "a finite number " + ("> 0" if positive else ">= 0") + ("" if high is None else f" and <= {high}")
        raise ValueError(f"{name} must be {bounds}, got {value!r}")


def learning_rate(step: int, tc: TrainConfig) -> float:
    """Linear warmup to ``lr``, then cosine decay to ``min_lr`` at ``steps``."""
    if step < tc.warmup:
        return tc.lr * (step + 1) / tc.warmup
    progress = min(1.0, (step - tc.warmup) / max(1, tc.steps - tc.warmup))
    return tc.min_lr + 0.5 * (tc.lr - tc.min_lr) * (1 + np.cos(np.pi * progress))


class AdamW:
    """Adam with decoupled weight decay (applied to matrices only, not to biases and gains)."""

    def __init__(self, params: dict, *, betas=(0.9, 0.95), eps: float = 1e-8, weight_decay: float = 0.0):
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.betas, self.eps, self.weight_decay, self.t = betas, eps, weight_decay, 0

    def step(self, params: dict, grads: dict, lr: float) -> None:
        """Update ``params`` in place (the ``_`` convention of a method on the optimizer's state)."""
        self.t += 1
        b1, b2 = self.betas
        for name, g in grads.items():
            m, v = self.m[name], self.v[name]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            update = (m / (1 - b1**self.t)) / (np.sqrt(v / (1 - b2**self.t)) + self.eps)
            if params[name].ndim == 2:
                update = update + self.weight_decay * params[name]
            params[name] -= (lr * update).astype(params[name].dtype)


def clip_gradients(grads: dict, max_norm: float) -> float:
    """Scale all gradients in place so that their global L2 norm is at most ``max_norm``; returns the norm before."""
    norm = float(np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads.values())))
    if norm > max_norm:
        for g in grads.values():
            g *= max_norm / norm
    return norm


def streams(corpus: Corpus) -> tuple[np.ndarray, np.ndarray]:
    """The training text as byte arrays: docstrings, and arithmetic lines joined by newlines."""
    docs = np.frombuffer(corpus.docs_train.encode("utf-8"), dtype=np.uint8)
    arith = np.frombuffer(("\n" + "\n".join(corpus.arith_train) + "\n").encode("ascii"), dtype=np.uint8)
    return docs, arith


def sample_batch(docs: np.ndarray, arith: np.ndarray, n_ctx: int, batch_size: int, rng, arith_fraction: float):
    """``(ids, targets)`` of shape ``(batch_size, n_ctx)``: random windows, a share of them arithmetic."""
    rows = []
    for _ in range(batch_size):
        src = arith if rng.random() < arith_fraction else docs
        start = int(rng.integers(0, len(src) - n_ctx - 1))
        rows.append(src[start:start + n_ctx + 1])
    block = np.stack(rows).astype(np.int64)                              # [B, T + 1]
    return block[:, :-1], block[:, 1:]


def train(config: GPTConfig, tc: TrainConfig, corpus: Corpus, *, params: dict | None = None,
          progress: bool = True, on_log=None) -> tuple[dict, list[dict]]:
    """Train a model on ``corpus``; returns the float32 params and the logged history."""
    rng = np.random.default_rng(tc.seed)
    params = init_params(config, seed=tc.seed) if params is None else {k: v.copy() for k, v in params.items()}
    opt = AdamW(params, weight_decay=tc.weight_decay)
    docs, arith = streams(corpus)
    history, start, smooth = [], time.perf_counter(), None
    bar = progress_bar(range(tc.steps), desc="train", unit="step", enabled=progress)
    for step in bar:
        ids, targets = sample_batch(docs, arith, config.n_ctx, tc.batch_size, rng, tc.arith_fraction)
        loss, grads = loss_and_grads(params, config, ids, targets)
        norm = clip_gradients(grads, tc.grad_clip)
        lr = learning_rate(step, tc)
        opt.step(params, grads, lr)
        smooth = loss if smooth is None else 0.95 * smooth + 0.05 * loss
        bar.set_postfix_str(f"loss {smooth:.3f}", refresh=False)
        if (step + 1) % tc.log_every == 0 or step + 1 == tc.steps:
            record = {"step": step + 1, "loss": float(smooth), "lr": float(lr), "grad_norm": norm,
                      "seconds": time.perf_counter() - start}
            history.append(record)
            if on_log is not None:
                on_log(params, record)
    bar.close()
    return params, history
