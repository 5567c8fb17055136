"""keras_llm.evaluation.bleu against the sacrebleu package (the oracle): the 13a tokenizer on
punctuation, numbers and entities, and corpus BLEU cased and lowercased, including the
smoothing of empty n-gram orders, the brevity penalty and empty hypotheses."""
import random

import pytest

from keras_llm.evaluation import bleu

sacrebleu = pytest.importorskip("sacrebleu")

TOKENIZER_CASES = [
        "Two young, White males are outside near many bushes.",
        "It costs $3.50 -- or 3,000 yen (2-3 days).",
        "A man's \"hat\" &amp; a dog&quot;s toy <skipped> at 10:30am; see www.x.org/a?b=c!",
        "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.",
        "ends with a dash-\nand a newline\n",
        "",
]


@pytest.mark.parametrize("line", TOKENIZER_CASES)
def test_13a_tokenizer_matches_sacrebleu(line):
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
    assert bleu.tokenize_13a(line) == Tokenizer13a()(line)


def _corpus(seed, size=60):
    rng = random.Random(seed)
    words = ["a", "A", "man", "dog", "is", "running", ".", ",", "the", "The", "in", "park",
             "red", "3.5", "-", "(", ")", "woman's", "ball"]
    refs = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 14))) for _ in range(size)]
    hyps = []
    for ref in refs:
        tokens = ref.split()
        if rng.random() < 0.5 and tokens:
            tokens[rng.randrange(len(tokens))] = rng.choice(words)
        if rng.random() < 0.3:
            tokens = tokens[: rng.randint(0, len(tokens))]
        hyps.append(" ".join(tokens))
    return hyps, refs


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("lowercase", [False, True])
def test_corpus_bleu_matches_sacrebleu(seed, lowercase):
    hyps, refs = _corpus(seed)
    ours = bleu.corpus_bleu(hyps, refs, lowercase=lowercase)
    theirs = sacrebleu.corpus_bleu(hyps, [refs], lowercase=lowercase)
    assert ours["bleu"] == pytest.approx(theirs.score, abs=1e-9)
    assert ours["precisions"] == pytest.approx(theirs.precisions, abs=1e-9)
    assert ours["brevity_penalty"] == pytest.approx(theirs.bp, abs=1e-12)
    assert (ours["hypothesis_length"], ours["reference_length"]) == (theirs.sys_len,
                                                                     theirs.ref_len)


@pytest.mark.parametrize("hyps,refs", [
        (["the cat sat"], ["the cat sat on the mat"]),  # brevity penalty, no 4-grams
        (["a b"], ["c d"]),  # nothing matches
        ([""], ["a man"]),  # empty hypothesis
        (["one two three four five"], ["one two three four five"]),  # perfect
])
def test_edge_cases_match_sacrebleu(hyps, refs):
    ours = bleu.corpus_bleu(hyps, refs)
    assert ours["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-9)


def test_case_matters_unless_lowercased():
    hyps, refs = ["A Man Runs ."], ["a man runs ."]
    assert bleu.corpus_bleu(hyps, refs)["bleu"] < 100.0
    assert bleu.corpus_bleu(hyps, refs, lowercase=True)["bleu"] == pytest.approx(100.0)


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        bleu.corpus_bleu(["a", "b"], ["a"])
