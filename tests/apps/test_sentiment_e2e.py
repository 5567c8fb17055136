"""Sentiment app end to end on the committed SST-2 sample (tests/fixtures/sst2_sample.tsv, 300
rows of GLUE SST-2 train, attribution in sst2_sample.SOURCE.txt): train a tiny model, export it,
reload it in a fresh process that never imports tensorflow_text (as stock TF Serving), compare
with the Keras model, run keras_llm.export.check."""
import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from apps.sentiment import config as config_lib
from apps.sentiment import data
from apps.sentiment import lib
from keras_llm.utils.config import override
from tests.export import fresh_process

FIXTURE = pathlib.Path(__file__).parents[1] / "fixtures" / "sst2_sample.tsv"
TEXTS = ["a gorgeous , witty , seductive movie .", "", "dull and lifeless",
         "Ünïcödé 映画 😀 «très» bien", "the plot is thin . " * 400]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("sentiment")
    lines = FIXTURE.read_text(encoding="utf-8").splitlines(keepends=True)
    (root / "data").mkdir()
    (root / "data" / "train.tsv").write_text("".join(lines[:241]), encoding="utf-8")
    (root / "data" / "dev.tsv").write_text(lines[0] + "".join(lines[241:]), encoding="utf-8")
    config = override(config_lib.get_config("tiny"),
                      [f"data_dir={root / 'data'}", "train.epochs=12", "train.batch_size=16"])
    metrics = lib.train(config, root / "work")
    return root, config, metrics


def test_training_fits_the_sample_and_writes_the_workdir(trained):
    root, config, metrics = trained
    assert sorted(p.name for p in (root / "work").iterdir()) == sorted(
            ["config.json", "metrics.json", "model.weights.h5", "vocab.txt"]
            + [f"epoch_{k}.weights.h5" for k in range(1, 13)])  # weights after every epoch
    assert json.loads((root / "work" / "metrics.json").read_text()) == metrics
    assert metrics["train_examples"] == 240 and metrics["dev_examples"] == 60
    assert metrics["train_steps"] % 12 == 0 and metrics["train_steps"] >= 12 * 15  # 16-row batches per length bucket
    _, vocabulary, model = lib.load_workdir(root / "work")
    texts, labels = data.read_tsv(root / "data" / "train.tsv")
    logits = lib.predict_logits(config, vocabulary, model, texts, verbose=0)
    assert np.mean(logits.argmax(-1) == labels) >= 0.8  # a real fit of the training rows


def test_export_reload_without_tensorflow_text(trained):
    root, config, _ = trained
    path = lib.export_workdir(root / "work", root / "models")
    assert path == root / "models" / "1"
    for name in ("saved_model.pb", "variables", "assets/vocab.txt",
                 "assets.extra/tf_serving_warmup_requests"):
        assert (path / name).exists(), name
    out = fresh_process.run_in_fresh_process(path, TEXTS)
    assert not out["tensorflow_text_loaded"]
    assert out["check_ok"], out["check_summary"]
    assert "core TensorFlow ops only" in out["check_summary"]

    _, vocabulary, model = lib.load_workdir(root / "work")
    # Host tokenization at the serving length == the in-graph tokenizer of the SavedModel.
    # the tiny model has 64 positions, so serving keeps 64 tokens
    serving = override(config, ["sequence_length=64"])
    expected = tf.nn.softmax(lib.predict_logits(serving, vocabulary, model, TEXTS,
                                                verbose=0)).numpy()
    np.testing.assert_allclose(out["probabilities"], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["scores"], expected, rtol=1e-4, atol=1e-5)
    assert out["label"] == [config_lib.LABELS[i] for i in expected.argmax(-1)]
    assert out["classes"] == [list(config_lib.LABELS)] * len(TEXTS)


@pytest.mark.slow
def test_saved_model_accuracy_equals_host_accuracy(trained):
    root, config, _ = trained
    path = lib.export_workdir(root / "work", root / "models_slow")
    _, vocabulary, model = lib.load_workdir(root / "work")
    dev = lib.evaluate_saved_model(path, root / "data" / "dev.tsv")
    # Like for like: the export keeps 64 tokens (the tiny model's positions), training 32.
    host = lib.evaluate_model(override(config, ["sequence_length=64"]), vocabulary, model, "dev")
    assert dev["examples"] == 60
    assert dev["accuracy"] == pytest.approx(host["dev_accuracy"], abs=1e-9)
