"""Drive a sampler with a decoder-only LM (`GptCausalLM`): left-pad, prefill, sample.

Shapes: B batch, P padded prompt length, T_max = P + new tokens (buffer and cache length).

Prompts of different lengths are left-padded, so every row's last prompt token sits at
slot P - 1 and all rows continue at the same slot; the cache's per-row padding mask and
position ids make each row decode exactly as it would alone.
"""
import tensorflow as tf


def left_pad(ragged_ids, pad_token_id=0):
    """tf.RaggedTensor (B, None) of token ids -> (ids (B, P), padding_mask (B, P)) int32,
    each row right-aligned. Core TF ops only (works inside an exported graph)."""
    ragged_ids = tf.cast(ragged_ids, tf.int32)
    reversed_ids = tf.reverse(ragged_ids, axis=[1])
    ids = tf.reverse(reversed_ids.to_tensor(default_value=pad_token_id), axis=[1])
    mask = tf.reverse(tf.ones_like(reversed_ids).to_tensor(), axis=[1])
    return ids, mask


def prefill(lm, prompt_ids, padding_mask, max_length):
    """Writes the left-padded prompts into a fresh cache.

    Returns (tokens (B, max_length) buffer holding the prompts, cache, index = P - 1), the
    arguments a sampler continues from.
    """
    prompt_ids = tf.convert_to_tensor(prompt_ids, tf.int32)
    batch_size, length = tf.shape(prompt_ids)[0], tf.shape(prompt_ids)[1]
    cache = lm.init_cache(batch_size, max_length)
    _, cache = lm.call_with_cache(prompt_ids, cache, 0, padding_mask)
    tokens = tf.pad(prompt_ids, [[0, 0], [0, max_length - length]])
    return tokens, cache, length - 1


def generate(lm, sampler, prompt_ids, padding_mask, max_length, **sampler_kwargs):
    """Prefill + sampler. prompt_ids/padding_mask (B, P) left-padded, every row with at
    least one real token (e.g. a start token). `sampler_kwargs` go to the sampler
    (max_new_tokens, end_token_id, seed...).

    Returns the sampler's outputs, with "tokens" cut to the new slots (B, max_length - P).
    """
    tokens, cache, index = prefill(lm, prompt_ids, padding_mask, max_length)
    outputs = sampler(lm.call_with_cache, tokens, cache, index, **sampler_kwargs)
    outputs = dict(outputs)
    outputs["tokens"] = outputs["tokens"][:, index + 1:]
    if "beams" in outputs:
        outputs["beams"] = outputs["beams"][:, :, index + 1:]
    return outputs
