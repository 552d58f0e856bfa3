"""Evaluation primitives on tiny models and texts."""
import numpy as np
import pytest

from miniquant.nn import GPT, GPTConfig, init_params
from miniquant.nn.evaluate import arithmetic_accuracy, bits_per_byte, ngram_bits_per_byte, text_windows


def test_untrained_model_is_near_8_bits_per_byte():
    config = GPTConfig(vocab_size=256, n_ctx=16, n_embd=16, n_head=2, n_layer=1)
    bpb = bits_per_byte(GPT(config, init_params(config)), "hello world, " * 20)
    assert 7.5 < bpb < 8.5  # uniform over 256 bytes is exactly 8


def test_ngram_baselines():
    text = "ab" * 5000
    assert ngram_bits_per_byte(text, text, 2) < 0.1  # b always follows a (up to add-one smoothing)
    assert 0.99 < ngram_bits_per_byte(text, text, 1) < 1.05  # two equally likely bytes: 1 bit
    with pytest.raises(ValueError, match="order must be 1 or 2"):
        ngram_bits_per_byte(text, text, 3)


def test_windows_and_accuracy_plumbing():
    ids, targets = text_windows(np.arange(10, dtype=np.uint8), 4)
    np.testing.assert_array_equal(ids, [[0, 1, 2, 3], [4, 5, 6, 7]])
    np.testing.assert_array_equal(targets, [[1, 2, 3, 4], [5, 6, 7, 8]])
    config = GPTConfig(vocab_size=256, n_ctx=16, n_embd=16, n_head=2, n_layer=1)
    acc = arithmetic_accuracy(GPT(config, init_params(config)), ["1+1=2", "2+3=5"])
    assert acc in (0.0, 0.5, 1.0)
