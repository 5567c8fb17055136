"""keras_llm.models."""
