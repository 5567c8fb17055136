"""keras_llm.tokenizers."""
