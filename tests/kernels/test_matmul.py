"""Every Numba matmul path equals the NumPy reference within the stated tolerance."""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import miniquant as mq
from miniquant.kernels import (
    dequantize_columns, group_sums, qmatmul, qmatmul_numba, qmatmul_reference, qmatmul_tolerance, weight_operands,
)
from miniquant.kernels._codes import half_to_float
from miniquant.kernels.matmul import fused_matmul
from miniquant.kernels.tiled import tiled_matmul
from miniquant.testing import bit_widths, quantizable_arrays, schemes


@st.composite
def weight_cases(draw, bits=bit_widths()):
    """A quantized weight (K, N) and activations (M, K): M = 1 included, odd N, one group or many."""
    b = draw(bits)
    scheme = draw(schemes())
    granularity = draw(st.sampled_from(["tensor", "channel", "group"]))
    group_size = draw(st.sampled_from([2, 4, 8, 16, 32])) if granularity == "group" else None
    n_groups = draw(st.sampled_from([1, 2, 3, 8]))
    K = (group_size or draw(st.sampled_from([1, 2, 7, 8, 32]))) * n_groups
    N = draw(st.integers(1, 11))
    M = draw(st.sampled_from([1, 1, 2, 3, 5]))
    w = draw(quantizable_arrays(shape=(K, N), max_magnitude=6e4))
    qt = mq.quantize(w, bits=b, scheme=scheme, granularity=granularity, group_size=group_size,
                     scale_dtype=draw(st.sampled_from([np.float32, np.float16])))
    x = draw(quantizable_arrays(shape=(M, K), kinds=("uniform", "outliers", "zeros", "negative_only", "skewed")))
    return qt, x


def assert_within_tolerance(y, x, qt):
    ref = qmatmul_reference(x, qt)
    tol = qmatmul_tolerance(x, qt)
    err = np.abs(y.astype(np.float64) - ref)
    worst = np.unravel_index(np.argmax(err - tol), err.shape)
    assert np.all(err <= tol), f"error {err[worst]:.3e} > tolerance {tol[worst]:.3e} at {worst} for {qt!r}"


@given(weight_cases())
def test_fused_kernels_equal_the_reference(case):
    qt, x = case
    assert_within_tolerance(fused_matmul(x, weight_operands(qt)), x, qt)


@given(weight_cases())
def test_tiled_prefill_equals_the_reference(case):
    qt, x = case
    assert_within_tolerance(tiled_matmul(x, weight_operands(qt), tile=3), x, qt)


@given(weight_cases())
def test_tile_dequantization_is_bitwise_qtensor_dequantize(case):
    qt, _ = case
    op = weight_operands(qt)
    np.testing.assert_array_equal(dequantize_columns(op, 0, op.N), qt.dequantize().T)


@given(weight_cases(bits=st.sampled_from([4, 8])), st.sampled_from([1, 4, 64]))
def test_public_qmatmul_equals_the_reference_for_any_m(case, m_rows):
    qt, x = case
    x = np.resize(x, (m_rows, x.shape[1]))
    assert_within_tolerance(qmatmul(x, qt), x, qt)
    np.testing.assert_array_equal(qmatmul(x, qt, backend="numpy"), qmatmul_reference(x, qt))


def test_leading_dimensions_are_kept(rng):
    qt = mq.quantize(rng.standard_normal((32, 6)).astype(np.float32), bits=4, group_size=8)
    x = rng.standard_normal((2, 3, 32)).astype(np.float32)
    y = qmatmul(x, qt)
    assert y.shape == (2, 3, 6) and y.dtype == np.float32
    np.testing.assert_allclose(y, x @ qt.dequantize(), rtol=1e-4, atol=1e-4)


def test_the_tolerance_catches_a_single_wrong_code(rng):
    """A kernel that read one code off by one would fail: the bound is that tight."""
    w = rng.standard_normal((32, 8)).astype(np.float32)
    x = rng.standard_normal((1, 32)).astype(np.float32)
    for bits in (2, 4, 8):
        qt = mq.quantize(w, bits=bits, group_size=32)
        codes = qt.codes.copy()
        codes[5, 3] = codes[5, 3] + 1 if codes[5, 3] < qt.spec.qmax else codes[5, 3] - 1
        broken = mq.QTensor.from_codes(codes, qt.scale, qt.zero_point, qt.spec)
        err = np.abs(fused_matmul(x, weight_operands(broken)) - qmatmul_reference(x, qt))
        assert err[0, 3] > qmatmul_tolerance(x, qt)[0, 3]


