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

``group_terms4(row, xe, xo, j, scales, si, dx_row, xsum_row, g, z0..z3)`` serves groups of 32
codes (16 bytes) four at a time: one 512-bit instruction pair for the four dot products, two
shuffles to add each group's lanes, then the zero points and both scales on four lanes at once,
so that small groups do not each pay for a 128-bit pair, a lane sum and a scalar epilogue.

The kernels call ``q4_q8_dot`` and ``group_terms4``, which Numba resolves at compile time (and
inlines: without ``inline="always"`` on the overloads the W4A8 kernel ran 2-3x slower) to the VNNI version when
``_jit.HAS_VNNI`` (the CPU Numba compiles for has AVX-512 VNNI, BW and VL) and to the loop
otherwise. Without Numba it is the loop, in Python.
"""
from __future__ import annotations

import numpy as np

from ._codes import scale_value
from ._jit import HAS_VNNI, NUMBA_AVAILABLE, intrinsic, jit_inline, overload

#: Longest run of bytes whose int32 sum cannot overflow: two products of at most 15 * 127 per byte.
MAX_DOT_BYTES = (2**31 - 1) // (2 * 15 * 127)


def _make_dot_bytes(width: int):
    """An intrinsic ``f(row, xe, xo, j) -> int32`` over bytes ``j .. j + width - 1`` (no bounds check)."""
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils

    lanes_t = ir.VectorType(ir.IntType(32), width // 4)
    reduce = f"llvm.vector.reduce.add.v{width // 4}i32"

    def codegen(context, builder, signature, args):
        acc = _dpbusd_nibbles(context, builder, signature, args, width)
        total = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), [lanes_t]), reduce)
        return builder.call(total, [acc])

    def typer(typingctx, row, xe, xo, j):
        if _packed_operands(row, xe, xo) and isinstance(j, types.Integer):
            return types.int32(row, xe, xo, j), codegen
        return None

    typer.__name__ = f"_dot_bytes_{width}"
    return intrinsic(typer)


def _packed_operands(row, xe, xo) -> bool:
    """Typing check: ``row`` contiguous uint8, ``xe`` and ``xo`` contiguous int8, all 1-D."""
    from numba import types

    return all(
        isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and a.dtype == dt
        for a, dt in ((row, types.uint8), (xe, types.int8), (xo, types.int8))
    )


def _element_pointer(context, builder, array_type, array, index, vector_type):
    """LLVM pointer to ``array[index]``, typed as a pointer to ``vector_type`` (for an unaligned vector load)."""
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [index]), vector_type.as_pointer())


def _dpbusd_nibbles(context, builder, signature, args, width):
    """IR: the int32 lanes of ``vpdpbusd`` over ``width`` packed bytes from ``j`` (args ``row, xe, xo, j``)."""
    from llvmlite import ir
    row, xe, xo, j = args[:4]
    lanes_t = ir.VectorType(ir.IntType(32), width // 4)
    bytes_t = ir.VectorType(ir.IntType(8), width)
    load = lambda k, a: builder.load(_element_pointer(context, builder, signature.args[k], a, j, bytes_t), align=1)  # noqa: E731
    codes = load(0, row)
    low = builder.and_(codes, ir.Constant(bytes_t, [15] * width))   # u8: code 2j
    high = builder.lshr(codes, ir.Constant(bytes_t, [4] * width))   # u8: code 2j + 1
    fn = _dpbusd(builder, lanes_t, 8 * width)                         # .128, .256 or .512
    acc = ir.Constant(lanes_t, [0] * (width // 4))
    acc = builder.call(fn, [acc, builder.bitcast(low, lanes_t), builder.bitcast(load(1, xe), lanes_t)])
    return builder.call(fn, [acc, builder.bitcast(high, lanes_t), builder.bitcast(load(2, xo), lanes_t)])


def _make_group_terms4():
    """An intrinsic: the float32 terms of four groups of 32 codes (64 bytes from ``j``), no bounds check.

    ``f(row, xe, xo, j, scales, si, dx_row, xsum_row, g, z0, z1, z2, z3) -> (t0, t1, t2, t3)`` with
    ``t_q = float32(dot_q - z_q * xsum_row[g + q]) * s[si + q] * dx_row[g + q]``: one 512-bit
    ``vpdpbusd`` pair for the four dot products, two shuffles to add each group's four lanes, then
    the zero points, the int-to-float conversion and both scales on four lanes at once (float16
    scales widened exactly, ``vcvtph2ps``). The same float32 operations in the same order as the
    scalar ``int_group_term``, so the results are equal bit for bit.
    """
    from llvmlite import ir
    from numba import types

    lanes_t = ir.VectorType(ir.IntType(32), 16)
    int4 = ir.VectorType(ir.IntType(32), 4)
    float4 = ir.VectorType(ir.FloatType(), 4)
    result_t = types.UniTuple(types.float32, 4)

    def codegen(context, builder, signature, args):
        acc = _dpbusd_nibbles(context, builder, signature, args, 64)
        for step in (1, 2):  # lane i += lane i ^ 1, then lane i += lane i ^ 2: lanes 4q..4q+3 = group q's sum
            acc = builder.add(acc, builder.shuffle_vector(acc, acc, ir.Constant(lanes_t, [i ^ step for i in range(16)])))
        dots = builder.shuffle_vector(acc, acc, ir.Constant(int4, [0, 4, 8, 12]))
        scales, si, dx_row, xsum_row, g = args[4:9]
        zeros = ir.Constant(int4, ir.Undefined)
        for q in range(4):
            zq = context.cast(builder, args[9 + q], signature.args[9 + q], types.int32)
            zeros = builder.insert_element(zeros, zq, ir.Constant(ir.IntType(32), q))
        xsum = builder.load(_element_pointer(context, builder, signature.args[7], xsum_row, g, int4), align=1)
        exact = builder.sub(dots, builder.mul(zeros, xsum))
        if signature.args[4].dtype == types.uint16:   # float16 scales, stored as their bits
            half4 = ir.VectorType(ir.IntType(16), 4)
            bits = builder.load(_element_pointer(context, builder, signature.args[4], scales, si, half4), align=1)
            s = builder.fpext(builder.bitcast(bits, ir.VectorType(ir.HalfType(), 4)), float4)
        else:
            s = builder.load(_element_pointer(context, builder, signature.args[4], scales, si, float4), align=1)
        dx = builder.load(_element_pointer(context, builder, signature.args[6], dx_row, g, float4), align=1)
        terms = builder.fmul(builder.fmul(builder.sitofp(exact, float4), s), dx)
        values = [builder.extract_element(terms, ir.Constant(ir.IntType(32), q)) for q in range(4)]
        return context.make_tuple(builder, result_t, values)

    def typer(typingctx, row, xe, xo, j, scales, si, dx_row, xsum_row, g, z0, z1, z2, z3):
        contiguous = lambda a, dtypes: isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and a.dtype in dtypes  # noqa: E731
        ok = (_packed_operands(row, xe, xo) and contiguous(scales, (types.uint16, types.float32))
              and contiguous(dx_row, (types.float32,)) and contiguous(xsum_row, (types.int32,))
              and all(isinstance(v, types.Integer) for v in (j, si, g, z0, z1, z2, z3)))
        if ok:
            return result_t(row, xe, xo, j, scales, si, dx_row, xsum_row, g, z0, z1, z2, z3), codegen
        return None

    typer.__name__ = "_group_terms4"
    return intrinsic(typer)


def _make_dots4():
    """An intrinsic ``f(r0, r1, r2, r3, xe, xo, j) -> 4 x int32``: the dot product of 64 bytes from ``j`` of each
    of four rows, no bounds check.

    One load of ``xe`` and of ``xo`` serves the four rows (a ``vpdpbusd`` pair each); the four vectors of 16
    int32 lanes are then added in a transposing tree -- pairs of rows to 8 lanes each, then all four to 4
    lanes each, then the two in-register steps of ``group_terms4`` -- 6 shuffles and 5 additions for the four
    sums, where one lane sum per row takes 8 of each. Integer additions, so the order is free: exact.
    """
    from llvmlite import ir
    from numba import types

    lanes_t = ir.VectorType(ir.IntType(32), 16)
    mask = lambda idx: ir.Constant(ir.VectorType(ir.IntType(32), len(idx)), idx)  # noqa: E731
    result_t = types.UniTuple(types.int32, 4)

    def codegen(context, builder, signature, args):
        rows, xe, xo, j = args[:4], args[4], args[5], args[6]
        bytes_t = ir.VectorType(ir.IntType(8), 64)
        load = lambda k, a: builder.load(_element_pointer(context, builder, signature.args[k], a, j, bytes_t), align=1)  # noqa: E731
        e, o = builder.bitcast(load(4, xe), lanes_t), builder.bitcast(load(5, xo), lanes_t)
        fn = _dpbusd(builder, lanes_t, 512)
        accs = []
        for q in range(4):
            codes = load(q, rows[q])
            low = builder.bitcast(builder.and_(codes, ir.Constant(bytes_t, [15] * 64)), lanes_t)
            high = builder.bitcast(builder.lshr(codes, ir.Constant(bytes_t, [4] * 64)), lanes_t)
            acc = builder.call(fn, [ir.Constant(lanes_t, [0] * 16), low, e])
            accs.append(builder.call(fn, [acc, high, o]))

        def fold(a, b, width):   # from runs of 2 * width lanes of a then b: each run's halves added
            first = [base + off for base in range(0, 32, 2 * width) for off in range(width)]
            second = [c + width for c in first]
            return builder.add(builder.shuffle_vector(a, b, mask(first)), builder.shuffle_vector(a, b, mask(second)))
        pair01 = fold(accs[0], accs[1], 8)       # lanes 0-7: row 0's partial sums, 8-15: row 1's
        pair23 = fold(accs[2], accs[3], 8)
        quad = fold(pair01, pair23, 4)           # lanes 4q .. 4q + 3: row q's partial sums
        for step in (1, 2):
            quad = builder.add(quad, builder.shuffle_vector(quad, quad, mask([i ^ step for i in range(16)])))
        values = [builder.extract_element(quad, ir.Constant(ir.IntType(32), 4 * q)) for q in range(4)]
        return context.make_tuple(builder, result_t, values)

    def typer(typingctx, r0, r1, r2, r3, xe, xo, j):
        if all(_packed_operands(r, xe, xo) for r in (r0, r1, r2, r3)) and isinstance(j, types.Integer):
            return result_t(r0, r1, r2, r3, xe, xo, types.intp), codegen
        return None

    typer.__name__ = "_dots4"
    return intrinsic(typer)


def _dpbusd(builder, lanes_t, bits: int):
    """The LLVM function ``llvm.x86.avx512.vpdpbusd.<bits>`` (accumulator, unsigned bytes, signed bytes)."""
    from llvmlite import ir
    from numba.core import cgutils

    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(lanes_t, [lanes_t] * 3),
                                          f"llvm.x86.avx512.vpdpbusd.{bits}")


def _make_prefetch():
    """An intrinsic ``f(a, i)``: ask the CPU to bring the cache line holding ``a[i]`` (a 1-D array) into cache.

    ``llvm.prefetch`` (read, keep in all levels): never faults, so ``i`` may lie past the end of ``a``.
    """
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils

    def codegen(context, builder, signature, args):
        a, i = args
        i8p = ir.IntType(8).as_pointer()
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p] + [ir.IntType(32)] * 3),
                                            "llvm.prefetch.p0")
        data = context.make_array(signature.args[0])(context, builder, a).data
        pointer = builder.bitcast(builder.gep(data, [i]), i8p)
        builder.call(fn, [pointer, ir.Constant(ir.IntType(32), 0), ir.Constant(ir.IntType(32), 3), ir.Constant(ir.IntType(32), 1)])
        return context.get_dummy_value()

    def typer(typingctx, a, i):
        if isinstance(a, types.Array) and a.ndim == 1 and isinstance(i, types.Integer):
            return types.none(a, types.intp), codegen
        return None

    typer.__name__ = "_prefetch"
    return intrinsic(typer)


def prefetch(a, i):
    """Hint that ``a[i]`` will be read soon (inside Numba kernels: ``llvm.prefetch``; elsewhere nothing)."""
    return None


@overload(prefetch, inline="always")
def _prefetch_overload(a, i):
    if NUMBA_AVAILABLE:
        return lambda a, i: _prefetch_intrinsic(a, i)
    return lambda a, i: None


if NUMBA_AVAILABLE:
    _prefetch_intrinsic = _make_prefetch()

if HAS_VNNI:
    _dot_64, _dot_32, _dot_16 = (_make_dot_bytes(w) for w in (64, 32, 16))
    _group_terms4_intrinsic = _make_group_terms4()
    _dots4_intrinsic = _make_dots4()


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
def int_group_term(dot, z, scales, i, xsum, step):
    """One group's float32 term ``float32(dot - z * xsum) * s[i] * step``: the zero point ``z`` and both
    scales applied after the integer sum (the W4A8 kernel's epilogue, and the specification of
    ``group_terms4``)."""
    return np.float32(np.int32(dot - np.int32(z) * xsum)) * scale_value(scales, i) * step


@jit_inline
def group_terms4_loop(row, xe, xo, j, scales, si, dx_row, xsum_row, g, z0, z1, z2, z3):
    """The four float32 group terms of ``_make_group_terms4``, one group at a time (the specification)."""
    return (int_group_term(q4_q8_dot_loop(row, xe, xo, j, 16), z0, scales, si, xsum_row[g], dx_row[g]),
            int_group_term(q4_q8_dot_loop(row, xe, xo, j + 16, 16), z1, scales, si + 1, xsum_row[g + 1], dx_row[g + 1]),
            int_group_term(q4_q8_dot_loop(row, xe, xo, j + 32, 16), z2, scales, si + 2, xsum_row[g + 2], dx_row[g + 2]),
            int_group_term(q4_q8_dot_loop(row, xe, xo, j + 48, 16), z3, scales, si + 3, xsum_row[g + 3], dx_row[g + 3]))


@jit_inline
def _group_terms4_vnni_unchecked(row, xe, xo, j, scales, si, dx_row, xsum_row, g, z0, z1, z2, z3):
    """The VNNI intrinsic; reads raw memory (see ``_dot_vnni_unchecked``)."""
    return _group_terms4_intrinsic(row, xe, xo, j, scales, si, dx_row, xsum_row, g, z0, z1, z2, z3)


@jit_inline
def group_terms4_vnni(row, xe, xo, j, scales, si, dx_row, xsum_row, g, z0, z1, z2, z3):
    """``group_terms4`` with VNNI, after checking every range it reads."""
    if (j < 0 or j + 64 > row.shape[0] or j + 64 > xe.shape[0] or j + 64 > xo.shape[0] or si < 0
            or si + 4 > scales.shape[0] or g < 0 or g + 4 > dx_row.shape[0] or g + 4 > xsum_row.shape[0]):
        raise IndexError("group_terms4_vnni: a range is outside its array")
    return _group_terms4_vnni_unchecked(row, xe, xo, j, scales, si, dx_row, xsum_row, g, z0, z1, z2, z3)


def group_terms4(row, xe, xo, j, scales, si, dx_row, xsum_row, g, z0, z1, z2, z3):
    """Four groups of 32 codes at once: their float32 terms ``float32(dot - z * xsum) * s * dx`` (a 4-tuple)."""
    return group_terms4_loop(row, xe, xo, j, scales, si, dx_row, xsum_row, g, z0, z1, z2, z3)


@overload(group_terms4, inline="always")
def _group_terms4(row, xe, xo, j, scales, si, dx_row, xsum_row, g, z0, z1, z2, z3):
    chosen = _group_terms4_vnni_unchecked if HAS_VNNI else group_terms4_loop
    return lambda row, xe, xo, j, scales, si, dx_row, xsum_row, g, z0, z1, z2, z3: chosen(
        row, xe, xo, j, scales, si, dx_row, xsum_row, g, z0, z1, z2, z3)


@jit_inline
def dots4_loop(r0, r1, r2, r3, xe, xo, j):
    """The dot products of 64 bytes from ``j`` of four rows against ``xe``/``xo`` (``q4_q8_dot_loop`` each)."""
    return (q4_q8_dot_loop(r0, xe, xo, j, 64), q4_q8_dot_loop(r1, xe, xo, j, 64),
            q4_q8_dot_loop(r2, xe, xo, j, 64), q4_q8_dot_loop(r3, xe, xo, j, 64))


@jit_inline
def dots4_vnni(r0, r1, r2, r3, xe, xo, j):
    """``dots4`` with VNNI (``_make_dots4``), after checking the 64 bytes lie inside every array."""
    if (j < 0 or j + 64 > xe.shape[0] or j + 64 > xo.shape[0] or j + 64 > r0.shape[0] or j + 64 > r1.shape[0]
            or j + 64 > r2.shape[0] or j + 64 > r3.shape[0]):
        raise IndexError("dots4_vnni: bytes j .. j + 63 are outside a row, xe or xo")
    return _dots4_intrinsic(r0, r1, r2, r3, xe, xo, j)


def dots4(r0, r1, r2, r3, xe, xo, j):
    """Four rows' dot products over the 64 bytes from ``j`` (a 4-tuple of int32); VNNI inside Numba kernels when the
    CPU has it, unchecked there (the W4A8 kernel reads whole groups of a multiple of 64 bytes)."""
    return dots4_loop(r0, r1, r2, r3, xe, xo, j)


@overload(dots4, inline="always")
def _dots4(r0, r1, r2, r3, xe, xo, j):
    if HAS_VNNI:
        return lambda r0, r1, r2, r3, xe, xo, j: _dots4_intrinsic(r0, r1, r2, r3, xe, xo, j)
    return lambda r0, r1, r2, r3, xe, xo, j: dots4_loop(r0, r1, r2, r3, xe, xo, j)
