"""Model builders by name: `MODEL_BUILDERS[kind](model_config, vocabulary_size) -> (task, backbone)`.

The task model maps the objective's feature dict to logits (B,P,V) or (B,T,V). Tests and
experiments add builders with `register_model` (e.g. tiny stand-ins) without touching train().
"""
from typing import Callable, Dict, Tuple

import keras

from keras_llm.training.config import ModelConfig

Builder = Callable[[ModelConfig, int], Tuple[keras.Model, keras.Model]]
MODEL_BUILDERS: Dict[str, Builder] = {}


def register_model(kind: str, builder: Builder) -> None:
    MODEL_BUILDERS[kind] = builder


def _backbone_args(cfg: ModelConfig, vocabulary_size: int) -> dict:
    """The constructor arguments every backbone shares, from the model config."""
    return dict(vocabulary_size=vocabulary_size, num_heads=cfg.num_heads,
                hidden_dim=cfg.hidden_dim, intermediate_dim=cfg.intermediate_dim,
                max_sequence_length=cfg.max_sequence_length, dropout=cfg.dropout)


def _bert_mlm(cfg: ModelConfig, vocabulary_size: int):
    from keras_llm import models  # pylint: disable=import-outside-toplevel
    backbone = models.BertBackbone(num_layers=cfg.num_layers,
                                   **_backbone_args(cfg, vocabulary_size))
    return models.BertMaskedLM(backbone), backbone


def _gpt_clm(cfg: ModelConfig, vocabulary_size: int):
    from keras_llm import models  # pylint: disable=import-outside-toplevel
    backbone = models.GptBackbone(num_layers=cfg.num_layers,
                                  **_backbone_args(cfg, vocabulary_size))
    return models.GptCausalLM(backbone), backbone


def _seq2seq(cfg: ModelConfig, vocabulary_size: int):
    from keras_llm import models  # pylint: disable=import-outside-toplevel
    backbone = models.Seq2SeqBackbone(num_encoder_layers=cfg.num_layers,
                                      num_decoder_layers=cfg.num_layers,
                                      **_backbone_args(cfg, vocabulary_size))
    return models.Seq2SeqLM(backbone), backbone


register_model("bert_mlm", _bert_mlm)
register_model("gpt_clm", _gpt_clm)
register_model("seq2seq", _seq2seq)


def build_model(cfg: ModelConfig, vocabulary_size: int):
    if cfg.kind not in MODEL_BUILDERS:
        raise ValueError(f"model.kind={cfg.kind!r} is not one of {sorted(MODEL_BUILDERS)}.")
    return MODEL_BUILDERS[cfg.kind](cfg, vocabulary_size)
