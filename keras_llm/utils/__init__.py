"""keras_llm.utils."""
