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


def test_shipped_model_answers_held_out_arithmetic():
    from miniquant.nn.evaluate import arithmetic_answers, arithmetic_results

    problems = build_corpus().arith_val[:40]
    model = load_default()
    answers = arithmetic_answers(model, problems)
    assert all(isinstance(a, str) and "\n" not in a for a in answers)
    right = arithmetic_results(model, problems)
    assert right == [a == p.split("=")[1] for a, p in zip(answers, problems)]
    assert sum(right) >= 32  # 96% on all 1,542 held-out problems (docs/model-card.md)
