"""The QA SavedModel: raw question/context in, answer + code-point offsets out, as TF Serving.

A tiny random BertQuestionAnswerer checks host == graph answers on the SQuAD fixture; a
`MarkerModel` (start/end logits high on one word) checks where answers come from.
"""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_llm import export, models
from keras_llm.export import span, warmup
from keras_llm.models.bert.question_answering import answer_questions
from keras_llm.models.bert.span_preprocessor import BertSpanPreprocessor
from tests.models import squad_fixture

MARKER = "zebra"


class MarkerModel(keras.Model):
    """Start and end logits 8 on the token `marker_id`, 0 elsewhere (masked padding)."""

    def __init__(self, marker_id, **kwargs):
        super().__init__(**kwargs)
        self.marker_id = marker_id

    def call(self, inputs, training=False):
        hits = tf.cast(tf.equal(inputs["token_ids"], self.marker_id), tf.float32) * 8.0
        padding = (1.0 - tf.cast(inputs["padding_mask"], tf.float32)) * -1e9
        return {"start_logits": hits + padding, "end_logits": hits + padding}


def _preprocessor():
    return BertSpanPreprocessor(str(squad_fixture.VOCAB), sequence_length=48, doc_stride=16,
                                max_question_tokens=12)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    preprocessor = _preprocessor()
    keras.utils.set_random_seed(0)
    backbone = models.BertBackbone(preprocessor.tokenizer.vocabulary_size, num_layers=1,
                                   num_heads=2, hidden_dim=32, intermediate_dim=64,
                                   max_sequence_length=48, dropout=0.0)
    model = models.BertQuestionAnswerer(backbone, dropout=0.0)
    module = span.SpanQuestionAnsweringModule(preprocessor, model, max_answer_tokens=10,
                                              max_input_chars=4096)
    path = export.export(module, tmp_path_factory.mktemp("qa"))
    return model, preprocessor, path


@pytest.fixture(scope="module")
def marker(tmp_path_factory):
    preprocessor = _preprocessor()
    model = MarkerModel(preprocessor.tokenizer.token_to_id(MARKER))
    module = span.SpanQuestionAnsweringModule(preprocessor, model, max_answer_tokens=10,
                                              max_input_chars=4096)
    return export.export(module, tmp_path_factory.mktemp("qa_marker"))


def _serve(path, questions, contexts):
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    out = serve(question=tf.constant(questions, tf.string),
                context=tf.constant(contexts, tf.string))
    return {k: v.numpy() for k, v in out.items()}


def test_host_equals_saved_model_on_fixture(tiny):
    model, preprocessor, path = tiny
    examples = squad_fixture.examples()
    questions = [q for q, _, _, _ in examples] + ["question only?"]
    contexts = [c for _, c, _, _ in examples] + [""]
    served = _serve(path, questions, contexts)
    host = answer_questions(model, preprocessor, questions, contexts, max_answer_tokens=10)
    assert [a.decode() for a in served["answer"]] == host["answer"]
    np.testing.assert_array_equal(served["start"], host["start"])
    np.testing.assert_array_equal(served["end"], host["end"])
    np.testing.assert_allclose(served["score"], host["score"], rtol=1e-4, atol=1e-7)
    for answer, context, s, e in zip(host["answer"], contexts, served["start"], served["end"]):
        assert answer == context[s:e] if s >= 0 else (answer == "" and e == -1)
    assert served["start"][-1] == served["end"][-1] == -1 and served["score"][-1] == 0
    assert (served["score"][:-1] > 0).all() and (served["score"] <= 1).all()


def test_long_context_is_answered_from_its_last_window(marker):
    context = "Ünïcödé 映画 😀 " + "the river flows past old stone bridges . " * 40 + "ZEBRA!"
    preprocessor = _preprocessor()
    windows = preprocessor.encode(["where?"], [context])
    assert len(windows["token_ids"]) > 10  # far longer than one window
    marker_id = preprocessor.tokenizer.token_to_id(MARKER)
    assert [marker_id in w for w in windows["token_ids"]] == (
            [False] * (len(windows["token_ids"]) - 1) + [True])
    served = _serve(marker, ["where?", "where?", ""], [context, "", "zebra"])
    assert served["answer"][0].decode() == "ZEBRA"  # cut from the context, not detokenized
    start, end = served["start"][0], served["end"][0]
    assert context[start:end] == "ZEBRA" and end == len(context) - 1
    # empty context -> no answer; an empty question still reads the context
    assert served["answer"][1] == b"" and served["start"][1] == served["end"][1] == -1
    assert served["answer"][2] == b"zebra" and (served["start"][2], served["end"][2]) == (0, 5)


def test_empty_batch_and_huge_inputs(marker):
    served = _serve(marker, [], [])
    assert all(v.shape == (0,) for v in served.values())
    # Inputs are cut at max_input_chars = 4096 characters.
    served = _serve(marker, ["zebra " * 3000], ["word " * 5000 + "zebra"])
    # The marker lies past max_input_chars: some other word wins, inside the kept 4096 chars.
    assert served["answer"][0] == b"word" and 0 <= served["start"][0] < served["end"][0] <= 4096


def test_signatures_and_warmup(tiny):
    _, _, path = tiny
    loaded = tf.saved_model.load(str(path))
    assert sorted(loaded.signatures) == ["predict_token_ids", "serving_default"]
    outputs = loaded.signatures["serving_default"].structured_outputs
    assert {k: v.dtype for k, v in outputs.items()} == {
            "answer": tf.string, "score": tf.float32, "start": tf.int32, "end": tf.int32}
    logs = warmup.read_warmup_requests(path)
    assert [log.predict_log.request.model_spec.signature_name for log in logs] == [
            "serving_default", "serving_default", "predict_token_ids"]


_SCRIPT = r"""
import json, sys
import tensorflow as tf
path, question, context = sys.argv[1:4]
m = tf.saved_model.load(path)
serve = m.signatures["serving_default"]
r = serve(question=tf.constant([question]), context=tf.constant([context]))
out = {k: v.numpy().tolist() for k, v in r.items()}
out["answer"] = [a.decode() for a in out["answer"]]
import keras_llm.export
report = keras_llm.export.check(path)
out["check_ok"], out["check_summary"] = report.ok, report.summary()
out["tensorflow_text_loaded"] = "tensorflow_text" in sys.modules
print("RESULT:" + json.dumps(out))
"""


def run_qa_in_fresh_process(path, question, context, timeout=300):
    """serving_default + keras_llm.export.check in a process that never imports tensorflow_text."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(path), question, context],
                          capture_output=True, text=True, timeout=timeout, cwd=root,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT:")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT:"):])


def test_fresh_process_and_check(marker):
    context = "Animals: a zebra, a lion."
    out = run_qa_in_fresh_process(marker, "Which striped animal?", context)
    assert out["check_ok"], out["check_summary"]
    assert not out["tensorflow_text_loaded"]
    assert out["answer"] == ["zebra"] and context[out["start"][0]:out["end"][0]] == "zebra"
