"""GPT: decoder-only backbone and causal LM with a KV cache."""
from keras_llm.models.gpt.backbone import GptBackbone
from keras_llm.models.gpt.causal_lm import GptCausalLM

__all__ = ["GptBackbone", "GptCausalLM"]
