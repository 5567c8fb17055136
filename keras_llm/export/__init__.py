"""keras_llm.export."""
