"""GPTQ (Frantar, Ashkboos, Hoefler & Alistarh, 2022): quantize row by row, feeding each error forward.

Objective, for one layer ``y = x w`` with calibration inputs ``X`` ``(rows, K)``::

    minimise over w_hat on the grid    || X w - X w_hat ||^2  =  tr((w - w_hat)^T H (w - w_hat)) / 2,
    with the Hessian                   H = 2 X^T X            (K, K), summed over calibration rows.

The columns of ``H`` belong to the *input* features k, i.e. to the rows ``w[k, :]`` of our
``(K, N)`` weight (the paper's "columns" of its ``(out, in)`` matrix). Optimal Brain
Quantization quantizes one input feature q at a time and moves the not-yet-quantized ones to
absorb its error ``e = w_q - quant(w_q)``::

    delta_F = - e / [H_F^-1]_qq * (H_F^-1)_{F, q}      F: the features not quantized yet
    H_F^-1  <- H_F^-1 - (H_F^-1)_{:, q} (H_F^-1)_{q, :} / [H_F^-1]_qq     (q removed from F)

GPTQ's three steps: (1) quantize every output column in the *same* order k = 0, 1, ..., K-1,
so that the inverse is updated once for all N columns; (2) all the rows of those updated inverses
are rows of one matrix, the upper Cholesky factor ``U`` of ``H^-1`` (``H^-1 = U^T U``), so the
update becomes ``w[k+1:] -= U[k, k+1:]^T e / U[k, k]``; (3) lazy batches: apply the
updates inside a block of ``block_size`` rows at once, and to the rest of the matrix once per
block (the same numbers, computed with fewer passes over memory). Dampening adds
``damp * mean(diag(H))`` to the diagonal (numerical stability; a singular ``H`` needs it).
``act_order`` quantizes the features with the largest ``H_kk`` (the most activated inputs) first.

Scales: per-tensor and per-channel ones are chosen from ``w`` before the loop; per-group ones
when the loop reaches a group's first row, from the group's rows *as updated so far* (so the
scale fits what is quantized), or all at once before the loop with ``static_groups`` (needed
with ``act_order``, whose order visits the groups out of order: the kernels read groups in K
order, so a group's scale must not depend on when its rows come up).

``gptq_quantize`` is the blocked Cholesky algorithm; ``gptq_quantize_reference`` is the
textbook OBQ form above (an explicit inverse, downdated row by row), which the tests prove
equal to it. Tests: ``tests/methods/test_gptq.py``.
"""
from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np

from ..quant import QuantSpec, choose_qparams, code_dtype
from ..quant._checks import check_float_array, check_positive_int
from ..quant.affine import quantize_blocks
from ..tensor import QTensor
from ._checks import require_integer_grid

#: The options of ``gptq_quantize`` and their defaults (what ``Recipe(method="gptq")`` accepts).
GPTQ_OPTIONS = {"block_size": 128, "damp": 0.01, "act_order": False, "static_groups": False}


@dataclasses.dataclass
class GPTQResult:
    """What one GPTQ run produced: the quantized weight and the error it fed forward.

    ``losses`` ``(K,)``: for each input feature k (in K order), ``sum_n e_kn^2 / U_kk^2 / 2`` -- the
    increase of the layer-output error that quantizing row k caused, as the paper counts it.
    ``order`` ``(K,)``: the order in which the rows were quantized (``arange(K)`` without act-order).
    """

    qtensor: QTensor
    losses: np.ndarray
    order: np.ndarray


