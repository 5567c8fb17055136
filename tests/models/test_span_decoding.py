"""Span decoding: host == graph spans on random logits over fixture windows; rules by hand."""
import numpy as np
import pytest
import tensorflow as tf

from keras_llm.models.bert import span_decoding
from keras_llm.models.bert.span_preprocessor import BertSpanPreprocessor
from tests.models import squad_fixture


def _decode_both(logits_start, logits_end, windows, num_examples, max_answer_tokens):
    args = (logits_start, logits_end, windows["padding_mask"], windows["token_starts"],
            windows["token_ends"], windows["window_example"], num_examples, max_answer_tokens)
    graph = tf.function(span_decoding.decode_spans, autograph=False)(
            *[tf.constant(a) if isinstance(a, np.ndarray) else a for a in args[:6]], *args[6:])
    host = span_decoding.decode_spans_numpy(*args)
    return {k: v.numpy() for k, v in graph.items()}, host


def test_host_equals_graph_on_fixture_windows():
    preprocessor = BertSpanPreprocessor(str(squad_fixture.VOCAB), sequence_length=48,
                                        doc_stride=16, max_question_tokens=12)
    examples = squad_fixture.examples()
    questions = [q for q, _, _, _ in examples] + ["empty?"]
    contexts = [c for _, c, _, _ in examples] + [""]
    windows = {k: v.numpy() for k, v in preprocessor((tf.constant(questions),
                                                      tf.constant(contexts))).items()}
    rng = np.random.default_rng(0)
    for _ in range(3):
        start, end = (rng.normal(0, 3, windows["token_ids"].shape).astype(np.float32)
                      for _ in range(2))
        graph, host = _decode_both(start, end, windows, len(contexts), 7)
        np.testing.assert_array_equal(graph["start"], host["start"])
        np.testing.assert_array_equal(graph["end"], host["end"])
        np.testing.assert_allclose(graph["score"], host["score"], rtol=1e-5)
    assert host["start"][-1] == host["end"][-1] == -1 and host["score"][-1] == 0
    assert (host["start"][:-1] >= 0).all() and (host["end"][:-1] > host["start"][:-1]).all()
    answers = span_decoding.cut_answers(tf.constant(contexts), graph["start"], graph["end"])
    for answer, context, s, e in zip(answers.numpy(), contexts, host["start"], host["end"]):
        assert answer.decode() == (context[s:e] if s >= 0 else "")


def _toy_windows():
    # Two examples: example 0 has windows 0 and 1, example 1 has window 2 (question only).
    # Columns: [CLS] q [SEP] c0 c1 c2 [SEP] pad; context tokens cover chars 0-3, 4-8, 9-12.
    starts = np.array([[-1, -1, -1, 0, 4, 9, -1, -1]] * 2 + [[-1, -1, -1, -1, -1, -1, -1, -1]])
    ends = np.array([[-1, -1, -1, 3, 8, 12, -1, -1]] * 2 + [[-1] * 8])
    padding = np.array([[1, 1, 1, 1, 1, 1, 1, 0]] * 2 + [[1, 1, 1, 0, 0, 0, 0, 0]])
    return {"token_starts": starts, "token_ends": ends, "padding_mask": padding,
            "window_example": np.array([0, 0, 1])}


def test_rules_by_hand():
    windows = _toy_windows()
    start = np.zeros((3, 8), np.float32)
    end = np.zeros((3, 8), np.float32)
    start[1, 4], end[1, 5] = 5.0, 5.0  # window 1: span c1..c2 (chars 4-12)
    start[0, 5], end[0, 3] = 9.0, 9.0  # end before start: never allowed
    start[1, 7], end[1, 7] = 50.0, 50.0  # padding never wins
    graph, host = _decode_both(start, end, windows, 2, 2)
    for out in (graph, host):
        assert out["start"].tolist() == [4, -1] and out["end"].tolist() == [12, -1]
        assert out["score"][1] == 0
    # The score is the span's probability: softmax over the window's 7 real tokens.
    p = np.exp(5.0) / (np.exp(5.0) + 6)
    assert host["score"][0] == pytest.approx(p * p, rel=1e-5)


def test_max_answer_tokens_bounds_the_span():
    windows = _toy_windows()
    start = np.zeros((3, 8), np.float32)
    end = np.zeros((3, 8), np.float32)
    start[0, 3], end[0, 5], end[0, 3] = 8.0, 8.0, 1.0  # c0..c2 spans 3 tokens
    for max_tokens, expected in ((3, (0, 12)), (2, (0, 3))):
        graph, host = _decode_both(start, end, windows, 2, max_tokens)
        assert (graph["start"][0], graph["end"][0]) == expected
        assert (host["start"][0], host["end"][0]) == expected
