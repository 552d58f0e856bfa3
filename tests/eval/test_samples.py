"""The sample weight is deterministic and has the features the tutorials rely on."""
import numpy as np

from miniquant.eval.samples import sample_weight


def test_sample_weight_is_seeded_and_weight_like():
    a, b, c = sample_weight((512, 64), seed=3), sample_weight((512, 64), seed=3), sample_weight((512, 64), seed=4)
    assert a.dtype == np.float32 and a.shape == (512, 64)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    typical = np.median(np.abs(a))
    assert np.abs(a).max() > 10 * typical  # outliers far beyond the typical magnitude
    column_spread = np.abs(a).mean(axis=0)
    assert column_spread.max() > 2 * column_spread.min()  # channels differ in size
