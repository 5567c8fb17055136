"""Masks and the KV cache do what they claim: values checked, not just shapes."""
import numpy as np
import pytest
import tensorflow as tf

from keras_llm import layers
from keras_llm.layers import masks

B, T, M = 2, 7, 16


def _hidden(seed=0, length=T):
    return np.random.default_rng(seed).normal(size=(B, length, M)).astype("float32")


def test_causal_mask_values():
    mask = masks.causal_attention_mask(1, 3, 5, query_offset=1).numpy()[0]
    np.testing.assert_array_equal(mask, [[1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]])


def test_decoder_block_does_not_look_ahead():
    block = layers.TransformerDecoderBlock(2, 32, normalize_first=True)
    x = _hidden()
    changed = x.copy()
    changed[:, 4:] = _hidden(seed=1)[:, 4:]  # rewrite the future of position 3
    out, out_changed = block(x).numpy(), block(changed).numpy()
    np.testing.assert_allclose(out[:, :4], out_changed[:, :4], atol=1e-6)
    assert np.abs(out[:, 4:] - out_changed[:, 4:]).max() > 1e-3


def test_encoder_block_ignores_padded_positions():
    block = layers.TransformerEncoderBlock(2, 32)
    padding = np.array([[1] * T, [1, 1, 1, 0, 0, 0, 0]], "int32")
    x = _hidden()
    changed = x.copy()
    changed[1, 3:] = 100.0 * _hidden(seed=2)[1, 3:]  # garbage in the padded slots
    out = block(x, padding_mask=padding).numpy()
    out_changed = block(changed, padding_mask=padding).numpy()
    np.testing.assert_allclose(out[1, :3], out_changed[1, :3], atol=1e-5)
    np.testing.assert_allclose(out[0], out_changed[0], atol=1e-6)
    # Without the mask the garbage does leak into real positions.
    leaked = block(changed).numpy()
    assert np.abs(leaked[1, :3] - out[1, :3]).max() > 1e-3


def test_cross_attention_ignores_padded_encoder_positions():
    block = layers.TransformerDecoderBlock(2, 32, use_cross_attention=True)
    enc = _hidden(seed=3, length=5)
    enc_changed = enc.copy()
    enc_changed[:, 3:] = -50.0
    enc_mask = np.array([[1, 1, 1, 0, 0]] * B, "int32")
    a = block(_hidden(), enc, encoder_padding_mask=enc_mask).numpy()
    b = block(_hidden(), enc_changed, encoder_padding_mask=enc_mask).numpy()
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_attention_cache_matches_full_causal_attention():
    attention = layers.MultiHeadAttention(num_heads=2, key_dim=8)
    x = _hidden()
    full = attention(x, attention_mask=masks.causal_attention_mask(B, T, T)).numpy()
    cache = tf.zeros((B, 2, 10, 2, 8))
    pieces = []
    for start, stop in [(0, 3), (3, 4), (4, 5), (5, 7)]:
        mask = masks.causal_attention_mask(B, stop - start, 10, query_offset=start)
        out, cache = attention(x[:, start:stop], attention_mask=mask, cache=cache,
                               cache_index=start)
        pieces.append(out.numpy())
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), full, atol=1e-5)
    np.testing.assert_array_equal(cache.numpy()[:, :, T:], 0.0)  # unwritten slots untouched


def test_sinusoidal_values():
    layer = layers.SinusoidalPositionEmbedding(max_wavelength=10000)
    out = layer(np.zeros((1, 4, 8), "float32"), start_index=2).numpy()[0]
    pos = np.arange(2, 6)[:, None]
    freqs = 10000.0 ** (-np.arange(0, 8, 2) / 8.0)
    np.testing.assert_allclose(out[:, 0::2], np.sin(pos * freqs), atol=1e-5)
    np.testing.assert_allclose(out[:, 1::2], np.cos(pos * freqs), atol=1e-5)


def test_position_embedding_start_index_and_length_check():
    layer = layers.PositionEmbedding(sequence_length=8)
    full = layer(np.zeros((1, 8, 4), "float32")).numpy()
    part = layer(np.zeros((1, 2, 4), "float32"), start_index=5).numpy()
    np.testing.assert_array_equal(part[0], full[0, 5:7])
    try:
        layer(np.zeros((1, 9, 4), "float32"))
    except ValueError as e:
        assert "max_sequence_length=8" in str(e)
    else:
        raise AssertionError("expected ValueError for length 9 > 8")


def test_position_embedding_keep_first_keeps_those_rows_and_refuses_longer_inputs():
    layer = layers.PositionEmbedding(sequence_length=8)
    full = layer(np.zeros((1, 8, 4), "float32")).numpy()
    layer.keep_first(5)
    assert layer.position_embeddings.shape == (5, 4) and len(layer.weights) == 1
    np.testing.assert_array_equal(layer(np.zeros((1, 5, 4), "float32")).numpy(), full[:, :5])
    np.testing.assert_array_equal(
            layer(np.zeros((1, 2, 4), "float32"), position_ids=np.array([[4, 0]])).numpy()[0],
            full[0, [4, 0]])
    with pytest.raises(ValueError, match="max_sequence_length=5"):
        layer(np.zeros((1, 6, 4), "float32"))
    with pytest.raises(ValueError, match=r"length must be in \[1, 5\], got 6"):
        layer.keep_first(6)


def test_tied_reverse_embedding():
    layer = layers.TokenEmbedding(10, 4)
    h = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    logits = layer(h, reverse=True).numpy()
    np.testing.assert_allclose(logits, h @ layer.embeddings.numpy().T, atol=1e-5)


def test_position_ids_count_real_tokens():
    from keras_llm.layers.embeddings import position_ids
    mask = np.array([[0, 0, 1, 1, 1], [1, 1, 0, 1, 0]], "int32")
    np.testing.assert_array_equal(position_ids(mask).numpy(), [[0, 0, 0, 1, 2],
                                                               [0, 1, 1, 2, 2]])


def test_position_embedding_position_ids_per_row():
    for layer in (layers.PositionEmbedding(sequence_length=8),
                  layers.SinusoidalPositionEmbedding()):
        full = layer(np.zeros((1, 8, 4), "float32")).numpy()[0]
        ids = np.array([[0, 0, 1], [5, 6, 7]], "int32")
        out = layer(np.zeros((2, 3, 4), "float32"), position_ids=ids).numpy()
        np.testing.assert_allclose(out, full[ids], atol=1e-6)


def test_cache_attention_bias_values():
    cache_mask = np.array([[0, 1, 1, 1, 0, 0], [1, 1, 0, 1, 0, 0]], "int32")
    bias = masks.cache_attention_bias(cache_mask, 2, 2).numpy()  # queries at slots 2, 3
    assert bias.shape == (2, 1, 2, 6)
    allowed = bias[:, 0] == 0.0
    np.testing.assert_array_equal(allowed[0], [[0, 1, 1, 0, 0, 0], [0, 1, 1, 1, 0, 0]])
    np.testing.assert_array_equal(allowed[1], [[1, 1, 0, 0, 0, 0], [1, 1, 0, 1, 0, 0]])
