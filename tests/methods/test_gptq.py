"""GPTQ: exactly round-to-nearest when H = I, the blocked update equals the textbook one, and it beats RTN."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from miniquant import QuantSpec, quantize
from miniquant.eval.memory import memory_ledger
from miniquant.methods import gptq, gptq_quantize, gptq_quantize_reference
from miniquant.testing.strategies import quant_specs, quantizable_arrays, roundings

KINDS = ("uniform", "outliers", "skewed", "constant_rows", "zeros", "ties", "tiny")


@st.composite
def layers(draw, *, max_k=48, max_n=6, kinds=KINDS):
    """``(w, spec)``: a weight (K, N) and a deterministic spec for it (groups along K)."""
    K = draw(st.sampled_from([g * m for g in (1, 2, 4, 8, 16) for m in (1, 2, 3) if g * m <= max_k]))
    N = draw(st.integers(1, max_n))
    spec = draw(quant_specs(shape=(K, N), rounding=roundings(deterministic_only=True)))
    w = draw(quantizable_arrays(shape=(K, N), kinds=kinds, max_magnitude=1e6))
    try:
        quantize(w, spec)
    except ValueError:                       # e.g. a scale that overflows float16: RTN refuses it too
        assume(False)
    return w, spec


def hessian(K: int, seed: int, rows: int = 64, correlated: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, K))
    if correlated:
        X = X @ rng.normal(size=(K, K)) + rng.normal(size=K) * 3
    return 2.0 * X.T @ X


@given(layers(), st.sampled_from([0.0, 0.01, 0.5]))
def test_with_an_identity_hessian_it_is_round_to_nearest(layer, damp):
    w, spec = layer
    q, rtn = gptq_quantize(w, np.eye(w.shape[0]), spec, damp=damp), quantize(w, spec)
    np.testing.assert_array_equal(q.codes, rtn.codes)
    np.testing.assert_array_equal(q.scale, rtn.scale)
    np.testing.assert_array_equal(q.zero_point, rtn.zero_point)


@given(layers(kinds=("uniform", "outliers", "skewed")), st.integers(1, 64), st.integers(0, 2**16), st.booleans())
def test_the_blocked_update_equals_the_textbook_one(layer, block_size, seed, act_order):
    w, spec = layer
    static = spec.granularity == "group" and (act_order or seed % 2 == 0)
    H = hessian(w.shape[0], seed)
    options = dict(act_order=act_order, static_groups=static)
    blocked = gptq_quantize(w, H, spec, block_size=block_size, **options)
    unblocked = gptq_quantize(w, H, spec, block_size=w.shape[0], **options)
    reference = gptq_quantize_reference(w, H, spec, **options)
    for other in (unblocked, reference):
        # float64 sums in another order may move a value across a rounding boundary: at most a rare code
        assert np.mean(blocked.codes != other.codes) <= 0.01
        np.testing.assert_allclose(blocked.scale.astype(np.float64), other.scale.astype(np.float64), rtol=2e-3)


def test_blocked_and_textbook_agree_code_for_code_on_a_real_sized_layer():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(256, 32)).astype(np.float32)
    H = hessian(256, 1, rows=1024)
    for spec in (QuantSpec(bits=4, group_size=32, scale_dtype="float16"), QuantSpec(bits=3, granularity="channel")):
        a = gptq_quantize(w, H, spec, block_size=128)
        b = gptq_quantize_reference(w, H, spec)
        np.testing.assert_array_equal(a.codes, b.codes)
        np.testing.assert_array_equal(a.scale, b.scale)


@given(layers(), st.integers(0, 2**16), st.booleans())
def test_the_output_is_a_valid_quantized_weight_of_the_spec(layer, seed, act_order):
    w, spec = layer
    static = spec.granularity == "group" and act_order
    q = gptq_quantize(w, hessian(w.shape[0], seed), spec, act_order=act_order, static_groups=static)
    assert q.spec == spec.replace(axis=0) and q.shape == w.shape
    codes = q.codes
    assert codes.min() >= spec.qmin and codes.max() <= spec.qmax
    assert memory_ledger(q).total_bytes == q.nbytes == quantize(w, spec).nbytes
    assert np.all(np.isfinite(q.dequantize()))


@pytest.mark.parametrize("spec", [QuantSpec(bits=4, granularity="channel"), QuantSpec(bits=3, group_size=16, scale_dtype="float16"),
                                  QuantSpec(bits=3, scheme="asymmetric", group_size=32), QuantSpec(bits=2, granularity="tensor")])
@pytest.mark.parametrize("act_order", [False, True])
def test_on_correlated_inputs_the_layer_output_error_is_well_below_rtn(spec, act_order):
    rng = np.random.default_rng(2)
    K, N = 128, 32
    w = rng.normal(size=(K, N)).astype(np.float32)
    X = rng.normal(size=(1024, K)) @ rng.normal(size=(K, K))
    q = gptq_quantize(w, 2 * X.T @ X, spec, act_order=act_order, static_groups=act_order and spec.granularity == "group")
    error = lambda w_hat: float(np.sum((X @ (w - w_hat)) ** 2))  # noqa: E731
    assert error(q.dequantize()) < 0.75 * error(quantize(w, spec).dequantize())


def test_the_losses_add_up_to_the_layer_output_error():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(64, 8))
    X = rng.normal(size=(500, 64)) @ rng.normal(size=(64, 64))
    H = 2 * X.T @ X
    result = gptq(w, H, QuantSpec(bits=3, granularity="channel"), damp=0.0)
    d = w - result.qtensor.dequantize().astype(np.float64)
    # sum of the per-row losses = (w - w_hat)^T H (w - w_hat) / 2 (the objective), exactly without dampening
    np.testing.assert_allclose(result.losses.sum(), np.trace(d.T @ H @ d) / 2, rtol=1e-3)


def test_a_dead_input_is_zeroed_and_nothing_is_nan():
    rng = np.random.default_rng(4)
    w = rng.normal(size=(32, 4)).astype(np.float32)
    X = rng.normal(size=(100, 32))
    X[:, 5] = 0.0
    q = gptq_quantize(w, 2 * X.T @ X, QuantSpec(bits=4, granularity="channel"))
    assert np.all(q.dequantize()[5] == 0) and np.all(np.isfinite(q.dequantize()))


def test_bad_input_gets_a_clear_error():
    w = np.ones((8, 2), np.float32)
    spec = QuantSpec(bits=4, granularity="channel")
    X = np.random.default_rng(0).normal(size=(3, 8))
    singular = 2 * X.T @ X                                       # 3 calibration rows: rank 3, a positive diagonal
    with pytest.raises(ValueError, match=r"H is not positive definite \(rank 3 of 8\) with damp=0"):
        gptq_quantize(w, singular, spec, damp=0.0)
    gptq_quantize(w, singular, spec, damp=0.01)                  # dampening makes it usable
    with pytest.raises(ValueError, match=r"H must have shape \(K, K\) = \(8, 8\)"):
        gptq_quantize(w, np.eye(4), spec)
    with pytest.raises(ValueError, match="H holds 1 non-finite"):
        gptq_quantize(w, np.diag([np.nan] + [1.0] * 7), spec)
    with pytest.raises(ValueError, match="H must be symmetric"):
        gptq_quantize(w, np.eye(8) + np.triu(np.ones((8, 8)), 1), spec)
    with pytest.raises(ValueError, match="w must be a weight matrix"):
        gptq_quantize(np.ones(8, np.float32), np.eye(8), spec)
    with pytest.raises(ValueError, match="act_order=True with granularity='group' needs static_groups=True"):
        gptq_quantize(w, np.eye(8), QuantSpec(bits=4, group_size=4), act_order=True)
    with pytest.raises(ValueError, match="static_groups=True applies to granularity='group' only"):
        gptq_quantize(w, np.eye(8), spec, static_groups=True)
    with pytest.raises(ValueError, match="damp must be a finite number >= 0"):
        gptq_quantize(w, np.eye(8), spec, damp=-1)
    with pytest.raises(ValueError, match="block_size must be a positive integer"):
        gptq_quantize(w, np.eye(8), spec, block_size=0)
    with pytest.raises(ValueError, match="group_size 3 does not divide"):
        gptq_quantize(w, np.eye(8), QuantSpec(bits=4, group_size=3))
    with pytest.raises(ValueError, match="spec.axis must be 0"):
        gptq_quantize(w, np.eye(8), QuantSpec(bits=4, granularity="channel", axis=1))
