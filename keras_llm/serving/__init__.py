"""keras_llm.serving."""
