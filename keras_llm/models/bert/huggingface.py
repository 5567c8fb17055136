"""Imports Hugging Face BERT checkpoints (`config.json` + `model.safetensors`) into BertBackbone.

A checkpoint directory is what `transformers` writes with `save_pretrained`: `config.json` and
`model.safetensors` (or shards listed by `model.safetensors.index.json`). Nothing is downloaded.
Tensors are read with the `safetensors` package as numpy arrays; names may carry the `bert.`
prefix of task models (`BertForMaskedLM`, ...) or not (`BertModel`).

Shapes (Hugging Face layout): V vocabulary, P positions, G segments, D hidden, F intermediate.
`torch.nn.Linear` stores weights as (out, in); Keras Dense kernels are (in, out), so every
Linear weight is transposed. The variable map is documented in `backbone.py`.
"""
import json
import pathlib

import keras
import numpy as np
from absl import logging
from safetensors.numpy import load_file

from keras_llm.models.bert.backbone import BertBackbone

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
SUPPORTED_MODEL_TYPES = ("bert",)
# Task heads and buffers that a backbone does not use: dropped without a warning (the span
# head `qa_outputs.` is kept by `load_bert_question_answerer`).
IGNORED_PREFIXES = ("cls.", "classifier.", "qa_outputs.")
QA_WEIGHT, QA_BIAS = "qa_outputs.weight", "qa_outputs.bias"
IGNORED_NAMES = ("embeddings.position_ids",)
# BertBackbone argument -> (config.json key, transformers' BertConfig default; None = required).
_CONFIG_KEYS = {
    "vocabulary_size": ("vocab_size", None),
    "num_layers": ("num_hidden_layers", None),
    "num_heads": ("num_attention_heads", None),
    "hidden_dim": ("hidden_size", None),
    "intermediate_dim": ("intermediate_size", None),
    "max_sequence_length": ("max_position_embeddings", 512),
    "num_segments": ("type_vocab_size", 2),
    "layer_norm_epsilon": ("layer_norm_eps", 1e-12),
}
# config.json settings the backbone implements only with these values.
_REQUIRED_VALUES = {
    "hidden_act": ("gelu", "the exact (erf) GELU"),
    "position_embedding_type": ("absolute", "learned absolute position embeddings"),
    "is_decoder": (False, "a bidirectional encoder"),
    "add_cross_attention": (False, "no cross-attention"),
}


def load_bert_from_huggingface(path, **kwargs):
    """Builds a BertBackbone from a Hugging Face BERT checkpoint directory.

    Args:
        path: directory holding `config.json` and `model.safetensors`.
        **kwargs: other BertBackbone arguments (`dropout`, `name`, `dtype`, ...). Architecture
            arguments are read from `config.json` and may only be repeated with equal values.

    Raises:
        ValueError: missing files, unsupported `model_type` or setting, missing tensors or
            tensors of the wrong shape (the message names each one).
    """
    return _load_backbone(pathlib.Path(path), kwargs)[0]


def load_bert_question_answerer(path, dropout=0.1, **kwargs):
    """A `BertQuestionAnswerer` from a Hugging Face checkpoint directory.

    The backbone loads as in `load_bert_from_huggingface` (`**kwargs` are BertBackbone
    arguments); the span head takes the checkpoint's `qa_outputs.{weight,bias}` (a
    `BertForQuestionAnswering`) when present, else keeps its random initialization.
    """
    # pylint: disable-next=import-outside-toplevel
    from keras_llm.models.bert.question_answering import BertQuestionAnswerer
    path = pathlib.Path(path)
    backbone, weights = _load_backbone(path, kwargs)
    model = BertQuestionAnswerer(backbone, dropout=dropout)
    if QA_WEIGHT in weights or QA_BIAS in weights:
        _assign_checked([(QA_WEIGHT, model.qa_outputs.kernel, True),
                         (QA_BIAS, model.qa_outputs.bias, False)], weights, str(path),
                        "the span head qa_outputs (D, 2)")
        logging.info("%s: kept the checkpoint's qa_outputs span head.", path)
    else:
        logging.info("%s has no qa_outputs tensors: the span head starts at random.", path)
    return model


def _load_backbone(path, kwargs):
    """(BertBackbone with the checkpoint's weights, every tensor of the checkpoint)."""
    arguments = read_config(path)
    for key, value in kwargs.items():
        if key in _CONFIG_KEYS and arguments[key] != value:
            raise ValueError(f"{key}={value!r} conflicts with {path / CONFIG_FILE}, which "
                             f"gives {key}={arguments[key]!r}.")
    arguments.update(kwargs)  # e.g. dropout=0.0 replaces the checkpoint's hidden_dropout_prob
    weights = read_weights(path)
    backbone = BertBackbone(**arguments)
    assign_weights(backbone, weights, source=str(path))
    logging.info("Loaded BERT checkpoint %s: %d layers, hidden %d, vocabulary %d.", path,
                 backbone.num_layers, backbone.hidden_dim, backbone.vocabulary_size)
    return backbone, weights


