"""BertTextPreprocessor (host ids == graph ids, pairs, offsets) and backbone presets."""
import pathlib

import numpy as np
import tensorflow as tf

from keras_llm import models
from keras_llm.models.bert.preprocessor import BertTextPreprocessor

VOCAB = pathlib.Path(__file__).parents[1] / "fixtures" / "wordpiece_vocab_uncased.txt"
TEXTS = ["A gripping, funny film.", "", "Ünïcödé 映画 😀 — très bien!", "word " * 40]
SECOND = ["Who is funny?", "empty first", "a", "short"]


def _graph_rows(packed):
    lengths = packed["padding_mask"].numpy().sum(1)
    return {k: [row[:n].tolist() for row, n in zip(v.numpy(), lengths)]
            for k, v in packed.items()}


def test_host_and_graph_give_the_same_inputs_for_texts_and_pairs():
    preprocessor = BertTextPreprocessor(str(VOCAB), sequence_length=24)
    for inputs in (TEXTS, (TEXTS, SECOND)):
        host = preprocessor.encode(inputs)
        graph_inputs = tuple(tf.constant(s) for s in inputs) if isinstance(inputs, tuple) \
            else tf.constant(inputs)
        graph = _graph_rows(preprocessor(graph_inputs))
        assert host == graph
    pair = preprocessor.encode((TEXTS, SECOND))
    cls, sep = preprocessor.tokenizer.cls_token_id, preprocessor.tokenizer.sep_token_id
    assert all(row[0] == cls and row.count(sep) == 2 for row in pair["token_ids"])
    assert max(len(r) for r in pair["token_ids"]) == 24  # longest-first truncation


def test_offsets_point_into_each_segment_text():
    preprocessor = BertTextPreprocessor(str(VOCAB), sequence_length=64)
    packed = preprocessor.call_with_offsets((tf.constant(TEXTS[:3]), tf.constant(SECOND[:3])))
    ids, segments = packed["token_ids"].numpy(), packed["segment_ids"].numpy()
    starts, ends = packed["token_starts"].numpy(), packed["token_ends"].numpy()
    host_ids, host_starts, host_ends = preprocessor.tokenizer.encode_with_offsets(TEXTS[:3])
    for b in range(3):
        first = (segments[b] == 0) & (starts[b] >= 0)
        assert ids[b][first].tolist() == host_ids[b]
        assert starts[b][first].tolist() == host_starts[b]
        assert ends[b][first].tolist() == host_ends[b]
        specials = np.isin(ids[b], [preprocessor.tokenizer.cls_token_id,
                                    preprocessor.tokenizer.sep_token_id])
        assert (starts[b][specials] == -1).all()


def test_preset_round_trip(tmp_path):
    backbone = models.BertBackbone(50, 1, 2, 16, 32, max_sequence_length=16)
    backbone.save_to_preset(tmp_path / "preset", tokenizer_files=[VOCAB])
    assert (tmp_path / "preset" / VOCAB.name).read_text() == VOCAB.read_text()
    loaded = models.BertBackbone.from_preset(tmp_path / "preset", dropout=0.0)
    assert loaded.dropout == 0.0 and loaded.hidden_dim == 16
    for a, b in zip(backbone.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    try:
        models.GptBackbone.from_preset(tmp_path / "preset")
    except ValueError as e:
        assert "holds a BertBackbone" in str(e)
    else:
        raise AssertionError("a BertBackbone preset loaded as a GptBackbone")
