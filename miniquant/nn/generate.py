"""Text generation with a key/value cache: greedy, temperature, top-k and top-p (nucleus) sampling.

Tests: ``tests/nn/test_generate.py``.
"""
from __future__ import annotations

import numpy as np

from .functional import softmax
from .gpt import GPT


def sample_next(logits: np.ndarray, rng: np.random.Generator, *, temperature: float = 1.0,
                top_k: int | None = None, top_p: float | None = None) -> int:
    """One token id from a logits vector ``[V]``.

    ``temperature == 0`` is greedy (the arg-max). Otherwise the logits are divided by the
    temperature, restricted to the ``top_k`` most likely ids and then to the smallest set whose
    probability reaches ``top_p``, and sampled.
    """
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
    prompt = [int(t) for t in prompt]
    if not prompt:
        raise ValueError("prompt must contain at least one token id")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a non-negative integer, got {max_new_tokens!r}")
    if len(prompt) + max_new_tokens > model.config.n_ctx:
        raise ValueError(
            f"prompt ({len(prompt)} tokens) + max_new_tokens ({max_new_tokens}) exceed the context of {model.config.n_ctx}"
        )
    if temperature < 0 or (top_k is not None and top_k < 1) or (top_p is not None and not 0 < top_p <= 1):
        raise ValueError(f"need temperature >= 0, top_k >= 1, 0 < top_p <= 1; got {temperature}, {top_k}, {top_p}")
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
