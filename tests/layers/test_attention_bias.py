"""The shared additive attention bias (built once per forward pass) is equivalent to the
boolean masks each block would otherwise build."""
import numpy as np

from keras_llm import layers
from keras_llm.layers import masks

B, T, M = 2, 7, 16
PADDING = np.array([[1] * T, [1, 1, 1, 1, 0, 0, 0]], "int32")


def _hidden(seed=0):
    return np.random.default_rng(seed).normal(size=(B, T, M)).astype("float32")


def test_attention_bias_values():
    bias = masks.attention_bias(PADDING[1:], causal=True).numpy()[0, 0]  # (T, T)
    allowed = np.tril(np.ones((T, T), bool)) & (PADDING[1] == 1)[None, :]
    np.testing.assert_array_equal(bias == 0.0, allowed)
    np.testing.assert_array_equal(bias[~allowed], -1e9)
    assert masks.attention_bias(PADDING).shape == (B, 1, 1, T)


def test_encoder_block_bias_equals_padding_mask():
    block = layers.TransformerEncoderBlock(2, 32)
    x = _hidden()
    with_mask = block(x, padding_mask=PADDING).numpy()
    with_bias = block(x, attention_bias=masks.attention_bias(PADDING)).numpy()
    np.testing.assert_allclose(with_bias, with_mask, atol=1e-6)


def test_decoder_block_bias_equals_causal_padding_mask():
    block = layers.TransformerDecoderBlock(2, 32, normalize_first=True)
    x = _hidden(1)
    with_mask = block(x, decoder_padding_mask=PADDING).numpy()
    bias = masks.attention_bias(PADDING, causal=True)
    with_bias = block(x, self_attention_bias=bias).numpy()
    np.testing.assert_allclose(with_bias, with_mask, atol=1e-6)

