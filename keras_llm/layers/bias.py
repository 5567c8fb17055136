"""A learned bias added to the last axis (e.g. the per-token output bias of an MLM head)."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_llm")
class BiasAdd(keras.layers.Layer):
    """(..., N) -> (..., N) + bias (N,). Output keeps the input dtype (e.g. float32 logits)."""

    def build(self, inputs_shape):
        self.bias = self.add_weight(name="bias", shape=(inputs_shape[-1],),
                                    initializer="zeros", trainable=True)
        self.built = True

    def call(self, inputs):
        return inputs + ops.cast(self.bias, inputs.dtype)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype=inputs.dtype)