def test_half_to_float_decodes_every_finite_float16():
    bits = np.arange(2**16, dtype=np.uint32).astype(np.uint16)
    values = bits.view(np.float16)
    finite = np.isfinite(values)
    decoded = np.array([half_to_float(b) for b in bits[finite][::97]], dtype=np.float32)
    np.testing.assert_array_equal(decoded, values[finite][::97].astype(np.float32))


def test_bad_operands_are_refused(rng):
    qt = mq.quantize(rng.standard_normal((16, 4)).astype(np.float32), bits=4)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 16\)"):
        qmatmul(np.ones((2, 8), np.float32), qt)
    with pytest.raises(TypeError, match="x must be a floating-point array"):
        qmatmul(np.ones((2, 16), int), qt)
    with pytest.raises(ValueError, match="NaN or Inf"):
        qmatmul(np.full((1, 16), np.nan, np.float32), qt)
    with pytest.raises(ValueError, match="backend must be one of"):
        qmatmul(np.ones((1, 16), np.float32), qt, backend="cuda")
    with pytest.raises(ValueError, match=r"weight of shape \(K, N\) quantized along axis 0"):
        qmatmul(np.ones((1, 4), np.float32), mq.quantize(np.ones((4, 16), np.float32), bits=4, axis=1))
    with pytest.raises(TypeError, match="qt must be a QTensor"):
        qmatmul(np.ones((1, 16), np.float32), np.ones((16, 4), np.float32))


@pytest.mark.parametrize("jit", [True, False])
def test_the_activation_pass_sums_splits_and_finds_every_nan_and_inf(jit, rng, monkeypatch):
    from miniquant.kernels import operands
    from miniquant.kernels.operands import NOTHING, activation_pass

    monkeypatch.setattr(operands, "NUMBA_AVAILABLE", jit and operands.NUMBA_AVAILABLE)
    x = rng.standard_normal((3, 64)).astype(np.float32)
    xsum, x_even, x_odd = np.empty((3, 4), np.float32), np.empty((3, 32), np.float32), np.empty((3, 32), np.float32)
    activation_pass(x, 16, xsum, x_even, x_odd)
    np.testing.assert_allclose(xsum, group_sums(x, 16), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(x_even, x[:, 0::2])
    np.testing.assert_array_equal(x_odd, x[:, 1::2])
    activation_pass(x, 64, NOTHING, NOTHING, NOTHING)                 # nothing asked: only the check
    huge = np.full((2, 64), np.finfo(np.float32).max, np.float32)   # finite, though its float32 sum is not
    activation_pass(huge, 32, NOTHING, NOTHING, NOTHING)
    for bad in (np.nan, np.inf, -np.inf):
        for m, k in ((0, 0), (2, 63), (1, 17)):
            y = x.copy()
            y[m, k] = bad
            with pytest.raises(ValueError, match="x holds NaN or Inf"):
                activation_pass(y, 16, NOTHING, NOTHING, NOTHING)


@pytest.mark.parametrize("spec", [dict(bits=8, granularity="channel"), dict(bits=4, group_size=32),
                                  dict(bits=4, group_size=32, scheme="asymmetric"), dict(bits=4, group_size=2),
                                  dict(bits=3, group_size=8), dict(bits=5, group_size=3)])
def test_every_fused_path_refuses_nan_and_inf(spec, rng):
    """One spec per fused path (u8, t4, t4 asymmetric, u4, chunks, generic): the check is in their shared pass."""
    K = 96
    qt = mq.quantize(rng.standard_normal((K, 8)).astype(np.float32), **spec)
    x = rng.standard_normal((1, K)).astype(np.float32)
    x[0, K - 1] = np.inf
    for backend in ("numpy", "auto"):
        with pytest.raises(ValueError, match="x holds NaN or Inf"):
            qmatmul(x, qt, backend=backend)
    with pytest.raises(ValueError, match="x holds NaN or Inf"):
        fused_matmul(x, weight_operands(qt))


@pytest.mark.parametrize("backend", ["numpy", "auto"])
def test_float64_activations_beyond_float32_are_refused_not_turned_into_nan(backend, rng):
    from miniquant.kernels import w4a8_matmul, w8a8_matmul

    w = rng.standard_normal((32, 4)).astype(np.float32)
    x = np.full((1, 32), 1e39)                       # fine as float64, inf as float32
    for kernel, qt in ((qmatmul, mq.quantize(w, bits=4, group_size=32)),
                       (w8a8_matmul, mq.quantize(w, bits=8, granularity="channel")),
                       (w4a8_matmul, mq.quantize(w, bits=4, group_size=32))):
        with pytest.raises(ValueError, match="x holds 1e\\+39, beyond float32's range"):
            kernel(x, qt, backend=backend)
    assert np.isfinite(qmatmul(np.full((1, 32), 1e30), mq.quantize(w, bits=4), backend=backend)).all()  # float64 in range


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="already running without JIT")
def test_kernels_pass_without_the_jit():
    """The same kernel tests, with NUMBA_DISABLE_JIT=1: the Python source is the kernel."""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", HYPOTHESIS_PROFILE="dev")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", os.path.dirname(__file__)],
        env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_small_products_run_the_serial_twin_of_each_kernel(rng):
    from miniquant.kernels._jit import NUMBA_AVAILABLE, SERIAL_WORK
    from miniquant.kernels.fused import fused_u8

    if NUMBA_AVAILABLE:
        assert fused_u8.for_work(SERIAL_WORK - 1) is fused_u8.serial
        assert fused_u8.for_work(SERIAL_WORK) is fused_u8.parallel
        # the twin is cached under its own name: Numba's cache key does not hold the compile options
        assert fused_u8.serial.py_func.__qualname__ == "fused_u8_serial"
    w = rng.standard_normal((64, 24)).astype(np.float32)
    qt = mq.quantize(w, bits=8, granularity="channel")
    x = rng.standard_normal((1, 64)).astype(np.float32)
    op = weight_operands(qt)
    outs = []
    for kernel in (fused_u8.serial, fused_u8.parallel):
        out = np.empty((1, 24), np.float32)
        kernel(x, group_sums(x, op.group_size), op.packed.reshape(24, 64), op.group_size, op.n_groups,
               op.scale_stride, op.scales, op.zeros, out)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])
    assert_within_tolerance(outs[0], x, qt)


