"""Training: the loss falls on a tiny model, the schedule and the optimizer behave."""
import numpy as np

from miniquant.nn import GPTConfig
from miniquant.nn.data import Corpus
from miniquant.nn.train import AdamW, TrainConfig, clip_gradients, learning_rate, sample_batch, streams, train


def tiny_corpus():
    text = "the quick brown fox jumps over the lazy dog. " * 40
    return Corpus(docs_train=text, docs_val=text[:200], arith_train=["1+2=3", "4+5=9", "7-2=5"] * 20, arith_val=["2+2=4"])


def test_loss_falls_on_a_tiny_model():
    config = GPTConfig(vocab_size=256, n_ctx=16, n_embd=32, n_head=2, n_layer=1)
    _, history = train(config, TrainConfig(steps=60, batch_size=8, lr=1e-2, warmup=5, log_every=10), tiny_corpus(), progress=False)
    assert history[-1]["loss"] < 0.6 * history[0]["loss"]
    assert [h["step"] for h in history] == [10, 20, 30, 40, 50, 60]


def test_schedule_warms_up_then_decays():
    tc = TrainConfig(steps=100, lr=1.0, min_lr=0.1, warmup=10)
    lrs = [learning_rate(s, tc) for s in range(100)]
    assert lrs[0] == 0.1 and lrs[9] == 1.0 and abs(lrs[-1] - 0.1) < 0.01
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_clipping_and_adamw():
    grads = {"a": np.full((2, 2), 3.0, np.float32), "b": np.full(1, 4.0, np.float32)}
    norm = clip_gradients(grads, 1.0)
    assert abs(norm - np.sqrt(4 * 9 + 16)) < 1e-6
    assert abs(np.sqrt(sum((g**2).sum() for g in grads.values())) - 1.0) < 1e-6
    params = {"a": np.ones((2, 2), np.float32), "b": np.ones(1, np.float32)}
    AdamW(params, weight_decay=0.1).step(params, {"a": np.ones((2, 2), np.float32), "b": -np.ones(1, np.float32)}, lr=0.1)
    np.testing.assert_allclose(params["a"], 1 - 0.1 * (1 + 0.1), rtol=1e-5)  # Adam's first step is lr * sign, plus decay
    np.testing.assert_allclose(params["b"], 1.1, rtol=1e-5)                  # no decay on vectors


def test_batches_are_windows_of_the_streams():
    docs, arith = streams(tiny_corpus())
    ids, targets = sample_batch(docs, arith, 8, 4, np.random.default_rng(0), 0.5)
    assert ids.shape == targets.shape == (4, 8)
    np.testing.assert_array_equal(ids[:, 1:], targets[:, :-1])
