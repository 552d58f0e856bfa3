"""Integer code ranges ``[qmin, qmax]`` for each scheme and bit-width.

=============  ============================  ==================  ===============
scheme         codes                         4-bit range         8-bit range
=============  ============================  ==================  ===============
symmetric      signed, restricted (default)  ``[-7, 7]``         ``[-127, 127]``
symmetric      signed, ``full_range=True``   ``[-8, 7]``         ``[-128, 127]``
asymmetric     unsigned                      ``[0, 15]``         ``[0, 255]``
=============  ============================  ==================  ===============

The restricted symmetric range drops the most negative code so that the range is
the same on both sides of zero (``-x`` quantizes to ``-code``); it wastes one of
``2**bits`` codes, which costs most at 2 bits (3 of 4 codes are used).
"""
from __future__ import annotations

from ._checks import check_bits, check_choice

SCHEMES = ("symmetric", "asymmetric")


def integer_range(bits: int, scheme: str = "symmetric", *, full_range: bool = False) -> tuple[int, int]:
    """The code range: ``qmin, qmax`` for ``bits`` and ``scheme``.

    Parameters
    ----------
    bits : int
        Code width, 2 to 8.
    scheme : {"symmetric", "asymmetric"}
        Signed codes around a zero point of 0, or unsigned codes with a zero point.
    full_range : bool
        Symmetric only: use ``-2**(bits-1)`` as well (the asymmetric range is always full).

    Returns
    -------
    (int, int)
        ``qmin`` and ``qmax``.

    Examples
    --------
    >>> integer_range(4, "symmetric")
    (-7, 7)
    >>> integer_range(4, "symmetric", full_range=True)
    (-8, 7)
    >>> integer_range(3, "asymmetric")
    (0, 7)
    """
    bits = check_bits(bits)
    check_choice(scheme, "scheme", SCHEMES)
    if scheme == "asymmetric":
        return 0, 2**bits - 1
    qmax = 2 ** (bits - 1) - 1
    return (-qmax - 1 if full_range else -qmax), qmax
