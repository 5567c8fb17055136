"""Embedding layers. Shapes: B batch, T sequence length, V vocabulary, D width.

- `TokenEmbedding`: (B, T) ids -> (B, T, D); `reverse=True` maps (B, T, D) -> (B, T, V)
  logits through the same (V, D) matrix (weight tying for LM heads). Also used for
  segment (token type) embeddings.
- `PositionEmbedding`: learned absolute positions, (B, T, D) -> (B, T, D) position vectors.
- `SinusoidalPositionEmbedding`: fixed sin/cos positions, same call signature.
- `PositionIds`: padding mask (B, T) -> per-row position ids (B, T) that count real tokens
  only, so a left- or right-padded row gets the positions it would have alone.
Both position layers take `start_index` (one offset for the batch) or `position_ids` (B, T)
(per row, as cached decoding of prompts of different lengths needs).
"""
import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="keras_llm")
class TokenEmbedding(keras.layers.Embedding):
    """`keras.layers.Embedding` that can also project back to vocabulary logits.

    `.embeddings` is the (V, D) variable. `layer(ids)` looks up vectors;
    `layer(hidden, reverse=True)` returns `hidden @ embeddings.T` in float32 so the
    softmax/loss of mixed-precision models stays in full precision.
    """

    def call(self, inputs, reverse=False):
        if getattr(self, "_int4", False):
            return self._int4_reverse(inputs) if reverse else self._int4_lookup(inputs)
        if not reverse:
            return super().call(inputs)
        kernel = ops.cast(ops.transpose(self.embeddings), self.compute_dtype)  # (D, V)
        return ops.cast(ops.matmul(inputs, kernel), "float32")  # (B, T, V)

    def keep_rows(self, ids) -> None:
        """Keeps only the rows `ids` (in that order): vocabulary pruning before export."""
        if self.quantization_mode is not None or getattr(self, "_int4", False):
            raise ValueError("Prune the vocabulary before quantizing.")
        table = ops.convert_to_numpy(self.embeddings)[list(ids)]
        self.input_dim = len(table)
        self._replace_table(table, "embeddings", self._embeddings.trainable)

    def _replace_table(self, value, name, trainable, **extra) -> None:
        """`_embeddings` becomes a new variable holding `value` (another shape or dtype);
        `extra` adds more variables (name -> value), e.g. scales."""
        self._tracker.unlock()
        del self._embeddings
        self._embeddings = self.add_weight(name=name, shape=value.shape, initializer="zeros",
                                           dtype=str(value.dtype), trainable=trainable)
        for attribute, extra_value in extra.items():
            setattr(self, attribute, self.add_weight(
                    name=attribute, shape=extra_value.shape, initializer="zeros",
                    dtype=str(extra_value.dtype), trainable=False))
        self._tracker.lock()
        self._embeddings.assign(value)
        for attribute, extra_value in extra.items():
            getattr(self, attribute).assign(extra_value)

    def _int8_call(self, inputs, reverse=False, training=None):
        """Quantized call (Keras dispatches here): int8 rows with one scale each."""
        if not reverse:
            return super()._int8_call(inputs, training=training)
        kernel = ops.cast(ops.transpose(self._embeddings), self.compute_dtype)  # (D, V)
        return ops.divide(ops.cast(ops.matmul(inputs, kernel), "float32"),
                          ops.cast(self.embeddings_scale, "float32"))  # (B, T, V)

    def quantize(self, mode=None, type_check=True, config=None):
        """int8: Keras's Embedding quantization (one scale per row), which serves both the
        lookup and the tied `reverse` projection above. int4: ours (`_pack_int4`)."""
        if mode == "int4":
            self._pack_int4()
            return
        if mode != "int8":
            raise NotImplementedError(f"{type(self).__name__} supports int8 and int4 "
                                      f"quantization, not {mode!r}.")
        super().quantize(mode, type_check=False, config=config)

    # ---- int4 rows: two signed 4-bit values per int8 byte, one float scale per row --------
    def _pack_int4(self):
        table = ops.convert_to_numpy(self.embeddings).astype("float32")  # (V, D)
        if table.shape[1] % 2:
            raise ValueError(f"int4 embeddings need an even width, got {table.shape[1]}.")
        scale = np.maximum(np.abs(table).max(axis=1), 1e-12) / 7.0  # (V,)
        values = np.clip(np.round(table / scale[:, None]), -8, 7).astype("int8")
        packed = ((values[:, 0::2] & 0x0F) | (values[:, 1::2] << 4)).astype("int8")  # (V, D/2)
        self._replace_table(packed, "embeddings_int4", False, int4_scale=scale.astype("float32"))
        self._int4 = True

    def _unpack_int4(self, packed):
        """(..., D/2) int8 -> (..., D) int8 in [-8, 7] (core ops: shifts sign-extend)."""
        packed = tf.convert_to_tensor(packed)
        low = tf.bitwise.right_shift(tf.bitwise.left_shift(packed, 4), 4)
        high = tf.bitwise.right_shift(packed, 4)
        pairs = tf.stack([low, high], axis=-1)  # (..., D/2, 2)
        return tf.reshape(pairs, tf.concat([tf.shape(packed)[:-1], [self.output_dim]], 0))

    def _int4_lookup(self, inputs):
        inputs = tf.cast(inputs, tf.int32)
        rows = self._unpack_int4(tf.gather(self._embeddings, inputs))
        scale = tf.gather(self.int4_scale, inputs)
        return tf.cast(rows, self.compute_dtype) * tf.cast(scale, self.compute_dtype)[..., None]

    def _int4_reverse(self, inputs):
        table = tf.cast(self._unpack_int4(self._embeddings), self.compute_dtype)  # (V, D)
        logits = tf.matmul(inputs, table, transpose_b=True)
        return tf.cast(logits, "float32") * tf.cast(self.int4_scale, "float32")

    def compute_output_shape(self, input_shape, reverse=False):
        if reverse:
            return tuple(input_shape[:-1]) + (self.input_dim,)
        return super().compute_output_shape(input_shape)

    def compute_output_spec(self, inputs, reverse=False):
        shape = self.compute_output_shape(inputs.shape, reverse=reverse)
        dtype = "float32" if reverse else self.compute_dtype
        return keras.KerasTensor(shape, dtype=dtype)


