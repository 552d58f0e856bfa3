"""SmoothQuant: the float function is kept, and on a layer with outlier channels W8A8 error falls sharply."""
import numpy as np
import pytest

from miniquant import QuantSpec, quantize
from miniquant.kernels import w8a8_matmul
from miniquant.methods import collect_input_stats, make_recipe, quantize_model, smooth_model, smoothing_scales
from miniquant.nn import GPT, GPTConfig, init_params

CONFIG = GPTConfig(vocab_size=64, n_ctx=16, n_embd=32, n_head=4, n_layer=2)
IDS = np.random.default_rng(0).integers(0, 64, (4, 16))


def test_smoothing_keeps_the_float_function():
    rng = np.random.default_rng(1)
    params = init_params(CONFIG, seed=1)
    for name in params:
        if ".ln_" in name:
            params[name] = (params[name] + rng.normal(0, 0.3, params[name].shape)).astype(np.float32)
    model = GPT(CONFIG, params)
    names = [f"h.{i}.{n}.weight" for i in range(2) for n in ("attn.c_attn", "mlp.c_fc")]
    smoothed, scales = smooth_model(params, CONFIG, collect_input_stats(model, IDS, names, hessian=False))
    assert set(scales) == set(names) and not np.allclose(scales["h.0.attn.c_attn.weight"], 1.0)
    np.testing.assert_allclose(GPT(CONFIG, smoothed).forward(IDS), model.forward(IDS), rtol=1e-5, atol=1e-5)


def test_on_a_layer_with_outlier_channels_smoothing_cuts_the_w8a8_error():
    """As in large models: a few input channels 60x larger than the rest, in every token."""
    rng = np.random.default_rng(2)
    M, K, N = 256, 256, 64
    x = rng.normal(size=(M, K)).astype(np.float32)
    x[:, [3, 77, 150, 201]] *= 60.0
    w = (rng.normal(size=(K, N)) * 0.05).astype(np.float32)
    spec = QuantSpec(bits=8, granularity="channel")
    exact = x @ w
    plain = w8a8_matmul(x, quantize(w, spec))
    s = smoothing_scales(np.abs(x).max(axis=0), w, alpha=0.5)
    smoothed = w8a8_matmul(x / s.astype(np.float32), quantize(w * s[:, None].astype(np.float32), spec))
    err = lambda y: float(np.sum((y - exact) ** 2) / np.sum(exact**2))  # noqa: E731
    assert err(smoothed) < 0.2 * err(plain)


def test_the_recipe_runs_w8a8_and_records_its_scales():
    q = quantize_model(GPT(CONFIG, init_params(CONFIG)).params, make_recipe(8, method="smoothquant", activations="int8"),
                       calibration=IDS)
    assert set(q.quantization["largest_smoothing_scale"]) == {f"h.{i}.{n}.weight" for i in range(2) for n in ("attn.c_attn", "mlp.c_fc")}
    GPT(CONFIG, q, activations="int8").forward(IDS[:1])
    # the weight error is measured against the smoothed float weights the codes approximate
    from miniquant.eval import model_weight_errors, pooled_sqnr_from_errors
    assert pooled_sqnr_from_errors(model_weight_errors(q.reference, q)) > 35
    assert not np.array_equal(q.reference["h.0.ln_1.weight"], init_params(CONFIG)["h.0.ln_1.weight"])


def test_bad_requests_get_a_clear_error():
    with pytest.raises(ValueError, match="SmoothQuant makes activations easier to quantize: it needs activations='int8'"):
        make_recipe(8, method="smoothquant")
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\]"):
        make_recipe(8, method="smoothquant", activations="int8", alpha=1.5)
    with pytest.raises(ValueError, match=r"act_max must have shape \(K,\)"):
        smoothing_scales(np.ones(3), np.ones((4, 2)))
