"""The kit learns element formats: miniquant's own encoders pass, and typical wrong ones fail with the right property."""
import numpy as np
import pytest
from hypothesis import given, settings

import miniquant as mq
from miniquant.formats import FORMATS, get
from miniquant.testing import (
    check_element_format, check_quantizer, element_codes, element_floats, library_quantizer,
)


def _fails(prop, fn, *args, **kwargs):
    with pytest.raises(AssertionError, match=f"property '{prop}' failed"):
        fn(*args, **kwargs)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_the_library_encoders_pass(name):
    fmt = get(name)
    check_element_format(fmt.encode, fmt.decode, format=name, max_examples=60, seed=0)


@pytest.mark.parametrize("name", ["nf4", "fp4_e2m1", "fp8_e4m3", "ternary"])
def test_the_library_quantizers_pass_as_codebooks(name):
    q, d = library_quantizer(format=name, group_size=4, scale_dtype=np.float32)
    clip = "absmean" if name == "ternary" else "minmax"      # BitNet's scale is the mean |w|: the largest saturate
    check_quantizer(q, d, format=name, granularity="group", group_size=4, clip=clip, max_examples=60, seed=0)


def test_typical_wrong_encoders_fail():
    nf4 = get("nf4")
    values = nf4.values.astype(np.float64)
    mids = (values[:-1] + values[1:]) / 2

    def ties_up(x):                                       # ">=" instead of ">" at the midpoints
        return np.searchsorted(mids, np.clip(x, -1, 1), side="right").astype(np.uint8)

    def truncating(x):                                    # the value below instead of the nearest
        return np.clip(np.searchsorted(values, np.clip(x, -1, 1), side="right") - 1, 0, 15).astype(np.uint8)

    _fails("ties_follow_the_format", check_element_format, ties_up, nf4.decode, format="nf4", max_examples=200, seed=1)
    _fails("nearest_value", check_element_format, truncating, nf4.decode, format="nf4", max_examples=200, seed=1)
    e4m3 = get("fp8_e4m3")

    def nan_instead_of_saturating(x):                     # ml_dtypes' cast: 500 -> NaN
        codes = e4m3.encode(np.clip(x, -448, 448))
        return np.where(np.abs(x) > 464, np.uint8(0x7F), codes).astype(np.uint8)

    _fails("codes_not_reserved", check_element_format, nan_instead_of_saturating, e4m3.decode, format="fp8_e4m3",
           max_examples=200, seed=1)

    def zero_for_nan(codes):                              # decodes the NaN patterns as 0
        v = e4m3.decode(codes)
        return np.where(np.isnan(v), 0.0, v)

    _fails("decode_is_the_table", check_element_format, e4m3.encode, zero_for_nan, format="fp8_e4m3",
           max_examples=50, seed=1)


def test_a_wrong_codebook_quantizer_fails():
    q, d = library_quantizer(format="fp4_e2m1", group_size=4)

    def int_scale(x):                                     # scale for a uniform grid: max / 7 instead of max / 6
        codes, scale, zp = q(x)
        return get("fp4_e2m1").encode(x / (scale * 6 / 7)), scale * 6 / 7, zp

    _fails("range_fits", check_quantizer, int_scale, d, format="fp4_e2m1", granularity="group", group_size=4,
           max_examples=200, seed=1)


@settings(max_examples=30)
@given(element_codes("fp8_e4m3", shape=(256,)))
def test_raw_codes_cover_the_nan_patterns(codes):
    assert codes.dtype == np.uint8 and codes.shape == (256,)


def test_raw_codes_can_be_the_whole_table_and_floats_hit_ties():
    seen_all, seen_nan, seen_tie = False, False, False
    fmt = get("fp8_e4m3")
    mids = (fmt.values[:-1].astype(np.float64) + fmt.values[1:]) / 2

    @settings(max_examples=100, database=None)
    @given(element_codes(fmt, shape=(256,)), element_floats(fmt, kinds=("ties",)))
    def probe(codes, x):
        nonlocal seen_all, seen_nan, seen_tie
        seen_all |= np.unique(codes).size == 256
        seen_nan |= bool(np.isin(codes, [0x7F, 0xFF]).any())
        seen_tie |= bool(np.isin(x.astype(np.float64), mids).any())

    probe()
    assert seen_all and seen_nan and seen_tie


def test_bad_kit_options_are_refused():
    with pytest.raises(ValueError, match="format must be one of"):
        check_element_format(abs, abs, format="nf5")
    with pytest.raises(TypeError, match="needs bits="):
        check_quantizer(abs, abs)
    with pytest.raises(ValueError, match="kinds must be a non-empty subset"):
        element_floats("nf4", kinds=("odd",))
