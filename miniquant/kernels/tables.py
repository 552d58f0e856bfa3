"""Fused decode kernels that read four weight rows at once in AVX-512 registers: 16-entry tables and bytes.

An element-format weight stores codes that index a table (``miniquant.quant.elements``):
``w[k, n] = table[code[k, n]] * s[n, g(k)]``. Two kernel families compute
``y[m, n] = sum_g s[n, g] * sum_{k in g} x[m, k] * table[code]`` without building ``w``:

* **4-bit tables** (``fused_t4``: ``nf4``, ``fp4_e2m1``, ``mxfp4``, and the 4-bit *integer* grid, whose
  16 values ``u + qmin`` are a table too -- ``matmul`` sends int4 weights here): two codes per byte (code
  ``2j`` in the low nibble). A 16-entry float32 table is exactly one 512-bit register, so on AVX-512 each
  nibble is looked up with one permute (``vpermps``: 16 look-ups per instruction, ``_make_t4_row4``); a
  table load in a plain loop becomes a gather, which ran 3-4x slower than the integer kernel (measured
  here: 10-16 ms against 3 ms for 1 x 4096 x 4096). Asymmetric integer weights look up ``u`` and
  subtract their zero points' share ``s * z * xsum`` per group (``zero_terms``).
* **Bytes** (``fused_f8``: ``fp8_e4m3``, ``fp8_e5m2``, ``mxfp8``; and 8-bit integer codes, read by
  ``fused.fused_u8`` through the same ``byte_row4``): every e5m2 byte is the top byte of a float16, and
  an e4m3 byte ``s eeee mmm`` placed as float16 bits ``s 0 eeee mmm 0000000`` is its value divided by 256
  -- subnormals included, since both formats' subnormals line up -- so a byte becomes float32 by a shift
  (and a mask) and the hardware's half-to-float conversion (``vcvtph2ps``); e4m3's factor 256 is moved
  onto ``x`` once per call (``x * 256``, exact: a power of two). An integer byte is converted as it is
  (``uitofp``). A 256-entry table in a plain loop is again a gather.

Both read four weight columns per load of ``x`` and keep each group's sum in a vector register; a
group's scale multiplies the vector, and the lanes are summed once per row (``_make_t4_row4``,
``_make_byte_row4``). Each also prefetches the same bytes of the next four rows (``PREFETCH``,
``_prefetch_next_block``): the hardware prefetchers restart at every 4 KB page, one row or less here.

Scales are read per group as stored (``_codes.scale_value``): float32, float16 bits, or E8M0 bytes
(the MX formats); other scale formats are decoded once per weight (``operands.prepared``).

Every fast row kernel has a plain-loop twin (``t4_row4_loop``, ``byte_row4_loop``) that is its
specification and the path on CPUs without AVX-512 (``_jit.HAS_AVX512``) and under
``NUMBA_DISABLE_JIT=1``. Formats without a kernel here (``fp6_*``, ``ternary``, ``mxfp6``,
``mxint8``) and large ``M`` (prefill) run ``qmatmul_reference``.

Tolerance: as ``matmul.qmatmul_tolerance`` (float32 sums in any order, ``fastmath``). Tests:
``tests/kernels/test_tables.py``.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..tensor import QTensor
from ._codes import scale_value, zero_value
from ._jit import HAS_AVX512, intrinsic, jit_fast, jit_inline, overload, prange
from .operands import check_weight, kernel_scales, prepared

#: Which kernel serves a format: ``"t4"`` (16-entry table), ``"e4m3"`` or ``"e5m2"`` (FP8 bytes).
TABLE_KERNELS = {"nf4": "t4", "fp4_e2m1": "t4", "mxfp4": "t4", "fp8_e4m3": "e4m3", "mxfp8": "e4m3", "fp8_e5m2": "e5m2"}
#: How an FP8 kind's bytes become float16 bits: ``(shift, mask)`` of ``(int16(int8 byte) << shift) & mask``,
#: and the power of two the float16 value must be multiplied by to be the byte's value.
_F8_BITS = {"e4m3": (7, 0xBFFF, 256.0), "e5m2": (8, 0xFFFF, 1.0)}
#: The byte kinds ``byte_row4`` decodes, by number: FP8's two and ``"u8"``, unsigned integer codes (int8 weights).
BYTE_KINDS = {"e5m2": 0, "e4m3": 1, "u8": 2}
#: ``byte_row4_loop``'s table for ``"u8"``: every byte's unsigned value.
U8_TABLE = np.arange(256, dtype=np.float32)
#: Whether the AVX-512 row kernels prefetch the next block of rows (``_prefetch_next_block``).
PREFETCH = True
#: ``fused_t4``'s zero points and group sums when there are none (element formats, symmetric int4).
_NO_ZEROS = np.zeros(1, np.float32)
_NO_XSUM = np.zeros((1, 1), np.float32)
#: Above this ``max |x|``, ``x * 256`` could overflow float32: e4m3 then runs the reference.
_E4M3_X_LIMIT = float(np.finfo(np.float32).max) / 512


@dataclasses.dataclass(frozen=True)
class TableOperands:
    """What the table kernels read from a ``(K, N)`` element-format weight (see the module docstring)."""

    K: int
    N: int
    kind: str
    group_size: int
    n_groups: int
    scale_stride: int
    rows: np.ndarray       # t4: uint8 (N, K // 2); FP8: int8 (N, K), the bytes as stored
    scales: np.ndarray
    table: np.ndarray      # t4: every code's value; FP8: every byte's value / factor (the NaN patterns as 0)
    factor: float          # what x is multiplied by before the FP8 loop (256 for e4m3, else 1)


def table_kernel_for(qt: QTensor) -> str | None:
    """The kernel that multiplies ``qt`` (``"t4"``, ``"e4m3"``, ``"e5m2"``), or ``None`` if it needs the reference."""
    spec = check_weight(qt).spec
    kind = TABLE_KERNELS.get(spec.format)
    K = qt.shape[0]
    group = spec.group_size if spec.granularity == "group" else K
    if kind == "t4" and (K % 2 or group % 2):
        return None          # a row or a group would start inside a byte
    return kind


def table_operands(qt: QTensor) -> TableOperands:
    """Views of ``qt``'s stored arrays for its table kernel (``ValueError`` if it has none); prepared once per weight."""
    return prepared(qt, "table operands", _table_operands)


