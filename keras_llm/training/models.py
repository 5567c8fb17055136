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


def _seq2seq_bert(cfg: ModelConfig, vocabulary_size: int):
    """BERT2BERT: a post-LN encoder-decoder warm-started from a BERT checkpoint
    (`Seq2SeqBackbone.from_bert`); `num_layers` decoder layers, the checkpoint's shapes."""
    from keras_llm import models  # pylint: disable=import-outside-toplevel
    from keras_llm.utils import paths  # pylint: disable=import-outside-toplevel
    bert = models.BertBackbone.from_preset(cfg.preset or paths.minilm_dir(), dropout=cfg.dropout)
    if bert.vocabulary_size != vocabulary_size:
        raise ValueError(f"model.kind=seq2seq_bert: the checkpoint's vocabulary has "
                         f"{bert.vocabulary_size} tokens but the tokenizer has "
                         f"{vocabulary_size}; use the checkpoint's vocab.txt "
                         "(tokenizer.kind=wordpiece, tokenizer.vocabulary=.../vocab.txt).")
    backbone = models.Seq2SeqBackbone.from_bert(bert, num_decoder_layers=cfg.num_layers,
                                                dropout=cfg.dropout)
    return models.Seq2SeqLM(backbone), backbone


register_model("bert_mlm", _bert_mlm)
register_model("gpt_clm", _gpt_clm)
register_model("seq2seq", _seq2seq)
register_model("seq2seq_bert", _seq2seq_bert)


def build_model(cfg: ModelConfig, vocabulary_size: int):
    if cfg.kind not in MODEL_BUILDERS:
        raise ValueError(f"model.kind={cfg.kind!r} is not one of {sorted(MODEL_BUILDERS)}.")
    return MODEL_BUILDERS[cfg.kind](cfg, vocabulary_size)
