"""Element formats as quantized weights: one QTensor, the ledger, the matmul, checkpoints, recipes, clear errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import miniquant as mq
from miniquant import QTensor, QuantSpec
from miniquant.eval import memory_ledger
from miniquant.formats import FORMATS, get
from miniquant.kernels import qmatmul, qmatmul_tolerance
from miniquant.methods import make_recipe, quantize_model
from miniquant.nn import GPT, GPTConfig, init_params, load_checkpoint, save_checkpoint
from miniquant.testing.strategies import quantizable_arrays

W = np.random.default_rng(0).normal(size=(128, 24)).astype(np.float32)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_a_format_weight_is_the_table_times_an_absmax_scale(name):
    fmt = get(name)
    q = mq.quantize(W, format=name, group_size=32, scale_dtype=np.float16)
    assert q.spec.bits == fmt.bits and q.codes.dtype == np.uint8 and q.spec.scheme == "symmetric"
    scale = q.scale.astype(np.float64)                                       # (K // 32, N)
    blocks = np.abs(W.astype(np.float64)).reshape(4, 32, 24)
    expected = blocks.mean(axis=1) if name == "ternary" else blocks.max(axis=1) / fmt.max
    # float16, rounded up (e5m2: amax / 57344 is a float16 subnormal, whose steps are 2^-24)
    assert np.all(scale >= expected) and np.all(scale <= expected * (1 + 2**-10) + 2**-24)
    full_scale = np.repeat(scale, 32, axis=0)
    np.testing.assert_array_equal(q.codes, fmt.encode(W / full_scale))
    np.testing.assert_array_equal(q.dequantize(), fmt.decode(q.codes) * np.repeat(q.scale.astype(np.float32), 32, axis=0))
    assert memory_ledger(q).total_bytes == q.nbytes == W.size * fmt.bits // 8 + q.scale.size * 2


def test_nf4_beats_int4_on_gaussian_weights_at_the_same_bits():
    nf4 = mq.quantize(W, format="nf4", group_size=64, scale_dtype=np.float16)
    int4 = mq.quantize(W, bits=4, group_size=64, scale_dtype=np.float16)
    assert nf4.bits_per_weight == int4.bits_per_weight == 4.25
    assert np.mean((nf4.dequantize() - W) ** 2) < 0.8 * np.mean((int4.dequantize() - W) ** 2)


@given(st.sampled_from(sorted(FORMATS)), st.sampled_from(["tensor", "channel", 8]),
       quantizable_arrays(shape=(16, 3), kinds=("uniform", "outliers", "zeros", "constant", "skewed", "tiny"),
                          max_magnitude=1e4))
def test_every_format_weight_is_valid_and_within_half_a_table_gap(name, gran, x):
    kind = {"granularity": gran} if isinstance(gran, str) else {"group_size": gran}
    q = mq.quantize(x, format=name, **kind)
    assert memory_ledger(q).total_bytes == q.nbytes
    x_hat = q.dequantize().astype(np.float64)
    assert np.all(np.isfinite(x_hat))
    values = get(name).values.astype(np.float64)
    half_gap = np.max(np.diff(values)) / 2
    scale = np.broadcast_to(np.repeat(np.repeat(q.scale.astype(np.float64), q.block_shape[0], 0), q.block_shape[1], 1), x.shape)
    clipped = np.clip(x / scale, values[0], values[-1]) * scale                # saturation is the format's choice
    assert np.all(np.abs(clipped - x_hat) <= half_gap * scale * (1 + 1e-6) + 1e-30)
    y = qmatmul(np.ones((2, 16), np.float32), q)
    assert np.all(np.abs(y - np.ones((2, 16), np.float32) @ q.dequantize()) <= qmatmul_tolerance(np.ones((2, 16)), q))


def test_a_format_model_runs_and_round_trips_through_a_checkpoint(tmp_path):
    config = GPTConfig(vocab_size=64, n_ctx=16, n_embd=32, n_head=4, n_layer=1)
    params = init_params(config, seed=1)
    recipe = make_recipe(format="nf4", group_size=32)
    assert recipe.label() == "nf4 g32"
    q = quantize_model(params, recipe)
    ids = np.arange(8)[None, :]
    logits = GPT(config, q).forward(ids)
    path = tmp_path / "nf4.npz"
    save_checkpoint(path, config, q, {"recipe": recipe.label()})
    _, loaded, _ = load_checkpoint(path)
    assert loaded["h.0.mlp.c_fc.weight"].spec.format == "nf4"
    np.testing.assert_array_equal(GPT(config, loaded).forward(ids), logits)
    protected = quantize_model(params, make_recipe(format="fp4_e2m1", group_size=32, protect=["h.0.mlp.*"]))
    assert protected["h.0.mlp.c_fc.weight"].spec.format == "int" and protected["h.0.mlp.c_fc.weight"].spec.bits == 8


def test_a_tampered_checkpoint_is_refused(tmp_path):
    import json

    config = GPTConfig(vocab_size=64, n_ctx=16, n_embd=32, n_head=4, n_layer=1)
    path = tmp_path / "m.npz"
    save_checkpoint(path, config, quantize_model(init_params(config), make_recipe(format="fp8_e4m3")), {})
    header = np.load(path)["__header__"]
    text = json.loads(str(header))
    text["quantized"]["h.0.mlp.c_fc.weight"]["spec"]["format"] = "fp9"
    bad = tmp_path / "bad.npz"
    arrays = {k: v for k, v in np.load(path).items() if k != "__header__"}
    np.savez(bad, __header__=np.array(json.dumps(text)), **arrays)
    with pytest.raises(ValueError, match="format must be one of"):
        load_checkpoint(bad)

    def rewrite(change):
        text = json.loads(str(header))
        change(text["quantized"]["h.0.mlp.c_fc.weight"])
        np.savez(bad, __header__=np.array(json.dumps(text)), **arrays)

    def fp8_as_e5m2(entry):                         # same bits, another table: the codes would mean other values
        entry["spec"]["format"] = "fp8_e5m2"
    rewrite(fp8_as_e5m2)
    with pytest.raises(ValueError, match="value table does not match format 'fp8_e5m2'"):
        load_checkpoint(bad)

    def one_value_changed(entry):
        entry["table"][3] = 0.5
    rewrite(one_value_changed)
    with pytest.raises(ValueError, match="h.0.mlp.c_fc.weight.*value table does not match format 'fp8_e4m3'"):
        load_checkpoint(bad)

    def no_table(entry):
        del entry["table"]
    rewrite(no_table)
    with pytest.raises(ValueError, match="needs its value table"):
        load_checkpoint(bad)


def test_reserved_codes_and_contradicting_options_are_refused():
    with pytest.raises(ValueError, match="format 'nf4' has 4-bit codes, got bits=3"):
        QuantSpec(bits=3, format="nf4")
    with pytest.raises(ValueError, match="format 'nf4' is symmetric"):
        QuantSpec(format="nf4", scheme="asymmetric", group_size=64)
    with pytest.raises(ValueError, match="format must be one of"):
        mq.quantize(W, format="nf5")
    with pytest.raises(ValueError, match="rounds as the format says"):
        QuantSpec(format="fp8_e4m3", rounding="stochastic")
    with pytest.raises(TypeError, match="bits is required for format='int'"):
        QuantSpec()
    spec = QuantSpec(format="fp8_e4m3", granularity="tensor")
    with pytest.raises(ValueError, match="reserves for NaN or inf"):
        QTensor(np.full(4, 0x7F, np.uint8), np.ones((1, 1), np.float32), None, (2, 2), spec)   # 0x7F: e4m3's NaN
    with pytest.raises(ValueError, match="method 'gptq' chooses codes on the integer grid"):
        make_recipe(format="nf4", group_size=64, method="gptq")
    with pytest.raises(ValueError, match="activations='int8' runs the integer kernels"):
        make_recipe(format="nf4", group_size=64, activations="int8")
