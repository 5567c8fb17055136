"""BERT: encoder backbone; masked-LM, classifier, question-answering (span) and token tasks."""
from keras_llm.models.bert.backbone import BertBackbone
from keras_llm.models.bert.classifier import BertClassifier
from keras_llm.models.bert.masked_lm import BertMaskedLM
from keras_llm.models.bert.question_answering import BertQuestionAnswerer
from keras_llm.models.bert.token_classification import BertTokenClassifier

__all__ = ["BertBackbone", "BertClassifier", "BertMaskedLM", "BertQuestionAnswerer",
           "BertTokenClassifier"]
