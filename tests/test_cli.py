"""The command line: the README's main job runs, and bad arguments get clear errors."""
import subprocess
import sys

import pytest

from miniquant.cli import main


def test_table_prints_the_error_table(capsys):
    assert main(["table", "--shape", "128x16", "--bits", "8,4"]) == 0
    out = capsys.readouterr().out
    assert "bits_per_weight" in out and "sqnr_db" in out
    assert out.count("symmetric") >= 6  # 2 bit-widths x (symmetric, asymmetric) x 3 granularities
    assert "4.5" in out  # 4-bit group 32 with float16 scales


@pytest.mark.parametrize(
    "argv, message",
    [
        (["table", "--bits", "9"], "every bit-width must be from 2 to 8"),
        (["table", "--shape", "10by3"], "shape must look like 1024x256"),
        (["table", "--shape", "100x8"], "group_size 32 does not divide the length 100"),
        (["table", "--clip", "max"], "invalid choice: 'max'"),
    ],
)
def test_bad_arguments_are_named(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "miniquant", "table", "--shape", "64x8", "--bits", "4"], capture_output=True, text=True, check=True)
    assert "granularity" in result.stdout


def test_eval_and_generate_on_a_checkpoint(tmp_path, capsys):
    from miniquant.nn import GPTConfig, init_params, save_checkpoint

    config = GPTConfig(vocab_size=256, n_ctx=32, n_embd=16, n_head=2, n_layer=1)
    path = tmp_path / "m.npz"
    save_checkpoint(path, config, init_params(config))
    assert main(["eval", "--model", str(path), "--max-bytes", "2000", "--arith-problems", "5"]) == 0
    out = capsys.readouterr().out
    assert "bigram" in out and "held-out arithmetic" in out and "kl_mean" not in out
    assert main(["generate", "--model", str(path), "--prompt", "Return", "--tokens", "5"]) == 0
    assert capsys.readouterr().out.startswith("Return")


def test_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "--model", str(tmp_path / "nope.npz")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == f"miniquant eval: error: checkpoint '{tmp_path / 'nope.npz'}' does not exist"


@pytest.fixture
def tiny_checkpoint(tmp_path):
    from miniquant.nn import GPTConfig, init_params, save_checkpoint

    config = GPTConfig(vocab_size=256, n_ctx=32, n_embd=32, n_head=2, n_layer=1)
    path = tmp_path / "float.npz"
    save_checkpoint(path, config, init_params(config, seed=3))
    return path


def test_quantize_then_eval_and_generate_against_the_float_original(tiny_checkpoint, tmp_path, capsys):
    from miniquant.eval.memory import memory_ledger
    from miniquant.nn import load_checkpoint

    qpath = tmp_path / "int4.npz"
    assert main(["quantize", "--model", str(tiny_checkpoint), "--bits", "4", "--group-size", "32", "--out", str(qpath)]) == 0
    out = capsys.readouterr().out
    _, params, meta = load_checkpoint(qpath)
    held = memory_ledger(params).total_bytes
    assert f"int4 sym g32: {held:,} bytes held" in out
    assert meta["recipe"] == "int4 sym g32" and meta["source"]["path"] == "float.npz"
    assert meta["source"]["size"] == tiny_checkpoint.stat().st_size and len(meta["source"]["sha256"]) == 64
    assert params["h.0.mlp.c_fc.weight"].spec.bits == 4 and params["wte"].dtype.name == "float32"

    assert main(["eval", "--model", str(qpath), "--max-bytes", "3000", "--arith-problems", "4", "--kl-windows", "2"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith(("float32 ", "int4 sym g32 "))]
    assert [r[0] for r in rows] == ["float32", "int4"] and "kl_mean" in out
    assert int(rows[1][3]) == held  # the bytes column is the ledger of what is held

    assert main(["generate", "--model", str(qpath), "--prompt", "Re", "--tokens", "6", "--temperature", "0"]) == 0
    out = capsys.readouterr().out
    assert "--- float32 ---" in out and "--- int4 sym g32 ---" in out and "agree on the first" in out


def test_quantize_with_a_quantized_head_and_generate_from_it(tiny_checkpoint, tmp_path, capsys):
    from miniquant import QTensor
    from miniquant.nn import load_checkpoint

    qpath = tmp_path / "int4-head.npz"
    assert main(["quantize", "--model", str(tiny_checkpoint), "--bits", "4", "--group-size", "32", "--head", "8",
                 "--out", str(qpath)]) == 0
    out = capsys.readouterr().out
    _, params, meta = load_checkpoint(qpath)
    assert meta["recipe"] == "int4 sym g32 +head int8 sym channel" and "wpe, LayerNorms and biases in float" in out
    assert isinstance(params["wte"], QTensor) and params["wte"].spec.axis == 1 and params["wte"].spec.bits == 8
    assert main(["generate", "--model", str(qpath), "--prompt", "Re", "--tokens", "4", "--temperature", "0"]) == 0
    assert "--- int4 sym g32 +head int8 sym channel ---" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["quantize", "--model", str(tiny_checkpoint), "--bits", "4", "--head", "9", "--out", str(qpath)])
    assert "--head must be 'same' or a bit-width 2..8, got '9'" in capsys.readouterr().err


