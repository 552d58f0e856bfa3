"""Loading a Hugging Face GPT-2 directory: a tiny checkpoint built here, checked against an independent forward pass."""
import json
import math

import numpy as np
import pytest

from miniquant.nn import GPTConfig, init_params, load_gpt2
from miniquant.nn.safetensors import load_safetensors, save_safetensors

HF_CONFIG = {"vocab_size": 50, "n_positions": 16, "n_embd": 12, "n_head": 3, "n_layer": 2, "layer_norm_epsilon": 1e-5}


def write_checkpoint(directory, *, prefix="transformer.", extra=None, drop=None):
    config = GPTConfig(vocab_size=50, n_ctx=16, n_embd=12, n_head=3, n_layer=2)
    rng = np.random.default_rng(0)
    params = {k: v + rng.normal(0, 0.1, v.shape).astype(np.float32) for k, v in init_params(config, seed=5).items()}
    tensors = {}
    for name, value in params.items():
        hf = {"wte": "wte.weight", "wpe": "wpe.weight"}.get(name, name)
        tensors[prefix + hf] = value
    for i in range(2):  # the causal-mask buffers older checkpoints carry
        tensors[f"{prefix}h.{i}.attn.bias"] = np.tril(np.ones((1, 1, 16, 16), np.float32))
    tensors["lm_head.weight"] = params["wte"]
    tensors.update(extra or {})
    for key in drop or ():
        tensors.pop(key)
    (directory / "config.json").write_text(json.dumps(HF_CONFIG))
    save_safetensors(directory / "model.safetensors", tensors)
    return params


