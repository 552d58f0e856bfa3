"""Error metrics: definitions on hand-made arrays, edge cases, and the sweep table."""
import numpy as np
import pytest

import miniquant as mq
from miniquant.eval import cosine_similarity, error_report, error_table, format_table, max_abs_error, mse, rmse, sqnr_db


def test_metrics_on_a_hand_made_pair():
    x = np.array([1.0, -2.0, 3.0, 0.0])
    x_hat = np.array([1.5, -2.0, 2.0, 0.0])
    assert mse(x, x_hat) == pytest.approx((0.25 + 1.0) / 4)
    assert rmse(x, x_hat) == pytest.approx(np.sqrt(1.25 / 4))
    assert max_abs_error(x, x_hat) == 1.0
    assert sqnr_db(x, x_hat) == pytest.approx(10 * np.log10(14 / 1.25))
    assert cosine_similarity(x, x_hat) == pytest.approx(np.dot(x, x_hat) / np.linalg.norm(x) / np.linalg.norm(x_hat))


def test_metric_edge_cases():
    z = np.zeros(3)
    assert sqnr_db(np.ones(3), np.ones(3)) == float("inf")
    assert sqnr_db(z, np.ones(3)) == float("-inf")
    assert cosine_similarity(z, z) == 1.0
    assert cosine_similarity(z, np.ones(3)) == 0.0
    assert cosine_similarity(np.ones(3), -np.ones(3)) == -1.0


def test_metrics_refuse_bad_input():
    with pytest.raises(ValueError, match=r"same shape, got \(3,\) and \(2,\)"):
        mse(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="x_hat holds 1 non-finite"):
        mse(np.ones(2), np.array([1.0, np.nan]))
    with pytest.raises(TypeError, match="x must be a floating-point array"):
        rmse(np.ones(2, int), np.ones(2))


def test_sqnr_gains_about_six_db_per_bit(rng):
    # On uniform data the error is step**2 / 12, so one more bit gains 20 log10(step ratio):
    # with the restricted symmetric range the step is max|x| / (2**(b-1) - 1), which gives
    # 6.62, 6.31, 6.16, 6.09 dB, approaching 20 log10(2) = 6.02 dB.
    x = rng.uniform(-1, 1, 100_000).astype(np.float32)
    bits = np.arange(4, 9)
    sqnr = np.array([sqnr_db(x, mq.fake_quantize(x, bits=int(b))) for b in bits])
    qmax = 2.0 ** (bits - 1) - 1
    np.testing.assert_allclose(np.diff(sqnr), 20 * np.log10(qmax[1:] / qmax[:-1]), atol=0.1)


def test_error_table_covers_the_grid_and_improves_with_bits(rng):
    w = rng.standard_normal((128, 16)).astype(np.float32)
    rows = error_table(w, bits=(8, 4, 2), group_size=32)
    assert len(rows) == 3 * 2 * 3
    assert set(rows[0]) >= {"bits", "scheme", "granularity", "group_size", "bits_per_weight", "nbytes", *error_report(w, w)}
    for scheme in ("symmetric", "asymmetric"):
        for gran in ("tensor", "channel", "group"):
            errs = [r["mse"] for r in rows if r["scheme"] == scheme and r["granularity"] == gran]
            assert errs[0] < errs[1] < errs[2]  # 8 < 4 < 2 bits
    text = format_table(rows)
    assert text.count("\n") == len(rows) + 1 and "sqnr_db" in text


def test_model_weight_errors_and_pooled_sqnr():
    from miniquant.eval import model_weight_errors, pooled_sqnr_db

    rng = np.random.default_rng(5)
    reference = {"a": rng.standard_normal((64, 8)).astype(np.float32), "b": rng.standard_normal((32, 16)).astype(np.float32),
                 "bias": np.zeros(8, np.float32)}
    params = {"a": mq.quantize(reference["a"], bits=4, group_size=32), "b": mq.quantize(reference["b"], bits=8),
              "bias": reference["bias"]}
    rows = model_weight_errors(reference, params)
    assert [r["tensor"] for r in rows] == ["a", "b"]
    assert rows[0]["storage"].startswith("int4 sym g32") and rows[0]["bits_per_weight"] == params["a"].bits_per_weight
    assert rows[0]["sqnr_db"] == pytest.approx(sqnr_db(reference["a"], params["a"].dequantize()))
    assert rows[1]["sqnr_db"] > rows[0]["sqnr_db"] + 20  # 8 bits vs 4 bits
    pooled = np.concatenate([reference["a"].ravel(), reference["b"].ravel()])
    pooled_hat = np.concatenate([params["a"].dequantize().ravel(), params["b"].dequantize().ravel()])
    assert pooled_sqnr_db(reference, params) == pytest.approx(sqnr_db(pooled, pooled_hat), rel=1e-6)
    assert pooled_sqnr_db(reference, reference) == float("inf")
    with pytest.raises(KeyError, match="no float weight named 'a'"):
        model_weight_errors({"b": reference["b"]}, params)
