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
        (([], 3), {}, "prompt must be a non-empty sequence of token ids"),
        (([1, 32], 3), {}, "prompt token ids must lie in \\[0, 31\\]"),
        (([1] * 15, 6), {}, "exceed the context of 20"),
        (([1], -1), {}, "max_new_tokens must be a non-negative integer"),
        (([1], 2), {"top_p": 1.5}, "top_p must be a number in \\(0, 1\\]"),
        (([1], 2), {"temperature": -1}, "temperature must be a finite number >= 0"),
    ],
)
def test_bad_generation_arguments(model, args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate(model, *args, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": -1}, "temperature must be a finite number >= 0"),
        ({"temperature": float("nan")}, "temperature must be a finite number >= 0"),
        ({"temperature": float("inf")}, "temperature must be a finite number >= 0"),
        ({"top_k": 0}, "top_k must be an integer >= 1"),
        ({"top_k": 2.5}, "top_k must be an integer >= 1"),
        ({"top_p": 0}, "top_p must be a number in \\(0, 1\\]"),
        ({"top_p": 1.01}, "top_p must be a number in \\(0, 1\\]"),
        ({"top_p": float("nan")}, "top_p must be a number in \\(0, 1\\]"),
    ],
)
def test_sample_next_refuses_what_would_sample_the_wrong_tokens(kwargs, match):
    # temperature=-1 used to sample the least likely token; top_k=0 silently filtered nothing.
    with pytest.raises(ValueError, match=match):
        sample_next(np.array([0.1, 2.0, 1.9]), np.random.default_rng(0), **kwargs)


def test_float_prompt_ids_are_refused_not_truncated(model):
    with pytest.raises(TypeError, match="prompt must hold integer token ids, got dtype float64"):
        generate(model, [1.9, 2.0], 3)


def test_sample_next_refuses_bad_logits():
    for logits in (np.array([1.0, np.nan]), np.zeros((2, 2)), np.array([], dtype=np.float32), np.array([1, 2])):
        with pytest.raises(ValueError, match="logits"):
            sample_next(logits, np.random.default_rng(0))