def test_every_fused_path_is_exercised_and_agrees(rng):
    """The chunked kernel (lengths multiple of 8) and the one-code-at-a-time fallback, at every width."""
    from miniquant.kernels.matmul import fused_path

    seen = set()
    for bits in range(2, 9):
        for K, group_size in ((64, 16), (24, None), (12, 4), (30, None)):
            for scheme in ("symmetric", "asymmetric"):
                w = rng.standard_normal((K, 5)).astype(np.float32)
                qt = mq.quantize(w, bits=bits, scheme=scheme, group_size=group_size,
                                 granularity="group" if group_size else "channel", scale_dtype=np.float16)
                op = weight_operands(qt)
                seen.add(fused_path(op))
                x = rng.standard_normal((3, K)).astype(np.float32)
                assert_within_tolerance(fused_matmul(x, op), x, qt)
    assert seen == {"u8", "u4", "chunks", "generic"}


_CACHED_RUN = """
import numpy as np, miniquant as mq
from miniquant.kernels import qmatmul
rng = np.random.default_rng(0)
for spec in (dict(bits=8, granularity="channel"), dict(bits=4, group_size=32), dict(bits=4, group_size=32,
             scheme="asymmetric")):
    small = mq.quantize(rng.standard_normal((128, 64)).astype(np.float32), **spec)
    large = mq.quantize(rng.standard_normal((1024, 1024)).astype(np.float32), **spec)
    for qt in (small, large, small):                 # one compiled call, the parallel twin, the compiled call again
        x = rng.standard_normal((1, qt.shape[0])).astype(np.float32)
        assert np.allclose(qmatmul(x, qt), x @ qt.dequantize(), rtol=1e-3, atol=1e-3)
print("ok")
"""


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="the JIT's cache is what is tested")
def test_a_process_that_loads_the_kernels_from_the_cache_runs_them():
    """A fresh process, the kernels loaded from Numba's cache (this run compiled them): small products (the
    decode calls of ``decode_calls.py``, which call serial kernels from compiled code) and parallel ones.
    Compiled code from the cache calling a ``parallel=True`` kernel crashed a process whose thread pool had
    not started; this runs that sequence in a process of its own."""
    result = subprocess.run([sys.executable, "-c", _CACHED_RUN], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stdout[-2000:] + result.stderr[-3000:]
