"""keras_llm.training."""
