"""Hand-written backward passes: every op of the GPT as ``*_forward -> (out, cache)`` and ``*_backward``.

Each backward takes the gradient of the loss with respect to the op's output and returns the
gradients with respect to its inputs and weights. Written for float32 training and checked
in float64 against finite differences (``tests/nn/test_backward.py``). Shapes as in ``gpt.py``.
"""
from __future__ import annotations

import numpy as np

from .config import GPTConfig
from .functional import causal_mask, log_softmax, softmax

_C = float(np.sqrt(2.0 / np.pi))  # a Python float: a NumPy float64 scalar would upcast float32 arrays


def linear_forward(x, w, b):
    """``y = x @ w + b``: ``[..., K] @ [K, N] -> [..., N]``.

    Computed as one 2-D matmul: NumPy's batched 3-D matmul was 3x slower here.
    """
    y = x.reshape(-1, x.shape[-1]) @ w + b                              # [B*T, K] @ [K, N]
    return y.reshape(*x.shape[:-1], w.shape[1]), (x, w)


def linear_backward(dy, cache):
    x, w = cache
    dx = (dy.reshape(-1, dy.shape[-1]) @ w.T).reshape(x.shape)          # [..., N] @ [N, K] -> [..., K]
    dw = x.reshape(-1, x.shape[-1]).T @ dy.reshape(-1, dy.shape[-1])     # [K, rows] @ [rows, N] -> [K, N]
    db = dy.reshape(-1, dy.shape[-1]).sum(axis=0)                        # [N]
    return dx, dw, db


def layer_norm_forward(x, g, b, eps):
    mean = x.mean(axis=-1, keepdims=True)
    xc = x - mean
    rstd = 1.0 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + eps)
    xhat = xc * rstd                                                     # [..., E]
    return xhat * g + b, (xhat, rstd, g)


def layer_norm_backward(dy, cache):
    xhat, rstd, g = cache
    E = xhat.shape[-1]
    dg = (dy * xhat).reshape(-1, E).sum(axis=0)
    db = dy.reshape(-1, E).sum(axis=0)
    dxhat = dy * g
    # d/dx of (x - mean) * rstd: remove the mean of dxhat and its projection on xhat
    dx = rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True) - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))
    return dx, dg, db


def gelu_forward(x):
    inner = _C * (x + 0.044715 * (x * x * x))  # x * x * x: float32 power is ~9x slower
    t = np.tanh(inner)
    return 0.5 * x * (1.0 + t), (x, t)


def gelu_backward(dy, cache):
    x, t = cache
    dinner = _C * (1.0 + 3 * 0.044715 * x**2)
    return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dinner)


def attention_forward(qkv, n_head):
    """Causal multi-head attention on ``qkv`` ``[B, T, 3E]`` -> ``[B, T, E]``."""
    B, T, E3 = qkv.shape
    E = E3 // 3
    D = E // n_head
    q, k, v = qkv.reshape(B, T, 3, n_head, D).transpose(2, 0, 3, 1, 4)      # 3 x [B, H, T, D]
    scale = float(1.0 / np.sqrt(D))
    p = softmax(q @ np.swapaxes(k, -1, -2) * scale + causal_mask(T, T))     # [B, H, T, T]
    out = (p @ v).transpose(0, 2, 1, 3).reshape(B, T, E)                    # [B, T, E]
    return out, (q, k, v, p, scale)


def attention_backward(dout, cache):
    q, k, v, p, scale = cache
    B, H, T, D = q.shape
    do = dout.reshape(B, T, H, D).transpose(0, 2, 1, 3)                     # [B, H, T, D]
    dv = np.swapaxes(p, -1, -2) @ do                                        # [B, H, T, D]
    dp = do @ np.swapaxes(v, -1, -2)                                        # [B, H, T, T]
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True)) * scale            # softmax backward (masked entries have p = 0)
    dq = ds @ k
    dk = np.swapaxes(ds, -1, -2) @ q
    dqkv = np.stack([dq, dk, dv]).transpose(1, 3, 0, 2, 4).reshape(B, T, 3 * H * D)
    return dqkv


