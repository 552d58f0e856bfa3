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
    assert "bigram baseline" in out and "held-out arithmetic" in out
    assert main(["generate", "--model", str(path), "--prompt", "Return", "--tokens", "5"]) == 0
    assert capsys.readouterr().out.startswith("Return")


def test_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--model", str(tmp_path / "nope.npz")])
