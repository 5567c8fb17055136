"""In-graph sentiment preprocessing: raw text -> BERT inputs, core TensorFlow ops only.

strings (B,) -> WordPieceTokenizer -> ragged ids -> SegmentPacker `[CLS] text [SEP]` ->
{"token_ids", "segment_ids", "padding_mask"} int32 (B, T), cut to the batch's longest row
so short requests do not pay for `sequence_length` (dynamic padding at serving time).
"""
import keras
import tensorflow as tf

from keras_llm import tokenizers


@keras.saving.register_keras_serializable(package="keras_llm")
class SentimentPreprocessor(keras.layers.Layer):
    """Args: vocabulary (vocab.txt path or token list), sequence_length (tokens incl. specials)."""

    def __init__(self, vocabulary, sequence_length, lowercase=True, **kwargs):
        super().__init__(**kwargs)
        if sequence_length < 3:
            raise ValueError(f"sequence_length must be >= 3, got {sequence_length}.")
        self.tokenizer = tokenizers.WordPieceTokenizer(vocabulary, lowercase=lowercase)
        self.packer = tokenizers.SegmentPacker(
                sequence_length, start_value=self.tokenizer.cls_token_id,
                end_value=self.tokenizer.sep_token_id, pad_value=self.tokenizer.pad_token_id)
        self.vocabulary = self.tokenizer.get_vocabulary()
        self.sequence_length = sequence_length
        self.lowercase = lowercase

    def call(self, text):
        packed = self.packer(self.tokenizer(text))  # each (B, sequence_length)
        mask = tf.cast(packed["padding_mask"], tf.int32)
        width = tf.maximum(tf.reduce_max(tf.reduce_sum(mask, axis=1)), 1)  # longest row
        return {"token_ids": tf.cast(packed["token_ids"], tf.int32)[:, :width],
                "segment_ids": tf.cast(packed["segment_ids"], tf.int32)[:, :width],
                "padding_mask": mask[:, :width]}

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary=self.vocabulary, sequence_length=self.sequence_length,
                      lowercase=self.lowercase)
        return config
