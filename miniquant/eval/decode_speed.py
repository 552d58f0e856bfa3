"""End-to-end decode speed at a scale where bytes matter: GPT-2 shapes, tokens/s through ``generate``.

The shipped model (3.4 MB of weights) lives in the CPU's caches, so its decode measures fixed
costs, not bytes. Here the model has GPT-2's shapes (``GPT2_SHAPES``: small, medium, large)
with random weights: **speed depends on the shapes, not on the values** (every kernel reads
every byte whatever the numbers are), so random weights time exactly what trained ones would.

Each configuration is a ``Recipe`` applied by ``quantize_model`` and run by ``GPT`` and
``generate`` (greedy, KV cache) from a one-token prompt, so every step is a decode step and the
figure is tokens/s end to end: the kernels, attention, LayerNorms, the Python around them. Ratios
are measured side by side: each round times the float32 model and every configuration once
(``generate`` of ``new_tokens`` tokens each), and the reported ratio is the median over rounds
of ``t_float / t_config``.

``bytes_per_token`` counts what one decode step must read: every weight matrix in full (the
tied head too: it makes the logits), one row of each embedding, the vectors, and the KV cache at
the average context of the run. ``bytes_per_token * tokens/s`` is the bandwidth the decode
reached, printed beside ``speed.streaming_bandwidth``. Nothing here is a test:
``miniquant bench --model`` and ``benchmarks/bench_decode.py`` print it.
"""
from __future__ import annotations

import time

import numpy as np

from ..methods import make_recipe, quantize_model
from ..nn.config import GPTConfig
from ..nn.generate import generate
from ..nn.gpt import GPT, expected_shapes

#: GPT-2's published shapes (Radford et al. 2019): vocabulary 50257, context 1024.
GPT2_SHAPES = {
    "small": GPTConfig(vocab_size=50257, n_ctx=1024, n_embd=768, n_head=12, n_layer=12),
    "medium": GPTConfig(vocab_size=50257, n_ctx=1024, n_embd=1024, n_head=16, n_layer=24),
    "large": GPTConfig(vocab_size=50257, n_ctx=1024, n_embd=1280, n_head=20, n_layer=36),
}

#: The configurations timed against float32: a label and ``make_recipe`` options (``None``: float32).
DECODE_RECIPES = (
    ("float32", None),
    ("int8 channel", dict(bits=8)),
    ("int8 channel +head", dict(bits=8, head="same")),
    ("int4 g128", dict(bits=4, group_size=128)),
    ("int4 g128 +head int8", dict(bits=4, group_size=128, head=8)),
    ("w8a8 channel +head", dict(bits=8, head="same", activations="int8")),
    ("w4a8 g128 +head int8", dict(bits=4, group_size=128, head=8, activations="int8")),
    ("w4a8 g128 +head", dict(bits=4, group_size=128, head="same", activations="int8")),
)


def random_params(config: GPTConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """float32 weights of ``config``'s shapes: N(0, 0.02) matrices, unit gains, zero biases (fast: drawn in float32)."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in expected_shapes(config).items():
        if name.endswith(".bias"):
            params[name] = np.zeros(shape, np.float32)
        elif len(shape) == 1:
            params[name] = np.ones(shape, np.float32)
        else:
            params[name] = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
    return params


def bytes_per_token(model: GPT, context: float) -> int:
    """Bytes one decode step reads: matrices in full (the tied head too), one embedding row each, vectors, KV cache.

    ``context`` is the number of cached positions the step attends to (keys and values, float32).
    """
    total = 0
    config = model.config
    for name, value in model.params.items():
        # wpe: one position row; every other tensor in full (wte too: the head reads it whole, the lookup one row)
        total += config.n_embd * 4 if name == "wpe" else int(value.nbytes)
    return total + int(2 * config.n_layer * context * config.n_embd * 4)


def time_generate(model: GPT, new_tokens: int) -> float:
    """Seconds for ``generate`` to make ``new_tokens`` tokens greedily from a one-token prompt."""
    start = time.perf_counter()
    generate(model, [0], new_tokens, temperature=0)
    return time.perf_counter() - start


def bench_decode(config: GPTConfig, recipes=DECODE_RECIPES, *, new_tokens: int = 16, rounds: int = 3, seed: int = 0,
                 progress=None) -> list[dict]:
    """Tokens/s of every configuration of ``recipes`` on a random-weight model of ``config``, side by side with float32.

    Returns one dict per configuration: ``label``, ``recipe`` (its ``Recipe.label()``), ``bits_per_weight``
    of its matrices and head, ``bytes_per_token``, ``tokens_per_s`` (median over rounds), ``ratio``
    (median of per-round ``t_float / t``), ``gbps`` (bytes per token times tokens/s). ``progress(message)``
    is called as the models are built.
    """
    for name, value in (("new_tokens", new_tokens), ("rounds", rounds)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if new_tokens + 1 > config.n_ctx:
        raise ValueError(f"new_tokens ({new_tokens}) must fit the context of {config.n_ctx}")
    params = random_params(config, seed)
    models = []
    for label, options in recipes:
        if options is None:
            models.append((label, "float32", GPT(config, params)))
        else:
            recipe = make_recipe(**options)
            models.append((label, recipe.label(), GPT(config, quantize_model(params, recipe), activations=recipe.activations)))
        if progress is not None:
            progress(f"built {label}")
    float_index = next((i for i, (label, _, _) in enumerate(models) if label == "float32"), None)
    if float_index is None:
        raise ValueError("recipes must include the float32 baseline ('float32', None)")
    for _, _, model in models:                            # warm-up: compile, fault the pages in
        time_generate(model, 2)
    times = np.zeros((rounds, len(models)))
    for r in range(rounds):
        for i, (_, _, model) in enumerate(models):
            times[r, i] = time_generate(model, new_tokens)
        if progress is not None:
            progress(f"round {r + 1} of {rounds}")
    context = (new_tokens - 1) / 2                        # positions cached, on average over the steps
    rows = []
    for i, (label, recipe_label, model) in enumerate(models):
        per_token = bytes_per_token(model, context)
        tokens_per_s = new_tokens / float(np.median(times[:, i]))
        matrices = [v for k, v in model.params.items() if np.ndim(v) == 2 and k != "wpe"]
        bits = 8 * sum(int(v.nbytes) for v in matrices) / sum(int(np.prod(v.shape)) for v in matrices)
        rows.append({"label": label, "recipe": recipe_label, "bits_per_weight": bits, "bytes_per_token": per_token,
                     "tokens_per_s": tokens_per_s, "ratio": float(np.median(times[:, float_index] / times[:, i])),
                     "gbps": per_token * tokens_per_s / 1e9})
    return rows


def format_decode(name: str, config: GPTConfig, rows: list[dict], bandwidth: float) -> str:
    """A printable table of ``bench_decode`` rows for the GPT-2 shape ``name``."""
    head = f"{'configuration':<22} {'bits/w':>6} {'MB/token':>9} {'tokens/s':>9} {'vs float':>9} {'GB/s':>6} {'of BW':>6}"
    lines = [f"GPT-2 {name} shape (n_embd {config.n_embd}, {config.n_layer} layers, vocab {config.vocab_size}; "
             f"random weights), decode through generate:", head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['label']:<22} {r['bits_per_weight']:>6.2f} {r['bytes_per_token'] / 1e6:>9.1f} "
                     f"{r['tokens_per_s']:>9.2f} {r['ratio']:>8.2f}x {r['gbps']:>6.1f} {r['gbps'] / bandwidth:>5.0%}")
    return "\n".join(lines)
