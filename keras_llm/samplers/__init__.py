"""Decoding library: samplers behind one `next_fn(tokens, cache, index) -> (logits, cache)`."""
from keras_llm.samplers.base import Sampler
from keras_llm.samplers.beam import BeamSampler
from keras_llm.samplers.causal_lm import generate, left_pad, prefill
from keras_llm.samplers.greedy import GreedySampler
from keras_llm.samplers.stochastic import (TemperatureSampler, TopKSampler, TopPSampler,
                                           top_k_logits, top_p_logits)

__all__ = [
    "BeamSampler", "GreedySampler", "Sampler", "TemperatureSampler", "TopKSampler",
    "TopPSampler", "generate", "left_pad", "prefill", "top_k_logits", "top_p_logits",
]
