"""``QTensor``: packed integer codes, their scales and zero points, and the spec that made them.

What is stored (and counted by ``nbytes`` and the memory ledger)::

    packed             uint8[ceil(size * bits / 8)]     codes - qmin, bit-packed (see packing.py)
    stored_scale       storage[n_blocks]                one per block, in the scale format's storage
                                                        (float16/32/64; bfloat16 as uint16 bits; E8M0 bytes)
    zero_point_packed  uint8[ceil(n_blocks * bits / 8)] asymmetric only, bit-packed at ``bits``
    second_scale       float32[n_blocks / 256]          double quantization only: ``stored_scale`` then
                                                        holds e4m3 codes of the scales (quant/double_quant.py)

Storage order: everything is stored with the block ``axis`` moved last (``np.moveaxis(a,
axis, -1)`` in C order), so that each block is contiguous. For a weight ``w`` of shape
``(K, N)`` (``axis=0``) that is the transposed order ``(N, K)``: the K codes of output
column ``n`` follow each other, group after group, and ``stored_scale`` has shape
``(N, K // G)``. The kernels read exactly these arrays (``miniquant.kernels``). The public
views ``.codes``, ``.scale`` and ``.zero_point`` are in the original order.

Validation lives here, once: whichever way a QTensor is built (``quantize``, ``from_codes``,
a checkpoint, a method), the constructor refuses codes above ``qmax`` (a restricted symmetric
range leaves the top unsigned code unused), padding bits that are not zero, and scales that are
not finite and positive, so no kernel ever computes with values the reference would refuse.
The spec's ``axis`` is normalised to ``0..ndim-1`` (``axis=-1`` is the last axis).

The shape and the ``QuantSpec`` are per-tensor metadata (a file would keep them in its
header, a few dozen bytes) and are not counted, as in llama.cpp's bits-per-weight.
Tests: ``tests/test_tensor.py``.
"""
from __future__ import annotations

import numpy as np

from .packing import pack_codes, packed_nbytes, unpack_codes
from .quant import QuantSpec, choose_qparams, code_dtype, dequantize_affine, make_spec, quantize_affine
from .quant._checks import check_axis
from .quant.blocks import params_shape
from .quant.double_quant import (DOUBLE_QUANT_BLOCK, SCALE_ELEMENT, check_double_quant_parts, double_dequantize,
                                 double_quantize_params)


def _stored_shape(shape: tuple[int, ...], axis: int) -> tuple[int, ...]:
    """``shape`` with ``axis`` moved last: the order in which a QTensor stores arrays."""
    return tuple(s for d, s in enumerate(shape) if d != axis) + (shape[axis],)


def _to_stored(a: np.ndarray, axis: int) -> np.ndarray:
    """``a`` with ``axis`` moved last, C-contiguous."""
    return np.ascontiguousarray(np.moveaxis(a, axis, -1))


def _check_stream(name: str, packed: np.ndarray, count: int, bits: int, top: int) -> None:
    """Unsigned ``bits``-bit codes in ``packed`` must be ``<= top`` and the padding bits zero."""
    if top < 2**bits - 1:
        if bits == 8:
            bad = int(packed.max(initial=0)) > top
        elif bits == 4 and count % 2 == 0:  # the common case, without unpacking
            bad = bool(np.any((packed & 15) > top) | np.any((packed >> 4) > top))
        else:
            bad = int(unpack_codes(packed, bits, count).max(initial=0)) > top
        if bad:
            raise ValueError(f"{name} holds codes above {top}, the largest {bits}-bit code of this spec "
                             f"(stored unsigned, code - qmin)")
    used = count * bits % 8
    if used and packed.size and int(packed[-1]) >> used:
        raise ValueError(f"{name}: the {8 - used} padding bit(s) after the last code must be zero, "
                         f"got byte {int(packed[-1]):#04x}")


