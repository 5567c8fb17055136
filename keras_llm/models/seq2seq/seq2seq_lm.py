"""Encoder-decoder LM: Seq2SeqBackbone + output projection tied to the shared embedding.

Shapes: B batch, S source length, T target length, V vocabulary, T_max cache length.
Decoding: `encoder_output = lm.encode(ids, mask)`, `cache = lm.init_cache(encoder_output,
mask, T_max)` (cross-attention keys/values projected once here), then
`lm.call_with_cache(tokens, cache, index)` is a t5x-style `(tokens, cache, index) ->
(logits, cache)`: the source lives in the cache, so samplers drive GPT and Seq2Seq alike.
"""
import keras

from keras_llm.models.seq2seq.backbone import INPUT_KEYS
from keras_llm.models.task_base import Task


@keras.saving.register_keras_serializable(package="keras_llm")
class Seq2SeqLM(Task):
    """Inputs: the Seq2SeqBackbone inputs. Output: decoder logits (B, T, V) float32."""

    def __init__(self, backbone, **kwargs):
        inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key)
                  for key in INPUT_KEYS}
        hidden = backbone(inputs)["decoder_sequence_output"]  # (B, T, D)
        logits = backbone.token_embedding(hidden, reverse=True)  # (B, T, V)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.backbone = backbone

    def encode(self, encoder_token_ids, encoder_padding_mask):
        """(B, S) -> encoder output (B, S, D)."""
        return self.backbone.encode(encoder_token_ids, encoder_padding_mask)

    def init_cache(self, encoder_output, encoder_padding_mask, max_length):
        """Decoding cache for these sources (see `Seq2SeqBackbone.init_cache`)."""
        return self.backbone.init_cache(encoder_output, encoder_padding_mask, max_length)

    def call_with_cache(self, decoder_token_ids, cache, cache_index, padding_mask=None):
        """(B, t) decoder tokens at cache slots cache_index.. -> (logits (B, t, V), cache)."""
        hidden, cache = self.backbone.call_with_cache(decoder_token_ids, cache, cache_index,
                                                      padding_mask)
        return self.backbone.token_embedding(hidden, reverse=True), cache
