"""Stored scales: rounded up into their dtype, and settled where a subnormal scale is coarse (issue 11, defect 4)."""
import numpy as np
import pytest

import miniquant as mq
from miniquant.quant import choose_qparams, dequantize_affine, quantize_affine
from miniquant.testing import check_quantizer, library_quantizer


def _codes_again(x, **spec):
    qt = mq.quantize(x, **spec)
    again = mq.quantize(qt.dequantize(), **spec)
    return qt, again


def test_the_float32_subnormal_example_requantizes_to_the_same_codes():
    x = np.full((4, 1), 1e-44, dtype=np.float32)               # 7 units of 2**-149
    qt, again = _codes_again(x, bits=3)
    np.testing.assert_array_equal(again.codes, qt.codes)
    np.testing.assert_array_equal(again.stored_scale, qt.stored_scale)
    # The settled scale is 2 units, codes 3 (clipped from 3.5): x_hat = 6 units, within half a step.
    assert qt.codes[0, 0] == 3 and float(qt.scale[0, 0]) == 2 * 2.0**-149
    assert abs(float(qt.dequantize()[0, 0]) - float(x[0, 0])) <= float(qt.scale[0, 0]) / 2


def test_float16_scales_of_small_weights_are_stable_at_realistic_sizes(rng):
    # 8-bit, groups of 32, max |w| = 1e-3: every scale is a float16 subnormal (below 6.1e-5).
    w = rng.uniform(-1e-3, 1e-3, size=(256, 64)).astype(np.float32)
    qt, again = _codes_again(w, bits=8, group_size=32, scale_dtype=np.float16)
    assert np.all(qt.scale < np.finfo(np.float16).tiny)
    np.testing.assert_array_equal(again.codes, qt.codes)
    np.testing.assert_array_equal(again.stored_scale, qt.stored_scale)
    # and the error stays within half a step plus the rounding of the scale itself
    err = np.abs(qt.dequantize() - w)
    step = np.repeat(qt.scale.astype(np.float64), 32, axis=0)
    assert np.all(err <= 0.5 * step + 127 * 2.0**-24)


def test_normal_scales_are_unchanged_by_settling(rng):
    from miniquant.quant import store_scale

    w = rng.standard_normal((64, 16)).astype(np.float32)
    for dtype in (np.float16, np.float32):
        scale, _ = choose_qparams(w, bits=4, group_size=16, scale_dtype=dtype)
        exact = np.abs(w.reshape(4, 16, 16)).max(axis=1).astype(np.float64) / 7
        np.testing.assert_array_equal(scale, store_scale(exact, dtype))


@pytest.mark.parametrize("scale_dtype", [np.float16, np.float32])
@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("rounding", ["half_even", "half_away"])
def test_the_kit_passes_the_library_on_subnormal_scales(scale_dtype, bits, rounding):
    q, d = library_quantizer(bits=bits, group_size=4, scale_dtype=scale_dtype, rounding=rounding)
    check_quantizer(q, d, bits=bits, scheme="symmetric", granularity="group", group_size=4, rounding=rounding,
                    kinds=("subnormal_scales", "float16_subnormal_scales"), max_examples=150, seed=0)


def test_the_subnormal_kind_catches_scales_that_are_only_rounded_up():
    """Without settling (round up only), the kit finds the unstable re-quantization."""
    from miniquant.quant import store_scale

    def quantize(x):
        scale = store_scale(np.abs(x).max() / 3, np.float32)
        codes = np.clip(np.rint(x / scale.astype(np.float64)), -3, 3).astype(np.int8)
        return codes, scale, 0

    def dequantize(codes, scale, zero_point):
        return (codes.astype(np.float32) - zero_point) * np.float32(scale)

    from miniquant.testing import weight_shapes

    # Hypothesis draws differently depending on what the process has loaded before (it mines the loaded
    # modules for constants), so one seeded run of 300 examples found the bug alone but not in a full
    # suite: try a few seeds, and require that the kit finds it.
    found = []
    for seed in range(16):
        try:
            check_quantizer(quantize, dequantize, bits=3, scheme="symmetric", kinds=("subnormal_scales",),
                            shapes=weight_shapes(max_side=3), max_examples=300, seed=seed)
        except AssertionError as failure:
            found.append(str(failure))
            break
    assert found and "requantize_stable" in found[0]


def test_activation_quantizer_settles_like_the_library(rng):
    from miniquant.kernels import quantize_per_token
    from miniquant.kernels.w4a8 import quantize_activations

    x = (rng.integers(-300, 300, size=(3, 64)) * 2.0**-149).astype(np.float32)
    xq, sx = quantize_per_token(x)
    scale, _ = choose_qparams(x, bits=8, granularity="channel", axis=1)
    np.testing.assert_array_equal(sx, scale[:, 0])
    np.testing.assert_array_equal(xq, quantize_affine(x, scale, np.zeros_like(scale, np.int32), bits=8,
                                                      granularity="channel", axis=1))
    xq2, dx = quantize_activations(x, 32)   # the Numba pass, per block of 32
    ref, _ = choose_qparams(x, bits=8, group_size=32, axis=1)
    np.testing.assert_array_equal(dx, ref)
    assert np.array_equal(dequantize_affine(xq2, ref, np.zeros_like(ref, np.int32), bits=8, group_size=32, axis=1),
                          dequantize_affine(quantize_affine(x, ref, np.zeros_like(ref, np.int32), bits=8, group_size=32,
                                                            axis=1), ref, np.zeros_like(ref, np.int32), bits=8,
                                            group_size=32, axis=1))
