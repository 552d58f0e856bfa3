"""Model quality against the float model: bits per byte, KL divergence, top-1 agreement, arithmetic.

As llama.cpp's perplexity tool reports them: for every position of held-out text, the KL
divergence ``KL(P_float || P_quant)`` of the next-token distributions (mean and 99th
percentile, in nats) and the share of positions where both models rank the same token
first. Tests: ``tests/eval/test_compare.py`` and ``tests/eval/test_tour.py``.
"""
from __future__ import annotations

import time

import numpy as np

from ..nn.evaluate import LOG2E, arithmetic_accuracy, text_windows
from ..nn.functional import log_softmax
from ..nn.generate import generate
from ..nn.gpt import GPT


def held_out_windows(text: str, n_ctx: int, max_windows: int) -> tuple[np.ndarray, np.ndarray]:
    """``nn.evaluate.text_windows(text, n_ctx, max_windows)``: the first windows of held-out text and their targets."""
    return text_windows(text, n_ctx, max_windows)


def logprobs(model: GPT, ids: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Next-token log-probabilities ``(n, T, V)`` in float64."""
    return np.concatenate([log_softmax(model.forward(ids[i:i + batch_size]).astype(np.float64)) for i in range(0, len(ids), batch_size)])


def compare_to_float(reference: np.ndarray, model: GPT, ids: np.ndarray, targets: np.ndarray) -> dict:
    """Bits per byte of ``model`` and its KL divergence / top-1 agreement with ``reference`` log-probs."""
    lp = logprobs(model, ids)
    nll = -np.take_along_axis(lp, targets[..., None], axis=-1).mean()
    kl = (np.exp(reference) * (reference - lp)).sum(axis=-1).ravel()           # [positions], nats
    top1 = (reference.argmax(axis=-1) == lp.argmax(axis=-1)).mean()
    return {"bits_per_byte": float(nll * LOG2E), "kl_mean": float(kl.mean()), "kl_p99": float(np.percentile(kl, 99)),
            "top1_agreement": float(top1)}


def decode_tokens_per_second(model: GPT, n_tokens: int = 64, *, prompt=(10,), repeats: int = 3) -> float:
    """Greedy decoding speed with the KV cache (median over ``repeats``), tokens per second."""
    n_tokens = min(n_tokens, model.config.n_ctx - len(prompt))
    generate(model, list(prompt), 2, temperature=0)  # warm-up (compilation, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        generate(model, list(prompt), n_tokens, temperature=0)
        times.append(time.perf_counter() - t0)
    return n_tokens / float(np.median(times))


def decode_speed_ratio(baseline: GPT, model: GPT, n_tokens: int = 64, *, prompt=(10,), rounds: int = 3) -> dict:
    """``model``'s greedy decode speed against ``baseline``'s, timed side by side.

    Each round times one ``generate`` of each, back to back, so that both see the same state of a
    shared machine; returns ``tokens_per_s`` (``model``, median over rounds), ``baseline_tokens_per_s``
    and ``ratio``, the median over rounds of ``t_baseline / t_model`` (above 1: ``model`` is faster).
    """
    n_tokens = min(n_tokens, model.config.n_ctx - len(prompt), baseline.config.n_ctx - len(prompt))
    for m in (baseline, model):
        generate(m, list(prompt), 2, temperature=0)  # warm-up (compilation, caches)
    times = np.zeros((rounds, 2))
    for r in range(rounds):
        for i, m in enumerate((baseline, model)):
            t0 = time.perf_counter()
            generate(m, list(prompt), n_tokens, temperature=0)
            times[r, i] = time.perf_counter() - t0
    return {"tokens_per_s": n_tokens / float(np.median(times[:, 1])),
            "baseline_tokens_per_s": n_tokens / float(np.median(times[:, 0])),
            "ratio": float(np.median(times[:, 0] / times[:, 1]))}


def evaluate_model(reference: np.ndarray, model: GPT, ids: np.ndarray, targets: np.ndarray, problems: list[str]) -> dict:
    """Everything at once: ``compare_to_float`` plus arithmetic exact match on ``problems``.

    The arguments come in ``compare_to_float``'s order (the reference log-probabilities first);
    the earlier order ``(model, reference, ...)`` still works.
    """
    if isinstance(reference, GPT):  # the earlier order
        reference, model = model, reference
    record = compare_to_float(reference, model, ids, targets)
    record["arith_accuracy"] = arithmetic_accuracy(model, problems)
    return record
