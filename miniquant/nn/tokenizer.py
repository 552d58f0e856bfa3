"""The byte tokenizer of the shipped model: one token per UTF-8 byte (256 symbols).

Tests: ``tests/nn/test_tokenizer.py``.
"""
from __future__ import annotations


class ByteTokenizer:
    """``encode(text) -> list[int]`` (UTF-8 bytes) and ``decode(ids) -> str``.

    Examples
    --------
    >>> tok = ByteTokenizer()
    >>> tok.encode("hé")
    [104, 195, 169]
    >>> tok.decode([104, 195, 169])
    'hé'
    """

    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return list(text.encode("utf-8"))

    def decode(self, ids) -> str:
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < 256]
        if bad:
            raise ValueError(f"byte token ids must lie in [0, 255], got {bad[:5]}")
        # A sampled sequence can cut a multi-byte character: show U+FFFD rather than fail.
        return bytes(ids).decode("utf-8", errors="replace")
