"""train_wordpiece_vocabulary: layout, greedy merge order, usable by WordPieceTokenizer."""
import pytest

from keras_llm import tokenizers
from keras_llm.tokenizers.wordpiece_trainer import count_words

CORPUS = ["The lowest, lower LOW low!", "newer newest new widest wide"] * 5 + ["Café 中文"]


def test_count_words_uses_bert_splitting():
    words = count_words(["Hello, WORLD! Café 中文"])
    assert words == {"hello": 1, ",": 1, "world": 1, "!": 1, "cafe": 1, "中": 1, "文": 1}
    assert count_words(["Café"], lowercase=False) == {"Café": 1}


def test_vocabulary_layout_and_merges():
    vocab = tokenizers.train_wordpiece_vocabulary(CORPUS, 60)
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert len(vocab) == len(set(vocab)) <= 60
    # The most frequent characters come first in the alphabet, continuation marked "##".
    assert vocab[5] == "##e" and "l" in vocab and "##w" in vocab
    # Frequent words are merged into whole tokens, in frequency order: "low" before "lowest".
    assert "low" in vocab and "new" in vocab and "lowest" in vocab
    assert vocab.index("low") < vocab.index("lowest")
    # Pairs seen once ("cafe", "中文" characters) are not merged.
    assert "cafe" not in vocab and "中" in vocab


def test_trained_vocabulary_tokenizes_corpus_without_unknowns():
    vocab = tokenizers.train_wordpiece_vocabulary(CORPUS, 40)
    tok = tokenizers.WordPieceTokenizer(vocab)
    ids = tok.encode(CORPUS)
    assert all(tok.unk_token_id not in row for row in ids)
    assert tok.decode(ids)[0] == "the lowest , lower low low !"


def test_bad_arguments():
    with pytest.raises(ValueError, match="vocabulary_size 3"):
        tokenizers.train_wordpiece_vocabulary(CORPUS, 3)
    with pytest.raises(TypeError, match="str"):
        tokenizers.train_wordpiece_vocabulary([b"bytes"], 100)


@pytest.mark.slow
@pytest.mark.needs_data
def test_wikitext2_vocabulary_is_fast_and_covers_the_corpus():
    """WikiText-2 (valid split, 217 K words) -> 8,000 tokens in about half a minute."""
    import time  # pylint: disable=import-outside-toplevel
    from keras_llm.utils import paths  # pylint: disable=import-outside-toplevel
    path = paths.shared_data_dir() / "wikitext2" / "wiki.valid.tokens"
    texts = path.read_text(encoding="utf-8").split("\n")
    t0 = time.perf_counter()
    vocab = tokenizers.train_wordpiece_vocabulary(texts, 8000)
    seconds = time.perf_counter() - t0
    assert len(vocab) == 8000 and seconds < 120, seconds  # loose bound: shared CI machines
    tok = tokenizers.WordPieceTokenizer(vocab)
    ids = tok.encode(texts[:500])
    assert sum(row.count(tok.unk_token_id) for row in ids) == 0
    assert sum(len(r) for r in ids) < 1.3 * sum(len(t.split()) for t in texts[:500])
