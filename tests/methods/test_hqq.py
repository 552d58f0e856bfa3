"""HQQ: the objective never increases, never ends above round-to-nearest's, and the output is a valid weight."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from miniquant import QuantSpec, quantize
from miniquant.eval.memory import memory_ledger
from miniquant.methods import hqq, hqq_quantize, shrink_lp
from miniquant.testing.strategies import quant_specs, quantizable_arrays, roundings, weight_shapes


@st.composite
def weights(draw):
    shape = draw(weight_shapes(max_side=40))
    spec = draw(quant_specs(shape=shape, rounding=roundings(deterministic_only=True)))
    w = draw(quantizable_arrays(shape=shape, max_magnitude=1e6))
    try:
        quantize(w, spec)
    except ValueError:
        assume(False)
    return w, spec


def lp_error(w, qt, p=0.7):
    return float(np.sum(np.abs(w.astype(np.float64) - qt.dequantize().astype(np.float64)) ** p))


@given(weights(), st.integers(1, 30))
def test_the_objective_never_increases_and_the_output_is_valid(layer, iters):
    w, spec = layer
    result = hqq(w, spec, iters=iters)
    obj = result.objective
    assert 1 <= len(obj) <= iters + 1
    assert all(b < a for a, b in zip(obj, obj[1:]))                 # strictly better, or the loop stopped
    q, rtn = result.qtensor, quantize(w, spec)
    assert q.spec == rtn.spec and q.shape == w.shape
    assert memory_ledger(q).total_bytes == q.nbytes == rtn.nbytes
    assert q.codes.min() >= spec.qmin and q.codes.max() <= spec.qmax
    # the first entry is round-to-nearest's objective, the last one is what the weight scores
    np.testing.assert_allclose(obj[0], lp_error(w, rtn), rtol=1e-4, atol=1e-30)
    assert lp_error(w, q) <= lp_error(w, rtn) * (1 + 1e-4) + 1e-30


@pytest.mark.parametrize("spec", [QuantSpec(bits=3, scheme="asymmetric", group_size=32, scale_dtype="float16"),
                                  QuantSpec(bits=4, granularity="channel", scale_dtype="float16"),
                                  QuantSpec(bits=3, scheme="asymmetric", granularity="channel")])
def test_on_heavy_tailed_weights_it_lowers_the_lp_error_clearly(spec):
    w = np.random.default_rng(0).standard_t(3, size=(256, 64)).astype(np.float32)
    assert lp_error(w, hqq_quantize(w, spec)) < 0.97 * lp_error(w, quantize(w, spec))


def test_shrinkage_is_the_lp_proximal_step():
    x = np.array([-3.0, -0.05, 0.0, 0.05, 3.0])
    np.testing.assert_allclose(shrink_lp(x, 10.0, 1.0), [-2.9, 0.0, 0.0, 0.0, 2.9])
    p, a = 0.7, np.abs(x[[0, 1, 3, 4]])
    expected = np.sign(x[[0, 1, 3, 4]]) * np.maximum(a - a ** (p - 1) / 10.0, 0.0)
    np.testing.assert_allclose(shrink_lp(x, 10.0, p)[[0, 1, 3, 4]], expected)
    assert shrink_lp(x, 10.0, p)[2] == 0.0 and shrink_lp(x, 10.0, p)[1] == 0.0   # small values are all error


def test_bad_options_get_a_clear_error():
    w = np.ones((8, 2), np.float32)
    with pytest.raises(ValueError, match=r"lp_norm must be in \(0, 1\]"):
        hqq_quantize(w, QuantSpec(bits=4), lp_norm=2.0)
    with pytest.raises(ValueError, match="iters must be a positive integer"):
        hqq_quantize(w, QuantSpec(bits=4), iters=0)
    with pytest.raises(ValueError, match="kappa must be >= 1"):
        hqq_quantize(w, QuantSpec(bits=4), kappa=0.5)
    with pytest.raises(ValueError, match="a symmetric spec has no zero point to optimise"):
        hqq_quantize(w, QuantSpec(bits=4), optimize_scale=False)
    with pytest.raises(ValueError, match="HQQ's objective needs deterministic codes"):
        hqq_quantize(w, QuantSpec(bits=4, rounding="stochastic", seed=0))
    with pytest.raises(ValueError, match="w holds 1 non-finite"):
        hqq_quantize(np.array([[np.nan], [1.0]], np.float32), QuantSpec(bits=4))
