"""The public face: a light ``import miniquant``, subpackages served lazily, curated ``__all__`` lists."""
import importlib
import subprocess
import sys

import pytest


def _fresh(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_import_miniquant_is_light_and_serves_subpackages_lazily():
    out = _fresh(
        "import sys, miniquant as mq\n"
        "print('numba' in sys.modules, 'hypothesis' in sys.modules, 'miniquant.kernels' in sys.modules)\n"
        "print(mq.testing.check_quantizer.__name__, 'hypothesis' in sys.modules)\n"
        "print(mq.kernels.qmatmul.__name__, mq.nn.GPT.__name__, mq.methods.Recipe.__name__, mq.eval.run_tour.__name__)\n"
        "print(hasattr(mq, 'os'), 'testing' in dir(mq))\n"
    )
    assert out.splitlines() == ["False False False", "check_quantizer True", "qmatmul GPT Recipe run_tour", "False True"]


def test_an_unknown_attribute_is_an_attribute_error():
    import miniquant as mq

    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        mq.nothing


def test_a_missing_hypothesis_is_an_import_error_naming_the_extra():
    out = _fresh(
        "import sys\n"
        "sys.modules['hypothesis'] = None   # as if it were not installed\n"
        "import miniquant as mq\n"
        "try:\n"
        "    mq.testing\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert out == 'miniquant.testing needs Hypothesis, which is not installed: pip install "miniquant[testing]"'


@pytest.mark.parametrize("name", ["miniquant", "miniquant.quant", "miniquant.packing", "miniquant.kernels", "miniquant.nn",
                                  "miniquant.methods", "miniquant.eval", "miniquant.testing", "miniquant.files",
                                  "miniquant.formats"])
def test_every_name_in_all_exists(name):
    module = importlib.import_module(name)
    assert len(set(module.__all__)) == len(module.__all__)
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing


def test_what_the_tutorials_need_has_a_public_name():
    import json
    import pathlib
    import re

    private = re.compile(r"from miniquant\.(kernels\.(matmul|tiled|operands|fused)|eval\.(tour|quality|sensitivity|samples|compare)"
                         r"|nn\.(data|evaluate|io)) import")
    for path in sorted(pathlib.Path(__file__).parents[1].glob("tutorials/*.ipynb")):
        source = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
        assert not private.findall(source), path.name


def test_module_docstrings_name_test_files_that_exist():
    import pathlib
    import re

    root = pathlib.Path(__file__).parents[1]
    named = {m for path in (root / "miniquant").rglob("*.py") for m in re.findall(r"tests/[\w/]+\.py", path.read_text())}
    assert named and not sorted(p for p in named if not (root / p).exists())
