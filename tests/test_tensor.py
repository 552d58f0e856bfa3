"""QTensor: packed storage, views, ledger, and the equalities between granularities."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import miniquant as mq
from miniquant import QTensor
from miniquant.eval import ledger_row
from miniquant.quant import choose_qparams, dequantize_affine, fake_quantize, quantize_affine
from miniquant.testing import quant_specs, quantizable_arrays, weight_shapes
from miniquant.testing.properties import assert_ledger_matches

spec_and_array = weight_shapes(max_side=16).flatmap(
    lambda shape: st.tuples(
        quant_specs(shape=shape), quantizable_arrays(shape=shape, max_magnitude=6e4)
    )
)


@given(spec_and_array)
def test_qtensor_matches_the_three_step_functions(sx):
    spec, x = sx
    qt = mq.quantize(x, spec)
    scale, zp = choose_qparams(x, spec)
    codes = quantize_affine(x, scale, zp, spec)
    np.testing.assert_array_equal(qt.codes, codes)
    np.testing.assert_array_equal(qt.scale, scale)
    np.testing.assert_array_equal(qt.zero_point, zp)
    x_hat = dequantize_affine(codes, scale, zp, spec)
    np.testing.assert_array_equal(qt.dequantize(), x_hat)
    np.testing.assert_array_equal(mq.dequantize(qt), x_hat)
    np.testing.assert_array_equal(fake_quantize(x, spec), x_hat)
    assert qt.codes.shape == x.shape and qt.dequantize().dtype == np.float32
    assert qt.scale.dtype == spec.scale_dtype


@given(spec_and_array)
def test_ledger_equals_nbytes(sx):
    spec, x = sx
    qt = mq.quantize(x, spec)
    assert_ledger_matches(qt)
    expected = qt.packed.nbytes + qt.scale.nbytes + (0 if qt.zero_point_packed is None else qt.zero_point_packed.nbytes)
    assert qt.nbytes == expected
    assert qt.packed.nbytes == -(-x.size * spec.bits // 8)


@given(spec_and_array)
def test_group_of_the_whole_axis_equals_per_channel(sx):
    spec, x = sx
    spec = spec.replace(granularity="group", group_size=x.shape[0])
    grouped = mq.quantize(x, spec)
    channel = mq.quantize(x, spec.replace(granularity="channel", group_size=None))
    np.testing.assert_array_equal(grouped.codes, channel.codes)
    np.testing.assert_array_equal(grouped.scale, channel.scale)
    np.testing.assert_array_equal(grouped.zero_point, channel.zero_point)
    assert grouped.nbytes == channel.nbytes


@given(spec_and_array)
def test_per_channel_of_one_column_equals_per_tensor(sx):
    spec, x = sx
    col = np.ascontiguousarray(x[:, :1])
    spec = spec.replace(granularity="channel", group_size=None)
    np.testing.assert_array_equal(mq.quantize(col, spec).codes, mq.quantize(col, spec.replace(granularity="tensor")).codes)


def test_axis_one_is_per_token_for_activations(rng):
    x = rng.standard_normal((6, 32)).astype(np.float32) * np.arange(1, 7, dtype=np.float32)[:, None]
    qt = mq.quantize(x, bits=8, granularity="channel", axis=1)
    assert qt.scale.shape == (6, 1)
    np.testing.assert_allclose(qt.scale[:, 0], np.abs(x).max(axis=1) / 127, rtol=1e-6)
    by_rows = mq.quantize(x.T.copy(), bits=8, granularity="channel", axis=0)
    np.testing.assert_array_equal(by_rows.codes.T, qt.codes)


def test_known_bits_per_weight(rng):
    w = rng.standard_normal((256, 64)).astype(np.float32)
    assert mq.quantize(w, bits=4, group_size=32, scale_dtype=np.float16).bits_per_weight == 4.5
    assert mq.quantize(w, bits=8, group_size=32, scale_dtype=np.float16).bits_per_weight == 8.5
    assert mq.quantize(w, bits=4, scheme="asymmetric", group_size=128, scale_dtype=np.float16).bits_per_weight == 4.15625
    assert mq.quantize(w, bits=3, group_size=64).bits_per_weight == 3.5
    assert mq.quantize(w, bits=8, granularity="channel").bits_per_weight == 8 + 32 / 256


def test_qtensor_storage_is_read_only(rng):
    qt = mq.quantize(rng.standard_normal((8, 2)).astype(np.float32), bits=4)
    with pytest.raises(ValueError):
        qt.packed[0] = 1
    with pytest.raises(ValueError):
        qt.scale[...] = 1
    codes = qt.codes
    codes[...] = 0  # a fresh array each time: changing it does not touch the tensor
    assert np.any(qt.codes != 0)


def test_qtensor_constructor_validates(rng):
    qt = mq.quantize(rng.standard_normal((8, 2)).astype(np.float32), bits=4, scheme="asymmetric")
    with pytest.raises(ValueError, match="packed must be uint8 of shape"):
        mq.QTensor(qt.packed[:-1], qt.stored_scale, qt.zero_point_packed, qt.shape, qt.spec)
    with pytest.raises(ValueError, match="stored_scale must be float32 of shape"):
        mq.QTensor(qt.packed, qt.stored_scale.astype(np.float16), qt.zero_point_packed, qt.shape, qt.spec)
    with pytest.raises(ValueError, match="zero_point_packed must be uint8"):
        mq.QTensor(qt.packed, qt.stored_scale, None, qt.shape, qt.spec)
    same = mq.QTensor(qt.packed, qt.stored_scale, qt.zero_point_packed, qt.shape, qt.spec)
    np.testing.assert_array_equal(same.dequantize(), qt.dequantize())


def test_storage_order_puts_the_block_axis_last(rng):
    from miniquant.packing import pack_codes

    w = rng.standard_normal((64, 5)).astype(np.float32)  # (K, N), groups along K
    qt = mq.quantize(w, bits=3, scheme="asymmetric", group_size=16)
    # codes of column n are contiguous: the stream is codes.T in C order, offset to unsigned
    np.testing.assert_array_equal(qt.packed, pack_codes(qt.codes.T.astype(np.int32) - qt.spec.qmin, 3))
    assert qt.stored_scale.shape == (5, 4) and qt.scale.shape == (4, 5)
    np.testing.assert_array_equal(qt.stored_scale, qt.scale.T)
    np.testing.assert_array_equal(qt.zero_point_packed, pack_codes(qt.zero_point.T, 3))
    # activations (M, K) with axis=1 are already block-last: C order unchanged
    qa = mq.quantize(w.T.copy(), bits=3, group_size=16, axis=1)
    np.testing.assert_array_equal(qa.packed, pack_codes(qa.codes.astype(np.int32) - qa.spec.qmin, 3))


def test_repr_names_the_essentials(rng):
    qt = mq.quantize(rng.standard_normal((64, 4)).astype(np.float32), bits=4, group_size=32, scale_dtype=np.float16)
    assert repr(qt) == (
        "QTensor(shape=(64, 4), bits=4, scheme='symmetric', granularity='group', group_size=32, "
        "scale_dtype=float16, nbytes=144, bits_per_weight=4.5)"
    )
    assert ledger_row(qt).storage == "int4 sym g32 f16"


def test_three_d_arrays_work(rng):
    x = rng.standard_normal((4, 8, 3)).astype(np.float32)
    qt = mq.quantize(x, bits=5, group_size=4, axis=1)
    assert qt.scale.shape == (4, 2, 3)
    assert np.abs(qt.dequantize() - x).max() <= qt.scale.max() / 2 * (1 + 1e-6)


# -- validated once, in the type (issue 11, defect 2) ------------------------------------------

def _sym4(rng, shape=(16, 4)):
    return mq.quantize(rng.standard_normal(shape).astype(np.float32), bits=4, group_size=8, scale_dtype=np.float16)


@pytest.mark.parametrize("bits, scheme, top", [(8, "symmetric", 254), (4, "symmetric", 14), (3, "symmetric", 6)])
def test_packed_codes_above_qmax_are_refused(bits, scheme, top, rng):
    qt = mq.quantize(rng.standard_normal((16, 3)).astype(np.float32), bits=bits, scheme=scheme, granularity="channel")
    tampered = np.full_like(qt.packed, 0xFF)
    if (16 * 3 * bits) % 8:
        tampered[-1] = (1 << (16 * 3 * bits) % 8) - 1  # padding stays zero: only the codes are wrong
    with pytest.raises(ValueError, match=f"packed holds codes above {top}"):
        QTensor(tampered, qt.stored_scale, None, qt.shape, qt.spec)


def test_w8a8_never_computes_with_a_code_the_reference_refuses(rng):
    from miniquant.kernels import w8a8_matmul

    qt = mq.quantize(rng.standard_normal((32, 4)).astype(np.float32), bits=8, granularity="channel")
    x = rng.standard_normal((1, 32)).astype(np.float32)
    # Code 255 (unsigned) is 128 for a restricted symmetric range: the Numba kernel used to give
    # +17.18 and the reference -17.18 on it. Now no such QTensor exists to multiply.
    with pytest.raises(ValueError, match="codes above 254"):
        QTensor(np.full_like(qt.packed, 255), qt.stored_scale, None, qt.shape, qt.spec)
    assert np.isfinite(w8a8_matmul(x, qt)).all()


def test_full_range_and_asymmetric_codes_use_every_unsigned_value(rng):
    for options in (dict(full_range=True), dict(scheme="asymmetric")):
        qt = mq.quantize(rng.standard_normal((16, 2)).astype(np.float32), bits=4, granularity="channel", **options)
        zp = None if qt.zero_point_packed is None else qt.zero_point_packed
        assert QTensor(np.full_like(qt.packed, 0xFF), qt.stored_scale, zp, qt.shape, qt.spec).codes.max() == qt.spec.qmax


def test_padding_bits_must_be_zero(rng):
    qt = mq.quantize(rng.standard_normal((5, 1)).astype(np.float32), bits=3)  # 15 bits: one padding bit
    packed = qt.packed.copy()
    packed[-1] |= 0x80
    with pytest.raises(ValueError, match="padding bit"):
        QTensor(packed, qt.stored_scale, None, qt.shape, qt.spec)
    asym = mq.quantize(rng.standard_normal((6, 3)).astype(np.float32), bits=3, scheme="asymmetric", granularity="channel")
    zp = asym.zero_point_packed.copy()
    zp[-1] |= 0x80                                                          # 3 zero points = 9 bits
    with pytest.raises(ValueError, match="zero_point_packed: the 7 padding bit"):
        QTensor(asym.packed, asym.stored_scale, zp, asym.shape, asym.spec)


@pytest.mark.parametrize("bad", [np.nan, np.inf, 0.0, -0.5])
def test_scales_must_be_finite_and_positive_whichever_way_in(bad, rng):
    qt = _sym4(rng)
    scale = qt.stored_scale.copy()
    scale[0, 0] = bad
    with pytest.raises(ValueError, match="stored_scale must be finite and positive"):
        QTensor(qt.packed, scale, None, qt.shape, qt.spec)
    public = qt.scale.copy()
    public[0, 0] = bad
    with pytest.raises(ValueError, match="scale must be finite and positive"):
        QTensor.from_codes(qt.codes, public, qt.zero_point, qt.spec)


def test_from_codes_refuses_scales_its_dtype_cannot_hold_exactly(rng):
    qt = _sym4(rng)
    scale = qt.scale.astype(np.float64) * (1 + 2.0**-20)  # between two float16 values
    with pytest.raises(ValueError, match="not exactly representable in scale_dtype=float16"):
        QTensor.from_codes(qt.codes, scale, qt.zero_point, qt.spec)
    again = QTensor.from_codes(qt.codes, qt.scale.astype(np.float64), qt.zero_point, qt.spec)  # exact: fine
    np.testing.assert_array_equal(again.stored_scale, qt.stored_scale)
    with pytest.raises(ValueError, match="codes must lie in \\[-7, 7\\], got values from -7 to 8"):
        QTensor.from_codes(np.where(qt.codes == 7, 8, qt.codes), qt.scale, qt.zero_point, qt.spec)
    with pytest.raises(TypeError, match="zero_point must be integers"):
        spec = qt.spec.replace(scheme="asymmetric")
        QTensor.from_codes(qt.codes - qt.spec.qmin, qt.scale, np.zeros(qt.scale.shape), spec)


# -- negative axes (defect 3) ------------------------------------------------------------------

@pytest.mark.parametrize("axis", [-1, -2, -3])
@pytest.mark.parametrize("granularity, extra", [("channel", {}), ("group", {"group_size": 4}), ("tensor", {})])
def test_a_negative_axis_means_the_same_as_its_positive_twin(axis, granularity, extra, rng):
    x = rng.standard_normal((8, 4, 12)).astype(np.float32)
    qt = mq.quantize(x, bits=4, granularity=granularity, axis=axis, **extra)
    twin = mq.quantize(x, bits=4, granularity=granularity, axis=axis + 3, **extra)
    assert qt.spec == twin.spec and qt.spec.axis == axis + 3
    np.testing.assert_array_equal(qt.codes, twin.codes)
    np.testing.assert_array_equal(qt.packed, twin.packed)
    np.testing.assert_array_equal(qt.dequantize(), twin.dequantize())


rows_and_array = weight_shapes(max_side=16).flatmap(
    lambda shape: st.tuples(
        quant_specs(shape=shape, axis=1), quantizable_arrays(shape=shape, max_magnitude=6e4),
        st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=6),
    )
)


@given(rows_and_array)
def test_rows_and_transpose_read_the_same_numbers_as_dequantize(case):
    spec, x, rows = case
    qt = mq.quantize(x, spec)
    full = qt.dequantize()
    np.testing.assert_array_equal(qt.dequantize_rows(np.array(rows)), full[rows])
    t = qt.T
    assert t.shape == full.T.shape and t.spec.axis == 0 and t.packed is qt.packed   # the same bytes, no copy
    np.testing.assert_array_equal(t.dequantize(), full.T)
    assert t.T.spec == qt.spec and t.nbytes == qt.nbytes


@pytest.mark.parametrize("options", [dict(format="nf4", group_size=64, double_quant=True), dict(format="mxfp4"),
                                     dict(bits=4, group_size=32, scale_dtype="bfloat16"),
                                     dict(bits=3, scheme="asymmetric", granularity="tensor")])
def test_rows_of_formats_and_two_level_scales(options, rng):
    qt = mq.quantize(rng.standard_normal((256, 128)).astype(np.float32), axis=1, **options)
    ids = np.array([[255, 0, 7], [7, 7, 128]])
    out = qt.dequantize_rows(ids)
    assert out.shape == (2, 3, 128)
    np.testing.assert_array_equal(out, qt.dequantize()[ids])


def test_rows_refuse_what_they_cannot_read(rng):
    w = rng.standard_normal((8, 32)).astype(np.float32)
    with pytest.raises(ValueError, match="quantized along axis 1"):
        mq.quantize(w, bits=4, group_size=8).dequantize_rows([0])
    qt = mq.quantize(w, bits=4, group_size=8, axis=1)
    with pytest.raises(ValueError, match=r"rows must lie in \[0, 7\], got 0..8"):
        qt.dequantize_rows([0, 8])
    with pytest.raises(TypeError, match="rows must be integer indices"):
        qt.dequantize_rows([0.5])
    with pytest.raises(ValueError, match="T transposes a 2-D QTensor"):
        mq.quantize(rng.standard_normal(32).astype(np.float32), bits=4).T
