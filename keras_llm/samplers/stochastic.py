"""Random samplers: temperature, top-k and top-p (nucleus), with stateless seeds.

Shapes: B batch, V vocabulary. Every parameter is a Python number, a scalar tensor or a
(B,) tensor (one value per row, as the exported `generate` signature takes them).
Temperature 0 means greedy for that row; top_k <= 0 and top_p = 1 keep every token.

Sampling is `tf.random.stateless_categorical` row by row with the seed pair
(row seed, number of the new token): the same seeds give the same tokens on every call, in eager
mode, in a `tf.function` and in an exported SavedModel, whatever else is in the batch.
"""
import numbers

import tensorflow as tf

from keras_llm.samplers.base import Sampler, per_row

_HIDDEN = float("-inf")
# Temperatures below this divide the logits by it instead: the softmax is then one-hot.
_MIN_TEMPERATURE = 1e-6


def _check_number(name, value, low, high=None, low_open=False):
    """Raises ValueError for a Python number outside [low, high] (or (low, high])."""
    if not isinstance(value, numbers.Number):
        return  # tensors are checked by the caller that owns them (e.g. the export)
    too_low = value <= low if low_open else value < low
    if too_low or (high is not None and value > high):
        interval = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'}]"
        raise ValueError(f"{name} must be in {interval}, got {value}.")


def top_k_logits(logits, k):
    """Keeps each row's k largest logits (k (B,) or scalar; k <= 0 keeps all), -inf elsewhere.

    Ties with the k-th largest logit are kept too.
    """
    vocab = tf.shape(logits)[-1]
    k = per_row(k, tf.shape(logits)[0], tf.int32)
    k = tf.where(k > 0, tf.minimum(k, vocab), vocab)
    ordered = tf.sort(logits, axis=-1, direction="DESCENDING")
    kth = tf.gather(ordered, k - 1, batch_dims=1)  # (B,)
    return tf.where(logits >= kth[:, None], logits, _HIDDEN)


def top_p_logits(logits, p):
    """Keeps the nucleus: the fewest most likely tokens whose probability reaches p.

    p (B,) or scalar in (0, 1]. A token is kept when the mass of the tokens before it
    (in descending order) is below p, so the most likely token always stays.
    """
    ordered = tf.sort(logits, axis=-1, direction="DESCENDING")
    mass_before = tf.cumsum(tf.nn.softmax(ordered), axis=-1, exclusive=True)
    p = per_row(p, tf.shape(logits)[0], tf.float32)
    count = tf.reduce_sum(tf.cast(mass_before < p[:, None], tf.int32), axis=-1)  # (B,)
    smallest = tf.gather(ordered, tf.maximum(count, 1) - 1, batch_dims=1)
    return tf.where(logits >= smallest[:, None], logits, _HIDDEN)


def stateless_categorical(logits, seeds):
    """One token per row: logits (B, V), seeds (B, 2) int32 -> (B,) int32."""
    def sample_row(args):
        row, seed = args
        return tf.random.stateless_categorical(row[None], 1, seed, dtype=tf.int32)[0, 0]
    return tf.map_fn(sample_row, (logits, seeds), fn_output_signature=tf.int32)


class TemperatureSampler(Sampler):
    """Samples from softmax(logits / temperature); temperature 0 is greedy."""

    def __init__(self, temperature=1.0, **kwargs):
        super().__init__(**kwargs)
        _check_number("temperature", temperature, 0.0)
        self.temperature = temperature

    def filter_logits(self, logits):
        """Hook for subclasses: logits (B, V) -> logits with excluded tokens at -inf."""
        return logits

    def next_token(self, logits, seeds):
        temperature = per_row(self.temperature, tf.shape(logits)[0], tf.float32)
        greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)

        def sample():
            scaled = logits / tf.maximum(temperature, _MIN_TEMPERATURE)[:, None]
            sampled = stateless_categorical(self.filter_logits(scaled), seeds)
            return tf.where(temperature > 0.0, sampled, greedy)

        # A batch of greedy rows skips the filters and the sampling (as fast as greedy).
        return tf.cond(tf.reduce_any(temperature > 0.0), sample, lambda: greedy)


class TopKSampler(TemperatureSampler):
    """Samples among the k most likely tokens of each row (after the temperature)."""

    def __init__(self, k, temperature=1.0, **kwargs):
        super().__init__(temperature, **kwargs)
        self.k = k

    def filter_logits(self, logits):
        return top_k_logits(logits, self.k)


class TopPSampler(TemperatureSampler):
    """Nucleus sampling: among the most likely tokens holding probability p (after the
    temperature, and after top-k when `k` is given, as the `generate` signature needs)."""

    def __init__(self, p, k=None, temperature=1.0, **kwargs):
        super().__init__(temperature, **kwargs)
        _check_number("p", p, 0.0, 1.0, low_open=True)
        self.p = p
        self.k = k

    def filter_logits(self, logits):
        if self.k is not None:
            logits = top_k_logits(logits, self.k)
        return top_p_logits(logits, self.p)
