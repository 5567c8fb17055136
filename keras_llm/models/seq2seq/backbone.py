"""Encoder-decoder Transformer backbone. Shapes: B batch, S source length, T target
length, D hidden width, L decoder layers, H heads, K head dim, T_max cache length.

One token embedding shared by encoder, decoder and (in Seq2SeqLM) the output
projection; learned absolute positions per side. Two layouts: pre-LN blocks with a final
LayerNorm on each side (`normalize_first=True`, the default; trained from scratch), or
BERT's post-LN blocks with a LayerNorm on each side's embeddings and none at the end
(`normalize_first=False`; what `from_bert` warm-starts, BERT2BERT as in Rothe et al., 2020).
The decoder has causal self-attention and cross-attention.

Masks are built once per forward pass as additive biases: the source padding bias
(B, 1, 1, S) serves the encoder self-attention and every decoder cross-attention. Positions
count each row's real tokens on both sides (`layers.PositionIds`).

Cached decoding: `encode()` once, `init_cache(encoder_output, encoder_padding_mask,
T_max)`, then `call_with_cache()` per step. The cache is a dict of fixed-shape tensors,
batch first: the decoder self-attention "key_value" (B, L, 2, T_max, H, K) and
"padding_mask" (B, T_max) (see `layers/kv_cache.py`), plus the cross-attention
"cross_key_value" (B, L, 2, S, H, K) and "cross_attention_bias" (B, 1, 1, S), projected
and built once per source in `init_cache`, never at a decoding step.
"""
import keras
from keras import ops

from keras_llm import layers as llm_layers
from keras_llm.layers import kv_cache
from keras_llm.models.backbone_base import Backbone
from keras_llm.models.validation import check_heads

INPUT_KEYS = ("encoder_token_ids", "encoder_padding_mask", "decoder_token_ids",
              "decoder_padding_mask")


def _init():
    return keras.initializers.RandomNormal(stddev=0.02)


def _blocks(prefix, count, num_heads, intermediate_dim, dropout, epsilon, cross,
            normalize_first):
    return [llm_layers.TransformerDecoderBlock(
        num_heads, intermediate_dim, use_cross_attention=True, dropout=dropout,
        activation="gelu", layer_norm_epsilon=epsilon, normalize_first=normalize_first,
        kernel_initializer=_init(), name=f"{prefix}_{i}")
        if cross else llm_layers.TransformerEncoderBlock(
            num_heads, intermediate_dim, dropout=dropout, activation="gelu",
            layer_norm_epsilon=epsilon, normalize_first=normalize_first,
            kernel_initializer=_init(), name=f"{prefix}_{i}")
        for i in range(count)]


