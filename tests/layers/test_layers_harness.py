"""Every keras_llm layer through the shared harness (config/.keras/SavedModel/XLA/bf16).

Default tier: XLA forward, non-XLA training steps (the model tests cover XLA training of
the same blocks). `pytest -m slow tests/layers` adds XLA training in float32 and bf16.
"""
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


# (id, layer class, constructor kwargs, named call inputs, output shape, run SavedModel)
CASES = [
    ("attention", layers.MultiHeadAttention, {"num_heads": 2, "key_dim": 8},
     {"query": _hidden(T), "value": _hidden(S, 1),
      "attention_mask": np.ones((B, T, S), "int32")}, (B, T, M), True),
    ("encoder_post_ln", layers.TransformerEncoderBlock,
     {"num_heads": 2, "intermediate_dim": 32, "dropout": 0.1},
     {"inputs": _hidden(), "padding_mask": _padding(T, [T, 3])}, (B, T, M), False),
    ("encoder_pre_ln", layers.TransformerEncoderBlock,
     {"num_heads": 2, "intermediate_dim": 32, "dropout": 0.1, "normalize_first": True},
     {"inputs": _hidden(), "padding_mask": _padding(T, [T, 3])}, (B, T, M), True),
    ("decoder_cross", layers.TransformerDecoderBlock,
     {"num_heads": 2, "intermediate_dim": 32, "use_cross_attention": True,
      "normalize_first": True, "activation": "gelu_approximate", "dropout": 0.1},
     {"decoder_sequence": _hidden(), "encoder_sequence": _hidden(S, 1),
      "decoder_padding_mask": _padding(T, [T, 4]),
      "encoder_padding_mask": _padding(S, [S, 2])}, (B, T, M), True),
    ("decoder_post_ln", layers.TransformerDecoderBlock,
     {"num_heads": 2, "intermediate_dim": 32},
     {"decoder_sequence": _hidden(), "decoder_padding_mask": _padding(T, [T, 4])},
     (B, T, M), False),
    ("token_embedding", layers.TokenEmbedding, {"input_dim": 10, "output_dim": M},
     {"inputs": np.array([[1, 2, 3, 0], [4, 5, 0, 0]], "int32")}, (B, 4, M), False),
    ("position_embedding", layers.PositionEmbedding, {"sequence_length": 8},
     {"inputs": _hidden()}, (B, T, M), False),
    ("bias_add", layers.BiasAdd, {}, {"inputs": _hidden()}, (B, T, M), False),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_layer_harness(case):
    _, cls, kwargs, inputs, shape, saved = case
    harness.run_layer_test(cls, kwargs, inputs, expected_output_shape=shape,
                           run_saved_model=saved, xla_training=False)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_layer_harness_full(case):
    _, cls, kwargs, inputs, shape, _ = case
    harness.run_layer_test(cls, kwargs, inputs, expected_output_shape=shape,
                           run_saved_model=True, xla_training=True, xla_mixed_training=True)


def test_sinusoidal_position_embedding_harness():
    # No weights: nothing to train, so only the serialization and XLA/bf16 forward checks.
    harness.run_layer_test(layers.SinusoidalPositionEmbedding, {"max_wavelength": 100},
                           {"inputs": _hidden()}, expected_output_shape=(B, T, M),
                           run_saved_model=True, run_training=False, run_mixed_precision=False)
