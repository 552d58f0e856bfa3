"""quantize_model with every method: sequential calibration, what is recorded, and clear errors."""
import numpy as np
import pytest

from miniquant import QTensor, QuantSpec
from miniquant.methods import (
    Recipe, collect_input_stats, gptq_quantize, hqq_quantize, make_recipe, quantize_model,
)
from miniquant.nn import GPT, GPTConfig, init_params

CONFIG = GPTConfig(vocab_size=64, n_ctx=16, n_embd=32, n_head=2, n_layer=2)
IDS = np.random.default_rng(0).integers(0, 64, (6, 16))


def model():
    return GPT(CONFIG, init_params(CONFIG, seed=5))


def test_gptq_is_sequential_each_layer_sees_the_quantized_layers_before_it():
    m = model()
    recipe = make_recipe(4, group_size=16, method="gptq")
    q = quantize_model(m.params, recipe, calibration=IDS)
    # by hand: the first layer from the float model, the second from the model with the first quantized
    first, second = "h.0.attn.c_attn.weight", "h.0.attn.c_proj.weight"
    spec = recipe.spec
    h1 = collect_input_stats(m, IDS, [first])[first].H
    q1 = gptq_quantize(m.params[first], h1, spec)
    np.testing.assert_array_equal(q[first].codes, q1.codes)
    partly = GPT(CONFIG, {**m.params, first: q1})
    h2 = collect_input_stats(partly, IDS, [second])[second].H
    np.testing.assert_array_equal(q[second].codes, gptq_quantize(m.params[second], h2, spec).codes)
    h2_float = collect_input_stats(m, IDS, [second])[second].H
    assert not np.allclose(h2, h2_float)                               # it did matter which model ran
    assert all(isinstance(q[n], QTensor) for n in q if n.endswith(".weight") and q[n].ndim == 2 and "ln" not in n)


def test_the_result_records_method_options_and_calibration():
    q = quantize_model(model().params, make_recipe(3, method="gptq", damp=0.05), calibration=IDS)
    rec = q.quantization
    assert rec["method"] == "gptq" and rec["options"]["damp"] == 0.05 and rec["options"]["block_size"] == 128
    assert rec["calibration"]["windows"] == 6 and rec["calibration"]["tokens_per_window"] == 16
    assert len(rec["calibration"]["sha256"]) == 64 and rec["seconds"] > 0
    assert q.config == CONFIG
    GPT(q.config, q).forward(IDS[:1])


def test_hqq_and_rtn_need_no_data_and_ignore_it():
    m = model()
    recipe = make_recipe(3, group_size=16, scheme="asymmetric", method="hqq")
    a = quantize_model(m.params, recipe)
    b = quantize_model(dict(m.params), recipe, calibration=IDS)      # a plain dict is fine without calibration
    name = "h.1.mlp.c_fc.weight"
    np.testing.assert_array_equal(a[name].codes, b[name].codes)
    np.testing.assert_array_equal(a[name].codes, hqq_quantize(m.params[name], recipe.spec).codes)
    assert "calibration" not in a.quantization


@pytest.mark.parametrize("method", ["rtn", "gptq", "hqq"])
def test_overrides_compose_with_every_method(method):
    m = model()
    recipe = make_recipe(3, group_size=16, scheme="asymmetric", method=method, protect=["h.0.mlp.*"])
    q = quantize_model(m.params, recipe, calibration=IDS)
    assert q["h.0.mlp.c_fc.weight"].spec.bits == 8 and q["h.1.mlp.c_fc.weight"].spec.bits == 3
    GPT(CONFIG, q).forward(IDS[:1])


def test_bad_requests_get_a_clear_error():
    m = model()
    gptq = make_recipe(4, method="gptq")
    with pytest.raises(ValueError, match="method 'gptq' needs calibration data: pass calibration=ids"):
        quantize_model(m.params, gptq)
    with pytest.raises(ValueError, match="needs its shape: pass config=GPTConfig"):
        quantize_model(dict(m.params), gptq, calibration=IDS)
    quantize_model(dict(m.params), gptq, calibration=IDS, config=CONFIG)       # config given: fine
    with pytest.raises(ValueError, match=r"calibration token ids must lie in \[0, 63\]"):
        quantize_model(m.params, gptq, calibration=IDS + 10)
    with pytest.raises(ValueError, match=r"calibration must have shape \(windows, time\)"):
        quantize_model(m.params, gptq, calibration=IDS[0])
    with pytest.raises(ValueError, match="at least one window"):
        quantize_model(m.params, gptq, calibration=IDS[:0])
    with pytest.raises(ValueError, match="method must be one of"):
        make_recipe(4, method="magic")
    with pytest.raises(ValueError, match="method 'rtn' has no option 'damp' \\(it takes no options\\)"):
        make_recipe(4, damp=0.1)
    with pytest.raises(ValueError, match="method 'gptq' has no option 'iters' \\(it takes block_size, damp"):
        make_recipe(4, method="gptq", iters=3)
    with pytest.raises(ValueError, match="act_order=True with granularity='group' needs static_groups=True"):
        make_recipe(4, group_size=32, method="gptq", act_order=True)
    with pytest.raises(ValueError, match="a symmetric spec has no zero point to optimise"):
        make_recipe(4, method="hqq", optimize_scale=False)
    with pytest.raises(ValueError, match="act_order=True with granularity='group'"):
        Recipe(QuantSpec(bits=4, granularity="channel"), overrides=(("h.0.*", QuantSpec(bits=8, group_size=16)),),
               method="gptq", options={"act_order": True})
