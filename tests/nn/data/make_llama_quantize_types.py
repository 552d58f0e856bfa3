"""Write ``llama_quantize_types.json``: the type ``llama_model_quantize`` gives each tensor of a few ``gpt2`` shapes.

llama.cpp through ``llama-cpp-python`` (not a dependency of miniquant; a scratch environment, see
``tests/formats/data/make_llama_cpp_blocks.py``). Each model is a random float model exported by miniquant
as F32 and quantized by llama.cpp's own ``llama_model_quantize`` (no importance matrix)::

    PYTHONPATH=. /tmp/llama/bin/python tests/nn/data/make_llama_quantize_types.py tests/nn/data/llama_quantize_types.json
"""
import ctypes
import json
import os
import sys
import tempfile

SHAPES = {"shipped": dict(n_embd=128, n_layer=4), "e256_l8": dict(n_embd=256, n_layer=8),
          "e256_l12": dict(n_embd=256, n_layer=12), "e512_l17": dict(n_embd=512, n_layer=17)}
FILE_TYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S",
              "Q5_K_M", "Q6_K"]


def llama_types(src: str, ftype: str) -> dict:
    import gguf
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype}")
    params.nthread = 2
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "q.gguf")
        if llama_cpp.llama_model_quantize(src.encode(), out.encode(), ctypes.byref(params)) != 0:
            return {"error": "llama_model_quantize failed"}
        return {t.name: t.tensor_type.name for t in gguf.GGUFReader(out).tensors}


if __name__ == "__main__":
    from miniquant.nn import GPT, GPTConfig, export_gguf, init_params

    table = {}
    with tempfile.TemporaryDirectory() as folder:
        for key, sizes in SHAPES.items():
            config = GPTConfig(vocab_size=256, n_ctx=64, n_head=4, **sizes)
            src = os.path.join(folder, f"{key}.gguf")
            export_gguf(GPT(config, init_params(config, seed=1)), src, "F32")
            table[key] = {"config": sizes, "types": {ftype: llama_types(src, ftype) for ftype in FILE_TYPES}}
    with open(sys.argv[1], "w") as fh:
        json.dump(table, fh, separators=(",", ":"), sort_keys=True)
    import llama_cpp
    print("llama-cpp-python", llama_cpp.__version__, {k: len(v["types"]) for k, v in table.items()})
