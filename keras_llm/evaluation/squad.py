"""SQuAD v1.1 exact match and F1, by the rules of the official `evaluate-v1.1.py`.

- normalize_answer: lowercase; drop every ASCII punctuation character (Python's
  `string.punctuation`; other punctuation such as “ ” — stays); replace the words a/an/the
  (whole words, after the punctuation is gone) by a space; collapse whitespace.
- exact match: the normalized strings are equal.
- F1: precision/recall of the normalized whitespace tokens (a multiset); 0 when no token is
  shared, so an empty prediction scores 0 even against an empty reference (v1.1; v2.0 differs).
- per question the max over its reference answers; a corpus score is 100 * the mean over all
  questions of the data set, a question without a prediction counting 0.
"""
import collections
import re
import string
from typing import Dict, Mapping, Sequence

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


def f1_score(prediction: str, reference: str) -> float:
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(reference).split()
    shared = sum((collections.Counter(predicted) & collections.Counter(expected)).values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(predicted), shared / len(expected)
    return 2 * precision * recall / (precision + recall)


def best_over_references(metric, prediction: str, references: Sequence[str]) -> float:
    return max(metric(prediction, reference) for reference in references)


def squad_v1_scores(references: Mapping[str, Sequence[str]],
                    predictions: Mapping[str, str]) -> Dict[str, float]:
    """references: question id -> its answer texts; predictions: question id -> answer.
    -> {"exact_match", "f1"} in percent over every question of `references`, "examples"."""
    if not references:
        raise ValueError("squad_v1_scores needs at least one question.")
    em = f1 = 0.0
    for qid, answers in references.items():
        if qid in predictions:
            em += best_over_references(exact_match, predictions[qid], answers)
            f1 += best_over_references(f1_score, predictions[qid], answers)
    count = len(references)
    return {"exact_match": 100.0 * em / count, "f1": 100.0 * f1 / count, "examples": count}
