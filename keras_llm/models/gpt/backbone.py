"""GPT-2 style decoder-only backbone. Shapes: B batch, T length, D hidden width,
L layers, H heads, K head dim (= D / H), T_max cache length.

Token + learned position embeddings, dropout, `num_layers` pre-LN causal decoder
blocks (tanh GELU, as GPT-2), final LayerNorm.

Positions count each row's real tokens (`layers.PositionIds`), so a left- or right-padded
row gets the outputs it would have alone, with and without the cache.

KV cache: a dict of fixed-shape tensors, key/values (B, L, 2, T_max, H, K) and a per-row
mask of real slots (B, T_max) (see `layers/kv_cache.py`), so cached decoding is a pure
function `(token_ids, cache, index) -> (hidden, cache)` that traces in
`tf.function`/`tf.while_loop` and compiles with XLA.
"""
import keras
from keras import ops

from keras_llm import layers as llm_layers
from keras_llm.layers import kv_cache
from keras_llm.models.backbone_base import Backbone
from keras_llm.models.validation import check_heads

INPUT_KEYS = ("token_ids", "padding_mask")


def _gpt_init():
    return keras.initializers.RandomNormal(stddev=0.02)


@keras.saving.register_keras_serializable(package="keras_llm")
class GptBackbone(Backbone):
    """Inputs {"token_ids", "padding_mask"} int (B, T); output sequence_output (B, T, D)."""

    _config_keys = ("vocabulary_size", "num_layers", "num_heads", "hidden_dim",
                    "intermediate_dim", "max_sequence_length", "dropout", "layer_norm_epsilon")

    def __init__(self, vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim,
                 max_sequence_length=1024, dropout=0.0, layer_norm_epsilon=1e-5, **kwargs):
        check_heads(hidden_dim, num_heads)
        token_embedding = llm_layers.TokenEmbedding(
            vocabulary_size, hidden_dim, embeddings_initializer=_gpt_init(),
            name="token_embedding")
        position_embedding = llm_layers.PositionEmbedding(
            max_sequence_length, initializer=_gpt_init(), name="position_embedding")
        embeddings_dropout = keras.layers.Dropout(dropout, name="embeddings_dropout")
        blocks = [llm_layers.TransformerDecoderBlock(
            num_heads, intermediate_dim, dropout=dropout, activation="gelu_approximate",
            layer_norm_epsilon=layer_norm_epsilon, normalize_first=True,
            kernel_initializer=_gpt_init(), name=f"transformer_layer_{i}")
            for i in range(num_layers)]
        layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon,
                                                     name="final_layer_norm")

        inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key)
                  for key in INPUT_KEYS}
        tokens = token_embedding(inputs["token_ids"])  # (B, T, D)
        positions = llm_layers.PositionIds(name="position_ids")(inputs["padding_mask"])
        x = embeddings_dropout(tokens + position_embedding(tokens, position_ids=positions))
        # One additive causal + padding bias (B, 1, T, T) shared by all blocks.
        bias = llm_layers.masks.AttentionBias(causal=True, name="attention_bias")(
            inputs["padding_mask"])
        for block in blocks:
            x = block(x, self_attention_bias=bias)
        x = layer_norm(x)
        super().__init__(inputs=inputs, outputs=x, **kwargs)

        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.max_sequence_length = max_sequence_length
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.token_embedding = token_embedding
        self.position_embedding = position_embedding
        self.transformer_layers = blocks
        self.final_layer_norm = layer_norm

    def init_cache(self, batch_size, max_length):
        """Empty cache: {"key_value": (B, L, 2, T_max, H, K) zeros in the compute dtype,
        "padding_mask": (B, T_max) int32 zeros}."""
        if isinstance(max_length, int) and max_length > self.max_sequence_length:
            raise ValueError(f"max_length={max_length} exceeds max_sequence_length="
                             f"{self.max_sequence_length}.")
        return kv_cache.init_cache(batch_size, self.num_layers, max_length, self.num_heads,
                                   self.hidden_dim // self.num_heads,
                                   self.token_embedding.compute_dtype)

    def call_with_cache(self, token_ids, cache, cache_index, padding_mask=None):
        """Runs tokens (B, t) written at cache slots cache_index .. cache_index + t - 1.

        padding_mask (B, t), 1 = real token (default: all real). Padded tokens are written
        but never attended to, and positions count each row's real tokens, so rows of a
        left- or right-padded batch match their unpadded forward pass.
        Returns (sequence_output (B, t, D), updated cache). Inference only (no dropout).
        """
        token_ids = ops.convert_to_tensor(token_ids)
        if len(token_ids.shape) != 2:
            raise ValueError(f"token_ids must have rank 2 (batch, length), got shape "
                             f"{tuple(token_ids.shape)}.")
        kv_cache.check_cache(cache, self.num_layers)
        if padding_mask is None:
            padding_mask = ops.ones_like(token_ids)
        cache_mask, positions, bias = kv_cache.advance(cache["padding_mask"], padding_mask,
                                                       cache_index)
        tokens = self.token_embedding(token_ids)
        x = tokens + self.position_embedding(tokens, position_ids=positions)
        key_values = cache["key_value"]
        layer_caches = []
        for i, block in enumerate(self.transformer_layers):
            x, layer_cache = block(x, self_attention_cache=key_values[:, i],
                                   cache_index=cache_index, self_attention_bias=bias,
                                   training=False)
            layer_caches.append(layer_cache)
        new_cache = {"key_value": ops.stack(layer_caches, axis=1), "padding_mask": cache_mask}
        return self.final_layer_norm(x), new_cache
