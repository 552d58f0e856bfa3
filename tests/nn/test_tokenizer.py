"""The byte tokenizer round-trips any Unicode text."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from miniquant.nn import ByteTokenizer


@given(st.text())
def test_byte_tokenizer_round_trips_unicode(text):
    tok = ByteTokenizer()
    ids = tok.encode(text)
    assert all(0 <= i < 256 for i in ids)
    assert tok.decode(ids) == text


def test_byte_tokenizer_errors():
    tok = ByteTokenizer()
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        tok.decode([256])
    with pytest.raises(TypeError, match="text must be a str"):
        tok.encode(b"bytes")
    assert tok.decode([0xE2, 0x82]) == "\ufffd"  # a cut multi-byte character shows U+FFFD
