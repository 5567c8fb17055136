"""Corpus BLEU as sacreBLEU computes it (BLEU-4, one reference per sentence, the `13a`
tokenizer of mteval-v13a, brevity penalty over the corpus, `exp` smoothing of empty n-gram
orders), so translation results are comparable with papers that report sacreBLEU.

    corpus_bleu(hypotheses, references)                    # sacreBLEU default: cased
    corpus_bleu(hypotheses, references, lowercase=True)    # sacreBLEU -lc

The `sacrebleu` package is a test oracle only (tests/evaluation/test_bleu.py); nothing here
needs it.
"""
import collections
import math
import re
from typing import Dict, List, Sequence

MAX_ORDER = 4

# mteval-v13a: split off punctuation and symbols; periods and commas only next to a non-digit;
# a dash after a digit.
_13A_RULES = (
        (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
        (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
        (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
        (re.compile(r"([0-9])(-)"), r"\1 \2 "),
)
_ENTITIES = (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"))


def tokenize_13a(line: str) -> str:
    """The `13a` tokenization of one line (tokens joined by single spaces)."""
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        for entity, char in _ENTITIES:
            line = line.replace(entity, char)
    line = f" {line} "
    for pattern, replacement in _13A_RULES:
        line = pattern.sub(replacement, line)
    return " ".join(line.split())


def _ngrams(tokens: List[str]) -> collections.Counter:
    return collections.Counter(tuple(tokens[i:i + n]) for n in range(1, MAX_ORDER + 1)
                               for i in range(len(tokens) - n + 1))


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str],
                lowercase: bool = False) -> Dict[str, object]:
    """BLEU of `hypotheses` against one reference each. Returns {"bleu" (0-100),
    "precisions" (per order, 0-100), "brevity_penalty", "length_ratio",
    "hypothesis_length", "reference_length", "signature"}."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references; "
                         "give exactly one reference per hypothesis.")
    correct, total = [0] * MAX_ORDER, [0] * MAX_ORDER
    hyp_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references):
        if lowercase:
            hyp, ref = hyp.lower(), ref.lower()
        hyp_tokens, ref_tokens = tokenize_13a(hyp).split(), tokenize_13a(ref).split()
        hyp_len += len(hyp_tokens)
        ref_len += len(ref_tokens)
        hyp_counts, ref_counts = _ngrams(hyp_tokens), _ngrams(ref_tokens)
        for gram, count in hyp_counts.items():
            correct[len(gram) - 1] += min(count, ref_counts[gram])
        for n in range(MAX_ORDER):
            total[n] += max(0, len(hyp_tokens) - n)
    precisions = [0.0] * MAX_ORDER
    smooth = 1.0
    for n in range(MAX_ORDER):
        if total[n] == 0:
            break  # no n-grams of this order at all: the score is 0
        if correct[n] == 0:  # `exp` smoothing: 1 / 2^k for the k-th empty order
            smooth *= 2
            precisions[n] = 100.0 / (smooth * total[n])
        else:
            precisions[n] = 100.0 * correct[n] / total[n]
    if hyp_len >= ref_len:
        penalty = 1.0
    else:
        penalty = math.exp(1.0 - ref_len / hyp_len) if hyp_len else 0.0
    if min(precisions) <= 0.0:
        bleu = 0.0
    else:
        bleu = penalty * math.exp(sum(math.log(p) for p in precisions) / MAX_ORDER)
    case = "lc" if lowercase else "mixed"
    return {"bleu": bleu, "precisions": precisions, "brevity_penalty": penalty,
            "length_ratio": hyp_len / ref_len if ref_len else 0.0,
            "hypothesis_length": hyp_len, "reference_length": ref_len,
            "signature": f"nrefs:1|case:{case}|eff:no|tok:13a|smooth:exp|version:keras_llm"}
