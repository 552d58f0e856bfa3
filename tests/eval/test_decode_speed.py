"""The end-to-end decode benchmark: its byte count, its table, and the command (no timed assertions)."""
import numpy as np
import pytest

from miniquant.cli import main
from miniquant.eval import decode_speed
from miniquant.nn import GPT, GPTConfig

TINY = GPTConfig(vocab_size=96, n_ctx=32, n_embd=64, n_head=4, n_layer=2)


def test_bytes_per_token_counts_every_matrix_one_embedding_row_and_the_cache():
    model = GPT(TINY, decode_speed.random_params(TINY))
    E, L = TINY.n_embd, TINY.n_layer
    matrices = sum(v.nbytes for k, v in model.params.items() if v.ndim == 2 and k != "wpe")   # the head reads wte whole
    vectors = sum(v.nbytes for v in model.params.values() if v.ndim == 1)
    assert decode_speed.bytes_per_token(model, context=10) == matrices + vectors + 4 * E + 2 * L * 10 * E * 4


def test_bench_decode_times_every_configuration_against_float(capsys):
    recipes = (("float32", None), ("int8 channel +head", dict(bits=8, head="same")),
               ("w4a8 g32 +head int8", dict(bits=4, group_size=32, head=8, activations="int8")))
    rows = decode_speed.bench_decode(TINY, recipes, new_tokens=3, rounds=1)
    assert [r["label"] for r in rows] == ["float32", "int8 channel +head", "w4a8 g32 +head int8"]
    assert rows[0]["ratio"] == 1.0 and rows[0]["bits_per_weight"] == 32.0
    assert rows[1]["bits_per_weight"] < 8.5 and rows[2]["bits_per_weight"] < rows[1]["bits_per_weight"]
    assert rows[2]["bytes_per_token"] < rows[1]["bytes_per_token"] < rows[0]["bytes_per_token"]
    assert all(r["tokens_per_s"] > 0 and r["gbps"] > 0 for r in rows)
    text = decode_speed.format_decode("tiny", TINY, rows, bandwidth=20.0)
    assert "int8 channel +head" in text and "vs float" in text and "random weights" in text
    with pytest.raises(ValueError, match="must include the float32 baseline"):
        decode_speed.bench_decode(TINY, recipes[1:], new_tokens=2, rounds=1)
    with pytest.raises(ValueError, match="new_tokens must be a positive integer, got 0"):
        decode_speed.bench_decode(TINY, recipes, new_tokens=0)


def test_the_shapes_are_gpt2s():
    shapes = decode_speed.GPT2_SHAPES
    assert [(c.n_embd, c.n_layer, c.n_head) for c in shapes.values()] == [(768, 12, 12), (1024, 24, 16), (1280, 36, 20)]
    assert all(c.vocab_size == 50257 and c.n_ctx == 1024 for c in shapes.values())


def test_bench_model_refuses_an_unknown_shape(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--model", "huge"])
    assert "--model takes GPT-2 shapes among small, medium, large, got 'huge'" in capsys.readouterr().err


def test_random_params_have_the_shapes_and_are_float32():
    params = decode_speed.random_params(TINY, seed=3)
    assert all(v.dtype == np.float32 for v in params.values())
    assert abs(float(params["h.0.mlp.c_fc.weight"].std()) - 0.02) < 0.002
