"""The GPT: shapes, causality, the KV cache equals the full forward pass, quantized weights, bad input."""
import numpy as np
import pytest

import miniquant as mq
from miniquant.nn import GPT, GPTConfig, expected_shapes, init_params

CONFIG = GPTConfig(vocab_size=64, n_ctx=24, n_embd=32, n_head=4, n_layer=2)


@pytest.fixture
def model():
    params = init_params(CONFIG, seed=1)
    rng = np.random.default_rng(2)  # non-trivial biases and gains, so that every term matters
    for name, value in params.items():
        if name.endswith("bias") or ".ln_" in name or name.startswith("ln_f"):
            params[name] = value + rng.normal(0, 0.1, value.shape).astype(np.float32)
    return GPT(CONFIG, params)


def test_forward_shape_and_dtype(model):
    logits = model.forward(np.array([[1, 2, 3], [4, 5, 6]]))
    assert logits.shape == (2, 3, 64) and logits.dtype == np.float32


def test_batch_rows_are_independent(model):
    ids = np.array([[1, 2, 3, 4], [7, 8, 9, 10]])
    np.testing.assert_allclose(model.forward(ids)[1], model.forward(ids[1:])[0], rtol=1e-5, atol=1e-5)


def test_the_future_does_not_leak_into_the_past(model):
    a = model.forward(np.array([[1, 2, 3, 4, 5]]))
    b = model.forward(np.array([[1, 2, 3, 60, 61]]))
    np.testing.assert_allclose(a[0, :3], b[0, :3], rtol=1e-6, atol=1e-6)
    assert not np.allclose(a[0, 3:], b[0, 3:])


def test_kv_cache_gives_the_logits_of_the_full_forward_pass(model):
    ids = np.array([[3, 14, 15, 9, 26, 5, 35, 8, 9, 7]])
    full = model.forward(ids)
    cache = model.new_cache()
    parts = [model.forward(ids[:, :4], cache)]            # the prompt at once
    for t in range(4, ids.shape[1]):                      # then one token at a time
        parts.append(model.forward(ids[:, t:t + 1], cache))
    np.testing.assert_allclose(np.concatenate(parts, axis=1), full, rtol=1e-5, atol=1e-5)
    assert cache[0]["k"].shape == (1, CONFIG.n_head, 10, CONFIG.head_size)


def test_quantized_weights_run_through_the_kernels(model):
    params = dict(model.params)
    fake = dict(model.params)
    for name, value in model.params.items():
        if name.endswith(".weight") and value.ndim == 2:
            params[name] = mq.quantize(value, bits=8, granularity="channel")
            fake[name] = params[name].dequantize()
    ids = np.array([[1, 2, 3, 4, 5]])
    np.testing.assert_allclose(GPT(CONFIG, params).forward(ids), GPT(CONFIG, fake).forward(ids), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("activations", ["float", "int8"])
def test_a_quantized_tied_head_gives_the_logits_of_its_dequantized_twin(model, activations):
    """wte quantized along its rows: the logits run through the kernels with wte.T, the lookup dequantizes rows."""
    wte = mq.quantize(model.params["wte"], bits=4, group_size=16, axis=1)
    quantized = GPT(CONFIG, {**model.params, "wte": wte}, activations=activations)
    fake = GPT(CONFIG, {**model.params, "wte": wte.dequantize()})
    ids = np.array([[1, 2, 3, 4, 5, 63]])
    got = quantized.forward(ids)
    if activations == "float":
        np.testing.assert_allclose(got, fake.forward(ids), rtol=1e-4, atol=1e-4)
    else:   # the head's input is rounded to int8 per token: close, not equal
        ref = fake.forward(ids)
        assert np.abs(got - ref).max() < 0.05 * np.abs(ref).max()
    cache = quantized.new_cache()   # and the cached decode agrees with the full pass
    steps = [quantized.forward(ids[:, :3], cache)] + [quantized.forward(ids[:, t:t + 1], cache) for t in range(3, 6)]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), got, rtol=1e-4, atol=1e-4)


