"""BertBackbone / BertMaskedLM / BertClassifier: harness, masks, input errors, learning."""
import keras
import numpy as np
import pytest

from keras_llm import models
from tests import harness

V, B, T = 100, 2, 8


def _backbone(**kwargs):
    config = dict(vocabulary_size=V, num_layers=2, num_heads=4, hidden_dim=64,
                  intermediate_dim=128, max_sequence_length=16)
    config.update(kwargs)
    return models.BertBackbone(**config)


def _inputs(seed=0, batch=B):
    rng = np.random.default_rng(seed)
    padding = np.ones((batch, T), "int32")
    padding[1, 5:] = 0
    return {"token_ids": rng.integers(1, V, (batch, T)).astype("int32") * padding,
            "segment_ids": np.concatenate([np.zeros((batch, 4)), np.ones((batch, 4))],
                                          1).astype("int32"),
            "padding_mask": padding}


def _sparse_ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def test_backbone_harness():
    shapes = {"sequence_output": (B, T, 64), "pooled_output": (B, 64)}
    harness.run_model_test(_backbone, _inputs(), expected_output_shapes=shapes)


@pytest.mark.slow
def test_backbone_harness_full():
    shapes = {"sequence_output": (B, T, 64), "pooled_output": (B, 64)}
    harness.run_model_test(_backbone, _inputs(), expected_output_shapes=shapes,
                           xla_mixed_training=True)


def _masked_lm_harness(num_layers=2, **kwargs):
    inputs = dict(_inputs(), mask_positions=np.array([[1, 3], [0, 4]], "int32"))
    harness.run_model_test(lambda: models.BertMaskedLM(_backbone(num_layers=num_layers)), inputs,
                           targets=np.array([[5, 6], [7, 8]], "int32"), loss=_sparse_ce(),
                           expected_output_shapes=(B, 2, V), **kwargs)


def _classifier_harness(num_layers=2, **kwargs):
    harness.run_model_test(lambda: models.BertClassifier(_backbone(num_layers=num_layers), 3),
                           _inputs(), targets=np.array([0, 2], "int32"), loss=_sparse_ce(),
                           expected_output_shapes=(B, 3), **kwargs)


def test_masked_lm_harness():
    # The backbone test covers XLA training of the same blocks.
    # 1 layer keeps the fast tier fast; the slow tier runs 2 layers and every check.
    _masked_lm_harness(num_layers=1, run_saved_model=False, xla_training=False)


def test_classifier_harness():
    _classifier_harness(num_layers=1, xla_training=False)


@pytest.mark.slow
def test_task_harness_full():
    _masked_lm_harness(xla_mixed_training=True)
    _classifier_harness(xla_mixed_training=True)


def test_masked_lm_decoder_is_tied_to_token_embedding():
    backbone = _backbone()
    mlm = models.BertMaskedLM(backbone)
    embedding_vars = [w for w in mlm.weights if w.path == "token_embedding/embeddings"]
    assert len(embedding_vars) == 1  # one (V, D) matrix used for input and output
    assert backbone.token_embedding.embeddings.shape == (V, 64)


def test_padding_is_ignored():
    backbone = _backbone(dropout=0.0)
    inputs = _inputs()
    changed = {k: v.copy() for k, v in inputs.items()}
    changed["token_ids"][1, 5:] = 42  # different ids in the padded slots
    a = backbone(inputs)["sequence_output"].numpy()
    b = backbone(changed)["sequence_output"].numpy()
    np.testing.assert_allclose(a[1, :5], b[1, :5], atol=1e-5)
    np.testing.assert_allclose(a[0], b[0], atol=1e-6)


def test_bert_layout_matches_huggingface_naming():
    backbone = _backbone()
    paths = {w.path for w in backbone.weights}
    for expected in ["token_embedding/embeddings", "segment_embedding/embeddings",
                     "position_embedding/embeddings", "embeddings_layer_norm/gamma",
                     "transformer_layer_1/self_attention/query/kernel",
                     "transformer_layer_1/self_attention/output/bias",
                     "transformer_layer_1/self_attention_layer_norm/beta",
                     "transformer_layer_1/feedforward_intermediate_dense/kernel",
                     "transformer_layer_1/feedforward_output_dense/kernel",
                     "transformer_layer_1/feedforward_layer_norm/gamma",
                     "pooler_dense/kernel"]:
        assert expected in paths, (expected, sorted(paths))
    block = backbone.transformer_layers[0]
    assert block.self_attention.query_dense.kernel.shape == (64, 64)
    assert block.feedforward_intermediate_dense.kernel.shape == (64, 128)
    assert not block.normalize_first and block.activation == "gelu"


@pytest.mark.parametrize("bad,message", [
    (lambda x: {k: v for k, v in x.items() if k != "segment_ids"}, "segment_ids"),
    (lambda x: dict(x, token_ids=x["token_ids"][0]), "token_ids"),
    (lambda x: dict(x, padding_mask=x["padding_mask"][..., None]), "padding_mask"),
    (lambda x: x["token_ids"], "dict"),
])
def test_bad_inputs_raise_clear_errors(bad, message):
    backbone = _backbone()
    with pytest.raises(ValueError, match=message):
        backbone(bad(_inputs()))
    classifier = models.BertClassifier(backbone, 2)
    with pytest.raises(ValueError, match=message):
        classifier(bad(_inputs()))


def test_masked_lm_requires_mask_positions():
    with pytest.raises(ValueError, match="mask_positions"):
        models.BertMaskedLM(_backbone())(_inputs())


def test_classifier_fit_learns_marker_token():
    """Label = does token 5 occur? Seeded; the loss must fall well below chance (ln 2)."""
    rng = np.random.default_rng(0)
    n = 256
    ids = rng.integers(6, V, (n, T)).astype("int32")
    labels = rng.integers(0, 2, n).astype("int32")
    ids[labels == 1, rng.integers(1, T, n)[labels == 1]] = 5
    ids[:, 0] = 1  # [CLS]
    inputs = {"token_ids": ids, "segment_ids": np.zeros_like(ids),
              "padding_mask": np.ones_like(ids)}
    model = models.BertClassifier(_backbone(dropout=0.0), 2, dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=_sparse_ce(), jit_compile=False)
    history = model.fit(inputs, labels, batch_size=32, epochs=8, verbose=0).history["loss"]
    assert history[-1] < 0.25, history
    assert history[-1] < 0.5 * history[0], history
