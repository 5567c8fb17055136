"""SegmentPacker / StartEndPacker: layout, truncation (vs Hugging Face), graph and tf.data."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_llm import tokenizers
from keras_llm.tokenizers.packers import longest_first_lengths

CLS, SEP = 101, 102


def test_single_segment_layout_and_truncation():
    packer = tokenizers.SegmentPacker(6, CLS, SEP)
    out = packer(tf.ragged.constant([[1, 2, 3, 4, 5, 6], [7], []]))
    np.testing.assert_array_equal(out["token_ids"], [[CLS, 1, 2, 3, 4, SEP],
                                                     [CLS, 7, SEP, 0, 0, 0],
                                                     [CLS, SEP, 0, 0, 0, 0]])
    np.testing.assert_array_equal(out["padding_mask"], [[1] * 6, [1, 1, 1, 0, 0, 0],
                                                        [1, 1, 0, 0, 0, 0]])
    np.testing.assert_array_equal(out["segment_ids"], np.zeros((3, 6)))


def test_pair_layout_and_segment_ids():
    packer = tokenizers.SegmentPacker(9, CLS, SEP, pad_value=7)
    out = packer((tf.ragged.constant([[1, 2]]), tf.ragged.constant([[3, 4, 5]])))
    np.testing.assert_array_equal(out["token_ids"], [[CLS, 1, 2, SEP, 3, 4, 5, SEP, 7]])
    np.testing.assert_array_equal(out["segment_ids"], [[0, 0, 0, 0, 1, 1, 1, 1, 0]])
    np.testing.assert_array_equal(out["padding_mask"], [[1] * 8 + [0]])


def _hf_longest_first(n1, n2, budget):
    """Hugging Face tokenizers' truncate_encodings(LongestFirst), transcribed by hand."""
    if n1 + n2 <= budget:
        return n1, n2
    swap = n1 > n2
    a, b = (n2, n1) if swap else (n1, n2)
    b = a if a > budget else max(a, budget - a)
    if a + b > budget:
        a = budget // 2
        b = a + budget % 2
    if swap:
        a, b = b, a
    return min(n1, a), min(n2, b)


def test_longest_first_matches_hugging_face_rule():
    lens = [(a, b, m) for a in range(0, 12) for b in range(0, 12) for m in range(1, 14)]
    a, b, m = (np.array(x) for x in zip(*lens))
    got_a, got_b = longest_first_lengths(tf.constant(a), tf.constant(b), tf.constant(m))
    want = np.array([_hf_longest_first(*x) for x in lens])
    np.testing.assert_array_equal(np.stack([got_a, got_b], 1), want)


def test_longest_first_matches_hf_tokenizers_library():
    tk = pytest.importorskip("tokenizers")
    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3}
    vocab.update({f"w{i}": i + 4 for i in range(20)})
    hf = tk.Tokenizer(tk.models.WordLevel(vocab, unk_token="[UNK]"))
    hf.pre_tokenizer = tk.pre_tokenizers.Whitespace()
    hf.post_processor = tk.processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
            special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    pairs = [(n1, n2) for n1 in range(10) for n2 in range(10)]
    ids_a = [[4 + i for i in range(n1)] for n1, _ in pairs]
    ids_b = [[14 + i for i in range(n2)] for _, n2 in pairs]
    for length in (5, 8, 11):
        hf.enable_truncation(length, strategy="longest_first")
        got = tokenizers.SegmentPacker(length, 2, 3)(
                (tf.ragged.constant(ids_a, tf.int32, ragged_rank=1),
                 tf.ragged.constant(ids_b, tf.int32, ragged_rank=1)))
        for row, (n1, n2) in enumerate(pairs):
            a = " ".join(f"w{i}" for i in range(n1))
            b = " ".join(f"w{i + 10}" for i in range(n2))
            ids = got["token_ids"][row].numpy()[got["padding_mask"][row].numpy() == 1]
            assert ids.tolist() == hf.encode(a, b).ids, (length, n1, n2)


def test_graph_unbatched_and_dataset_map():
    packer = tokenizers.SegmentPacker(5, CLS, SEP)
    fn = tf.function(lambda a, b: packer((a, b)))
    out = fn(tf.ragged.constant([[1, 2, 3]]), tf.ragged.constant([[4, 5]]))
    np.testing.assert_array_equal(out["token_ids"], [[CLS, 1, SEP, 4, SEP]])
    single = packer(tf.constant([1, 2]))
    assert single["token_ids"].shape == (5,)
    ds = tf.data.Dataset.from_tensor_slices(tf.ragged.constant([[1, 2, 3], [4]])).map(packer)
    rows = [x["token_ids"].numpy().tolist() for x in ds]
    assert rows == [[CLS, 1, 2, 3, SEP], [CLS, 4, SEP, 0, 0]]


def test_start_end_packer():
    x = tf.ragged.constant([[1, 2, 3, 4, 5], [6]])
    ids, mask = tokenizers.StartEndPacker(5, start_value=8, end_value=9)(x)
    np.testing.assert_array_equal(ids, [[8, 1, 2, 3, 9], [8, 6, 9, 0, 0]])
    np.testing.assert_array_equal(mask, [[1] * 5, [1, 1, 1, 0, 0]])
    ids, mask = tokenizers.StartEndPacker(3, end_value=9, pad_value=-1)(x)
    np.testing.assert_array_equal(ids, [[1, 2, 9], [6, 9, -1]])
    ids, _ = tokenizers.StartEndPacker(4)(tf.constant([1, 2]))
    np.testing.assert_array_equal(ids, [1, 2, 0, 0])


def test_config_round_trip_and_errors():
    for layer in (tokenizers.SegmentPacker(8, CLS, SEP, pad_value=3),
                  tokenizers.StartEndPacker(8, start_value=1)):
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="sequence_length"):
        tokenizers.SegmentPacker(2, CLS, SEP)
    with pytest.raises(ValueError, match="1 or 2 segments"):
        tokenizers.SegmentPacker(8, CLS, SEP)((tf.ragged.constant([[1]]),) * 3)
