"""NER app end to end on the committed invented sentences (tests/fixtures/ner_sample/, no
CoNLL text): fine-tune a tiny model through keras_llm.finetune, export it, score it through the
SavedModel's `tag_words` (== host), reload it in a fresh process that never imports
tensorflow_text (as stock TF Serving), find entities in raw text with correct code-point
offsets, and run keras_llm.export.check."""
import json
import pathlib

import pytest

from apps.ner import config as config_lib
from apps.ner import data
from apps.ner.task import NERTask
from keras_llm import export
from keras_llm.finetune import cli, finetune
from keras_llm.utils.config import override
from tests.export.test_entities_export import run_ner_in_fresh_process

FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "ner_sample"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("ner")
    config = override(config_lib.CONFIGS["tiny"],
                      [f"data_dir={FIXTURE}", "finetune.epochs=40", "finetune.log_every=2"])
    result = finetune(NERTask(config), root / "work")
    return root, result


def test_fixture_reads():
    train = data.read_conll(FIXTURE / "train.txt", config_lib.LABELS)
    assert len(train) == 16 and train[0].words[:2] == ["Maria", "Lindqvist"]
    assert train[0].tags[:2] == ["B-PER", "I-PER"]
    with pytest.raises(ValueError, match="split must be one of"):
        data.split_path("", "test")


def test_training_writes_the_workdir_and_learns(trained):
    root, result = trained
    names = {p.name for p in (root / "work").iterdir()}
    assert {"config.json", "vocab.txt", "model.weights.h5", "metrics.json", "history.jsonl",
            "checkpoints"} <= names
    metrics = json.loads((root / "work" / "metrics.json").read_text())
    assert metrics == result.metrics and metrics["valid_sentences"] == 4
    assert metrics["valid_entities"] == 9
    losses = [r["loss"] for r in result.history if "loss" in r]
    assert losses and losses[-1] < 0.3 * losses[0]
    assert metrics["valid_f1"] > 50  # the same invented names recur in train and valid


def test_export_scores_and_finds_entities_like_the_host(trained):
    root, _ = trained
    task, model = cli.load_workdir(NERTask, root / "work")
    path = export.export(task.export_module(model, root / "work"), root / "models")
    assert (path / "assets.extra" / "tf_serving_warmup_requests").exists()
    for split in ("train", "valid"):
        served = task.evaluate_saved_model(path, split)
        assert served == task.evaluate(model, root / "work", split)
    text = "Yesterday  Anna Kovacs 😀 flew from Oslo to Lisbon with Norvik Bank."
    out = run_ner_in_fresh_process(path, text)
    assert not out["tensorflow_text_loaded"]
    assert out["check_ok"], out["check_summary"]
    found = [(t, text[s:e]) for t, s, e in zip(out["entity_type"], out["entity_start"],
                                              out["entity_end"]) if s >= 0]
    assert found and [e for _, e in found] == [t for t in out["entity_text"] if t]
    assert ("LOC", "Oslo") in found or ("PER", "Anna Kovacs") in found


def test_a_student_distills_from_the_trained_teacher(trained):
    """teacher_workdir: the student follows the trained model's tags on the fly (alpha=1: the
    teacher's distribution alone, no gold tags), the teacher stays as it was; a student on
    another vocabulary is refused."""
    root, teacher_result = trained
    teacher_weights = (root / "work" / "model.weights.h5").read_bytes()
    config = override(config_lib.CONFIGS["tiny"],
                      [f"data_dir={FIXTURE}", "finetune.epochs=40", "distill_alpha=1.0",
                       f"teacher_workdir={root / 'work'}"])
    student = finetune(NERTask(config), root / "student")
    assert student.metrics["valid_f1"] > 50
    assert (root / "work" / "model.weights.h5").read_bytes() == teacher_weights
    assert teacher_result.metrics["valid_f1"] > 50
    other = override(config, ["model.kind=preset"])  # MiniLM's 30,522 pieces
    with pytest.raises(ValueError, match="another vocabulary"):
        finetune(NERTask(other), root / "student_minilm")
