"""The decoding loop shared by every token-by-token sampler.

Shapes: B batch, T_max buffer (= cache) length, V vocabulary.

A sampler talks to the model only through `next_fn(tokens, cache, index) -> (logits,
cache)` (as t5x and KerasHub do): tokens (B, 1) int32 is the token at slot `index`
(a scalar int32 shared by the batch), logits (B, V) or (B, 1, V) float score the token of
slot index + 1, and cache is any nest of fixed-shape tensors with the batch first.
`GptCausalLM.call_with_cache` and `Seq2SeqLM.call_with_cache` are such functions, and so
is a lookup table in the tests.

The loop is a `tf.while_loop` with fixed shapes, so it runs inside `tf.function`, under
XLA (`jit_compile=True`) and in an exported SavedModel. It stops when every row is done.
"""
import tensorflow as tf


def last_logits(logits):
    """(B, V) or (B, t, V) logits -> (B, V) float32 of the last position."""
    if logits.shape.rank == 3:
        logits = logits[:, -1]
    return tf.cast(logits, tf.float32)


def per_row(value, batch_size, dtype):
    """A Python number, a scalar tensor or a (B,) tensor -> (B,) tensor of `dtype`."""
    return tf.broadcast_to(tf.cast(value, dtype), [batch_size])


def write_column(tokens, column, values):
    """tokens (B, T_max) with `values` (B,) written at `column` (a scalar tensor)."""
    hit = tf.range(tf.shape(tokens)[1])[None, :] == column
    return tf.where(hit, values[:, None], tokens)


class Sampler:
    """Base class: the loop; subclasses choose a token with `next_token`.

    Call: `sampler(next_fn, tokens, cache, index, max_new_tokens=None, end_token_id=None,
    seed=None)`.
      tokens: (B, T_max) int32 buffer. Slots 0..index hold the prompts, left-padded so
        that every row's last prompt token sits at `index`.
      cache: the model cache with slots 0..index - 1 (or 0..index) already written (a
        prefill); the first step writes slot `index` (again), which is harmless.
      max_new_tokens: None (fill the buffer), a scalar or (B,) int32, per row; capped
        by the buffer length.
      end_token_id: a row stops after generating it (None: never stops early).
      seed: scalar or (B,) int32, per row. A row's tokens depend only on its own
        prompt, parameters and seed, never on the other rows of the batch.
    Returns {"tokens": (B, T_max) with new tokens after `index` (the end token included
    when a row stops on it, `pad_token_id` after it), "num_tokens": (B,) int32 new tokens
    per row, not counting the end token}.
    """

    def __init__(self, pad_token_id=0):
        self.pad_token_id = pad_token_id

    def next_token(self, logits, seeds):
        """logits (B, V) float32, seeds (B, 2) int32 -> next tokens (B,) int32."""
        raise NotImplementedError

    def __call__(self, next_fn, tokens, cache, index, max_new_tokens=None,
                 end_token_id=None, seed=None):
        tokens = tf.convert_to_tensor(tokens, tf.int32)
        batch_size, max_length = tf.shape(tokens)[0], tf.shape(tokens)[1]
        index = tf.convert_to_tensor(index, tf.int32)
        limit = max_length - 1 - index
        max_new = limit if max_new_tokens is None else tf.minimum(
            tf.cast(max_new_tokens, tf.int32), limit)
        max_new = per_row(max_new, batch_size, tf.int32)
        seeds = per_row(0 if seed is None else seed, batch_size, tf.int32)

        def body(i, tokens, cache, alive, num_tokens, stopped):
            logits, cache = next_fn(tf.gather(tokens, [i], axis=1), cache, i)
            # (row seed, new-token number): not the slot, which depends on the batch's
            # longest prompt, so a row samples the same tokens alone or in any batch.
            step_seeds = tf.stack([seeds, tf.fill([batch_size], i - index)], axis=1)  # (B, 2)
            new = self.next_token(last_logits(logits), step_seeds)
            ended = tf.zeros_like(alive) if end_token_id is None else tf.equal(
                new, end_token_id)
            tokens = write_column(tokens, i + 1, tf.where(alive, new, self.pad_token_id))
            num_tokens += tf.cast(alive & ~ended, tf.int32)
            stopped |= alive & ended
            alive = alive & ~ended & (i + 1 - index < max_new)
            return i + 1, tokens, cache, alive, num_tokens, stopped

        def cond(i, tokens, cache, alive, num_tokens, stopped):
            return (i < max_length - 1) & tf.reduce_any(alive)

        no_rows = tf.zeros([batch_size], tf.int32)
        state = (index, tokens, cache, max_new > 0, no_rows, tf.cast(no_rows, tf.bool))
        _, tokens, _, _, num_tokens, stopped = tf.while_loop(cond, body, state)
        # Slots after each row's last new token (or its end token) hold padding.
        last = index + num_tokens + tf.cast(stopped, tf.int32)  # (B,)
        tokens = tf.where(tf.range(max_length)[None, :] <= last[:, None], tokens,
                          self.pad_token_id)
        return {"tokens": tokens, "num_tokens": num_tokens}
