"""Per-layer sensitivity ranks every quantized matrix; mixed precision protects the worst ones."""
import numpy as np
import pytest

from miniquant import QuantSpec
from miniquant.eval.memory import memory_ledger
from miniquant.eval.quality import held_out_windows, logprobs
from miniquant.eval.sensitivity import layer_sensitivity, mixed_precision
from miniquant.methods import Recipe, quantize_model
from miniquant.nn import GPT, GPTConfig, init_params


def test_sensitivity_and_mixed_precision():
    config = GPTConfig(vocab_size=256, n_ctx=16, n_embd=16, n_head=2, n_layer=2)
    model = GPT(config, init_params(config, seed=2))
    ids, targets = held_out_windows("Return the value of the attribute. " * 10, 16, 8)
    reference = logprobs(model, ids)
    recipe = Recipe(QuantSpec(bits=2, granularity="channel"))
    ranking = layer_sensitivity(model, recipe, reference, ids, targets)
    assert len(ranking) == 4 * config.n_layer                      # c_attn, c_proj, c_fc, c_proj per block
    assert all(a["kl_mean"] >= b["kl_mean"] >= 0 for a, b in zip(ranking, ranking[1:]))
    mixed = mixed_precision(recipe, ranking, 2, QuantSpec(bits=8, granularity="channel"))
    q = quantize_model(model.params, mixed)
    assert sorted(k for k, v in q.items() if getattr(v, "spec", None) is not None and v.spec.bits == 8) == sorted(r["tensor"] for r in ranking[:2])
    assert memory_ledger(q).total_bytes > memory_ledger(quantize_model(model.params, recipe)).total_bytes
    with pytest.raises(ValueError, match="n_protected must be between 0 and 8"):
        mixed_precision(recipe, ranking, 9, QuantSpec(bits=8))