def _table_operands(qt: QTensor) -> TableOperands:
    kind = table_kernel_for(qt)
    if kind is None:
        raise ValueError(f"format {qt.spec.format!r} with shape {qt.shape} has no table kernel; qmatmul runs the reference")
    spec = qt.spec
    K, N = qt.shape
    if spec.granularity == "group":
        group_size, n_groups, stride = spec.group_size, K // spec.group_size, K // spec.group_size
    else:
        group_size, n_groups, stride = K, 1, (1 if spec.granularity == "channel" else 0)
    factor = 1.0 if kind == "t4" else _F8_BITS[kind][2]
    values = spec.element.table
    table = np.where(np.isfinite(values), values / factor, 0).astype(np.float32)
    rows = qt.packed.reshape(N, K // 2) if kind == "t4" else qt.packed.reshape(N, K).view(np.int8)
    return TableOperands(K=K, N=N, kind=kind, group_size=group_size, n_groups=n_groups, scale_stride=stride,
                         rows=rows, scales=kernel_scales(qt, e8m0_bytes=True), table=table, factor=factor)


# -- the dot products: plain loops (the specification) ------------------------------------------
@jit_inline
def t4_dot_loop(row, xe, xo, j0, nbytes, table):
    """``sum over j0 <= j < j0 + nbytes of table[row[j] & 15] * xe[j] + table[row[j] >> 4] * xo[j]`` (float32)."""
    r = row[j0:j0 + nbytes]
    e = xe[j0:j0 + nbytes]
    o = xo[j0:j0 + nbytes]
    acc = np.float32(0.0)
    for j in range(nbytes):
        b = np.int32(r[j])
        acc += table[b & 15] * e[j] + table[b >> 4] * o[j]
    return acc


@jit_inline
def t4_row4_loop(r0, r1, r2, r3, xe, xo, n_groups, half, scales, i0, i1, i2, i3, table):
    """Four whole rows of 4-bit codes: ``sum_g s[i_q + g] * t4_dot_loop(r_q, xe, xo, g * half, half, table)`` for each row ``q``."""
    acc0 = np.float32(0.0)
    acc1 = np.float32(0.0)
    acc2 = np.float32(0.0)
    acc3 = np.float32(0.0)
    for g in range(n_groups):
        acc0 += t4_dot_loop(r0, xe, xo, g * half, half, table) * scale_value(scales, i0 + g)
        acc1 += t4_dot_loop(r1, xe, xo, g * half, half, table) * scale_value(scales, i1 + g)
        acc2 += t4_dot_loop(r2, xe, xo, g * half, half, table) * scale_value(scales, i2 + g)
        acc3 += t4_dot_loop(r3, xe, xo, g * half, half, table) * scale_value(scales, i3 + g)
    return acc0, acc1, acc2, acc3


@jit_inline
def byte_dot4_loop(r0, r1, r2, r3, x, k0, n, table):
    """Four rows of bytes (FP8 as int8 views, or uint8 integer codes) against ``x[k0 : k0 + n]``: ``sum_k table[byte] * x[k]`` each
    (``table``: the bytes' values divided by the factor that ``x`` was multiplied by)."""
    q0 = r0[k0:k0 + n]
    q1 = r1[k0:k0 + n]
    q2 = r2[k0:k0 + n]
    q3 = r3[k0:k0 + n]
    xs = x[k0:k0 + n]
    a0 = np.float32(0.0)
    a1 = np.float32(0.0)
    a2 = np.float32(0.0)
    a3 = np.float32(0.0)
    for k in range(n):
        xv = xs[k]
        a0 += table[np.int32(q0[k]) & 255] * xv
        a1 += table[np.int32(q1[k]) & 255] * xv
        a2 += table[np.int32(q2[k]) & 255] * xv
        a3 += table[np.int32(q3[k]) & 255] * xv
    return a0, a1, a2, a3


@jit_inline
def byte_row4_loop(r0, r1, r2, r3, x, n_groups, group_size, scales, i0, i1, i2, i3, table):
    """Four whole rows of bytes: ``sum_g s[i_q + g] * (sum over group g of table[byte] * x[k])`` for each row ``q``."""
    acc0 = np.float32(0.0)
    acc1 = np.float32(0.0)
    acc2 = np.float32(0.0)
    acc3 = np.float32(0.0)
    for g in range(n_groups):
        t0, t1, t2, t3 = byte_dot4_loop(r0, r1, r2, r3, x, g * group_size, group_size, table)
        acc0 += t0 * scale_value(scales, i0 + g)
        acc1 += t1 * scale_value(scales, i1 + g)
        acc2 += t2 * scale_value(scales, i2 + g)
        acc3 += t3 * scale_value(scales, i3 + g)
    return acc0, acc1, acc2, acc3


# -- the same with AVX-512 (LLVM IR through Numba's @intrinsic) -----------------------------------
def _pointer(context, builder, array_type, array, index, vector_type):
    """LLVM pointer to ``array[index]`` typed as a pointer to ``vector_type`` (for unaligned vector loads)."""
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [index]), vector_type.as_pointer())


