"""BertTokenClassifier: harness (config round trip, .keras, SavedModel, fit step, mixed
precision) and the loss: mean over labelled tokens only (-100 ignored), as Hugging Face."""
import keras
import numpy as np
import pytest

from keras_llm import models
from keras_llm.models.bert.token_classification import token_classification_loss
from tests import harness
from tests.models import test_bert

B, T, C = test_bert.B, test_bert.T, 5


def _labels(inputs):
    labels = np.random.default_rng(0).integers(0, C, (B, T)).astype("int32")
    labels[:, 0] = -100
    labels[inputs["padding_mask"] == 0] = -100
    return labels


def test_harness():
    inputs = test_bert._inputs()
    harness.run_model_test(
            lambda: models.BertTokenClassifier(test_bert._backbone(num_layers=1), C),
            inputs, targets=_labels(inputs), loss=token_classification_loss(),
            expected_output_shapes=(B, T, C), xla_training=False)


def test_loss_is_the_mean_over_labelled_tokens():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 4, C)).astype("float32")
    labels = np.array([[-100, 1, 2, -100], [-100, 4, -100, -100]], "int32")
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    kept = labels >= 0
    picked = np.take_along_axis(log_p, np.maximum(labels, 0)[..., None], -1)[..., 0]
    expected = -np.mean(picked[kept])
    got = float(token_classification_loss()(labels, logits))
    assert got == pytest.approx(expected, rel=1e-5)


def test_bad_num_classes():
    with pytest.raises(ValueError, match="num_classes"):
        models.BertTokenClassifier(test_bert._backbone(num_layers=1), 0)


def test_config_names_the_head():
    model = models.BertTokenClassifier(test_bert._backbone(num_layers=1), C, dropout=0.2)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert (restored.num_classes, restored.dropout) == (C, 0.2)
    assert restored.classifier.kernel.shape == (64, C)
