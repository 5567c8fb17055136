"""A toy classifier and a stand-in preprocessor (whitespace words + hash-table lookup)."""
import keras
import numpy as np
import tensorflow as tf

VOCAB = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "good", "bad", "great", "awful", "film", "a"]


class ToyPreprocessor(tf.Module):
    """strings (B,) -> {token_ids, segment_ids, padding_mask} int32 (B, T), T <= length."""

    def __init__(self, sequence_length=8):
        super().__init__()
        self.sequence_length = sequence_length
        self.table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                        tf.constant(VOCAB), tf.range(len(VOCAB), dtype=tf.int64)),
                default_value=VOCAB.index("[UNK]"))

    def __call__(self, text):
        words = tf.strings.split(tf.strings.lower(text))  # ragged (B, None)
        ids = tf.cast(self.table.lookup(words), tf.int32)[:, :self.sequence_length - 2]
        batch = tf.shape(text)[:1]
        cls = tf.fill(tf.concat([batch, [1]], 0), 1)
        sep = tf.fill(tf.concat([batch, [1]], 0), 2)
        ids = tf.concat([cls, ids, sep], axis=1).to_tensor(0)  # (B, T)
        mask = tf.cast(ids != 0, tf.int32)
        return {"token_ids": ids, "segment_ids": tf.zeros_like(ids), "padding_mask": mask}


def toy_classifier(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = {k: keras.Input((None,), dtype="int32", name=k)
              for k in ("token_ids", "segment_ids", "padding_mask")}
    x = keras.layers.Embedding(len(VOCAB), 8)(inputs["token_ids"])  # (B, T, 8)
    mask = keras.ops.cast(inputs["padding_mask"], "float32")[:, :, None]
    pooled = keras.ops.sum(x * mask, axis=1) / keras.ops.sum(mask, axis=1)
    logits = keras.layers.Dense(2)(pooled)
    return keras.Model(inputs, logits)


def reference_probabilities(model, preprocessor, texts):
    logits = model(preprocessor(tf.constant(texts)))
    return tf.nn.softmax(logits).numpy().astype(np.float32)