def test_eval_quantizes_on_the_fly_and_sensitivity_ranks(tiny_checkpoint, capsys):
    assert main(["eval", "--model", str(tiny_checkpoint), "--bits", "8", "--max-bytes", "2000", "--arith-problems", "2",
                 "--kl-windows", "2"]) == 0
    assert "int8 sym channel" in capsys.readouterr().out
    assert main(["sensitivity", "--model", str(tiny_checkpoint), "--bits", "3", "--windows", "1", "--problems", "2",
                 "--counts", "0,1"]) == 0
    out = capsys.readouterr().out
    for name in ("h.0.attn.c_attn.weight", "h.0.mlp.c_proj.weight", "int3 sym channel +1 at int8", "int8 sym channel", "int4 sym channel"):
        assert name in out


def test_quantize_with_gptq_records_the_method_and_its_calibration(tiny_checkpoint, tmp_path, capsys):
    from miniquant.nn import load_checkpoint

    qpath = tmp_path / "gptq.npz"
    assert main(["quantize", "--model", str(tiny_checkpoint), "--bits", "3", "--method", "gptq", "--method-option",
                 "damp=0.05", "--calibration-windows", "4", "--calibration-seed", "7", "--out", str(qpath)]) == 0
    out = capsys.readouterr().out
    assert "on 4 calibration windows x 32 tokens of the training split" in out
    _, params, meta = load_checkpoint(qpath)
    assert meta["recipe"] == "int3 sym channel gptq(damp=0.05)"
    method = meta["method"]
    assert method["method"] == "gptq" and method["options"]["damp"] == 0.05
    assert method["calibration"]["windows"] == 4 and method["calibration"]["seed"] == 7
    assert method["calibration"]["source"] == "mix" and len(method["calibration"]["sha256"]) == 64
    assert main(["eval", "--model", str(qpath), "--max-bytes", "2000", "--arith-problems", "2", "--kl-windows", "2"]) == 0
    assert "int3 sym channel gptq(damp=0.05)" in capsys.readouterr().out
    assert main(["sensitivity", "--model", str(tiny_checkpoint), "--bits", "3", "--method", "gptq", "--calibration-windows",
                 "2", "--windows", "1", "--problems", "2", "--counts", "0"]) == 0
    assert "int3 sym channel gptq" in capsys.readouterr().out


