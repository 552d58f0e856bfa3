"""Packing: the fast bit packer equals the bit-by-bit reference, and round-trips."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from miniquant.packing import pack_codes, pack_codes_reference, packed_nbytes, unpack_codes, unpack_codes_reference
from miniquant.testing import bit_widths, check_packing

codes_and_bits = bit_widths().flatmap(
    lambda b: st.tuples(st.lists(st.integers(0, 2**b - 1), max_size=200).map(lambda v: np.array(v, dtype=np.uint8)), st.just(b))
)


@given(codes_and_bits)
def test_pack_equals_reference(cb):
    codes, bits = cb
    np.testing.assert_array_equal(pack_codes(codes, bits), pack_codes_reference(codes, bits))


@given(codes_and_bits)
def test_unpack_equals_reference(cb):
    codes, bits = cb
    packed = pack_codes_reference(codes, bits)
    np.testing.assert_array_equal(unpack_codes(packed, bits, codes.size), unpack_codes_reference(packed, bits, codes.size))


@pytest.mark.parametrize("bits", range(2, 9))
def test_pack_roundtrip_and_size_with_the_kit(bits):
    check_packing(pack_codes, unpack_codes, bits=bits)


@pytest.mark.parametrize("bits, n, nbytes", [(3, 8, 3), (3, 9, 4), (4, 3, 2), (2, 5, 2), (5, 16, 10), (7, 1, 1), (8, 7, 7)])
def test_codes_really_take_bits_each(bits, n, nbytes):
    assert packed_nbytes(n, bits) == nbytes
    assert pack_codes(np.zeros(n, np.uint8), bits).nbytes == nbytes


def test_documented_bit_order():
    # 4-bit: code 2i in the low nibble. 3-bit: codes a=1 (001), b=2 (010), c=7 (111) ->
    # byte 0 = c1 c0 b2 b1 b0 a2 a1 a0 = 1 1 0 1 0 0 0 1 = 0xD1, byte 1 bit 0 = c2 = 1.
    assert pack_codes(np.array([0x1, 0xA]), 4).tolist() == [0xA1]
    assert pack_codes(np.array([1, 2, 7]), 3).tolist() == [0xD1, 0x01]
    assert pack_codes(np.array([3, 0, 1, 2]), 2).tolist() == [0b10_01_00_11]


def test_packing_refuses_bad_codes():
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 7\] to pack at bits=3"):
        pack_codes(np.array([8]), 3)
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 15\]"):
        pack_codes(np.array([-1]), 4)
    with pytest.raises(TypeError, match="codes must be unsigned integers"):
        pack_codes(np.array([1.0]), 4)
    with pytest.raises(ValueError, match="packed has 1 bytes but 3 codes of 4 bits need 2"):
        unpack_codes(np.zeros(1, np.uint8), 4, 3)
    with pytest.raises(TypeError, match="packed must be a 1-D uint8 array"):
        unpack_codes(np.zeros(2, np.int32), 4, 3)
