"""Seq2SeqBackbone.from_bert (BERT2BERT warm start): every BERT tensor lands in the right
place (the encoder's output equals BertBackbone's sequence output on single-segment inputs;
decoder blocks hold BERT's layers), cross-attention is new, the post-LN layout decodes with
the cache as without it, and the real MiniLM-L6 checkpoint warm-starts when installed."""
import numpy as np
import pytest
import tensorflow as tf

from keras_llm.models import BertBackbone
from keras_llm.models.seq2seq import Seq2SeqBackbone, Seq2SeqLM

IDS = tf.constant([[101, 7, 9, 12, 102, 0], [101, 5, 102, 0, 0, 0]])
MASK = tf.constant([[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]])


def _bert(seed=3, vocabulary_size=128, num_layers=2):
    tf.keras.utils.set_random_seed(seed)
    bert = BertBackbone(vocabulary_size, num_layers, 2, 32, 64, max_sequence_length=24,
                        dropout=0.0)
    rng = np.random.default_rng(seed)  # nonzero everywhere (biases, LayerNorm betas too)
    bert.set_weights([w + rng.normal(0, 0.05, w.shape) for w in bert.get_weights()])
    return bert


def test_encoder_equals_bert_and_decoder_holds_bert_layers():
    bert = _bert()
    s2s = Seq2SeqBackbone.from_bert(bert)
    assert not s2s.normalize_first and s2s.num_decoder_layers == 2
    expected = bert({"token_ids": IDS, "segment_ids": tf.zeros_like(IDS),
                     "padding_mask": MASK})["sequence_output"]
    got = s2s.encode(IDS, MASK)
    valid = MASK.numpy().astype(bool)
    np.testing.assert_allclose(got.numpy()[valid], expected.numpy()[valid], atol=2e-5)
    for i, layer in enumerate(bert.transformer_layers):
        decoder = s2s.decoder_layers[i]
        for name in ("self_attention", "feedforward_intermediate_dense",
                     "feedforward_output_dense", "feedforward_layer_norm",
                     "self_attention_layer_norm"):
            for a, b in zip(getattr(decoder, name).get_weights(),
                            getattr(layer, name).get_weights()):
                np.testing.assert_array_equal(a, b)
        # Cross-attention is new: not a copy of any BERT tensor.
        cross = decoder.cross_attention.get_weights()[0]
        assert not any(w.shape == cross.shape and np.array_equal(w, cross)
                       for w in bert.get_weights())
    np.testing.assert_array_equal(s2s.token_embedding.get_weights()[0],
                                  bert.token_embedding.get_weights()[0])


def test_more_decoder_layers_and_overrides():
    bert = _bert()
    s2s = Seq2SeqBackbone.from_bert(bert, num_decoder_layers=3, dropout=0.2)
    assert s2s.num_decoder_layers == 3 and s2s.dropout == 0.2
    with pytest.raises(ValueError, match="fixed by the BERT checkpoint"):
        Seq2SeqBackbone.from_bert(bert, hidden_dim=64)


def test_post_ln_cached_decoding_matches_full_forward():
    lm = Seq2SeqLM(Seq2SeqBackbone.from_bert(_bert()))
    target = tf.constant([[101, 4, 8, 15, 16]])
    source, source_mask = IDS[:1], MASK[:1]
    full = lm({"encoder_token_ids": source, "encoder_padding_mask": source_mask,
               "decoder_token_ids": target, "decoder_padding_mask": tf.ones_like(target)})
    cache = lm.init_cache(lm.encode(source, source_mask), source_mask, 8)
    for t in range(target.shape[1]):
        logits, cache = lm.call_with_cache(target[:, t:t + 1], cache, t)
        np.testing.assert_allclose(logits[0, 0].numpy(), full[0, t].numpy(), atol=2e-4)


def test_preset_round_trip_keeps_the_layout(tmp_path):
    s2s = Seq2SeqBackbone.from_bert(_bert())
    s2s.save_to_preset(tmp_path / "preset")
    again = Seq2SeqBackbone.from_preset(tmp_path / "preset")
    assert not again.normalize_first
    np.testing.assert_allclose(again.encode(IDS, MASK).numpy(), s2s.encode(IDS, MASK).numpy(),
                               atol=1e-6)


def test_minilm_checkpoint_warm_starts():
    from keras_llm.utils import paths
    try:
        folder = paths.minilm_dir()
    except FileNotFoundError:
        pytest.skip("MiniLM weights not installed")
    bert = BertBackbone.from_preset(folder, dropout=0.0)
    s2s = Seq2SeqBackbone.from_bert(bert)
    ids = tf.constant([[101, 7592, 2088, 102]])
    mask = tf.ones_like(ids)
    expected = bert({"token_ids": ids, "segment_ids": tf.zeros_like(ids),
                     "padding_mask": mask})["sequence_output"]
    np.testing.assert_allclose(s2s.encode(ids, mask).numpy(), expected.numpy(), atol=1e-4)
