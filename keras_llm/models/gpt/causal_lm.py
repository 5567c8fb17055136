"""GPT causal language model: backbone + tied output projection.

Shapes: B batch, T length, V vocabulary, T_max cache length.
`call_with_cache` is the t5x-style `next_fn(tokens, cache, index) -> (logits, cache)`
used by samplers; prefill with the prompt, then feed one token at a time.

Batched prompts of unequal length: pad them (left or right) to one length, prefill with
their padding mask, then feed new tokens at the next slots. The cache keeps a per-row mask
of real slots: padding is never attended to and each row's positions count its own real
tokens, so every row gets the logits it would get alone. The slot index is shared by the
batch; `keras_llm.samplers` left-pads so that all rows continue at the same slot.
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
        """Empty cache for `call_with_cache` (see `GptBackbone.init_cache`)."""
        return self.backbone.init_cache(batch_size, max_length)

    def call_with_cache(self, token_ids, cache, cache_index, padding_mask=None):
        """token_ids (B, t) at cache slots cache_index.., padding_mask (B, t) or None
        -> (logits (B, t, V), new cache)."""
        hidden, cache = self.backbone.call_with_cache(token_ids, cache, cache_index,
                                                      padding_mask)
        return self.backbone.token_embedding(hidden, reverse=True), cache