def _check_length(length, max_length, name):
    if isinstance(length, int) and length > max_length:
        raise ValueError(f"{name}: sequence length {length} exceeds "
                         f"max_sequence_length={max_length}.")


@keras.saving.register_keras_serializable(package="keras_llm")
class PositionEmbedding(keras.layers.Layer):
    """Learned absolute position embeddings: a (max_sequence_length, D) table.

    Call on (B, T, D) hidden states (only the shape is used); returns (B, T, D)
    rows `start_index ... start_index + T - 1` of the table, or the rows `position_ids`
    (B, T) when given.
    """

    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if sequence_length <= 0:
            raise ValueError(f"sequence_length must be positive, got {sequence_length}.")
        self.sequence_length = sequence_length
        self.initializer = keras.initializers.get(initializer)

    def build(self, inputs_shape):
        self.position_embeddings = self.add_weight(
            name="embeddings", shape=(self.sequence_length, inputs_shape[-1]),
            initializer=self.initializer, trainable=True)
        self.built = True

    def call(self, inputs, start_index=0, position_ids=None):
        shape = ops.shape(inputs)
        _check_length(inputs.shape[1], self.sequence_length, self.name)
        table = ops.cast(self.position_embeddings, self.compute_dtype)
        if position_ids is not None:
            return ops.take(table, ops.cast(position_ids, "int32"), axis=0)  # (B, T, D)
        rows = ops.slice(table, (ops.cast(start_index, "int32"), 0),
                         (shape[1], ops.shape(table)[1]))  # (T, D)
        return ops.broadcast_to(rows[None], (shape[0], shape[1], ops.shape(table)[1]))

    def compute_output_spec(self, inputs, start_index=0, position_ids=None):
        return keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)

    def keep_first(self, length: int) -> None:
        """Keeps only the first `length` rows (export: positions past the serving limit are
        never read, so their rows need not ship). Longer inputs are then refused."""
        if not 1 <= length <= self.sequence_length:
            raise ValueError(f"{self.name}: length must be in [1, {self.sequence_length}], got "
                             f"{length}.")
        table = ops.convert_to_numpy(self.position_embeddings)[:length]
        trainable = self.position_embeddings.trainable
        self._tracker.unlock()
        del self.position_embeddings
        self.position_embeddings = self.add_weight(
                name="embeddings", shape=table.shape, initializer="zeros", trainable=trainable)
        self._tracker.lock()
        self.position_embeddings.assign(table)
        self.sequence_length = int(length)

    def get_config(self):
        config = super().get_config()
        config.update({
            "sequence_length": self.sequence_length,
            "initializer": keras.initializers.serialize(self.initializer),
        })
        return config


