"""Write ``llama_cpp_blocks.npz``: the bytes llama.cpp's own quantizer writes for hard rows, every block type.

The quantizer is ``ggml_quantize_chunk`` (no importance matrix), the function ``llama-quantize`` calls for
each tensor, from the ``libggml-base`` that ``llama-cpp-python`` builds. Not a dependency of miniquant:
run this in a scratch environment, e.g. (llama-cpp-python 0.3.36 compiles llama.cpp in about 15 minutes)::

    python -m venv /tmp/llama && /tmp/llama/bin/pip install llama-cpp-python numpy
    /tmp/llama/bin/python tests/formats/data/make_llama_cpp_blocks.py tests/formats/data/llama_cpp_blocks.npz
"""
import ctypes
import glob
import os
import sys

import numpy as np

#: ggml's type numbers (``enum ggml_type``).
GGML_TYPES = {"Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8, "Q2_K": 10, "Q3_K": 11, "Q4_K": 12, "Q5_K": 13,
              "Q6_K": 14}


def ggml_library():
    """``libggml-base`` of the installed ``llama_cpp`` package, with the two functions used here declared."""
    import llama_cpp

    path = glob.glob(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so*"))[0]
    lib = ctypes.CDLL(path)
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_void_p]
    lib.ggml_row_size.restype = ctypes.c_size_t
    lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
    return lib, llama_cpp.__version__


def ggml_quantize(lib, x: np.ndarray, name: str) -> np.ndarray:
    """llama.cpp's bytes of float32 rows ``x`` in type ``name``: ``uint8 (rows, row bytes)``."""
    x = np.ascontiguousarray(x, np.float32)
    rows, n = x.shape
    t = GGML_TYPES[name]
    out = np.zeros(rows * lib.ggml_row_size(t, n), np.uint8)
    lib.ggml_quantize_chunk(t, x.ctypes.data, out.ctypes.data, 0, rows, n, None)
    return out.reshape(rows, -1)


def hard_rows(seed: int = 0) -> np.ndarray:
    """32 rows of 512: weight-like, heavy-tailed, outliers, zero / constant / tiny sub-blocks, one-signed, ties,
    and sparse rows whose zeros are partly ``-0.0`` (the sign of a zero minimum is stored)."""
    rng = np.random.default_rng(seed)
    rows = [rng.standard_normal((8, 512)) * 0.02,
            rng.laplace(size=(4, 512)) * rng.choice([1e-3, 0.1, 3.0], (4, 1))]
    outliers = rng.standard_normal((4, 512))
    outliers[:, 5] *= 40
    rows.append(outliers)
    special = rng.standard_normal((4, 512)) * 0.1
    special[0, :32] = 0
    special[1, 16:48] = 0.25
    special[2, :256] = 0
    special[3, 100:116] = 1e-20
    rows.append(special)
    rows += [np.abs(rng.standard_normal((2, 512))), -np.abs(rng.standard_normal((2, 512))),
             np.round(rng.standard_normal((2, 512)) * 4) / 8, rng.standard_normal((4, 512)) * 0.02]
    signed_zeros = rng.uniform(-1, 1, (2, 512)) * (rng.random((2, 512)) < 0.3)   # -0.0 where a negative was zeroed
    rows.append(signed_zeros)
    return np.concatenate(rows).astype(np.float32)


if __name__ == "__main__":
    lib, version = ggml_library()
    x = hard_rows()
    arrays = {"x": x, **{name: ggml_quantize(lib, x, name) for name in GGML_TYPES}}
    np.savez_compressed(sys.argv[1], **arrays)
    print(f"llama-cpp-python {version}:", {k: v.shape for k, v in arrays.items()})
