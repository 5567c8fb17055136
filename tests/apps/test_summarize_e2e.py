"""Summarization app end to end on the invented sample dialogues: the tiny config warm-started
(BERT2BERT) from a small BERT preset with MiniLM's vocabulary, trained through the CLI,
exported (beam search in the graph, keras-llm-check), summarizing in a fresh process without
tensorflow_text as the in-process module does; evaluate writes ROUGE through the SavedModel
with model outputs only."""
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from tests.apps.cli_helpers import ROOT, run_cli as _cli
SAMPLE = ROOT / "apps" / "summarize" / "sample"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from keras_llm import models
    from keras_llm.utils import paths
    try:
        vocab = paths.minilm_dir() / "vocab.txt"
    except FileNotFoundError:
        pytest.skip("MiniLM (its vocabulary) not installed")
    root = tmp_path_factory.mktemp("summarize")
    tf.keras.utils.set_random_seed(0)
    bert = models.BertBackbone(30522, 1, 2, 32, 64, max_sequence_length=96)
    bert.save_to_preset(root / "bert", tokenizer_files=[vocab])
    _cli("apps.summarize.train", "--config=tiny", f"--workdir={root / 'work'}",
         "--override=model.kind=seq2seq_bert", f"--override=model.preset={root / 'bert'}")
    out = _cli("apps.summarize.export", f"--workdir={root / 'work'}",
               f"--base_dir={root / 'models'}", "--num_beams=2", "--prune_vocabulary",
               "--nogreedy_signature")  # as the shipped export (the 25 MB budget)
    assert "RESULT: OK" in out and "core TensorFlow ops only" in out
    return root


_FRESH = r"""
import json, sys
import tensorflow as tf
m = tf.saved_model.load(sys.argv[1])
texts = tf.constant(json.loads(sys.argv[2]))
print("RESULT:" + json.dumps({
        "summary": [t.decode() for t in m.signatures["serving_default"](text=texts)["summary"].numpy()],
        "tensorflow_text": "tensorflow_text" in sys.modules}))
"""


def test_warm_started_model_summarizes_in_a_fresh_process(trained):
    from apps.summarize import config
    config_json = json.loads((trained / "work" / "config.json").read_text())
    assert config_json["model"]["kind"] == "seq2seq_bert"
    dialogues = [json.loads(l)["dialogue"] for l in (SAMPLE / "dev.jsonl").open()][:2] + [""]
    module = config.module(trained / "work", num_beams=2, prune_vocabulary=True, greedy=False)
    assert len(module.preprocessor.vocabulary) < 1000  # of 30,522: the pieces used, characters
    host = tf.function(module.serve)({"text": tf.constant(dialogues)})["summary"].numpy()
    proc = subprocess.run([sys.executable, "-c", _FRESH, str(trained / "models" / "1"),
                           json.dumps(dialogues)], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT:")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    exported = json.loads(lines[-1][len("RESULT:"):])
    assert not exported["tensorflow_text"]
    assert exported["summary"] == [t.decode() for t in host]
    assert exported["summary"][2] == ""


def test_evaluate_writes_rouge_without_the_data(trained):
    pytest.importorskip("rouge_score")
    report = trained / "rouge"
    out = _cli("apps.summarize.evaluate", f"--saved_model={trained / 'models'}",
               f"--data_file={SAMPLE / 'dev.jsonl'}", f"--report={report}",
               f"--training_workdir={trained / 'work'}",
               f"--baseline_saved_model={trained / 'models'}",
               f"--baseline_training_workdir={trained / 'work'}", "--decodings=beam")
    assert '"rouge1"' in out
    record = json.loads(report.with_suffix(".json").read_text())
    # The model and a baseline (here the same SavedModel), beam search each (exported without
    # the greedy signature, so no greedy row).
    assert record["examples"] == 8 and len(record["results"]) == 2
    assert record["results"][f"SavedModel {trained / 'models' / '1'}, beam"] == \
        record["results"][f"baseline SavedModel {trained / 'models' / '1'}, beam"] | {
            "seconds": record["results"][f"SavedModel {trained / 'models' / '1'}, beam"]["seconds"]}
    assert record["baseline_training"]["config"]["model"]["kind"] == "seq2seq_bert"
    dialogue = json.loads((SAMPLE / "dev.jsonl").open().readline())["dialogue"]
    assert dialogue not in report.with_suffix(".md").read_text()


def test_predict_names_a_missing_signature(trained):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-m", "apps.summarize.predict",
                           f"--saved_model={trained / 'models'}", "--greedy", "#Person1#: Hi."],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode != 0
    assert "has no 'greedy' signature" in proc.stderr and "Traceback" not in proc.stderr


def test_output_rewrites_tidy_wordpiece_text():
    from apps.summarize import config
    text = tf.constant(["# person1 # ' s friend can ' t come . # person2 # asks ( why ) ?",
                        " #person2# is late , so # person1 # waits "])
    for pattern, rewrite in config.OUTPUT_REWRITES:
        text = tf.strings.regex_replace(text, pattern, rewrite)
    assert [t.decode() for t in text.numpy()] == [
            "#Person1#'s friend can't come. #Person2# asks (why)?",
            "#Person2# is late, so #Person1# waits"]