@keras.saving.register_keras_serializable(package="keras_llm")
class SinusoidalPositionEmbedding(keras.layers.Layer):
    """Fixed sinusoidal positions ("Attention is all you need"), no weights.

    Even channels hold sin(pos / max_wavelength^(2i/D)), odd channels the cos.
    Call on (B, T, D); returns (B, T, D) for positions start_index ... + T - 1, or for
    `position_ids` (B, T) when given.
    """

    def __init__(self, max_wavelength=10000, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = max_wavelength

    def call(self, inputs, start_index=0, position_ids=None):
        shape = ops.shape(inputs)
        width = inputs.shape[-1]
        if width is None or width % 2:
            raise ValueError(f"{self.name}: the last dimension must be a known even "
                             f"number, got {width}.")
        if position_ids is None:
            position_ids = (ops.arange(shape[1], dtype="int32")
                            + ops.cast(start_index, "int32"))[None]  # (1, T)
        positions = ops.cast(position_ids, "float32")
        exponent = ops.arange(0, width, 2, dtype="float32") / float(width)
        freqs = ops.exp(-math.log(self.max_wavelength) * exponent)  # (D/2,)
        angles = positions[..., None] * freqs  # (B or 1, T, D/2)
        table = ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1)  # (B or 1, T, D/2, 2)
        table = ops.reshape(table, (ops.shape(angles)[0], shape[1], width))  # interleaved
        table = ops.cast(table, self.compute_dtype)
        return ops.broadcast_to(table, (shape[0], shape[1], width))

    def compute_output_spec(self, inputs, start_index=0, position_ids=None):
        return keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"max_wavelength": self.max_wavelength})
        return config


def position_ids(padding_mask):
    """(B, T) padding mask (1 = real token) -> (B, T) int32 positions counting real tokens.

    Row [0, 0, 1, 1, 1] (left padded) gets [0, 0, 0, 1, 2], row [1, 1, 0, 1] gets
    [0, 1, 1, 2]: each real token sits at the position it has in the unpadded row. Padded
    slots repeat a neighbouring position; their outputs are hidden by the attention mask.
    """
    counts = ops.cumsum(ops.cast(padding_mask, "int32"), axis=1)
    return ops.maximum(counts - 1, 0)


@keras.saving.register_keras_serializable(package="keras_llm")
class PositionIds(keras.layers.Layer):
    """Layer form of `position_ids` for functional backbones: (B, T) mask -> (B, T) int32."""

    def call(self, padding_mask):
        return position_ids(padding_mask)

    def compute_output_spec(self, padding_mask):
        return keras.KerasTensor(padding_mask.shape, dtype="int32")
