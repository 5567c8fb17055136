"""BertQuestionAnswerer: harness, masked padding, Hugging Face `qa_outputs` import."""
import logging

import keras
import numpy as np

from keras_llm import models
from keras_llm.models.bert.huggingface import load_bert_question_answerer
from tests import harness
from tests.models import test_bert
from tests.models.test_bert_huggingface import tiny_tensors, write_checkpoint

B, T = test_bert.B, test_bert.T


def _span_loss():
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return {"start_logits": ce, "end_logits": ce}


def test_harness():
    targets = {"start_logits": np.array([3, 0], "int32"), "end_logits": np.array([4, 0], "int32")}
    harness.run_model_test(
            lambda: models.BertQuestionAnswerer(test_bert._backbone(num_layers=1)),
            test_bert._inputs(), targets=targets, loss=_span_loss(),
            expected_output_shapes={"start_logits": (B, T), "end_logits": (B, T)},
            xla_training=False, run_saved_model=False)


def test_padding_logits_are_masked():
    model = models.BertQuestionAnswerer(test_bert._backbone(num_layers=1))
    inputs = test_bert._inputs()
    outputs = model(inputs)
    for key in ("start_logits", "end_logits"):
        logits = keras.ops.convert_to_numpy(outputs[key])
        assert (logits[inputs["padding_mask"] == 0] < -1e8).all()
        assert (np.abs(logits[inputs["padding_mask"] == 1]) < 100).all()


def test_huggingface_keeps_qa_outputs(tmp_path, caplog):
    tensors = tiny_tensors()
    rng = np.random.default_rng(1)
    tensors["qa_outputs.weight"] = rng.normal(0, 0.5, (2, 64)).astype(np.float32)
    tensors["qa_outputs.bias"] = np.array([0.25, -0.5], np.float32)
    path = write_checkpoint(tmp_path / "qa", {"bert." + k if not k.startswith("qa_") else k: v
                                              for k, v in tensors.items()})
    with caplog.at_level(logging.WARNING):
        model = models.BertQuestionAnswerer.from_huggingface(path, dropout=0.0)
    assert not [r for r in caplog.records if "not used" in r.getMessage()]
    np.testing.assert_array_equal(model.qa_outputs.kernel.numpy(), tensors["qa_outputs.weight"].T)
    np.testing.assert_array_equal(model.qa_outputs.bias.numpy(), tensors["qa_outputs.bias"])
    np.testing.assert_array_equal(model.backbone.pooler_dense.bias.numpy(),
                                  tensors["pooler.dense.bias"])
    # The head's logits are the backbone's sequence output times qa_outputs, as in HF.
    inputs = {k: v[:, :8] for k, v in test_bert._inputs().items()}
    inputs["token_ids"] = inputs["token_ids"] % 50
    sequence = model.backbone(inputs)["sequence_output"].numpy()
    expected = sequence @ tensors["qa_outputs.weight"].T + tensors["qa_outputs.bias"]
    start = model(inputs)["start_logits"].numpy()
    real = inputs["padding_mask"] == 1
    np.testing.assert_allclose(start[real], expected[..., 0][real], atol=1e-5)


def test_huggingface_without_head_and_bad_head(tmp_path):
    tensors = tiny_tensors()
    model = load_bert_question_answerer(write_checkpoint(tmp_path / "plain", tensors))
    assert model.qa_outputs.kernel.shape == (64, 2)
    tensors["qa_outputs.weight"] = np.zeros((3, 64), np.float32)
    tensors["qa_outputs.bias"] = np.zeros((3,), np.float32)
    try:
        load_bert_question_answerer(write_checkpoint(tmp_path / "bad", tensors))
    except ValueError as e:
        assert "qa_outputs.weight" in str(e) and "span head" in str(e)
    else:
        raise AssertionError("a (3, 64) qa_outputs must be refused")
