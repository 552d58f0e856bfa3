"""miniquant: learn and test neural-network quantization in plain, readable NumPy.

>>> import numpy as np, miniquant as mq
>>> w = np.random.default_rng(0).standard_normal((128, 64)).astype(np.float32)
>>> qt = mq.quantize(w, bits=4, group_size=32, scale_dtype=np.float16)
>>> qt.bits_per_weight
4.5
>>> w_hat = mq.dequantize(qt)            # float32, shape (128, 64)

The subpackages are imported on first use, as NumPy serves ``np.testing``: ``mq.kernels``
(Numba), ``mq.nn``, ``mq.methods``, ``mq.eval`` and ``mq.testing`` (Hypothesis) cost nothing
until touched, so ``import miniquant`` stays light.
"""
import importlib as _importlib
import os as _os
import sys as _sys

# OpenBLAS's worker threads keep spinning after each call and steal the cores Numba's
# kernels need (measured here: a 4-bit GEMV right after a NumPy matmul ran 2-3x slower).
# OpenBLAS reads the timeout when it loads; if NumPy (and so OpenBLAS) is loaded already,
# _threads.reset_openblas_threads makes it read it again. A value the user set wins.
#: The environment variables miniquant set itself (a user's own value is never changed): a benchmark that
#: starts fresh processes removes these, so that the child starts as a user's script would.
_ENV_SET_BY_MINIQUANT = [] if "OPENBLAS_THREAD_TIMEOUT" in _os.environ else ["OPENBLAS_THREAD_TIMEOUT"]
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
if _ENV_SET_BY_MINIQUANT and "numpy" in _sys.modules:
    # NumPy came first: its OpenBLAS read the environment before the line above (see _threads.py)
    from ._threads import reset_openblas_threads as _reset

    _reset()
    del _reset

from .quant import QuantSpec, choose_qparams, dequantize_affine, fake_quantize, quantize_affine  # noqa: E402
from .tensor import QTensor, dequantize, quantize  # noqa: E402

__version__ = "0.1.0"
__all__ = [
    "QTensor", "QuantSpec", "choose_qparams", "dequantize", "dequantize_affine",
    "fake_quantize", "quantize", "quantize_affine",
]

#: Subpackages served lazily (PEP 562); ``miniquant.testing`` names its extra itself if Hypothesis is missing.
_LAZY = ("eval", "files", "formats", "kernels", "methods", "mixed", "nn", "packing", "progress", "quant", "testing")


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'miniquant' has no attribute {name!r}")
    module = _importlib.import_module(f".{name}", __name__)
    globals()[name] = module
    return module


def __dir__():
    return sorted(set(globals()) - {"_importlib", "_os", "_sys", "_LAZY", "_ENV_SET_BY_MINIQUANT"} | set(_LAZY))
