"""Multi-head attention with padding/causal masks, cross-attention and a KV cache.

Shapes: B batch, T query length, S key/value length, H heads, D head dim,
M model width (= H * D by default).

The cache of one attention layer is a single fixed-shape tensor (B, 2, S_max, H, D):
index 0 holds keys, index 1 values. It is updated with a dynamic slice write at
`cache_index`, so the cached path has no Python-side state and traces in a
`tf.function` / `tf.while_loop` and under XLA (`jit_compile=True`).

Cross-attention keys/values depend only on the encoder output, so a decoder computes them
once per source with `compute_key_value` and passes them back as `key_value` at every step.

Masks are applied as an additive float bias; backbones build it once per forward pass
(`masks.attention_bias`) and pass it to every block.
"""
import keras
from keras import ops

from keras_llm.layers import masks


@keras.saving.register_keras_serializable(package="keras_llm")
class MultiHeadAttention(keras.layers.Layer):
    """Scaled dot-product attention over H heads with plain Q/K/V/O dense kernels.

    The projections are `keras.layers.Dense` with kernels of shape (M, H*D) and
    (H*D, M) plus biases, so checkpoints from other frameworks map onto them as
    plain matrices (see `keras_llm/models/bert/backbone.py`).

    Call: `layer(query, value=None, attention_mask=None, cache=None,
    cache_index=None, training=None, attention_bias=None, key_value=None)`.
      query: (B, T, M). value: (B, S, M); None means self-attention.
      attention_mask: (B, T, S) bool/int, 1 = may attend. None = attend everywhere.
      attention_bias: float additive bias broadcastable to (B, H, T, S), e.g. the
        (B, 1, T, S) of `masks.attention_bias` built once per forward pass by a
        backbone; 0 = may attend, -1e9 = hidden. Cheaper than a mask in every block.
      cache: (B, 2, S_max, H, D) or None. With a cache, the new keys/values of the
        T query positions are written at `cache_index` and attention runs over the
        whole S_max cache (the caller's mask must hide unwritten slots).
      key_value: (B, 2, S, H, D) keys/values from `compute_key_value(value)`, used as
        they are (no projection); `value` is then ignored.
    Returns (B, T, M), or ((B, T, M), new_cache) when a cache is given.
    """

    def __init__(self, num_heads, key_dim, output_dim=None, dropout=0.0,
                 use_bias=True, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if num_heads <= 0 or key_dim <= 0:
            raise ValueError(f"num_heads and key_dim must be positive, got "
                             f"num_heads={num_heads}, key_dim={key_dim}.")
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.output_dim = output_dim
        self.dropout = dropout
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        inner = num_heads * key_dim
        dense = dict(use_bias=use_bias, dtype=self.dtype_policy)
        self.query_dense = keras.layers.Dense(
            inner, kernel_initializer=self._clone_init(), name="query", **dense)
        self.key_dense = keras.layers.Dense(
            inner, kernel_initializer=self._clone_init(), name="key", **dense)
        self.value_dense = keras.layers.Dense(
            inner, kernel_initializer=self._clone_init(), name="value", **dense)
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    def _clone_init(self):
        return self.kernel_initializer.__class__.from_config(
            self.kernel_initializer.get_config())

    def build(self, query_shape, value_shape=None):
        value_shape = query_shape if value_shape is None else value_shape
        out_dim = self.output_dim or query_shape[-1]
        self.output_dense = keras.layers.Dense(
            out_dim, use_bias=self.use_bias, kernel_initializer=self._clone_init(),
            dtype=self.dtype_policy, name="output")
        self.query_dense.build(query_shape)
        self.key_dense.build(value_shape)
        self.value_dense.build(value_shape)
        self.output_dense.build(tuple(query_shape[:-1]) + (self.num_heads * self.key_dim,))
        self.built = True

    def _split_heads(self, x):
        shape = ops.shape(x)
        return ops.reshape(x, (shape[0], shape[1], self.num_heads, self.key_dim))  # (B, S, H, D)

    def compute_key_value(self, value):
        """(B, S, M) -> projected keys and values (B, 2, S, H, D) for `key_value`."""
        k = self._split_heads(self.key_dense(value))  # (B, S, H, D)
        v = self._split_heads(self.value_dense(value))  # (B, S, H, D)
        return ops.stack([k, v], axis=1)

    def call(self, query, value=None, attention_mask=None, cache=None, cache_index=None,
             training=None, attention_bias=None, key_value=None):
        q = self._split_heads(self.query_dense(query))  # (B, T, H, D)
        if key_value is None:
            key_value = self.compute_key_value(query if value is None else value)
        key_value = ops.cast(key_value, q.dtype)
        k, v = key_value[:, 0], key_value[:, 1]  # (B, S, H, D)
        if cache is not None:
            if cache_index is None:
                raise ValueError("`cache_index` is required when `cache` is given.")
            cache = update_cache(cache, k, v, cache_index)
            k, v = cache[:, 0], cache[:, 1]  # (B, S_max, H, D)
        if attention_mask is not None:
            mask_bias = masks.attention_bias_from_mask(attention_mask)  # (B, 1, T, S)
            attention_bias = mask_bias if attention_bias is None else attention_bias + mask_bias
        out = self._attend(q, k, v, attention_bias, training)
        if cache is not None:
            return out, cache
        return out

    def _attend(self, q, k, v, attention_bias, training):
        scale = 1.0 / float(self.key_dim) ** 0.5
        scores = ops.einsum("bthd,bshd->bhts", q * ops.cast(scale, q.dtype), k)  # (B, H, T, S)
        # Softmax in float32: bfloat16 logits lose too much precision for the max/exp.
        scores = ops.cast(scores, "float32")
        if attention_bias is not None:
            scores = scores + ops.cast(attention_bias, "float32")
        probs = ops.cast(ops.softmax(scores, axis=-1), q.dtype)
        probs = self.dropout_layer(probs, training=training)
        out = ops.einsum("bhts,bshd->bthd", probs, v)  # (B, T, H, D)
        shape = ops.shape(out)
        out = ops.reshape(out, (shape[0], shape[1], self.num_heads * self.key_dim))
        return self.output_dense(out)  # (B, T, M)

    def compute_output_shape(self, query_shape, value_shape=None):
        return tuple(query_shape[:-1]) + (self.output_dim or query_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "output_dim": self.output_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        })
        return config


def update_cache(cache, key, value, cache_index):
    """Writes (B, t, H, D) keys/values into cache (B, 2, S_max, H, D) at `cache_index`."""
    kv = ops.stack([key, value], axis=1)  # (B, 2, t, H, D)
    kv = ops.cast(kv, cache.dtype)
    zero = ops.zeros((), "int32")
    start = [zero, zero, ops.cast(cache_index, "int32"), zero, zero]
    return ops.slice_update(cache, start, kv)


__all__ = ["MultiHeadAttention", "update_cache", "masks"]