def _lane_sum(builder, acc, lanes: int):
    """The float32 sum of a vector's lanes (a shuffle tree)."""
    from llvmlite import ir

    idx = ir.VectorType(ir.IntType(32), 16)
    if lanes == 32:
        lo = builder.shuffle_vector(acc, acc, ir.Constant(idx, list(range(16))))
        hi = builder.shuffle_vector(acc, acc, ir.Constant(idx, list(range(16, 32))))
        acc = builder.fadd(lo, hi)
    for step in (8, 4, 2, 1):
        acc = builder.fadd(acc, builder.shuffle_vector(acc, acc, ir.Constant(idx, [i ^ step for i in range(16)])))
    return builder.extract_element(acc, ir.Constant(ir.IntType(32), 0))


def _make_t4_row4():
    """``f(r0, r1, r2, r3, xe, xo, n_groups, half, scales, i0, i1, i2, i3, table) -> 4 x float32``:
    ``t4_row4_loop`` for ``half`` (bytes per group) a multiple of 16.

    Per 16 bytes (32 codes): one load of ``xe`` and of ``xo`` serves four rows; each row's 16 bytes are
    widened to 16 int32 lanes, the nibbles split (``and 15``, ``lshr 4``) and looked up in the table
    register (``llvm.x86.avx512.permvar.sf.512``: 16 look-ups per instruction), then multiplied into the
    group's accumulator. At the end of a group the accumulator is multiplied by the group's scale into the
    row's, so the lanes are summed once per row. No bounds check.
    """
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils

    f16 = ir.VectorType(ir.FloatType(), 16)
    i16 = ir.VectorType(ir.IntType(32), 16)
    b16 = ir.VectorType(ir.IntType(8), 16)
    result_t = types.UniTuple(types.float32, 4)

    def codegen(context, builder, sig, args):
        rows, xe, xo, n_groups, half, scales, starts, table = args[:4], args[4], args[5], args[6], args[7], args[8], args[9:13], args[13]
        perm = cgutils.get_or_insert_function(builder.module, ir.FunctionType(f16, [f16, i16]),
                                              "llvm.x86.avx512.permvar.sf.512")
        tab = builder.load(_pointer(context, builder, sig.args[13], table, ir.Constant(half.type, 0), f16), align=4)
        def chunk(jj, group_accs):    # 16 bytes = 32 codes of each row
            e = builder.load(_pointer(context, builder, sig.args[4], xe, jj, f16), align=4)
            o = builder.load(_pointer(context, builder, sig.args[5], xo, jj, f16), align=4)
            for q in range(4):
                codes = builder.zext(builder.load(_pointer(context, builder, sig.args[q], rows[q], jj, b16), align=1), i16)
                low = builder.call(perm, [tab, builder.and_(codes, ir.Constant(i16, [15] * 16))])
                high = builder.call(perm, [tab, builder.lshr(codes, ir.Constant(i16, [4] * 16))])
                acc = builder.fadd(builder.load(group_accs[q]), builder.fmul(low, e))
                builder.store(builder.fadd(acc, builder.fmul(high, o)), group_accs[q])

        sums = _rows_by_groups(context, builder, sig, rows, n_groups, half, 16, (8, scales), starts, f16, chunk)
        return context.make_tuple(builder, result_t, sums)

    def typer(typingctx, r0, r1, r2, r3, xe, xo, n_groups, half, scales, i0, i1, i2, i3, table):
        arrays = ((r0, (types.uint8,)), (r1, (types.uint8,)), (r2, (types.uint8,)), (r3, (types.uint8,)),
                  (xe, (types.float32,)), (xo, (types.float32,)), (table, (types.float32,)),
                  (scales, (types.float32, types.uint16, types.uint8)))
        if all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and a.dtype in dts for a, dts in arrays) \
                and all(isinstance(v, types.Integer) for v in (n_groups, half, i0, i1, i2, i3)):
            return result_t(r0, r1, r2, r3, xe, xo, types.intp, types.intp, scales, types.intp, types.intp, types.intp,
                            types.intp, table), codegen
        return None

    typer.__name__ = "_t4_row4"
    return intrinsic(typer)