def test_int8_activations_run_through_the_integer_kernels(model):
    """W4A8 for 4-bit matrices, W8A8 for 8-bit ones: the same logits as the model built from those products."""
    from miniquant.kernels import w4a8_matmul, w8a8_matmul
    from miniquant.nn import functional

    params = dict(model.params)
    for name, value in model.params.items():
        if name.endswith(".weight") and value.ndim == 2:
            bits = 4 if "mlp" in name else 8
            params[name] = mq.quantize(value, bits=bits, group_size=16 if bits == 4 else None,
                                       granularity="group" if bits == 4 else "channel")
    ids = np.array([[1, 2, 3, 4, 5]])
    int8 = GPT(CONFIG, params, activations="int8")
    assert int8.activations == "int8"
    x = np.random.default_rng(0).standard_normal((3, 32)).astype(np.float32)
    for name, kernel in (("h.0.mlp.c_fc.weight", w4a8_matmul), ("h.0.attn.c_attn.weight", w8a8_matmul)):
        w, b = params[name], params[name.replace("weight", "bias")]
        np.testing.assert_array_equal(functional.linear(x, w, b, "int8"), kernel(x, w) + b)
    logits, float_act = int8.forward(ids), GPT(CONFIG, params).forward(ids)
    assert not np.array_equal(logits, float_act)                           # the activations were rounded
    np.testing.assert_allclose(logits, float_act, rtol=0.05, atol=0.05)    # ... by little


def test_int8_activations_refuse_weights_without_an_integer_kernel(model):
    params = dict(model.params)
    params["h.1.attn.c_proj.weight"] = mq.quantize(params["h.1.attn.c_proj.weight"], bits=3)
    with pytest.raises(ValueError, match=r"cannot multiply params\['h.1.attn.c_proj.weight'\]: int8 activations need a 4-bit .* got bits=3"):
        GPT(CONFIG, params, activations="int8")
    with pytest.raises(ValueError, match="activations must be one of"):
        GPT(CONFIG, model.params, activations="int4")


def test_expected_shapes_and_parameter_count():
    shapes = expected_shapes(CONFIG)
    assert shapes["h.1.mlp.c_fc.weight"] == (32, 128) and shapes["wpe"] == (24, 32)
    E, V, L = 32, 64, 2
    assert GPT(CONFIG, init_params(CONFIG)).n_params == V * E + 24 * E + L * (12 * E * E + 13 * E) + 2 * E


@pytest.mark.parametrize(
    "ids, error, match",
    [
        (np.array([[1, 64]]), ValueError, r"token ids must lie in \[0, 63\]"),
        (np.array([[-1, 2]]), ValueError, r"token ids must lie in"),
        (np.array([[1.0, 2.0]]), TypeError, "ids must be integer token ids"),
        (np.array([1, 2]), ValueError, r"ids must have shape \(batch, time\)"),
        (np.zeros((1, 25), int), ValueError, "25 positions exceed the context of 24 tokens"),
    ],
)
def test_bad_ids_are_refused(model, ids, error, match):
    with pytest.raises(error, match=match):
        model.forward(ids)


def test_bad_params_are_refused():
    params = init_params(CONFIG)
    with pytest.raises(ValueError, match="missing \\['ln_f.bias'\\]"):
        GPT(CONFIG, {k: v for k, v in params.items() if k != "ln_f.bias"})
    with pytest.raises(ValueError, match="unknown \\['extra'\\]"):
        GPT(CONFIG, {**params, "extra": np.zeros(1)})
    with pytest.raises(ValueError, match=r"params\['wte'\] has shape \(64, 16\), the config needs \(64, 32\)"):
        GPT(CONFIG, {**params, "wte": np.zeros((64, 16), np.float32)})
    with pytest.raises(TypeError, match="wpe must stay a float array"):
        GPT(CONFIG, {**params, "wpe": mq.quantize(params["wpe"], bits=8, axis=1)})
    with pytest.raises(ValueError, match="must be quantized along axis 1.*got axis=0"):
        GPT(CONFIG, {**params, "wte": mq.quantize(params["wte"], bits=8)})
    with pytest.raises(ValueError, match="n_embd \\(30\\) must be divisible by n_head \\(4\\)"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="n_layer must be a positive integer"):
        GPTConfig(n_layer=0)
