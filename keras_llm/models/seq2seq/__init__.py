"""Encoder-decoder Transformer: backbone and LM with a cached decoder."""
from keras_llm.models.seq2seq.backbone import Seq2SeqBackbone
from keras_llm.models.seq2seq.seq2seq_lm import Seq2SeqLM

__all__ = ["Seq2SeqBackbone", "Seq2SeqLM"]
