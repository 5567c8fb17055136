"""BERT token classification (e.g. named-entity recognition): dropout + dense on every token.

Shapes: B batch, T tokens, D hidden width, C classes. Head variables: `classifier.{kernel,bias}`
(D, C), (C,) = Hugging Face `BertForTokenClassification.classifier.{weight.T,bias}`.
Labels align to words through `word_preprocessor.py` (first piece of each word; others and
[CLS]/[SEP]/padding carry IGNORE = -100, which `token_classification_loss` skips).
"""
from typing import List, Sequence

import keras
import numpy as np

from keras_llm.models.bert import entity_decoding
from keras_llm.models.bert.backbone import INPUT_KEYS
from keras_llm.models.bert.word_preprocessor import IGNORE, word_predictions_numpy
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


def tag_words(model, preprocessor, words: Sequence[Sequence[str]], labels: Sequence[str],
              batch_size: int = 64) -> List[List[str]]:
    """Host inference: N word lists -> N lists of IOB2 tags, as the SavedModel's `tag_words`
    ("O" for words without a prediction). `preprocessor` is a BertWordPreprocessor."""
    encoded = preprocessor.encode(words)
    tags = []
    for first in range(0, len(words), batch_size):
        rows = range(first, min(first + batch_size, len(words)))
        width = max(len(encoded["token_ids"][r]) for r in rows)
        batch = {key: np.array([encoded[key][r] + [pad] * (width - len(encoded[key][r]))
                                for r in rows], np.int32)
                 for key, pad in zip(INPUT_KEYS, (preprocessor.pad_token_id, 0, 0))}
        logits = keras.ops.convert_to_numpy(model(batch, training=False))
        classes = word_predictions_numpy(
                logits, [encoded["word_ids"][r] for r in rows],
                [encoded["first_subword"][r] for r in rows], [len(words[r]) for r in rows])
        tags += [entity_decoding.classes_to_tags(c, labels) for c in classes]
    return tags


def recognize_entities(model, preprocessor, texts: Sequence[str], labels: Sequence[str],
                       batch_size: int = 64) -> List[List[dict]]:
    """Host inference on raw texts -> per text [{"text", "type", "start", "end"}] (code-point
    offsets), as the SavedModel's `serving_default`."""
    split = preprocessor.split_host(texts)
    tags = tag_words(model, preprocessor, [words for words, _, _ in split], labels, batch_size)
    return [entity_decoding.entities_host(t, starts, ends, text)
            for t, (_, starts, ends), text in zip(tags, split, texts)]
