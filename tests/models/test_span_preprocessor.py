"""BertSpanPreprocessor: host == graph windows/offsets on the SQuAD fixture; window layout."""
import numpy as np
import pytest
import tensorflow as tf

from keras_llm.models.bert.span_preprocessor import BertSpanPreprocessor
from tests.models import squad_fixture

KEYS = ("token_ids", "segment_ids", "padding_mask", "token_starts", "token_ends")


@pytest.fixture(scope="module")
def preprocessor():
    # Short windows, so every fixture paragraph spans several of them.
    return BertSpanPreprocessor(str(squad_fixture.VOCAB), sequence_length=64, doc_stride=24,
                                max_question_tokens=16)


def _graph_rows(preprocessor, questions, contexts):
    out = preprocessor((tf.constant(questions), tf.constant(contexts)))
    lengths = out["padding_mask"].numpy().sum(axis=1)
    rows = {k: [r[:n].tolist() for r, n in zip(out[k].numpy(), lengths)] for k in KEYS}
    rows["window_example"] = out["window_example"].numpy().tolist()
    return rows, out


def test_host_equals_graph_on_fixture(preprocessor):
    examples = squad_fixture.examples()
    questions = [q for q, _, _, _ in examples] + ["", "who?", "long " * 40]
    contexts = [c for _, c, _, _ in examples] + ["", "", "Ünï 映画 😀 ok. " * 30]
    host = preprocessor.encode(questions, contexts)
    graph, packed = _graph_rows(preprocessor, questions, contexts)
    assert {k: host[k] for k in graph} == graph
    assert packed["token_ids"].shape[1] == 64  # full windows: cut only to the longest
    # The 4,063-character paragraph needs many windows; empty contexts need exactly one.
    counts = np.bincount(graph["window_example"], minlength=len(questions))
    assert counts.max() > 20 and counts[-3] == counts[-2] == 1 and counts.min() == 1


def test_window_layout_and_offsets(preprocessor):
    question, context = "Who won?", "The Denver Broncos won Super Bowl 50 in 2016 " * 12
    host = preprocessor.encode([question], [context])
    q_ids = preprocessor.tokenizer.encode([question])[0]
    c_ids, c_starts, c_ends = (x[0] for x in preprocessor.tokenizer.encode_with_offsets([context]))
    room, stride = 64 - 3 - len(q_ids), 24
    assert len(host["token_ids"]) == 1 + -(-(len(c_ids) - room) // stride)
    for k, ids in enumerate(host["token_ids"]):
        lo = k * stride
        assert ids[:len(q_ids) + 2] == [preprocessor.tokenizer.cls_token_id] + q_ids + [
                preprocessor.tokenizer.sep_token_id]
        assert ids[len(q_ids) + 2:-1] == c_ids[lo:lo + room]
        starts = host["token_starts"][k]
        assert starts[:len(q_ids) + 2] == [-1] * (len(q_ids) + 2) and starts[-1] == -1
        assert starts[len(q_ids) + 2:-1] == c_starts[lo:lo + room]
        assert host["token_ends"][k][len(q_ids) + 2:-1] == c_ends[lo:lo + room]
    # The windows together cover every context token; the last one ends at the context's end.
    assert host["token_ends"][-1][-2] == c_ends[-1]


def test_long_question_is_cut(preprocessor):
    host = preprocessor.encode(["why " * 50], ["short context"])
    assert host["segment_ids"][0].count(0) == 16 + 2


def test_answer_positions_point_into_their_windows(preprocessor):
    examples = squad_fixture.examples()
    questions, contexts, spans, _ = zip(*examples)
    host = preprocessor.encode(questions, contexts, spans)
    found, exact, answered = set(), 0, 0
    for w, example in enumerate(host["window_example"]):
        s, e = host["start_positions"][w], host["end_positions"][w]
        if s == 0:
            assert e == 0
            continue
        found.add(example)
        answered += 1
        a_start, a_end = spans[example]
        # The answer tokens' offsets cover the answer text (up to word boundaries).
        char_start = host["token_starts"][w][s]
        char_end = host["token_ends"][w][e]
        assert char_start <= a_start < char_end and char_start < a_end <= char_end
        exact += contexts[example][char_start:char_end] == contexts[example][a_start:a_end]
    assert found == set(range(len(examples)))  # every answer lies in some window
    assert exact >= 0.9 * answered  # others end inside a token ("gold" of "golden")


def test_answer_outside_every_token_points_at_cls(preprocessor):
    host = preprocessor.encode(["q"], ["a  b"], [(1, 3)])  # the spaces between words
    assert host["start_positions"] == host["end_positions"] == [0]


def test_config_round_trip(preprocessor):
    clone = BertSpanPreprocessor.from_config(preprocessor.get_config())
    assert clone.doc_stride == 24 and clone.max_question_tokens == 16
    with pytest.raises(ValueError, match="max_question_tokens"):
        BertSpanPreprocessor(str(squad_fixture.VOCAB), sequence_length=10, max_question_tokens=8)
