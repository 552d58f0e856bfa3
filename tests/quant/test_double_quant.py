"""Double quantization (QLoRA): the scales as e4m3 codes with a float32 scale per 256, counted exactly."""
import os

import numpy as np
import pytest

import miniquant as mq
from miniquant.eval import memory_ledger
from miniquant.quant.double_quant import double_dequantize, double_quantize

W = np.random.default_rng(0).standard_normal((256, 512)).astype(np.float32)      # 2048 blocks of 64: 8 second-level blocks


def test_nf4_g64_costs_4_127_bits_per_weight_with_double_quantization_and_4_5_without():
    single = mq.quantize(W, format="nf4", group_size=64)
    double = mq.quantize(W, format="nf4", group_size=64, double_quant=True)
    assert single.bits_per_weight == memory_ledger(single).bits_per_weight == 4.5
    assert double.nbytes == memory_ledger(double).total_bytes == W.size // 2 + 2048 + 8 * 4
    assert round(double.bits_per_weight, 3) == 4.127
    ledger = memory_ledger(double)
    assert ledger.rows[0].scale_bits == 2048 * 8 + 8 * 32 and ledger.rows[0].storage == "nf4 g64 dq"


def test_the_decoded_scales_are_close_and_the_codes_use_them():
    first, _ = mq.choose_qparams(W, format="nf4", group_size=64)
    double = mq.quantize(W, format="nf4", group_size=64, double_quant=True)
    s, s_hat = first.astype(np.float64), double.scale.astype(np.float64)
    assert np.all(np.abs(s_hat / s - 1) <= 2.0**-4)                   # nearest e4m3: half a step of 1/8
    assert not np.array_equal(s, s_hat)
    again = mq.quantize_affine(W, double.scale, np.zeros_like(double.zero_point), double.spec.replace(double_quant=False))
    np.testing.assert_array_equal(double.codes, again)                # codes computed against s_hat
    single = mq.quantize(W, format="nf4", group_size=64)
    mse = lambda q: float(np.mean((q.dequantize() - W) ** 2))  # noqa: E731
    assert mse(double) <= 1.02 * mse(single)


def test_second_level_blocks_and_a_hand_worked_block():
    s = np.full(256, 0.5)
    s[0] = 448.0 * 2.0                                                # the block's max: c = 2, code of 448
    s[1] = 1e-9                                                       # far below 2^-9 c: the smallest positive code
    codes, second = double_quantize(s)
    assert second.tolist() == [2.0] and codes[0] == 0x7E and codes[1] == 1
    np.testing.assert_array_equal(double_dequantize(codes, second)[:3], [896.0, 2.0**-9 * 2, 0.5])


def test_double_quantization_survives_a_checkpoint(tmp_path):
    from miniquant.methods import make_recipe, quantize_model
    from miniquant.nn import GPTConfig, init_params, load_checkpoint, save_checkpoint

    config = GPTConfig(vocab_size=256, n_ctx=16, n_embd=128, n_head=4, n_layer=1)
    params = init_params(config, seed=0)
    q = quantize_model(params, make_recipe(format="nf4", group_size=64, double_quant=True), config=config)
    path = os.path.join(tmp_path, "dq.npz")
    save_checkpoint(path, config, q)
    _, loaded, _ = load_checkpoint(path)
    name = "h.0.mlp.c_fc.weight"
    np.testing.assert_array_equal(loaded[name].dequantize(), q[name].dequantize())
    assert loaded[name].spec.double_quant and loaded[name].second_scale.shape == (4,)


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="this tensor has 64 scale\\(s\\), not a multiple of 256"):
        mq.quantize(np.ones((64, 64), np.float32), format="nf4", group_size=64, double_quant=True)
    with pytest.raises(ValueError, match="scale_dtype must be float32, got float16"):
        mq.QuantSpec(format="nf4", group_size=64, double_quant=True, scale_dtype=np.float16)
    with pytest.raises(ValueError, match="stores its scales as E8M0 bytes already"):
        mq.QuantSpec(format="mxfp4", double_quant=True)
    with pytest.raises(TypeError, match="double_quant must be True or False, got 'yes'"):
        mq.QuantSpec(bits=4, group_size=64, double_quant="yes")
    q = mq.quantize(W, bits=4, group_size=64, double_quant=True)
    with pytest.raises(ValueError, match="needs its second_scale"):
        mq.QTensor(q.packed, q.stored_scale, None, q.shape, q.spec)
    with pytest.raises(ValueError, match="second_scale must be finite and positive"):
        mq.QTensor(q.packed, q.stored_scale, None, q.shape, q.spec, second_scale=-q.second_scale)
    bad = q.stored_scale.copy()
    bad[0, 0] = 0x7F                                                  # e4m3's NaN
    with pytest.raises(ValueError, match="e4m3 codes that are not positive scales"):
        mq.QTensor(q.packed, bad, None, q.shape, q.spec, second_scale=q.second_scale)
    with pytest.raises(ValueError, match="from_codes takes scales in scale_dtype"):
        mq.QTensor.from_codes(q.codes, q.scale, q.zero_point, q.spec)