def test_eval_with_int8_activations(tiny_checkpoint, tmp_path, capsys):
    assert main(["eval", "--model", str(tiny_checkpoint), "--bits", "4", "--group-size", "32", "--activations", "int8",
                 "--max-bytes", "2000", "--arith-problems", "2", "--kl-windows", "2"]) == 0
    assert "int4 sym g32 +int8 act" in capsys.readouterr().out
    qpath = tmp_path / "q.npz"
    assert main(["quantize", "--model", str(tiny_checkpoint), "--bits", "8", "--out", str(qpath)]) == 0
    assert main(["generate", "--model", str(qpath), "--activations", "int8", "--prompt", "Re", "--tokens", "4"]) == 0
    assert "--- int8 sym channel +int8 act ---" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["eval", "--activations", "int8"], "activations='int8' needs a quantized model"),
        (["eval", "--bits", "3", "--activations", "int8"], "int8 activations need a 4-bit weight (W4A8) or an 8-bit one"),
        (["eval", "--bits", "8", "--group-size", "32", "--activations", "int8"], "W8A8 needs an 8-bit symmetric weight"),
        (["quantize", "--bits", "4", "--group-size", "48", "--out", "x.npz"], "group_size 48 must divide the K of every quantized matrix"),
        (["eval", "--group-size", "32"], "--group-size needs --bits"),
        (["quantize", "--bits", "9", "--out", "x.npz"], "invalid choice: 9"),
        (["quantize", "--bits", "4"], "the following arguments are required: --out"),
        (["quantize", "--bits", "3", "--protect", "h0.*", "--out", "x.npz"], "protect pattern 'h0.*' matches no weight matrix"),
        (["quantize", "--bits", "4", "--method", "gptq", "--method-option", "iters=3", "--out", "x.npz"],
         "method 'gptq' has no option 'iters'"),
        (["quantize", "--bits", "4", "--group-size", "32", "--method", "gptq", "--method-option", "act_order=true",
          "--out", "x.npz"], "act_order=True with granularity='group' needs static_groups=True"),
        (["quantize", "--bits", "4", "--method-option", "damp", "--out", "x.npz"], "must look like KEY=VALUE"),
        (["quantize", "--bits", "4", "--method", "llm_int9", "--out", "x.npz"], "invalid choice: 'llm_int9'"),
        (["quantize", "--bits", "4", "--method", "smoothquant", "--out", "x.npz"], "it needs activations='int8'"),
        (["eval", "--method", "gptq"], "--method and --method-option need --bits"),
        (["quantize", "--bits", "4", "--method", "hqq", "--method-option", "iters=0", "--out", "x.npz"],
         "iters must be a positive integer, got 0"),
    ],
)
def test_recipe_options_are_checked(argv, message, tiny_checkpoint, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv[:1] + ["--model", str(tiny_checkpoint)] + argv[1:])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_quantized_model_is_not_quantized_again(tiny_checkpoint, tmp_path, capsys):
    qpath = tmp_path / "q.npz"
    assert main(["quantize", "--model", str(tiny_checkpoint), "--bits", "8", "--out", str(qpath)]) == 0
    for argv in (["quantize", "--bits", "4", "--out", str(tmp_path / "qq.npz")], ["eval", "--bits", "4"]):
        with pytest.raises(SystemExit):
            main(argv[:1] + ["--model", str(qpath)] + argv[1:])
        assert "is already quantized" in capsys.readouterr().err


def test_a_quantized_model_whose_float_source_is_gone_is_a_clear_error(tiny_checkpoint, tmp_path, capsys):
    qpath = tmp_path / "q.npz"
    assert main(["quantize", "--model", str(tiny_checkpoint), "--bits", "8", "--out", str(qpath)]) == 0
    tiny_checkpoint.unlink()
    with pytest.raises(SystemExit):
        main(["eval", "--model", str(qpath)])
    assert "was quantized from float.npz, which is not there any more" in capsys.readouterr().err


# -- nothing lost (issue 11, defect 1) ---------------------------------------------------------

def test_quantize_refuses_to_overwrite_its_source(tiny_checkpoint, capsys):
    before = tiny_checkpoint.read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        main(["quantize", "--model", str(tiny_checkpoint), "--bits", "4", "--out", str(tiny_checkpoint)])
    assert exit_info.value.code == 2
    assert "is the same file as the input" in capsys.readouterr().err
    assert tiny_checkpoint.read_bytes() == before


def test_quantize_refuses_the_shipped_model_as_out(capsys):
    from miniquant.nn.io import DEFAULT_PATH

    with pytest.raises(SystemExit):
        main(["quantize", "--bits", "4", "--out", DEFAULT_PATH])
    assert "is the same file as the input" in capsys.readouterr().err


