"""Granularity as a *block shape*: which elements share one ``(scale, zero_point)``.

Every granularity is a block shape that tiles the array. For a weight ``w`` of shape
``(K, N)`` (``y = x @ w``, the reduction runs along ``axis=0``)::

    per-tensor   block (K, N)   params shape (1, 1)        one pair for everything
    per-channel  block (K, 1)   params shape (1, N)        one pair per output column
    per-group    block (G, 1)   params shape (K // G, N)   G consecutive k in one column

          N columns ->                 per-group, G = 2:
        +---+---+---+                  +---+---+---+
    K   | a | d | g |                  | a | d | g |  <- params row 0
    |   | b | e | h |                  | b | e | h |
    v   | c | f | i |                  +---+---+---+
        | . | . | . |                  | c | f | i |  <- params row 1
        +---+---+---+                  | . | . | . |
                                       +---+---+---+

For activations ``x`` of shape ``(M, K)`` use ``axis=1``: per-channel then means one
pair per row (per token). Parameters always have shape ``x.shape // block_shape``, so
they keep the array's number of dimensions and ``expand_params`` repeats them back.
"""
from __future__ import annotations

import numpy as np

from ._checks import check_axis, check_choice, check_positive_int

GRANULARITIES = ("tensor", "channel", "group")


def block_shape(shape: tuple[int, ...], granularity: str, *, axis: int = 0, group_size: int | None = None) -> tuple[int, ...]:
    """The block that shares one ``(scale, zero_point)``: ``params.shape = shape // block``.

    Parameters
    ----------
    shape : tuple of int
        Shape of the array to quantize.
    granularity : {"tensor", "channel", "group"}
    axis : int
        The axis blocks run along (the reduction axis): 0 for a weight ``(K, N)``.
    group_size : int, optional
        Block length along ``axis`` for ``"group"``; must divide ``shape[axis]``.

    Returns
    -------
    tuple of int

    Examples
    --------
    >>> block_shape((256, 64), "channel")
    (256, 1)
    >>> block_shape((256, 64), "group", group_size=32)
    (32, 1)
    >>> block_shape((8, 256), "group", axis=1, group_size=128)
    (1, 128)
    """
    check_choice(granularity, "granularity", GRANULARITIES)
    shape = tuple(int(s) for s in shape)
    axis = check_axis(axis, len(shape))
    if granularity == "tensor":
        return shape
    if granularity == "channel":
        length = shape[axis]
    else:
        if group_size is None:
            raise ValueError("group_size is required when granularity='group'")
        length = check_positive_int(group_size, "group_size")
        if shape[axis] % length:
            raise ValueError(
                f"group_size {length} does not divide the length {shape[axis]} of axis {axis} "
                f"(shape {shape}); choose a divisor of {shape[axis]}"
            )
    return tuple(length if d == axis else 1 for d in range(len(shape)))


def params_shape(shape: tuple[int, ...], block: tuple[int, ...]) -> tuple[int, ...]:
    """Shape of the parameter arrays: ``shape // block`` element by element."""
    return tuple(s // b for s, b in zip(shape, block))


def to_blocks(x: np.ndarray, block: tuple[int, ...]) -> np.ndarray:
    """View ``x`` with each axis split into ``(n_blocks, block_len)``.

    ``x`` of shape ``(s0, s1, ...)`` becomes ``(s0 // b0, b0, s1 // b1, b1, ...)``; a
    reduction over ``block_axes(x.ndim)`` with ``keepdims=True`` then gives one value per
    block. No copy is made for a contiguous ``x``.
    """
    split = []
    for s, b in zip(x.shape, block):
        split += [s // b, b]
    return x.reshape(split)


def block_axes(ndim: int) -> tuple[int, ...]:
    """The axes of a ``to_blocks`` view that run *inside* a block (1, 3, 5, ...)."""
    return tuple(range(1, 2 * ndim, 2))


def expand_params(p: np.ndarray, block: tuple[int, ...]) -> np.ndarray:
    """Repeat per-block parameters to the full array shape: ``p.shape * block``.

    Examples
    --------
    >>> expand_params(np.array([[1.0, 2.0], [3.0, 4.0]]), (2, 1))
    array([[1., 2.],
           [1., 2.],
           [3., 4.],
           [3., 4.]])
    """
    for axis, b in enumerate(block):
        if b != 1:
            p = np.repeat(p, b, axis=axis)
    return p


def blockwise(p: np.ndarray) -> np.ndarray:
    """Reshape parameters of shape ``(n0, n1, ...)`` to ``(n0, 1, n1, 1, ...)``.

    The result broadcasts against a ``to_blocks`` view of the data.
    """
    split = []
    for n in p.shape:
        split += [n, 1]
    return p.reshape(split)
