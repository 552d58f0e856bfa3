"""The table kernels (NF4, FP4, FP8, MXFP4, MXFP8) equal ``x @ qt.dequantize()`` within the stated tolerance.

Run with the JIT (AVX-512 permutes and half conversions where the CPU has them) and, by
``test_matmul.test_kernels_pass_without_the_jit``, again with ``NUMBA_DISABLE_JIT=1`` (the plain loops).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import miniquant as mq
from miniquant.kernels import qmatmul, qmatmul_numba, qmatmul_reference, qmatmul_tolerance
from miniquant.kernels.tables import (
    BYTE_KINDS, TABLE_KERNELS, U8_TABLE, byte_row4, byte_row4_loop, t4_row4, t4_row4_loop, table_kernel_for,
    table_matmul, table_operands,
)
from miniquant.testing import quantizable_arrays


@st.composite
def table_cases(draw):
    """A table-format weight (K, N) and activations (M, K): group sizes that take the fast path and ones that do not."""
    fmt = draw(st.sampled_from(sorted(TABLE_KERNELS)))
    if fmt.startswith("mx"):
        kind = {}
        K = 32 * draw(st.sampled_from([1, 2, 3, 5]))
    else:
        granularity = draw(st.sampled_from(["tensor", "channel", "group"]))
        if granularity == "group":
            group = draw(st.sampled_from([2, 6, 32, 64, 96]))
            kind = {"group_size": group}
            K = group * draw(st.sampled_from([1, 2, 3]))
        else:
            kind = {"granularity": granularity}
            K = draw(st.sampled_from([2, 30, 32, 64, 160]))
        kind["scale_dtype"] = draw(st.sampled_from([np.float32, np.float16, "bfloat16", "e8m0"]))
    N = draw(st.integers(1, 9))
    M = draw(st.sampled_from([1, 1, 2, 3, 5]))
    w = draw(quantizable_arrays(shape=(K, N), max_magnitude=6e4))
    qt = mq.quantize(w, format=fmt, **kind)
    x = draw(quantizable_arrays(shape=(M, K), kinds=("uniform", "outliers", "zeros", "negative_only", "skewed")))
    return qt, x


def assert_within_tolerance(y, x, qt):
    ref = qmatmul_reference(x, qt)
    tol = qmatmul_tolerance(x, qt)
    err = np.abs(y.astype(np.float64) - ref)
    worst = np.unravel_index(np.argmax(err - tol), err.shape)
    assert np.all(err <= tol), f"error {err[worst]:.3e} > tolerance {tol[worst]:.3e} at {worst} for {qt!r}"


@given(table_cases())
def test_table_kernels_equal_the_reference(case):
    qt, x = case
    assert table_kernel_for(qt) is not None
    y = table_matmul(np.ascontiguousarray(x, dtype=np.float32), table_operands(qt))
    assert y is not None
    assert_within_tolerance(y, x, qt)
    assert_within_tolerance(qmatmul(x, qt), x, qt)


try:
    from numba import njit
except ImportError:  # pragma: no cover
    njit = None


def _both4(r0, r1, r2, r3, xe, xo, n_groups, half, scales, table):
    i1, i2, i3 = n_groups, 2 * n_groups, 3 * n_groups
    return (t4_row4(r0, r1, r2, r3, xe, xo, n_groups, half, scales, 0, i1, i2, i3, table),
            t4_row4_loop(r0, r1, r2, r3, xe, xo, n_groups, half, scales, 0, i1, i2, i3, table))


def _both8(r0, r1, r2, r3, x, n_groups, group, scales, table, kind):
    i1, i2, i3 = n_groups, 2 * n_groups, 3 * n_groups
    return (byte_row4(r0, r1, r2, r3, x, n_groups, group, scales, 0, i1, i2, i3, table, kind),
            byte_row4_loop(r0, r1, r2, r3, x, n_groups, group, scales, 0, i1, i2, i3, table))


if njit is not None:           # compiled once (module level), not once per example
    _both4, _both8 = njit(_both4), njit(_both8)


def _scale_sets(rng, count):
    """The three ways scales are read: float32 values, float16 bits, E8M0 bytes (0 = 2^-127)."""
    return (rng.uniform(0.5, 2, count).astype(np.float32), rng.uniform(0.5, 2, count).astype(np.float16).view(np.uint16),
            rng.choice([0] + list(range(110, 145)), count).astype(np.uint8))


def _decoded(scales):
    if scales.dtype == np.uint8:
        return np.ldexp(1.0, scales.astype(np.int32) - 127)
    return scales.view(np.float16).astype(np.float32) if scales.dtype == np.uint16 else scales


@pytest.mark.skipif(njit is None, reason="needs Numba")
@given(st.integers(1, 4), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_the_fast_row_kernels_equal_their_loops(n_chunks, n_groups, seed):
    """``t4_row4`` / ``byte_row4`` (the AVX-512 intrinsics when compiled for them) against the plain loops, from Numba."""
    rng = np.random.default_rng(seed)
    half = 16 * n_chunks                                   # groups of 32 .. 128 codes
    tables = [mq.formats.get("nf4").table.astype(np.float32), (np.arange(16) - 7).astype(np.float32)]
    xe, xo = (rng.standard_normal(half * n_groups).astype(np.float32) for _ in range(2))
    rows4 = [rng.integers(0, 256, half * n_groups, dtype=np.uint8) for _ in range(4)]
    for table in tables:
        for scales in _scale_sets(rng, 4 * n_groups):
            fast, loop = _both4(*rows4, xe, xo, n_groups, half, scales, table)
            bound = 4 * 2 * half * n_groups * np.finfo(np.float32).eps * float(np.abs(table).max()) * float(
                np.abs(xe).sum() + np.abs(xo).sum()) * float(_decoded(scales).max()) + 1e-44
            assert np.all(np.abs(np.array(fast) - np.array(loop)) <= bound), scales.dtype
    group = 2 * half
    x = rng.standard_normal(group * n_groups).astype(np.float32)
    for name in ("fp8_e4m3", "fp8_e5m2", "u8"):
        if name == "u8":                                       # integer codes: uint8 rows, every byte's own value
            values = U8_TABLE
            rows = [rng.integers(0, 256, group * n_groups, dtype=np.uint8) for _ in range(4)]
        else:
            fmt = mq.formats.get(name)
            values = np.where(np.isfinite(fmt.table), fmt.table / (256 if name == "fp8_e4m3" else 1), 0).astype(np.float32)
            finite = np.flatnonzero(np.isfinite(fmt.table)).astype(np.uint8)
            rows = [rng.choice(finite, group * n_groups).view(np.int8) for _ in range(4)]
        for scales in _scale_sets(rng, 4 * n_groups):
            fast8, loop8 = _both8(*rows, x, n_groups, group, scales, values, BYTE_KINDS[name[-4:]])
            bound = 4 * group * n_groups * np.finfo(np.float32).eps * float(np.abs(values).max()) * float(
                np.abs(x).sum()) * float(_decoded(scales).max()) + 1e-44
            assert np.all(np.abs(np.array(fast8) - np.array(loop8)) <= bound), (name, scales.dtype)


def test_the_kernels_serve_decode_and_the_reference_serves_prefill_and_the_rest():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((64, 8)).astype(np.float32)
    for fmt in ("fp6_e2m3", "ternary", "mxfp6", "mxint8"):
        qt = mq.quantize(w, format=fmt) if fmt.startswith("mx") else mq.quantize(w, format=fmt, group_size=32)
        assert table_kernel_for(qt) is None
        x = rng.standard_normal((1, 64)).astype(np.float32)
        assert_within_tolerance(qmatmul(x, qt), x, qt)
        with pytest.raises(ValueError, match="has no table kernel"):
            table_operands(qt)
    qt = mq.quantize(w, format="nf4", group_size=32)
    x = rng.standard_normal((40, 64)).astype(np.float32)          # prefill: dequantize once, BLAS
    assert_within_tolerance(qmatmul_numba(x, qt), x, qt)
    odd = mq.quantize(rng.standard_normal((7, 3)).astype(np.float32), format="nf4", granularity="channel")
    assert table_kernel_for(odd) is None                             # K odd: a row starts inside a byte


def test_e4m3_with_activations_near_float32s_limit_runs_the_reference():
    w = np.random.default_rng(2).standard_normal((32, 4)).astype(np.float32)
    qt = mq.quantize(w, format="fp8_e4m3", granularity="channel")
    x = np.full((1, 32), 1e36, np.float32)                       # x * 256 would overflow float32
    assert table_matmul(x, table_operands(qt)) is None
    np.testing.assert_array_equal(qmatmul(x, qt), qmatmul_reference(x, qt))
