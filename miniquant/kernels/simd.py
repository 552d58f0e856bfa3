"""The integer dot product of 4-bit weight codes and int8 activations, on the CPU's own instruction.

``q4_q8_dot(row, xe, xo, j0, nbytes)`` is the inner loop of the W4A8 kernel (``w4a8.py``)::

    sum over j0 <= j < j0 + nbytes of  (row[j] & 15) * xe[j]  +  (row[j] >> 4) * xo[j]

``row`` holds packed 4-bit codes (``uint8``, byte ``j`` = code ``2j`` in its low nibble and
code ``2j + 1`` in its high nibble, the library's LSB-first packing) and ``xe``/``xo`` the int8
activations at the even and odd positions. Every product is at most ``15 * 127``, so the
int32 result is exact for ``nbytes <= (2**31 - 1) // (2 * 15 * 127)``.

Two implementations, equal on every input (``tests/kernels/test_w4a8.py``):

* ``q4_q8_dot_loop`` -- a plain Numba loop; LLVM vectorizes it with whatever the CPU has
  (here: sign/zero-extend every byte to 32 bits, then a 16-bit multiply-add, ``vpdpwssd``:
  16 products per instruction).
* ``q4_q8_dot_vnni`` -- AVX-512 VNNI: one ``vpdpbusd`` multiplies 64 unsigned bytes by 64
  signed bytes and adds each run of four products into one of 16 int32 lanes: 64 products per
  instruction, on bytes as they are stored. LLVM does not find this instruction in a loop by
  itself (KERNEL-NOTES), so ``_dot_bytes`` writes it: Numba's ``@intrinsic`` lets a function
  emit LLVM IR -- load 64 bytes, split the nibbles with an ``and`` and a shift, call
  ``llvm.x86.avx512.vpdpbusd.512`` twice (low nibbles with ``xe``, high nibbles with ``xo``),
  then sum the 16 lanes. Runs of 32 and 16 bytes use the 256- and 128-bit forms.

``q4_q8_dot_quads(row, xe, xo, j0)`` returns the four sums of the 16-byte runs from ``j0`` at once
(four groups of 32 codes from one 512-bit instruction pair, the lanes added in fours by two
shuffles), so that small groups do not each pay for a 128-bit pair and a lane sum.

The kernels call ``q4_q8_dot`` and ``q4_q8_dot_quads``, which Numba resolves at compile time (and
inlines: without ``inline="always"`` on the overloads the W4A8 kernel ran 2-3x slower) to the VNNI version when
``_jit.HAS_VNNI`` (the CPU Numba compiles for has AVX-512 VNNI, BW and VL) and to the loop
otherwise. Without Numba it is the loop, in Python.
"""
from __future__ import annotations

import numpy as np

from ._jit import HAS_VNNI, intrinsic, jit_inline, overload

#: Longest run of bytes whose int32 sum cannot overflow: two products of at most 15 * 127 per byte.
MAX_DOT_BYTES = (2**31 - 1) // (2 * 15 * 127)


def _make_dot_bytes(width: int, quads: bool = False):
    """An intrinsic ``f(row, xe, xo, j)`` over bytes ``j .. j + width - 1`` (no bounds check).

    It returns the int32 sum; with ``quads`` (``width = 64``) the four sums of its 16-byte runs
    instead, as a 4-tuple: a group of 32 codes is 16 bytes, so one 512-bit instruction serves
    four groups, and two shuffles add each run's four lanes (lanes ``4q .. 4q + 3`` hold run ``q``).
    """
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils

    lanes = width // 4
    bytes_t = ir.VectorType(ir.IntType(8), width)
    lanes_t = ir.VectorType(ir.IntType(32), lanes)
    dpbusd = f"llvm.x86.avx512.vpdpbusd.{8 * width}"      # .128, .256 or .512
    reduce = f"llvm.vector.reduce.add.v{lanes}i32"
    result_t = types.UniTuple(types.int32, 4) if quads else types.int32

    def codegen(context, builder, signature, args):
        row, xe, xo, j = args

        def load(position, array):
            data = context.make_array(signature.args[position])(context, builder, array).data
            return builder.load(builder.bitcast(builder.gep(data, [j]), bytes_t.as_pointer()), align=1)

        codes = load(0, row)
        low = builder.and_(codes, ir.Constant(bytes_t, [15] * width))   # u8: code 2j
        high = builder.lshr(codes, ir.Constant(bytes_t, [4] * width))   # u8: code 2j + 1
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(lanes_t, [lanes_t] * 3), dpbusd)
        acc = ir.Constant(lanes_t, [0] * lanes)
        acc = builder.call(fn, [acc, builder.bitcast(low, lanes_t), builder.bitcast(load(1, xe), lanes_t)])
        acc = builder.call(fn, [acc, builder.bitcast(high, lanes_t), builder.bitcast(load(2, xo), lanes_t)])
        if quads:
            for step in (1, 2):  # lane i += lane i ^ 1, then lane i += lane i ^ 2: each lane holds its run's sum
                swapped = builder.shuffle_vector(acc, acc, ir.Constant(lanes_t, [i ^ step for i in range(lanes)]))
                acc = builder.add(acc, swapped)
            sums = [builder.extract_element(acc, ir.Constant(ir.IntType(32), 4 * q)) for q in range(4)]
            return context.make_tuple(builder, result_t, sums)
        total = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), [lanes_t]), reduce)
        return builder.call(total, [acc])

    def typer(typingctx, row, xe, xo, j):
        contiguous_bytes = all(
            isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and a.dtype == dt
            for a, dt in ((row, types.uint8), (xe, types.int8), (xo, types.int8))
        )
        if contiguous_bytes and isinstance(j, types.Integer):
            return result_t(row, xe, xo, j), codegen
        return None

    typer.__name__ = f"_dot_bytes_{width}" + ("_quads" if quads else "")
    return intrinsic(typer)


