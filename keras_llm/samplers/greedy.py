"""Greedy decoding: the most likely token at every step."""
import tensorflow as tf

from keras_llm.samplers.base import Sampler


class GreedySampler(Sampler):
    """argmax of the logits; deterministic, ignores the seed."""

    def next_token(self, logits, seeds):
        return tf.argmax(logits, axis=-1, output_type=tf.int32)
