"""Side by side: which models ``models_to_compare`` picks, and what ``compare_models`` measures."""
import numpy as np
import pytest

from miniquant.eval import compare_models, compare_to_float, held_out_windows, logprobs, models_to_compare
from miniquant.methods import make_recipe, quantize_model
from miniquant.nn import GPT, GPTConfig, build_corpus, init_params, save_checkpoint
from miniquant.nn.io import source_record

CONFIG = GPTConfig(vocab_size=256, n_ctx=32, n_embd=32, n_head=2, n_layer=1)


@pytest.fixture(scope="module")
def corpus():
    return build_corpus()


@pytest.fixture
def float_path(tmp_path):
    path = tmp_path / "float.npz"
    save_checkpoint(path, CONFIG, init_params(CONFIG, seed=3))
    return path


def test_a_model_against_itself_has_zero_kl_and_full_agreement(float_path, corpus):
    (_, model), = models_to_compare(float_path)
    ids, targets = held_out_windows(corpus.docs_val, CONFIG.n_ctx, 2)
    record = compare_to_float(logprobs(model, ids), model, ids, targets)
    assert abs(record["kl_mean"]) < 1e-12 and record["top1_agreement"] == 1.0


def test_models_to_compare_quantizes_now_or_finds_the_recorded_source(float_path, tmp_path, corpus):
    recipe = make_recipe(4, group_size=32)
    pair = models_to_compare(float_path, recipe)
    assert [name for name, _ in pair] == ["float32", "int4 sym g32"]
    config_params = pair[0][1].params
    qpath = tmp_path / "q.npz"
    save_checkpoint(qpath, CONFIG, quantize_model(config_params, recipe),
                    {"recipe": recipe.label(), "source": source_record(float_path, qpath)})
    names = [name for name, _ in models_to_compare(qpath)]
    assert names == ["float32", "int4 sym g32"]
    result = compare_models(models_to_compare(qpath), corpus, max_bytes=3000, arith_problems=3, kl_windows=2)
    assert result.columns[-3:] == ["kl_mean", "kl_p99", "top1_agreement"] and result.kl_windows == 2
    assert result.rows[0]["kl_mean"] == 0.0 and result.rows[1]["kl_mean"] > 0
    assert result.rows[1]["bytes"] < result.rows[0]["bytes"]
    assert result.val_bytes == 3000 and result.n_problems == 3


def test_compare_models_checks_its_limits(float_path, corpus):
    models = models_to_compare(float_path)
    for kwargs, match in (({"max_bytes": 32}, "max_bytes must be an integer >= 33"),
                          ({"arith_problems": 0}, "arith_problems must be an integer >= 1"),
                          ({"kl_windows": True}, "kl_windows must be an integer >= 1")):
        with pytest.raises(ValueError, match=match):
            compare_models(models, corpus, **kwargs)


def test_a_recipe_for_a_quantized_model_or_int8_without_one_is_refused(float_path, tmp_path):
    with pytest.raises(ValueError, match="activations='int8' needs a quantized model"):
        models_to_compare(float_path, activations="int8")
    qpath = tmp_path / "q.npz"
    params = quantize_model(init_params(CONFIG, seed=3), make_recipe(8))
    save_checkpoint(qpath, CONFIG, params, {"source": source_record(float_path, qpath)})
    with pytest.raises(ValueError, match="is already quantized"):
        models_to_compare(qpath, make_recipe(4))
    assert isinstance(models_to_compare(qpath, activations="int8")[1][1], GPT)
    assert np.isfinite(models_to_compare(qpath)[1][1].forward(np.array([[1, 2]]))).all()


def test_evaluate_model_takes_compare_to_float_order_and_the_earlier_one(float_path, corpus):
    from miniquant.eval import evaluate_model

    (_, model), = models_to_compare(float_path)
    ids, targets = held_out_windows(corpus.docs_val, CONFIG.n_ctx, 1)
    reference = logprobs(model, ids)
    problems = corpus.arith_val[:2]
    assert evaluate_model(reference, model, ids, targets, problems) == evaluate_model(model, reference, ids, targets, problems)
    with pytest.raises(ValueError, match="max_windows must be a positive integer"):
        held_out_windows(corpus.docs_val, CONFIG.n_ctx, 0)
