"""The tour on a tiny checkpoint: records, files and plots are produced and consistent."""
import json

from miniquant.cli import main
from miniquant.nn import GPTConfig, init_params, save_checkpoint


def test_tour_on_a_tiny_model(tmp_path, capsys):
    config = GPTConfig(vocab_size=256, n_ctx=32, n_embd=32, n_head=2, n_layer=1)
    path = tmp_path / "m.npz"
    save_checkpoint(path, config, init_params(config))
    out = tmp_path / "out"
    assert main(["tour", "--model", str(path), "--quick", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "int4 sym g32" in text and "kl_mean" in text
    records = json.loads((out / "tour.json").read_text())
    assert records[0]["recipe"] == "float32" and records[0]["kl_mean"] == 0.0 and records[0]["top1_agreement"] == 1.0
    by = {r["recipe"]: r for r in records}
    assert by["int8 sym channel"]["kl_mean"] < by["int2 sym channel"]["kl_mean"]
    assert abs(by["int4 sym g32"]["matrix_bits_per_weight"] - 4.5) < 1e-9
    assert records[0]["weight_sqnr_db"] is None  # infinite for the float model: JSON null
    assert by["int8 sym channel"]["weight_sqnr_db"] > by["int4 sym g32"]["weight_sqnr_db"] > by["int2 sym channel"]["weight_sqnr_db"]
    assert by["int4 sym g32"]["worst_tensor_sqnr_db"] <= by["int4 sym g32"]["weight_sqnr_db"] + 1e-9
    w8a8, w8a16 = by["int8 sym channel +int8 act"], by["int8 sym channel"]   # same bytes, activations rounded too
    assert w8a8["model_bytes"] == w8a16["model_bytes"] and w8a8["weight_sqnr_db"] == w8a16["weight_sqnr_db"]
    assert w8a8["kl_mean"] > 0
    assert (out / "tour.csv").read_text().splitlines()[0].startswith("recipe,")
    from matplotlib.image import imread

    for name, panels in (("knee.png", 3), ("memory.png", 1)):
        image = imread(out / name)                                    # a real PNG, not just bytes
        height, width = image.shape[:2]
        assert width >= 600 and height >= 300
        ink = (image[..., :3] < 0.9).any(axis=2)                    # non-white pixels: axes, lines, bars, text
        assert 0.01 < ink.mean() < 0.6
        colours = {tuple(v) for v in (image[..., :3].reshape(-1, 3)[::97] * 255).astype(int)}
        assert len(colours) > 8 * panels                              # several series, not one flat colour


def test_the_ledger_of_every_tour_recipe_is_what_the_shipped_model_holds():
    import numpy as np

    from miniquant import QTensor
    from miniquant.eval import memory_ledger
    from miniquant.eval.tour import default_recipes
    from miniquant.methods import quantize_model
    from miniquant.nn import load_default

    model = load_default()
    for recipe in default_recipes():
        params = quantize_model(model.params, recipe)
        held = 0
        for value in params.values():  # counted from the stored arrays themselves, not from .nbytes
            if isinstance(value, QTensor):
                held += value.packed.nbytes + value.stored_scale.nbytes
                held += 0 if value.zero_point_packed is None else value.zero_point_packed.nbytes
            else:
                held += np.asarray(value).nbytes
        assert memory_ledger(params).total_bytes == held, recipe.label()


def test_the_methods_tour_measures_each_method_against_its_rtn_baseline(tmp_path, capsys):
    config = GPTConfig(vocab_size=256, n_ctx=32, n_embd=32, n_head=2, n_layer=1)
    path = tmp_path / "m.npz"
    save_checkpoint(path, config, init_params(config, seed=1))
    out = tmp_path / "out"
    assert main(["tour", "--model", str(path), "--methods", "--quick", "--calibration-windows", "8", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Calibrated methods see 8 windows of 32 tokens from the training split" in text
    assert "What each method recovered" in text
    records = json.loads((out / "methods.json").read_text())
    by = {r["recipe"]: r for r in records}
    assert set(by) == {"float32", "int3 sym channel", "int3 sym channel gptq", "int3 sym channel gptq(act_order=True)",
                       "int3 sym channel awq", "int3 asym channel", "int3 asym channel hqq"}
    assert by["int3 sym channel gptq"]["method_seconds"] > 0 and by["int3 sym channel"]["method"] == "rtn"
    assert by["int3 sym channel gptq"]["model_bytes"] == by["int3 sym channel"]["model_bytes"]

    from miniquant.eval.tour import method_recovery
    rows = {r["recipe"]: r for r in method_recovery(records)}
    gptq = rows["int3 sym channel gptq"]
    assert gptq["baseline"] == "int3 sym channel"
    assert abs(gptq["recovered"] - (1 - by["int3 sym channel gptq"]["kl_mean"] / by["int3 sym channel"]["kl_mean"])) < 1e-12
    hqq = rows["int3 asym channel hqq"]
    assert hqq["baseline"] == "int3 asym channel" and "vs_sym_rtn" in hqq
