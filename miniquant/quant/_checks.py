"""Validation helpers shared by the public functions of ``miniquant.quant``.

Every public entry point checks its input here, so that a wrong argument gives a
``TypeError`` or ``ValueError`` whose message names the argument and the value.
"""
from __future__ import annotations

import numbers

import numpy as np


def _short(value) -> str:
    """A repr of ``value`` short enough for an error message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_float_array(x, name: str = "x") -> np.ndarray:
    """Return ``x`` as an ndarray after checking it is a non-empty, finite float array.

    Raises
    ------
    TypeError
        If ``x`` is not a floating-point array (integers, bools, complex and objects
        are refused rather than silently converted).
    ValueError
        If ``x`` is empty, zero-dimensional, or holds NaN or Inf.
    """
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(
            f"{name} must be a floating-point array (float16, float32 or float64), "
            f"got dtype {arr.dtype}"
        )
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension, got a scalar {_short(x)}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        n_bad = int((~finite).sum())
        raise ValueError(
            f"{name} holds {n_bad} non-finite value(s) (NaN or Inf), the first "
            f"{arr[tuple(bad)]!r} at index {tuple(int(i) for i in bad)}"
        )
    return arr


def check_bits(bits) -> int:
    """Return ``bits`` as an int after checking it lies in 2..8."""
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral):
        raise TypeError(f"bits must be an integer from 2 to 8, got {_short(bits)}")
    if not 2 <= int(bits) <= 8:
        raise ValueError(f"bits must be from 2 to 8, got {int(bits)}")
    return int(bits)


def check_choice(value, name: str, choices) -> str:
    """Return ``value`` after checking it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {_short(value)}")
    return value


def check_axis(axis, ndim: int) -> int:
    """Return ``axis`` normalised to ``0..ndim-1``."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an integer, got {_short(axis)}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {int(axis)} is out of range for an array with {ndim} dimension(s)")
    return int(axis) % ndim


def check_positive_int(value, name: str) -> int:
    """Return ``value`` after checking it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {_short(value)}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {int(value)}")
    return int(value)
