"""Packers: ragged token ids -> fixed-length model inputs, in core TensorFlow ops.

Shapes: B batch, T sequence_length. Inputs are int ragged (B, None) (or dense (B, n)); a 1-D
input (one example, e.g. inside `tf.data.Dataset.map` before batching) gives 1-D outputs (T,).
"""
import keras
import tensorflow as tf


def _to_ragged(x):
    """-> (int32 ragged (B, None), unbatched flag)."""
    if isinstance(x, tf.RaggedTensor):
        if x.shape.rank != 2:
            raise ValueError(f"packer inputs must be (B, None) ragged, got rank {x.shape.rank}")
        return tf.cast(x, tf.int32), False
    x = tf.convert_to_tensor(x)
    if x.shape.rank == 1:
        return tf.RaggedTensor.from_tensor(tf.cast(x, tf.int32)[tf.newaxis]), True
    if x.shape.rank == 2:
        return tf.RaggedTensor.from_tensor(tf.cast(x, tf.int32)), False
    raise ValueError(f"packer inputs must be rank 1 or 2, got shape {x.shape}")


def _head(x, n):
    """First n[b] items of each row b of ragged x."""
    keep = tf.ragged.range(x.row_lengths()) < tf.cast(n, tf.int64)[:, tf.newaxis]
    return tf.ragged.boolean_mask(x, keep)


def _column(value, like):
    """A (B, 1) ragged column of `value` with the batch size of `like`."""
    return tf.RaggedTensor.from_tensor(tf.fill([like.nrows(), 1], tf.constant(value, tf.int32)))


def longest_first_lengths(len_a, len_b, budget):
    """Kept lengths of two segments under `budget` tokens, exactly like Hugging Face's
    `longest_first` truncation: the shorter is kept whole if the longer can take the rest,
    otherwise both get half (the longer, or the second on ties, gets the odd token)."""
    budget = tf.cast(budget, len_a.dtype)
    swap = len_a > len_b
    short, long = tf.minimum(len_a, len_b), tf.maximum(len_a, len_b)
    cap_long = tf.where(short > budget, short, tf.maximum(short, budget - short))
    cap_short = short
    halve = cap_short + cap_long > budget
    cap_short = tf.where(halve, budget // 2, cap_short)
    cap_long = tf.where(halve, budget // 2 + budget % 2, cap_long)
    cap_a = tf.where(swap, cap_long, cap_short)
    cap_b = tf.where(swap, cap_short, cap_long)
    return tf.minimum(len_a, cap_a), tf.minimum(len_b, cap_b)


@keras.saving.register_keras_serializable(package="keras_llm")
class SegmentPacker(keras.layers.Layer):
    """`[CLS] a [SEP] (b [SEP])` packing with segment ids, padding and longest-first truncation.

    call(a) or call((a,)) or call((a, b)) -> {"token_ids", "segment_ids", "padding_mask"}, each
    int32 (B, T); padding_mask is 1 on real tokens.
    """

    def __init__(self, sequence_length, start_value, end_value, pad_value=0, **kwargs):
        kwargs.setdefault("dtype", "int32")
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.sequence_length = int(sequence_length)
        self.start_value = int(start_value)
        self.end_value = int(end_value)
        self.pad_value = int(pad_value)
        if self.sequence_length < 3:
            raise ValueError(f"sequence_length must be >= 3, got {sequence_length}")

    def call(self, inputs):
        segments = list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]
        if not 1 <= len(segments) <= 2:
            raise ValueError(f"SegmentPacker takes 1 or 2 segments, got {len(segments)}")
        converted = [_to_ragged(s) for s in segments]
        segments = [c[0] for c in converted]
        unbatched = converted[0][1]
        budget = self.sequence_length - len(segments) - 1
        if len(segments) == 1:
            segments = [_head(segments[0], tf.fill([segments[0].nrows()], budget))]
        else:
            a, b = segments
            n_a, n_b = longest_first_lengths(a.row_lengths(), b.row_lengths(), budget)
            segments = [_head(a, n_a), _head(b, n_b)]
        start, end = _column(self.start_value, segments[0]), _column(self.end_value, segments[0])
        pieces, seg_ids = [start], [tf.zeros_like(start)]
        for i, s in enumerate(segments):
            pieces += [s, end]
            seg_ids += [tf.ones_like(s) * i, tf.ones_like(end) * i]
        token_ids = tf.concat(pieces, axis=1)
        segment_ids = tf.concat(seg_ids, axis=1)
        shape = [None, self.sequence_length]
        out = {
                "token_ids": token_ids.to_tensor(self.pad_value, shape=shape),
                "segment_ids": segment_ids.to_tensor(0, shape=shape),
                "padding_mask": tf.ones_like(token_ids).to_tensor(0, shape=shape),
        }
        return {k: v[0] for k, v in out.items()} if unbatched else out

    def get_config(self):
        config = super().get_config()
        config.update({"sequence_length": self.sequence_length, "start_value": self.start_value,
                       "end_value": self.end_value, "pad_value": self.pad_value})
        return config


@keras.saving.register_keras_serializable(package="keras_llm")
class StartEndPacker(keras.layers.Layer):
    """`start x end` then pad to T, for decoders: call(x) -> (token_ids, padding_mask) int32.

    Truncation keeps the start and end tokens and cuts x. start_value/end_value None: omitted.
    """

    def __init__(self, sequence_length, start_value=None, end_value=None, pad_value=0, **kwargs):
        kwargs.setdefault("dtype", "int32")
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.sequence_length = int(sequence_length)
        self.start_value = None if start_value is None else int(start_value)
        self.end_value = None if end_value is None else int(end_value)
        self.pad_value = int(pad_value)
        n_special = (start_value is not None) + (end_value is not None)
        if self.sequence_length <= n_special:
            raise ValueError(f"sequence_length {sequence_length} leaves no room for tokens")

    def call(self, inputs):
        x, unbatched = _to_ragged(inputs)
        n_special = (self.start_value is not None) + (self.end_value is not None)
        x = _head(x, tf.fill([x.nrows()], self.sequence_length - n_special))
        pieces = [x]
        if self.start_value is not None:
            pieces.insert(0, _column(self.start_value, x))
        if self.end_value is not None:
            pieces.append(_column(self.end_value, x))
        x = tf.concat(pieces, axis=1) if len(pieces) > 1 else x
        shape = [None, self.sequence_length]
        token_ids = x.to_tensor(self.pad_value, shape=shape)
        padding_mask = tf.ones_like(x).to_tensor(0, shape=shape)
        if unbatched:
            return token_ids[0], padding_mask[0]
        return token_ids, padding_mask

    def get_config(self):
        config = super().get_config()
        config.update({"sequence_length": self.sequence_length, "start_value": self.start_value,
                       "end_value": self.end_value, "pad_value": self.pad_value})
        return config
