"""Transformer encoder and decoder blocks (pre-LN or post-LN).

Shapes: B batch, T target (decoder) length, S source (encoder) length,
M model width, F feed-forward width, D head dim (= M / heads).

Post-LN (BERT, original Transformer):  x = LN(x + Drop(Attn(x)));  x = LN(x + Drop(FFN(x)))
Pre-LN (GPT-2, most modern LMs):       x = x + Drop(Attn(LN(x)));  x = x + Drop(FFN(LN(x)))
Pre-LN stacks need a final LayerNorm after the last block; the backbones add it.
"""
import keras
from keras import ops

from keras_llm.layers import masks
from keras_llm.layers.attention import MultiHeadAttention


def get_activation(name):
    """"gelu" is the exact erf GELU (BERT); "gelu_approximate" the tanh one (GPT-2)."""
    if name == "gelu_approximate":
        return lambda x: keras.activations.gelu(x, approximate=True)
    if name == "gelu":
        return lambda x: keras.activations.gelu(x, approximate=False)
    return keras.activations.get(name)


class _BlockBase(keras.layers.Layer):
    """Shared constructor arguments, feed-forward sub-block and config of both blocks."""

    def __init__(self, num_heads, intermediate_dim, dropout=0.0, activation="gelu",
                 layer_norm_epsilon=1e-5, normalize_first=False,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(activation, str):
            raise TypeError(f"activation must be a string name, got {activation!r}.")
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
        self.normalize_first = normalize_first
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self._activation_fn = get_activation(activation)
        self.supports_masking = False

    def _init(self):
        config = self.kernel_initializer.get_config()
        return self.kernel_initializer.__class__.from_config(config)

    def _layer_norm(self, name):
        return keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name)

    def _build_feedforward(self, shape):
        width = shape[-1]
        if width % self.num_heads:
            raise ValueError(f"{self.name}: hidden width {width} is not divisible by "
                             f"num_heads={self.num_heads}.")
        self.feedforward_intermediate_dense = keras.layers.Dense(
            self.intermediate_dim, kernel_initializer=self._init(),
            dtype=self.dtype_policy, name="feedforward_intermediate_dense")
        self.feedforward_output_dense = keras.layers.Dense(
            width, kernel_initializer=self._init(), dtype=self.dtype_policy,
            name="feedforward_output_dense")
        self.feedforward_layer_norm = self._layer_norm("feedforward_layer_norm")
        self.feedforward_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.feedforward_intermediate_dense.build(shape)
        self.feedforward_output_dense.build(tuple(shape[:-1]) + (self.intermediate_dim,))
        self.feedforward_layer_norm.build(shape)

    def _attention(self, shape, name):
        return MultiHeadAttention(
            num_heads=self.num_heads, key_dim=shape[-1] // self.num_heads,
            dropout=self.dropout, kernel_initializer=self._init(),
            dtype=self.dtype_policy, name=name)

    def _residual(self, x, sublayer, layer_norm, dropout, training):
        """One residual sub-block; `sublayer` maps normalized-or-raw x to an update."""
        if self.normalize_first:
            return x + dropout(sublayer(layer_norm(x)), training=training)
        return layer_norm(x + dropout(sublayer(x), training=training))

    def _feedforward(self, x, training):
        def ffn(h):
            return self.feedforward_output_dense(
                self._activation_fn(self.feedforward_intermediate_dense(h)))
        return self._residual(x, ffn, self.feedforward_layer_norm,
                              self.feedforward_dropout, training)

    def compute_output_shape(self, inputs_shape, *args, **kwargs):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "activation": self.activation,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "normalize_first": self.normalize_first,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        })
        return config


@keras.saving.register_keras_serializable(package="keras_llm")
class TransformerEncoderBlock(_BlockBase):
    """Bidirectional self-attention + feed-forward.

    Call: `block(x (B, S, M), padding_mask=None (B, S), attention_mask=None (B, S, S),
    attention_bias=None)` -> (B, S, M). Padded keys are hidden from every query.
    `attention_bias` (float, broadcastable to (B, H, S, S), see `masks.attention_bias`)
    lets a backbone build the mask once for all blocks instead of `padding_mask`.
    """

    def build(self, inputs_shape):
        self.self_attention = self._attention(inputs_shape, "self_attention")
        self.self_attention.build(inputs_shape)
        self.self_attention_layer_norm = self._layer_norm("self_attention_layer_norm")
        self.self_attention_layer_norm.build(inputs_shape)
        self.self_attention_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self._build_feedforward(inputs_shape)
        self.built = True

    def call(self, inputs, padding_mask=None, attention_mask=None, training=None,
             attention_bias=None):
        pad = None if padding_mask is None else masks.padding_attention_mask(padding_mask)
        mask = masks.merge_masks(pad, attention_mask)

        def attend(h):
            return self.self_attention(h, attention_mask=mask, attention_bias=attention_bias,
                                       training=training)
        x = self._residual(inputs, attend, self.self_attention_layer_norm,
                           self.self_attention_dropout, training)
        return self._feedforward(x, training)


