"""Generation: greedy, seeded sampling, top-k/top-p limits, and clear errors."""
import numpy as np
import pytest

from miniquant.nn import GPT, GPTConfig, generate, init_params, sample_next

CONFIG = GPTConfig(vocab_size=32, n_ctx=20, n_embd=16, n_head=2, n_layer=1)


@pytest.fixture
def model():
    return GPT(CONFIG, init_params(CONFIG, seed=3))


def test_greedy_equals_repeated_argmax_of_the_full_forward(model):
    out = generate(model, [1, 2, 3], 5, temperature=0)
    ids = [1, 2, 3]
    for _ in range(5):
        ids.append(int(np.argmax(model.forward(np.array([ids]))[0, -1])))
    assert out == ids


def test_sampling_is_reproducible_with_a_seed(model):
    a = generate(model, [1], 10, seed=7)
    assert a == generate(model, [1], 10, seed=7)
    assert len(a) == 11 and all(0 <= t < 32 for t in a)


def test_top_k_one_and_tiny_top_p_are_greedy():
    rng = np.random.default_rng(0)
    logits = np.array([0.1, 2.0, 1.9, -1.0])
    assert all(sample_next(logits, rng, top_k=1) == 1 for _ in range(20))
    assert all(sample_next(logits, rng, top_p=1e-6) == 1 for _ in range(20))
    picks = {sample_next(logits, rng, top_k=2) for _ in range(200)}
    assert picks == {1, 2}


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (([], 3), {}, "at least one token"),
        (([1] * 15, 6), {}, "exceed the context of 20"),
        (([1], -1), {}, "max_new_tokens must be a non-negative integer"),
        (([1], 2), {"top_p": 1.5}, "0 < top_p <= 1"),
        (([1], 2), {"temperature": -1}, "temperature >= 0"),
    ],
)
def test_bad_generation_arguments(model, args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate(model, *args, **kwargs)
