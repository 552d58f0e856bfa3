"""Progress bars come from tqdm: on standard error when enabled, nothing at all when not."""
from miniquant.progress import progress_bar


def test_an_enabled_bar_reports_on_stderr_and_a_disabled_one_is_silent(capsys):
    assert list(progress_bar(range(3), desc="work", enabled=False)) == [0, 1, 2]
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    bar = progress_bar(range(3), desc="work", unit="step")
    for _ in bar:
        bar.set_postfix_str("loss 1.0")
    bar.close()
    out = capsys.readouterr()
    assert out.out == "" and "work" in out.err and "3/3" in out.err
