"""miniquant against trusted independent implementations, where the conventions agree.

* gguf's NumPy ``Q8_0`` (bit-exact with llama.cpp): symmetric 8-bit, blocks of 32
  consecutive values, ``d = max|x| / 127``, round half away from zero, ``d`` stored as
  float16. Our equivalent is ``bits=8, group_size=32, rounding="half_away"`` on ``w`` whose
  K runs along axis 0 (gguf blocks run along the last axis, so it sees ``w.T``).
* PyTorch's per-channel affine ``quint8`` observer and ``quantize_per_channel``.

Where the peers compute in float32 and we compute in float64 (we divide by the stored
scale, they multiply by its reciprocal; we round scales up to the storage dtype, they
round to nearest), a code may differ by one exactly where ``x / scale`` sits within
float32 noise of a rounding tie; the tests allow that and nothing else.
"""
import numpy as np
import pytest

import miniquant as mq


# torch 2.13 deprecates its quantized tensors (it still computes them): not our warning.
TORCH_DEPRECATIONS = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning")


def assert_codes_agree_except_near_ties(ours, theirs, ratio, scale_rel=1e-5):
    diff = ours.astype(np.int32) - theirs.astype(np.int32)
    assert np.all(np.abs(diff) <= 1)
    distance_to_tie = np.abs(np.abs(ratio - np.trunc(ratio)) - 0.5)
    assert np.all(distance_to_tie[diff != 0] < scale_rel * np.maximum(1, np.abs(ratio[diff != 0])))
    assert np.mean(diff != 0) < 1e-3


def test_q8_0_matches_gguf(rng):
    gguf = pytest.importorskip("gguf")
    w = (rng.standard_normal((256, 48)) * rng.uniform(0.01, 3, size=48)).astype(np.float32)  # (K, N)
    blob = gguf.quants.quantize(np.ascontiguousarray(w.T), gguf.GGMLQuantizationType.Q8_0)  # [N, K/32 * 34] bytes
    blocks = blob.reshape(-1, 34)
    d_theirs = blocks[:, :2].copy().view(np.float16).reshape(48, 8).T  # [K/32, N]
    qs_theirs = blocks[:, 2:].copy().view(np.int8).reshape(48, 256).T  # [K, N]

    ours = mq.quantize(w, bits=8, group_size=32, rounding="half_away")
    ratio = w / np.repeat(ours.scale.astype(np.float64), 32, axis=0)
    assert_codes_agree_except_near_ties(ours.codes, qs_theirs, ratio)
    # Scales: the same float16 value, or one float16 step above (we round up so the range fits).
    ours16 = mq.quantize(w, bits=8, group_size=32, rounding="half_away", scale_dtype=np.float16)
    steps = (ours16.scale.view(np.uint16).astype(np.int32) - d_theirs.view(np.uint16).astype(np.int32))
    assert set(np.unique(steps)) <= {0, 1}
    # gguf's reconstruction and ours differ by less than one step everywhere (they quantize with
    # the unrounded scale, we with the stored one) and equal error on average.
    w_theirs = gguf.quants.dequantize(blob, gguf.GGMLQuantizationType.Q8_0).reshape(48, 256).T
    step = np.repeat(ours16.scale.astype(np.float64), 32, axis=0)
    assert np.all(np.abs(ours16.dequantize() - w_theirs) <= step)
    err_ours, err_theirs = np.mean((ours16.dequantize() - w) ** 2), np.mean((w_theirs - w) ** 2)
    assert err_ours == pytest.approx(err_theirs, rel=0.05)


@TORCH_DEPRECATIONS
def test_per_channel_affine_uint8_matches_pytorch(rng):
    torch = pytest.importorskip("torch")
    from torch.ao.quantization.observer import PerChannelMinMaxObserver

    w = (rng.standard_normal((128, 24)) + rng.uniform(-1, 1, size=24)).astype(np.float32)  # (K, N)
    observer = PerChannelMinMaxObserver(ch_axis=1, dtype=torch.quint8, qscheme=torch.per_channel_affine)
    observer(torch.from_numpy(w))
    scale_t, zp_t = observer.calculate_qparams()
    codes_t = torch.quantize_per_channel(torch.from_numpy(w), scale_t, zp_t, axis=1, dtype=torch.quint8).int_repr().numpy()

    ours = mq.quantize(w, bits=8, scheme="asymmetric", granularity="channel")
    np.testing.assert_allclose(ours.scale[0], scale_t.numpy(), rtol=3e-7)
    np.testing.assert_array_equal(ours.zero_point[0], zp_t.numpy())
    ratio = w / ours.scale.astype(np.float64)
    assert_codes_agree_except_near_ties(ours.codes, codes_t, ratio)


@TORCH_DEPRECATIONS
def test_per_tensor_symmetric_int8_matches_pytorch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((64, 64)).astype(np.float32)
    ours = mq.quantize(x, bits=8)
    codes_t = torch.quantize_per_tensor(torch.from_numpy(x), float(ours.scale.item()), 0, torch.qint8).int_repr().numpy()
    assert_codes_agree_except_near_ties(ours.codes, codes_t, x / float(ours.scale.item()))
