"""Gradient checks in float64: every op, and the whole model, against central finite differences."""
import numpy as np
import pytest

from miniquant.nn import GPT, GPTConfig, init_params
from miniquant.nn import backward as bw


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar ``f()`` with respect to every entry of ``x`` (in place)."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def check(analytic, numeric, name):
    err = np.abs(analytic - numeric).max() / max(1e-8, np.abs(numeric).max())
    assert err < 1e-6, f"{name}: relative error {err:.2e}"


@pytest.fixture
def r():
    return np.random.default_rng(0)


def test_linear_layer_norm_gelu_gradients(r):
    x, w, b = r.standard_normal((2, 3, 4)), r.standard_normal((4, 5)), r.standard_normal(5)
    g, beta = r.standard_normal(4), r.standard_normal(4)
    dy = r.standard_normal((2, 3, 5))
    _, cache = bw.linear_forward(x, w, b)
    dx, dw, db = bw.linear_backward(dy, cache)
    loss = lambda: (bw.linear_forward(x, w, b)[0] * dy).sum()  # noqa: E731
    check(dx, numeric_grad(loss, x), "linear dx"); check(dw, numeric_grad(loss, w), "linear dw"); check(db, numeric_grad(loss, b), "linear db")

    dy = r.standard_normal((2, 3, 4))
    _, cache = bw.layer_norm_forward(x, g, beta, 1e-5)
    dx, dg, dbeta = bw.layer_norm_backward(dy, cache)
    loss = lambda: (bw.layer_norm_forward(x, g, beta, 1e-5)[0] * dy).sum()  # noqa: E731
    check(dx, numeric_grad(loss, x), "ln dx"); check(dg, numeric_grad(loss, g), "ln dg"); check(dbeta, numeric_grad(loss, beta), "ln db")

    _, cache = bw.gelu_forward(x)
    loss = lambda: (bw.gelu_forward(x)[0] * dy).sum()  # noqa: E731
    check(bw.gelu_backward(dy, cache), numeric_grad(loss, x), "gelu")


def test_attention_and_cross_entropy_gradients(r):
    qkv = r.standard_normal((2, 4, 3 * 6))
    dy = r.standard_normal((2, 4, 6))
    _, cache = bw.attention_forward(qkv, n_head=2)
    loss = lambda: (bw.attention_forward(qkv, 2)[0] * dy).sum()  # noqa: E731
    check(bw.attention_backward(dy, cache), numeric_grad(loss, qkv), "attention")

    logits = r.standard_normal((2, 3, 7))
    targets = r.integers(0, 7, (2, 3))
    _, dlogits = bw.cross_entropy(logits, targets)
    check(dlogits, numeric_grad(lambda: bw.cross_entropy(logits, targets)[0], logits), "cross-entropy")


def test_whole_model_gradient(r):
    config = GPTConfig(vocab_size=11, n_ctx=6, n_embd=8, n_head=2, n_layer=2)
    params = {k: v.astype(np.float64) + r.normal(0, 0.05, v.shape) for k, v in init_params(config, seed=1).items()}
    ids = r.integers(0, 11, (2, 5))
    targets = r.integers(0, 11, (2, 5))
    loss, grads = bw.loss_and_grads(params, config, ids, targets)
    assert set(grads) == set(params)
    logits = GPT(config, params).forward(ids).astype(np.float64)
    assert loss == pytest.approx(bw.cross_entropy(logits, targets)[0], rel=1e-5)  # same model as inference
    for name in ("wte", "wpe", "h.0.attn.c_attn.weight", "h.1.mlp.c_fc.bias", "h.1.ln_2.weight", "ln_f.bias", "h.0.attn.c_proj.weight"):
        numeric = numeric_grad(lambda: bw.loss_and_grads(params, config, ids, targets)[0], params[name])
        check(grads[name], numeric, name)
