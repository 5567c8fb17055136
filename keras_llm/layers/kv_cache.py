"""The decoder self-attention cache shared by cached decoders (GPT, Seq2Seq).

Shapes: B batch, L layers, T_max cache length, H heads, K head dim, t new tokens.

A cache is a dict of fixed-shape tensors, all with the batch first (so beam search can
reorder every entry with one gather on axis 0):
  "key_value":    (B, L, 2, T_max, H, K) keys (index 0) and values (index 1) per layer;
  "padding_mask": (B, T_max) int32, 1 where a slot holds a real token of that row.
Slots are written at one `cache_index` for the whole batch, but each row attends only to
its own real slots and numbers its positions by counting them (`advance`), so prompts of
different lengths, left- or right-padded, share a batch and give each row the logits it
would have alone.
"""
from keras import ops

from keras_llm.layers import masks
from keras_llm.layers.embeddings import position_ids


def init_cache(batch_size, num_layers, max_length, num_heads, head_dim, dtype):
    """Zero key/values (B, L, 2, T_max, H, K) in `dtype` and an all-zero padding mask."""
    shape = (batch_size, num_layers, 2, max_length, num_heads, head_dim)
    return {"key_value": ops.zeros(shape, dtype=dtype),
            "padding_mask": ops.zeros((batch_size, max_length), dtype="int32")}


def advance(cache_mask, padding_mask, cache_index):
    """Marks t new tokens at slots cache_index.. and derives what the blocks need.

    cache_mask: (B, T_max) int32. padding_mask: (B, t), 1 = real token.
    Returns (new cache_mask (B, T_max), position_ids (B, t) counting each row's real
    tokens, self-attention bias (B, 1, t, T_max) built once for all layers).
    """
    padding_mask = ops.cast(padding_mask, "int32")
    zero = ops.zeros((), "int32")
    cache_mask = ops.slice_update(cache_mask, [zero, ops.cast(cache_index, "int32")],
                                  padding_mask)
    length = ops.shape(padding_mask)[1]
    positions = ops.slice(position_ids(cache_mask), [zero, ops.cast(cache_index, "int32")],
                          [ops.shape(padding_mask)[0], length])  # (B, t)
    bias = masks.cache_attention_bias(cache_mask, cache_index, length)
    return cache_mask, positions, bias


def check_cache(cache, num_layers):
    """Raises a clear error unless `cache` is a dict made by `init_cache`."""
    if not isinstance(cache, dict) or not {"key_value", "padding_mask"} <= set(cache):
        raise ValueError("cache must be the dict made by init_cache() with 'key_value' and "
                         f"'padding_mask', got {type(cache).__name__}.")
    shape = tuple(cache["key_value"].shape)
    if len(shape) != 6 or shape[1] != num_layers:
        raise ValueError(f"cache['key_value'] must have shape (B, L={num_layers}, 2, T_max, "
                         f"H, K), got {shape}; build it with init_cache().")
