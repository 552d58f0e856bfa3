"""One compiled call per decode product: the pass over ``x`` and the fused kernel together.

A decode step multiplies every weight by one row of activations. For the shipped model's 128-wide
matrices the kernel takes a few microseconds, and each extra trip between Python and compiled code
(a call with a dozen arguments, an array allocated and handed back) costs about one more. So for the
two paths that serve int8 and int4 decode on AVX-512 (``fused_u8``; ``fused_t4``, the table kernel),
one compiled function allocates what the kernel needs from ``x`` (its group sums, its even and odd
elements), checks that ``x`` is finite (``operands._activation_pass``) and runs the kernel's serial
twin. It returns False, having computed nothing, when ``x`` holds NaN or Inf; the caller raises.
Products large enough for both threads (``SERIAL_WORK``), and the other paths, go through
``operands.activation_pass`` and the kernel separately: same results, and there a microsecond is
nothing. (Only the serial twin is called from compiled code: code loaded from Numba's cache that calls
a ``parallel=True`` function crashed the process when no parallel function had run in it yet, since
the thread pool starts when a parallel dispatcher first runs.)

Tests: ``tests/kernels/test_matmul.py`` (every fused path against the reference, and the NaN/Inf check).
"""
from __future__ import annotations

import numpy as np

from ._jit import jit_reduce
from .fused import fused_u8
from .operands import _activation_pass
from .tables import fused_t4

# The serial twins as plain module names: compiled code calls a dispatcher it finds among the globals.
_u8_serial = fused_u8.serial
_t4_serial = fused_t4.serial


@jit_reduce
def u8_call(x, rows, group_size, n_groups, stride, scales, zeros, out):
    """``fused_u8`` (serial) on float32 ``x`` ``(M, K)`` with its group sums computed here; False if ``x`` is not finite."""
    M, K = x.shape
    xsum = np.empty((M, K // group_size), np.float32)
    nothing = np.empty((0, 0), np.float32)
    if not _activation_pass(x, group_size, xsum, nothing, nothing):
        return False
    _u8_serial(x, xsum, rows, group_size, n_groups, stride, scales, zeros, out)
    return True


@jit_reduce
def t4_call(x, rows, group_size, n_groups, stride, scales, table, zeros, zero_bits, out):
    """``fused_t4`` (serial) on float32 ``x`` ``(M, K)``, split into even and odd elements here (and summed per group
    when ``zero_bits``: asymmetric); False if ``x`` is not finite."""
    M, K = x.shape
    x_even = np.empty((M, K // 2), np.float32)
    x_odd = np.empty((M, K // 2), np.float32)
    xsum = np.empty((M, K // group_size) if zero_bits else (0, 0), np.float32)
    if not _activation_pass(x, group_size, xsum, x_even, x_odd):
        return False
    if zero_bits == 0:
        xsum = np.zeros((1, 1), np.float32)        # not read without zero points (fused_t4)
    _t4_serial(x_even, x_odd, xsum, rows, group_size, n_groups, stride, scales, table, zeros, zero_bits, out)
    return True