def reference_logits(p, ids):
    """A second, loop-by-loop GPT-2 forward pass written independently of miniquant.nn.gpt."""
    def ln(v, g, b):
        mu = sum(v) / len(v)
        var = sum((a - mu) ** 2 for a in v) / len(v)
        return [(a - mu) / math.sqrt(var + 1e-5) * gi + bi for a, gi, bi in zip(v, g, b)]

    def mat(v, w, b):
        return [sum(v[k] * float(w[k, j]) for k in range(len(v))) + float(b[j]) for j in range(w.shape[1])]

    E, H = 12, 3
    D = E // H
    xs = [[float(a) + float(c) for a, c in zip(p["wte"][t], p["wpe"][i])] for i, t in enumerate(ids)]
    for layer in range(2):
        h = f"h.{layer}."
        qkv = [mat(ln(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"]), p[h + "attn.c_attn.weight"], p[h + "attn.c_attn.bias"]) for x in xs]
        att = []
        for i in range(len(xs)):
            out = []
            for head in range(H):
                q = qkv[i][head * D:(head + 1) * D]
                scores = [sum(a * b for a, b in zip(q, qkv[j][E + head * D:E + (head + 1) * D])) / math.sqrt(D) for j in range(i + 1)]
                m = max(scores)
                w = [math.exp(s - m) for s in scores]
                out += [sum(w[j] * qkv[j][2 * E + head * D + d] for j in range(i + 1)) / sum(w) for d in range(D)]
            att.append(mat(out, p[h + "attn.c_proj.weight"], p[h + "attn.c_proj.bias"]))
        xs = [[a + b for a, b in zip(x, y)] for x, y in zip(xs, att)]
        mlp = []
        for x in xs:
            u = mat(ln(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"]), p[h + "mlp.c_fc.weight"], p[h + "mlp.c_fc.bias"])
            u = [0.5 * a * (1 + math.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3))) for a in u]
            mlp.append(mat(u, p[h + "mlp.c_proj.weight"], p[h + "mlp.c_proj.bias"]))
        xs = [[a + b for a, b in zip(x, y)] for x, y in zip(xs, mlp)]
    return np.array([[sum(a * float(e) for a, e in zip(ln(x, p["ln_f.weight"], p["ln_f.bias"]), p["wte"][v])) for v in range(50)] for x in xs])


@pytest.mark.parametrize("prefix", ["transformer.", ""])
def test_gpt2_directory_loads_and_matches_an_independent_forward(tmp_path, prefix):
    params = write_checkpoint(tmp_path, prefix=prefix)
    model = load_gpt2(tmp_path)
    assert model.config == GPTConfig(vocab_size=50, n_ctx=16, n_embd=12, n_head=3, n_layer=2)
    ids = [3, 17, 42, 8, 0]
    np.testing.assert_allclose(model.forward(np.array([ids]))[0], reference_logits(params, ids), atol=1e-4)


def test_gpt2_bad_checkpoints(tmp_path):
    write_checkpoint(tmp_path, extra={"transformer.h.9.mlp.c_fc.weight": np.zeros((12, 48), np.float32)})
    with pytest.raises(ValueError, match="unknown keys \\['h.9.mlp.c_fc.weight'\\]"):
        load_gpt2(tmp_path)
    write_checkpoint(tmp_path, drop=["transformer.ln_f.bias"])
    with pytest.raises(ValueError, match="missing keys \\['ln_f.bias'\\]"):
        load_gpt2(tmp_path)
    write_checkpoint(tmp_path, extra={"lm_head.weight": np.zeros((50, 12), np.float32)})
    with pytest.raises(ValueError, match="only tied heads"):
        load_gpt2(tmp_path)
    write_checkpoint(tmp_path, extra={"transformer.wpe.weight": np.zeros((8, 12), np.float32)})
    with pytest.raises(ValueError, match=r"params\['wpe'\] has shape \(8, 12\), the config needs \(16, 12\)"):
        load_gpt2(tmp_path)
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        load_gpt2(tmp_path / "nowhere")


def test_safetensors_refuses_corrupt_files(tmp_path):
    path = tmp_path / "t.safetensors"
    save_safetensors(path, {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(2, np.float16)})
    loaded = load_safetensors(path)
    np.testing.assert_array_equal(loaded["a"], np.arange(6).reshape(2, 3))
    raw = path.read_bytes()
    path.write_bytes(raw[:-4])
    with pytest.raises(ValueError, match="do not match shape"):
        load_safetensors(path)
    path.write_bytes(b"\xff" * 8 + raw[8:])
    with pytest.raises(ValueError, match="does not fit the file"):
        load_safetensors(path)
    path.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{bad}")
    with pytest.raises(ValueError, match="corrupt header"):
        load_safetensors(path)


def _raw_safetensors(path, header: dict, data: bytes = b"", raw_header: bytes | None = None):
    import struct

    text = raw_header if raw_header is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


@pytest.mark.parametrize(
    "header, data, match",
    [
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
          "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12), "overlaps the tensor before it"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8), "leaves bytes 0..4 unused"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, bytes(8), "cover 4 of the 8 data bytes"),
        ({"a": {"dtype": "F32", "shape": "12", "data_offsets": [0, 48]}}, bytes(48), "shape that is a list of non-negative"),
        ({"a": {"dtype": "F32", "shape": [1.9], "data_offsets": [0, 4]}}, bytes(4), "shape that is a list of non-negative"),
        ({"a": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}, bytes(4), "shape that is a list of non-negative"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": ["0", "4"]}}, bytes(4), "data_offsets \\[begin, end\\] of two"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}, bytes(4), "data_offsets \\[begin, end\\] of two"),
        ({"a": {"dtype": "F32", "shape": [1]}}, bytes(4), "exactly dtype, shape and data_offsets"),
        ({"a": [1, 2]}, bytes(4), "exactly dtype, shape and data_offsets"),
        ({"a": {"dtype": 5, "shape": [1], "data_offsets": [0, 4]}}, bytes(4), "unsupported dtype 5"),
        ({"__metadata__": {"format": 1}}, b"", "__metadata__ must map strings to strings"),
    ],
)
def test_safetensors_refuses_hostile_headers(tmp_path, header, data, match):
    path = tmp_path / "t.safetensors"
    _raw_safetensors(path, header, data)
    with pytest.raises(ValueError, match=match):
        load_safetensors(path)


def test_safetensors_refuses_duplicate_keys(tmp_path):
    entry = '{"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}'
    path = tmp_path / "t.safetensors"
    _raw_safetensors(path, {}, bytes(4), raw_header=f'{{"a": {entry}, "a": {entry}}}'.encode())
    with pytest.raises(ValueError, match="duplicate keys \\['a'\\]"):
        load_safetensors(path)


def test_safetensors_needs_a_regular_file(tmp_path):
    with pytest.raises(ValueError, match="is not a regular file"):
        load_safetensors(tmp_path)


@pytest.mark.parametrize(
    "weight, match",
    [
        (np.full((50, 12), np.nan, np.float32), "holds NaN or Inf"),
        (np.zeros((50, 12), np.int64), "must be floating point, got int64"),
        (np.full((50, 12), 1e300), "beyond float32's range"),
    ],
)
def test_gpt2_refuses_weights_that_are_not_finite_floats(tmp_path, weight, match):
    write_checkpoint(tmp_path, extra={"transformer.wte.weight": weight, "lm_head.weight": weight})
    with pytest.raises(ValueError, match=match):
        load_gpt2(tmp_path)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"n_embd": 16.9}, "n_embd must be an integer, got 16.9"),
        ({"n_head": True}, "n_head must be an integer, got True"),
        ({"layer_norm_epsilon": "1e-5"}, "layer_norm_epsilon must be a number"),
    ],
)
def test_gpt2_config_sizes_must_be_integers(tmp_path, change, match):
    write_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**HF_CONFIG, **change}))
    with pytest.raises(ValueError, match=match):
        load_gpt2(tmp_path)


def test_gpt2_invalid_json_names_the_file(tmp_path):
    write_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json: Expecting property name"):
        load_gpt2(tmp_path)
