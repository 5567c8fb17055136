"""train() in-process: learning, accumulation, jit (TPU path) per objective, precision, errors."""
import dataclasses
import json
import os

import keras
import numpy as np
import pytest

from keras_llm import training
from keras_llm.training import config as config_lib
from keras_llm.training import run_log
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


def _history(workdir):
    with open(os.path.join(workdir, "history.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_resume_drops_history_written_after_the_checkpoint(corpus, tmp_path):
    """A process killed after checkpoint 2 had logged steps 3-4 (and half a line); the resumed
    run must log steps 3-4 once, from its own run."""
    training.train(_config("gpt_clm_tiny", corpus, 2, ["checkpoint_every=2"]), str(tmp_path))
    with open(tmp_path / "history.jsonl", "a", encoding="utf-8") as f:
        f.write('{"step": 3, "loss": 99.0}\n{"step": 4, "loss": 99.0}\n{"step": 5, "lo')
    result = training.train(_config("gpt_clm_tiny", corpus, 4, ["checkpoint_every=2"]),
                            str(tmp_path))
    assert result.resumed_from == 2
    steps = [r["step"] for r in _history(tmp_path) if "loss" in r]
    assert steps == [1, 2, 3, 4]
    assert all(r["loss"] != 99.0 for r in _history(tmp_path) if "loss" in r)


def test_truncate_history_keeps_records_up_to_the_step(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "eval": {}}\n{"step": 3, "loss": 1}\n')
    run_log.truncate_history(str(path), 2)
    assert [r["step"] for r in _history(tmp_path)] == [1, 2]
    run_log.truncate_history(str(path), 0)
    assert path.read_text() == ""
    run_log.truncate_history(str(tmp_path / "absent.jsonl"), 5)  # no file: nothing to do
    assert not (tmp_path / "absent.jsonl").exists()


def test_evaluation_over_zero_tokens_warns_and_reports_no_metric(tmp_path, caplog):
    """The held-out 1% of a 400-line corpus is ~4 lines: less than one batch of 8 x 33."""
    corpus = write_corpus(tmp_path / "small.txt", lines=400)
    config = _config("gpt_clm_tiny", corpus, 4, [
            "data.eval_fraction=0.01", "eval_every=2", "data.max_eval_batches=5"])
    with caplog.at_level("WARNING"):
        result = training.train(config, str(tmp_path / "run"))
    assert result.step == 4 and result.eval_metrics is None
    warnings = [r.getMessage() for r in caplog.records if "measured nothing" in r.getMessage()]
    assert warnings and "data.eval_fraction=0.01" in warnings[0]
    assert not [r for r in _history(tmp_path / "run") if "eval" in r]


def test_evaluation_reports_metrics_when_it_measures_tokens(corpus, tmp_path):
    result = training.train(_config("gpt_clm_tiny", corpus, 2, ["eval_every=2"]), str(tmp_path))
    assert result.eval_metrics["target_tokens"] > 0
    assert result.eval_metrics["loss"] > 0 and result.eval_metrics["perplexity"] > 1
    assert [r["step"] for r in _history(tmp_path) if "eval" in r] == [2]


def test_progress_is_plain_lines_when_stdout_is_not_a_terminal(corpus, tmp_path, capsys):
    training.train(_config("gpt_clm_tiny", corpus, 2, ["verbose=true"]), str(tmp_path))
    out = capsys.readouterr().out
    assert "step 1/2 loss=" in out and "step 2/2 loss=" in out
    assert "\r" not in out and "\x1b" not in out


def test_missing_data_file_names_the_override(corpus, tmp_path):
    with pytest.raises(ValueError, match=r"--override=data.eval_files="):
        training.train(_config("gpt_clm_tiny", corpus, 2, ["data.eval_files=/nonexistent.txt"]),
                       str(tmp_path))
    assert not os.path.exists(tmp_path / "config.json")  # failed before touching the workdir


def test_a_pretrained_backbone_loads_by_one_call_from_its_preset(corpus, tmp_path):
    from keras_llm import models
    config = training.override(training.get_config("bert_mlm_tiny"), tiny_overrides(
            corpus, steps=2, extra=["tokenizer.kind=wordpiece", "tokenizer.vocabulary_size=200"]))
    result = training.train(config, str(tmp_path / "run"))
    from keras_llm.training import trainer
    trainer.save_preset(result, str(tmp_path / "run"), str(tmp_path / "preset"))
    assert (tmp_path / "preset" / "vocab.txt").is_file()
    backbone = models.BertBackbone.from_preset(tmp_path / "preset")
    for a, b in zip(result.backbone.weights, backbone.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
