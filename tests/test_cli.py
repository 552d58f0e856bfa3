"""The command line: the README's main job runs, and bad arguments get clear errors."""
import subprocess
import sys

import pytest

from miniquant.cli import main


def test_tour_prints_the_table(capsys):
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
    with pytest.raises(SystemExit):
        main(["eval", "--model", str(tmp_path / "nope.npz")])


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
    assert meta["recipe"] == "int4 sym g32" and meta["source"] == str(tiny_checkpoint)
    assert params["h.0.mlp.c_fc.weight"].spec.bits == 4 and params["wte"].dtype.name == "float32"

    assert main(["eval", "--model", str(qpath), "--max-bytes", "3000", "--arith-problems", "4", "--kl-windows", "2"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith(("float32 ", "int4 sym g32 "))]
    assert [r[0] for r in rows] == ["float32", "int4"] and "kl_mean" in out
    assert int(rows[1][3]) == held  # the bytes column is the ledger of what is held

    assert main(["generate", "--model", str(qpath), "--prompt", "Re", "--tokens", "6", "--temperature", "0"]) == 0
    out = capsys.readouterr().out
    assert "--- float32 ---" in out and "--- int4 sym g32 ---" in out and "agree on the first" in out


def test_eval_quantizes_on_the_fly_and_sensitivity_ranks(tiny_checkpoint, capsys):
    assert main(["eval", "--model", str(tiny_checkpoint), "--bits", "8", "--max-bytes", "2000", "--arith-problems", "2",
                 "--kl-windows", "2"]) == 0
    assert "int8 sym channel" in capsys.readouterr().out
    assert main(["sensitivity", "--model", str(tiny_checkpoint), "--bits", "3", "--windows", "1", "--problems", "2",
                 "--counts", "0,1"]) == 0
    out = capsys.readouterr().out
    for name in ("h.0.attn.c_attn.weight", "h.0.mlp.c_proj.weight", "int3 sym channel +1 at int8", "int8 sym channel", "int4 sym channel"):
        assert name in out


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
        (["eval", "--activations", "int8"], "--activations int8 needs a quantized model"),
        (["eval", "--bits", "3", "--activations", "int8"], "int8 activations need a 4-bit weight (W4A8) or an 8-bit one"),
        (["eval", "--bits", "8", "--group-size", "32", "--activations", "int8"], "W8A8 needs an 8-bit symmetric weight"),
        (["quantize", "--bits", "4", "--group-size", "48", "--out", "x.npz"], "--group-size 48 must divide the K of every quantized matrix"),
        (["eval", "--group-size", "32"], "--group-size needs --bits"),
        (["quantize", "--bits", "9", "--out", "x.npz"], "invalid choice: 9"),
        (["quantize", "--bits", "4"], "the following arguments are required: --out"),
        (["quantize", "--bits", "3", "--protect", "h0.*", "--out", "x.npz"], "--protect 'h0.*' matches no weight matrix"),
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
    assert f"was quantized from {tiny_checkpoint}, which is not there any more" in capsys.readouterr().err
