"""BERT sequence classifier: dropout + dense over the pooled [CLS] output.

Shapes: B batch, T length, C classes. Head variables: `classifier.{kernel,bias}`
(Hugging Face `BertForSequenceClassification.classifier.{weight.T,bias}`).
"""
import keras

from keras_llm.models.bert.backbone import INPUT_KEYS
from keras_llm.models.task_base import Task


@keras.saving.register_keras_serializable(package="keras_llm")
class BertClassifier(Task):
    """Inputs: the backbone inputs. Output: logits (B, C) float32."""

    _config_keys = ("num_classes", "dropout")

    def __init__(self, backbone, num_classes, dropout=0.1, **kwargs):
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
        inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key)
                  for key in INPUT_KEYS}
        pooled = backbone(inputs)["pooled_output"]  # (B, D)
        x = keras.layers.Dropout(dropout, name="classifier_dropout")(pooled)
        classifier = keras.layers.Dense(
            num_classes, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            dtype="float32", name="classifier")
        logits = classifier(x)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.backbone = backbone
        self.num_classes = num_classes
        self.dropout = dropout
        self.classifier = classifier
