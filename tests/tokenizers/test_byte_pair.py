"""BytePairTokenizer: golden ids from HF tokenizers, host == graph, round trips, Keras/tf.data use.

The fixture (tests/fixtures/bpe_*) is a 1,000-token vocabulary trained on Tiny Shakespeare and
the ids/offsets HF `tokenizers` gives for it; `python tests/fixtures/bpe_make_fixture.py` rebuilds it.
"""
import json
import pathlib

import keras
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_llm.tokenizers.byte_pair import BytePairTokenizer

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
VOCAB, MERGES = FIXTURES / "bpe_vocab.json", FIXTURES / "bpe_merges.txt"
CASES = json.loads((FIXTURES / "bpe_expected.json").read_text(encoding="utf-8"))["cases"]
# Whitespace-heavy alphabet: exercises the `\s+(?!\S)` emulation and contractions.
TRICKY = st.text(alphabet=" \t\n\r\u00a0\u3000\u0085a1!'sdtlvre\u00e9\u65e5\U0001f600-", max_size=40)
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def tokenizer():
    return BytePairTokenizer(str(VOCAB), str(MERGES))


@pytest.fixture(scope="module")
def graph_fn(tokenizer):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(strings):
        ids, starts, ends = tokenizer.tokenize_with_offsets(strings)
        return ids, starts, ends, tokenizer.detokenize(ids)
    return tokenize


def _graph(graph_fn, texts):
    ids, starts, ends, text = graph_fn(tf.constant(texts, tf.string))
    return ids.to_list(), starts.to_list(), ends.to_list(), [t.decode("utf-8") for t in text.numpy()]


def _check_paths_agree(tokenizer, graph_fn, texts):
    ids, starts, ends = tokenizer.encode_with_offsets(texts)
    g_ids, g_starts, g_ends, g_text = _graph(graph_fn, texts)
    assert g_ids == ids
    assert g_starts == starts and g_ends == ends
    assert tokenizer.encode(texts) == ids
    assert tokenizer.decode(ids) == texts
    assert g_text == texts
    for text, row_starts, row_ends in zip(texts, starts, ends):
        assert all(0 <= s < e <= len(text) for s, e in zip(row_starts, row_ends))
        assert row_starts == sorted(row_starts)
        # Tokens cover the text: each starts where the last ended or inside its last character.
        assert all(s in (e - 1, e) for s, e in zip(row_starts[1:], row_ends[:-1]))
        if text:
            assert row_starts[0] == 0 and row_ends[-1] == len(text)


def test_golden_ids_and_offsets_from_hf(tokenizer, graph_fn):
    texts = [case["text"] for case in CASES]
    ids, starts, ends = tokenizer.encode_with_offsets(texts)
    g_ids, g_starts, g_ends, _ = _graph(graph_fn, texts)
    for case, row, s, e, g_row, g_s, g_e in zip(CASES, ids, starts, ends, g_ids, g_starts, g_ends):
        offsets = [list(o) for o in zip(s, e)]
        assert row == case["ids"], case["text"]
        assert offsets == case["offsets"], case["text"]
        assert (g_row, [list(o) for o in zip(g_s, g_e)]) == (row, offsets), case["text"]


def test_known_tokens(tokenizer):
    # The space before a word joins it (GPT-2 "Ġ" = byte 0x20).
    ids = tokenizer.encode(["the king"])[0]
    assert [tokenizer.id_to_token(i) for i in ids] == ["the", "\u0120king"]
    assert tokenizer.end_token_id == tokenizer.vocabulary_size - 1
    assert tokenizer.token_to_id("<|endoftext|>") == tokenizer.end_token_id


def test_multibyte_offsets_convention(tokenizer):
    # "日" is 3 UTF-8 bytes and not a merge: 3 tokens, each reporting the character's span.
    ids, starts, ends = tokenizer.encode_with_offsets(["a日"])
    assert len(ids[0]) == 4
    assert list(zip(starts[0], ends[0])) == [(0, 1), (1, 2), (1, 2), (1, 2)]


