"""Encoder-decoder Transformer backbone. Shapes: B batch, S source length, T target
length, D hidden width, L decoder layers, H heads, K head dim, T_max cache length.

One token embedding shared by encoder, decoder and (in Seq2SeqLM) the output
projection; learned absolute positions per side; pre-LN blocks with a final
LayerNorm on each side. The decoder has causal self-attention and cross-attention.

Cached decoding: `encode()` once, `init_cache()`, then `call_with_cache()` per step;
the cache is one fixed-shape tensor (B, L, 2, T_max, H, K) of self-attention keys and
values (cross-attention keys/values are recomputed from the encoder output).
"""
import keras
from keras import ops

from keras_llm import layers as llm_layers
from keras_llm.models.backbone_base import Backbone
from keras_llm.models.validation import check_heads

INPUT_KEYS = ("encoder_token_ids", "encoder_padding_mask", "decoder_token_ids",
              "decoder_padding_mask")


def _init():
    return keras.initializers.RandomNormal(stddev=0.02)


def _blocks(prefix, count, num_heads, intermediate_dim, dropout, epsilon, cross):
    return [llm_layers.TransformerDecoderBlock(
        num_heads, intermediate_dim, use_cross_attention=True, dropout=dropout,
        activation="gelu", layer_norm_epsilon=epsilon, normalize_first=True,
        kernel_initializer=_init(), name=f"{prefix}_{i}")
        if cross else llm_layers.TransformerEncoderBlock(
            num_heads, intermediate_dim, dropout=dropout, activation="gelu",
            layer_norm_epsilon=epsilon, normalize_first=True, kernel_initializer=_init(),
            name=f"{prefix}_{i}")
        for i in range(count)]