def _prefetch_next_block(context, builder, sig, rows, index):
    """IR: prefetch, for each of the four rows, the bytes at ``index`` of the row four rows further on.

    The four rows of a block are consecutive rows of one array, so ``4 * (r1 - r0)`` bytes ahead is the
    same place in the next block, which the thread reads next (``prange`` gives each thread consecutive
    blocks). A row of a 4096-column weight is one 4 KB page or less, and the hardware's stream
    prefetchers start again at every page; asking for the next block's bytes a block ahead keeps the
    reads flowing when the weight comes from memory. A prefetch never faults, so the last block's
    (addresses past the array) is harmless.
    """
    from llvmlite import ir
    from numba.core import cgutils

    i8p = ir.IntType(8).as_pointer()
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p] + [ir.IntType(32)] * 3),
                                        "llvm.prefetch.p0")
    data = [context.make_array(sig.args[q])(context, builder, rows[q]).data for q in range(4)]
    step = builder.sub(builder.ptrtoint(data[1], ir.IntType(64)), builder.ptrtoint(data[0], ir.IntType(64)))
    ahead = builder.mul(step, ir.Constant(ir.IntType(64), 4))
    for q in range(4):
        base = builder.gep(builder.bitcast(data[q], i8p), [builder.add(builder.sext(index, ir.IntType(64))
                                                                        if index.type.width < 64 else index, ahead)])
        builder.call(fn, [base, ir.Constant(ir.IntType(32), 0), ir.Constant(ir.IntType(32), 3), ir.Constant(ir.IntType(32), 1)])


