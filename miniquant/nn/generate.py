"""Text generation with a key/value cache: greedy, temperature, top-k and top-p (nucleus) sampling.

Tests: ``tests/nn/test_generate.py``.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .functional import softmax
from .gpt import GPT


def check_sampling(temperature, top_k, top_p) -> None:
    """``ValueError`` unless ``temperature >= 0`` (finite), ``top_k >= 1`` (an integer) and ``0 < top_p <= 1``."""
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not math.isfinite(temperature) \
            or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0 (0 is greedy), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1 or None, got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, numbers.Real) or not 0 < top_p <= 1):
        raise ValueError(f"top_p must be a number in (0, 1] or None, got {top_p!r}")


def sample_next(logits: np.ndarray, rng: np.random.Generator, *, temperature: float = 1.0,
                top_k: int | None = None, top_p: float | None = None) -> int:
    """One token id from a logits vector ``[V]``.

    ``temperature == 0`` is greedy (the arg-max). Otherwise the logits are divided by the
    temperature, restricted to the ``top_k`` most likely ids and then to the smallest set whose
    probability reaches ``top_p``, and sampled.

    Raises
    ------
    ValueError
        For a ``temperature`` that is negative or not finite, a ``top_k`` below 1, a ``top_p``
        outside ``(0, 1]``, or logits that are not a finite 1-D float array.
    """
    check_sampling(temperature, top_k, top_p)
    logits = np.asarray(logits)
    if logits.ndim != 1 or logits.size == 0 or not np.issubdtype(logits.dtype, np.floating):
        raise ValueError(f"logits must be a non-empty 1-D float array, got {logits.dtype} {logits.shape}")
    if not np.all(np.isfinite(logits)):
        raise ValueError("logits hold NaN or Inf")
    if temperature == 0:
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / temperature
    if top_k is not None:
        kth = np.sort(z)[-min(top_k, z.size)]
        z = np.where(z < kth, -np.inf, z)
    probs = softmax(z)
    if top_p is not None:
        order = np.argsort(-probs)
        cumulative = np.cumsum(probs[order])
        keep = order[: int(np.searchsorted(cumulative, top_p)) + 1]  # smallest prefix reaching top_p
        masked = np.zeros_like(probs)
        masked[keep] = probs[keep]
        probs = masked / masked.sum()
    return int(rng.choice(probs.size, p=probs))


def generate(model: GPT, prompt, max_new_tokens: int, *, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, seed: int | None = None) -> list[int]:
    """Continue ``prompt`` (a sequence of token ids) by ``max_new_tokens`` tokens; returns prompt + new ids.

    The prompt is run once, then each new token reuses the cached keys and values.
    """
    ids = np.asarray(prompt)
    if ids.ndim != 1 or ids.size == 0:
        raise ValueError(f"prompt must be a non-empty sequence of token ids, got shape {ids.shape}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"prompt must hold integer token ids, got dtype {ids.dtype}")
    if ids.min() < 0 or ids.max() >= model.config.vocab_size:
        raise ValueError(f"prompt token ids must lie in [0, {model.config.vocab_size - 1}], "
                         f"got {int(ids.min())}..{int(ids.max())}")
    prompt = [int(t) for t in ids]
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a non-negative integer, got {max_new_tokens!r}")
    if len(prompt) + max_new_tokens > model.config.n_ctx:
        raise ValueError(
            f"prompt ({len(prompt)} tokens) + max_new_tokens ({max_new_tokens}) exceed the context of {model.config.n_ctx}"
        )
    check_sampling(temperature, top_k, top_p)
    rng = np.random.default_rng(seed)
    cache = model.new_cache()
    logits = model.forward(np.array([prompt]), cache)[0, -1]                      # [V]
    out = list(prompt)
    for _ in range(max_new_tokens):
        token = sample_next(logits, rng, temperature=temperature, top_k=top_k, top_p=top_p)
        out.append(token)
        if len(out) == len(prompt) + max_new_tokens:
            break
        logits = model.forward(np.array([[token]]), cache)[0, -1]                 # [V]
    return out
