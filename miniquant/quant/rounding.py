"""Rounding real values to integers: the one place where quantization loses information.

Three modes, all exact on floating-point input (no ``floor(v + 0.5)``, which is wrong
for ``0.49999997`` because the sum itself rounds up):

* ``"half_even"`` -- ties go to the even integer (NumPy's ``rint``, IEEE default);
  unbiased on ties, the default.
* ``"half_away"`` -- ties go away from zero (C's ``roundf``, used by llama.cpp).
* ``"stochastic"`` -- round up with probability equal to the fractional part, so the
  expected value equals the input; needs a seeded generator to be reproducible.
"""
from __future__ import annotations

import numpy as np

from ._checks import check_choice

ROUNDINGS = ("half_even", "half_away", "stochastic")


def round_values(v: np.ndarray, mode: str = "half_even", *, rng: np.random.Generator | None = None) -> np.ndarray:
    """Round to integers: ``r = round(v)`` with the tie rule of ``mode``.

    Parameters
    ----------
    v : ndarray of float
        Values to round, any shape.
    mode : {"half_even", "half_away", "stochastic"}
    rng : numpy.random.Generator, optional
        Source of randomness for ``"stochastic"`` (a fresh unseeded one if omitted).

    Returns
    -------
    ndarray of float, same shape and dtype as ``v``
        Integer-valued floats.

    Examples
    --------
    >>> round_values(np.array([0.5, 1.5, -2.5]), "half_even")
    array([ 0.,  2., -2.])
    >>> round_values(np.array([0.5, 1.5, -2.5]), "half_away")
    array([ 1.,  2., -3.])
    >>> round_values(np.array([0.49999997], dtype=np.float32), "half_away")
    array([0.], dtype=float32)
    """
    check_choice(mode, "rounding", ROUNDINGS)
    v = np.asarray(v)
    if mode == "half_even":
        return np.rint(v)
    # Work on magnitudes: |v| - floor(|v|) is exact, while v - floor(v) is not for
    # negative v (-0.49999997 + 1 rounds to 0.5 in float32).
    mag = np.abs(v)
    floor = np.floor(mag)
    frac = mag - floor
    if mode == "half_away":
        return np.copysign(floor + (frac >= 0.5), v)
    rng = np.random.default_rng() if rng is None else rng
    u = rng.random(v.shape)
    return np.copysign(floor + (u < frac), v)  # E[result] = sign(v) * (floor + frac) = v
