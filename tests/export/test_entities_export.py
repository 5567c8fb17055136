"""The NER SavedModel: raw text in, typed entities with code-point offsets out; pre-split words
in, IOB2 tags out. A `MarkerModel` (a fixed class per token id) checks the entities and their
offsets; a tiny random BertTokenClassifier checks SavedModel == host tags and entities; a fresh
process without tensorflow_text loads it and keras_llm.export.check passes."""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_llm import export, models
from keras_llm.models.bert.token_classification import recognize_entities, tag_words
from keras_llm.models.bert.word_preprocessor import BertWordPreprocessor
from tests.models import squad_fixture

LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
# Token -> class of the marker model (every other token: O).
MARKS = {"peter": "B-PER", "blackburn": "I-PER", "paris": "B-LOC", "sao": "B-LOC",
         "paulo": "I-LOC", "u": "B-LOC", "s": "I-LOC", "sony": "B-ORG", "corp": "I-ORG",
         "german": "B-MISC", "york": "I-LOC"}


class MarkerModel(keras.Model):
    """Logits (B, T, C): 5 on the class MARKS gives each token, on O elsewhere."""

    def __init__(self, tokenizer, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = len(LABELS)
        table = np.zeros([tokenizer.vocabulary_size], np.int32)
        for token, tag in MARKS.items():
            table[tokenizer.token_to_id(token)] = LABELS.index(tag)
        self.table = tf.constant(table)

    def call(self, inputs, training=False):
        classes = tf.gather(self.table, tf.cast(inputs["token_ids"], tf.int32))
        return tf.one_hot(classes, self.num_classes) * 5.0


def _preprocessor(length=24):
    return BertWordPreprocessor(str(squad_fixture.VOCAB), sequence_length=length)


@pytest.fixture(scope="module")
def marker(tmp_path_factory):
    preprocessor = _preprocessor()
    module = export.EntityRecognitionModule(preprocessor, MarkerModel(preprocessor.tokenizer),
                                            LABELS, max_input_chars=2048)
    return export.export(module, tmp_path_factory.mktemp("ner_marker"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    preprocessor = _preprocessor()
    keras.utils.set_random_seed(0)
    backbone = models.BertBackbone(preprocessor.tokenizer.vocabulary_size, num_layers=1,
                                   num_heads=2, hidden_dim=32, intermediate_dim=64,
                                   max_sequence_length=24, dropout=0.0)
    model = models.BertTokenClassifier(backbone, len(LABELS), dropout=0.0)
    # Large head weights, so the random model predicts every class somewhere.
    kernel = model.classifier.kernel
    kernel.assign(np.random.default_rng(0).normal(size=kernel.shape) * 3.0)
    module = export.EntityRecognitionModule(preprocessor, model, LABELS)
    return model, preprocessor, export.export(module, tmp_path_factory.mktemp("ner_tiny"))


def _entities(path, texts):
    out = tf.saved_model.load(str(path)).signatures["serving_default"](text=tf.constant(texts))
    out = {k: v.numpy().tolist() for k, v in out.items()}
    return [[{"text": t.decode(), "type": y.decode(), "start": s, "end": e}
             for t, y, s, e in zip(*(out[k][i] for k in ("entity_text", "entity_type",
                                                          "entity_start", "entity_end")))
             if s >= 0] for i in range(len(texts))], out


def test_entities_and_offsets(marker):
    texts = ["Peter Blackburn flew from Paris to the U.S. with Sony Corp.",
             "😀 Ünïcödé: São Paulo, then New York!", "", "nothing here", "Paris"]
    entities, out = _entities(marker, texts)
    assert [(e["type"], e["text"]) for e in entities[0]] == [
            ("PER", "Peter Blackburn"), ("LOC", "Paris"), ("LOC", "U.S."), ("ORG", "Sony Corp")]
    # "York" is I-LOC after O: an entity of its own (conlleval).
    assert [(e["type"], e["text"]) for e in entities[1]] == [("LOC", "São Paulo"),
                                                             ("LOC", "York")]
    assert entities[2:] == [[], [], [{"text": "Paris", "type": "LOC", "start": 0, "end": 5}]]
    for text, found in zip(texts, entities):
        assert all(text[e["start"]:e["end"]] == e["text"] for e in found)
    # Padding: "" types/texts and -1 offsets past each text's entities.
    assert len(out["entity_type"][0]) == 4 and out["entity_type"][2] == [b""] * 4
    assert out["entity_start"][2] == [-1] * 4 and out["entity_end"][3] == [-1] * 4


def test_tag_words_with_padding_and_vanishing_words(marker):
    tag = tf.saved_model.load(str(marker)).signatures["tag_words"]
    words = [["Peter", "Blackburn", "\x07", "Paris", ""], ["", "", "", "", ""],
             ["Sony", "unbelievablyzzq", "Corp", "German", "York"]]
    tags = [[t.decode() for t in row] for row in tag(words=tf.constant(words))["tags"].numpy()]
    assert tags == [["B-PER", "I-PER", "O", "B-LOC", ""], [""] * 5,
                    ["B-ORG", "O", "I-ORG", "B-MISC", "I-LOC"]]
    # Words past the sequence length (24 tokens) get "O".
    long = [["Paris"] * 30]
    tags = tag(words=tf.constant(long))["tags"].numpy()[0]
    assert list(tags[:22]) == [b"B-LOC"] * 22 and list(tags[22:]) == [b"O"] * 8


def test_saved_model_equals_host(tiny):
    model, preprocessor, path = tiny
    words = [["Peter", "Blackburn", "visited", "Ünïcödé", "映画", "😀", "Paris", "."],
             ["unbelievablyzzq"] * 9, ["\x07", "a", ""], ["x"]]
    host = tag_words(model, preprocessor, words, LABELS)
    width = max(len(w) for w in words)
    served = tf.saved_model.load(str(path)).signatures["tag_words"](
            words=tf.constant([w + [""] * (width - len(w)) for w in words]))["tags"].numpy()
    got = [[t.decode() for t in row[:len(w)]] for row, w in zip(served, words)]
    expected = [["" if w == "" else t for w, t in zip(ws, ts)] for ws, ts in zip(words, host)]
    assert got == expected
    assert len({t for row in host for t in row} - {"O"}) >= 2  # not all O
    texts = ["Peter Blackburn visited Ünïcödé 映画 😀 Paris, the U.S. and 1,000 fans.",
             "", "\x07 unbelievablyzzq " * 6]
    served_entities, _ = _entities(path, texts)
    assert served_entities == recognize_entities(model, preprocessor, texts, LABELS)
    assert any(served_entities)


_SCRIPT = r"""
import json, sys
import tensorflow as tf
path, text = sys.argv[1], sys.argv[2]
m = tf.saved_model.load(path)
r = m.signatures["serving_default"](text=tf.constant([text]))
out = {k: v.numpy().tolist()[0] for k, v in r.items()}
out = {k: [x.decode() if isinstance(x, bytes) else x for x in v] for k, v in out.items()}
out["signatures"] = sorted(m.signatures)
import keras_llm.export
report = keras_llm.export.check(path)
out["check_ok"], out["check_summary"] = report.ok, report.summary()
out["tensorflow_text_loaded"] = "tensorflow_text" in sys.modules
print("RESULT:" + json.dumps(out))
"""


def run_ner_in_fresh_process(path, text, timeout=300):
    """serving_default on one text + keras_llm.export.check, in a process without tf-text."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(path), text], capture_output=True,
                          text=True, timeout=timeout, env=env,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT:")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT:"):])


def test_fresh_process_without_tensorflow_text(marker):
    text = "Peter Blackburn left São Paulo."
    out = run_ner_in_fresh_process(marker, text)
    assert not out["tensorflow_text_loaded"]
    assert out["check_ok"], out["check_summary"]
    assert out["signatures"] == ["predict_token_ids", "serving_default", "tag_words"]
    assert out["entity_text"] == ["Peter Blackburn", "São Paulo"]
    assert [text[s:e] for s, e in zip(out["entity_start"], out["entity_end"])] == out[
            "entity_text"]
