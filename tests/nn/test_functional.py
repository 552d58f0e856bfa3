"""The functional ops against independent formulas."""
import math

import numpy as np
import pytest

import miniquant as mq
from miniquant.kernels import qmatmul_tolerance
from miniquant.nn.functional import attention, causal_mask, gelu, layer_norm, linear, softmax


def test_gelu_matches_the_tanh_formula_pointwise():
    for v in (-3.0, -1.0, 0.0, 0.5, 2.0):
        expected = 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))
        assert gelu(np.float32(v)) == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_softmax_is_stable_and_normalized():
    x = np.array([[1000.0, 1001.0, 1002.0], [-5.0, 0.0, 5.0]], np.float32)
    p = softmax(x)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p[0], softmax(x[0] - 1000.0), rtol=1e-6)


def test_layer_norm_normalizes(rng):
    x = rng.standard_normal((3, 16)).astype(np.float32) * 5 + 2
    y = layer_norm(x, np.ones(16, np.float32), np.zeros(16, np.float32))
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=-1), 1, rtol=1e-3)


def test_linear_with_a_qtensor_uses_the_kernels(rng):
    w = rng.standard_normal((64, 8)).astype(np.float32)
    qt = mq.quantize(w, bits=4, group_size=32)
    x = rng.standard_normal((2, 3, 64)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    y = linear(x, qt, b)
    assert y.shape == (2, 3, 8)
    assert np.all(np.abs(y - (x @ qt.dequantize() + b)) <= qmatmul_tolerance(x, qt) + 1e-6)


def test_attention_matches_a_loop(rng):
    q, k, v = (rng.standard_normal((2, 3, 5, 4)).astype(np.float32) for _ in range(3))
    out = attention(q, k, v, causal_mask(5, 5))
    for b in range(2):
        for h in range(3):
            for i in range(5):
                w = np.exp([q[b, h, i] @ k[b, h, j] / 2.0 for j in range(i + 1)])
                expected = (w[:, None] * v[b, h, : i + 1]).sum(axis=0) / w.sum()
                np.testing.assert_allclose(out[b, h, i], expected, rtol=1e-5, atol=1e-6)


def test_causal_mask_with_a_cache_offset():
    m = causal_mask(2, 4)  # two new queries after two cached keys
    np.testing.assert_array_equal(m == 0, [[True, True, True, False], [True, True, True, True]])
