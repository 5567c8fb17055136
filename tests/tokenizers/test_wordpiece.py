"""WordPieceTokenizer: behaviour on a tiny vocabulary, host == graph, config, tf.data, save/load."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_llm import tokenizers

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox", "un",
         "##aff", "##able", "cafe", "!", ",", "'", "s", "中", "##s", "a", "##b", "##c"]


@pytest.fixture(scope="module")
def tok():
    return tokenizers.WordPieceTokenizer(VOCAB)


def _graph(tok, texts):
    ids, starts, ends = tf.function(tok.tokenize_with_offsets)(tf.constant(texts))
    return ids.to_list(), starts.to_list(), ends.to_list()


def test_basic_behaviour(tok):
    texts = ["The  QUICK brown fox!", "unaffable", "Café's", "中文", "x\u0000\u200bthe",
             "abcbx", "", "   ", "a" * 101]
    want = [[5, 6, 7, 8, 13], [9, 10, 11], [12, 15, 16], [17, 1], [1], [1], [], [], [1]]
    ids, starts, ends = tok.encode_with_offsets(texts)
    assert ids == want
    # Offsets are code points of the original text; "x<NUL><ZWSP>the" is one word "xthe".
    assert list(zip(starts[0], ends[0])) == [(0, 3), (5, 10), (11, 16), (17, 20), (20, 21)]
    assert list(zip(starts[1], ends[1])) == [(0, 2), (2, 5), (5, 9)]
    assert list(zip(starts[2], ends[2])) == [(0, 4), (4, 5), (5, 6)]
    assert list(zip(starts[4], ends[4])) == [(0, 6)]
    assert list(zip(starts[8], ends[8])) == [(0, 101)]
    assert _graph(tok, texts) == (ids, starts, ends)


def test_cased_keeps_case_and_accents():
    cased = tokenizers.WordPieceTokenizer(VOCAB + ["The", "Café"], lowercase=False)
    assert cased.encode(["The the Café cafe"]) == [[22, 5, 23, 12]]
    assert _graph(cased, ["The the Café cafe"])[0] == [[22, 5, 23, 12]]


def test_properties_and_lookup(tok):
    assert (tok.vocabulary_size, tok.pad_token_id, tok.unk_token_id, tok.cls_token_id,
            tok.sep_token_id, tok.mask_token_id) == (len(VOCAB), 0, 1, 2, 3, 4)
    assert tok.token_to_id("fox") == 8 and tok.id_to_token(8) == "fox"
    with pytest.raises(ValueError, match="zebra"):
        tok.token_to_id("zebra")
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tokenizers.WordPieceTokenizer(["a", "b"])
    with pytest.raises(TypeError, match="list of str"):
        tok.encode("the fox")


def test_detokenize(tok):
    ids = tok.encode(["The quick unaffable fox!", "abc"])
    assert tok.decode(ids) == ["the quick unaffable fox !", "abc"]
    got = tok.detokenize(tf.ragged.constant(ids)).numpy().tolist()
    assert [g.decode() for g in got] == tok.decode(ids)


def test_scalar_input_and_dataset_map(tok):
    np.testing.assert_array_equal(tok(tf.constant("the fox")), [5, 8])
    ds = tf.data.Dataset.from_tensor_slices(["the fox", "brown"]).map(tok)
    assert [x.numpy().tolist() for x in ds] == [[5, 8], [7]]
    batched = tf.data.Dataset.from_tensor_slices(["the fox", "brown"]).batch(2).map(tok)
    assert next(iter(batched)).to_list() == [[5, 8], [7]]


def test_config_round_trip(tok):
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(tok))
    assert clone.get_config() == tok.get_config()
    assert clone.encode(["the quick fox"]) == tok.encode(["the quick fox"])


def test_saved_model_round_trip_carries_vocab_asset(tok, tmp_path):
    module = tf.Module()
    module.tok = tok
    module.fn = tf.function(lambda s: tok(s).to_tensor(),
                            input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(tmp_path))
    assert (tmp_path / "assets" / "vocab.txt").read_text().split("\n")[:3] == VOCAB[:3]
    loaded = tf.saved_model.load(str(tmp_path))
    np.testing.assert_array_equal(loaded.fn(tf.constant(["the fox", "quick"])), [[5, 8], [6, 0]])
