"""keras_llm.evaluation: the standard metrics of the task apps (SQuAD v1.1 EM/F1, CoNLL NER F1)."""
from keras_llm.evaluation.entity_f1 import entity_scores, iob2_entities
from keras_llm.evaluation.squad import exact_match, f1_score, normalize_answer, squad_v1_scores

__all__ = ["entity_scores", "exact_match", "f1_score", "iob2_entities", "normalize_answer",
           "squad_v1_scores"]
