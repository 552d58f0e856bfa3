"""GGUF export: the file the gguf package reads back holds our config, vocabulary and bytes, every tensor
dequantized by gguf's own code equal to miniquant's, and close to the float weights it came from."""
import os

import numpy as np
import pytest

from miniquant.formats import gguf as blocks
from miniquant.nn import GPT, GPTConfig, init_params
from miniquant.nn.gguf_io import byte_vocabulary, export_gguf, load_gguf, tensor_layout

gguf = pytest.importorskip("gguf")

CONFIG = GPTConfig(vocab_size=256, n_ctx=32, n_embd=64, n_head=4, n_layer=2)


@pytest.fixture(scope="module")
def model():
    params = init_params(CONFIG, seed=3)
    params["h.0.mlp.c_proj.weight"] = params["h.0.mlp.c_proj.weight"] * 5     # not all matrices alike
    return GPT(CONFIG, params)


def field(reader, key):
    return reader.fields[key].contents()


#: Relative error of a random init's matrices in each type (measured: about a third to half of these).
BOUNDS = {"F32": 0.0, "F16": 1e-3, "Q8_0": 0.01, "Q6_K": 0.03, "Q5_1": 0.05, "Q5_0": 0.06, "Q5_K": 0.05, "Q4_1": 0.1,
          "Q4_0": 0.12, "Q4_K": 0.12, "Q3_K": 0.25, "Q2_K": 0.45}


@pytest.mark.parametrize("type_name", ["F32", "F16", "Q8_0", "Q4_0", "Q5_1", "Q6_K", "Q4_K_M", "Q3_K_M", "Q2_K"])
def test_every_tensor_reads_back_through_gguf(model, tmp_path, type_name):
    path = tmp_path / "m.gguf"
    chosen = export_gguf(model, path, type_name)
    reader = gguf.GGUFReader(path)
    assert field(reader, "general.architecture") == "gpt2"
    assert field(reader, "gpt2.block_count") == CONFIG.n_layer
    assert field(reader, "gpt2.embedding_length") == CONFIG.n_embd
    assert field(reader, "gpt2.context_length") == CONFIG.n_ctx
    assert field(reader, "gpt2.attention.head_count") == CONFIG.n_head
    assert field(reader, "tokenizer.ggml.tokens") == byte_vocabulary()[0]
    tensors = {t.name: t for t in reader.tensors}
    assert list(tensors) == [theirs for _, theirs, _ in tensor_layout(CONFIG)]
    for ours, theirs, transpose in tensor_layout(CONFIG):
        t = tensors[theirs]
        source = np.asarray(model.params[ours], np.float32)
        source = source.T if transpose else source
        assert t.tensor_type.name == chosen[theirs]
        values = gguf.quants.dequantize(t.data, t.tensor_type).reshape(source.shape)
        if chosen[theirs] in blocks.TYPES:
            np.testing.assert_array_equal(values, blocks.dequantize(np.asarray(t.data), chosen[theirs], source.shape))
        assert np.linalg.norm(values - source) <= BOUNDS[chosen[theirs]] * np.linalg.norm(source), (theirs, chosen[theirs])


def test_k_quants_fall_back_where_rows_are_not_multiples_of_256(model, tmp_path):
    """n_embd = 64: every matrix but ffn_down (K = 256) takes llama-quantize's fallback; pure=True skips the extra bits."""
    chosen = export_gguf(model, tmp_path / "m.gguf", "Q4_K_S", pure=True)
    assert chosen["blk.0.ffn_down.weight"] == "Q4_K"
    assert chosen["blk.0.attn_qkv.weight"] == chosen["token_embd.weight"] == "Q5_0"
    assert chosen["position_embd.weight"] == chosen["blk.1.ffn_norm.bias"] == "F32"
    assert export_gguf(model, tmp_path / "m6.gguf", "Q6_K")["blk.0.ffn_up.weight"] == "Q8_0"
    assert export_gguf(model, tmp_path / "m2.gguf", "Q2_K", pure=True)["blk.0.ffn_up.weight"] == "Q4_0"
    odd = GPTConfig(vocab_size=256, n_ctx=8, n_embd=48, n_head=4, n_layer=1)
    with pytest.raises(ValueError, match="token_embd.weight: rows of 48 weights do not fit Q8_0's blocks of 32"):
        export_gguf(GPT(odd, init_params(odd)), tmp_path / "odd.gguf", "Q4_0")
    assert sorted(os.listdir(tmp_path)) == ["m.gguf", "m2.gguf", "m6.gguf"]     # nothing left of the refused file


def test_bad_requests_are_refused(model, tmp_path):
    with pytest.raises(ValueError, match="type_name must be one of"):
        export_gguf(model, tmp_path / "m.gguf", "Q4_K_X")
    with pytest.raises(TypeError, match="model must be a GPT"):
        export_gguf(model.params, tmp_path / "m.gguf")
    import miniquant as mq
    params = dict(model.params)
    params["h.0.mlp.c_fc.weight"] = mq.quantize(np.asarray(params["h.0.mlp.c_fc.weight"]), bits=4, group_size=32)
    with pytest.raises(ValueError, match="already quantized"):
        export_gguf(GPT(CONFIG, params), tmp_path / "m.gguf")
    big = GPTConfig(vocab_size=300, n_ctx=8, n_embd=32, n_head=2, n_layer=1)
    with pytest.raises(ValueError, match="needs its BPETokenizer"):
        export_gguf(GPT(big, init_params(big)), tmp_path / "m.gguf")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("type_name", ["F32", "Q8_0", "Q4_K_M"])
def test_load_gguf_gives_the_logits_of_the_model_exported(model, tmp_path, type_name):
    """F32: the same model, bit for bit. A block type: the float model whose weights are the blocks' values
    (the GGUF model itself), so its logits equal a GPT built from gguf's own dequantization."""
    path = tmp_path / "m.gguf"
    chosen = export_gguf(model, path, type_name)
    loaded = load_gguf(path)
    ids = np.array([[1, 5, 200, 7, 9, 3]])
    if type_name == "F32":
        np.testing.assert_array_equal(loaded.forward(ids), model.forward(ids))
        return
    reader = {t.name: t for t in gguf.GGUFReader(path).tensors}
    params = {}
    for ours, theirs, transpose in tensor_layout(CONFIG):
        t = reader[theirs]
        shape = np.asarray(model.params[ours]).shape
        values = gguf.quants.dequantize(t.data, t.tensor_type).reshape(shape[::-1] if transpose else shape)
        params[ours] = np.ascontiguousarray(values.T) if transpose else values
        np.testing.assert_array_equal(loaded.params[ours], params[ours])       # the weights: exactly gguf's values
    np.testing.assert_array_equal(loaded.forward(ids), GPT(CONFIG, params).forward(ids))
    assert "Q5_0" in chosen.values() or type_name != "Q4_K_M"


def test_load_gguf_refuses_files_that_are_not_this_gpt(model, tmp_path):
    path = tmp_path / "w.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ValueError, match="general.architecture is 'llama'"):
        load_gguf(path)
    path2 = tmp_path / "g.gguf"
    writer = gguf.GGUFWriter(path2, "gpt2")
    for key, value in (("context_length", 8), ("embedding_length", 8), ("block_count", 1)):
        getattr(writer, f"add_{key}")(value)
    writer.add_head_count(2)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ValueError, match=r"missing \['blk.0.attn_norm.bias'"):
        load_gguf(path2)
