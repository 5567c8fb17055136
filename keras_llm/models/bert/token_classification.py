"""BERT token classification (e.g. named-entity recognition): dropout + dense on every token.

Shapes: B batch, T tokens, D hidden width, C classes. Head variables: `classifier.{kernel,bias}`
(D, C), (C,) = Hugging Face `BertForTokenClassification.classifier.{weight.T,bias}`.
Labels align to words through `word_preprocessor.py` (first piece of each word; others and
[CLS]/[SEP]/padding carry IGNORE = -100, which `token_classification_loss` skips).
"""
import keras

from keras_llm.models.bert.backbone import INPUT_KEYS
from keras_llm.models.bert.word_preprocessor import IGNORE
from keras_llm.models.task_base import Task


@keras.saving.register_keras_serializable(package="keras_llm")
class BertTokenClassifier(Task):
    """Inputs: the backbone inputs. Output: logits (B, T, C) float32."""

    _config_keys = ("num_classes", "dropout")

    def __init__(self, backbone, num_classes, dropout=0.1, **kwargs):
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
        inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key)
                  for key in INPUT_KEYS}
        sequence = backbone(inputs)["sequence_output"]  # (B, T, D)
        x = keras.layers.Dropout(dropout, name="classifier_dropout")(sequence)
        classifier = keras.layers.Dense(
            num_classes, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            dtype="float32", name="classifier")
        logits = classifier(x)  # (B, T, C)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.backbone = backbone
        self.num_classes = num_classes
        self.dropout = dropout
        self.classifier = classifier


def token_classification_loss():
    """Cross entropy averaged over the labelled tokens of the batch (labels != -100), as
    Hugging Face's `CrossEntropyLoss(ignore_index=-100)`."""
    return keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=IGNORE, reduction="mean_with_sample_weight")