def check_gptq_options(spec: QuantSpec, *, block_size=128, damp=0.01, act_order=False, static_groups=False) -> None:
    """``ValueError``/``TypeError`` for options that are invalid or contradict ``spec``."""
    check_positive_int(block_size, "block_size")
    if isinstance(damp, bool) or not isinstance(damp, numbers.Real) or not (math.isfinite(damp) and damp >= 0):
        raise ValueError(f"damp must be a finite number >= 0 (a fraction of the mean diagonal of H), got {damp!r}")
    for name, value in (("act_order", act_order), ("static_groups", static_groups)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {value!r}")
    require_integer_grid("gptq", spec)
    if act_order and spec.granularity == "group" and not static_groups:
        raise ValueError("act_order=True with granularity='group' needs static_groups=True: act-order visits the "
                         "groups out of K order, and the kernels read each group's scale in K order")
    if static_groups and spec.granularity != "group":
        raise ValueError(f"static_groups=True applies to granularity='group' only, got granularity={spec.granularity!r}")


def _check_inputs(w, H, spec: QuantSpec):
    if not isinstance(spec, QuantSpec):
        raise TypeError(f"spec must be a QuantSpec, got {type(spec).__name__}")
    w = check_float_array(w, "w")
    if w.ndim != 2:
        raise ValueError(f"w must be a weight matrix (K, N), got shape {w.shape}")
    if spec.axis not in (0, -2):
        raise ValueError(f"GPTQ quantizes a weight (K, N) in blocks along K: spec.axis must be 0, got {spec.axis}")
    H = check_float_array(H, "H")
    K = w.shape[0]
    if H.shape != (K, K):
        raise ValueError(f"H must have shape (K, K) = ({K}, {K}) for w of shape {w.shape}, got {H.shape}")
    H = H.astype(np.float64)
    if not np.allclose(H, H.T, rtol=1e-5, atol=1e-8 * float(np.abs(H).max(initial=0.0))):
        raise ValueError("H must be symmetric (2 X^T X); got a matrix that is not")
    if np.any(np.diag(H) < 0):
        raise ValueError(f"H must have a non-negative diagonal (2 X^T X), got {float(np.diag(H).min())!r}")
    spec.block_shape(w.shape)  # a group size that does not divide K fails here, with its own message
    return w.astype(np.float64), H


def _prepare(w, H, damp: float, act_order: bool):
    """Dead inputs zeroed, the act-order permutation, and the damped Hessian ``(W, H, perm)``."""
    W, H = w.copy(), H.copy()
    dead = np.diag(H) == 0                        # an input that is always 0: its row never matters
    H[dead, dead] = 1.0
    W[dead, :] = 0.0
    perm = np.argsort(-np.diag(H), kind="stable") if act_order else np.arange(len(H))
    H = H[perm][:, perm]
    if damp > 0:
        H[np.diag_indices_from(H)] += damp * float(np.mean(np.diag(H)))
    return W, H, perm


def _not_positive_definite(H: np.ndarray, damp: float) -> ValueError:
    rank = int(np.linalg.matrix_rank(H))
    return ValueError(f"H is not positive definite (rank {rank} of {len(H)}) with damp={damp}: the calibration inputs "
                      "do not span every input feature; use damp > 0 (e.g. 0.01) or more calibration data")


def _inverse_cholesky(H: np.ndarray, damp: float) -> np.ndarray:
    """The upper Cholesky factor ``U`` of ``H^-1`` (``H^-1 = U^T U``)."""
    try:
        L = np.linalg.cholesky(H)                                  # H = L L^T
    except np.linalg.LinAlgError:
        raise _not_positive_definite(H, damp) from None
    L_inv = np.linalg.solve(L, np.eye(len(H)))                     # H^-1 = L^-T L^-1
    H_inv = L_inv.T @ L_inv
    try:
        return np.linalg.cholesky(H_inv).T
    except np.linalg.LinAlgError:
        raise _not_positive_definite(H, damp) from None


class _Grid:
    """The scale and zero point of every row of ``W`` (permuted order), chosen when the spec says."""

    def __init__(self, W: np.ndarray, spec: QuantSpec, perm: np.ndarray, static_groups: bool):
        K, N = W.shape
        self.spec, self.perm = spec, perm
        self.G = spec.group_size if spec.granularity == "group" else K
        self.scale = np.ones((K // self.G, N), dtype=spec.scale_dtype.value_dtype)   # in K order, as QTensor stores them
        self.zero = np.zeros((K // self.G, N), dtype=np.int32)
        self.upfront = spec.granularity != "group" or static_groups
        if self.upfront:                                     # from the (dead-zeroed) weights in K order
            original = np.empty_like(W)
            original[perm] = W
            self.scale[:], self.zero[:] = choose_qparams(original, spec)   # (1, 1) or (1, N) broadcast to every group

    def starts_group(self, k: int) -> bool:
        """Whether the (permuted) row ``k`` is the first of a group whose scale is chosen now."""
        return not self.upfront and k % self.G == 0

    def choose(self, k: int, rows: np.ndarray) -> None:
        """Choose the group of row ``k`` from its ``G`` rows as they are now."""
        scale, zero = choose_qparams(rows, self.spec.replace(granularity="channel"))
        self.scale[k // self.G], self.zero[k // self.G] = scale[0], zero[0]

    def quantize(self, k: int, row: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
        """Codes and reconstruction of the (permuted) row ``k``."""
        g = self.perm[k] // self.G
        s, z = self.scale[g].astype(np.float64), self.zero[g]
        codes = quantize_blocks(row, s, z, self.spec, rng)
        return codes, (codes - z) * s

    def qtensor(self, codes_permuted: np.ndarray) -> QTensor:
        codes = np.empty_like(codes_permuted)
        codes[self.perm] = codes_permuted
        scale, zero = self.scale, self.zero                   # (K // G, N): one row per group (one for channel)
        if self.spec.granularity == "tensor":
            scale, zero = scale[:, :1], zero[:, :1]
        return QTensor.from_codes(codes.astype(code_dtype(self.spec)), scale, zero, self.spec)


def _rng(spec: QuantSpec):
    return np.random.default_rng(spec.seed) if spec.rounding == "stochastic" else None


def gptq(w, H, spec: QuantSpec, *, block_size: int = 128, damp: float = 0.01, act_order: bool = False,
         static_groups: bool = False) -> GPTQResult:
    """GPTQ with lazy block updates: ``GPTQResult`` (the weight, the per-row losses, the order).

    Parameters
    ----------
    w : ndarray (K, N), float
        The layer's weight (``y = x @ w``).
    H : ndarray (K, K), float
        ``2 X^T X`` summed over the calibration rows (``InputStats.H``).
    spec : QuantSpec
        Any scheme, granularity (groups along K), clipping and scale dtype; ``axis=0``.
    block_size : int
        Rows per lazy batch (128 as in the paper; any value gives the same result).
    damp : float
        Added to the diagonal as a fraction of its mean. ``0`` needs a positive definite ``H``.
    act_order, static_groups : bool
        Quantize in the order of decreasing ``H_kk``; choose group scales before the loop.
    """
    w, H = _check_inputs(w, H, spec)
    check_gptq_options(spec, block_size=block_size, damp=damp, act_order=act_order, static_groups=static_groups)
    W, H, perm = _prepare(w, H, damp, act_order)
    W = W[perm]
    U = _inverse_cholesky(H, damp)
    grid = _Grid(W, spec, perm, static_groups)
    rng = _rng(spec)
    K, N = W.shape
    codes = np.zeros((K, N))
    losses = np.zeros(K)
    for i1 in range(0, K, block_size):
        i2 = min(i1 + block_size, K)
        W1 = W[i1:i2].copy()                   # this block's rows, updated row by row
        E1 = np.zeros_like(W1)                 # their scaled errors e / U_kk
        for i in range(i2 - i1):
            k = i1 + i
            if grid.starts_group(k):
                # the group's rows as updated so far: those in this block from W1, those after it from
                # W plus the updates this block has made so far (applied lazily to W at the block's end)
                end = k + grid.G
                rows = W1[i:end - i1]
                if end > i2:
                    rest = W[i2:end] - U[i1:k, i2:end].T @ E1[:i]
                    rows = np.concatenate([rows, rest])
                grid.choose(k, rows)
            row = W1[i]
            codes[k], w_hat = grid.quantize(k, row, rng)
            d = U[k, k]
            losses[k] = float(((row - w_hat) ** 2).sum()) / d**2 / 2
            E1[i] = (row - w_hat) / d
            W1[i + 1:] -= np.outer(U[k, k + 1:i2], E1[i])          # inside the block, at once
        W[i2:] -= U[i1:i2, i2:].T @ E1                               # the rest of the matrix, once per block
    order_losses = np.empty(K)
    order_losses[perm] = losses
    return GPTQResult(grid.qtensor(codes), order_losses, perm)


def gptq_quantize(w, H, spec: QuantSpec, *, block_size: int = 128, damp: float = 0.01, act_order: bool = False,
                  static_groups: bool = False) -> QTensor:
    """GPTQ-quantized ``QTensor`` of ``w`` ``(K, N)`` for Hessian ``H`` ``(K, K)`` (see ``gptq``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> w = rng.normal(size=(64, 8)).astype(np.float32)
    >>> X = rng.normal(size=(256, 64)) @ rng.normal(size=(64, 64))       # correlated inputs
    >>> H = 2 * X.T @ X
    >>> from miniquant import quantize
    >>> spec = QuantSpec(bits=3, granularity="channel")
    >>> err = lambda q: float(np.sum((X @ (w - q.dequantize())) ** 2))
    >>> round(err(gptq_quantize(w, H, spec)) / err(quantize(w, spec)), 2)     # GPTQ's error over RTN's
    0.53
    """
    return gptq(w, H, spec, block_size=block_size, damp=damp, act_order=act_order, static_groups=static_groups).qtensor


def gptq_quantize_reference(w, H, spec: QuantSpec, *, damp: float = 0.01, act_order: bool = False,
                            static_groups: bool = False) -> QTensor:
    """The textbook form: one row at a time with an explicitly downdated inverse (slow; the specification)."""
    w, H = _check_inputs(w, H, spec)
    check_gptq_options(spec, damp=damp, act_order=act_order, static_groups=static_groups)
    W, H, perm = _prepare(w, H, damp, act_order)
    W = W[perm]
    try:
        np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        raise _not_positive_definite(H, damp) from None
    H_inv = np.linalg.inv(H)
    grid = _Grid(W, spec, perm, static_groups)
    rng = _rng(spec)
    codes = np.zeros_like(W)
    for k in range(len(W)):
        if grid.starts_group(k):
            grid.choose(k, W[k:k + grid.G])
        codes[k], w_hat = grid.quantize(k, W[k], rng)
        e = W[k] - w_hat
        W[k + 1:] -= np.outer(H_inv[k + 1:, k] / H_inv[k, k], e)                  # OBQ's delta_F
        H_inv = H_inv - np.outer(H_inv[:, k], H_inv[k, :]) / H_inv[k, k]          # remove feature k
    return grid.qtensor(codes)
