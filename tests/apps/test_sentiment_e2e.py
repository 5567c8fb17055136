"""Sentiment app end to end on the committed SST-2 sample (tests/fixtures/sst2_sample.tsv, 300
rows of GLUE SST-2 train, attribution in sst2_sample.SOURCE.txt): fine-tune a tiny model through
keras_llm.finetune, export it, reload it in a fresh process that never imports tensorflow_text
(as stock TF Serving), compare with the Keras model, run keras_llm.export.check."""
import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from apps.sentiment import config as config_lib
from apps.sentiment import data
from apps.sentiment.task import SentimentTask
from keras_llm import export
from keras_llm.finetune import cli, finetune
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
    config = override(config_lib.CONFIGS["tiny"],
                      [f"data_dir={root / 'data'}", "finetune.epochs=12"])
    result = finetune(SentimentTask(config), root / "work")
    return root, config, result


def test_training_fits_the_sample_and_writes_the_workdir(trained):
    root, config, result = trained
    names = {p.name for p in (root / "work").iterdir()}
    assert {"config.json", "vocab.txt", "model.weights.h5", "metrics.json", "history.jsonl",
            "checkpoints", "tensorboard"} <= names
    metrics = json.loads((root / "work" / "metrics.json").read_text())
    assert metrics == result.metrics and metrics["dev_examples"] == 60
    evals = [r for r in result.history if "eval" in r]
    assert len(evals) == 12  # one evaluation per epoch
    task, model = cli.load_workdir(SentimentTask, root / "work")
    texts, labels = data.read_tsv(root / "data" / "train.tsv")
    logits = task.predict_logits(model, root / "work", "train")
    assert logits.shape == (240, 2)
    assert np.mean(logits.argmax(-1) == labels) >= 0.8  # a real fit of the training rows


def test_export_reload_without_tensorflow_text(trained):
    root, config, _ = trained
    task, model = cli.load_workdir(SentimentTask, root / "work")
    path = export.export(task.export_module(model, root / "work"), root / "models")
    assert path == root / "models" / "1"
    for name in ("saved_model.pb", "variables", "assets/vocab.txt",
                 "assets.extra/tf_serving_warmup_requests"):
        assert (path / name).exists(), name
    out = fresh_process.run_in_fresh_process(path, TEXTS)
    assert not out["tensorflow_text_loaded"]
    assert out["check_ok"], out["check_summary"]
    assert "core TensorFlow ops only" in out["check_summary"]
    # Host tokenization at the serving length (the tiny model's 64 positions) == the graph.
    serving = SentimentTask(override(config, ["sequence_length=64"]))
    preprocessor = serving._preprocessor(root / "work")  # pylint: disable=protected-access
    from keras_llm.finetune import LengthBuckets, inference
    buckets = LengthBuckets(preprocessor.encode(TEXTS), None, 8, 64)
    expected = tf.nn.softmax(inference.predict_in_order(model, buckets)).numpy()
    np.testing.assert_allclose(out["probabilities"], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["scores"], expected, rtol=1e-4, atol=1e-5)
    assert out["label"] == [config_lib.LABELS[i] for i in expected.argmax(-1)]
    assert out["classes"] == [list(config_lib.LABELS)] * len(TEXTS)


@pytest.mark.slow
def test_saved_model_accuracy_equals_host_accuracy(trained):
    root, config, _ = trained
    task, model = cli.load_workdir(SentimentTask, root / "work")
    path = export.export(task.export_module(model, root / "work"), root / "models_slow")
    dev = task.evaluate_saved_model(path)
    # Like for like: the export keeps 64 tokens (the tiny model's positions), training 32.
    host = SentimentTask(override(config, ["sequence_length=64"])).evaluate(model, root / "work")
    assert dev["examples"] == 60
    assert dev["accuracy"] == pytest.approx(host["dev_accuracy"], abs=1e-9)


def test_quantized_pruned_export_through_the_cli(trained):
    """`export --quantize=int8 --prune_vocabulary`: int8 weights, the training texts' pieces
    only; the fresh process (no tensorflow_text) gives the float model's answers."""
    import subprocess
    import sys
    root, _, _ = trained
    proc = subprocess.run([sys.executable, "-m", "apps.sentiment.export",
                           f"--workdir={root / 'work'}", f"--base_dir={root / 'int8'}",
                           "--quantize=int8", "--prune_vocabulary"],
                          capture_output=True, text=True, timeout=600,
                          cwd=pathlib.Path(__file__).parents[2])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "weights: int8 " in proc.stdout and "RESULT: OK" in proc.stdout
    full = (root / "work" / "vocab.txt").read_text().splitlines()
    pruned = (root / "int8" / "1" / "assets" / "vocab.txt").read_text().splitlines()
    assert set(pruned) <= set(full)  # the tiny model's vocabulary came from these texts
    task, model = cli.load_workdir(SentimentTask, root / "work")
    reference = export.export(task.export_module(model, root / "work"), root / "float")
    expected = fresh_process.run_in_fresh_process(reference, TEXTS[:4])
    out = fresh_process.run_in_fresh_process(root / "int8" / "1", TEXTS[:4])
    assert not out["tensorflow_text_loaded"] and out["check_ok"]
    np.testing.assert_allclose(out["probabilities"], expected["probabilities"], atol=0.03)