def _row_codes(packed: np.ndarray, bits: int, R: int, C: int, rows: np.ndarray) -> np.ndarray:
    """The unsigned codes ``[len(rows), C]`` of some rows of an ``(R, C)`` stream stored row after row."""
    if C * bits % 8 == 0:                        # each row starts on a byte: unpack only the rows asked for
        row_bytes = C * bits // 8
        return unpack_codes(packed.reshape(R, row_bytes)[rows].reshape(-1), bits, rows.size * C).reshape(-1, C)
    return unpack_codes(packed, bits, R * C).reshape(R, C)[rows]


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


class QTensor:
    """A quantized array: ``x_hat = (codes - zero_point) * scale`` block by block.

    With an element format (``spec.format``, e.g. ``"nf4"``) the codes index the format's table:
    ``x_hat = table[codes] * scale``, and there is no zero point.

    Build one with ``miniquant.quantize(x, bits=..., ...)`` or ``QTensor.from_codes``.

    Attributes
    ----------
    shape : tuple of int
        Shape of the original array (``(K, N)`` for a weight).
    spec : QuantSpec
        How it was quantized.
    codes : ndarray of int8 (symmetric) or uint8 (asymmetric), shape ``shape``
        Unpacked on every access (the packed bytes are what is stored).
    scale : ndarray of ``spec.scale_dtype``, shape ``shape // block_shape``
    zero_point : ndarray of int32, shape ``shape // block_shape`` (zeros when symmetric)
    nbytes : int
        Bytes of everything stored: packed codes + scales + packed zero points.
    bits_per_weight : float
        ``8 * nbytes / size``.

    Examples
    --------
    >>> import miniquant as mq
    >>> w = np.linspace(-1, 1, 256, dtype=np.float32).reshape(64, 4)
    >>> qt = mq.quantize(w, bits=4, group_size=32, scale_dtype=np.float16)
    >>> qt.nbytes, qt.bits_per_weight
    (144, 4.5)
    >>> qt.codes[:3, 0]
    array([-7, -7, -7], dtype=int8)
    >>> float(np.abs(qt.dequantize() - w).max()) <= float(qt.scale.max()) / 2
    True
    """

    # __weakref__: the kernels keep the views they prepare from a QTensor (kernels.operands) in a weak
    # dictionary, once per tensor; a QTensor never changes after it is built, so they stay valid.
    __slots__ = ("_packed", "_stored_scale", "_zero_point_packed", "_second_scale", "_shape", "_spec", "__weakref__")

    def __init__(self, packed, stored_scale, zero_point_packed, shape, spec: QuantSpec, second_scale=None):
        """Wrap stored arrays (in storage order, see the module docstring); prefer ``from_codes``.

        ``second_scale`` (float32, one per 256 scales) is given exactly when ``spec.double_quant``.
        """
        if not isinstance(spec, QuantSpec):
            raise TypeError(f"spec must be a QuantSpec, got {type(spec).__name__}")
        try:
            shape = tuple(int(s) for s in shape)
        except (TypeError, ValueError):
            raise TypeError(f"shape must be a tuple of integers, got {shape!r}") from None
        if not shape or min(shape) <= 0:
            raise ValueError(f"shape must have at least one dimension and positive sizes, got {shape}")
        spec = spec.replace(axis=check_axis(spec.axis, len(shape)))
        size = int(np.prod(shape))
        sshape = _stored_shape(params_shape(shape, spec.block_shape(shape)), spec.axis)
        packed = np.asarray(packed)
        if packed.dtype != np.uint8 or packed.shape != (packed_nbytes(size, spec.bits),):
            raise ValueError(
                f"packed must be uint8 of shape ({packed_nbytes(size, spec.bits)},) for {size} "
                f"{spec.bits}-bit codes, got {packed.dtype} {packed.shape}"
            )
        stored_scale = np.asarray(stored_scale)
        storage = np.dtype(np.uint8) if spec.double_quant else spec.scale_dtype.storage
        if stored_scale.dtype != storage or stored_scale.shape != sshape:
            what = ("uint8 (e4m3 codes of double-quantized scales)" if spec.double_quant else str(storage)
                    if storage.name == spec.scale_dtype.name else f"{storage} (the bits of {spec.scale_dtype.name} scales)")
            raise ValueError(f"stored_scale must be {what} of shape {sshape}, got {stored_scale.dtype} {stored_scale.shape}")
        if spec.double_quant:
            if second_scale is None:
                raise ValueError("a double-quantized QTensor needs its second_scale (float32, one per 256 scales)")
            second_scale = np.asarray(second_scale)
            check_double_quant_parts(stored_scale, second_scale)
        else:
            if second_scale is not None:
                raise ValueError("second_scale applies to double_quant=True only: it must be None")
            spec.scale_dtype.check_stored(stored_scale)
        _check_stream("packed", packed, size, spec.bits, spec.qmax - spec.qmin)
        if spec.format != "int":
            reserved = np.flatnonzero(~np.isfinite(spec.element.table))      # NaN / inf patterns of the format
            if reserved.size and np.isin(unpack_codes(packed, spec.bits, size), reserved).any():
                raise ValueError(f"packed holds codes that format {spec.format!r} reserves for NaN or inf "
                                 f"(codes {reserved.tolist()})")
        if spec.scheme == "asymmetric":
            n_zp = packed_nbytes(int(np.prod(sshape)), spec.bits)
            zero_point_packed = np.asarray(zero_point_packed)
            if zero_point_packed.dtype != np.uint8 or zero_point_packed.shape != (n_zp,):
                raise ValueError(f"zero_point_packed must be uint8 of shape ({n_zp},) for asymmetric codes")
            _check_stream("zero_point_packed", zero_point_packed, int(np.prod(sshape)), spec.bits, spec.qmax)
        elif zero_point_packed is not None:
            raise ValueError("symmetric QTensors store no zero point: zero_point_packed must be None")
        self._packed = _frozen(packed)
        self._stored_scale = _frozen(stored_scale)
        self._zero_point_packed = None if zero_point_packed is None else _frozen(zero_point_packed)
        self._second_scale = None if second_scale is None else _frozen(second_scale)
        self._shape = shape
        self._spec = spec

    @classmethod
    def from_codes(cls, codes, scale, zero_point, spec: QuantSpec) -> "QTensor":
        """Pack ``codes`` (shape ``S``) with their ``scale``/``zero_point`` (shape ``S // block``).

        ``scale`` must be exactly representable in ``spec.scale_dtype`` (the codes were computed
        with it; rounding it now would change what they mean): round it first with
        ``miniquant.quant.store_scale``, which rounds up, as ``choose_qparams`` does.
        Double-quantized scales are made by ``quantize`` (or given as stored parts to ``QTensor``).
        """
        if not isinstance(spec, QuantSpec):
            raise TypeError(f"spec must be a QuantSpec, got {type(spec).__name__}")
        if spec.double_quant:
            raise ValueError("from_codes takes scales in scale_dtype; a double-quantized QTensor is made by "
                             "quantize(x, ..., double_quant=True) or from its stored parts, "
                             "QTensor(packed, stored_scale, None, shape, spec, second_scale=...)")
        codes = np.asarray(codes)
        if not np.issubdtype(codes.dtype, np.integer):
            raise TypeError(f"codes must be integers, got dtype {codes.dtype}")
        if codes.ndim == 0 or codes.size == 0:
            raise ValueError(f"codes must be a non-empty array, got shape {codes.shape}")
        if np.any(codes < spec.qmin) or np.any(codes > spec.qmax):
            raise ValueError(f"codes must lie in [{spec.qmin}, {spec.qmax}], got values from {int(codes.min())} "
                             f"to {int(codes.max())}")
        axis = check_axis(spec.axis, codes.ndim)
        spec = spec.replace(axis=axis)
        pshape = params_shape(codes.shape, spec.block_shape(codes.shape))
        scale = np.asarray(scale)
        if scale.shape != pshape:
            raise ValueError(f"scale must have shape {pshape}, got {scale.shape}")
        if not np.issubdtype(scale.dtype, np.floating):
            raise TypeError(f"scale must be floats, got dtype {scale.dtype}")
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise ValueError(f"scale must be finite and positive, got values such as "
                             f"{float(scale[~np.isfinite(scale) | (scale <= 0)].reshape(-1)[0])!r}")
        stored = spec.scale_dtype.encode(scale)
        packed = pack_codes(_to_stored(codes, axis).astype(np.int32) - spec.qmin, spec.bits)  # offset binary
        zp_packed = None
        if spec.scheme == "asymmetric":
            zero_point = np.asarray(zero_point)
            if zero_point.shape != pshape:
                raise ValueError(f"zero_point must have shape {pshape}, got {zero_point.shape}")
            if not np.issubdtype(zero_point.dtype, np.integer):
                raise TypeError(f"zero_point must be integers, got dtype {zero_point.dtype}")
            zp_packed = pack_codes(_to_stored(zero_point, axis), spec.bits)
        return cls(packed, _to_stored(stored, axis), zp_packed, codes.shape, spec)

    # -- what is stored --------------------------------------------------------------------
    @property
    def packed(self) -> np.ndarray:
        """The bit-packed codes in storage order (read-only ``uint8`` array)."""
        return self._packed

    @property
    def stored_scale(self) -> np.ndarray:
        """The scales in storage order: block axis last (``(N, K // G)`` for a weight)."""
        return self._stored_scale

    @property
    def second_scale(self) -> np.ndarray | None:
        """Double quantization's float32 second-level scales (one per 256 scales in storage order), else ``None``."""
        return self._second_scale

    @property
    def zero_point_packed(self) -> np.ndarray | None:
        """The bit-packed zero points in storage order (asymmetric only), else ``None``."""
        return self._zero_point_packed

    @property
    def scale(self) -> np.ndarray:
        """Per-block scales, shape ``shape // block_shape``, in ``spec.scale_dtype.value_dtype``.

        A read-only view of the stored float16/32/64 scales; decoded exactly (float32) from bfloat16 bits,
        E8M0 bytes or two-level scales.
        """
        if self._second_scale is not None:
            values = double_dequantize(self._stored_scale, self._second_scale)
        else:
            values = self._spec.scale_dtype.decode(self._stored_scale)
        return np.moveaxis(values, -1, self._axis)

    # -- views -----------------------------------------------------------------------------
    @property
    def spec(self) -> QuantSpec:
        return self._spec

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def size(self) -> int:
        return int(np.prod(self._shape))

    @property
    def block_shape(self) -> tuple[int, ...]:
        """The block that shares one ``(scale, zero_point)``."""
        return self._spec.block_shape(self._shape)

    @property
    def _axis(self) -> int:
        return self._spec.axis % len(self._shape)

    @property
    def codes(self) -> np.ndarray:
        """Unpacked integer codes in ``[qmin, qmax]``, shape ``shape`` (a fresh array)."""
        raw = unpack_codes(self._packed, self._spec.bits, self.size).astype(np.int16)
        stored = (raw + self._spec.qmin).astype(code_dtype(self._spec))
        return np.ascontiguousarray(np.moveaxis(stored.reshape(_stored_shape(self._shape, self._axis)), -1, self._axis))

    @property
    def zero_point(self) -> np.ndarray:
        """Per-block integer zero points (int32), zeros for the symmetric scheme (a fresh array)."""
        if self._zero_point_packed is None:
            return np.zeros(self.scale.shape, dtype=np.int32)
        stored = unpack_codes(self._zero_point_packed, self._spec.bits, self._stored_scale.size)
        stored = stored.astype(np.int32).reshape(self._stored_scale.shape)
        return np.ascontiguousarray(np.moveaxis(stored, -1, self._axis))

    @property
    def nbytes(self) -> int:
        """Bytes of everything stored: packed codes + scales + packed zero points."""
        zp = 0 if self._zero_point_packed is None else self._zero_point_packed.nbytes
        second = 0 if self._second_scale is None else self._second_scale.nbytes
        return int(self._packed.nbytes + self._stored_scale.nbytes + zp + second)

    @property
    def bits_per_weight(self) -> float:
        """Every stored bit divided by the number of elements."""
        return 8 * self.nbytes / self.size

    def dequantize(self) -> np.ndarray:
        """``x_hat = (codes - zero_point) * scale`` as float32 of shape ``shape``."""
        return dequantize_affine(self.codes, self.scale, self.zero_point, self._spec)

    @property
    def T(self) -> "QTensor":
        """The transpose of a 2-D QTensor, sharing every stored byte (no copy, nothing re-quantized).

        A ``(R, C)`` tensor quantized along ``axis=1`` and its ``(C, R)`` transpose along ``axis=0``
        have the same storage order (the block axis last), so only the shape and the axis change.
        This is how a tied output head is used: ``wte`` ``[V, E]`` quantized along its rows, and
        ``wte.T`` ``[E, V]`` is a weight ``(K, N)`` for the kernels.
        """
        if self.ndim != 2:
            raise ValueError(f"T transposes a 2-D QTensor, this one has shape {self._shape}")
        out = object.__new__(QTensor)
        out._packed, out._stored_scale = self._packed, self._stored_scale
        out._zero_point_packed, out._second_scale = self._zero_point_packed, self._second_scale
        out._shape = self._shape[::-1]
        out._spec = self._spec.replace(axis=1 - self._axis)
        return out

    def dequantize_rows(self, rows) -> np.ndarray:
        """``self.dequantize()[rows]`` for a 2-D tensor quantized along ``axis=1``, reading only those rows.

        An embedding lookup: a quantized ``wte`` ``[V, E]`` gives the float32 rows ``[n, E]`` of the
        ``n`` token ids in ``rows`` (any integer array; the result has shape ``rows.shape + (E,)``).
        Each row's codes, scales and zero points are contiguous in storage, so nothing else is decoded.
        """
        if self.ndim != 2 or self._axis != 1:
            raise ValueError(f"dequantize_rows reads rows of a 2-D QTensor quantized along axis 1 "
                             f"(each row holds its own blocks), got shape {self._shape} with axis={self._axis}")
        rows = np.asarray(rows)
        if not np.issubdtype(rows.dtype, np.integer):
            raise TypeError(f"rows must be integer indices, got dtype {rows.dtype}")
        R, C = self._shape
        if rows.size and (rows.min() < 0 or rows.max() >= R):
            raise ValueError(f"rows must lie in [0, {R - 1}], got {int(rows.min())}..{int(rows.max())}")
        flat = rows.reshape(-1)
        if flat.size == 0:
            return np.zeros((*rows.shape, C), np.float32)
        spec = self._spec
        raw = _row_codes(self._packed, spec.bits, R, C, flat)                      # [n, C] unsigned
        codes = (raw.astype(np.int16) + spec.qmin).astype(code_dtype(spec))
        if spec.granularity == "tensor":                                           # one scale for every row
            stored, index = self._stored_scale, np.zeros((1, 1), np.intp)
        else:
            n_blocks = self._stored_scale.shape[-1]
            stored = self._stored_scale[flat]                                      # [n, C // block]
            index = flat[:, None] * n_blocks + np.arange(n_blocks)                # positions in storage order
        if self._second_scale is not None:
            second = self._second_scale[index // DOUBLE_QUANT_BLOCK]
            scale = (SCALE_ELEMENT.decode(stored).astype(np.float64) * second).astype(np.float32)
        else:
            scale = spec.scale_dtype.decode(stored)
        if self._zero_point_packed is None:
            zero_point = np.zeros(scale.shape, np.int32)
        else:
            zero_point = unpack_codes(self._zero_point_packed, spec.bits, self._stored_scale.size)[index].astype(np.int32)
        x_hat = dequantize_affine(codes, scale, zero_point, spec)
        return x_hat.reshape(*rows.shape, C)

    def __repr__(self) -> str:
        s = self._spec
        group = f", group_size={s.group_size}" if s.granularity == "group" else ""
        kind = f"bits={s.bits}, scheme={s.scheme!r}" if s.format == "int" else f"format={s.format!r}"
        dq = ", double_quant=True" if s.double_quant else ""
        return (
            f"QTensor(shape={self._shape}, {kind}, "
            f"granularity={s.granularity!r}{group}, scale_dtype={s.scale_dtype.name}{dq}, "
            f"nbytes={self.nbytes}, bits_per_weight={self.bits_per_weight:.4g})"
        )


def quantize(x, spec: QuantSpec | None = None, **options) -> QTensor:
    """Quantize an array: ``codes = clip(round(x / scale) + zero_point, qmin, qmax)``, packed.

    Parameters
    ----------
    x : ndarray of float16, float32 or float64
        For a weight ``w`` of shape ``(K, N)`` (``y = x @ w``) blocks run along ``axis=0``.
    spec : QuantSpec, optional
        Or its fields as keywords: ``bits`` (2 to 8; required for ``format="int"``), ``scheme="symmetric"``,
        ``granularity`` (``"tensor"``, or ``"group"`` if ``group_size`` is given),
        ``group_size``, ``axis=0``, ``rounding="half_even"``, ``clip="minmax"``,
        ``scale_dtype=np.float32`` (or ``"float16"``, ``"bfloat16"``, ``"e8m0"``), ``full_range=False``,
        ``percentile=99.9``, ``seed``, ``format="int"`` (or an element format such as ``"nf4"``, or an MX
        format such as ``"mxfp4"``; ``bits`` then follows from it) and ``double_quant=False``.

    Returns
    -------
    QTensor

    Raises
    ------
    TypeError
        Non-float ``x``, or a wrongly typed option.
    ValueError
        NaN/Inf or empty ``x``, ``bits`` outside 2..8, an unknown scheme, granularity,
        rounding or clip, or a ``group_size`` that does not divide ``x.shape[axis]``.

    Examples
    --------
    >>> import miniquant as mq
    >>> x = np.array([[-1.0, 0.0], [0.0, 3.0]])
    >>> qt = mq.quantize(x, bits=8, scheme="asymmetric", granularity="channel")
    >>> qt.codes                          # 0.0 lands exactly on each column's zero point
    array([[  0,   0],
           [255, 255]], dtype=uint8)
    >>> qt.zero_point
    array([[255,   0]], dtype=int32)
    >>> qt.dequantize()
    array([[-1.,  0.],
           [ 0.,  3.]], dtype=float32)
    """
    spec = make_spec(spec, **options)
    if spec.double_quant:
        return _quantize_double(x, spec)
    scale, zero_point = choose_qparams(x, spec)
    codes = quantize_affine(x, scale, zero_point, spec)
    return QTensor.from_codes(codes, scale, zero_point, spec)


def _quantize_double(x, spec: QuantSpec) -> QTensor:
    """``quantize`` with two-level scales: the codes are computed against the decoded scales."""
    first = spec.replace(double_quant=False)
    scale, zero_point = choose_qparams(x, first)
    axis = check_axis(spec.axis, np.ndim(x))
    decoded, scale_codes, second = double_quantize_params(scale, axis)
    codes = quantize_affine(x, decoded, zero_point, spec)
    plain = QTensor.from_codes(codes, decoded, zero_point, first.replace(scale_dtype=np.float32))
    return QTensor(plain.packed, scale_codes, plain.zero_point_packed, plain.shape, plain.spec.replace(double_quant=True),
                   second_scale=second)


def dequantize(qt: QTensor) -> np.ndarray:
    """``qt.dequantize()``: the float32 reconstruction of a ``QTensor``."""
    if not isinstance(qt, QTensor):
        raise TypeError(f"qt must be a QTensor, got {type(qt).__name__}")
    return qt.dequantize()
