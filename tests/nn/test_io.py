"""Checkpoints: round trip, and corrupt or hostile files refused without unpickling."""
import numpy as np
import pytest

from miniquant.nn import GPT, GPTConfig, init_params, load_checkpoint, load_model, save_checkpoint

CONFIG = GPTConfig(vocab_size=32, n_ctx=8, n_embd=16, n_head=2, n_layer=1)


def test_round_trip(tmp_path):
    params = init_params(CONFIG, seed=4)
    path = tmp_path / "m.npz"
    save_checkpoint(path, CONFIG, params, {"note": "x"})
    config, loaded, meta = load_checkpoint(path)
    assert config == CONFIG and meta == {"note": "x"}
    for k in params:
        np.testing.assert_array_equal(loaded[k], params[k])
    ids = np.array([[1, 2, 3]])
    np.testing.assert_array_equal(load_model(path).forward(ids), GPT(CONFIG, params).forward(ids))


def test_corrupt_and_hostile_files(tmp_path):
    params = init_params(CONFIG)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **params)  # no header
    with pytest.raises(ValueError, match="not a miniquant checkpoint"):
        load_checkpoint(bad)
    np.savez(bad, __header__=np.array("{not json"), **params)
    with pytest.raises(ValueError, match="corrupt header"):
        load_checkpoint(bad)
    save_checkpoint(bad, CONFIG, {**params, "wte": np.full((32, 16), np.nan, np.float32)})
    with pytest.raises(ValueError, match="weight 'wte' must be finite float32"):
        load_checkpoint(bad)
    np.savez(bad, __header__=np.array('{"config": {}, "meta": {}}'), evil=np.array([object()], dtype=object))
    with pytest.raises(ValueError):
        load_checkpoint(bad)  # object arrays are never unpickled
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(Exception):
        load_checkpoint(tmp_path / "junk.npz")


def _quantized(params, scheme="symmetric"):
    from miniquant.methods import Recipe, quantize_model
    from miniquant.quant import QuantSpec

    return quantize_model(params, Recipe(QuantSpec(bits=4, scheme=scheme, group_size=8, scale_dtype=np.float16)))


@pytest.mark.parametrize("scheme", ["symmetric", "asymmetric"])
def test_quantized_round_trip_keeps_every_stored_byte(tmp_path, scheme):
    from miniquant import QTensor
    from miniquant.eval.memory import memory_ledger

    qparams = _quantized(init_params(CONFIG, seed=1), scheme)
    path = tmp_path / "q.npz"
    save_checkpoint(path, CONFIG, qparams, {"recipe": "int4"})
    config, loaded, meta = load_checkpoint(path)
    assert meta == {"recipe": "int4"}
    for name, value in qparams.items():
        assert type(loaded[name]) is type(value)
        if isinstance(value, QTensor):
            assert loaded[name].spec == value.spec
            np.testing.assert_array_equal(loaded[name].packed, value.packed)
            np.testing.assert_array_equal(loaded[name].stored_scale, value.stored_scale)
            np.testing.assert_array_equal(loaded[name].codes, value.codes)
    assert memory_ledger(loaded).total_bytes == memory_ledger(qparams).total_bytes
    ids = np.array([[1, 2, 3]])
    np.testing.assert_array_equal(load_model(path).forward(ids), GPT(CONFIG, qparams).forward(ids))


def _rewrite(path, out, header=None, drop=(), change=None):
    """Copy checkpoint ``path`` to ``out`` with a new header, some entries dropped or changed."""
    import json

    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files if k not in drop}
    if header is not None:
        arrays["__header__"] = np.array(json.dumps(header))
    arrays.update(change or {})
    np.savez(out, **arrays)


def test_corrupt_quantized_files_are_refused(tmp_path):
    import json

    qparams = _quantized(init_params(CONFIG, seed=1), "asymmetric")
    good, bad = tmp_path / "q.npz", tmp_path / "bad.npz"
    save_checkpoint(good, CONFIG, qparams)
    with np.load(good, allow_pickle=False) as data:
        header = json.loads(str(data["__header__"]))
    name = "h.0.mlp.c_fc.weight"
    scale = qparams[name].stored_scale

    wrong_bits = json.loads(json.dumps(header))
    wrong_bits["quantized"][name]["spec"]["bits"] = 3
    cases = [
        (dict(header=wrong_bits), "quantized weight 'h.0.mlp.c_fc.weight' is corrupt: packed must be uint8"),
        (dict(drop=[f"{name}@zero_point"]), "is corrupt: zero_point_packed must be uint8"),
        (dict(change={f"{name}@scale": -scale}), "stored_scale must be finite and positive"),
        (dict(change={f"{name}@scale": np.full_like(scale, np.nan)}), "stored_scale must be finite and positive"),
        (dict(change={f"{name}@scale": scale.astype(np.float32)}), "stored_scale must be float16"),
        (dict(change={"wte@packed": np.zeros(3, np.uint8)}), "not listed in the header"),
        (dict(change={name: np.zeros((16, 64), np.float32)}), "stored both quantized and in float"),
        (dict(header={**header, "quantized": [1]}), "corrupt header"),
    ]
    for kwargs, message in cases:
        _rewrite(good, bad, **kwargs)
        with pytest.raises(ValueError, match=message):
            load_checkpoint(bad)
    # Packed bytes set to 0xFF: every code 15 is fine for asymmetric 4-bit, but a symmetric
    # restricted range has no unsigned code 15 (qmax - qmin = 14): refused, never computed with.
    sym = _quantized(init_params(CONFIG, seed=1), "symmetric")
    save_checkpoint(tmp_path / "sym.npz", CONFIG, sym)
    packed = sym[name].packed
    _rewrite(tmp_path / "sym.npz", bad, change={f"{name}@packed": np.full_like(packed, 0xFF)})
    with pytest.raises(ValueError, match="packed holds codes above 14"):
        load_checkpoint(bad)
    wrong_spec = json.loads(json.dumps(header))
    wrong_spec["quantized"][name]["spec"]["evil"] = "__import__('os')"
    _rewrite(good, bad, header=wrong_spec)
    with pytest.raises(ValueError, match="unknown quantization spec fields"):
        load_checkpoint(bad)
