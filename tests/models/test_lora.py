"""LoRA (keras_llm.models.lora): adapters start as a no-op, only adapters + head train, the
merged weights (save_weights, or merge_lora in place) give the unmerged outputs, adapters
round-trip on their own, and a LoRA run of the fine-tuning library trains only those weights
and leaves a workdir whose model loads without LoRA."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from keras_llm import models
from keras_llm.models import lora

INPUTS = {"token_ids": tf.constant([[1, 5, 6, 7, 2, 0], [1, 9, 2, 0, 0, 0]]),
          "segment_ids": tf.zeros([2, 6], tf.int32),
          "padding_mask": tf.constant([[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]])}


def _classifier(seed=1):
    tf.keras.utils.set_random_seed(seed)
    backbone = models.BertBackbone(vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=32,
                                   intermediate_dim=64, max_sequence_length=16, dropout=0.0)
    return models.BertClassifier(backbone, 3, dropout=0.0)


def _train_adapters(model):
    """Stands in for training: nonzero B matrices and a changed head."""
    rng = np.random.default_rng(0)
    for _, layer in lora.lora_layers(model):
        layer.lora_kernel_b.assign(rng.normal(0, 0.5, layer.lora_kernel_b.shape))
    for variable in model.trainable_weights:
        if "classifier" in variable.path:
            variable.assign(variable + rng.normal(0, 0.1, variable.shape))


def test_enable_lora_freezes_the_backbone_and_starts_as_a_no_op():
    model = _classifier()
    before = model(INPUTS).numpy()
    counts = lora.enable_lora(model, rank=4, targets=("query", "value"))
    assert counts["adapted_layers"] == 4  # 2 layers x (query, value)
    # A (32 x 4) + B (4 x 32) per layer, + the head's kernel and bias.
    assert counts["trainable"] == 4 * (32 * 4 + 4 * 32) + 32 * 3 + 3
    names = {v.path.rsplit("/", 1)[-1] for v in model.trainable_weights}
    assert names == {"lora_kernel_a", "lora_kernel_b", "kernel", "bias"}
    assert all("classifier" in v.path or "lora" in v.path for v in model.trainable_weights)
    np.testing.assert_allclose(model(INPUTS).numpy(), before, atol=1e-6)


def test_merged_weights_give_the_unmerged_outputs():
    model = _classifier()
    base = model(INPUTS).numpy()
    lora.enable_lora(model, rank=4)
    _train_adapters(model)
    adapted = model(INPUTS).numpy()
    assert np.abs(adapted - base).max() > 1e-3  # the adapters do change the model
    path = "/tmp/keras_llm_lora_test.weights.h5"
    model.save_weights(path)  # Keras writes W + alpha / rank * A B
    plain = _classifier(seed=7)
    plain.load_weights(path)
    np.testing.assert_allclose(plain(INPUTS).numpy(), adapted, atol=1e-5)
    assert lora.merge_lora(model) == 4
    assert not lora.lora_layers(model)
    assert len(model.weights) == len(plain.weights)  # no adapter variables left
    np.testing.assert_allclose(model(INPUTS).numpy(), adapted, atol=1e-5)


def test_adapters_round_trip_on_their_own(tmp_path):
    model = _classifier()
    lora.enable_lora(model, rank=2, targets=("query", "key", "value", "output"))
    _train_adapters(model)
    lora.save_adapters(model, tmp_path / "adapters.npz")
    size = (tmp_path / "adapters.npz").stat().st_size
    assert size < 0.2 * sum(v.numpy().nbytes for v in model.weights)
    other = _classifier()  # the same pretrained (seeded) base
    lora.enable_lora(other, rank=2, targets=("query", "key", "value", "output"))
    lora.load_adapters(other, tmp_path / "adapters.npz")
    np.testing.assert_allclose(other(INPUTS).numpy(), model(INPUTS).numpy(), atol=1e-6)
    wrong = _classifier()
    lora.enable_lora(wrong, rank=3, targets=("query", "key", "value", "output"))
    with pytest.raises(ValueError, match="has shape"):
        lora.load_adapters(wrong, tmp_path / "adapters.npz")


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="rank must be >= 1"):
        lora.enable_lora(_classifier(), rank=0)
    with pytest.raises(ValueError, match="No Dense layer named \\('qkv',\\)"):
        lora.enable_lora(_classifier(), targets=("qkv",))


def test_lora_fine_tuning_run_trains_only_adapters_and_head(tmp_path):
    from keras_llm import finetune
    from keras_llm.finetune import loop
    from tests.finetune.toy_task import ToyConfig, ToyTask
    config = ToyConfig()
    config = dataclasses.replace(config, finetune=dataclasses.replace(
            config.finetune, epochs=1, lora_rank=2, log_every=4))
    task = ToyTask(config)
    tf.keras.utils.set_random_seed(config.finetune.seed)  # as finetune() seeds its model
    reference = task.build_model(tmp_path, for_training=True)
    result = finetune.finetune(task, tmp_path)
    assert result.metrics["trainable_parameters"] < result.metrics["total_parameters"] / 5
    assert (tmp_path / loop.ADAPTERS_FILE).is_file()
    plain = task.build_model(tmp_path, for_training=False)
    plain.load_weights(tmp_path / loop.WEIGHTS_FILE)
    np.testing.assert_allclose(plain(INPUTS).numpy(), result.model(INPUTS).numpy(), atol=1e-5)
    # Frozen backbone weights (e.g. the feed-forward kernels) did not move.
    frozen = [(w, r) for w, r in zip(plain.backbone.weights, reference.backbone.weights)
              if "query" not in w.path and "value" not in w.path]
    assert frozen and all(np.array_equal(w.numpy(), r.numpy()) for w, r in frozen)
