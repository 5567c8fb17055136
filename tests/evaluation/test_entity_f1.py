"""CoNLL entity decoding and scores: hand-made edge cases and random (ill-formed) sequences
against `seqeval` (default mode, which follows conlleval); graph decoding == host decoding."""
import random

import pytest
import tensorflow as tf

from keras_llm.evaluation import entity_f1
from keras_llm.models.bert import entity_decoding

seqeval_metrics = pytest.importorskip("seqeval.metrics")
from seqeval.metrics.sequence_labeling import get_entities  # noqa: E402

LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


@pytest.mark.parametrize("tags, entities", [
        (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 1), ("LOC", 3, 3)]),
        (["I-PER", "I-PER", "O"], [("PER", 0, 1)]),                  # I- without B-
        (["O", "I-LOC", "B-LOC", "I-LOC"], [("LOC", 1, 1), ("LOC", 2, 3)]),
        (["B-PER", "I-LOC", "I-LOC"], [("PER", 0, 0), ("LOC", 1, 2)]),  # I-X after B-Y
        (["B-PER", "B-PER", "I-PER"], [("PER", 0, 0), ("PER", 1, 2)]),
        (["I-ORG", "I-MISC", "I-ORG"], [("ORG", 0, 0), ("MISC", 1, 1), ("ORG", 2, 2)]),
        (["O", "O"], []), ([], []),
])
def test_hand_made_entities(tags, entities):
    assert entity_f1.iob2_entities(tags) == entities
    assert [(t, s, e) for t, s, e in get_entities(tags)] == entities


def _random_sentences(rng, count, ill_formed=True):
    out = []
    for _ in range(count):
        tags = []
        for _ in range(rng.randrange(0, 15)):
            prev = tags[-1] if tags else "O"
            # Well-formed: I-X only after B-X or I-X.
            choices = [t for t in LABELS if ill_formed or not t.startswith("I-")
                       or (prev != "O" and t[2:] == prev[2:])]
            tags.append(rng.choice(choices + ["O", "O"]))
        out.append(tags)
    return out


def _seqeval(true, predicted):
    report = seqeval_metrics.classification_report(true, predicted, output_dict=True,
                                                   zero_division=0)
    return {"precision": 100 * seqeval_metrics.precision_score(true, predicted),
            "recall": 100 * seqeval_metrics.recall_score(true, predicted),
            "f1": 100 * seqeval_metrics.f1_score(true, predicted),
            "per_type": {k: v for k, v in report.items() if "avg" not in k}}


@pytest.mark.parametrize("seed, ill_formed", [(0, True), (1, True), (2, False), (3, False)])
def test_scores_match_seqeval(seed, ill_formed):
    rng = random.Random(seed)
    true = _random_sentences(rng, 200, ill_formed)
    # Predictions: the truth with some tags changed (so there are hits and misses).
    predicted = [[rng.choice(LABELS) if rng.random() < 0.2 else t for t in s] for s in true]
    ours, theirs = entity_f1.entity_scores(true, predicted), _seqeval(true, predicted)
    for key in ("precision", "recall", "f1"):
        assert ours[key] == pytest.approx(theirs[key], abs=1e-9)
    assert sorted(ours["per_type"]) == sorted(theirs["per_type"])
    for kind, scores in theirs["per_type"].items():
        assert ours["per_type"][kind]["support"] == scores["support"]
        for key in ("precision", "recall", "f1"):
            assert ours["per_type"][kind][key] == pytest.approx(
                    100 * scores["f1-score" if key == "f1" else key], abs=1e-9)
    assert 0 < ours["f1"] < 100


def test_scores_edge_cases():
    assert entity_f1.entity_scores([["O"]], [["O"]])["f1"] == 0.0
    perfect = entity_f1.entity_scores([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])
    assert perfect["f1"] == perfect["precision"] == perfect["recall"] == 100.0
    # Boundaries must match exactly; ill-formed I- predictions count as entities.
    scores = entity_f1.entity_scores([["B-PER", "I-PER", "B-LOC"]], [["B-PER", "O", "I-LOC"]])
    assert (scores["precision"], scores["recall"]) == (50.0, 50.0)
    with pytest.raises(ValueError, match="sentence 0"):
        entity_f1.entity_scores([["O"]], [["O", "O"]])


def test_graph_decoding_equals_host():
    rng = random.Random(5)
    sentences = _random_sentences(rng, 40) + [[], ["O"], ["I-LOC"]]
    texts, starts, ends, classes = [], [], [], []
    width = max(len(s) for s in sentences)
    for tags in sentences:
        words = [rng.choice(["Ann", "Ünï", "x", "映画", "😀"]) for _ in tags]
        text = " ".join(words)
        s = [sum(len(w) + 1 for w in words[:i]) for i in range(len(words))]
        texts.append(text)
        starts.append(s + [0] * (width - len(s)))
        ends.append([a + len(w) for a, w in zip(s, words)] + [0] * (width - len(s)))
        row = [LABELS.index(t) for t in tags]
        row = [-1 if rng.random() < 0.1 else c for c in row]  # some words without prediction
        classes.append(row + [-1] * (width - len(row)))
    out = entity_decoding.decode_entities(tf.constant(classes), LABELS, tf.constant(starts),
                                          tf.constant(ends), tf.constant(texts))
    out = {k: v.numpy().tolist() for k, v in out.items()}
    for i, text in enumerate(texts):
        tags = entity_decoding.classes_to_tags(classes[i], LABELS)
        host = entity_decoding.entities_host(tags, starts[i], ends[i], text)
        n = len(host)
        assert [e["text"].encode() for e in host] == out["entity_text"][i][:n]
        assert [e["type"].encode() for e in host] == out["entity_type"][i][:n]
        assert [e["start"] for e in host] == out["entity_start"][i][:n]
        assert [e["end"] for e in host] == out["entity_end"][i][:n]
        assert set(out["entity_text"][i][n:]) <= {b""} and set(out["entity_end"][i][n:]) <= {-1}
        assert all(text[e["start"]:e["end"]] == e["text"] for e in host)
