"""Bad input gets a clear error naming the argument and the value."""
import numpy as np
import pytest

import miniquant as mq
from miniquant.quant import QuantSpec, dequantize_affine, quantize_affine


@pytest.mark.parametrize(
    "x, error, match",
    [
        (np.array([1.0, np.nan]), ValueError, r"x holds 1 non-finite value.*index \(1,\)"),
        (np.array([[np.inf, 1.0]]), ValueError, r"x holds 1 non-finite"),
        (np.zeros((0, 4), np.float32), ValueError, r"x must not be empty, got shape \(0, 4\)"),
        (np.float32(1.0), ValueError, r"x must have at least one dimension"),
        (np.arange(6).reshape(2, 3), TypeError, r"x must be a floating-point array.*int64"),
        (np.array([True, False]), TypeError, r"dtype bool"),
        (np.array([1 + 1j]), TypeError, r"complex128"),
        (np.array(["a"], dtype=object), TypeError, r"dtype object"),
    ],
)
def test_bad_arrays_are_refused(x, error, match):
    with pytest.raises(error, match=match):
        mq.quantize(x, bits=4)


@pytest.mark.parametrize(
    "options, error, match",
    [
        (dict(bits=1), ValueError, r"bits must be from 2 to 8, got 1"),
        (dict(bits=9), ValueError, r"bits must be from 2 to 8, got 9"),
        (dict(bits=4.0), TypeError, r"bits must be an integer.*4\.0"),
        (dict(bits=True), TypeError, r"bits must be an integer"),
        (dict(bits=4, scheme="signed"), ValueError, r"scheme must be one of .*'signed'"),
        (dict(bits=4, granularity="row"), ValueError, r"granularity must be one of .*'row'"),
        (dict(bits=4, rounding="up"), ValueError, r"rounding must be one of .*'up'"),
        (dict(bits=4, clip="max"), ValueError, r"clip must be one of .*'max'"),
        (dict(bits=4, group_size=5), ValueError, r"group_size 5 does not divide the length 8 of axis 0"),
        (dict(bits=4, group_size=0), ValueError, r"group_size must be a positive integer, got 0"),
        (dict(bits=4, granularity="group"), ValueError, r"group_size is required"),
        (dict(bits=4, granularity="channel", group_size=4), ValueError, r"group_size=4 only applies"),
        (dict(bits=4, axis=2), ValueError, r"axis 2 is out of range"),
        (dict(bits=4, scale_dtype=np.int8), ValueError, r"scale_dtype must be one of float16, float32, float64, bfloat16 or e8m0, got int8"),
        (dict(bits=4, scale_dtype="nonsense"), TypeError, r"scale_dtype must be a NumPy float dtype"),
        (dict(bits=4, scheme="asymmetric", full_range=True), ValueError, r"full_range=True applies to the symmetric"),
        (dict(bits=4, percentile=10), ValueError, r"percentile must be a number in \(50, 100\], got 10"),
        (dict(scheme="symmetric"), TypeError, r"bits is required"),
    ],
)
def test_bad_options_are_refused(options, error, match):
    with pytest.raises(error, match=match):
        mq.quantize(np.ones((8, 3), np.float32), **options)


def test_spec_and_options_together_are_refused():
    with pytest.raises(TypeError, match="either spec or keyword options"):
        mq.quantize(np.ones(4, np.float32), QuantSpec(bits=4), bits=8)


def test_float16_scales_that_overflow_are_refused():
    with pytest.raises(ValueError, match="overflows scale_dtype=float16"):
        mq.quantize(np.array([1e7, -3.0], np.float32), bits=8, scale_dtype=np.float16)


def test_values_too_large_for_a_float32_reconstruction_are_refused():
    with pytest.raises(ValueError, match="float32"):
        mq.quantize(np.array([-3e38, 3e38], np.float32), bits=2, scheme="asymmetric")


def test_quantize_affine_checks_parameter_shapes_and_values():
    x = np.ones((4, 2), np.float32)
    with pytest.raises(ValueError, match=r"scale must have shape \(2, 2\)"):
        quantize_affine(x, np.ones((1, 2)), np.zeros((1, 2), int), bits=4, group_size=2)
    with pytest.raises(ValueError, match="scale must be finite, positive"):
        quantize_affine(x, np.zeros((1, 1)), np.zeros((1, 1), int), bits=4)
    with pytest.raises(ValueError, match=r"zero_point must lie in \[0, 15\]"):
        quantize_affine(x, np.ones((1, 1)), np.full((1, 1), 16), bits=4, scheme="asymmetric")
    with pytest.raises(ValueError, match=r"codes must lie in \[-7, 7\]"):
        dequantize_affine(np.array([8]), np.ones(1), np.zeros(1, int), bits=4)
    with pytest.raises(TypeError, match="codes must be integers"):
        dequantize_affine(np.array([1.0]), np.ones(1), np.zeros(1, int), bits=4)


def test_dequantize_refuses_non_qtensors():
    with pytest.raises(TypeError, match="qt must be a QTensor, got ndarray"):
        mq.dequantize(np.ones(3))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float16_and_float64_inputs_work(dtype, rng):
    x = rng.standard_normal((32, 4)).astype(dtype)
    qt = mq.quantize(x, bits=4, group_size=8)
    x_hat = qt.dequantize()
    assert x_hat.dtype == np.float32 and x_hat.shape == x.shape
    step = np.repeat(qt.scale.astype(np.float64), 8, axis=0)
    assert np.all(np.abs(x.astype(np.float64) - x_hat) <= step / 2 * (1 + 1e-6))


def test_input_is_not_modified(rng):
    x = rng.standard_normal((16, 4)).astype(np.float32)
    before = x.copy()
    mq.quantize(x, bits=3, group_size=4, clip="mse")
    np.testing.assert_array_equal(x, before)
