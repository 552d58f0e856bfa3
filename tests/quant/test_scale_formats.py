"""Scale formats: bfloat16 and E8M0 against ml_dtypes, rounding up, and QuantSpec's scale_dtype."""
import numpy as np
import pytest

import miniquant as mq
from miniquant.quant.scale_formats import SCALE_FORMATS, scale_format
from miniquant.quant.scales import store_scale

ml_dtypes = pytest.importorskip("ml_dtypes")


def test_bfloat16_decodes_every_pattern_as_ml_dtypes():
    bits = np.arange(2**16, dtype=np.uint32).astype(np.uint16)
    ours = SCALE_FORMATS["bfloat16"].decode(bits)
    theirs = bits.view(ml_dtypes.bfloat16).astype(np.float32)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    finite = ~np.isnan(theirs)
    np.testing.assert_array_equal(ours[finite], theirs[finite])


def test_bfloat16_rounds_up_to_the_next_representable_value():
    rng = np.random.default_rng(0)
    s = np.concatenate([10.0 ** rng.uniform(-30, 30, 20000), [1.0, 0.1, 2.0**-133, 3.3e38]])
    up = SCALE_FORMATS["bfloat16"].round_up(s).astype(np.float64)
    assert np.all(up >= s)
    bf = up.astype(np.float32).astype(ml_dtypes.bfloat16)
    np.testing.assert_array_equal(bf.astype(np.float64), up)                          # representable
    below = np.nextafter(bf, ml_dtypes.bfloat16(0)).astype(np.float64)                 # the next value down is too small
    assert np.all(below < s)
    assert SCALE_FORMATS["bfloat16"].round_up(np.array([0.1]))[0] == np.float32(0.10009765625)


def test_e8m0_is_a_power_of_two_rounded_up_and_decodes_as_ml_dtypes():
    fmt = SCALE_FORMATS["e8m0"]
    b = np.arange(255, dtype=np.uint8)
    np.testing.assert_array_equal(fmt.decode(b), b.view(ml_dtypes.float8_e8m0fnu).astype(np.float32))
    assert np.isnan(fmt.decode(np.array([255], np.uint8))[0])
    np.testing.assert_array_equal(fmt.round_up(np.array([0.1, 0.125, 3.0, 1e-40, 2.0**127])), [0.125, 0.125, 4.0, 2.0**-127, 2.0**127])
    np.testing.assert_array_equal(fmt.encode(np.array([0.125, 1.0], np.float32)), [124, 127])
    with pytest.raises(ValueError, match="not exactly representable in scale_dtype=e8m0"):
        fmt.encode(np.array([0.3]))
    with pytest.raises(ValueError, match="overflows scale_dtype=e8m0"):
        fmt.round_up(np.array([2.0**128]))


@pytest.mark.parametrize("name", ["float16", "float32", "bfloat16", "e8m0"])
def test_a_qtensor_stores_its_scales_in_the_format(name):
    w = np.random.default_rng(1).standard_normal((64, 8)).astype(np.float32)
    qt = mq.quantize(w, bits=4, group_size=32, scale_dtype=name)
    fmt = scale_format(name)
    assert qt.stored_scale.dtype == fmt.storage and qt.scale.dtype == fmt.value_dtype
    assert qt.nbytes == 64 * 8 // 2 + qt.scale.size * fmt.bits // 8
    np.testing.assert_array_equal(qt.scale, store_scale(np.abs(w.astype(np.float64)).reshape(2, 32, 8).max(axis=1) / 7, name))
    assert qt.spec.scale_dtype == name and qt.spec.scale_dtype == fmt
    assert np.abs(qt.dequantize() - w).max() <= qt.scale.astype(np.float64).max() / 2 * (1 + 1e-6)


def test_spec_scale_dtype_compares_with_numpy_dtypes_and_refuses_others():
    spec = mq.QuantSpec(bits=4, scale_dtype=np.float16)
    assert spec.scale_dtype == np.float16 and spec.scale_dtype == "float16" and spec.scale_dtype != np.float32
    assert mq.QuantSpec(bits=4).scale_dtype == np.float32
    with pytest.raises(ValueError, match="scale_dtype must be one of float16, float32, float64, bfloat16 or e8m0, got int8"):
        mq.QuantSpec(bits=4, scale_dtype=np.int8)
    with pytest.raises(TypeError, match="scale_dtype must be a NumPy float dtype or one of"):
        mq.QuantSpec(bits=4, scale_dtype="e8m1")


def test_tampered_stored_scales_are_refused():
    qt = mq.quantize(np.ones((32, 2), np.float32), bits=4, group_size=32, scale_dtype="e8m0")
    with pytest.raises(ValueError, match="stored_scale must be finite and positive, got 0xff"):
        mq.QTensor(qt.packed, np.full_like(qt.stored_scale, 255), None, qt.shape, qt.spec)
    qb = mq.quantize(np.ones((32, 2), np.float32), bits=4, group_size=32, scale_dtype="bfloat16")
    negative = qb.stored_scale | np.uint16(0x8000)
    with pytest.raises(ValueError, match="stored_scale must be finite and positive"):
        mq.QTensor(qb.packed, negative, None, qb.shape, qb.spec)
    with pytest.raises(ValueError, match=r"stored_scale must be uint16 \(the bits of bfloat16 scales\)"):
        mq.QTensor(qb.packed, qb.scale, None, qb.shape, qb.spec)
