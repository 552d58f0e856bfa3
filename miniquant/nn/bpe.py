"""GPT-2's byte-level BPE tokenizer, from ``vocab.json`` and ``merges.txt``, written from scratch.

1. **Pre-tokenize** the text into pieces the way GPT-2's pattern does (contractions; an optional
   space followed by a run of letters, of digits, or of other symbols; runs of whitespace),
   with a small scanner over Unicode categories instead of the third-party ``regex`` module.
2. Map each piece's **UTF-8 bytes** to printable characters (``byte_to_unicode``), so that every
   byte sequence is a string of vocabulary symbols: nothing is ever unknown.
3. **Merge** adjacent symbols, always the pair with the best (lowest) rank in ``merges.txt``,
   until no ranked pair is left; look the symbols up in ``vocab.json``.

Decoding reverses 3 and 2. Tests: ``tests/nn/test_bpe.py``.
"""
from __future__ import annotations

import json
import unicodedata

_CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")


def byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable Unicode characters.

    Printable Latin-1 bytes map to themselves; the others (control characters, space, ...)
    to ``chr(256 + i)`` in order, so that no symbol is whitespace or invisible.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {b: chr(b) for b in printable}, 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _kind(ch: str) -> str:
    if ch.isspace():
        return "space"
    category = unicodedata.category(ch)
    return "letter" if category[0] == "L" else "number" if category[0] == "N" else "other"


def pretokenize(text: str) -> list[str]:
    """Split ``text`` like GPT-2's pattern ``'s|'t|'re|'ve|'m|'ll|'d| ?L+| ?N+| ?[^\\sLN]+|\\s+(?!\\S)|\\s+``."""
    pieces, i, n = [], 0, len(text)
    while i < n:
        if text[i] == "'":
            match = next((c for c in _CONTRACTIONS if text.startswith(c, i)), None)
            if match:
                pieces.append(match)
                i += len(match)
                continue
        start = i
        if text[i] == " " and i + 1 < n and _kind(text[i + 1]) != "space":
            i += 1  # the optional leading space joins the run that follows
        kind = _kind(text[i])
        if kind != "space":
            while i < n and _kind(text[i]) == kind:
                i += 1
            pieces.append(text[start:i])
            continue
        while i < n and text[i].isspace():
            i += 1
        # \s+(?!\S): a whitespace run followed by a non-space gives up its last character,
        # which then starts the next piece (as " word", or alone).
        if i < n and i - start > 1:
            i -= 1
        pieces.append(text[start:i])
    return pieces


class BPETokenizer:
    """``encode(text) -> list[int]`` and ``decode(ids) -> str`` with GPT-2's byte-level BPE."""

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]]):
        self.encoder = dict(vocab)
        bad = [(s, i) for s, i in self.encoder.items() if isinstance(i, bool) or not isinstance(i, int) or i < 0]
        if bad:
            raise ValueError(f"vocab ids must be non-negative integers, got {bad[0][1]!r} for {bad[0][0]!r}")
        self.decoder = {i: s for s, i in self.encoder.items()}
        if len(self.decoder) != len(self.encoder):
            seen, dup = {}, None
            for s, i in self.encoder.items():
                if i in seen:
                    dup = (i, seen[i], s)
                    break
                seen[i] = s
            raise ValueError(f"vocab gives id {dup[0]} to both {dup[1]!r} and {dup[2]!r}: decode(encode(s)) could not "
                             "return s")
        self.ranks = {pair: r for r, pair in enumerate(merges)}
        self.byte_encoder = byte_to_unicode()
        self.byte_decoder = {c: b for b, c in self.byte_encoder.items()}
        missing = [c for c in self.byte_encoder.values() if c not in self.encoder]
        if missing:
            raise ValueError(f"vocab lacks {len(missing)} of the 256 byte symbols (e.g. {missing[0]!r}); it is not byte-level")
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def from_files(cls, vocab_json, merges_txt) -> "BPETokenizer":
        """Read GPT-2's ``vocab.json`` (symbol -> id) and ``merges.txt`` (one ``a b`` pair per line)."""
        try:
            with open(vocab_json, encoding="utf-8") as fh:
                vocab = json.load(fh)
        except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
            raise ValueError(f"{vocab_json}: not a JSON vocabulary: {exc}") from None
        if not isinstance(vocab, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in vocab.values()):
            raise ValueError(f"{vocab_json}: expected a JSON object of symbol -> integer id")
        merges = []
        with open(merges_txt, encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                line = line.rstrip("\n")
                if not line or line.startswith("#version"):
                    continue
                parts = line.split(" ")
                if len(parts) != 2:
                    raise ValueError(f"{merges_txt}:{number}: expected two symbols, got {line!r}")
                merges.append((parts[0], parts[1]))
        return cls(vocab, merges)

    def _bpe(self, piece: str) -> list[int]:
        if piece in self._cache:
            return self._cache[piece]
        symbols = [self.byte_encoder[b] for b in piece.encode("utf-8")]
        while len(symbols) > 1:
            pairs = [(self.ranks.get((a, b), float("inf")), k) for k, (a, b) in enumerate(zip(symbols, symbols[1:]))]
            rank, at = min(pairs)
            if rank == float("inf"):
                break
            best = (symbols[at], symbols[at + 1])
            merged, k = [], 0
            while k < len(symbols):  # merge every occurrence of the best pair, left to right
                if k + 1 < len(symbols) and (symbols[k], symbols[k + 1]) == best:
                    merged.append(symbols[k] + symbols[k + 1])
                    k += 2
                else:
                    merged.append(symbols[k])
                    k += 1
            symbols = merged
        try:
            ids = [self.encoder[s] for s in symbols]
        except KeyError as exc:
            raise ValueError(f"merge result {exc.args[0]!r} is not in the vocabulary") from None
        self._cache[piece] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return [i for piece in pretokenize(text) for i in self._bpe(piece)]

    def decode(self, ids) -> str:
        try:
            symbols = "".join(self.decoder[int(i)] for i in ids)
        except KeyError as exc:
            raise ValueError(f"token id {exc.args[0]} is not in the vocabulary (0..{len(self.decoder) - 1})") from None
        return bytes(self.byte_decoder[c] for c in symbols).decode("utf-8", errors="replace")
