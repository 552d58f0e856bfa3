"""The scale searches of llama.cpp's K-quants, in float32 and in ggml's order, over many sub-blocks at once.

Each function takes sub-blocks ``x`` ``(m, n)`` (16 or 32 weights each) and returns, per sub-block, the
scale the search settles on and the codes it chose; they follow ``make_qkx2_quants``, ``make_q3_quants``
and ``make_qx_quants`` of ``ggml-quants.c`` (the versions ``quantize_row_q*_K_ref`` calls, without an
importance matrix). The searches try a few candidate scales around ``nmax / range`` and keep the one with
the smallest weighted error, or refit the scale by least squares and nudge single codes.

Why float32 and the order of every sum matter: the search compares errors and sums of products that
often differ in their last bits between candidates; a sum in another order (NumPy's pairwise ``sum``) or
in float64 picks another candidate now and then, and then a whole sub-block's bytes differ. So every
product is rounded to float32 as C rounds it (``w*l*x`` is ``(w*l)*x``), and every sum over a sub-block is
a sequential float32 loop (``sequential_sum``: ``n`` vector additions, each across all sub-blocks). ggml
compiles these functions without ``-ffast-math`` (no reassociation), so its sums run in this order too.

``nearest_int`` is ggml's: add ``1.5 * 2**23`` in float32 and read the mantissa, which is round half to
even for ``|v| < 2**22`` -- ``np.rint``.
"""
from __future__ import annotations

import numpy as np

f32 = np.float32
GROUP_MAX_EPS = f32(1e-15)   # ggml: a sub-block whose largest |x| is below this is all zero


def nearest_int(v: np.ndarray) -> np.ndarray:
    """ggml's ``nearest_int``: round half to even, as int64."""
    return np.rint(v).astype(np.int64)


def sequential_sum(terms: np.ndarray) -> np.ndarray:
    """``sum = 0; for i: sum += terms[:, i]`` in float32, left to right: ``(m, n) -> (m,)``."""
    total = np.zeros(terms.shape[0], f32)
    for i in range(terms.shape[1]):
        total = total + terms[:, i]
    return total


def argmax_abs_first(x: np.ndarray) -> np.ndarray:
    """Per row, the index of the largest ``|x|``, the first one on ties (ggml's ``if (ax > amax)`` loop)."""
    return np.abs(x).argmax(axis=1)


