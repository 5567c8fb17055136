"""keras_llm.evaluation: the standard metrics of the task apps (SQuAD v1.1 EM/F1, ...)."""
from keras_llm.evaluation.squad import exact_match, f1_score, normalize_answer, squad_v1_scores

__all__ = ["exact_match", "f1_score", "normalize_answer", "squad_v1_scores"]
