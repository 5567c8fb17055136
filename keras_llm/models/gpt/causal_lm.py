"""GPT causal language model: backbone + tied output projection.

Shapes: B batch, T length, V vocabulary, T_max cache length.
`call_with_cache` is the t5x-style `next_fn(tokens, cache, index) -> (logits, cache)`
used by samplers; prefill with the prompt, then feed one token at a time.

Batched prompts of unequal length: right-pad them, prefill only the shortest prompt
length, then step through the remaining positions feeding the prompt token where the
padding mask is 1 and the sampled token elsewhere; feeding position i rewrites cache
slot i, so padding never enters the cache. The cache index is shared by the batch.
"""
import keras

from keras_llm.models.gpt.backbone import INPUT_KEYS
from keras_llm.models.task_base import Task


@keras.saving.register_keras_serializable(package="keras_llm")
class GptCausalLM(Task):
    """Inputs {"token_ids", "padding_mask"} (B, T). Output: logits (B, T, V) float32."""

    def __init__(self, backbone, **kwargs):
        inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key)
                  for key in INPUT_KEYS}
        hidden = backbone(inputs)  # (B, T, D)
        logits = backbone.token_embedding(hidden, reverse=True)  # (B, T, V)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.backbone = backbone

    def init_cache(self, batch_size, max_length):
        """Zero KV cache (B, L, 2, T_max, H, K) for `call_with_cache`."""
        return self.backbone.init_cache(batch_size, max_length)

    def call_with_cache(self, token_ids, cache, cache_index):
        """token_ids (B, t) at positions cache_index.. -> (logits (B, t, V), new cache)."""
        hidden, cache = self.backbone.call_with_cache(token_ids, cache, cache_index)
        return self.backbone.token_embedding(hidden, reverse=True), cache