def _rows_by_groups(context, builder, sig, rows, n_groups, group_len, step: int, scales, starts, vector_t, chunk):
    """IR shared by the four-row kernels: for each group, zero four vector accumulators, call
    ``chunk(index, accumulators)`` for every ``step`` elements of the group (it adds the products of
    each row into its accumulator), then add each accumulator times its row's scale for the group
    (``scales = (argument number, array)``, row ``q``'s scales from ``starts[q]``) into the row's total.
    Returns the four totals' lane sums (float32), one lane sum per row, not per group.
    """
    from llvmlite import ir
    from numba.core import cgutils

    lanes = vector_t.count
    zero = ir.Constant(vector_t, [0.0] * lanes)
    accs = [cgutils.alloca_once_value(builder, zero) for _ in range(4)]
    group_accs = [cgutils.alloca_once_value(builder, zero) for _ in range(4)]
    chunks = builder.udiv(group_len, ir.Constant(group_len.type, step))
    with cgutils.for_range(builder, n_groups) as groups:
        g = groups.index
        for a in group_accs:
            builder.store(zero, a)
        first = builder.mul(g, group_len)
        with cgutils.for_range(builder, chunks) as loop:
            index = builder.add(first, builder.mul(loop.index, ir.Constant(first.type, step)))
            if PREFETCH:
                _prefetch_next_block(context, builder, sig, rows, index)
            chunk(index, group_accs)
        for q in range(4):
            s = _scale_ir(context, builder, sig.args[scales[0]], scales[1], builder.add(starts[q], g))
            sv = builder.shuffle_vector(builder.insert_element(ir.Constant(vector_t, ir.Undefined), s, ir.Constant(ir.IntType(32), 0)),
                                        ir.Constant(vector_t, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))
            builder.store(builder.fadd(builder.load(accs[q]), builder.fmul(builder.load(group_accs[q]), sv)), accs[q])
    return [_lane_sum(builder, builder.load(a), lanes) for a in accs]


def _scale_ir(context, builder, array_type, array, index):
    """IR: scale number ``index`` as float32, decoded as ``_codes.scale_value`` does (by the array's dtype)."""
    from llvmlite import ir
    from numba import types

    data = context.make_array(array_type)(context, builder, array).data
    raw = builder.load(builder.gep(data, [index]))
    if array_type.dtype == types.float32:
        return raw
    if array_type.dtype == types.uint16:                  # float16 bits: the hardware's conversion
        return builder.fpext(builder.bitcast(raw, ir.HalfType()), ir.FloatType())
    # E8M0 byte b: 2^(b - 127) is the float32 with exponent field b (b >= 1); b = 0 is the subnormal 2^-127
    wide = builder.zext(raw, ir.IntType(32))
    value = builder.bitcast(builder.shl(wide, ir.Constant(ir.IntType(32), 23)), ir.FloatType())
    tiny = ir.Constant(ir.FloatType(), 2.0**-127)
    return builder.select(builder.icmp_unsigned("==", wide, ir.Constant(ir.IntType(32), 0)), tiny, value)


