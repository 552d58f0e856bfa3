"""The corpus: deterministic, split without leaks, and built only from local files."""
import numpy as np
import pytest

from miniquant.nn.data import all_arithmetic_problems, arithmetic_problems, build_corpus, in_validation, stdlib_docstrings


def test_arithmetic_is_correct_and_splits_do_not_share_problems():
    train, val = arithmetic_problems(seed=0), arithmetic_problems(seed=0, held_out=True)
    assert len(train) + len(val) == len(all_arithmetic_problems()) == 100 * 100 + 100 * 101 // 2
    assert not {p.split("=")[0] for p in train} & {p.split("=")[0] for p in val}
    for line in train[:500] + val:
        lhs, rhs = line.split("=")
        assert eval(lhs) == int(rhs) >= 0  # noqa: S307 - our own generated digits and +/-
    assert 0.07 < len(val) / (len(train) + len(val)) < 0.13


def test_arithmetic_is_seeded():
    assert arithmetic_problems(50, seed=1) == arithmetic_problems(50, seed=1)
    assert arithmetic_problems(50, seed=1) != arithmetic_problems(50, seed=2)
    with pytest.raises(ValueError, match="n must be between 0 and"):
        arithmetic_problems(10**6)


def test_docstrings_are_read_without_importing(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text('"""A package docstring long enough to keep."""\n')
    (tmp_path / "mod.py").write_text(
        '"""Module docstring long enough to keep."""\nraise SystemExit("never run")\n'
        'def f():\n    """Function docstring long enough to keep."""\n'
    )
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "t.py").write_text('"""A test module docstring that is skipped."""\n')
    (tmp_path / "broken.py").write_text("def (:\n")
    docs = stdlib_docstrings(str(tmp_path))
    assert docs == {"mod": ["Module docstring long enough to keep.", "Function docstring long enough to keep."],
                    "pkg": ["A package docstring long enough to keep."]}


def test_real_corpus_splits_by_module():
    docs = stdlib_docstrings()
    assert len(docs) > 200
    val_modules = [m for m in docs if in_validation(m)]
    assert 0.05 < len(val_modules) / len(docs) < 0.15
    corpus = build_corpus()
    assert len(corpus.docs_train) > 5 * len(corpus.docs_val) > 0
    first_val_doc = docs[val_modules[0]][0]
    assert first_val_doc in corpus.docs_val and first_val_doc not in corpus.docs_train
    assert "docstrings:" in corpus.describe()
