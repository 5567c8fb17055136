"""BERT masked-language-model task. Shapes: B batch, T length, P masked positions,
D hidden width, V vocabulary.

Head (matches Hugging Face `BertForMaskedLM.cls.predictions`):
  mlm_transform_dense.{kernel,bias}   cls.predictions.transform.dense.{weight.T,bias}
  mlm_layer_norm.{gamma,beta}         cls.predictions.transform.LayerNorm.{weight,bias}
  mlm_output_bias.bias                cls.predictions.bias
The decoder matrix is the backbone's token embedding (tied, as in BERT).
"""
import keras
from keras import ops

from keras_llm.layers import BiasAdd
from keras_llm.models.bert.backbone import INPUT_KEYS
from keras_llm.models.task_base import Task


@keras.saving.register_keras_serializable(package="keras_llm")
class BertMaskedLM(Task):
    """Inputs: backbone inputs + "mask_positions" int32 (B, P). Output: logits (B, P, V) float32."""

    def __init__(self, backbone, **kwargs):
        inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key)
                  for key in INPUT_KEYS + ("mask_positions",)}
        sequence = backbone({k: inputs[k] for k in INPUT_KEYS})["sequence_output"]
        positions = ops.cast(inputs["mask_positions"], "int32")
        x = ops.take_along_axis(sequence, positions[:, :, None], axis=1)  # (B, P, D)
        transform = keras.layers.Dense(
            backbone.hidden_dim, activation="gelu",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="mlm_transform_dense")
        layer_norm = keras.layers.LayerNormalization(
            epsilon=backbone.layer_norm_epsilon, name="mlm_layer_norm")
        output_bias = BiasAdd(name="mlm_output_bias")
        x = layer_norm(transform(x))
        logits = output_bias(backbone.token_embedding(x, reverse=True))  # (B, P, V)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.backbone = backbone
        self.mlm_transform_dense = transform
        self.mlm_layer_norm = layer_norm
        self.mlm_output_bias = output_bias
