"""Every tutorial runs top to bottom in a clean kernel, committed without outputs."""
import pathlib
import time

import nbformat
import pytest
from nbclient import NotebookClient

TUTORIALS = sorted((pathlib.Path(__file__).parents[2] / "tutorials").glob("[0-9][0-9]_*.ipynb"))
#: Seconds any single cell may take; each tutorial is meant to finish in well under a minute.
CELL_TIMEOUT = 180


def test_there_are_tutorials():
    assert len(TUTORIALS) >= 4


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: clear outputs before committing"


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_executes(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    elapsed = time.perf_counter() - start
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    print(f"{path.name}: {elapsed:.1f} s")


def _cell_defining(path, name: str) -> str:
    nb = nbformat.read(path, as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code" and f"def {name}(" in c.source)


@pytest.mark.parametrize("stem, call", [
    ("01_what_is_quantization", dict(bits=3, scheme="symmetric")),
    ("02_symmetric_vs_asymmetric", dict(bits=4, scheme="asymmetric")),
    ("03_granularity_and_outliers", dict(bits=4, scheme="symmetric", granularity="channel")),
])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_quantizers_a_tutorial_calls_correct_are(stem, call, seed):
    """What a tutorial presents as having every property must survive the arrays that broke it (issue 11, 12)."""
    import numpy as np

    from miniquant.testing import check_quantizer

    path = next(p for p in TUTORIALS if p.stem == stem)
    source = _cell_defining(path, "my_quantize")
    namespace = {"np": np}
    exec(source.split("check_quantizer(")[0], namespace)          # the definitions, not the notebook's own call
    check_quantizer(namespace["my_quantize"], namespace["my_dequantize"], **call, seed=seed, max_examples=200,
                    kinds=("subnormal_scales", "zeros", "tiny", "float16_subnormal_scales"))
