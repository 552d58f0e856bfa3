"""Hand-computed oracles: small arrays whose codes and parameters were worked out on paper.

These are written independently of the implementation: each expected value comes from
the textbook formula applied by hand, not from calling miniquant.
"""
import numpy as np
import pytest

import miniquant as mq
from miniquant.quant import choose_qparams, integer_range, round_values


# Values are dyadic (k / 2**n) so that they and the scales are exact in float32 and a
# "tie" on paper is a tie in the machine too.


def test_symmetric_int8_per_tensor_by_hand():
    x = np.array([-127, 0, 63.5, 100], dtype=np.float32) / 64
    # amax = 127/64, scale = amax / 127 = 1/64; codes = rint(x * 64) = [-127, 0, 63.5 -> 64 (even), 100]
    qt = mq.quantize(x, bits=8)
    assert qt.scale.item() == 1 / 64
    np.testing.assert_array_equal(qt.codes, [-127, 0, 64, 100])
    np.testing.assert_array_equal(mq.quantize(x, bits=8, rounding="half_away").codes, [-127, 0, 64, 100])
    np.testing.assert_array_equal(mq.quantize(-x, bits=8, rounding="half_away").codes, [127, 0, -64, -100])


def test_asymmetric_int8_per_channel_by_hand():
    # Column 0 spans [-4, 11.9375]: scale = 15.9375 / 255 = 1/16, zero_point = rint(0 + 4 * 16) = 64.
    # Column 1 spans [1, 15.9375] -> widened to [0, 15.9375]: scale = 1/16, zero_point = 0.
    w = np.array([[-4.0, 1.0], [11.9375, 15.9375], [0.0, 8.03125], [2.03125, 2.0]], dtype=np.float32)
    qt = mq.quantize(w, bits=8, scheme="asymmetric", granularity="channel")
    np.testing.assert_array_equal(qt.scale, [[1 / 16, 1 / 16]])
    np.testing.assert_array_equal(qt.zero_point, [[64, 0]])
    # codes = rint(16 x) + zp. Column 0: -64 + 64 = 0; 191 + 64 = 255; 0 + 64 = 64; 32.5 -> 32 (even) + 64 = 96.
    # Column 1: 16; 255; 128.5 -> 128 (even); 32.
    np.testing.assert_array_equal(qt.codes, [[0, 16], [255, 255], [64, 128], [96, 32]])
    np.testing.assert_array_equal(qt.dequantize()[2, 0], 0.0)


def test_four_bit_group_by_hand():
    # Two groups of 2 along K in one column: [7/8, -7/16] and [7/32, 7/16].
    w = np.array([[0.875], [-0.4375], [0.21875], [0.4375]], dtype=np.float32)
    qt = mq.quantize(w, bits=4, group_size=2)
    np.testing.assert_array_equal(qt.scale, [[1 / 8], [1 / 16]])
    # -0.4375 * 8 = -3.5 -> -4 (even); 0.21875 * 16 = 3.5 -> 4 (even)
    np.testing.assert_array_equal(qt.codes, [[7], [-4], [4], [7]])


def test_full_range_symmetric_uses_the_negative_code():
    x = np.array([-0.8, 0.1, 0.7], dtype=np.float32)
    # scale = max(hi / qmax, lo / qmin) = max(0.7 / 7, -0.8 / -8) = 0.1; -0.8 -> -8
    qt = mq.quantize(x, bits=4, full_range=True)
    np.testing.assert_allclose(qt.scale, [0.1], rtol=1e-6)
    np.testing.assert_array_equal(qt.codes, [-8, 1, 7])


@pytest.mark.parametrize(
    "bits, scheme, full, expected",
    [(2, "symmetric", False, (-1, 1)), (2, "symmetric", True, (-2, 1)), (2, "asymmetric", False, (0, 3)),
     (8, "symmetric", False, (-127, 127)), (8, "symmetric", True, (-128, 127)), (8, "asymmetric", False, (0, 255)),
     (5, "asymmetric", False, (0, 31)), (6, "symmetric", False, (-31, 31))],
)
def test_integer_ranges(bits, scheme, full, expected):
    assert integer_range(bits, scheme, full_range=full) == expected


def test_rounding_modes_on_ties():
    v = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, -0.49999997], dtype=np.float32)
    np.testing.assert_array_equal(round_values(v, "half_even"), [-2, -2, -0, 0, 2, 2, 0, 0])
    np.testing.assert_array_equal(round_values(v, "half_away"), [-3, -2, -1, 1, 2, 3, 0, 0])


def test_stochastic_rounding_is_unbiased_and_seeded():
    v = np.full(200_000, 0.3)
    r1 = round_values(v, "stochastic", rng=np.random.default_rng(1))
    r2 = round_values(v, "stochastic", rng=np.random.default_rng(1))
    np.testing.assert_array_equal(r1, r2)
    assert set(np.unique(r1)) == {0.0, 1.0}
    assert abs(r1.mean() - 0.3) < 0.005  # binomial std is 0.001


def test_stochastic_quantize_is_reproducible_with_seed(rng):
    x = rng.standard_normal((64, 8)).astype(np.float32)
    a = mq.quantize(x, bits=3, group_size=16, rounding="stochastic", seed=7)
    b = mq.quantize(x, bits=3, group_size=16, rounding="stochastic", seed=7)
    c = mq.quantize(x, bits=3, group_size=16, rounding="stochastic", seed=8)
    np.testing.assert_array_equal(a.codes, b.codes)
    assert not np.array_equal(a.codes, c.codes)


def test_all_zero_and_constant_blocks_round_trip_without_warning():
    x = np.array([[0.0, 2.5], [0.0, 2.5], [0.0, 2.5], [0.0, 2.5]], dtype=np.float32)
    for scheme in ("symmetric", "asymmetric"):
        for clip in ("minmax", "percentile", "mse"):
            with np.errstate(all="raise"):
                qt = mq.quantize(x, bits=4, scheme=scheme, group_size=2, clip=clip)
                x_hat = qt.dequantize()
            np.testing.assert_array_equal(x_hat, x)
            assert np.all(qt.scale > 0)


def test_choose_qparams_percentile_ignores_one_outlier():
    x = np.concatenate([np.linspace(-1, 1, 1999), [100.0]]).astype(np.float32)
    s_minmax, _ = choose_qparams(x, bits=8)
    s_pct, _ = choose_qparams(x, bits=8, clip="percentile", percentile=99.0)
    assert s_minmax.item() == pytest.approx(100 / 127, rel=1e-6)
    assert s_pct.item() < 1.0 / 127 * 1.01
