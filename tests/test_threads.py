"""OpenBLAS's thread timeout reaches OpenBLAS whatever the import order (and a user's own value wins)."""
import json
import os
import subprocess
import sys

import pytest

SNIPPET = """
import json, sys
order = sys.argv[1]
if order == "numpy-first":
    import numpy as np
    a = np.ones((2048, 2048), np.float32); v = np.ones(2048, np.float32)
    y = a @ v                                   # OpenBLAS's threads exist and have run
    import miniquant
else:
    import miniquant
    import numpy as np
    a = np.ones((2048, 2048), np.float32); v = np.ones(2048, np.float32)
from miniquant._threads import openblas_thread_timeouts
y = a @ v
assert float(y[0]) == 2048.0                    # BLAS still computes after its threads were restarted
print(json.dumps(list(openblas_thread_timeouts().values())))
"""


def _timeouts(order, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY")}
    result = subprocess.run([sys.executable, "-c", SNIPPET, order], env={**base, **env}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_timeout_reaches_openblas_in_either_import_order():
    first = _timeouts("numpy-first")
    if not first:
        pytest.skip("NumPy does not use OpenBLAS here")
    assert first == [4] * len(first)
    assert _timeouts("miniquant-first") == [4] * len(first)


def test_a_users_own_timeout_is_left_alone():
    got = _timeouts("numpy-first", OPENBLAS_THREAD_TIMEOUT="10")
    if not got:
        pytest.skip("NumPy does not use OpenBLAS here")
    assert got == [10] * len(got)
