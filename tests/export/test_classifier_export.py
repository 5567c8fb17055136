"""Exports a toy classifier with a stand-in preprocessor; reloads it like stock TF Serving."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from keras_llm import export
from keras_llm.export import module as module_lib
from keras_llm.export import warmup
from tests.export import fresh_process
from tests.export import toy

LABELS = ("negative", "positive")
TEXTS = ["a good film", "", "AWFUL awful bad", "映画 😀 ünï", "great " * 5000]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model, preprocessor = toy.toy_classifier(), toy.ToyPreprocessor()
    base = tmp_path_factory.mktemp("toy_classifier")
    path = export.export(export.TextClassifierModule(preprocessor, model, LABELS), base)
    expected = toy.reference_probabilities(model, preprocessor, TEXTS)
    return path, expected


def _signature_defs(path):
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    return proto.meta_graphs[0].signature_def


def test_signature_defs(exported):
    path, _ = exported
    defs = _signature_defs(path)
    assert set(defs) >= {"serving_default", "classify", "predict_token_ids"}
    assert defs["classify"].method_name == module_lib.CLASSIFY_METHOD
    assert defs["serving_default"].method_name == module_lib.PREDICT_METHOD
    assert set(defs["serving_default"].inputs) == {"text"}
    assert set(defs["serving_default"].outputs) == {"label", "probabilities"}
    assert defs["serving_default"].inputs["text"].dtype == tf.string.as_datatype_enum
    assert defs["serving_default"].outputs["probabilities"].dtype == tf.float32.as_datatype_enum
    assert set(defs["classify"].inputs) == {"inputs"}
    assert set(defs["classify"].outputs) == {"classes", "scores"}
    assert set(defs["predict_token_ids"].inputs) == {"token_ids", "segment_ids", "padding_mask"}
    assert set(defs["predict_token_ids"].outputs) == {"logits"}


def test_warmup_file_covers_every_signature(exported):
    path, _ = exported
    logs = warmup.read_warmup_requests(path)
    kinds = [(log.WhichOneof("log_type"), _signature_name(log)) for log in logs]
    assert kinds == [("predict_log", "serving_default"), ("classify_log", "classify"),
                     ("predict_log", "predict_token_ids")]


def _signature_name(log):
    return getattr(log, log.WhichOneof("log_type")).request.model_spec.signature_name


def test_fresh_process_without_tensorflow_text_matches_keras(exported):
    path, expected = exported
    out = fresh_process.run_in_fresh_process(path, TEXTS)
    assert not out["tensorflow_text_loaded"]
    assert out["signatures"] == ["classify", "predict_token_ids", "serving_default"]
    np.testing.assert_allclose(out["probabilities"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["scores"], expected, rtol=1e-5, atol=1e-6)
    assert out["label"] == [LABELS[i] for i in expected.argmax(-1)]
    assert out["classes"] == [list(LABELS)] * len(TEXTS)
    assert out["check_ok"], out["check_summary"]


def test_invalid_utf8_and_long_input_get_answers(exported):
    path, _ = exported
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    out = serve(text=tf.constant([b"\xff\xfe bad bytes", "x" * 100000, ""]))
    probabilities = out["probabilities"].numpy()
    assert probabilities.shape == (3, 2)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)


def test_check_in_process(exported):
    path, _ = exported
    report = export.check(path.parent)  # base path -> latest version
    assert report.ok, report.summary()
    assert report.path == str(path)
    assert report.non_core_ops == [] and report.serving_releases == ["2.11.0", "2.12.0-2.19.1",
                                                                     "2.20.0"]
    assert {"StringSplitV2", "LookupTableFindV2", "UnicodeTranscode"} <= set(report.ops)
    ran = {(r.name, r.source) for r in report.runs}
    assert ran == {(n, s) for n in ("serving_default", "classify", "predict_token_ids")
                   for s in ("warmup", "synthesized")}


def test_labels_are_validated():
    with pytest.raises(ValueError, match="labels"):
        export.TextClassifierModule(toy.ToyPreprocessor(), toy.toy_classifier(), ["only"])


def test_check_rejects_non_saved_model(tmp_path):
    with pytest.raises(ValueError, match="neither a SavedModel"):
        export.check(tmp_path)


_TFTEXT_EXPORT = r"""
import sys, tensorflow as tf, tensorflow_text as tft
class M(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tok(self, text):
        return {"n": tft.WhitespaceTokenizer().tokenize(text).row_lengths()}
m = M()
tf.saved_model.save(m, sys.argv[1], signatures={"serving_default": m.tok})
"""


@pytest.mark.slow  # two extra TensorFlow processes (~1 min on a loaded 2-core machine)
def test_check_cli_flags_tensorflow_text_ops(tmp_path):
    pytest.importorskip("tensorflow_text")
    path = tmp_path / "tftext_model"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    subprocess.run([sys.executable, "-c", _TFTEXT_EXPORT, str(path)], check=True, env=env,
                   timeout=300, capture_output=True)
    cli = [sys.executable, "-c", "from keras_llm.check import run; run()",
           str(path)]  # what the `keras-llm-check` console script runs
    proc = subprocess.run(cli, env=env, timeout=300, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "WhitespaceTokenizeWithOffsetsV2" in proc.stdout
    assert "loads only on TF Serving 2.11.0, 2.12.0-2.19.1, 2.20.0" in proc.stdout
    assert "PROBLEMS FOUND" in proc.stdout
