"""Q8_0 and QTensor: the same numbers both ways; the other block types refused with the reason."""
import numpy as np
import pytest

import miniquant as mq
from miniquant.formats import gguf
from miniquant.formats.gguf.bridge import Q8_0_SPEC, from_qtensor, to_qtensor
from miniquant.kernels import qmatmul


def test_q8_0_blocks_are_a_qtensor_exactly_and_back(rng):
    x = rng.standard_normal((6, 128)).astype(np.float32)
    x[2, 32:64] = 0                                                     # a block of zeros: d = 0 in ggml
    blocks = gguf.quantize(x, "Q8_0")
    qt = to_qtensor(blocks, "Q8_0", x.shape)
    assert qt.shape == x.shape and qt.spec.bits == 8 and qt.spec.group_size == 32
    np.testing.assert_array_equal(qt.dequantize(), gguf.dequantize(blocks, "Q8_0", x.shape))
    np.testing.assert_array_equal(from_qtensor(qt), blocks)
    w = qt.T                                             # miniquant's (K, N) weight, the same bytes: through the kernels
    a = rng.standard_normal((1, 128)).astype(np.float32)
    np.testing.assert_allclose(qmatmul(a, w), a @ qt.dequantize().T, rtol=1e-5, atol=1e-5)


def test_a_miniquant_int8_g32_weight_is_written_as_q8_0():
    """Any QTensor of the Q8_0 spec gives Q8_0 bytes that gguf reads as the same values."""
    gguf_ref = pytest.importorskip("gguf")
    x = np.linspace(-3, 5, 4 * 64, dtype=np.float32).reshape(4, 64)
    qt = mq.quantize(x, Q8_0_SPEC.replace(axis=1))
    data = from_qtensor(qt)
    np.testing.assert_array_equal(gguf_ref.quants.dequantize(data, gguf_ref.GGMLQuantizationType.Q8_0).reshape(x.shape),
                                  qt.dequantize())


@pytest.mark.parametrize("name,reason", [("Q4_0", "signed"), ("Q5_0", "signed"), ("Q4_1", "minimum"),
                                         ("Q6_K", "two-level"), ("Q9_9", "must be a GGUF block type")])
def test_types_that_are_not_a_qtensor_are_refused_with_the_reason(name, reason):
    with pytest.raises(ValueError, match=reason):
        to_qtensor(np.zeros(18, np.uint8), name, (32,))


def test_bad_input():
    x = np.ones((2, 32), np.float32)
    blocks = gguf.quantize(x, "Q8_0")
    bad = blocks.copy()
    bad[0, 2] = 0x80                                                    # code -128
    with pytest.raises(ValueError, match="-128"):
        to_qtensor(bad, "Q8_0", x.shape)
    with pytest.raises(ValueError, match="blocks must have shape"):
        to_qtensor(blocks, "Q8_0", (2, 64))
    with pytest.raises(ValueError, match="only a QTensor of int8, symmetric, groups of 32"):
        from_qtensor(mq.quantize(x, bits=4, group_size=32, axis=1))
    with pytest.raises(TypeError, match="qt must be a QTensor"):
        from_qtensor(x)