def test_self_overlapping_pairs_merge_left_to_right(tokenizer, graph_fn):
    # "l l", "o o", "e e", "s s", "- -" are merges: runs of one letter need non-overlapping merges.
    texts = ["l" * n + " " + "o" * (n + 1) + "-" * n for n in range(1, 12)] + ["eeeeessssss" * 30]
    _check_paths_agree(tokenizer, graph_fn, texts)
    hf_lib = pytest.importorskip("tokenizers")
    hf = hf_lib.Tokenizer(hf_lib.models.BPE.from_file(str(VOCAB), str(MERGES)))
    hf.pre_tokenizer = hf_lib.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    assert tokenizer.encode(texts) == [hf.encode(t).ids for t in texts]
    assert [tokenizer.id_to_token(i) for i in tokenizer.encode(["lll"])[0]] == ["ll", "l"]


@SETTINGS
@given(texts=st.lists(st.text(max_size=30), min_size=1, max_size=4))
def test_host_equals_graph_on_arbitrary_unicode(tokenizer, graph_fn, texts):
    _check_paths_agree(tokenizer, graph_fn, texts)


@SETTINGS
@given(texts=st.lists(TRICKY, min_size=1, max_size=4))
def test_host_equals_graph_on_whitespace_runs(tokenizer, graph_fn, texts):
    _check_paths_agree(tokenizer, graph_fn, texts)


@SETTINGS
@given(texts=st.lists(TRICKY | st.text(max_size=20), min_size=1, max_size=4))
def test_matches_hf_tokenizers(tokenizer, texts):
    hf_lib = pytest.importorskip("tokenizers")
    hf = hf_lib.Tokenizer(hf_lib.models.BPE.from_file(str(VOCAB), str(MERGES)))
    hf.pre_tokenizer = hf_lib.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    ids, starts, ends = tokenizer.encode_with_offsets(texts)
    for text, row, s, e in zip(texts, ids, starts, ends):
        encoding = hf.encode(text)
        assert (encoding.ids, encoding.offsets) == (row, list(zip(s, e))), repr(text)


def test_scalar_input_and_dataset_map(tokenizer):
    expected = tokenizer.encode(["To be, or not to be"])[0]
    assert tokenizer(tf.constant("To be, or not to be")).numpy().tolist() == expected
    dataset = tf.data.Dataset.from_tensor_slices(["To be, or not to be", "", "ay"]).map(tokenizer)
    rows = [row.tolist() for row in dataset.as_numpy_iterator()]
    assert rows == tokenizer.encode(["To be, or not to be", "", "ay"])
    batched = tf.data.Dataset.from_tensor_slices(["a b", "c"]).batch(2).map(tokenizer)
    assert next(iter(batched)).to_list() == tokenizer.encode(["a b", "c"])


def test_config_round_trip(tokenizer):
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(tokenizer))
    assert isinstance(restored, BytePairTokenizer)
    assert restored.get_config() == tokenizer.get_config()
    texts = ["Now is the winter of our discontent"]
    assert restored(tf.constant(texts)).to_list() == tokenizer.encode(texts)


def test_dense_detokenize(tokenizer):
    ids = tokenizer.encode(["one two"])
    assert tokenizer.detokenize(tf.constant(ids)).numpy().tolist() == [b"one two"]
    assert tokenizer.detokenize(tf.constant(ids[0])).numpy() == b"one two"


def test_decode_of_cut_character_is_replacement(tokenizer):
    ids = tokenizer.encode(["\u65e5"])[0][:2]  # 2 of the 3 bytes
    assert tokenizer.decode([ids]) == ["\ufffd"]


def test_user_errors(tokenizer):
    vocab = json.loads(VOCAB.read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match="byte-level"):
        BytePairTokenizer({"a": 0}, [])
    with pytest.raises(ValueError, match="0..V-1"):
        BytePairTokenizer({**vocab, "extra": len(vocab) + 5}, [])
    with pytest.raises(ValueError, match="bad merge"):
        BytePairTokenizer(vocab, ["q zzz"])
    with pytest.raises(TypeError, match="list of str"):
        tokenizer.encode("not a list")
    with pytest.raises(ValueError, match="rank 0 or 1"):
        tokenizer(tf.constant([["a"]]))
    with pytest.raises(ValueError, match="outside"):
        tokenizer.id_to_token(10**6)
