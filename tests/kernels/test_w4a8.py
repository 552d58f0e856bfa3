"""W4A8: the integer dot products agree exactly, the Numba path equals the NumPy reference bit for bit,
and the result stays within the stated bound of the float matmul."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import miniquant as mq
from miniquant.kernels import (
    HAS_VNNI, MAX_GROUP, quantize_activations, w4a8_error_bound, w4a8_matmul, w4a8_matmul_numba,
    w4a8_matmul_reference,
)
from miniquant.kernels.simd import (
    MAX_DOT_BYTES, dots4, dots4_loop, dots4_vnni, group_terms4, group_terms4_loop, group_terms4_vnni, q4_q8_dot, q4_q8_dot_loop, q4_q8_dot_vnni,
)
from miniquant.kernels.w4a8 import SPECIALIZED_GROUPS
from miniquant.kernels.w8a8 import quantize_blocks_numba
from miniquant.testing import quantizable_arrays, schemes


def dot_spec(row, xe, xo, j0, nbytes):
    """The dot product of ``simd.py``, in int64 NumPy."""
    r = row[j0:j0 + nbytes].astype(np.int64)
    return int(((r & 15) * xe[j0:j0 + nbytes] + (r >> 4) * xo[j0:j0 + nbytes]).sum())


dot_cases = st.integers(0, 300).flatmap(lambda L: st.tuples(
    hnp.arrays(np.uint8, L), hnp.arrays(np.int8, L, elements=st.integers(-127, 127)),
    hnp.arrays(np.int8, L, elements=st.integers(-127, 127)),
    st.integers(0, L).flatmap(lambda j0: st.tuples(st.just(j0), st.integers(0, L - j0))),
))


@given(dot_cases)
def test_the_dot_products_are_exact(case):
    """Every run length, so that the 64-, 32- and 16-byte VNNI forms and the byte-by-byte tail all run."""
    row, xe, xo, (j0, nbytes) = case
    expected = dot_spec(row, xe, xo, j0, nbytes)
    assert q4_q8_dot_loop(row, xe, xo, j0, nbytes) == expected
    assert q4_q8_dot(row, xe, xo, j0, nbytes) == expected
    if HAS_VNNI:
        assert q4_q8_dot_vnni(row, xe, xo, j0, nbytes) == expected


four_row_cases = st.integers(1, 4).flatmap(lambda runs: st.tuples(
    st.lists(hnp.arrays(np.uint8, 64 * runs), min_size=4, max_size=4),
    hnp.arrays(np.int8, 64 * runs, elements=st.integers(-127, 127)),
    hnp.arrays(np.int8, 64 * runs, elements=st.integers(-127, 127)),
    st.integers(0, runs - 1)))


@given(four_row_cases)
def test_four_rows_at_once_are_exact(case):
    """``dots4``: the transposing sum of four rows' ``vpdpbusd`` lanes gives each row's own dot product."""
    rows, xe, xo, run = case
    expected = tuple(dot_spec(r, xe, xo, 64 * run, 64) for r in rows)
    assert tuple(dots4_loop(*rows, xe, xo, 64 * run)) == expected
    assert tuple(dots4(*rows, xe, xo, 64 * run)) == expected
    if HAS_VNNI:
        assert tuple(dots4_vnni(*rows, xe, xo, 64 * run)) == expected
        with pytest.raises(IndexError, match="outside"):
            dots4_vnni(*rows, xe, xo, len(xe) - 63)    # one byte past the end


def test_the_dot_products_at_their_extremes():
    """Codes 15 against -127 and 127 everywhere: the largest sums, still exact in int32."""
    n = 4096
    row = np.full(n, 255, np.uint8)
    for value in (-127, 127):
        x = np.full(n, value, np.int8)
        expected = 2 * 15 * value * n
        assert q4_q8_dot_loop(row, x, x, 0, n) == expected
        if HAS_VNNI:
            assert q4_q8_dot_vnni(row, x, x, 0, n) == expected
    assert MAX_DOT_BYTES == (2**31 - 1) // (2 * 15 * 127)


@st.composite
def w4a8_cases(draw):
    """A 4-bit weight (K, N) and activations (M, K): every kernel (specialized groups and the general one),
    with enough groups of 32 for the four-at-a-time path and its leftovers."""
    granularity = draw(st.sampled_from(["tensor", "channel", "group"]))
    group_size = draw(st.sampled_from([2, 14, 32, 64, 128, 256])) if granularity == "group" else None
    n_groups = draw(st.sampled_from([1, 2, 3, 4, 5, 9]))  # groups of 32 run four at a time, then one by one
    K = (group_size or draw(st.sampled_from([2, 30, 128, 160]))) * n_groups
    N = draw(st.integers(1, 9))
    M = draw(st.sampled_from([1, 1, 2, 5]))
    w = draw(quantizable_arrays(shape=(K, N), max_magnitude=6e4))
    qt = mq.quantize(w, bits=4, scheme=draw(schemes()), granularity=granularity, group_size=group_size,
                     scale_dtype=draw(st.sampled_from([np.float32, np.float16])))
    x = draw(quantizable_arrays(shape=(M, K), max_magnitude=1e30))
    return qt, x


@given(w4a8_cases())
def test_w4a8_numba_equals_reference_exactly(case):
    qt, x = case
    np.testing.assert_array_equal(w4a8_matmul_numba(x, qt), w4a8_matmul_reference(x, qt))


@given(w4a8_cases())
def test_w4a8_is_within_the_stated_bound_of_the_float_matmul(case):
    qt, x = case
    y = w4a8_matmul(x, qt).astype(np.float64)
    exact = x.astype(np.float64) @ qt.dequantize().astype(np.float64)
    assert np.all(np.abs(y - exact) <= w4a8_error_bound(x, qt))


@given(st.sampled_from([2, 16, 32, 128]).flatmap(lambda G: st.tuples(
    st.just(G), quantizable_arrays(shape=(3, 2 * G), max_magnitude=1e30))))
def test_activation_rounding_in_numba_is_the_library_quantizer(case):
    """Ties, zeros, tiny and huge values: the same codes, sums and scales as ``quantize_per_token``."""
    G, x = case
    M, K = x.shape
    xq = np.empty((M, K), np.int8)
    xqsum, dx = np.empty((M, K // G), np.int32), np.empty((M, K // G), np.float32)
    quantize_blocks_numba(x, G, xq, xqsum, dx)
    xq_ref, dx_ref = quantize_activations(x, G)
    np.testing.assert_array_equal(xq, xq_ref)
    np.testing.assert_array_equal(dx, dx_ref)
    np.testing.assert_array_equal(xqsum, xq_ref.reshape(M, K // G, G).sum(axis=2))


def test_activation_scales_are_per_token_and_group(rng):
    x = rng.standard_normal((2, 256)).astype(np.float32)
    x[1, 128:] *= 1000
    xq, dx = quantize_activations(x, 128)
    assert xq.dtype == np.int8 and dx.shape == (2, 2)
    np.testing.assert_allclose(dx, np.abs(x.reshape(2, 2, 128)).max(axis=2) / 127, rtol=1e-6)
    assert np.all(np.abs(xq.reshape(2, 2, 128)).max(axis=2) == 127)


@pytest.mark.parametrize("group_size", [*SPECIALIZED_GROUPS, 256, None])
def test_extreme_codes_and_activations_stay_exact(group_size):
    """Codes at both ends of the range, |xq| = 127 everywhere: the largest group sums."""
    K = 512
    w = np.where(np.arange(K)[:, None] % 3 == 0, -1.0, 1.0).astype(np.float32) * np.ones((1, 6), np.float32)
    granularity = "group" if group_size else "channel"
    for scheme in ("symmetric", "asymmetric"):
        qt = mq.quantize(w, bits=4, scheme=scheme, granularity=granularity, group_size=group_size)
        x = np.full((2, K), -3.0, np.float32)
        x[1] = 3.0
        y = w4a8_matmul_numba(x, qt)
        np.testing.assert_array_equal(y, w4a8_matmul_reference(x, qt))
        np.testing.assert_allclose(y, x @ qt.dequantize(), rtol=1e-5)  # x is exact in int8 here


def test_w4a8_is_close_to_float_matmul(rng):
    w = rng.standard_normal((512, 64)).astype(np.float32)
    x = rng.standard_normal((4, 512)).astype(np.float32)
    qt = mq.quantize(w, bits=4, group_size=128)
    y, y_float = w4a8_matmul(x, qt), x @ qt.dequantize()
    rel = np.linalg.norm(y - y_float) / np.linalg.norm(y_float)
    assert 1e-4 < rel < 0.01  # the activation rounding alone: about 0.4 % here


def test_backends_agree_and_leading_shapes_are_kept(rng):
    qt = mq.quantize(rng.standard_normal((64, 8)).astype(np.float32), bits=4, group_size=32)
    x = rng.standard_normal((2, 3, 64)).astype(np.float32)
    y = w4a8_matmul(x, qt)
    assert y.shape == (2, 3, 8) and y.dtype == np.float32
    np.testing.assert_array_equal(y, w4a8_matmul(x, qt, backend="numpy"))


def test_w4a8_refuses_what_it_cannot_do(rng):
    w = rng.standard_normal((30, 4)).astype(np.float32)
    x = np.ones((1, 30), np.float32)
    with pytest.raises(ValueError, match="W4A8 needs a 4-bit weight, got bits=8"):
        w4a8_matmul(x, mq.quantize(w, bits=8))
    with pytest.raises(ValueError, match="even group size.*a group of 15"):
        w4a8_matmul(x, mq.quantize(w, bits=4, group_size=15))
    with pytest.raises(ValueError, match="NaN or Inf"):
        w4a8_matmul(np.full((1, 30), np.inf, np.float32), mq.quantize(w, bits=4))
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 30\)"):
        w4a8_matmul(np.ones((1, 8), np.float32), mq.quantize(w, bits=4))
    assert MAX_GROUP == (2**31 - 1) // (127 * 15) == 1127288


@pytest.mark.skipif(not HAS_VNNI, reason="no AVX-512 VNNI on this CPU")
def test_the_vnni_dot_refuses_bytes_outside_its_arrays():
    """The intrinsic reads raw memory: a range past an array's end must be refused, not read."""
    row, x = np.zeros(64, np.uint8), np.zeros(64, np.int8)
    assert q4_q8_dot_vnni(row, x, x, 0, 64) == 0
    for j0, nbytes in ((1, 64), (-1, 16), (0, 65)):
        with pytest.raises(IndexError, match="outside row, xe or xo"):
            q4_q8_dot_vnni(row, x, x, j0, nbytes)
    with pytest.raises(IndexError):
        q4_q8_dot_vnni(row, x[:32], x, 0, 64)


