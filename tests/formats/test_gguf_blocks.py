"""GGUF block types byte for byte against the ``gguf`` package (itself checked bit-exact against ggml's C code)."""
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from miniquant.formats import gguf
from miniquant.testing import quantizable_arrays

gguf_ref = pytest.importorskip("gguf")
from gguf.quants import dequantize as ref_dequantize  # noqa: E402
from gguf.quants import quantize as ref_quantize  # noqa: E402

LEGACY = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"]
K_QUANTS = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]


def qtype(name):
    return gguf_ref.GGMLQuantizationType[name]


def hard_blocks(rng, n_per_kind: int = 64) -> np.ndarray:
    """Blocks of 32 that stress the rounding: random scales, values on the half-steps of the grid (ties),
    constant blocks of either sign, zeros, one non-zero, two extremes of opposite sign and equal size (which
    one sets the sign of Q4_0's scale), tiny values, and codes landing on the clamp."""
    kinds = []
    kinds.append(rng.standard_normal((n_per_kind, 32)) * rng.choice([1e-3, 0.1, 1.0, 30.0], (n_per_kind, 1)))
    steps = rng.integers(-16, 17, (n_per_kind, 32)) / 2                     # k / 2: halfway cases of every grid
    kinds.append(steps * rng.choice([1.0, 0.25, 3.0], (n_per_kind, 1)))
    kinds.append(np.repeat(rng.choice([-2.5, -1.0, 0.0, 0.3, 7.0], (n_per_kind, 1)), 32, axis=1))
    one = np.zeros((n_per_kind, 32))
    one[np.arange(n_per_kind), rng.integers(0, 32, n_per_kind)] = rng.standard_normal(n_per_kind)
    kinds.append(one)
    pm = rng.uniform(-0.5, 0.5, (n_per_kind, 32))
    pm[:, 3], pm[:, 20] = 1.0, -1.0                                          # +max first, then -max
    pm[::2, 3], pm[::2, 20] = -1.0, 1.0                                      # and the other way round
    kinds.append(pm)
    kinds.append(rng.standard_normal((n_per_kind, 32)) * 1e-6)
    ramp = np.tile(np.linspace(-1, 1, 32), (n_per_kind, 1)) * rng.uniform(0.1, 10, (n_per_kind, 1))
    kinds.append(ramp)
    return np.concatenate(kinds).astype(np.float32)


@pytest.mark.parametrize("name", LEGACY)
def test_legacy_types_quantize_and_dequantize_byte_for_byte(name, rng):
    x = hard_blocks(rng).reshape(-1, 64) + np.float32(0)                   # rows of two blocks; no -0.0 (legacy.py)
    ours = gguf.quantize(x, name)
    theirs = ref_quantize(x, qtype(name))
    assert ours.dtype == np.uint8 and ours.shape == theirs.shape
    mismatch = np.argwhere((ours != theirs).any(axis=1))
    assert mismatch.size == 0, f"{name}: rows {mismatch[:5].ravel()} differ, e.g. {x[mismatch[0, 0]]}"
    np.testing.assert_array_equal(gguf.dequantize(ours, name, x.shape), ref_dequantize(theirs, qtype(name)))


@given(st.sampled_from(LEGACY), quantizable_arrays(shape=(3, 64)))
def test_legacy_types_match_gguf_on_any_array(name, x):
    """The library's own strategy of hard arrays (outliers, ties, zeros, skew): the same bytes as gguf."""
    x = x.astype(np.float32) + np.float32(0)       # -0.0 -> +0.0: the gguf package and ggml differ there (legacy.py)
    peak = np.abs(x).reshape(-1, 32).max(axis=1)
    if peak.max() > 60000 or ((peak > 0) & (peak < 1e-35)).any():
        return   # a scale beyond float16 is refused (below); one below float32's normal range leaves ggml's codes undefined
    np.testing.assert_array_equal(gguf.quantize(x, name), ref_quantize(x, qtype(name)))


@pytest.mark.parametrize("name", LEGACY + K_QUANTS)
def test_dequantization_equals_gguf_on_every_bit_pattern(name, rng):
    """Random bytes: every scale, minimum and code pattern (float16 fields kept finite)."""
    t = gguf.TYPES[name]
    data = rng.integers(0, 256, (200, t.type_size), dtype=np.uint8)
    for offset in _half_offsets(name):                                      # finite float16 fields
        data[:, offset + 1] &= 0x3F
    values = gguf.dequantize(data.reshape(40, -1), name, (40, 5 * t.block_size))
    expected = ref_dequantize(data.reshape(40, -1), qtype(name))
    np.testing.assert_array_equal(values, expected)


