"""The type of every tensor, for every llama-quantize file type, equals the one llama.cpp itself chose."""
import json
from pathlib import Path

import pytest

from miniquant.nn import GPTConfig
from miniquant.nn.gguf_io import tensor_layout
from miniquant.nn.gguf_mixes import FILE_TYPES, file_type, tensor_types, use_more_bits
from miniquant.nn.gpt import expected_shapes

TABLE = json.loads((Path(__file__).parent / "data" / "llama_quantize_types.json").read_text())


def llama_shapes(config):
    shapes = expected_shapes(config)
    return {theirs: shapes[ours][::-1] if transpose else shapes[ours] for ours, theirs, transpose in tensor_layout(config)}


@pytest.mark.parametrize("key", sorted(TABLE))
def test_types_equal_llama_quantize(key):
    """Recorded from ``llama_model_quantize`` (llama-cpp-python 0.3.36) by ``data/make_llama_quantize_types.py``: the
    shipped shape (K = 128: fallbacks everywhere), and n_embd 256 / 512 with 8, 12 and 17 layers (``use_more_bits``)."""
    entry = TABLE[key]
    shapes = llama_shapes(GPTConfig(vocab_size=256, n_ctx=64, n_head=4, **entry["config"]))
    assert sorted(entry["types"]) == sorted(t for t in FILE_TYPES if t not in ("F32", "F16"))
    for ftype, theirs in entry["types"].items():
        ours = tensor_types(shapes, ftype)
        differ = {name: (ours[name], theirs[name]) for name in theirs if ours[name] != theirs[name]}
        assert not differ and set(ours) == set(theirs), f"{key} {ftype}: ours vs llama.cpp {differ}"


def test_more_bits_layers_and_aliases():
    assert [i for i in range(8) if use_more_bits(i, 8)] == [0, 3, 6, 7]
    assert [i for i in range(4) if use_more_bits(i, 4)] == [2, 3]
    assert file_type("Q4_K") == "Q4_K_M" and file_type("Q6_K") == "Q6_K"
    with pytest.raises(ValueError, match="type_name must be one of"):
        file_type("Q4_K_L")