@given(st.integers(0, 3).flatmap(lambda extra: st.tuples(
    hnp.arrays(np.uint8, 64 + extra), hnp.arrays(np.int8, 64 + extra, elements=st.integers(-127, 127)),
    hnp.arrays(np.int8, 64 + extra, elements=st.integers(-127, 127)), st.integers(0, extra),
    hnp.arrays(np.float16, 5, elements=st.floats(2.0**-13, 60000, width=16)), st.integers(0, 1),
    hnp.arrays(np.float32, 5, elements=st.floats(2.0**-60, 2.0**20, width=32)),
    hnp.arrays(np.int32, 5, elements=st.integers(-127 * 32, 127 * 32)), st.integers(0, 1),
    st.lists(st.integers(0, 15), min_size=4, max_size=4), st.booleans())))
def test_four_group_terms_are_the_scalar_ones_bit_for_bit(case):
    """Four groups of 32 codes from one 512-bit instruction pair and a vector epilogue: each group's float32 term."""
    row, xe, xo, j, half_scales, si, dx_row, xsum_row, g, zs, float16 = case
    scales = half_scales.view(np.uint16) if float16 else half_scales.astype(np.float32)
    expected = tuple(
        np.float32(dot_spec(row, xe, xo, j + 16 * q, 16) - zs[q] * int(xsum_row[g + q]))
        * half_scales[si + q].astype(np.float32) * dx_row[g + q]
        for q in range(4)
    )
    args = (row, xe, xo, j, scales, si, dx_row, xsum_row, g, *zs)
    assert tuple(group_terms4_loop(*args)) == expected
    assert tuple(group_terms4(*args)) == expected
    if HAS_VNNI:
        assert tuple(group_terms4_vnni(*args)) == expected
        with pytest.raises(IndexError, match="outside its array"):
            group_terms4_vnni(row, xe, xo, len(row) - 63, *args[4:])
        with pytest.raises(IndexError, match="outside its array"):
            group_terms4_vnni(*args[:8], 2, *zs)
