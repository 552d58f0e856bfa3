"""Progress bars for the long loops (the tour, training, calibrated methods): tqdm's.

``tqdm.auto`` draws a widget in Jupyter (with ``ipywidgets``, in the ``tutorials`` extra) and a text
bar in a terminal, rate-limited, on standard error; ``enabled=False`` gives the same object with every
method a no-op, so the loops read the same either way. Tests: ``tests/test_progress.py``.
"""
from __future__ import annotations

import sys


def progress_bar(iterable=None, *, total: int | None = None, desc: str | None = None, unit: str = "it",
                 enabled: bool = True):
    """A ``tqdm`` bar over ``iterable`` (``set_postfix_str``, ``update``, ``close`` as tqdm has them)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, disable=not enabled,
                dynamic_ncols=True, mininterval=0.5, leave=True)
