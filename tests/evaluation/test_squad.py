"""SQuAD v1.1 EM/F1 against the rules of the official evaluate-v1.1.py, edge case by edge case."""
import pytest

from keras_llm.evaluation import squad


@pytest.mark.parametrize("text, expected", [
    ("The Denver Broncos", "denver broncos"),           # lowercase, article dropped
    ("  Denver\n\tBroncos  ", "denver broncos"),         # whitespace collapsed
    ("U.S. Army's", "us armys"),                         # ASCII punctuation dropped, not spaced
    ("well-known", "wellknown"),
    ("An apple a day", "apple day"),                     # a / an / the as whole words only
    ("Anthem theory atheist", "anthem theory atheist"),
    ("(the) end", "end"),                                # punctuation goes before articles
    ("the-end", "theend"),                               # ... so this is one word
    ("THE", ""),
    ("“quoted” — dash", "“quoted” — dash"),             # non-ASCII punctuation stays
    ("Ça fait 24–10", "ça fait 24–10"),
])
def test_normalize_answer(text, expected):
    assert squad.normalize_answer(text) == expected


def test_exact_match():
    assert squad.exact_match("the Broncos!", "Broncos") == 1.0
    assert squad.exact_match("Broncos", "Denver Broncos") == 0.0


def test_f1_token_overlap():
    # prediction {denver, broncos, won}, reference {denver, broncos}: P 2/3, R 1 -> F1 0.8
    assert squad.f1_score("Denver Broncos won", "the Denver Broncos") == pytest.approx(0.8)
    # tokens are a multiset: "x" shared once, "y" once -> P 2/3, R 1
    assert squad.f1_score("x x y", "x y") == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))
    assert squad.f1_score("cat", "dog") == 0.0


def test_empty_answers_score_zero_f1_in_v1():
    assert squad.f1_score("", "") == 0.0            # v1.1: no shared token -> 0 (v2.0 says 1)
    assert squad.f1_score("the", "a") == 0.0        # both normalize to ""
    assert squad.exact_match("the", "a") == 1.0     # ... yet they match exactly


def test_corpus_scores_take_max_over_references_and_count_missing():
    references = {"q1": ["Denver Broncos", "Broncos"], "q2": ["Carolina Panthers"],
                  "q3": ["Santa Clara"]}
    predictions = {"q1": "Broncos", "q2": "Panthers", "unknown": "x"}  # q3 unanswered
    scores = squad.squad_v1_scores(references, predictions)
    assert scores["examples"] == 3
    assert scores["exact_match"] == pytest.approx(100 / 3)
    # q1: 1.0 (second reference); q2: P 1, R 1/2 -> 2/3; q3: 0
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)
    with pytest.raises(ValueError):
        squad.squad_v1_scores({}, {})
