"""Evaluation primitives: bits per byte on a text, baselines, logits for a batch, arithmetic accuracy.

Tests: ``tests/nn/test_evaluate.py``.
"""
from __future__ import annotations

import numpy as np

from .backward import cross_entropy
from .generate import generate
from .gpt import GPT
from .tokenizer import ByteTokenizer

LOG2E = 1.0 / np.log(2.0)


def text_windows(data, n_ctx: int, max_windows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows of ``n_ctx`` byte ids and their next-byte targets, ``(n, n_ctx)`` each.

    ``data`` is a ``str`` (encoded as UTF-8) or an array of byte ids; ``max_windows`` keeps the first ones.
    """
    if isinstance(data, str):
        data = np.frombuffer(data.encode("utf-8"), dtype=np.uint8)
    n = (len(data) - 1) // n_ctx
    if max_windows is not None:
        if isinstance(max_windows, bool) or not isinstance(max_windows, (int, np.integer)) or max_windows < 1:
            raise ValueError(f"max_windows must be a positive integer or None, got {max_windows!r}")
        n = min(n, max_windows)
    if n == 0:
        raise ValueError(f"the text needs more than {n_ctx} bytes, it has {len(data)}")
    ids = data[: n * n_ctx].reshape(n, n_ctx).astype(np.int64)
    targets = data[1: n * n_ctx + 1].reshape(n, n_ctx).astype(np.int64)
    return ids, targets


def bits_per_byte(model: GPT, text: str, *, batch_size: int = 16, max_bytes: int | None = None) -> float:
    """Mean cross-entropy of next-byte prediction on ``text``, in bits per byte (lower is better).

    The text is cut into non-overlapping windows of the model's context; each prediction sees
    only the bytes before it in its own window.
    """
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)[:max_bytes]
    ids, targets = text_windows(data, model.config.n_ctx)
    total, count = 0.0, 0
    for i in range(0, len(ids), batch_size):
        logits = model.forward(ids[i:i + batch_size]).astype(np.float64)
        loss, _ = cross_entropy(logits, targets[i:i + batch_size])
        total += loss * targets[i:i + batch_size].size
        count += targets[i:i + batch_size].size
    return total / count * LOG2E


def ngram_bits_per_byte(train: str, test: str, order: int) -> float:
    """Bits per byte of an add-one-smoothed unigram (``order=1``) or bigram (``order=2``) byte model."""
    a = np.frombuffer(train.encode("utf-8"), dtype=np.uint8).astype(np.int64)
    b = np.frombuffer(test.encode("utf-8"), dtype=np.uint8).astype(np.int64)
    if order == 1:
        counts = np.bincount(a, minlength=256) + 1.0
        p = counts / counts.sum()
        return float(-np.mean(np.log2(p[b])))
    if order == 2:
        counts = np.zeros((256, 256)) + 1.0
        np.add.at(counts, (a[:-1], a[1:]), 1.0)
        p = counts / counts.sum(axis=1, keepdims=True)
        return float(-np.mean(np.log2(p[b[:-1], b[1:]])))
    raise ValueError(f"order must be 1 or 2, got {order}")


def arithmetic_answers(model: GPT, problems: list[str], *, tokenizer=None) -> list[str]:
    """For each problem ``"47+38=85"``: the model's greedy answer to ``"\n47+38="``, up to the newline.

    The model writes ``len("85") + 1`` bytes, so a right answer must also stop where it should.
    """
    tok = tokenizer or ByteTokenizer()
    answers = []
    for line in problems:
        question, answer = line.split("=")
        prompt = tok.encode("\n" + question + "=")
        out = generate(model, prompt, len(answer) + 1, temperature=0)
        answers.append(tok.decode(out[len(prompt):]).split("\n")[0])
    return answers


def arithmetic_results(model: GPT, problems: list[str], *, tokenizer=None) -> list[bool]:
    """For each problem: is ``arithmetic_answers`` exactly the answer after ``=``?"""
    answers = arithmetic_answers(model, problems, tokenizer=tokenizer)
    return [given == line.split("=")[1] for given, line in zip(answers, problems)]


def arithmetic_accuracy(model: GPT, problems: list[str], *, tokenizer=None) -> float:
    """Exact-match accuracy: the share of ``arithmetic_results`` that are right."""
    return float(np.mean(arithmetic_results(model, problems, tokenizer=tokenizer)))
