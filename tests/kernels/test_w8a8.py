"""W8A8: the Numba kernel equals the NumPy reference bit for bit; overflow is refused."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import miniquant as mq
from miniquant.kernels import MAX_K, quantize_per_token, w8a8_matmul, w8a8_matmul_numba, w8a8_matmul_reference
from miniquant.testing import quantizable_arrays

cases = st.tuples(st.integers(1, 40), st.integers(1, 9), st.sampled_from([1, 2, 5, 16, 33]), st.sampled_from(["tensor", "channel"]),
                  st.booleans(), st.sampled_from([np.float32, np.float16])).flatmap(
    lambda p: st.tuples(
        quantizable_arrays(shape=(p[0], p[1]), max_magnitude=6e4), quantizable_arrays(shape=(p[2], p[0])),
        st.just(p[3]), st.just(p[4]), st.just(p[5]),
    )
)


@given(cases, st.booleans())
def test_w8a8_numba_equals_reference_exactly(case, chunks):
    """Both Numba paths: the blocked int32 kernel (default) and the float32-BLAS chunks."""
    w, x, granularity, full_range, scale_dtype = case
    qt = mq.quantize(w, bits=8, granularity=granularity, full_range=full_range, scale_dtype=scale_dtype)
    np.testing.assert_array_equal(w8a8_matmul_numba(x, qt, chunks=chunks), w8a8_matmul_reference(x, qt))


@pytest.mark.parametrize("chunks", [False, True])
def test_both_paths_stay_exact_at_the_worst_case(chunks):
    """Every product at its largest magnitude, K = 3 chunks: float32 BLAS and the int32 kernel must still be exact."""
    K = 3 * 1024
    w = np.full((K, 4), -1.0, np.float32)
    w[0, :] = -1.0
    qt = mq.quantize(w, bits=8, granularity="channel", full_range=True)  # codes -128 everywhere
    assert np.all(qt.codes == -128)
    x = np.full((16, K), 1.0, np.float32)                                # codes 127 everywhere
    y = w8a8_matmul_numba(x, qt, chunks=chunks)                          # 16 rows: 4 blocks of 4, or BLAS
    np.testing.assert_array_equal(y, w8a8_matmul_reference(x, qt))
    expected = np.float32(-128 * 127 * K) * np.float32(1 / 127) * qt.scale[0, 0]
    np.testing.assert_allclose(y[0, 0], expected, rtol=1e-6)


def test_w8a8_is_close_to_float_matmul(rng):
    w = rng.standard_normal((256, 64)).astype(np.float32)
    x = rng.standard_normal((8, 256)).astype(np.float32)
    qt = mq.quantize(w, bits=8, granularity="channel")
    y, y_float = w8a8_matmul(x, qt), x @ w
    rel = np.linalg.norm(y - y_float) / np.linalg.norm(y_float)
    assert rel < 0.02  # two 8-bit roundings: about 1% here


def test_per_token_quantization_uses_the_library_conventions(rng):
    x = rng.standard_normal((3, 16)).astype(np.float32) * np.array([[1], [100], [0.01]], np.float32)
    xq, sx = quantize_per_token(x)
    assert xq.dtype == np.int8 and sx.shape == (3,)
    np.testing.assert_allclose(sx, np.abs(x).max(axis=1) / 127, rtol=1e-6)
    assert np.all(np.abs(xq).max(axis=1) == 127)


def test_w8a8_refuses_what_it_cannot_do(rng):
    w = rng.standard_normal((16, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="needs an 8-bit symmetric weight"):
        w8a8_matmul(np.ones((1, 16), np.float32), mq.quantize(w, bits=4))
    with pytest.raises(ValueError, match="needs an 8-bit symmetric weight"):
        w8a8_matmul(np.ones((1, 16), np.float32), mq.quantize(w, bits=8, scheme="asymmetric"))
    assert MAX_K == 132104


def test_reductions_too_long_for_the_blocked_kernel_use_the_exact_chunks(rng):
    from miniquant.kernels.w8a8 import MAX_K_BLOCKED

    assert MAX_K_BLOCKED == (2**31 - 1) // (127 * 255) == 66311
    K = MAX_K_BLOCKED + 1
    w = np.full((K, 3), 1.0, np.float32)                     # codes 127, stored unsigned as 254
    x = np.full((2, K), 1.0, np.float32)                     # codes 127: sum of x * u would overflow int32
    qt = mq.quantize(w, bits=8, granularity="channel")
    np.testing.assert_array_equal(w8a8_matmul_numba(x, qt), w8a8_matmul_reference(x, qt))
