"""The kit: miniquant's own quantizers pass every property; broken ones fail, by name."""
import numpy as np
import pytest

from miniquant.testing import check_quantizer, library_quantizer

LIBRARY_SPECS = [
    dict(bits=b, scheme=s, granularity=g, group_size=gs, full_range=fr)
    for b in (2, 3, 4, 5, 6, 7, 8)
    for s, fr in (("symmetric", False), ("asymmetric", False), ("symmetric", True))
    for g, gs in (("tensor", None), ("channel", None), ("group", 4))
]


@pytest.mark.parametrize("spec", LIBRARY_SPECS, ids=lambda s: f"{s['bits']}b-{s['scheme'][:4]}-{s['granularity']}{'-full' if s['full_range'] else ''}")
def test_library_quantizer_has_every_property(spec):
    quantize, dequantize = library_quantizer(**spec)
    # 5-7 bits sit between 4 and 8, which get the profile's full count: fewer examples keep CI short
    check_quantizer(quantize, dequantize, **spec, max_examples=60 if spec["bits"] in (5, 6, 7) else None)


@pytest.mark.parametrize(
    "options",
    [
        dict(bits=4, scheme="symmetric", rounding="half_away"),
        dict(bits=3, scheme="asymmetric", rounding="stochastic", granularity="group", group_size=2),
        dict(bits=4, scheme="asymmetric", clip="mse", granularity="group", group_size=4),
        dict(bits=6, scheme="symmetric", clip="percentile", granularity="channel"),
        dict(bits=8, scheme="symmetric", granularity="channel", axis=1),
    ],
)
def test_library_quantizer_options_keep_the_properties(options):
    quantize, dequantize = library_quantizer(**options)
    check_quantizer(quantize, dequantize, **options)


@pytest.mark.parametrize("scheme", ["symmetric", "asymmetric"])
def test_float16_scales_keep_the_properties(scheme):
    quantize, dequantize = library_quantizer(bits=4, scheme=scheme, group_size=4, scale_dtype=np.float16)
    check_quantizer(quantize, dequantize, bits=4, scheme=scheme, granularity="group", group_size=4, max_magnitude=6e4)


# --- a gallery of classic student bugs, each caught by name --------------------------------

def good_dequantize(codes, scale, zero_point):
    return (np.asarray(codes, np.float32) - zero_point) * np.float32(scale)


def sym4(scale_fn, round_fn=np.rint, lo=-7, hi=7):
    def quantize(x):
        scale = np.float32(scale_fn(x))
        codes = round_fn(x / scale)
        return (codes if lo is None else np.clip(codes, lo, hi)), scale, 0
    return quantize


BUGS = [
    # dividing by zero on an all-zero block
    ("runs_without_error_or_warning", sym4(lambda x: np.abs(x).max() / 7), good_dequantize),
    # off by one: dividing by 2**(bits-1) leaves the top code unused
    ("range_end_exact", sym4(lambda x: np.abs(x).max() / 8 or 1.0), good_dequantize),
    # floor instead of round: errors up to a whole step
    ("error_within_half_step", sym4(lambda x: np.abs(x).max() / 7 or 1.0, round_fn=np.floor), good_dequantize),
    # no clipping after dividing by 2**(bits-1): the largest value gets code 8
    ("codes_in_range", sym4(lambda x: np.abs(x).max() / 8 or 1.0, lo=None, hi=None), good_dequantize),
    # truncation instead of rounding
    ("error_within_half_step", sym4(lambda x: np.abs(x).max() / 7 or 1.0, round_fn=np.trunc), good_dequantize),
    # dequantize forgets the scale
    ("dequantize_is_affine", sym4(lambda x: np.abs(x).max() / 7 or 1.0), lambda c, s, z: np.asarray(c, np.float32)),
]


@pytest.mark.parametrize("expected, quantize, dequantize", BUGS, ids=[f"{i}-{b[0]}" for i, b in enumerate(BUGS)])
def test_broken_quantizers_fail_with_the_property_named(expected, quantize, dequantize):
    with pytest.raises(AssertionError, match=rf"property '{expected}' failed") as info:
        check_quantizer(quantize, dequantize, bits=4, scheme="symmetric")
    assert "minimal falsifying x" in str(info.value)


def test_asymmetric_zero_point_not_rounded_breaks_zero_exactness():
    def quantize(x):
        lo, hi = min(x.min(), 0.0), max(x.max(), 0.0)
        scale = np.float32((hi - lo) / 15) or np.float32(1.0)
        zero_point = -lo / scale  # a float zero point: 0.0 no longer lands on a code
        return np.clip(np.rint(x / scale + zero_point), 0, 15), scale, zero_point

    with pytest.raises(AssertionError, match="property '(zero_point_integer|zero_exact)' failed"):
        check_quantizer(quantize, good_dequantize, bits=4, scheme="asymmetric")


def test_a_correct_student_quantizer_passes():
    tiny = np.finfo(np.float32).tiny

    def quantize(x):
        amax = np.abs(x).max()
        if amax / 7 < tiny:              # zeros, or a scale too small to store well (as tutorial 01 teaches):
            return np.zeros(x.shape, np.int8), np.float32(1.0), 0   # without this, x = [[7e-44]] breaks re-quantization
        scale = np.float32(amax / 7)
        scale = np.nextafter(scale, np.float32(np.inf)) if scale * np.float32(7) < amax else scale
        return np.clip(np.rint(x / scale), -7, 7).astype(np.int8), scale, 0

    check_quantizer(quantize, good_dequantize, bits=4, scheme="symmetric")