if HAS_VNNI:
    _dot_64, _dot_32, _dot_16 = (_make_dot_bytes(w) for w in (64, 32, 16))
    _dot_64_quads = _make_dot_bytes(64, quads=True)


@jit_inline
def q4_q8_dot_loop(row, xe, xo, j0, nbytes):
    """The dot product (module docstring) as a plain loop over ``nbytes`` bytes from ``j0``."""
    r = row[j0:j0 + nbytes]   # slices and a loop from 0: no gathers (KERNEL-NOTES, item 2)
    e = xe[j0:j0 + nbytes]
    o = xo[j0:j0 + nbytes]
    acc = np.int32(0)
    for j in range(nbytes):
        v = np.int32(r[j])
        acc = np.int32(acc + (v & 15) * np.int32(e[j]) + (v >> 4) * np.int32(o[j]))
    return acc


@jit_inline
def _dot_vnni_unchecked(row, xe, xo, j0, nbytes):
    """``vpdpbusd`` on runs of 64, then 32 and 16 bytes; the last < 16 one by one. Reads raw memory:
    the kernels call it only with ``j0 + nbytes <= len(row), len(xe), len(xo)`` (a check here, that
    can raise, would stop Numba from running the kernels' ``prange`` loops in parallel)."""
    acc = np.int32(0)
    j = j0
    end = j0 + nbytes
    while j + 64 <= end:
        acc = np.int32(acc + _dot_64(row, xe, xo, j))
        j += 64
    if j + 32 <= end:
        acc = np.int32(acc + _dot_32(row, xe, xo, j))
        j += 32
    if j + 16 <= end:
        acc = np.int32(acc + _dot_16(row, xe, xo, j))
        j += 16
    while j < end:
        v = np.int32(row[j])
        acc = np.int32(acc + (v & 15) * np.int32(xe[j]) + (v >> 4) * np.int32(xo[j]))
        j += 1
    return acc


@jit_inline
def q4_q8_dot_vnni(row, xe, xo, j0, nbytes):
    """The dot product with ``vpdpbusd`` (module docstring), after checking the byte range."""
    end = j0 + nbytes
    if j0 < 0 or nbytes < 0 or end > row.shape[0] or end > xe.shape[0] or end > xo.shape[0]:
        raise IndexError("q4_q8_dot_vnni: bytes j0 .. j0 + nbytes are outside row, xe or xo")
    return _dot_vnni_unchecked(row, xe, xo, j0, nbytes)


def q4_q8_dot(row, xe, xo, j0, nbytes):
    """The dot product (module docstring); VNNI inside Numba kernels when the CPU has it."""
    return q4_q8_dot_loop(row, xe, xo, j0, nbytes)


@overload(q4_q8_dot, inline="always")
def _q4_q8_dot(row, xe, xo, j0, nbytes):
    chosen = _dot_vnni_unchecked if HAS_VNNI else q4_q8_dot_loop
    return lambda row, xe, xo, j0, nbytes: chosen(row, xe, xo, j0, nbytes)


@jit_inline
def q4_q8_dot_quads_loop(row, xe, xo, j0):
    """The dot products of the four 16-byte runs from ``j0`` (four groups of 32 codes), as a loop."""
    return (q4_q8_dot_loop(row, xe, xo, j0, 16), q4_q8_dot_loop(row, xe, xo, j0 + 16, 16),
            q4_q8_dot_loop(row, xe, xo, j0 + 32, 16), q4_q8_dot_loop(row, xe, xo, j0 + 48, 16))


@jit_inline
def _dot_quads_vnni_unchecked(row, xe, xo, j0):
    """The four sums from one 512-bit ``vpdpbusd`` pair; reads raw memory (see ``_dot_vnni_unchecked``)."""
    return _dot_64_quads(row, xe, xo, j0)


@jit_inline
def q4_q8_dot_quads_vnni(row, xe, xo, j0):
    """``q4_q8_dot_quads`` with VNNI, after checking that the 64 bytes from ``j0`` lie inside the arrays."""
    if j0 < 0 or j0 + 64 > row.shape[0] or j0 + 64 > xe.shape[0] or j0 + 64 > xo.shape[0]:
        raise IndexError("q4_q8_dot_quads_vnni: bytes j0 .. j0 + 64 are outside row, xe or xo")
    return _dot_quads_vnni_unchecked(row, xe, xo, j0)


def q4_q8_dot_quads(row, xe, xo, j0):
    """The dot products of four consecutive 16-byte runs from ``j0``: a 4-tuple of int32."""
    return q4_q8_dot_quads_loop(row, xe, xo, j0)


@overload(q4_q8_dot_quads, inline="always")
def _q4_q8_dot_quads(row, xe, xo, j0):
    chosen = _dot_quads_vnni_unchecked if HAS_VNNI else q4_q8_dot_quads_loop
    return lambda row, xe, xo, j0: chosen(row, xe, xo, j0)
