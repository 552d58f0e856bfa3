"""Recipes: which tensors are quantized, overrides, and the result runs as a model."""
import numpy as np
import pytest

from miniquant import QTensor, QuantSpec
from miniquant.methods import Recipe, fake_quantize_model, quantize_model
from miniquant.nn import GPT, GPTConfig, init_params

CONFIG = GPTConfig(vocab_size=64, n_ctx=16, n_embd=32, n_head=2, n_layer=2)


def test_matrices_are_quantized_and_the_rest_kept():
    params = init_params(CONFIG)
    q = quantize_model(params, Recipe(QuantSpec(bits=4, group_size=32)))
    for name, value in q.items():
        expected_quantized = value is not params[name] and name not in ("wte", "wpe")
        assert isinstance(value, QTensor) == (params[name].ndim == 2 and name not in ("wte", "wpe"))
        assert isinstance(value, QTensor) == expected_quantized
    assert all(isinstance(params[k], np.ndarray) for k in params)  # the input is unchanged


def test_overrides_and_fake_quantization_agree():
    params = init_params(CONFIG)
    recipe = Recipe(QuantSpec(bits=4, group_size=32), overrides=(("h.0.mlp.*", QuantSpec(bits=8, granularity="channel")), ("h.1.attn.c_proj.weight", None)))
    q = quantize_model(params, recipe)
    assert q["h.0.mlp.c_fc.weight"].spec.bits == 8 and q["h.1.mlp.c_fc.weight"].spec.bits == 4
    assert isinstance(q["h.1.attn.c_proj.weight"], np.ndarray)
    ids = np.array([[1, 2, 3, 4]])
    real = GPT(CONFIG, q).forward(ids)
    fake = GPT(CONFIG, fake_quantize_model(params, recipe)).forward(ids)
    np.testing.assert_allclose(real, fake, rtol=1e-4, atol=1e-4)
    assert recipe.label() == "int4 sym g32 +h.0.mlp.*,h.1.attn.c_proj.weight overrides"
    with pytest.raises(TypeError, match="recipe must be a Recipe"):
        quantize_model(params, QuantSpec(bits=4))


def test_a_recipe_may_quantize_the_tied_head():
    from miniquant.methods import make_recipe

    params = init_params(CONFIG)
    for head, bits, granularity in (("same", 4, "group"), (8, 8, "channel")):
        recipe = make_recipe(4, group_size=16, head=head)
        q = quantize_model(params, recipe)
        wte = q["wte"]
        assert isinstance(wte, QTensor) and wte.spec.axis == 1 and wte.spec.bits == bits
        assert wte.spec.granularity == granularity and isinstance(q["wpe"], np.ndarray)
        ids = np.array([[1, 2, 3, 4]])
        np.testing.assert_allclose(GPT(CONFIG, q).forward(ids), GPT(CONFIG, fake_quantize_model(params, recipe)).forward(ids),
                                   rtol=1e-4, atol=1e-4)
    assert make_recipe(4, group_size=16).head is None and "wte" in make_recipe(4).keep
    with pytest.raises(ValueError, match="head must be None \\(float\\), 'same' or a bit-width, got 'yes'"):
        make_recipe(4, head="yes")
    with pytest.raises(ValueError, match="head= quantizes the tied output head by round-to-nearest"):
        make_recipe(4, head="same", method="gptq")
