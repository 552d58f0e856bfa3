"""The memory ledger: where every stored bit of a tensor or a model goes.

For a ``QTensor`` of ``n`` elements in ``n_blocks`` blocks, computed from its shape and
spec alone (not from the stored arrays, so that a test can hold the two against each other)::

    payload bits     = 8 * ceil(n * bits / 8)             packed codes, padded to a byte
    scale bits       = n_blocks * bits_of(scale_dtype)    float16 16, bfloat16 16, E8M0 8, ...
                     = n_blocks * 8 + (n_blocks / 256) * 32   with double quantization (two levels)
    zero-point bits  = 8 * ceil(n_blocks * bits / 8)      asymmetric only, packed at ``bits``
    bits per weight  = (payload + scale + zero point) / n

so 4-bit symmetric group 32 with float16 scales costs ``4 + 16/32 = 4.5`` bits per weight,
4-bit asymmetric group 128 with a float16 scale and a 4-bit zero point costs
``4 + 16/128 + 4/128 = 4.15625``, MXFP4 ``4 + 8/32 = 4.25`` and NF4 in groups of 64 with
float32 scales ``4 + 32/64 = 4.5``, or ``4 + 8/64 + 32/(64*256) = 4.127`` double-quantized. A plain float array costs its ``nbytes``. A
``MixedInt8Tensor`` (LLM.int8()) costs its int8 part as above plus ``float bits`` = 32 per element
of its float outlier rows and 32 per stored outlier index. Shape and spec
metadata (a few dozen bytes per tensor) are not counted. Tests: ``tests/eval/test_memory.py``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from ..mixed import MixedInt8Tensor
from ..packing import packed_nbytes
from ..quant.double_quant import DOUBLE_QUANT_BLOCK
from ..tensor import QTensor


@dataclasses.dataclass(frozen=True)
class LedgerRow:
    """The bits one named tensor takes."""

    name: str
    shape: tuple[int, ...]
    storage: str
    n_elements: int
    payload_bits: int
    scale_bits: int
    zero_point_bits: int
    float_bits: int = 0

    @property
    def total_bits(self) -> int:
        return self.payload_bits + self.scale_bits + self.zero_point_bits + self.float_bits

    @property
    def total_bytes(self) -> int:
        return self.total_bits // 8

    @property
    def bits_per_weight(self) -> float:
        return self.total_bits / self.n_elements

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.update(total_bytes=self.total_bytes, bits_per_weight=self.bits_per_weight)
        return d


def describe_storage(obj) -> str:
    """A short label: ``"int4 sym g32 f16"`` for a QTensor, ``"float32"`` for an array."""
    if isinstance(obj, MixedInt8Tensor):
        inner = "float" if obj.int8 is None else describe_storage(obj.int8)
        return f"{inner} +{obj.outlier_index.size}/{obj.shape[0]} f32"
    if isinstance(obj, QTensor):
        s = obj.spec
        scales = "dq" if s.double_quant else {"bfloat16": "bf16"}.get(s.scale_dtype.name, s.scale_dtype.name.replace("float", "f"))
        if s.is_mx:
            return s.format
        if s.format != "int":
            return f"{s.format} {s.granularity_label} {scales}"
        scheme = "sym" if s.scheme == "symmetric" else "asym"
        return f"int{s.bits} {scheme} {s.granularity_label} {scales}"
    return np.asarray(obj).dtype.name


def ledger_row(obj, name: str = "") -> LedgerRow:
    """The ``LedgerRow`` of one QTensor, MixedInt8Tensor or float array (see the module docstring)."""
    if isinstance(obj, MixedInt8Tensor):
        n_out, N = obj.outlier_index.size, obj.shape[1]
        inner = ledger_row(obj.int8) if obj.int8 is not None else LedgerRow("", (), "", 0, 0, 0, 0)
        return LedgerRow(name, obj.shape, describe_storage(obj), obj.size, inner.payload_bits, inner.scale_bits,
                         inner.zero_point_bits, 32 * n_out * N + 32 * n_out)
    if isinstance(obj, QTensor):
        spec = obj.spec
        n = obj.size
        n_blocks = n // int(np.prod(obj.block_shape))
        payload = 8 * packed_nbytes(n, spec.bits)
        if spec.double_quant:         # e4m3 codes + one float32 second-level scale per 256 of them
            scale = n_blocks * 8 + (n_blocks // DOUBLE_QUANT_BLOCK) * 32
        else:
            scale = n_blocks * spec.scale_dtype.bits
        zero_point = 8 * packed_nbytes(n_blocks, spec.bits) if spec.scheme == "asymmetric" else 0
        return LedgerRow(name, obj.shape, describe_storage(obj), n, payload, scale, zero_point)
    arr = np.asarray(obj)
    if arr.dtype == object or arr.size == 0:
        raise TypeError(f"{name or 'entry'} must be a QTensor, a MixedInt8Tensor or a non-empty numeric array, "
                        f"got {type(obj).__name__}")
    return LedgerRow(name, arr.shape, arr.dtype.name, arr.size, 8 * arr.nbytes, 0, 0)


@dataclasses.dataclass(frozen=True)
class Ledger:
    """Rows for each tensor plus totals; ``str(ledger)`` is a readable table.

    Examples
    --------
    >>> import miniquant as mq
    >>> w = np.ones((256, 256), dtype=np.float32)
    >>> ledger = memory_ledger({"w4": mq.quantize(w, bits=4, group_size=32, scale_dtype=np.float16), "w32": w})
    >>> ledger.rows[0].bits_per_weight, ledger.total_bytes
    (4.5, 299008)
    """

    rows: tuple[LedgerRow, ...]

    @property
    def total(self) -> LedgerRow:
        """All rows summed, as one row named ``TOTAL``."""
        sums = {f: sum(getattr(r, f) for r in self.rows)
                for f in ("n_elements", "payload_bits", "scale_bits", "zero_point_bits", "float_bits")}
        return LedgerRow("TOTAL", (), "", **sums)

    @property
    def n_elements(self) -> int:
        return self.total.n_elements

    @property
    def total_bits(self) -> int:
        return self.total.total_bits

    @property
    def total_bytes(self) -> int:
        return self.total.total_bytes

    @property
    def bits_per_weight(self) -> float:
        return self.total.bits_per_weight

    def records(self) -> list[dict]:
        """One dict per row (plain Python values), e.g. for CSV/JSON."""
        return [r.as_dict() for r in self.rows]

    def __str__(self) -> str:
        mixed = any(r.float_bits for r in self.rows)   # a float-rows column only where there are some
        width = max([20] + [len(r.storage) for r in self.rows])
        header = f"{'name':<24} {'shape':<14} {'storage':<{width}} {'payload B':>11} {'scale B':>9} {'zp B':>7}"
        header += f" {'float B':>9}" * mixed + f" {'total B':>11} {'bits/w':>7}"
        lines = [header, "-" * len(header)]
        for r in self.rows + (self.total,):
            shape = "x".join(map(str, r.shape))
            lines.append(
                f"{r.name:<24} {shape:<14} {r.storage:<{width}} {r.payload_bits / 8:>11,.0f} {r.scale_bits / 8:>9,.0f} "
                f"{r.zero_point_bits / 8:>7,.0f}" + f" {r.float_bits / 8:>9,.0f}" * mixed
                + f" {r.total_bytes:>11,d} {r.bits_per_weight:>7.3f}"
            )
        return "\n".join(lines)


def memory_ledger(obj) -> Ledger:
    """The ledger of a QTensor, an array, or a mapping ``name -> QTensor | array`` (a model).

    The total equals the real bytes held: ``sum(qt.nbytes) + sum(array.nbytes)``.
    """
    if isinstance(obj, Mapping):
        if not obj:
            raise ValueError("obj must not be an empty mapping")
        return Ledger(tuple(ledger_row(v, str(k)) for k, v in obj.items()))
    return Ledger((ledger_row(obj, "tensor"),))


def held_nbytes(obj) -> int:
    """The real bytes held by a QTensor, array, or mapping of them (``nbytes`` summed)."""
    if isinstance(obj, Mapping):
        return sum(held_nbytes(v) for v in obj.values())
    return int(obj.nbytes) if isinstance(obj, (QTensor, MixedInt8Tensor)) else int(np.asarray(obj).nbytes)
