"""LLM.int8()'s mixed weight: an infinite threshold is exactly W8A8, a zero threshold is float, storage is counted."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from miniquant import QuantSpec, quantize
from miniquant.eval.memory import memory_ledger
from miniquant.kernels import mixed_int8_matmul, mixed_int8_matmul_reference, w8a8_matmul
from miniquant.methods import make_recipe, quantize_model
from miniquant.mixed import MixedInt8Tensor, split_outliers
from miniquant.nn import GPT, GPTConfig, init_params, load_checkpoint, save_checkpoint

SPEC = QuantSpec(bits=8, granularity="channel", scale_dtype="float16")
CONFIG = GPTConfig(vocab_size=64, n_ctx=16, n_embd=32, n_head=4, n_layer=2)
IDS = np.random.default_rng(0).integers(0, 64, (4, 16))


def layer(seed=0, K=64, N=24):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(9, K)).astype(np.float32)
    x[:, [2, 40]] *= 30.0                                           # two outlier features
    return x, rng.normal(size=(K, N)).astype(np.float32) * 0.1


def test_an_infinite_threshold_is_exactly_w8a8_and_a_zero_threshold_is_float():
    x, w = layer()
    amax = np.abs(x).max(axis=0)
    none = split_outliers(w, amax, np.inf, SPEC)
    assert none.outlier_index.size == 0 and none.float_fraction == 0.0
    np.testing.assert_array_equal(mixed_int8_matmul(x, none), w8a8_matmul(x, quantize(w, SPEC)))
    every = split_outliers(w, amax, 0.0, SPEC)
    assert every.int8 is None and every.float_fraction == 1.0
    np.testing.assert_allclose(mixed_int8_matmul(x, every), x @ w, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(every.dequantize(), w)


def test_the_outliers_are_multiplied_in_float_and_that_helps():
    x, w = layer(1)
    mixed = split_outliers(w, np.abs(x).max(axis=0), 6.0, SPEC)
    np.testing.assert_array_equal(mixed.outlier_index, [2, 40])
    np.testing.assert_array_equal(mixed.outlier_rows, w[[2, 40]])
    exact = x @ w
    err = lambda y: float(np.sum((y - exact) ** 2))  # noqa: E731
    assert err(mixed_int8_matmul(x, mixed)) < 0.2 * err(w8a8_matmul(x, quantize(w, SPEC)))
    np.testing.assert_allclose(mixed_int8_matmul(x, mixed, backend="numba"), mixed_int8_matmul_reference(x, mixed),
                               rtol=1e-6, atol=1e-6)
    dq = mixed.dequantize()
    np.testing.assert_array_equal(dq[[2, 40]], w[[2, 40]])
    np.testing.assert_array_equal(dq[mixed.rest_index], mixed.int8.dequantize())


@given(st.integers(1, 40), st.integers(1, 8), st.floats(0, 40), st.integers(0, 2**16))
def test_the_ledger_counts_every_stored_byte(K, N, threshold, seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(K, N)).astype(np.float32)
    amax = np.abs(rng.standard_t(2, size=K)) * 5
    mixed = split_outliers(w, amax, threshold, SPEC)
    n_out = int((amax > threshold).sum())
    assert mixed.outlier_index.size == n_out
    rest = 0 if mixed.int8 is None else mixed.int8.nbytes
    assert mixed.nbytes == rest + n_out * N * 4 + n_out * 4 == memory_ledger(mixed).total_bytes
    assert memory_ledger({"w": mixed}).rows[0].float_bits == 32 * (n_out * N + n_out)


def test_a_model_with_llm_int8_runs_round_trips_through_a_checkpoint_and_records_the_float_share(tmp_path):
    params = GPT(CONFIG, init_params(CONFIG, seed=2)).params
    float_logits = GPT(CONFIG, params).forward(IDS)
    w8a8 = GPT(CONFIG, quantize_model(params, make_recipe(8, activations="int8")), activations="int8").forward(IDS)
    for threshold, expected in ((np.inf, w8a8), (0.0, float_logits)):
        q = quantize_model(params, make_recipe(8, method="llm_int8", threshold=threshold), calibration=IDS)
        got = GPT(CONFIG, q).forward(IDS)
        if threshold == np.inf:
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
        path = tmp_path / f"m{threshold}.npz"
        save_checkpoint(path, CONFIG, q, {"recipe": "llm"})
        _, loaded, _ = load_checkpoint(path)
        np.testing.assert_array_equal(GPT(CONFIG, loaded).forward(IDS), got)
        assert loaded["h.0.mlp.c_fc.weight"].threshold == threshold
    q = quantize_model(params, make_recipe(8, method="llm_int8", threshold=0.5), calibration=IDS)
    shares = q.quantization["float_fraction"]
    assert len(shares) == 8 and all(0 <= v <= 1 for v in shares.values())


def test_bad_input_gets_a_clear_error():
    w = np.ones((4, 2), np.float32)
    with pytest.raises(ValueError, match="outlier_index must be sorted, unique"):
        MixedInt8Tensor([2, 1], w[[2, 1]], quantize(w[[0, 3]], SPEC), (4, 2))
    with pytest.raises(ValueError, match="outlier_rows must be float32 of shape"):
        MixedInt8Tensor([1], w[:2], quantize(w[[0, 2, 3]], SPEC), (4, 2))
    with pytest.raises(ValueError, match="int8 must be an 8-bit symmetric QTensor"):
        MixedInt8Tensor([1], w[[1]], quantize(w[[0, 2, 3]], bits=4), (4, 2))
    with pytest.raises(ValueError, match="every feature is an outlier: int8 must be None"):
        MixedInt8Tensor([0, 1, 2, 3], w, quantize(w, SPEC), (4, 2))
    with pytest.raises(ValueError, match="LLM.int8\\(\\) multiplies the non-outlier features W8A8"):
        make_recipe(4, method="llm_int8")
    with pytest.raises(ValueError, match="threshold must be a number >= 0"):
        make_recipe(8, method="llm_int8", threshold=-1)
    with pytest.raises(ValueError, match="x must have shape"):
        mixed_int8_matmul(np.ones((2, 3), np.float32), split_outliers(w, np.zeros(4), 6.0, SPEC))
