"""keras_llm.layers."""