def test_quantize_writes_exactly_the_path_given(tiny_checkpoint, tmp_path, capsys):
    import os

    out = tmp_path / "model"                     # no suffix: written as given, and loadable
    assert main(["quantize", "--model", str(tiny_checkpoint), "--bits", "8", "--out", str(out)]) == 0
    assert sorted(os.listdir(tmp_path)) == ["float.npz", "model"]
    assert main(["eval", "--model", str(out), "--max-bytes", "2000", "--arith-problems", "2", "--kl-windows", "1"]) == 0
    folder = tmp_path / "somedir"
    folder.mkdir()
    with pytest.raises(SystemExit):
        main(["quantize", "--model", str(tiny_checkpoint), "--bits", "8", "--out", str(folder)])
    assert "is a directory" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["float.npz", "model", "somedir"]


# -- one-line errors, checked up front (defect 5) ----------------------------------------------

def _error_of(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err.splitlines()[-1]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not an .npz (zip) archive"),
        (b"PK\x03\x04 truncated", "is not a readable miniquant checkpoint"),
        (b"hello, I am text\n", "not an .npz (zip) archive"),
    ],
)
def test_corrupt_model_files_get_one_line(content, message, tmp_path, capsys):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    assert message in _error_of(["eval", "--model", str(path)], capsys)


def test_a_truncated_checkpoint_or_a_npy_or_a_header_without_meta(tiny_checkpoint, tmp_path, capsys):
    import json

    import numpy as np

    cut = tmp_path / "cut.npz"
    cut.write_bytes(tiny_checkpoint.read_bytes()[:2000])
    assert "is not a readable miniquant checkpoint" in _error_of(["eval", "--model", str(cut)], capsys)
    npy = tmp_path / "w.npy"
    np.save(npy, np.zeros(3))
    assert "not an .npz (zip) archive" in _error_of(["generate", "--model", str(npy)], capsys)
    with np.load(tiny_checkpoint) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(str(arrays["__header__"]))
    del header["meta"]
    arrays["__header__"] = np.array(json.dumps(header))
    nometa = tmp_path / "nometa.npz"
    np.savez(nometa, **arrays)
    assert "has a corrupt header: it has no 'meta' object" in _error_of(["eval", "--model", str(nometa)], capsys)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["eval", "--arith-problems", "0"], "argument --arith-problems: must be an integer >= 1, got 0"),
        (["eval", "--max-bytes", "0"], "argument --max-bytes: must be an integer >= 1, got 0"),
        (["eval", "--max-bytes", "-5"], "argument --max-bytes: must be an integer >= 1, got -5"),
        (["eval", "--max-bytes", "20"], "max_bytes must be an integer >= 33 or None, got 20"),
        (["eval", "--kl-windows", "0"], "argument --kl-windows: must be an integer >= 1, got 0"),
        (["train", "--log-every", "0", "--out", "x.npz"], "argument --log-every: must be an integer >= 1, got 0"),
        (["train", "--steps", "0", "--out", "x.npz"], "argument --steps: must be an integer >= 1, got 0"),
        (["train", "--lr", "nan", "--out", "x.npz"], "argument --lr: must be a finite number > 0, got 'nan'"),
        (["generate", "--tokens", "0"], "argument --tokens: must be an integer >= 1, got 0"),
        (["generate", "--temperature", "nan"], "argument --temperature: must be a finite number >= 0, got 'nan'"),
        (["generate", "--temperature", "-1"], "argument --temperature: must be a finite number >= 0, got '-1'"),
        (["generate", "--top-k", "0"], "argument --top-k: must be an integer >= 1, got 0"),
        (["generate", "--prompt", ""], "--prompt must not be empty"),
        (["generate", "--prompt", "x" * 40], "--prompt is 40 bytes; the model's context is 32, so it must be shorter"),
        (["sensitivity", "--bits", "3", "--counts", "1,-1"], "counts must not be negative"),
        (["bench", "--reps", "0"], "argument --reps: must be an integer >= 1, got 0"),
        (["eval", "--protect", "h.0.*"], "--protect needs --bits"),
    ],
)
def test_options_are_checked_before_any_work(argv, message, tiny_checkpoint, capsys):
    needs_model = argv[0] in ("eval", "generate", "sensitivity")
    full = argv[:1] + (["--model", str(tiny_checkpoint)] if needs_model else []) + argv[1:]
    assert message in _error_of(full, capsys)


