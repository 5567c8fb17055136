"""BERT: encoder backbone, masked-LM, classifier and question-answering (span) tasks."""
from keras_llm.models.bert.backbone import BertBackbone
from keras_llm.models.bert.classifier import BertClassifier
from keras_llm.models.bert.masked_lm import BertMaskedLM
from keras_llm.models.bert.question_answering import BertQuestionAnswerer

__all__ = ["BertBackbone", "BertClassifier", "BertMaskedLM", "BertQuestionAnswerer"]