def _make_byte_row4(kind: str):
    """``f(r0, r1, r2, r3, x, n_groups, group_size, scales, i0, i1, i2, i3) -> 4 x float32``: ``byte_row4_loop``
    for ``group_size`` a multiple of 32.

    Per 32 elements: one load of ``x`` (two registers) serves four rows; each row's 32 bytes are
    decoded to float32 -- FP8: sign-extended to int16, shifted and masked into float16 bits (``_F8_BITS``:
    the value over the kind's factor) and converted by the hardware; ``"u8"``: zero-extended and
    converted as unsigned integers -- and multiplied into the group's accumulator. At the end of a
    group its accumulator is multiplied by the group's scale (read and decoded here:
    ``scales[i_q + g]``) into the row's, so the lanes are summed once per row, not once per group: MX's
    groups of 32 would otherwise pay a lane sum for every 32 bytes. No bounds check.
    """
    from llvmlite import ir
    from numba import types

    shift, mask, _ = _F8_BITS.get(kind, (0, 0, 1.0))
    lanes = 32
    f32v = ir.VectorType(ir.FloatType(), lanes)
    halves = ir.VectorType(ir.HalfType(), lanes)
    s16 = ir.VectorType(ir.IntType(16), lanes)
    bytes_t = ir.VectorType(ir.IntType(8), lanes)
    result_t = types.UniTuple(types.float32, 4)

    def codegen(context, builder, sig, args):
        rows, x, n_groups, group_size, scales, starts = args[:4], args[4], args[5], args[6], args[7], args[8:12]
        def chunk(kk, group_accs):    # 32 bytes of each row
            xv = builder.load(_pointer(context, builder, sig.args[4], x, kk, f32v), align=4)
            for q in range(4):
                raw = builder.load(_pointer(context, builder, sig.args[q], rows[q], kk, bytes_t), align=1)
                if kind == "u8":
                    value = builder.uitofp(raw, f32v)
                else:
                    bits = builder.shl(builder.sext(raw, s16), ir.Constant(s16, [shift] * lanes))
                    if mask != 0xFFFF:
                        bits = builder.and_(bits, ir.Constant(s16, [mask - 0x10000 if mask > 0x7FFF else mask] * lanes))
                    value = builder.fpext(builder.bitcast(bits, halves), f32v)
                builder.store(builder.fadd(builder.load(group_accs[q]), builder.fmul(value, xv)), group_accs[q])

        sums = _rows_by_groups(context, builder, sig, rows, n_groups, group_size, lanes, (7, scales), starts, f32v, chunk)
        return context.make_tuple(builder, result_t, sums)

    byte = types.uint8 if kind == "u8" else types.int8

    def typer(typingctx, r0, r1, r2, r3, x, n_groups, group_size, scales, i0, i1, i2, i3):
        arrays = ((r0, (byte,)), (r1, (byte,)), (r2, (byte,)), (r3, (byte,)), (x, (types.float32,)),
                  (scales, (types.float32, types.uint16, types.uint8)))
        if all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and a.dtype in dts for a, dts in arrays) \
                and all(isinstance(v, types.Integer) for v in (n_groups, group_size, i0, i1, i2, i3)):
            return result_t(r0, r1, r2, r3, x, types.intp, types.intp, scales, types.intp, types.intp, types.intp,
                            types.intp), codegen
        return None

    typer.__name__ = f"_byte_row4_{kind}"
    return intrinsic(typer)


if HAS_AVX512:
    _t4_row4_avx512 = _make_t4_row4()
    _byte_row4_e5m2 = _make_byte_row4("e5m2")
    _byte_row4_e4m3 = _make_byte_row4("e4m3")
    _byte_row4_u8 = _make_byte_row4("u8")


def t4_row4(r0, r1, r2, r3, xe, xo, n_groups, half, scales, i0, i1, i2, i3, table):
    """``t4_row4_loop``; with AVX-512 inside Numba kernels, the permute version (``half`` a multiple of 16)."""
    return t4_row4_loop(r0, r1, r2, r3, xe, xo, n_groups, half, scales, i0, i1, i2, i3, table)