def test_unwritable_outputs_fail_before_the_run(tmp_path, capsys):
    import time

    afile = tmp_path / "a-file"
    afile.write_text("x")
    missing = tmp_path / "no" / "such" / "folder"
    for argv, message in [
        (["train", "--out", str(missing / "m.npz")], "does not exist"),
        (["train", "--out", str(tmp_path)], "is a directory"),
        (["tour", "--out", str(afile)], "is a file; give a folder"),
        (["bench", "--json", str(missing / "b.json")], "does not exist"),
    ]:
        t0 = time.perf_counter()
        assert message in _error_of(argv, capsys)
        assert time.perf_counter() - t0 < 5  # refused up front, not after the run


# -- the float source of a quantized checkpoint (defect 6) --------------------------------------

def test_the_float_source_is_found_beside_the_checkpoint_and_checked(tiny_checkpoint, tmp_path, capsys):
    import os
    import shutil

    qpath = tmp_path / "q.npz"
    assert main(["quantize", "--model", str(tiny_checkpoint), "--bits", "8", "--out", str(qpath)]) == 0
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.move(qpath, moved / "q.npz")
    shutil.move(tiny_checkpoint, moved / "float.npz")      # both moved together: still found
    capsys.readouterr()
    assert main(["eval", "--model", str(moved / "q.npz"), "--max-bytes", "2000", "--arith-problems", "2",
                 "--kl-windows", "1"]) == 0
    # another file in the source's place is refused, whatever it holds
    from miniquant.nn import GPTConfig, init_params, save_checkpoint

    config = GPTConfig(vocab_size=256, n_ctx=32, n_embd=32, n_head=2, n_layer=1)
    save_checkpoint(moved / "float.npz", config, init_params(config, seed=4))
    assert "is not the float model" in _error_of(["eval", "--model", str(moved / "q.npz")], capsys)
    os.unlink(moved / "float.npz")
    os.mkfifo(moved / "float.npz")                          # a FIFO would hang open(): refused at once
    assert "is not a regular file" in _error_of(["eval", "--model", str(moved / "q.npz")], capsys)


def test_a_checkpoint_without_a_recorded_source_hash_is_refused(tiny_checkpoint, tmp_path, capsys):
    from miniquant.methods import make_recipe, quantize_model
    from miniquant.nn import load_checkpoint, save_checkpoint

    config, params, _ = load_checkpoint(tiny_checkpoint)
    old = tmp_path / "old.npz"
    save_checkpoint(old, config, quantize_model(params, make_recipe(8)), {"recipe": "int8", "source": "/etc/passwd"})
    assert "does not record the size and hash of its float source" in _error_of(["eval", "--model", str(old)], capsys)


def test_export_gguf_then_generate_and_eval_from_the_file(tiny_checkpoint, tmp_path, capsys):
    import numpy as np

    from miniquant.nn import load_gguf, load_model

    out = tmp_path / "tiny.gguf"
    assert main(["export-gguf", "--model", str(tiny_checkpoint), "--type", "Q8_0", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "Q8_0" in printed and "architecture gpt2" in printed
    ids = np.array([[1, 2, 3, 4]])
    np.testing.assert_allclose(load_gguf(out).forward(ids), load_model(tiny_checkpoint).forward(ids), atol=0.5)
    assert main(["generate", "--model", str(out), "--prompt", "Re", "--tokens", "4", "--temperature", "0"]) == 0
    assert main(["eval", "--model", str(out), "--max-bytes", "1000", "--arith-problems", "2"]) == 0
    with pytest.raises(SystemExit):
        main(["export-gguf", "--type", "Q4_K_X", "--out", str(tmp_path / "x.gguf")])
    assert "invalid choice: 'Q4_K_X'" in capsys.readouterr().err
