"""Calibration: windows from the training split only, statistics equal to a direct computation, clear errors."""
import numpy as np
import pytest

from miniquant.methods import InputStats, calibration_windows, check_calibration, collect_input_stats, linear_weights
from miniquant.nn import GPT, GPTConfig, init_params
from miniquant.nn.data import Corpus, in_validation
from miniquant.nn.functional import layer_norm

CONFIG = GPTConfig(vocab_size=256, n_ctx=16, n_embd=32, n_head=2, n_layer=2)
CORPUS = Corpus(docs_train="the training docstrings, " * 40, docs_val="HELD OUT TEXT " * 40,
                arith_train=["1+1=2", "12+30=42", "7-3=4"] * 20, arith_val=["5+5=10", "9-1=8"])


def test_windows_come_from_the_training_split_only_and_follow_the_seed():
    for source in ("mix", "docs", "arith"):
        ids = calibration_windows(CORPUS, 16, 40, seed=1, source=source)
        assert ids.shape == (40, 16) and ids.dtype == np.int64
        text = bytes(ids.astype(np.uint8).ravel()).decode("ascii")
        assert "HELD" not in text and "5+5=10" not in text and "9-1=8" not in text
        np.testing.assert_array_equal(ids, calibration_windows(CORPUS, 16, 40, seed=1, source=source))
    arith = bytes(calibration_windows(CORPUS, 16, 20, source="arith").astype(np.uint8).ravel()).decode()
    docs = bytes(calibration_windows(CORPUS, 16, 20, source="docs").astype(np.uint8).ravel()).decode()
    assert set(arith) <= set("0123456789+-=\n") and not set(docs) & set("0123456789=")
    assert not np.array_equal(calibration_windows(CORPUS, 16, 8, seed=0), calibration_windows(CORPUS, 16, 8, seed=1))


def test_the_real_split_rule_holds_for_the_windows():
    from miniquant.nn.data import build_corpus
    corpus = build_corpus()
    ids = calibration_windows(corpus, 64, 64, seed=0, source="arith")
    lines = bytes(ids.astype(np.uint8).ravel()).decode().split("\n")
    whole = [line for window in np.split(ids, len(ids)) for line in bytes(window.astype(np.uint8).ravel()).decode().split("\n")[1:-1]]
    assert whole and lines
    assert not any(in_validation(line.split("=")[0] + "=") for line in whole if line.count("=") == 1)


def test_the_statistics_equal_a_direct_computation():
    params = init_params(CONFIG, seed=1)
    model = GPT(CONFIG, params)
    ids = np.random.default_rng(0).integers(0, 256, (5, 12))
    name = "h.0.attn.c_attn.weight"
    stats = collect_input_stats(model, ids, [name], batch_size=2)[name]
    x = layer_norm(params["wte"][ids] + params["wpe"][:12], params["h.0.ln_1.weight"], params["h.0.ln_1.bias"])
    x = x.reshape(-1, 32).astype(np.float64)
    assert stats.rows == 60
    np.testing.assert_allclose(stats.xtx, x.T @ x, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats.H, 2 * x.T @ x, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats.abs_max, np.abs(x).max(axis=0), rtol=1e-6)
    np.testing.assert_allclose(stats.abs_mean, np.abs(x).mean(axis=0), rtol=1e-5)
    assert model.observer is None                                      # detached afterwards


def test_every_layer_is_seen_and_the_batching_does_not_matter():
    model = GPT(CONFIG, init_params(CONFIG, seed=2))
    ids = np.random.default_rng(1).integers(0, 256, (6, 16))
    names = linear_weights(CONFIG)
    assert len(names) == 8
    one = collect_input_stats(model, ids, names, batch_size=1)
    six = collect_input_stats(model, ids, names, batch_size=6)
    for name in names:
        assert one[name].rows == six[name].rows == 96
        assert one[name].K == model.params[name].shape[0]
        np.testing.assert_allclose(one[name].xtx, six[name].xtx, rtol=1e-4, atol=1e-5)


def test_a_forward_pass_stops_once_the_layers_asked_for_are_seen(monkeypatch):
    import miniquant.nn.gpt as gpt

    model = GPT(CONFIG, init_params(CONFIG))
    multiplies = []
    inner = gpt.linear
    monkeypatch.setattr(gpt, "linear", lambda x, w, *args: multiplies.append(w.shape) or inner(x, w, *args))
    collect_input_stats(model, np.zeros((3, 4), np.int64), ["h.0.attn.c_attn.weight"], batch_size=1)
    assert multiplies == []  # the observer stops each pass before the first multiply
    collect_input_stats(model, np.zeros((3, 4), np.int64), ["h.0.mlp.c_fc.weight"], batch_size=1)
    assert multiplies == [(32, 96), (32, 32)] * 3  # c_attn and c_proj ran, nothing after c_fc


def test_outlier_ratio():
    stats = InputStats(4, hessian=False)
    stats.update(np.array([[1.0, 1.0, 1.0, 20.0], [-1.0, 0.5, 1.0, 0.0]]))
    assert stats.outlier_ratio() == 20.0
    with pytest.raises(ValueError, match="without x\\^T x"):
        stats.H


def test_bad_calibration_gets_a_clear_error():
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 255\], got 0..256"):
        check_calibration(np.array([[0, 256]]), CONFIG)
    with pytest.raises(ValueError, match=r"must have shape \(windows, time\), got shape \(3,\)"):
        check_calibration(np.array([1, 2, 3]), CONFIG)
    with pytest.raises(ValueError, match="at least one window"):
        check_calibration(np.zeros((0, 8), np.int64), CONFIG)
    with pytest.raises(TypeError, match="integer token ids, got dtype float64"):
        check_calibration(np.zeros((2, 8)), CONFIG)
    with pytest.raises(ValueError, match="exceed the model's context of 16"):
        check_calibration(np.zeros((2, 17), np.int64), CONFIG)
    with pytest.raises(ValueError, match="windows must be a positive integer"):
        calibration_windows(CORPUS, 16, 0)
    with pytest.raises(ValueError, match="source must be one of"):
        calibration_windows(CORPUS, 16, 4, source="held-out")
    with pytest.raises(ValueError, match="no linear layer has the weight 'wte'"):
        collect_input_stats(GPT(CONFIG, init_params(CONFIG)), np.zeros((1, 4), np.int64), ["wte"])
