"""The command line: the README's main job runs, and bad arguments get clear errors."""
import subprocess
import sys

import pytest

from miniquant.cli import main


def test_tour_prints_the_table(capsys):
    assert main(["tour", "--shape", "128x16", "--bits", "8,4"]) == 0
    out = capsys.readouterr().out
    assert "bits_per_weight" in out and "sqnr_db" in out
    assert out.count("symmetric") >= 6  # 2 bit-widths x (symmetric, asymmetric) x 3 granularities
    assert "4.5" in out  # 4-bit group 32 with float16 scales


@pytest.mark.parametrize(
    "argv, message",
    [
        (["tour", "--bits", "9"], "every bit-width must be from 2 to 8"),
        (["tour", "--shape", "10by3"], "shape must look like 1024x256"),
        (["tour", "--shape", "100x8"], "group_size 32 does not divide the length 100"),
        (["tour", "--clip", "max"], "invalid choice: 'max'"),
    ],
)
def test_bad_arguments_are_named(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "miniquant", "tour", "--shape", "64x8", "--bits", "4"], capture_output=True, text=True, check=True)
    assert "granularity" in result.stdout
