"""Every keras_llm layer through the shared harness (config/.keras/SavedModel/XLA/bf16)."""
import numpy as np
import pytest

from keras_llm import layers
from tests import harness

B, T, S, M = 2, 6, 5, 16


def _hidden(length=T, seed=0):
    return np.random.default_rng(seed).normal(size=(B, length, M)).astype("float32")


def _padding(length, real):
    mask = np.zeros((B, length), "int32")
    for i, n in enumerate(real):
        mask[i, :n] = 1
    return mask


def test_multi_head_attention_self_and_cross():
    harness.run_layer_test(
        layers.MultiHeadAttention, {"num_heads": 2, "key_dim": 8},
        {"query": _hidden(T), "value": _hidden(S, 1),
         "attention_mask": np.ones((B, T, S), "int32")},
        expected_output_shape=(B, T, M))


@pytest.mark.parametrize("normalize_first", [False, True])
def test_encoder_block(normalize_first):
    harness.run_layer_test(
        layers.TransformerEncoderBlock,
        {"num_heads": 2, "intermediate_dim": 32, "dropout": 0.1,
         "normalize_first": normalize_first},
        {"inputs": _hidden(), "padding_mask": _padding(T, [T, 3])},
        expected_output_shape=(B, T, M), run_saved_model=normalize_first)


def test_decoder_block_with_cross_attention():
    harness.run_layer_test(
        layers.TransformerDecoderBlock,
        {"num_heads": 2, "intermediate_dim": 32, "use_cross_attention": True,
         "normalize_first": True, "activation": "gelu_approximate", "dropout": 0.1},
        {"decoder_sequence": _hidden(), "encoder_sequence": _hidden(S, 1),
         "decoder_padding_mask": _padding(T, [T, 4]),
         "encoder_padding_mask": _padding(S, [S, 2])},
        expected_output_shape=(B, T, M))


def test_token_embedding():
    ids = np.array([[1, 2, 3, 0], [4, 5, 0, 0]], "int32")
    harness.run_layer_test(layers.TokenEmbedding, {"input_dim": 10, "output_dim": M},
                           {"inputs": ids}, expected_output_shape=(B, 4, M),
                           run_saved_model=False)


@pytest.mark.parametrize("layer_cls,kwargs", [
    (layers.PositionEmbedding, {"sequence_length": 8}),
    (layers.SinusoidalPositionEmbedding, {"max_wavelength": 100}),
])
def test_position_embeddings(layer_cls, kwargs):
    harness.run_layer_test(layer_cls, kwargs, {"inputs": _hidden()},
                           expected_output_shape=(B, T, M),
                           run_saved_model=False, run_training=layer_cls is layers.PositionEmbedding,
                           run_mixed_precision=layer_cls is layers.PositionEmbedding)


def test_bias_add():
    harness.run_layer_test(layers.BiasAdd, {}, {"inputs": _hidden()},
                           expected_output_shape=(B, T, M), run_saved_model=False)
