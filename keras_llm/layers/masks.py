"""Attention masks. Shapes: B batch, T query length, S key length; 1/True = may attend."""
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
