"""WordSplitter: CoNLL-style words with code-point offsets; host == graph word for word."""
import random

import pytest
import tensorflow as tf

from keras_llm.tokenizers.words import WordSplitter


@pytest.fixture(scope="module")
def splitter():
    return WordSplitter()


def _graph(splitter, texts):
    words, starts, ends = splitter.split(tf.constant(texts))
    return [([w.decode("utf-8") for w in ws], s, e) for ws, s, e in
            zip(words.to_list(), starts.to_list(), ends.to_list())]


@pytest.mark.parametrize("text, words", [
        ("U.S. officials met in Paris.", ["U.S.", "officials", "met", "in", "Paris", "."]),
        ("1,000 fans, 10:30 on 1996-08-22", ["1,000", "fans", ",", "10:30", "on", "1996-08-22"]),
        ("O'Neill and AT&T, e.g. the U.N.", ["O'Neill", "and", "AT&T", ",", "e.g.", "the",
                                             "U.N."]),
        ("it cost 3.5. (Rome)", ["it", "cost", "3.5", ".", "(", "Rome", ")"]),
        ("Paris,France -- x-", ["Paris", ",", "France", "-", "-", "x", "-"]),
        ("東京 tokyo😀", ["東", "京", "tokyo😀"]),
        ("\t a \x07 b\u200b\n", ["a", "\x07", "b\u200b"]),
        ("", []), ("   ", []),
])
def test_conll_like_words(splitter, text, words):
    host_words, starts, ends = splitter.split_host([text])[0]
    assert host_words == words
    assert [text[s:e] for s, e in zip(starts, ends)] == words


def test_host_equals_graph(splitter):
    rng = random.Random(0)
    alphabet = list("aZ09 .,-'&/:’\t\n\x07\u200b()\"!?") + ["é", "映", "😀", "ß"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))
             for _ in range(300)]
    texts += ["U.S. officials met in Paris.", "a.b.c. 1,2,3 x:y 1:2 ..", "."]
    assert _graph(splitter, texts) == [tuple(x) for x in splitter.split_host(texts)]


def test_graph_offsets_are_code_points(splitter):
    text = "Ünïcödé 😀 São Paulo."
    words, starts, ends = _graph(splitter, [text])[0]
    assert [text[s:e] for s, e in zip(starts, ends)] == words == [
            "Ünïcödé", "😀", "São", "Paulo", "."]
