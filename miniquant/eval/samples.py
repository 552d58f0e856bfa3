"""Sample arrays that look like the real thing, built from a seed (nothing is downloaded).

Tests: ``tests/eval/test_samples.py``.
"""
from __future__ import annotations

import numpy as np


def sample_weight(shape=(1024, 256), *, seed: int = 0, outlier_fraction: float = 0.002) -> np.ndarray:
    """A float32 weight ``(K, N)`` shaped like a trained transformer's.

    Student-t entries (heavier tails than a Gaussian), a per-column spread (output
    channels differ in size) and a few large outliers: the three things that make
    per-tensor quantization hurt and per-channel / per-group scales help.

    Examples
    --------
    >>> w = sample_weight((64, 8), seed=1)
    >>> w.shape, w.dtype
    ((64, 8), dtype('float32'))
    """
    rng = np.random.default_rng(seed)
    k, n = shape
    w = rng.standard_t(df=5, size=(k, n)) * 0.02                  # [K, N] heavy-tailed entries
    w *= rng.lognormal(mean=0.0, sigma=0.5, size=(1, n))          # per-output-column spread
    n_out = max(1, int(outlier_fraction * k * n))
    rows, cols = rng.integers(0, k, n_out), rng.integers(0, n, n_out)
    w[rows, cols] = rng.choice([-1, 1], n_out) * rng.uniform(0.2, 0.5, n_out)  # rare large weights
    return w.astype(np.float32)
