"""AWQ: folding keeps the float function, the searches never lose to their starting point, salient channels win."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from miniquant import QuantSpec, quantize
from miniquant.eval.memory import memory_ledger
from miniquant.methods import collect_input_stats, fold_scales, make_recipe, quantize_model, search_scales
from miniquant.methods.awq import clip_search_qtensor, output_error, scaling_pairs
from miniquant.nn import GPT, GPTConfig, init_params
from miniquant.testing.strategies import quant_specs, quantizable_arrays, roundings

CONFIG = GPTConfig(vocab_size=64, n_ctx=16, n_embd=32, n_head=4, n_layer=2)
IDS = np.random.default_rng(0).integers(0, 64, (4, 16))


def trained_like_params(seed=0):
    """Random params with non-trivial LayerNorms and biases, so that folding has something to get wrong."""
    rng = np.random.default_rng(seed)
    params = init_params(CONFIG, seed=seed)
    for name in params:
        if ".ln_" in name or name.endswith(".bias"):
            params[name] = (params[name] + rng.normal(0, 0.3, params[name].shape)).astype(np.float32)
    return params


def test_folding_the_scales_keeps_the_float_function():
    params = trained_like_params()
    before = GPT(CONFIG, params).forward(IDS)
    folded = dict(params)
    rng = np.random.default_rng(1)
    for i in range(CONFIG.n_layer):
        for weight, how, producer in scaling_pairs(i):
            fold_scales(folded, weight, how, producer, np.exp(rng.normal(0, 1.0, params[weight].shape[0])))
    after = GPT(CONFIG, folded).forward(IDS)
    assert not np.allclose(folded["h.0.ln_1.weight"], params["h.0.ln_1.weight"])
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)


def test_the_model_awq_produces_is_the_float_model_before_rounding():
    """With 8-bit weights AWQ's folded model is within int8 error of float; its float part alone is exact."""
    from miniquant.methods.awq import apply_awq

    params = trained_like_params(2)
    model = GPT(CONFIG, params)
    names = [f"h.{i}.{n}.weight" for i in range(2) for n in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")]
    stats = collect_input_stats(model, IDS, names)
    spec = QuantSpec(bits=4, granularity="channel")
    quantized, searches, folded = apply_awq(params, CONFIG, stats, lambda n: spec if n in names else None)
    dequantized = {k: (v.dequantize() if hasattr(v, "dequantize") else v) for k, v in quantized.items()}
    # undo the quantization only: the scaled float weights, rebuilt from the searches, give the float function
    scaled = dict(params)
    for i in range(2):
        for weight, how, producer in scaling_pairs(i):
            fold_scales(scaled, weight, how, producer, searches[weight].scales)
    np.testing.assert_allclose(GPT(CONFIG, scaled).forward(IDS), model.forward(IDS), rtol=1e-5, atol=1e-5)
    for name in scaled:
        np.testing.assert_array_equal(folded[name], scaled[name])       # what the quantized weights approximate
    for name in ("h.0.ln_1.weight", "h.1.attn.c_attn.bias", "h.1.ln_2.bias"):
        np.testing.assert_array_equal(dequantized[name], scaled[name])


def test_the_scale_search_starts_from_rtn_and_never_ends_above_it():
    rng = np.random.default_rng(3)
    K, N = 64, 16
    w = rng.normal(size=(K, N))
    X = rng.normal(size=(512, K)) * np.where(np.arange(K) < 4, 20.0, 1.0)       # four salient input channels
    xtx = X.T @ X
    spec = QuantSpec(bits=3, granularity="channel")
    search = search_scales(w, xtx, np.abs(X).mean(axis=0), spec)
    rtn_error = output_error(xtx, w - quantize(w, spec).dequantize().astype(np.float64))
    assert search.alphas[0] == 0.0
    np.testing.assert_allclose(search.errors[0], rtn_error, rtol=1e-6)
    assert search.errors.min() == search.errors[list(search.alphas).index(search.alpha)]
    assert search.alpha > 0 and search.errors.min() < 0.8 * rtn_error     # the salient channels are protected
    assert search.scales[:4].min() > search.scales[4:].max()


def test_awq_beats_rtn_on_a_layer_with_salient_channels():
    from miniquant.methods.awq import awq_quantize

    rng = np.random.default_rng(4)
    K, N = 128, 32
    w = rng.normal(size=(K, N))
    X = rng.normal(size=(1024, K)) * np.where(rng.random(K) < 0.05, 15.0, 1.0)
    xtx = X.T @ X
    for spec in (QuantSpec(bits=4, group_size=32, scale_dtype="float16"), QuantSpec(bits=3, granularity="channel")):
        search = search_scales(w, xtx, np.abs(X).mean(axis=0), spec)
        s = search.scales
        q = awq_quantize(w * s[:, None], xtx / np.outer(s, s), spec)
        awq_error = float(np.sum((X @ w - (X / s) @ q.dequantize()) ** 2))
        rtn_error = float(np.sum((X @ (w - quantize(w, spec).dequantize())) ** 2))
        assert awq_error < 0.7 * rtn_error


@st.composite
def layers(draw):
    K = draw(st.sampled_from([8, 16, 32, 48]))
    N = draw(st.integers(1, 6))
    spec = draw(quant_specs(shape=(K, N), rounding=roundings(deterministic_only=True), clip=st.just("minmax")))
    w = draw(quantizable_arrays(shape=(K, N), kinds=("uniform", "outliers", "skewed", "zeros", "constant_rows", "ties"),
                                max_magnitude=1e4))
    try:
        quantize(w, spec)
    except ValueError:
        assume(False)
    return w, spec, draw(st.integers(0, 2**16))


@given(layers())
def test_the_clip_search_is_a_valid_weight_never_worse_per_block_than_min_max(layer):
    w, spec, seed = layer
    X = np.random.default_rng(seed).normal(size=(64, w.shape[0]))
    xtx = X.T @ X
    q = clip_search_qtensor(w, xtx, spec)
    rtn = quantize(w, spec)
    assert q.spec == rtn.spec and memory_ledger(q).total_bytes == q.nbytes == rtn.nbytes
    assert q.codes.min() >= spec.qmin and q.codes.max() <= spec.qmax
    # the whole layer's output error is at most min-max's (each block is; cross-block terms aside, checked per block)
    G = spec.block_shape(w.shape)[0]
    d_q = w.astype(np.float64) - q.dequantize()
    d_r = w.astype(np.float64) - rtn.dequantize()
    for g in range(w.shape[0] // G):
        rows = slice(g * G, (g + 1) * G)
        e_q = np.einsum("in,ij,jn->n", d_q[rows], xtx[rows, rows], d_q[rows])
        e_r = np.einsum("in,ij,jn->n", d_r[rows], xtx[rows, rows], d_r[rows])
        if spec.granularity == "tensor":
            e_q, e_r = e_q.sum(), e_r.sum()
        assert np.all(e_q <= e_r * (1 + 1e-9) + 1e-9 * (1 + np.abs(e_r)))


def test_awq_on_a_model_records_its_alphas_and_keeps_norms_float():
    params = trained_like_params(5)
    q = quantize_model(GPT(CONFIG, params).params, make_recipe(4, group_size=16, method="awq"), calibration=IDS)
    assert set(q.quantization["alpha"]) == {f"h.{i}.{n}.weight" for i in range(2) for n in ("attn.c_attn", "attn.c_proj", "mlp.c_fc")}
    assert q["h.0.ln_1.weight"].dtype == np.float32 and q["h.0.mlp.c_proj.weight"].spec.bits == 4
    GPT(CONFIG, q).forward(IDS[:1])


def test_bad_options_get_a_clear_error():
    with pytest.raises(ValueError, match="max_shrink must be a number in \\(0, 1\\]"):
        make_recipe(4, method="awq", max_shrink=0)
    with pytest.raises(ValueError, match="AWQ's clipping search replaces the spec's clip='mse'"):
        make_recipe(4, method="awq", clip="mse")
    make_recipe(4, method="awq", clip="mse", clip_search=False)
    with pytest.raises(ValueError, match="method 'awq' needs calibration data"):
        quantize_model(GPT(CONFIG, init_params(CONFIG)).params, make_recipe(4, method="awq"))
    with pytest.raises(ValueError, match=r"abs_mean must have shape \(K,\)"):
        search_scales(np.ones((8, 2)), np.eye(8), np.ones(4), QuantSpec(bits=4))
