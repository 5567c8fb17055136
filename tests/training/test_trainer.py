"""train() in-process: learning, accumulation, jit (TPU path) per objective, precision, errors."""
import dataclasses
import os

import keras
import numpy as np
import pytest

from keras_llm import training
from keras_llm.training import config as config_lib
from tests.training.conftest import tiny_overrides, write_corpus


def _standin_seq2seq(cfg, vocabulary_size):
    """A tiny encoder-decoder stand-in (mean-pooled source added to each target embedding)."""
    keys = ("encoder_token_ids", "encoder_padding_mask", "decoder_token_ids",
            "decoder_padding_mask")
    inputs = {k: keras.Input((None,), dtype="int32", name=k) for k in keys}
    embed = keras.layers.Embedding(vocabulary_size, cfg.hidden_dim)
    mask = keras.ops.cast(inputs["encoder_padding_mask"], "float32")[:, :, None]
    source = keras.ops.sum(embed(inputs["encoder_token_ids"]) * mask, 1) / keras.ops.sum(mask, 1)
    x = embed(inputs["decoder_token_ids"]) + source[:, None, :]
    x = keras.layers.Dense(cfg.intermediate_dim, activation="gelu")(x)
    logits = keras.layers.Dense(vocabulary_size)(keras.layers.LayerNormalization()(x))
    model = keras.Model(inputs, logits)
    return model, model


training.register_model("standin_seq2seq", _standin_seq2seq)


def _config(name, corpus, steps=8, extra=()):
    return training.override(config_lib.get_config(name), tiny_overrides(corpus, steps, extra))


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    path = tmp_path_factory.mktemp("pairs") / "pairs.tsv"
    with open(path, "w", encoding="utf-8") as f:
        f.write("source\ttarget\n")
        for i in range(300):
            words = ["red", "blue", "cat", "dog", "sun"][i % 5], str(i % 7)
            f.write(f"{words[0]} {words[1]}\t{words[1]} {words[0]}\n")
    return str(path)


def _seq2seq_config(pairs, extra=()):
    return _config("gpt_clm_tiny", pairs, 6, [
            "objective=seq2seq", "model.kind=standin_seq2seq", "data.format=tsv",
            "data.text_field=source", "data.target_field=target", "data.packing=lines",
            "label_smoothing=0.1", *extra])


def test_loss_decreases_and_result_is_reported(corpus, tmp_path):
    result = training.train(_config("gpt_clm_tiny", corpus, 12, ["optimizer.learning_rate=3e-3",
                                                                 "optimizer.warmup_steps=2"]),
                            str(tmp_path))
    losses = [r["loss"] for r in result.losses]
    assert result.step == 12 and len(losses) == 12
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:3]), losses
    assert result.eval_metrics["perplexity"] < np.exp(losses[0])
    assert result.tokens_per_second > 0
    assert os.path.isdir(tmp_path / "tensorboard" / "train")


@pytest.mark.slow
def test_gradient_accumulation_matches_the_big_batch(corpus, tmp_path):
    """Fixed-shape CLM has a constant token count, so 2 x 4 accumulated == 1 x 8."""
    big = training.train(_config("gpt_clm_tiny", corpus, 3, ["global_batch_size=8"]),
                         str(tmp_path / "big"))
    acc = training.train(_config("gpt_clm_tiny", corpus, 3, [
            "global_batch_size=4", "gradient_accumulation_steps=2"]), str(tmp_path / "acc"))
    np.testing.assert_allclose([r["loss"] for r in acc.losses], [r["loss"] for r in big.losses],
                               rtol=1e-5)
    for a, b in zip(acc.model.weights, big.model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=2e-6)


@pytest.mark.parametrize("name", [pytest.param("bert_mlm_tiny", marks=pytest.mark.slow),
                                  "gpt_clm_tiny", pytest.param("seq2seq", marks=pytest.mark.slow)])
def test_jit_compile_with_fixed_shapes_for_every_objective(name, corpus, pairs, tmp_path):
    if name == "seq2seq":
        config = _seq2seq_config(pairs, ["jit_compile=true"])
    else:
        config = _config(name, corpus, 6, ["jit_compile=true", "data.fixed_shapes=true"])
    result = training.train(config, str(tmp_path))
    losses = [r["loss"] for r in result.losses]
    assert result.step == 6 and np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("precision", [pytest.param("mixed_bfloat16", marks=pytest.mark.slow),
                                       "mixed_float16"])
def test_mixed_precision(precision, corpus, tmp_path):
    result = training.train(_config("gpt_clm_tiny", corpus, 6, [f"precision={precision}"]),
                            str(tmp_path))
    compute = precision.split("_")[1]
    assert any(layer.compute_dtype == compute for layer in result.model._flatten_layers())
    assert all(v.dtype == "float32" for v in result.model.trainable_variables)
    assert np.isfinite(result.losses[-1]["loss"]) and result.losses[-1]["loss"] < result.losses[0]["loss"]


@pytest.mark.slow
def test_dynamic_padding_buckets_train(corpus, tmp_path):
    result = training.train(_config("bert_mlm_tiny", corpus, 4, [
            "data.packing=lines", "data.fixed_shapes=false"]), str(tmp_path))
    assert result.step == 4 and np.isfinite(result.losses[-1]["loss"])


def test_mismatched_config_and_corrupt_checkpoint_give_clear_errors(corpus, tmp_path):
    training.train(_config("gpt_clm_tiny", corpus, 2, ["checkpoint_every=1"]), str(tmp_path))
    with pytest.raises(training.CheckpointError, match="model.hidden_dim: 64 -> 96"):
        training.train(_config("gpt_clm_tiny", corpus, 4, ["model.hidden_dim=96"]), str(tmp_path))
    # More steps is a resumable change.
    result = training.train(_config("gpt_clm_tiny", corpus, 3), str(tmp_path))
    assert result.resumed_from == 2 and result.step == 3
    data_file = next((tmp_path / "checkpoints").glob("ckpt-3.data*"))
    data_file.write_bytes(b"\0" * 64)
    with pytest.raises(training.CheckpointError, match="ckpt-3.*corrupt or were written by"):
        training.train(_config("gpt_clm_tiny", corpus, 4), str(tmp_path))


def test_bad_values_name_the_field(corpus, tmp_path):
    with pytest.raises(ValueError, match="objective='xlm'"):
        training.train(_config("gpt_clm_tiny", corpus, 2, ["objective=xlm"]), str(tmp_path))
    with pytest.raises(ValueError, match="does not exist"):
        training.train(_config("gpt_clm_tiny", "/nonexistent.txt", 2), str(tmp_path / "x"))
    with pytest.raises(ValueError, match="model.kind"):
        training.train(_config("gpt_clm_tiny", corpus, 2, ["model.kind=nope"]), str(tmp_path / "y"))
