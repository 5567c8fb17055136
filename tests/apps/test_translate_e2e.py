"""Translation app end to end on the committed Multi30k sample pairs: train the tiny config
through the CLI, export (beam search in the graph, keras-llm-check), translate with the
SavedModel in a fresh process without tensorflow_text (same answers as the in-process
module, empty in -> empty out), `evaluate` reports BLEU through the SavedModel and in process
with identical outputs, `predict` prints JSON lines, keras-llm-serve answers over REST."""
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from tests.serving.conftest import ServerProcess
from tests.serving.helpers import http

from tests.apps.cli_helpers import ROOT, run_cli as _cli
SOURCES = ["Ein Mann schläft in einem grünen Raum auf einem Sofa.", "",
           "Zwei Hunde spielen im Schnee. " * 200]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("translate")
    _cli("apps.translate.train", "--config=tiny", f"--workdir={root / 'work'}")
    out = _cli("apps.translate.export", f"--workdir={root / 'work'}",
               f"--base_dir={root / 'models'}", "--num_beams=3")
    assert "RESULT: OK" in out and "core TensorFlow ops only" in out
    return root


_FRESH = r"""
import json, sys
import tensorflow as tf
m = tf.saved_model.load(sys.argv[1])
texts = tf.constant(json.loads(sys.argv[2]))
print("RESULT:" + json.dumps({
        name: [t.decode() for t in m.signatures[name](text=texts)["translation"].numpy()]
        for name in ("serving_default", "greedy")} | {
        "tensorflow_text": "tensorflow_text" in sys.modules}))
"""


def test_fresh_process_translates_as_the_module(trained):
    from apps.translate import config
    module = config.module(trained / "work", num_beams=3)
    texts = {"text": tf.constant(SOURCES)}
    host = {"serving_default": tf.function(module.serve)(texts),
            "greedy": tf.function(module.serve_greedy)(texts)}
    proc = subprocess.run([sys.executable, "-c", _FRESH, str(trained / "models" / "1"),
                           json.dumps(SOURCES)], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT:")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    exported = json.loads(lines[-1][len("RESULT:"):])
    assert not exported["tensorflow_text"]
    for name, out in host.items():
        assert exported[name] == [t.decode() for t in out["translation"].numpy()]
        assert exported[name][1] == ""  # empty source -> empty translation


def test_evaluate_reports_bleu_both_ways_with_identical_outputs(trained):
    report = trained / "bleu"
    out = _cli("apps.translate.evaluate", f"--saved_model={trained / 'models'}",
               f"--workdir={trained / 'work'}", "--num_beams=3",
               f"--data_dir={ROOT / 'apps' / 'translate' / 'sample'}", "--split=val",
               "--max_sentences=12", f"--report={report}",
               f"--training_workdir={trained / 'work'}")
    assert '"identical_outputs": {"beam": true, "greedy": true}' in out
    record = json.loads(report.with_suffix(".json").read_text())
    assert record["sentences"] == 12 and len(record["results"]) == 4
    for result in record["results"].values():
        assert 0.0 <= result["sacrebleu"] <= 100.0
        assert 0.0 <= result["bleu_lowercased"] <= 100.0
    assert record["training"]["config"]["objective"] == "seq2seq"
    assert "Multi30k val, 12 sentences" in report.with_suffix(".md").read_text()


def test_predict_prints_json_lines(trained):
    out = _cli("apps.translate.predict", f"--saved_model={trained / 'models'}", "--greedy",
               "Ein Hund rennt.", "")
    rows = [json.loads(line) for line in out.strip().splitlines()]
    assert [r["text"] for r in rows] == ["Ein Hund rennt.", ""]
    assert rows[1]["translation"] == "" and isinstance(rows[0]["translation"], str)


def test_served_by_keras_llm_serve_over_rest(trained, tmp_path):
    server = ServerProcess(str(tmp_path), "--model_name=translation",
                           f"--model_base_path={trained / 'models'}")
    try:
        status, body = http(server.rest_address, "/v1/models/translation:predict",
                            {"instances": [{"text": SOURCES[0]}, {"text": ""}]})
        assert status == 200, body
        predictions = body["predictions"]
        assert len(predictions) == 2 and predictions[1] == ""
        assert isinstance(predictions[0], str)
    finally:
        server.stop()
