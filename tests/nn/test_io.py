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
