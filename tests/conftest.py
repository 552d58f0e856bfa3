"""Shared fixtures and the Hypothesis profiles.

Profiles: ``dev`` (fast, the default on a laptop) and ``ci`` (derandomized, more
examples; chosen when the ``CI`` environment variable is set, or with
``HYPOTHESIS_PROFILE=ci``).
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# ci: 200 examples per property (300 took the whole run to 22 minutes on a 2-core Intel machine,
# with each kit example now calling a quantizer three times: x, -x and x_hat).
settings.register_profile(
    "ci",
    max_examples=200,
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def rng():
    """A seeded generator: every random test is reproducible."""
    return np.random.default_rng(20261127)


def pytest_collection_modifyitems(config, items):
    """Run each tutorial once per session: when the documentation site is built in the same run (it
    executes every notebook, and a failing cell fails the build), ``tests/tutorials`` does not execute
    them a second time. ``pytest tests/tutorials`` alone still executes them; ``MINIQUANT_RUN_TUTORIALS_TWICE=1``
    forces both."""
    import importlib.util

    docs_built = any(item.nodeid.startswith("tests/docs/test_site.py") for item in items)
    docs_extra = all(importlib.util.find_spec(m) is not None for m in ("sphinx", "myst_nb"))
    if not (docs_built and docs_extra) or os.environ.get("MINIQUANT_RUN_TUTORIALS_TWICE"):
        return
    skip = pytest.mark.skip(reason="executed by the documentation build in this run (tests/docs/test_site.py)")
    for item in items:
        if item.nodeid.startswith("tests/tutorials/test_tutorials.py::test_tutorial_executes"):
            item.add_marker(skip)