def _safe_divide(a, b, where):
    """``a / b`` in float32 where ``where``, 0 elsewhere (no warnings for the rows left out)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(where, a / np.where(where, b, f32(1)), f32(0)).astype(f32)


def fit_with_minimum(x, weights, nmax: int, rmin: float, rdelta: float, nstep: int, *, use_mad: bool):
    """``make_qkx2_quants``: codes ``0..nmax`` with a scale and a minimum, ``x ~ scale * L - the_min``.

    Starts from ``scale = (max - min) / nmax`` with ``min = min(x, 0)``, then for ``is = 0 .. nstep`` tries
    ``iscale = (rmin + rdelta * is + nmax) / (max - min)``: rounds, fits scale and minimum by weighted least
    squares (the minimum clamped to at most 0), and keeps the candidate if its weighted error (absolute with
    ``use_mad``, else squared) is smaller. As in ggml, ``min`` is updated when a candidate wins, so later
    candidates measure the range from it. Returns ``(scale, the_min, L)``: float32 ``(m,)``, ``(m,)`` and
    ``(m, n)`` uint8 codes; ``the_min = -min >= 0``.
    """
    x = x.astype(f32, copy=False)
    w = weights.astype(f32, copy=False)
    lo = np.minimum(x.min(axis=1), f32(0))
    hi = x.max(axis=1)
    sum_w = sequential_sum(w)
    sum_x = sequential_sum(w * x)
    flat = hi == lo

    def error(scale, minimum, L):
        diff = (scale[:, None] * L + minimum[:, None]) - x
        return sequential_sum(w * (np.abs(diff) if use_mad else diff * diff))

    iscale = _safe_divide(f32(nmax), hi - lo, ~flat)
    scale = _safe_divide(f32(1), iscale, ~flat)
    L = np.clip(nearest_int(iscale[:, None] * (x - lo[:, None])), 0, nmax).astype(f32)
    best = error(scale, lo, L)
    for step in range(nstep + 1):
        iscale = _safe_divide(f32(rmin) + f32(rdelta) * f32(step) + f32(nmax), hi - lo, ~flat)
        Laux = np.clip(nearest_int(iscale[:, None] * (x - lo[:, None])), 0, nmax).astype(f32)
        wl = w * Laux
        sum_l, sum_l2, sum_xl = sequential_sum(wl), sequential_sum(wl * Laux), sequential_sum(wl * x)
        D = sum_w * sum_l2 - sum_l * sum_l
        solvable = D > 0
        this_scale = _safe_divide(sum_w * sum_xl - sum_x * sum_l, D, solvable)
        this_min = _safe_divide(sum_l2 * sum_x - sum_l * sum_xl, D, solvable)
        clamp = this_min > 0
        this_scale = np.where(clamp, _safe_divide(sum_xl, sum_l2, clamp), this_scale)
        this_min = np.where(clamp, f32(0), this_min)
        better = solvable & ~flat & (error(this_scale, this_min, Laux) < best)
        if better.any():
            best = np.where(better, error(this_scale, this_min, Laux), best)
            L = np.where(better[:, None], Laux, L)
            scale = np.where(better, this_scale, scale)
            lo = np.where(better, this_min, lo)
    L = np.where(flat[:, None], f32(0), L)
    scale = np.where(flat, f32(0), scale)
    return scale.astype(f32), (-lo).astype(f32), L.astype(np.uint8)


def _signed_peak(x):
    """Per row: the value of largest magnitude with its sign, and whether that magnitude reaches ``GROUP_MAX_EPS``."""
    peak = np.take_along_axis(x, argmax_abs_first(x)[:, None], axis=1)[:, 0]
    return peak, np.abs(peak) >= GROUP_MAX_EPS


def fit_q3(x, nmax: int):
    """``make_q3_quants`` with ``do_rmse``: symmetric codes ``-nmax .. nmax - 1``, weights ``x**2``.

    Rounds with ``iscale = -nmax / max`` (``max``: the value of largest magnitude, signed), then up to five
    passes over the weights, each trying for one code at a time the value the least-squares scale of the
    others asks for and keeping it if the fit ``sumlx**2 / suml2`` improves. Returns ``(scale, L)``: float32
    ``(m,)`` and int64 codes ``L + nmax`` in ``0 .. 2 nmax - 1`` (0 everywhere for an all-zero sub-block).
    """
    x = x.astype(f32, copy=False)
    peak, live = _signed_peak(x)
    iscale = _safe_divide(f32(-nmax), peak, live)
    L = np.clip(nearest_int(iscale[:, None] * x), -nmax, nmax - 1).astype(f32)
    w = x * x
    wx = w * x
    sumlx, suml2 = sequential_sum(wx * L), sequential_sum((w * L) * L)
    for _ in range(5):
        changed = np.zeros(x.shape[0], bool)
        for i in range(x.shape[1]):
            Li = L[:, i]
            slx = sumlx - wx[:, i] * Li
            positive = slx > 0
            sl2 = suml2 - (w[:, i] * Li) * Li
            new = np.clip(nearest_int(_safe_divide(x[:, i] * sl2, slx, positive)), -nmax, nmax - 1).astype(f32)
            slx_new = slx + wx[:, i] * new
            sl2_new = sl2 + (w[:, i] * new) * new
            take = (positive & (new != Li) & (sl2_new > 0)
                    & ((slx_new * slx_new) * suml2 > (sumlx * sumlx) * sl2_new))
            L[:, i] = np.where(take, new, Li)
            sumlx = np.where(take, slx_new, sumlx)
            suml2 = np.where(take, sl2_new, suml2)
            changed |= take
        if not changed.any():     # a pass that changes nothing leaves the state as it was: every later one too
            break
    scale = _safe_divide(sumlx, suml2, live & (suml2 > 0))
    codes = np.where(live[:, None], L.astype(np.int64) + nmax, 0)
    return scale, codes


def fit_symmetric(x, nmax: int):
    """``make_qx_quants`` with ``rmse_type = 1`` and no importance: symmetric codes ``-nmax .. nmax - 1``.

    Rounds with ``iscale = -nmax / max``, fits the scale by least squares with weights ``x**2``, then tries
    ``iscale = -(nmax + 0.1 is) / max`` for ``is = -9 .. 9`` and keeps a candidate whose fit
    ``sumlx**2 / suml2`` is larger. Returns ``(scale, L)``: float32 ``(m,)`` and int64 codes ``L + nmax``
    (0 everywhere for an all-zero sub-block).
    """
    x = x.astype(f32, copy=False)
    peak, live = _signed_peak(x)
    w = x * x
    wx = w * x

    def candidate(iscale):
        L = np.clip(nearest_int(iscale[:, None] * x), -nmax, nmax - 1).astype(f32)
        return L, sequential_sum(wx * L), sequential_sum((w * L) * L)

    L, sumlx, suml2 = candidate(_safe_divide(f32(-nmax), peak, live))
    scale = _safe_divide(sumlx, suml2, suml2 != 0)
    best = scale * sumlx
    for step in range(-9, 10):
        if step == 0:
            continue
        Lc, slx, sl2 = candidate(_safe_divide(-(f32(nmax) + f32(0.1) * f32(step)), peak, live))
        better = live & (sl2 > 0) & (slx * slx > best * sl2)
        if better.any():
            L = np.where(better[:, None], Lc, L)
            scale = np.where(better, _safe_divide(slx, sl2, better), scale)
            best = np.where(better, scale * slx, best)
    scale = np.where(live, scale, f32(0)).astype(f32)
    return scale, np.where(live[:, None], L.astype(np.int64) + nmax, 0)
