"""MX block formats: a block worked by hand, and every block against an independent transcription of the spec."""
import math

import numpy as np
import pytest

from miniquant import formats
from miniquant.formats import MX_FORMATS, e8m0_decode, mx_dequantize, mx_quantize, shared_exponents

ml_dtypes = pytest.importorskip("ml_dtypes")

#: The element dtype of each MX format in ml_dtypes, and emax_elem from the spec's table (section 5.3).
SPEC_ELEMENTS = {"mxfp8": (ml_dtypes.float8_e4m3fn, 8), "mxfp6": (ml_dtypes.float6_e2m3fn, 2),
                 "mxfp6_e3m2": (ml_dtypes.float6_e3m2fn, 4), "mxfp4": (ml_dtypes.float4_e2m1fn, 2)}


def spec_block(v: np.ndarray, name: str) -> np.ndarray:
    """The spec written out for one block of 32, element by element, with ml_dtypes' rounding."""
    if name == "mxint8":
        dtype, emax, top = None, 0, 127 / 64
    else:
        dtype, emax = SPEC_ELEMENTS[name]
        top = float(ml_dtypes.finfo(dtype).max)
    amax = max(abs(float(a)) for a in v)
    if amax == 0:
        shared = -127
    else:
        mantissa, exponent = math.frexp(amax)            # amax = mantissa * 2**exponent, mantissa in [0.5, 1)
        shared = max(-127, min(127, exponent - 1 - emax))
    X = 2.0**shared
    out = []
    for a in v:
        p = min(max(float(a) / X, -top), top)            # "clamped to the maximum normal"
        if name == "mxint8":
            q = round(p * 64) / 64                       # Python's round: ties to even
        else:
            q = float(np.array([p], np.float32).astype(dtype).astype(np.float32)[0])
        out.append(q * X)
    return np.array(out)


def test_a_block_worked_by_hand():
    x = np.zeros(32, np.float32)
    x[:6] = [0.1, -0.35, 1.0, 3.1, -7.9, 0.74]
    # max |x| = 7.9: floor(log2 7.9) = 2, shared_exp = 2 - emax(fp4) = 0, X = 1, byte 127;
    # 0.1 -> 0, -0.35 -> -0.5 (nearer than 0), 1 -> 1, 3.1 -> 3, -7.9 -> -6 (saturated), 0.74 -> 0.5 (0.75 would tie)
    codes, scale = mx_quantize(x, "mxfp4")
    assert scale.tolist() == [127]
    np.testing.assert_array_equal(mx_dequantize(codes, scale, "mxfp4")[:6], [0.0, -0.5, 1.0, 3.0, -6.0, 0.5])
    # MXFP8 of the same block: X = 2^(2 - 8) = 1/64; 0.1 * 64 = 6.4 -> 6.5 (e4m3 steps of 0.5 in [4, 8))
    codes, scale = mx_quantize(x, "mxfp8")
    assert scale.tolist() == [121]
    assert mx_dequantize(codes, scale, "mxfp8")[0] == np.float32(6.5 / 64)


@pytest.mark.parametrize("name", sorted(MX_FORMATS))
def test_every_block_follows_an_independent_transcription_of_the_spec(name):
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(size=(32, 40)) * rng.choice([1e-3, 1.0, 300.0], size=40),
                        rng.standard_t(2, size=(32, 40)), np.zeros((32, 1)),
                        np.tile(np.linspace(-1, 1, 32)[:, None], (1, 3)) * 2.0 ** rng.integers(-20, 20, 3)], axis=1)
    x = x.astype(np.float32)
    codes, scale = mx_quantize(x, name, axis=0)
    got = mx_dequantize(codes, scale, name, axis=0)
    for j in range(x.shape[1]):
        np.testing.assert_array_equal(got[:, j], spec_block(x[:, j], name).astype(np.float32), err_msg=f"block {j}")
    assert scale.shape == (1, x.shape[1]) and codes.shape == x.shape and codes.dtype == np.uint8


