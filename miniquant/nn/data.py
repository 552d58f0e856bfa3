"""Training text that every Python installation has: standard-library docstrings plus arithmetic.

Nothing is downloaded. Two sources:

* **docstrings** of the running Python's standard library, read with ``ast`` from the source
  files (nothing is imported, so no module runs). Tests, demos, ``site-packages`` and GUI
  packages are skipped; docstrings that are mostly non-ASCII are dropped. Each module goes
  to the validation split when ``crc32(module name) % 10 == 0`` (about a tenth), so no module
  is split between train and validation and the split is the same on every machine with the
  same Python version.
* **arithmetic** lines such as ``"47+38=85"`` and ``"91-56=35"``: every problem with operands
  up to 99, shuffled by a seed. A problem belongs to the held-out split when
  ``crc32("47+38=") % 10 == 0``, so a held-out problem never appears in training.

Tests: ``tests/nn/test_data.py``.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import os
import sysconfig
import zlib

import numpy as np

SKIP_DIRS = {"site-packages", "test", "tests", "idlelib", "__pycache__", "lib2to3", "turtledemo", "tkinter", "ensurepip", "pydoc_data"}


def _module_name(path: str, root: str) -> str:
    rel = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
    return rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


def _is_english(text: str) -> bool:
    return sum(ch.isascii() for ch in text) >= 0.97 * len(text)


def _docstrings(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    nodes = [tree] + [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    docs = []
    for node in nodes:
        doc = ast.get_docstring(node, clean=True)
        if doc and len(doc) >= 20 and _is_english(doc):
            docs.append(doc)
    return docs


def in_validation(key: str) -> bool:
    """The deterministic split rule: ``crc32(key) % 10 == 0``."""
    return zlib.crc32(key.encode("utf-8")) % 10 == 0


def stdlib_docstrings(stdlib_dir: str | None = None) -> dict[str, list[str]]:
    """Docstrings of every standard-library module, by module name, in sorted order.

    The installed standard library (``stdlib_dir=None``) is parsed once per process -- it takes a few
    seconds and cannot change while Python runs -- and each call gets its own copy; a folder given as
    ``stdlib_dir`` is read on every call.
    """
    if stdlib_dir is None:
        return {module: list(docs) for module, docs in _installed_stdlib_docstrings().items()}
    return _read_docstrings(stdlib_dir)


@functools.lru_cache(maxsize=1)
def _installed_stdlib_docstrings() -> dict[str, tuple[str, ...]]:
    return {module: tuple(docs) for module, docs in _read_docstrings(sysconfig.get_paths()["stdlib"]).items()}


def _read_docstrings(root: str) -> dict[str, list[str]]:
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("test"))
        for name in sorted(filenames):
            if not name.endswith(".py") or name.startswith("test_"):
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8", errors="replace") as fh:
                docs = _docstrings(fh.read())
            if docs:
                found[_module_name(path, root)] = docs
    return dict(sorted(found.items()))


def all_arithmetic_problems(max_value: int = 99) -> list[str]:
    """Every distinct problem ``"a+b=c"`` and ``"a-b=c"`` (``a >= b``) with operands up to ``max_value``."""
    r = range(max_value + 1)
    return [f"{a}+{b}={a + b}" for a in r for b in r] + [f"{a}-{b}={a - b}" for a in r for b in r if b <= a]


def arithmetic_problems(n: int | None = None, *, seed: int = 0, max_value: int = 99, held_out: bool = False) -> list[str]:
    """Arithmetic lines of one split, shuffled by ``seed``: all of them, or the first ``n``.

    The split of a problem is ``in_validation("a+b=")`` (held out) or not (training), so the
    two never share a problem. With ``max_value = 99`` there are 15,050 problems, about a
    tenth of them held out.
    """
    problems = [p for p in all_arithmetic_problems(max_value) if in_validation(p.split("=")[0] + "=") == held_out]
    order = np.random.default_rng(seed).permutation(len(problems))
    if n is not None and not 0 <= n <= len(problems):
        raise ValueError(f"n must be between 0 and {len(problems)} (the problems in this split), got {n}")
    return [problems[i] for i in order[:n]]


@dataclasses.dataclass(frozen=True)
class Corpus:
    """The text splits: docstrings and arithmetic, each with train and validation parts."""

    docs_train: str
    docs_val: str
    arith_train: list[str]
    arith_val: list[str]

    def describe(self) -> str:
        return (
            f"docstrings: {len(self.docs_train):,} train / {len(self.docs_val):,} validation characters; "
            f"arithmetic: {len(self.arith_train):,} train / {len(self.arith_val):,} held-out problems"
        )


def build_corpus(*, seed: int = 0, max_value: int = 99) -> Corpus:
    """Docstrings split by module, and every arithmetic problem split by problem (module docstring)."""
    docs = stdlib_docstrings()
    train = [d for mod, ds in docs.items() if not in_validation(mod) for d in ds]
    val = [d for mod, ds in docs.items() if in_validation(mod) for d in ds]
    return Corpus(
        docs_train="\n\n".join(train), docs_val="\n\n".join(val),
        arith_train=arithmetic_problems(seed=seed, max_value=max_value),
        arith_val=arithmetic_problems(seed=seed, max_value=max_value, held_out=True),
    )