def read_config(path):
    """Validated `config.json` of checkpoint directory `path` -> BertBackbone kwargs."""
    path = pathlib.Path(path)
    if not path.is_dir():
        raise ValueError(f"Hugging Face checkpoint directory {path} does not exist.")
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise ValueError(f"{config_path} is missing: a Hugging Face checkpoint directory "
                         f"needs {CONFIG_FILE} and {WEIGHTS_FILE}.")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{config_path} is not valid JSON: {e}") from e
    if not isinstance(config, dict):
        raise ValueError(f"{config_path} must hold a JSON object, got {type(config).__name__}.")
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(f"Unsupported model_type {model_type!r} in {config_path}; "
                         f"supported: {list(SUPPORTED_MODEL_TYPES)}.")
    for key, (value, meaning) in _REQUIRED_VALUES.items():
        if config.get(key, value) != value:
            raise ValueError(f"Unsupported {key}={config[key]!r} in {config_path}: BertBackbone "
                             f"implements {key}={value!r} ({meaning}) only.")
    missing = [hf_key for hf_key, default in _CONFIG_KEYS.values()
               if default is None and hf_key not in config]
    if missing:
        raise ValueError(f"{config_path} lacks required key(s) {missing}.")
    arguments = {name: config.get(hf_key, default)
                 for name, (hf_key, default) in _CONFIG_KEYS.items()}
    arguments["dropout"] = config.get("hidden_dropout_prob", 0.1)
    return arguments


def read_weights(path):
    """Tensors of checkpoint directory `path` as {name: np.ndarray}, `bert.` prefix removed."""
    path = pathlib.Path(path)
    files = _weight_files(path)
    weights = {}
    for file in files:
        try:
            tensors = load_file(str(file))
        except Exception as e:  # safetensors raises several types for corrupt/unsupported files
            raise ValueError(f"Cannot read {file} with safetensors (numpy): {e}") from e
        for name, value in tensors.items():
            weights[name[len("bert."):] if name.startswith("bert.") else name] = value
    return weights


def _weight_files(path):
    """`model.safetensors`, or the shards named by `model.safetensors.index.json`."""
    single = path / WEIGHTS_FILE
    if single.is_file():
        return [single]
    index = path / WEIGHTS_INDEX_FILE
    if index.is_file():
        try:
            index_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            shards = sorted(set(index_map.values()))
        except (json.JSONDecodeError, KeyError, AttributeError, TypeError) as e:
            raise ValueError(f"{index} is not a valid safetensors index: {e!r}") from e
        missing = [s for s in shards if not (path / s).is_file()]
        if missing:
            raise ValueError(f"Shard(s) {missing} listed in {index} are missing.")
        return [path / s for s in shards]
    others = sorted(p.name for p in path.glob("*.bin")) + sorted(p.name for p in path.glob("*.h5"))
    hint = f" (found {others}: only safetensors files are read)" if others else ""
    raise ValueError(f"{single} is missing{hint}.")


def weight_map(backbone):
    """[(Hugging Face tensor name, Keras variable, transpose?)] for every backbone variable."""
    entries = [
        ("embeddings.word_embeddings.weight", backbone.token_embedding.embeddings, False),
        ("embeddings.position_embeddings.weight",
         backbone.position_embedding.position_embeddings, False),
        ("embeddings.token_type_embeddings.weight", backbone.segment_embedding.embeddings, False),
    ]
    entries += _layer_norm("embeddings.LayerNorm", backbone.embeddings_layer_norm)
    for i, block in enumerate(backbone.transformer_layers):
        prefix = f"encoder.layer.{i}."
        attention = block.self_attention
        entries += _dense(prefix + "attention.self.query", attention.query_dense)
        entries += _dense(prefix + "attention.self.key", attention.key_dense)
        entries += _dense(prefix + "attention.self.value", attention.value_dense)
        entries += _dense(prefix + "attention.output.dense", attention.output_dense)
        entries += _layer_norm(prefix + "attention.output.LayerNorm",
                               block.self_attention_layer_norm)
        entries += _dense(prefix + "intermediate.dense", block.feedforward_intermediate_dense)
        entries += _dense(prefix + "output.dense", block.feedforward_output_dense)
        entries += _layer_norm(prefix + "output.LayerNorm", block.feedforward_layer_norm)
    entries += _dense("pooler.dense", backbone.pooler_dense)
    return entries


def _dense(name, layer):
    return [(name + ".weight", layer.kernel, True), (name + ".bias", layer.bias, False)]


def _layer_norm(name, layer):
    return [(name + ".weight", layer.gamma, False), (name + ".bias", layer.beta, False)]


def assign_weights(backbone, weights, source="checkpoint"):
    """Copies `weights` (HF names, no `bert.` prefix) into `backbone`; checks names and shapes.

    All problems are collected first so that one error lists every missing or misshapen tensor.
    """
    entries = weight_map(backbone)
    _assign_checked(entries, weights, source,
                    f"BertBackbone(num_layers={backbone.num_layers}, "
                    f"hidden_dim={backbone.hidden_dim})")
    used = {name for name, _, _ in entries}
    unused = sorted(name for name in weights if name not in used and name not in IGNORED_NAMES
                    and not name.startswith(IGNORED_PREFIXES))
    if unused:
        logging.warning("%s: %d tensor(s) not used by BertBackbone: %s", source, len(unused),
                        ", ".join(unused))


def _assign_checked(entries, weights, source, target):
    """Copies [(name, variable, transpose?)] from `weights` after checking every name/shape."""
    problems = []
    for name, variable, transpose in entries:
        if name not in weights:
            problems.append(f"missing tensor {name!r}")
            continue
        value = weights[name]
        expected = tuple(variable.shape)[::-1] if transpose else tuple(variable.shape)
        if tuple(value.shape) != expected:
            problems.append(f"tensor {name!r} has shape {tuple(value.shape)}, expected {expected}")
        elif not np.issubdtype(value.dtype, np.floating):
            problems.append(f"tensor {name!r} has dtype {value.dtype}, expected floating point")
    if problems:
        raise ValueError(f"{source} does not fit {target}: " + "; ".join(problems) + ".")
    for name, variable, transpose in entries:
        value = weights[name].T if transpose else weights[name]
        variable.assign(keras.ops.cast(value, variable.dtype))