def test_blocks_run_along_the_axis_and_zeros_get_the_smallest_scale():
    x = np.random.default_rng(2).normal(size=(3, 64)).astype(np.float32)
    codes, scale = mx_quantize(x, "mxfp4", axis=1)
    assert scale.shape == (3, 2)
    codes_t, scale_t = mx_quantize(x.T.copy(), "mxfp4", axis=0)
    np.testing.assert_array_equal(codes_t.T, codes)
    np.testing.assert_array_equal(scale_t.T, scale)
    z_codes, z_scale = mx_quantize(np.zeros(32, np.float32), "mxfp8")
    assert z_scale.tolist() == [0] and np.all(mx_dequantize(z_codes, z_scale, "mxfp8") == 0)
    assert shared_exponents(np.full(32, 2.0**100, np.float32), MX_FORMATS["mxfp4"]).tolist() == [98]


def test_e8m0_is_ml_dtypes_e8m0():
    b = np.arange(256, dtype=np.uint8)
    theirs = b.view(ml_dtypes.float8_e8m0fnu).astype(np.float64)
    np.testing.assert_array_equal(np.isnan(e8m0_decode(b)), np.isnan(theirs))
    np.testing.assert_array_equal(e8m0_decode(b)[:255], theirs[:255])


def test_bits_per_weight():
    assert MX_FORMATS["mxfp4"].bits_per_weight == 4.25 and MX_FORMATS["mxfp8"].bits_per_weight == 8.25


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="blocks of 32 along axis 0: its length 48 is not a multiple of 32"):
        mx_quantize(np.ones((48, 2), np.float32), "mxfp4", axis=0)
    with pytest.raises(ValueError, match="MX format must be one of"):
        mx_quantize(np.ones(32, np.float32), "mxfp5")
    with pytest.raises(ValueError, match="x holds 1 non-finite"):
        mx_quantize(np.array([np.inf] + [0.0] * 31), "mxfp8")
    codes, scale = mx_quantize(np.ones(64, np.float32), "mxfp4")
    with pytest.raises(ValueError, match="scale_bytes must have shape"):
        mx_dequantize(codes, scale[:1], "mxfp4")
    with pytest.raises(TypeError, match="E8M0 scales are uint8 bytes"):
        e8m0_decode(np.array([1.0]))
    assert np.isnan(formats.get_mx("mxint8").element.decode(np.array([0x80], np.uint8))[0])   # -128 is not a value


@pytest.mark.parametrize("name", sorted(MX_FORMATS))
def test_an_mx_qtensor_follows_the_spec_transcription(name):
    import miniquant as mq

    rng = np.random.default_rng(3)
    w = (rng.standard_t(3, size=(64, 12)) * 2.0 ** rng.integers(-8, 8, 12)).astype(np.float32)
    qt = mq.quantize(w, format=name)
    assert qt.spec.group_size == 32 and qt.spec.scale_dtype == "e8m0" and qt.stored_scale.dtype == np.uint8
    assert qt.bits_per_weight == MX_FORMATS[name].bits_per_weight
    expected = np.stack([np.concatenate([spec_block(w[:32, j], name), spec_block(w[32:, j], name)])
                         for j in range(w.shape[1])], axis=1).astype(np.float32)
    np.testing.assert_array_equal(qt.dequantize(), expected)
    codes, scale = mx_quantize(w, name, axis=0)
    np.testing.assert_array_equal(qt.codes, codes)
    np.testing.assert_array_equal(np.moveaxis(qt.stored_scale, -1, 0), scale)


def test_mx_formats_refuse_options_the_spec_fixes():
    import miniquant as mq

    w = np.ones((64, 2), np.float32)
    with pytest.raises(ValueError, match="format 'mxfp4' uses blocks of 32 along the axis \\(OCP MX\\): group_size=16"):
        mq.quantize(w, format="mxfp4", group_size=16)
    with pytest.raises(ValueError, match="granularity='channel' does not apply"):
        mq.quantize(w, format="mxfp8", granularity="channel")
    with pytest.raises(ValueError, match="stores E8M0 scales \\(OCP MX\\): scale_dtype=float16 does not apply"):
        mq.quantize(w, format="mxfp4", scale_dtype=np.float16)
    with pytest.raises(ValueError, match="format 'mxfp4' has 4-bit codes, got bits=8"):
        mq.quantize(w, format="mxfp4", bits=8)
    with pytest.raises(ValueError, match="group_size 32 does not divide the length 48"):
        mq.quantize(np.ones((48, 2), np.float32), format="mxfp4")