def _half_offsets(name):
    """Byte offsets of each block's float16 fields."""
    return {"Q8_0": [0], "Q4_0": [0], "Q5_0": [0], "Q4_1": [0, 2], "Q5_1": [0, 2], "Q2_K": [80, 82], "Q3_K": [108],
            "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208]}[name]


def test_bits_per_weight_are_ggml_type_sizes():
    expected = {"Q8_0": 8.5, "Q4_0": 4.5, "Q4_1": 5.0, "Q5_0": 5.5, "Q5_1": 6.0, "Q2_K": 2.625, "Q3_K": 3.4375,
                "Q4_K": 4.5, "Q5_K": 5.5, "Q6_K": 6.5625}
    assert {n: gguf.TYPES[n].bits_per_weight for n in expected} == expected
    for name, t in gguf.TYPES.items():
        block, size = gguf_ref.GGML_QUANT_SIZES[qtype(name)]
        assert (t.block_size, t.type_size) == (block, size), name


def test_the_nibble_order_and_the_sign_of_the_scale():
    """Q4_0 by hand: element j and j + 16 share byte j; the largest magnitude (here -4 at index 5) lands on code 0."""
    x = np.zeros(32, np.float32)
    x[5], x[21], x[0] = -4.0, 2.0, 1.0
    b = gguf.quantize(x, "Q4_0")
    d = b[:2].view(np.float16)[0]
    assert d == np.float16(0.5)                                             # d = max / -8 = -4 / -8
    assert b[2 + 5] & 0x0F == 0 and b[2 + 5] >> 4 == 12                    # x[5] = -4 -> 0; x[21] = 2 -> 12
    assert b[2 + 0] & 0x0F == 10                                           # x[0] = 1 -> 10
    y = gguf.quantize(-x, "Q4_0")
    assert y[:2].view(np.float16)[0] == np.float16(-0.5)                   # max = +4: a negative scale


def test_bad_input_is_refused_with_the_argument_named():
    with pytest.raises(ValueError, match="type_name must be one of"):
        gguf.quantize(np.ones(32, np.float32), "Q4_2")
    with pytest.raises(ValueError, match="rows of a multiple of 32"):
        gguf.quantize(np.ones(48, np.float32), "Q4_0")
    with pytest.raises(ValueError, match="non-finite"):
        gguf.quantize(np.full(32, np.nan, np.float32), "Q8_0")
    with pytest.raises(TypeError, match="floating-point"):
        gguf.quantize(np.ones(32, np.int32), "Q8_0")
    with pytest.raises(ValueError, match="exceeds float16's largest value"):
        gguf.quantize(np.full(32, 1e7, np.float32), "Q8_0")          # d = 1e7 / 127
    with pytest.raises(ValueError, match="minimum of -1e\\+06 exceeds"):
        gguf.quantize(np.linspace(-1e6, -1e6 + 1, 32, dtype=np.float32), "Q4_1")
    with pytest.raises(TypeError, match="blocks must be a uint8 array"):
        gguf.dequantize(np.zeros(34, np.int8), "Q8_0", (32,))
    with pytest.raises(ValueError, match=r"blocks must have shape \(2, 34\)"):
        gguf.dequantize(np.zeros((2, 35), np.uint8), "Q8_0", (2, 32))
    with pytest.raises(ValueError, match="rows of a multiple of 256"):
        gguf.dequantize(np.zeros(84, np.uint8), "Q2_K", (128,))


LLAMA_CPP_BYTES = Path(__file__).parent / "data" / "llama_cpp_blocks.npz"


@pytest.mark.parametrize("name", LEGACY + K_QUANTS)
def test_quantize_writes_the_bytes_llama_cpp_writes(name):
    """Bytes from llama.cpp itself (``ggml_quantize_chunk``, no importance matrix, as ``llama-quantize`` calls
    it) for hard rows: weight-like, heavy tails, outliers, zero, constant and tiny sub-blocks, one-signed
    rows, coarse ties. Made once by ``tests/formats/data/make_llama_cpp_blocks.py`` in a scratch environment
    with ``llama-cpp-python`` (not a dependency); the K-quants' search is ours (``ksearch.py``)."""
    with np.load(LLAMA_CPP_BYTES, allow_pickle=False) as data:
        x, expected = data["x"], data[name]
    ours = gguf.quantize(x, name)
    differ = np.argwhere(ours != expected)
    assert differ.size == 0, f"{name}: {len(differ)} bytes differ, first at (row, byte) {tuple(differ[0])}"


@pytest.mark.parametrize("name,bound", [("Q2_K", 0.35), ("Q3_K", 0.18), ("Q4_K", 0.08), ("Q5_K", 0.04), ("Q6_K", 0.02)])
def test_k_quants_round_trip_within_their_precision(name, bound, rng):
    """Gaussian rows through quantize and dequantize: the relative error of each type's precision
    (measured here: 0.29, 0.15, 0.070, 0.036, 0.018), and exact zeros stay zero."""
    x = rng.standard_normal((16, 512)).astype(np.float32)
    x[3] = 0
    y = gguf.dequantize(gguf.quantize(x, name), name, x.shape)
    assert np.linalg.norm(y - x) / np.linalg.norm(x) < bound
    assert not y[3].any()