@keras.saving.register_keras_serializable(package="keras_llm")
class Seq2SeqBackbone(Backbone):
    """Inputs {"encoder_token_ids", "encoder_padding_mask" (B, S), "decoder_token_ids",
    "decoder_padding_mask" (B, T)}; outputs {"encoder_sequence_output" (B, S, D),
    "decoder_sequence_output" (B, T, D)}."""

    _config_keys = ("vocabulary_size", "num_encoder_layers", "num_decoder_layers",
                    "num_heads", "hidden_dim", "intermediate_dim", "max_sequence_length",
                    "dropout", "layer_norm_epsilon", "normalize_first")

    def __init__(self, vocabulary_size, num_encoder_layers, num_decoder_layers, num_heads,
                 hidden_dim, intermediate_dim, max_sequence_length=512, dropout=0.1,
                 layer_norm_epsilon=1e-5, normalize_first=True, **kwargs):
        check_heads(hidden_dim, num_heads)
        self.normalize_first = bool(normalize_first)
        self._make_layers(vocabulary_size, num_encoder_layers, num_decoder_layers, num_heads,
                          hidden_dim, intermediate_dim, max_sequence_length, dropout,
                          layer_norm_epsilon)
        inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key)
                  for key in INPUT_KEYS}
        source_bias = self._layer_dict["source_attention_bias"](inputs["encoder_padding_mask"])
        encoded = self._encode(inputs["encoder_token_ids"], inputs["encoder_padding_mask"],
                               source_bias)
        decoded = self._decode(inputs["decoder_token_ids"], inputs["decoder_padding_mask"],
                               encoded, source_bias)
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
            "encoder_position_ids": llm_layers.PositionIds(name="encoder_position_ids"),
            "decoder_position_ids": llm_layers.PositionIds(name="decoder_position_ids"),
            "source_attention_bias": llm_layers.masks.AttentionBias(
                name="source_attention_bias"),
            "decoder_attention_bias": llm_layers.masks.AttentionBias(
                causal=True, name="decoder_attention_bias"),
            "encoder_embeddings_dropout": keras.layers.Dropout(
                dropout, name="encoder_embeddings_dropout"),
            "decoder_embeddings_dropout": keras.layers.Dropout(
                dropout, name="decoder_embeddings_dropout"),
            "encoder_layers": _blocks("encoder_layer", n_enc, heads, ffn, dropout, eps, False,
                                      self.normalize_first),
            "decoder_layers": _blocks("decoder_layer", n_dec, heads, ffn, dropout, eps, True,
                                      self.normalize_first),
        }
        # Pre-LN: a LayerNorm after each side's last block; post-LN: after its embeddings.
        where = "layer_norm" if self.normalize_first else "embeddings_layer_norm"
        for side in ("encoder", "decoder"):
            self._layer_dict[f"{side}_{where}"] = keras.layers.LayerNormalization(
                epsilon=eps, name=f"{side}_{where}")

    def _embeddings_norm(self, side, x):
        """Post-LN layout: LayerNorm of the summed embeddings (identity in pre-LN)."""
        return x if self.normalize_first else self._layer_dict[f"{side}_embeddings_layer_norm"](x)

    def _final_norm(self, side, x):
        """Pre-LN layout: the LayerNorm after the last block (identity in post-LN)."""
        return self._layer_dict[f"{side}_layer_norm"](x) if self.normalize_first else x

    def _encode(self, token_ids, padding_mask, source_bias, training=None):
        lay = self._layer_dict
        tokens = lay["token_embedding"](token_ids)  # (B, S, D)
        positions = lay["encoder_position_ids"](padding_mask)  # (B, S)
        x = tokens + lay["encoder_position_embedding"](tokens, position_ids=positions)
        x = lay["encoder_embeddings_dropout"](self._embeddings_norm("encoder", x),
                                              training=training)
        for block in lay["encoder_layers"]:
            x = block(x, attention_bias=source_bias, training=training)
        return self._final_norm("encoder", x)

    def _decode(self, token_ids, padding_mask, encoded, source_bias, training=None):
        lay = self._layer_dict
        tokens = lay["token_embedding"](token_ids)  # (B, T, D)
        positions = lay["decoder_position_ids"](padding_mask)  # (B, T)
        x = tokens + lay["decoder_position_embedding"](tokens, position_ids=positions)
        x = lay["decoder_embeddings_dropout"](self._embeddings_norm("decoder", x),
                                              training=training)
        self_bias = lay["decoder_attention_bias"](padding_mask)  # (B, 1, T, T)
        for block in lay["decoder_layers"]:
            x = block(x, encoded, self_attention_bias=self_bias,
                      cross_attention_bias=source_bias, training=training)
        return self._final_norm("decoder", x)

    def encode(self, encoder_token_ids, encoder_padding_mask):
        """(B, S) ids and padding mask -> encoder output (B, S, D), inference mode."""
        padding_mask = ops.convert_to_tensor(encoder_padding_mask)
        return self._encode(ops.convert_to_tensor(encoder_token_ids), padding_mask,
                            self.source_attention_bias(padding_mask), training=False)

    def keep_positions(self, source_length: int, target_length: int) -> None:
        """Export only: keeps the first `source_length` encoder and `target_length` decoder
        position rows (the serving limits; the rest are never read, so they need not ship).
        Longer inputs are then refused; the config still names the trained length."""
        self.encoder_position_embedding.keep_first(source_length)
        self.decoder_position_embedding.keep_first(target_length)

    def init_cache(self, encoder_output, encoder_padding_mask, max_length):
        """Decoding cache for one batch of sources (see the module docstring).

        encoder_output (B, S, D) from `encode()`, encoder_padding_mask (B, S). Cross-
        attention keys/values of every decoder layer are projected here, once.
        """
        limit = self.decoder_position_embedding.sequence_length
        if isinstance(max_length, int) and max_length > limit:
            raise ValueError(f"max_length={max_length} exceeds the decoder's {limit} "
                             "positions.")
        encoder_output = ops.convert_to_tensor(encoder_output)
        cache = kv_cache.init_cache(ops.shape(encoder_output)[0], self.num_decoder_layers,
                                    max_length, self.num_heads,
                                    self.hidden_dim // self.num_heads,
                                    self.token_embedding.compute_dtype)
        cache["cross_key_value"] = ops.stack(
            [block.compute_cross_attention_cache(encoder_output)
             for block in self.decoder_layers], axis=1)  # (B, L, 2, S, H, K)
        cache["cross_attention_bias"] = self.source_attention_bias(
            ops.convert_to_tensor(encoder_padding_mask))  # (B, 1, 1, S)
        return cache

    def call_with_cache(self, decoder_token_ids, cache, cache_index, padding_mask=None):
        """Decoder tokens (B, t) at cache slots cache_index.. -> ((B, t, D), new cache).

        padding_mask (B, t), 1 = real token (default: all real); as in
        `GptBackbone.call_with_cache`, padded rows match their unpadded decoding.
        """
        token_ids = ops.convert_to_tensor(decoder_token_ids)
        if len(token_ids.shape) != 2:
            raise ValueError(f"decoder_token_ids must have rank 2 (batch, length), got "
                             f"shape {tuple(token_ids.shape)}.")
        kv_cache.check_cache(cache, self.num_decoder_layers)
        if "cross_key_value" not in cache:
            raise ValueError("cache has no 'cross_key_value'; build it with "
                             "init_cache(encoder_output, encoder_padding_mask, max_length).")
        if padding_mask is None:
            padding_mask = ops.ones_like(token_ids)
        cache_mask, positions, self_bias = kv_cache.advance(cache["padding_mask"],
                                                            padding_mask, cache_index)
        tokens = self.token_embedding(token_ids)
        x = self._embeddings_norm(
                "decoder", tokens + self.decoder_position_embedding(tokens, position_ids=positions))
        layer_caches = []
        for i, block in enumerate(self.decoder_layers):
            x, layer_cache = block(
                x, self_attention_cache=cache["key_value"][:, i], cache_index=cache_index,
                self_attention_bias=self_bias,
                cross_attention_cache=cache["cross_key_value"][:, i],
                cross_attention_bias=cache["cross_attention_bias"], training=False)
            layer_caches.append(layer_cache)
        new_cache = dict(cache, key_value=ops.stack(layer_caches, axis=1),
                         padding_mask=cache_mask)
        return self._final_norm("decoder", x), new_cache

    @classmethod
    def from_bert(cls, bert, num_decoder_layers=None, **overrides):
        """A post-LN encoder-decoder warm-started from a `BertBackbone` (or a preset / Hugging
        Face folder): see `keras_llm.models.seq2seq.warm_start`."""
        from keras_llm.models.seq2seq.warm_start import from_bert  # pylint: disable=import-outside-toplevel
        return from_bert(cls, bert, num_decoder_layers, **overrides)
