"""train_bpe / save_bpe: hand-derived merges, determinism, size, files readable by both tokenizers."""
import json
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_llm.tokenizers.bpe_trainer import save_bpe, train_bpe
from keras_llm.tokenizers.byte_pair import BytePairTokenizer

CASES = json.loads((pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "bpe_expected.json")
                   .read_text(encoding="utf-8"))["cases"]
TEXTS = [case["text"] for case in CASES] * 3


def test_hand_derived_merges():
    # Words "ab", "Ġab" x2, "Ġabc": (a,b) occurs 4 times, then (Ġ,ab) 3 times, then nothing twice.
    vocab, merges = train_bpe(["ab ab ab abc"], vocabulary_size=1000)
    assert merges == ["a b", "\u0120 ab"]
    assert len(vocab) == 256 + 2 + 1
    assert vocab["ab"] == 256 and vocab["\u0120ab"] == 257 and vocab["<|endoftext|>"] == 258


def test_ties_break_by_token_age():
    # (a,b), (x,y), (Ġ,x) all occur twice: alphabet code-point order picks "a b", "x y" (Ġ = U+0120).
    _, merges = train_bpe(["ab xy", "ab xy"], vocabulary_size=1000)
    assert merges == ["a b", "x y", "\u0120 xy"]


def test_vocabulary_size_and_round_trip(tmp_path):
    vocab, merges = train_bpe(TEXTS, vocabulary_size=300)
    assert len(vocab) == 300
    assert sorted(vocab.values()) == list(range(300))
    assert vocab["<|endoftext|>"] == 299
    assert train_bpe(TEXTS, vocabulary_size=300) == (vocab, merges)  # deterministic
    vocab_path, merges_path = save_bpe(vocab, merges, tmp_path)
    tokenizer = BytePairTokenizer(vocab_path, merges_path)
    texts = [case["text"] for case in CASES]
    ids = tokenizer.encode(texts)
    assert tokenizer.decode(ids) == texts
    assert sum(map(len, ids)) < sum(len(t.encode("utf-8")) for t in texts)  # merges applied


def test_saved_files_load_in_hf_tokenizers(tmp_path):
    hf_lib = pytest.importorskip("tokenizers")
    vocab, merges = train_bpe(TEXTS, vocabulary_size=400)
    vocab_path, merges_path = save_bpe(vocab, merges, tmp_path)
    hf = hf_lib.Tokenizer(hf_lib.models.BPE.from_file(vocab_path, merges_path))
    hf.pre_tokenizer = hf_lib.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer = BytePairTokenizer(vocab, merges)
    texts = [case["text"] for case in CASES]
    assert [hf.encode(t).ids for t in texts] == tokenizer.encode(texts)


def test_same_merges_as_hf_bpe_trainer():
    hf_lib = pytest.importorskip("tokenizers")
    hf = hf_lib.Tokenizer(hf_lib.models.BPE())
    hf.pre_tokenizer = hf_lib.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf.train_from_iterator(TEXTS, hf_lib.trainers.BpeTrainer(
            vocab_size=400, min_frequency=2, special_tokens=["<|endoftext|>"], show_progress=False,
            initial_alphabet=hf_lib.pre_tokenizers.ByteLevel.alphabet()))
    hf_merges = [" ".join(m) for m in json.loads(hf.to_str())["model"]["merges"]]
    vocab, merges = train_bpe(TEXTS, vocabulary_size=400)
    assert merges == hf_merges
    assert set(vocab) == set(hf.get_vocab())


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.text(alphabet="ab c\n's\u00e9\u65e5", max_size=30), max_size=8),
       size=st.integers(258, 300))
def test_same_merges_as_hf_on_random_corpora(texts, size):
    hf_lib = pytest.importorskip("tokenizers")
    hf = hf_lib.Tokenizer(hf_lib.models.BPE())
    hf.pre_tokenizer = hf_lib.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf.train_from_iterator(texts, hf_lib.trainers.BpeTrainer(
            vocab_size=size, min_frequency=2, special_tokens=["<|endoftext|>"], show_progress=False,
            initial_alphabet=hf_lib.pre_tokenizers.ByteLevel.alphabet()))
    vocab, merges = train_bpe(texts, size)
    assert merges == [" ".join(m) for m in json.loads(hf.to_str())["model"]["merges"]]
    assert set(vocab) == set(hf.get_vocab())


def test_too_small_vocabulary():
    with pytest.raises(ValueError, match="vocabulary_size=100"):
        train_bpe(["a"], vocabulary_size=100)