@keras.saving.register_keras_serializable(package="keras_llm")
class Seq2SeqBackbone(Backbone):
    """Inputs {"encoder_token_ids", "encoder_padding_mask" (B, S), "decoder_token_ids",
    "decoder_padding_mask" (B, T)}; outputs {"encoder_sequence_output" (B, S, D),
    "decoder_sequence_output" (B, T, D)}."""

    _config_keys = ("vocabulary_size", "num_encoder_layers", "num_decoder_layers",
                    "num_heads", "hidden_dim", "intermediate_dim", "max_sequence_length",
                    "dropout", "layer_norm_epsilon")

    def __init__(self, vocabulary_size, num_encoder_layers, num_decoder_layers, num_heads,
                 hidden_dim, intermediate_dim, max_sequence_length=512, dropout=0.1,
                 layer_norm_epsilon=1e-5, **kwargs):
        check_heads(hidden_dim, num_heads)
        self._make_layers(vocabulary_size, num_encoder_layers, num_decoder_layers, num_heads,
                          hidden_dim, intermediate_dim, max_sequence_length, dropout,
                          layer_norm_epsilon)
        inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key)
                  for key in INPUT_KEYS}
        encoded = self._encode(inputs["encoder_token_ids"], inputs["encoder_padding_mask"])
        decoded = self._decode(inputs["decoder_token_ids"], inputs["decoder_padding_mask"],
                               encoded, inputs["encoder_padding_mask"])
        super().__init__(inputs=inputs, outputs={"encoder_sequence_output": encoded,
                                                 "decoder_sequence_output": decoded},
                         **kwargs)
        self.vocabulary_size = vocabulary_size
        self.num_encoder_layers = num_encoder_layers
        self.num_decoder_layers = num_decoder_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.max_sequence_length = max_sequence_length
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        for name, layer in self._layer_dict.items():
            setattr(self, name, layer)

    def _make_layers(self, vocab, n_enc, n_dec, heads, width, ffn, max_len, dropout, eps):
        # Layers are created before keras.Model.__init__, so keep them in a plain dict
        # and attach them as attributes once the model exists.
        self._layer_dict = {
            "token_embedding": llm_layers.TokenEmbedding(
                vocab, width, embeddings_initializer=_init(), name="token_embedding"),
            "encoder_position_embedding": llm_layers.PositionEmbedding(
                max_len, initializer=_init(), name="encoder_position_embedding"),
            "decoder_position_embedding": llm_layers.PositionEmbedding(
                max_len, initializer=_init(), name="decoder_position_embedding"),
            "encoder_embeddings_dropout": keras.layers.Dropout(
                dropout, name="encoder_embeddings_dropout"),
            "decoder_embeddings_dropout": keras.layers.Dropout(
                dropout, name="decoder_embeddings_dropout"),
            "encoder_layers": _blocks("encoder_layer", n_enc, heads, ffn, dropout, eps, False),
            "decoder_layers": _blocks("decoder_layer", n_dec, heads, ffn, dropout, eps, True),
            "encoder_layer_norm": keras.layers.LayerNormalization(
                epsilon=eps, name="encoder_layer_norm"),
            "decoder_layer_norm": keras.layers.LayerNormalization(
                epsilon=eps, name="decoder_layer_norm"),
        }

    def _encode(self, token_ids, padding_mask, training=None):
        lay = self._layer_dict
        tokens = lay["token_embedding"](token_ids)  # (B, S, D)
        x = tokens + lay["encoder_position_embedding"](tokens)
        x = lay["encoder_embeddings_dropout"](x, training=training)
        for block in lay["encoder_layers"]:
            x = block(x, padding_mask=padding_mask, training=training)
        return lay["encoder_layer_norm"](x)

    def _decode(self, token_ids, padding_mask, encoded, encoder_padding_mask, training=None):
        lay = self._layer_dict
        tokens = lay["token_embedding"](token_ids)  # (B, T, D)
        x = tokens + lay["decoder_position_embedding"](tokens)
        x = lay["decoder_embeddings_dropout"](x, training=training)
        for block in lay["decoder_layers"]:
            x = block(x, encoded, decoder_padding_mask=padding_mask,
                      encoder_padding_mask=encoder_padding_mask, training=training)
        return lay["decoder_layer_norm"](x)

    def encode(self, encoder_token_ids, encoder_padding_mask):
        """(B, S) ids and padding mask -> encoder output (B, S, D), inference mode."""
        return self._encode(ops.convert_to_tensor(encoder_token_ids),
                            ops.convert_to_tensor(encoder_padding_mask), training=False)

    def init_cache(self, batch_size, max_length):
        """Zero decoder self-attention cache (B, L, 2, T_max, H, K) in the compute dtype."""
        if isinstance(max_length, int) and max_length > self.max_sequence_length:
            raise ValueError(f"max_length={max_length} exceeds max_sequence_length="
                             f"{self.max_sequence_length}.")
        shape = (batch_size, self.num_decoder_layers, 2, max_length, self.num_heads,
                 self.hidden_dim // self.num_heads)
        return ops.zeros(shape, dtype=self.token_embedding.compute_dtype)

    def call_with_cache(self, decoder_token_ids, cache, cache_index, encoder_output,
                        encoder_padding_mask):
        """Decoder tokens (B, t) at positions cache_index.. -> ((B, t, D), new cache)."""
        token_ids = ops.convert_to_tensor(decoder_token_ids)
        if len(token_ids.shape) != 2 or len(cache.shape) != 6:
            raise ValueError(f"decoder_token_ids must be (B, t) and cache (B, L, 2, T_max, H, "
                             f"K); got {tuple(token_ids.shape)} and {tuple(cache.shape)}.")
        tokens = self.token_embedding(token_ids)
        x = tokens + self.decoder_position_embedding(tokens, start_index=cache_index)
        layer_caches = []
        for i, block in enumerate(self.decoder_layers):
            x, layer_cache = block(x, encoder_output, encoder_padding_mask=encoder_padding_mask,
                                   self_attention_cache=cache[:, i], cache_index=cache_index,
                                   training=False)
            layer_caches.append(layer_cache)
        return self.decoder_layer_norm(x), ops.stack(layer_caches, axis=1)
