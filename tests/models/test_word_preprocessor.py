"""BertWordPreprocessor: word <-> token alignment (many pieces, vanishing words, truncation in
a word), labels on first pieces, host == graph, and per-word read-back of predictions."""
import numpy as np
import pytest
import tensorflow as tf

from keras_llm.models.bert.word_preprocessor import (IGNORE, BertWordPreprocessor,
                                                     word_predictions, word_predictions_numpy)
from tests.models import squad_fixture

KEYS = ("token_ids", "segment_ids", "padding_mask", "word_ids", "first_subword")


@pytest.fixture(scope="module")
def preprocessor():
    return BertWordPreprocessor(str(squad_fixture.VOCAB), sequence_length=16)


def _graph_rows(preprocessor, words):
    width = max([len(w) for w in words] + [1])
    dense = tf.constant([list(w) + [""] * (width - len(w)) for w in words])
    out = preprocessor(dense)
    lengths = out["padding_mask"].numpy().sum(axis=1)
    return {k: [r[:n].tolist() for r, n in zip(out[k].numpy(), lengths)] for k in KEYS}


def test_word_split_into_many_pieces(preprocessor):
    words = ["Peter", "unbelievablyzzq", "Berlin"]
    pieces = preprocessor.tokenizer.encode(["unbelievablyzzq"])[0]
    assert len(pieces) >= 3
    out = preprocessor.encode([words], tags=[[1, 0, 5]])
    n = len(pieces)
    assert out["word_ids"][0] == [-1, 0] + [1] * n + [2, -1]
    assert out["first_subword"][0] == [0, 1, 1] + [0] * (n - 1) + [1, 0]
    assert out["labels"][0] == [IGNORE, 1, 0] + [IGNORE] * (n - 1) + [5, IGNORE]


def test_vanishing_words_get_no_token_and_no_prediction(preprocessor):
    words = ["Peter", "\x07\u200b", "", "Berlin"]  # control/format characters only; empty
    out = preprocessor.encode([words], tags=[[1, 2, 0, 5]])
    assert out["word_ids"][0] == [-1, 0, 3, -1]
    assert out["labels"][0] == [IGNORE, 1, 5, IGNORE]
    logits = np.eye(9)[[0, 3, 6, 0]][None]  # class of each token
    tags = word_predictions_numpy(logits, out["word_ids"], out["first_subword"], [4])
    assert tags == [[3, -1, -1, 6]]


def test_truncation_in_the_middle_of_a_word(preprocessor):
    # 16 tokens = [CLS] + 14 pieces + [SEP]: "a" x 12, then a 3-piece word cut after 2 pieces.
    long_word = "unbelievablyzzq"
    pieces = preprocessor.tokenizer.encode([long_word])[0]
    words = ["a"] * 12 + [long_word, "Berlin"]
    out = preprocessor.encode([words], tags=[[0] * 12 + [3, 5]])
    assert len(out["token_ids"][0]) == 16
    assert out["token_ids"][0][13:15] == pieces[:2]
    assert out["word_ids"][0][-3:] == [12, 12, -1]
    assert out["labels"][0][-3:] == [3, IGNORE, IGNORE]
    logits = np.zeros((1, 16, 9))
    logits[0, 13, 4] = 1.0
    tags = word_predictions_numpy(logits, out["word_ids"], out["first_subword"], [14])[0]
    assert tags[12] == 4 and tags[13] == -1  # the cut word keeps its prediction; Berlin: none
    assert _graph_rows(preprocessor, [words]) == {k: out[k] for k in KEYS}


def test_host_equals_graph(preprocessor):
    words = [["Peter", "Blackburn", "visited", "Ünïcödé", "映画", "😀"],
             [], ["", "x"], ["\x07"], ["unbelievablyzzq"] * 8, ["U.S.", "1,000", "AT&T"]]
    assert _graph_rows(preprocessor, words) == {k: v for k, v in
                                                preprocessor.encode(words).items()}


def test_graph_read_back_equals_host(preprocessor):
    words = [["Peter", "unbelievablyzzq", "in", "Berlin"], ["\x07", "a"] * 5,
             ["unbelievablyzzq"] * 7]
    host = preprocessor.encode(words)
    graph = preprocessor(tf.ragged.constant(words))
    logits = np.random.default_rng(0).normal(size=graph["token_ids"].shape + (9,))
    counts = [len(w) for w in words]
    expected = word_predictions_numpy(logits, host["word_ids"], host["first_subword"], counts)
    got = word_predictions(tf.constant(logits), graph["word_ids"], graph["first_subword"],
                           max(counts)).numpy()
    assert [row[:n].tolist() for row, n in zip(got, counts)] == expected
    assert (got[2, 7:] == -1).all() and -1 in expected[2]  # truncated words: no prediction


def test_split_then_encode_gives_text_offsets(preprocessor):
    text = "Peter Blackburn visited the U.S. in 1996."
    words, starts, ends = preprocessor.split_host([text])[0]
    graph_words, graph_starts, graph_ends = preprocessor.split(tf.constant([text]))
    assert [w.decode() for w in graph_words.to_list()[0]] == words
    assert graph_starts.to_list()[0] == starts and graph_ends.to_list()[0] == ends
    assert words == ["Peter", "Blackburn", "visited", "the", "U.S.", "in", "1996", "."]
