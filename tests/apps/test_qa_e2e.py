"""QA app end to end on the committed SQuAD paragraphs (tests/fixtures/squad_sample.json, 3
articles of SQuAD v1.1 dev, CC BY-SA 4.0, attribution in squad_sample.SOURCE.txt): fine-tune a
tiny model through keras_llm.finetune (articles 0-1 train, article 2 dev), export it, score it
through the SavedModel (== host windows), reload it in a fresh process that never imports
tensorflow_text (as stock TF Serving), answer a question, run keras_llm.export.check."""
import json

import pytest

from apps.qa import config as config_lib
from apps.qa.task import QATask
from keras_llm import export
from keras_llm.finetune import cli, finetune
from keras_llm.utils.config import override
from tests.export.test_span_export import run_qa_in_fresh_process
from tests.models import squad_fixture


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("qa")
    config = override(config_lib.CONFIGS["tiny"],
                      [f"data_file={squad_fixture.FIXTURE}", "train_articles=2", "dev_articles=1",
                       "finetune.epochs=8"])
    result = finetune(QATask(config), root / "work")
    return root, config, result


def test_training_writes_the_workdir_and_learns(trained):
    root, _, result = trained
    names = {p.name for p in (root / "work").iterdir()}
    assert {"config.json", "vocab.txt", "model.weights.h5", "metrics.json", "history.jsonl",
            "checkpoints"} <= names
    metrics = json.loads((root / "work" / "metrics.json").read_text())
    assert metrics == result.metrics and metrics["dev_examples"] == 4
    assert 0 <= metrics["dev_exact_match"] <= metrics["dev_f1"] <= 100
    losses = [r["loss"] for r in result.history if "loss" in r]
    assert losses and losses[-1] < losses[0]


def test_export_scores_and_answers_like_the_host(trained):
    root, _, _ = trained
    task, model = cli.load_workdir(QATask, root / "work")
    path = export.export(task.export_module(model, root / "work"), root / "models")
    assert (path / "assets.extra" / "tf_serving_warmup_requests").exists()
    served = task.evaluate_saved_model(path, "train")
    host = task.evaluate(model, root / "work", "train")
    assert served["examples"] == host["train_examples"] == 35
    assert served["f1"] == pytest.approx(host["train_f1"], abs=1e-3)
    assert served["exact_match"] == pytest.approx(host["train_exact_match"], abs=1e-3)
    question, context, _, _ = squad_fixture.examples()[0]
    out = run_qa_in_fresh_process(path, question, context)
    assert not out["tensorflow_text_loaded"]
    assert out["check_ok"], out["check_summary"]
    start, end = out["start"][0], out["end"][0]
    assert 0 <= start < end <= len(context) and context[start:end] == out["answer"][0]
    assert 0 < out["score"][0] <= 1
