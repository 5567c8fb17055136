"""BERT: encoder backbone, masked-LM and classifier tasks."""
from keras_llm.models.bert.backbone import BertBackbone
from keras_llm.models.bert.classifier import BertClassifier
from keras_llm.models.bert.masked_lm import BertMaskedLM

__all__ = ["BertBackbone", "BertClassifier", "BertMaskedLM"]
