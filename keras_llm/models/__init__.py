"""keras_llm.models: backbones and task models (see CONTRACTS.md)."""
from keras_llm.models.bert import (BertBackbone, BertClassifier, BertMaskedLM,
                                   BertQuestionAnswerer, BertTokenClassifier)
from keras_llm.models.gpt import GptBackbone, GptCausalLM
from keras_llm.models.seq2seq import Seq2SeqBackbone, Seq2SeqLM

__all__ = ["BertBackbone", "BertClassifier", "BertMaskedLM", "BertQuestionAnswerer",
           "BertTokenClassifier",
           "GptBackbone", "GptCausalLM", "Seq2SeqBackbone", "Seq2SeqLM"]