@overload(t4_row4, inline="always")
def _t4_row4(r0, r1, r2, r3, xe, xo, n_groups, half, scales, i0, i1, i2, i3, table):
    if HAS_AVX512:
        return lambda r0, r1, r2, r3, xe, xo, n_groups, half, scales, i0, i1, i2, i3, table: _t4_row4_avx512(
            r0, r1, r2, r3, xe, xo, n_groups, half, scales, i0, i1, i2, i3, table)
    return lambda r0, r1, r2, r3, xe, xo, n_groups, half, scales, i0, i1, i2, i3, table: t4_row4_loop(
        r0, r1, r2, r3, xe, xo, n_groups, half, scales, i0, i1, i2, i3, table)


def byte_row4(r0, r1, r2, r3, x, n_groups, group_size, scales, i0, i1, i2, i3, table, kind):
    """``byte_row4_loop``; with AVX-512 inside Numba kernels, the vector version for ``kind`` (a number of
    ``BYTE_KINDS``: e5m2, e4m3 or u8; ``group_size`` a multiple of 32)."""
    return byte_row4_loop(r0, r1, r2, r3, x, n_groups, group_size, scales, i0, i1, i2, i3, table)


@overload(byte_row4, inline="always")
def _byte_row4(r0, r1, r2, r3, x, n_groups, group_size, scales, i0, i1, i2, i3, table, kind):
    from numba import types

    if HAS_AVX512:
        if r0.dtype == types.uint8:                 # integer codes: the u8 decoder is the only one for uint8 rows
            return lambda r0, r1, r2, r3, x, n_groups, group_size, scales, i0, i1, i2, i3, table, kind: _byte_row4_u8(
                r0, r1, r2, r3, x, n_groups, group_size, scales, i0, i1, i2, i3)

        def impl(r0, r1, r2, r3, x, n_groups, group_size, scales, i0, i1, i2, i3, table, kind):
            if kind == 1:
                return _byte_row4_e4m3(r0, r1, r2, r3, x, n_groups, group_size, scales, i0, i1, i2, i3)
            return _byte_row4_e5m2(r0, r1, r2, r3, x, n_groups, group_size, scales, i0, i1, i2, i3)
        return impl
    return lambda r0, r1, r2, r3, x, n_groups, group_size, scales, i0, i1, i2, i3, table, kind: byte_row4_loop(
        r0, r1, r2, r3, x, n_groups, group_size, scales, i0, i1, i2, i3, table)


# -- the kernels ----------------------------------------------------------------------------------
@jit_inline
def block_columns(blk, N):
    """The four output columns of block ``blk``; past the last column, the last one again (its rows are read, not stored)."""
    n0 = 4 * blk
    return n0, min(n0 + 1, N - 1), min(n0 + 2, N - 1), min(n0 + 3, N - 1)


@jit_inline
def store4(out_row, n0, N, a0, a1, a2, a3):
    """``out_row[n0 : n0 + 4] = a0..a3``, the ones before column ``N`` only."""
    out_row[n0] = a0
    if n0 + 1 < N:
        out_row[n0 + 1] = a1
    if n0 + 2 < N:
        out_row[n0 + 2] = a2
    if n0 + 3 < N:
        out_row[n0 + 3] = a3


