"""The memory ledger: the known bits-per-weight figures, and totals equal to the bytes held."""
import numpy as np
import pytest

import miniquant as mq
from miniquant.eval import held_nbytes, memory_ledger


@pytest.mark.parametrize(
    "options, bpw",
    [
        (dict(bits=4, group_size=32, scale_dtype=np.float16), 4.5),
        (dict(bits=8, group_size=32, scale_dtype=np.float16), 8.5),
        (dict(bits=4, scheme="asymmetric", group_size=128, scale_dtype=np.float16), 4 + 16 / 128 + 4 / 128),
        (dict(bits=4, group_size=128, scale_dtype=np.float32), 4.25),
        (dict(bits=2, scheme="asymmetric", group_size=64, scale_dtype=np.float16), 2 + 18 / 64),
    ],
)
def test_known_ledger_figures(options, bpw, rng):
    qt = mq.quantize(rng.standard_normal((512, 64)).astype(np.float32), **options)
    ledger = memory_ledger(qt)
    assert ledger.bits_per_weight == bpw
    assert ledger.total_bytes == qt.nbytes


def test_asymmetric_group_128_is_about_4_16(rng):
    qt = mq.quantize(rng.standard_normal((512, 64)).astype(np.float32), bits=4, scheme="asymmetric", group_size=128, scale_dtype=np.float16)
    assert round(qt.bits_per_weight, 2) == 4.16
    row = memory_ledger(qt).rows[0]
    assert (row.payload_bits, row.scale_bits, row.zero_point_bits) == (512 * 64 * 4, 4 * 64 * 16, 4 * 64 * 4)


def test_model_ledger_totals_equal_bytes_held(rng):
    model = {
        "embed": rng.standard_normal((100, 16)).astype(np.float32),
        "ln.weight": np.ones(16, np.float32),
        "attn.w": mq.quantize(rng.standard_normal((16, 48)).astype(np.float32), bits=4, group_size=8, scale_dtype=np.float16),
        "mlp.w": mq.quantize(rng.standard_normal((16, 64)).astype(np.float32), bits=3, scheme="asymmetric", granularity="channel"),
    }
    ledger = memory_ledger(model)
    assert ledger.total_bytes == held_nbytes(model)
    assert [r.name for r in ledger.rows] == list(model)
    assert ledger.rows[1].bits_per_weight == 32.0
    assert ledger.n_elements == 1600 + 16 + 768 + 1024
    text = str(ledger)
    assert "TOTAL" in text and "int4 sym g8 f16" in text and "int3 asym channel f32" in text
    assert len(ledger.records()) == 4


def test_ledger_refuses_bad_entries():
    with pytest.raises(ValueError, match="empty mapping"):
        memory_ledger({})
    with pytest.raises(TypeError, match="must be a QTensor, a MixedInt8Tensor or a non-empty numeric array"):
        memory_ledger({"w": np.zeros(0)})
