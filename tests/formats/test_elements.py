"""Element formats against independent implementations: ml_dtypes' casts decide every minifloat's rounding."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from miniquant import formats

ml_dtypes = pytest.importorskip("ml_dtypes")

#: Our minifloat formats and the ml_dtypes dtype that is the same format.
PEERS = {"fp4_e2m1": ml_dtypes.float4_e2m1fn, "fp6_e2m3": ml_dtypes.float6_e2m3fn, "fp6_e3m2": ml_dtypes.float6_e3m2fn,
         "fp8_e4m3": ml_dtypes.float8_e4m3fn, "fp8_e5m2": ml_dtypes.float8_e5m2}

#: bitsandbytes' NF4 table, as published in bitsandbytes/functional.py (get_4bit_type("nf4"), the
#: "data" list) and in the QLoRA paper (Dettmers et al. 2023, appendix E).
BITSANDBYTES_NF4 = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                    0.7229568362236023, 1.0]


def peer_codes(x: np.ndarray, name: str) -> np.ndarray:
    """ml_dtypes' cast of float32 ``x``, as codes (ml_dtypes keeps 4- and 6-bit values in the low bits of a byte)."""
    return x.astype(np.float32).astype(PEERS[name]).view(np.uint8)


def peer_decode(codes: np.ndarray, name: str) -> np.ndarray:
    return codes.astype(np.uint8).view(PEERS[name]).astype(np.float32)


@pytest.mark.parametrize("name", sorted(PEERS))
def test_every_code_decodes_as_ml_dtypes_decodes_it(name):
    fmt = formats.get(name)
    codes = np.arange(2**fmt.bits, dtype=np.uint8)
    ours, theirs = fmt.decode(codes), peer_decode(codes, name)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_array_equal(ours[~np.isnan(ours)], theirs[~np.isnan(theirs)])
    np.testing.assert_array_equal(np.signbit(ours), np.signbit(theirs))       # -0 is -0
    assert fmt.values.dtype == np.float32 and np.all(np.diff(fmt.values) > 0)
    assert fmt.max == float(ml_dtypes.finfo(PEERS[name]).max)


def hard_values(name: str, n_random: int = 100_000, seed: int = 0) -> np.ndarray:
    """Every value, every tie (midpoint), its float32 neighbours, and random in-range floats of all magnitudes."""
    fmt = formats.get(name)
    mags = fmt.values[fmt.values >= 0].astype(np.float64)
    mid = ((mags[1:] + mags[:-1]) / 2).astype(np.float32)                  # exact in float32
    near = np.concatenate([np.nextafter(mid, np.float32(np.inf)), np.nextafter(mid, np.float32(0))])
    rng = np.random.default_rng(seed)
    tiny = float(mags[1])
    log_uniform = np.exp(rng.uniform(np.log(tiny / 8), np.log(fmt.max), n_random)).astype(np.float32)
    uniform = rng.uniform(0, fmt.max, n_random // 10).astype(np.float32)
    x = np.concatenate([mags.astype(np.float32), mid, near, log_uniform, uniform, [0.0, tiny / 2, tiny / 4]])
    x = x[np.abs(x) <= fmt.max].astype(np.float32)
    return np.concatenate([x, -x])


@pytest.mark.parametrize("name", sorted(PEERS))
def test_encoding_equals_ml_dtypes_casts_on_every_tie_and_a_hundred_thousand_values(name):
    x = hard_values(name)
    assert x.size >= 200_000
    np.testing.assert_array_equal(formats.get(name).encode(x), peer_codes(x, name))


@pytest.mark.parametrize("name", sorted(PEERS))
def test_values_beyond_the_range_saturate(name):
    fmt = formats.get(name)
    x = np.array([fmt.max * 1.01, fmt.max * 100, -fmt.max * 3], dtype=np.float32)
    np.testing.assert_array_equal(fmt.decode(fmt.encode(x)), [fmt.max, fmt.max, -fmt.max])


def test_nf4_is_bitsandbytes_table_and_derived_from_normal_quantiles():
    nf4 = formats.get("nf4")
    np.testing.assert_array_equal(nf4.values, np.array(BITSANDBYTES_NF4, dtype=np.float32))
    exact = formats.normal_float_table(as_bitsandbytes=False)              # the same derivation in float64
    assert np.max(np.abs(exact - np.array(BITSANDBYTES_NF4))) < 3e-7
    codes = np.arange(16, dtype=np.uint8)
    np.testing.assert_array_equal(nf4.encode(nf4.decode(codes)), codes)
    mid = (nf4.values[1:].astype(np.float64) + nf4.values[:-1]) / 2
    np.testing.assert_array_equal(nf4.encode(mid), codes[:-1])              # a tie goes to the lower value
    np.testing.assert_array_equal(nf4.encode(np.nextafter(mid, 2)), codes[1:])
    np.testing.assert_array_equal(nf4.encode(np.array([-3.0, 7.0])), [0, 15])


def test_ternary_rounds_half_to_even_and_clips():
    t = formats.get("ternary")
    np.testing.assert_array_equal(t.decode(t.encode(np.array([-2.0, -0.5, -0.49, 0.5, 0.51, 1.5, 9.0]))),
                                  [-1, 0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(t.values, [-1, 0, 1])


@given(st.sampled_from(sorted(formats.FORMATS)), st.lists(st.floats(-1e6, 1e6, width=32), min_size=2, max_size=40))
def test_encoding_is_monotone_idempotent_and_nearest(name, xs):
    fmt = formats.get(name)
    x = np.sort(np.array(xs, dtype=np.float32))
    y = fmt.decode(fmt.encode(x)).astype(np.float64)
    assert np.all(np.diff(y) >= 0)                                           # monotone
    np.testing.assert_array_equal(fmt.decode(fmt.encode(y)), y)              # idempotent
    clipped = np.clip(x.astype(np.float64), fmt.values[0], fmt.values[-1])
    best = np.min(np.abs(fmt.values.astype(np.float64)[None, :] - clipped[:, None]), axis=1)
    np.testing.assert_array_equal(np.abs(y - clipped), best)                 # nearest (after saturation)


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="format must be one of"):
        formats.get("fp3")
    with pytest.raises(ValueError, match="format 'int' is the affine integer grid"):
        formats.get("int")
    with pytest.raises(ValueError, match="x holds 1 non-finite"):
        formats.get("nf4").encode(np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match=r"codes of fp4_e2m1 must lie in \[0, 15\]"):
        formats.get("fp4_e2m1").decode(np.array([16]))
    with pytest.raises(TypeError, match="codes must be integers"):
        formats.get("fp8_e4m3").decode(np.array([1.0]))