def cross_entropy(logits, targets):
    """Mean negative log-likelihood of ``targets`` ``[B, T]`` and its gradient w.r.t. ``logits`` ``[B, T, V]``."""
    B, T, V = logits.shape
    logp = log_softmax(logits)
    loss = -np.take_along_axis(logp, targets[..., None], axis=-1).mean()
    dlogits = np.exp(logp)
    np.put_along_axis(dlogits, targets[..., None], np.take_along_axis(dlogits, targets[..., None], axis=-1) - 1.0, axis=-1)
    return float(loss), dlogits / (B * T)


def loss_and_grads(params: dict, config: GPTConfig, ids: np.ndarray, targets: np.ndarray):
    """Forward and backward through the whole model: ``(loss, grads)`` with one gradient per weight."""
    B, T = ids.shape
    eps = config.layer_norm_eps
    x = params["wte"][ids] + params["wpe"][:T]                               # [B, T, E]
    caches = []
    for i in range(config.n_layer):
        h = f"h.{i}."
        a, c_ln1 = layer_norm_forward(x, params[h + "ln_1.weight"], params[h + "ln_1.bias"], eps)
        a, c_qkv = linear_forward(a, params[h + "attn.c_attn.weight"], params[h + "attn.c_attn.bias"])
        a, c_att = attention_forward(a, config.n_head)
        a, c_proj = linear_forward(a, params[h + "attn.c_proj.weight"], params[h + "attn.c_proj.bias"])
        x = x + a
        m, c_ln2 = layer_norm_forward(x, params[h + "ln_2.weight"], params[h + "ln_2.bias"], eps)
        m, c_fc = linear_forward(m, params[h + "mlp.c_fc.weight"], params[h + "mlp.c_fc.bias"])
        m, c_gelu = gelu_forward(m)
        m, c_mproj = linear_forward(m, params[h + "mlp.c_proj.weight"], params[h + "mlp.c_proj.bias"])
        x = x + m
        caches.append((c_ln1, c_qkv, c_att, c_proj, c_ln2, c_fc, c_gelu, c_mproj))
    xf, c_lnf = layer_norm_forward(x, params["ln_f.weight"], params["ln_f.bias"], eps)
    logits = xf @ params["wte"].T                                            # [B, T, V]
    loss, dlogits = cross_entropy(logits, targets)

    grads = {}
    grads["wte"] = dlogits.reshape(-1, dlogits.shape[-1]).T @ xf.reshape(-1, xf.shape[-1])  # tied head: [V, E]
    dx, grads["ln_f.weight"], grads["ln_f.bias"] = layer_norm_backward(dlogits @ params["wte"], c_lnf)
    for i in reversed(range(config.n_layer)):
        h = f"h.{i}."
        c_ln1, c_qkv, c_att, c_proj, c_ln2, c_fc, c_gelu, c_mproj = caches[i]
        dm, grads[h + "mlp.c_proj.weight"], grads[h + "mlp.c_proj.bias"] = linear_backward(dx, c_mproj)
        dm = gelu_backward(dm, c_gelu)
        dm, grads[h + "mlp.c_fc.weight"], grads[h + "mlp.c_fc.bias"] = linear_backward(dm, c_fc)
        dm, grads[h + "ln_2.weight"], grads[h + "ln_2.bias"] = layer_norm_backward(dm, c_ln2)
        dx = dx + dm
        da, grads[h + "attn.c_proj.weight"], grads[h + "attn.c_proj.bias"] = linear_backward(dx, c_proj)
        da = attention_backward(da, c_att)
        da, grads[h + "attn.c_attn.weight"], grads[h + "attn.c_attn.bias"] = linear_backward(da, c_qkv)
        da, grads[h + "ln_1.weight"], grads[h + "ln_1.bias"] = layer_norm_backward(da, c_ln1)
        dx = dx + da
    np.add.at(grads["wte"], ids, dx)                                          # embedding lookup
    grads["wpe"] = np.zeros_like(params["wpe"])
    grads["wpe"][:T] = dx.sum(axis=0)
    return loss, grads
