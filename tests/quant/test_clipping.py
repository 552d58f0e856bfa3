"""Range selection: the MSE search never loses to min-max, block by block."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import miniquant as mq
from miniquant.quant import QuantSpec
from miniquant.testing import quant_specs, quantizable_arrays, weight_shapes
from miniquant.testing.properties import block_view

case = weight_shapes(max_side=16).flatmap(
    lambda shape: st.tuples(
        quant_specs(shape=shape, clip="mse", rounding=st.sampled_from(["half_even", "half_away"])),
        quantizable_arrays(shape=shape, max_magnitude=6e4),
    )
)


def block_sse(x, x_hat, block):
    err = block_view(x.astype(np.float64) - x_hat.astype(np.float64), block)
    return (err * err).sum(axis=1)


@given(case)
def test_mse_search_is_never_worse_than_minmax_on_any_block(sx):
    spec, x = sx
    searched = mq.quantize(x, spec)
    minmax = mq.quantize(x, spec.replace(clip="minmax"))
    block = spec.block_shape(x.shape)
    assert np.all(block_sse(x, searched.dequantize(), block) <= block_sse(x, minmax.dequantize(), block))


def test_mse_search_helps_on_heavy_tails(rng):
    w = rng.standard_t(df=3, size=(256, 64)).astype(np.float32)
    errs = {clip: np.mean((w - mq.fake_quantize(w, bits=3, granularity="channel", clip=clip)) ** 2) for clip in ("minmax", "mse")}
    assert errs["mse"] < 0.8 * errs["minmax"]


def test_percentile_clips_the_tails(rng):
    x = rng.standard_normal(10_000).astype(np.float32)
    qt = mq.quantize(x, QuantSpec(bits=8, clip="percentile", percentile=99.0))
    limit = max(np.percentile(x, 99.0), -np.percentile(x, 1.0))
    np.testing.assert_allclose(qt.scale.item() * 127, limit, rtol=1e-5)
    assert np.abs(qt.dequantize()).max() <= limit * (1 + 1e-5)
