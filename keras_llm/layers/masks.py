"""Attention masks. Shapes: B batch, T query length, S key length; 1/True = may attend."""
import keras
from keras import ops


def padding_attention_mask(padding_mask, query_length=None):
    """(B, S) padding mask (1 = real token) -> (B, T, S) bool, keys hidden where padded."""
    mask = ops.cast(padding_mask, "bool")[:, None, :]  # (B, 1, S)
    t = ops.shape(padding_mask)[1] if query_length is None else query_length
    return ops.broadcast_to(mask, (ops.shape(padding_mask)[0], t, ops.shape(padding_mask)[1]))


def causal_attention_mask(batch_size, query_length, key_length, query_offset=0):
    """(B, T, S) bool: query i (absolute position query_offset + i) sees keys j <= it."""
    rows = ops.arange(query_length, dtype="int32")[:, None] + ops.cast(query_offset, "int32")
    cols = ops.arange(key_length, dtype="int32")[None, :]
    mask = cols <= rows  # (T, S)
    return ops.broadcast_to(mask[None], (batch_size, query_length, key_length))


def merge_masks(*masks):
    """Logical AND of the given (B, T, S) masks, skipping None; None if all are None."""
    result = None
    for mask in masks:
        if mask is None:
            continue
        mask = ops.cast(mask, "bool")
        result = mask if result is None else ops.logical_and(result, mask)
    return result


# Large negative logit for hidden keys. Not -inf: a fully hidden row must stay finite
# (uniform softmax) rather than NaN, as with the boolean masks above.
_HIDDEN = -1e9


def attention_bias(padding_mask=None, query_length=None, causal=False):
    """Additive float32 attention bias, built once per forward pass and shared by all blocks.

    padding_mask: (B, S) 1 = real token, or None. Returns (B, 1, 1, S) for padding only,
    (B, 1, T, S) with `causal` (T = query_length, default S), (1, 1, T, S) for causal
    without padding; 0 where a query may attend, -1e9 where it may not. Broadcasts
    against attention scores (B, H, T, S), so each block only adds it.
    """
    if padding_mask is None and not causal:
        raise ValueError("attention_bias needs a padding_mask or causal=True.")
    if padding_mask is None and query_length is None:
        raise ValueError("attention_bias(causal=True) without a padding_mask needs "
                         "query_length.")
    allowed = None
    if padding_mask is not None:
        allowed = ops.cast(padding_mask, "bool")[:, None, None, :]  # (B, 1, 1, S)
    if causal:
        key_length = ops.shape(padding_mask)[1] if padding_mask is not None else query_length
        length = key_length if query_length is None else query_length
        rows = ops.arange(length, dtype="int32")[:, None]
        cols = ops.arange(key_length, dtype="int32")[None, :]
        lower = (cols <= rows)[None, None]  # (1, 1, T, S)
        allowed = lower if allowed is None else ops.logical_and(allowed, lower)
    return ops.where(allowed, ops.zeros((), "float32"), ops.full((), _HIDDEN, "float32"))


def cache_attention_bias(cache_mask, cache_index, query_length):
    """Additive bias (B, 1, T, S_max) of T queries written at cache slots cache_index...

    cache_mask: (B, S_max) 1 where a cache slot holds a real token (padding and unwritten
    slots are 0). Query i (slot cache_index + i) sees slot j iff j <= cache_index + i and
    cache_mask[b, j] is 1, so each row attends to its own real tokens only.
    """
    rows = ops.arange(query_length, dtype="int32")[:, None] + ops.cast(cache_index, "int32")
    cols = ops.arange(ops.shape(cache_mask)[1], dtype="int32")[None, :]
    causal = (cols <= rows)[None, None]  # (1, 1, T, S_max)
    real = ops.cast(cache_mask, "bool")[:, None, None, :]  # (B, 1, 1, S_max)
    allowed = ops.logical_and(causal, real)
    return ops.where(allowed, ops.zeros((), "float32"), ops.full((), _HIDDEN, "float32"))


def attention_bias_from_mask(attention_mask):
    """(B, T, S) bool/int mask (1 = may attend) -> (B, 1, T, S) float32 additive bias."""
    allowed = ops.cast(attention_mask, "bool")[:, None, :, :]
    return ops.where(allowed, ops.zeros((), "float32"), ops.full((), _HIDDEN, "float32"))


@keras.saving.register_keras_serializable(package="keras_llm")
class AttentionBias(keras.layers.Layer):
    """Layer form of `attention_bias` for functional backbones: padding_mask (B, S) ->
    (B, 1, 1, S), or (B, 1, S, S) with `causal=True`. No weights."""

    def __init__(self, causal=False, **kwargs):
        super().__init__(**kwargs)
        self.causal = causal

    def call(self, padding_mask):
        return attention_bias(padding_mask, causal=self.causal)

    def compute_output_spec(self, padding_mask):
        batch, length = padding_mask.shape
        rows = length if self.causal else 1
        return keras.KerasTensor((batch, 1, rows, length), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update({"causal": self.causal})
        return config
