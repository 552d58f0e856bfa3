"""Every Numba option of the project, in one place.

* ``cache=True`` everywhere, so that a second process loads machine code from disk
  instead of compiling (measured here: 0.8-3 s per kernel cold, a fraction warm). Never call
  ``numba.get_num_threads()`` inside a cached kernel: it silently disables the cache.
* ``fastmath`` only for float accumulations whose tolerance is stated (it lets LLVM
  reorder sums and vectorize reductions); kernels that must match NumPy bit for bit
  (integer paths, per-token quantization) are compiled without it.
* ``parallel=True`` with ``prange`` only over outputs that each iteration owns.

Without Numba (or with ``NUMBA_DISABLE_JIT=1``) the decorators return the Python
functions unchanged and ``prange`` is ``range``: everything still runs, slowly; the
public functions then prefer the NumPy references.
"""
from __future__ import annotations

import os

# Numba's OpenMP workers spin after every parallel call and steal the cores that the next
# NumPy/BLAS call needs: measured here, dequantize-tile + BLAS at M = 32 ran at 0.08x of
# NumPy with spinning workers and 0.9x with passive ones, and a NumPy GEMV alternated with a
# Numba GEMV took 8 ms per pair instead of 3.5. Passive waiting costs back-to-back Numba
# calls some speed, but a transformer alternates the two constantly. Read by the OpenMP
# runtime when Numba first starts its threads; a value the user set wins.
if "OMP_WAIT_POLICY" not in os.environ:
    import miniquant as _package

    _package._ENV_SET_BY_MINIQUANT.append("OMP_WAIT_POLICY")
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

try:  # Numba is a core dependency, but the library must still work without it.
    import numba as _numba
    from numba import prange
    from numba.extending import intrinsic, overload

    NUMBA_AVAILABLE = os.environ.get("NUMBA_DISABLE_JIT", "0") in ("", "0")
except ImportError:  # pragma: no cover - exercised only on machines without Numba
    _numba = None
    prange = range
    NUMBA_AVAILABLE = False

    def overload(_fn, **_options):
        return lambda impl: impl

    def intrinsic(fn):
        return fn


def _decorator(**options):
    if _numba is None:  # pragma: no cover
        return lambda fn: fn
    return _numba.njit(cache=True, **options)


class TwoWayKernel:
    """A ``prange`` kernel compiled twice: across Numba's threads, and for the calling thread alone.

    ``kernel(...)`` runs the parallel version; ``kernel.for_work(work)`` is the serial one below
    ``SERIAL_WORK`` multiply-adds, where waking the worker threads (and setting their count twice per
    call, what ``threads_for`` does) costs more than the product: measured on a 128 x 384 int4 decode
    product, 26 us through ``threads_for`` against 12 us serial. The serial twin is the same code
    under another name (``<name>_serial``): Numba's cache key holds the bytecode and the closure, not
    the compile options, so under the same name the two would share one cache entry. Each compiles
    (or loads from the cache) on its first call.
    """

    def __init__(self, fn, **options):
        self.py_func = fn
        self.__name__, self.__doc__, self.__wrapped__ = fn.__name__, fn.__doc__, fn
        if _numba is None:  # pragma: no cover
            self.parallel = self.serial = fn
            return
        self.parallel = _numba.njit(cache=True, parallel=True, **options)(fn)
        self.serial = _numba.njit(cache=True, **options)(_renamed(fn, fn.__name__ + "_serial"))

    def __call__(self, *args):
        return self.parallel(*args)

    def for_work(self, work: int):
        """The version to run for ``work`` multiply-adds: serial below ``SERIAL_WORK``, else parallel."""
        return self.serial if work < SERIAL_WORK or not NUMBA_AVAILABLE else self.parallel


def _renamed(fn, name: str):
    """A copy of function ``fn`` (same code, globals and closure) called ``name``."""
    import types

    qualname = fn.__qualname__.rsplit(".", 1)[0] + "." + name if "." in fn.__qualname__ else name
    code = fn.__code__.replace(co_name=name)
    if hasattr(code, "co_qualname"):        # Python 3.11+
        code = code.replace(co_qualname=qualname)
    copy = types.FunctionType(code, fn.__globals__, name, fn.__defaults__, fn.__closure__)
    copy.__qualname__ = qualname            # what Numba names the cache files after
    copy.__module__ = fn.__module__
    return copy


#: Exact kernels: integer accumulation, per-token quantization. Bitwise equal to NumPy.
#: Each is a ``TwoWayKernel`` (parallel, and ``.for_work(work)`` for small products).
jit_exact = lambda fn: TwoWayKernel(fn)  # noqa: E731
#: Float-accumulating kernels: sums may be reordered (stated tolerance in each docstring). ``TwoWayKernel``.
jit_fast = lambda fn: TwoWayKernel(fn, fastmath=True)  # noqa: E731
#: Serial exact kernels: work too small to be worth waking a second thread (O(M K) passes over x).
jit_serial = _decorator()
#: Serial passes over activations whose float sums may be reassociated (so they vectorize) but must keep
#: NaN and Inf: only LLVM's ``reassoc`` and ``contract`` flags, not ``fastmath=True`` (which assumes neither occurs).
jit_reduce = _decorator(fastmath={"reassoc", "contract"})
#: Small serial helpers, inlined into the kernels.
jit_inline = _decorator(inline="always")


#: Below this many multiply-adds a kernel runs its serial twin (``TwoWayKernel.for_work``): waking the passive
#: OpenMP workers costs ~50 us per call here, more than a small product takes. Measured
#: (4-bit and 8-bit GEMV, one thread vs two): 256x256 10 vs 52 us, 512x512 26-29 vs 50-61 us,
#: 1024x1024 93-98 vs 98-161 us, 2048x2048 346-384 vs 229 us. ``tests/kernels/test_matmul.py``.
SERIAL_WORK = 1 << 20

#: Group sizes that get kernels compiled with the group length as a constant (closure constants
#: from a kernel factory, which LLVM unrolls and which cache): the 4-bit fused kernels and W4A8.
SPECIALIZED_GROUPS = (32, 64, 128)


def _compiles_for(*names: str) -> bool:
    """Whether Numba compiles for a CPU with every one of the LLVM features ``names`` (see ``_compiles_for_vnni``)."""
    if _numba is None or not NUMBA_AVAILABLE:
        return False
    from numba.core import config

    if config.CPU_NAME not in (None, "host"):
        wanted = config.CPU_FEATURES or ""
        return all(f"+{name}" in wanted for name in names)
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    return all(features.get(name, False) for name in names)


def _compiles_for_vnni() -> bool:
    """Whether Numba compiles for a CPU with AVX-512 VNNI (``vpdpbusd``) and AVX-512 BW/VL.

    Numba compiles for the host CPU unless ``NUMBA_CPU_NAME`` says otherwise (for example
    ``generic``, to share a cache between machines); only then may the kernels call the
    instruction directly (``simd.py``). Numba's cache is keyed by the CPU name and features,
    so a kernel cached with VNNI is never loaded on a CPU without it.
    """
    return _compiles_for("avx512vnni", "avx512bw", "avx512vl")


#: True when the W4A8 kernel's integer dot product runs as AVX-512 VNNI instructions.
HAS_VNNI = _compiles_for_vnni()
#: True when the table kernels (``tables.py``) run as AVX-512 permutes and half-to-float conversions.
HAS_AVX512 = _compiles_for("avx512f", "avx512bw")