@keras.saving.register_keras_serializable(package="keras_llm")
class TransformerDecoderBlock(_BlockBase):
    """Causal self-attention, optional cross-attention to an encoder, feed-forward.

    Call: `block(decoder_sequence (B, T, M), encoder_sequence=None (B, S, M),
    decoder_padding_mask=None (B, T), encoder_padding_mask=None (B, S),
    self_attention_cache=None (B, 2, T_max, H, D), cache_index=None,
    self_attention_bias=None, cross_attention_cache=None (B, 2, S, H, D),
    cross_attention_bias=None)`.

    `self_attention_bias` (float, broadcastable to (B, H, T, T), see
    `masks.attention_bias(..., causal=True)`, or (B, 1, T, T_max) from
    `masks.cache_attention_bias` with a cache) replaces the causal + padding mask the
    block would otherwise build itself (the backbone builds it once for all blocks).
    With a cache and no bias, query i sits at slot cache_index + i and sees slots
    0 .. cache_index + i, so unwritten (zero) slots never leak in; padding inside the
    cache then needs the bias (a per-row cache mask, see `layers/kv_cache.py`).

    Cross-attention: `cross_attention_cache` holds the encoder keys/values from
    `compute_cross_attention_cache(encoder_sequence)`, computed once per source instead of
    at every decoding step; `cross_attention_bias` (B, 1, 1, S) from
    `masks.attention_bias(encoder_padding_mask)` replaces `encoder_padding_mask`.
    Returns (B, T, M), or ((B, T, M), new_cache) when a self-attention cache is given.
    """

    def __init__(self, num_heads, intermediate_dim, use_cross_attention=False, **kwargs):
        super().__init__(num_heads, intermediate_dim, **kwargs)
        self.use_cross_attention = use_cross_attention

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        shape = decoder_sequence_shape
        self.self_attention = self._attention(shape, "self_attention")
        self.self_attention.build(shape)
        self.self_attention_layer_norm = self._layer_norm("self_attention_layer_norm")
        self.self_attention_layer_norm.build(shape)
        self.self_attention_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        if self.use_cross_attention:
            enc_shape = shape if encoder_sequence_shape is None else encoder_sequence_shape
            self.cross_attention = self._attention(shape, "cross_attention")
            self.cross_attention.build(shape, enc_shape)
            self.cross_attention_layer_norm = self._layer_norm("cross_attention_layer_norm")
            self.cross_attention_layer_norm.build(shape)
            self.cross_attention_dropout = keras.layers.Dropout(
                self.dropout, dtype=self.dtype_policy)
        self._build_feedforward(shape)
        self.built = True

    def call(self, decoder_sequence, encoder_sequence=None, decoder_padding_mask=None,
             encoder_padding_mask=None, self_attention_cache=None, cache_index=None,
             training=None, self_attention_bias=None, cross_attention_cache=None,
             cross_attention_bias=None):
        if (self.use_cross_attention and encoder_sequence is None
                and cross_attention_cache is None):
            raise ValueError(f"{self.name}: use_cross_attention=True needs `encoder_sequence` "
                             "or `cross_attention_cache`.")
        x = decoder_sequence
        new_cache = []

        def self_attend(h):
            bias = self_attention_bias
            mask = None
            if bias is None:
                mask = self._self_attention_mask(h, decoder_padding_mask, self_attention_cache,
                                                 cache_index)
            if self_attention_cache is None:
                return self.self_attention(h, attention_mask=mask, attention_bias=bias,
                                           training=training)
            out, cache = self.self_attention(h, attention_mask=mask, attention_bias=bias,
                                             cache=self_attention_cache,
                                             cache_index=cache_index, training=training)
            new_cache.append(cache)
            return out
        x = self._residual(x, self_attend, self.self_attention_layer_norm,
                           self.self_attention_dropout, training)
        if self.use_cross_attention:
            x = self._cross_attend(x, encoder_sequence, encoder_padding_mask, training,
                                   cross_attention_cache, cross_attention_bias)
        x = self._feedforward(x, training)
        if self_attention_cache is not None:
            return x, new_cache[0]
        return x

    def _self_attention_mask(self, x, padding_mask, cache, cache_index):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        if cache is None:
            causal = masks.causal_attention_mask(batch, length, length)
            pad = None if padding_mask is None else masks.padding_attention_mask(padding_mask)
            return masks.merge_masks(causal, pad)
        if cache_index is None:
            raise ValueError(f"{self.name}: `cache_index` is required with a cache.")
        if padding_mask is not None:
            raise ValueError(f"{self.name}: with a cache, pass padding as "
                             "`self_attention_bias` (masks.cache_attention_bias of the "
                             "per-row cache mask), not `decoder_padding_mask`.")
        return masks.causal_attention_mask(batch, length, ops.shape(cache)[2], cache_index)

    def compute_cross_attention_cache(self, encoder_sequence):
        """(B, S, M) encoder output -> cross-attention keys/values (B, 2, S, H, D)."""
        return self.cross_attention.compute_key_value(encoder_sequence)

    def _cross_attend(self, x, encoder_sequence, encoder_padding_mask, training,
                      key_value=None, bias=None):
        mask = None
        if bias is None and encoder_padding_mask is not None:
            mask = masks.padding_attention_mask(encoder_padding_mask, ops.shape(x)[1])

        def attend(h):
            return self.cross_attention(h, encoder_sequence, attention_mask=mask,
                                        attention_bias=bias, key_value=key_value,
                                        training=training)
        return self._residual(x, attend, self.cross_attention_layer_norm,
                              self.cross_attention_dropout, training)

    def get_config(self):
        config = super().get_config()
        config.update({"use_cross_attention": self.use_cross_attention})
        return config
