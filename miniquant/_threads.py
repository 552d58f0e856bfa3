"""Keep OpenBLAS's idle threads from spinning on the cores Numba's kernels need, whatever the import order.

After each threaded call OpenBLAS's worker threads spin for ``2^OPENBLAS_THREAD_TIMEOUT`` cycles (by
default 2^28, about 0.1 s) before they sleep, and a quantized kernel launched meanwhile shares a core
with a spinning thread: measured here, decode kernels ran at 0.54-0.74 of their speed
(``miniquant bench --import-order``). ``OPENBLAS_THREAD_TIMEOUT=4`` (what ``import miniquant`` sets
when the user has not) only counts if OpenBLAS reads it, which it does when it is loaded -- so it
came too late whenever NumPy was imported first, as in nearly every script and notebook.

``reset_openblas_threads`` makes it count afterwards, with two functions OpenBLAS exports:
``openblas_read_env()`` reads the environment again (the timeout among it), and
``blas_thread_shutdown_()`` (what OpenBLAS itself calls before a ``fork``) ends its worker threads,
so that the next threaded call starts new ones with the new timeout. The libraries are found with
``threadpoolctl``; other BLAS libraries, OpenBLAS builds on OpenMP, or a build without these
functions are left alone. It must not run while another thread is inside a BLAS call, so
``import miniquant`` runs it once, at import, and only when NumPy (hence OpenBLAS) is already loaded
and the user did not set ``OPENBLAS_THREAD_TIMEOUT`` themselves. Tests: ``tests/test_threads.py``.
"""
from __future__ import annotations

import ctypes


def reset_openblas_threads() -> list[str]:
    """Make every loaded pthreads OpenBLAS re-read its environment and restart its threads; returns their paths."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - a dependency
        return []
    done = []
    for info in threadpool_info():
        if info.get("internal_api") != "openblas" or info.get("threading_layer") != "pthreads":
            continue
        try:
            lib = ctypes.CDLL(info["filepath"])
            read_env, shutdown = lib.openblas_read_env, lib.blas_thread_shutdown_
        except (OSError, AttributeError):
            continue
        read_env()
        shutdown()
        done.append(info["filepath"])
    return done


def openblas_thread_timeouts() -> dict[str, int]:
    """The timeout exponent each loaded OpenBLAS now holds (``openblas_thread_timeout()``; 0: its default, 28)."""
    from threadpoolctl import threadpool_info

    out = {}
    for info in threadpool_info():
        if info.get("internal_api") == "openblas":
            try:
                out[info["filepath"]] = int(ctypes.CDLL(info["filepath"]).openblas_thread_timeout())
            except (OSError, AttributeError):
                pass
    return out