@jit_fast
def fused_t4(x_even, x_odd, xsum, rows, group_size, n_groups, stride, scales, table, zeros, zero_bits, out):
    """4-bit codes through a 16-entry table, ``rows`` = packed bytes ``(N, K // 2)``; four columns per iteration.

    ``x_even[m, j] = x[m, 2j]``, ``x_odd[m, j] = x[m, 2j + 1]``. ``table`` holds every code's value: an
    element format's (NF4, FP4), or the integer grid's ``u + qmin`` (symmetric int4: the zero point folded in)
    or ``u`` (asymmetric: ``zeros`` holds the packed ``zero_bits``-bit zero points and ``s * z * xsum`` is
    subtracted per group). ``zero_bits = 0``: no zero point (``zeros`` and ``xsum`` are not read). The last
    block repeats a row.
    """
    M = x_even.shape[0]
    N = rows.shape[0]
    half = group_size // 2
    fast = half % 16 == 0
    asymmetric = zero_bits != 0
    for blk in prange((N + 3) // 4):
        n0, n1, n2, n3 = block_columns(blk, N)
        r0, r1, r2, r3 = rows[n0], rows[n1], rows[n2], rows[n3]
        for m in range(M):
            xe = x_even[m]
            xo = x_odd[m]
            if fast:
                acc0, acc1, acc2, acc3 = t4_row4(r0, r1, r2, r3, xe, xo, n_groups, half, scales, n0 * stride,
                                                 n1 * stride, n2 * stride, n3 * stride, table)
            else:
                acc0, acc1, acc2, acc3 = t4_row4_loop(r0, r1, r2, r3, xe, xo, n_groups, half, scales, n0 * stride,
                                                      n1 * stride, n2 * stride, n3 * stride, table)
            if asymmetric:
                acc0 -= zero_terms(n0 * stride, n_groups, scales, zeros, zero_bits, xsum[m])
                acc1 -= zero_terms(n1 * stride, n_groups, scales, zeros, zero_bits, xsum[m])
                acc2 -= zero_terms(n2 * stride, n_groups, scales, zeros, zero_bits, xsum[m])
                acc3 -= zero_terms(n3 * stride, n_groups, scales, zeros, zero_bits, xsum[m])
            store4(out[m], n0, N, acc0, acc1, acc2, acc3)


@jit_inline
def zero_terms(i0, n_groups, scales, zeros, bits, xsum_row):
    """``sum_g s[i0 + g] * z[i0 + g] * xsum[g]``: what a row's zero points take from its sum (``operands.py``)."""
    total = np.float32(0.0)
    for g in range(n_groups):
        total += scale_value(scales, i0 + g) * zero_value(zeros, i0 + g, bits) * xsum_row[g]
    return total


@jit_fast
def fused_f8(x, rows, group_size, n_groups, stride, scales, table, kind, out):
    """FP8 codes, ``rows`` = the bytes as int8 ``(N, K)``; four columns per iteration (the last few repeat a row)."""
    M = x.shape[0]
    N = rows.shape[0]
    fast = group_size % 32 == 0
    for blk in prange((N + 3) // 4):
        n0, n1, n2, n3 = block_columns(blk, N)
        r0, r1, r2, r3 = rows[n0], rows[n1], rows[n2], rows[n3]
        for m in range(M):
            xm = x[m]
            if fast:
                acc0, acc1, acc2, acc3 = byte_row4(r0, r1, r2, r3, xm, n_groups, group_size, scales, n0 * stride,
                                                   n1 * stride, n2 * stride, n3 * stride, table, kind)
            else:
                acc0, acc1, acc2, acc3 = byte_row4_loop(r0, r1, r2, r3, xm, n_groups, group_size, scales, n0 * stride,
                                                        n1 * stride, n2 * stride, n3 * stride, table)
            store4(out[m], n0, N, acc0, acc1, acc2, acc3)


def table_matmul(x2: np.ndarray, op: TableOperands) -> np.ndarray | None:
    """The table kernel for ``op`` on float32 ``x2`` of shape ``(M, K)``: float32 ``(M, N)``.

    ``None`` when e4m3's ``x * 256`` could overflow (``max |x|`` above ``_E4M3_X_LIMIT``): the caller
    runs the reference.
    """
    M, K = x2.shape
    if op.factor != 1.0:
        if float(np.abs(x2).max()) > _E4M3_X_LIMIT:
            return None
        x2 = x2 * np.float32(op.factor)
    out = np.empty((M, op.N), np.float32)
    work = M * K * op.N
    if op.kind == "t4":
        x_even = np.ascontiguousarray(x2[:, 0::2])
        x_odd = np.ascontiguousarray(x2[:, 1::2])
        fused_t4.for_work(work)(x_even, x_odd, _NO_XSUM, op.rows, op.group_size, op.n_groups, op.scale_stride,
                                op.scales, op.table, _NO_ZEROS, 0, out)
    else:
        fused_f8.for_work(work)(x2, op.rows, op.group_size, op.n_groups, op.scale_stride, op.scales, op.table,
                                BYTE_KINDS[op.kind], out)
    return out
