"""The shipped model loads, generates, and beats the bigram baseline on held-out docstrings."""
import numpy as np

from miniquant.nn import ByteTokenizer, generate, load_default
from miniquant.nn.data import build_corpus
from miniquant.nn.evaluate import bits_per_byte, ngram_bits_per_byte


def test_shipped_model_loads_and_generates():
    model = load_default()
    assert model.config.vocab_size == 256
    tok = ByteTokenizer()
    out = generate(model, tok.encode("Return the "), 20, temperature=0)
    assert len(out) == len(tok.encode("Return the ")) + 20
    assert isinstance(tok.decode(out), str)


def test_shipped_model_beats_the_bigram_baseline():
    corpus = build_corpus()
    val = corpus.docs_val[:20_000]
    model_bpb = bits_per_byte(load_default(), val)
    assert model_bpb < ngram_bits_per_byte(corpus.docs_train, val, 2) - 0.5
