"""GPT-2 byte-level BPE: GPT-2's pre-tokenization, merges by rank, and lossless round trips."""
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from miniquant.nn import BPETokenizer
from miniquant.nn.bpe import byte_to_unicode, pretokenize


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    symbols = list(byte_to_unicode().values())
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("in", "g")]
    vocab = {s: i for i, s in enumerate(symbols + ["Ġt", "he", "Ġthe", "in", "ing"])}
    d = tmp_path_factory.mktemp("bpe")
    (d / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (d / "merges.txt").write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n", encoding="utf-8")
    return BPETokenizer.from_files(d / "vocab.json", d / "merges.txt"), vocab


def test_pretokenize_like_gpt2():
    assert pretokenize("Hello world! It's  2024.") == ["Hello", " world", "!", " It", "'s", " ", " 2024", "."]
    assert pretokenize("a\n\nb  ") == ["a", "\n", "\n", "b", "  "]
    assert pretokenize("naïve café ١٢٣") == ["naïve", " café", " ١٢٣"]


def test_merges_apply_by_rank(tokenizer):
    tok, vocab = tokenizer
    assert tok.encode(" the") == [vocab["Ġthe"]]
    assert tok.encode("sing") == [vocab["s"], vocab["ing"]]
    assert tok.encode("he") == [vocab["he"]]


@given(text=st.text())
def test_round_trip_unicode(tokenizer, text):
    tok, _ = tokenizer
    assert tok.decode(tok.encode(text)) == text


def test_bad_files_and_ids(tokenizer, tmp_path):
    tok, _ = tokenizer
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.decode([10**6])
    (tmp_path / "v.json").write_text(json.dumps({"a": 0}), encoding="utf-8")
    (tmp_path / "m.txt").write_text("a b c\n", encoding="utf-8")
    with pytest.raises(ValueError, match="expected two symbols"):
        BPETokenizer.from_files(tmp_path / "v.json", tmp_path / "m.txt")
    (tmp_path / "m.txt").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="not byte-level"):
        BPETokenizer.from_files(tmp_path / "v.json", tmp_path / "m.txt")


def test_a_vocabulary_with_duplicate_ids_is_refused(tmp_path):
    symbols = list(byte_to_unicode().values())
    vocab = {s: i for i, s in enumerate(symbols)}
    vocab["Ġt"] = vocab["a"]  # two symbols, one id: decode could not tell them apart
    with pytest.raises(ValueError, match="gives id 64 to both 'a' and 'Ġt'"):
        BPETokenizer(vocab, [("Ġ", "t")])
    with pytest.raises(ValueError, match="non-negative integers"):
        BPETokenizer({**{s: i for i, s in enumerate(symbols)}, "x": -1}, [])
    (tmp_path / "v.json").write_text("{broken", encoding="utf-8")
    (tmp_path / "m.txt").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="v.json: not a JSON vocabulary"):
        BPETokenizer.from_files(tmp_path / "v.json", tmp_path / "m.txt")
