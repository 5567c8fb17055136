"""Named-entity recognition SavedModel (CoNLL-style IOB2 tags): three signatures.

- `serving_default`: `text` tf.string (B,) -> `entity_text`, `entity_type` tf.string (B, E)
  ("" padding), `entity_start`, `entity_end` int32 (B, E) (-1 padding): code-point offsets into
  the text as sent (after invalid UTF-8 bytes become U+FFFD), so text[start:end] == entity_text.
  The text is split into CoNLL-style words (keras_llm.tokenizers.words), each word tagged by
  its first piece, and the tags decoded into entities with the conlleval rules.
- `tag_words`: `words` tf.string (B, W) pre-split words ("" padding) -> `tags` tf.string (B, W):
  IOB2 tags such as "B-PER", "O" for a word without a prediction (no piece, or cut off by the
  sequence length), "" for padding. CoNLL-style evaluation calls this one.
- `predict_token_ids`: `token_ids`, `segment_ids`, `padding_mask` int32 (B, T) -> `logits`
  float32 (B, T, C).

Words past `sequence_length` tokens get "O". Shapes: B texts, W words, T tokens, E entities.
"""
from typing import Sequence

import tensorflow as tf

from keras_llm.export import module as module_lib
from keras_llm.export import warmup
from keras_llm.models.bert import entity_decoding
from keras_llm.models.bert.word_preprocessor import word_predictions

EXAMPLE_TEXTS = ("Peter Blackburn flew from Brussels to the U.S. to meet Sony Corp. officials.",)
EXAMPLE_WORDS = (("Peter", "Blackburn", "visited", "Paris", "."), ("Sony", "", "", "", ""))


class EntityRecognitionModule(module_lib.TextTaskModule):
    """`preprocessor`: a BertWordPreprocessor; `model` maps {token_ids, segment_ids,
    padding_mask} (B, T) to logits (B, T, C) (BertTokenClassifier); `labels`: the C IOB2 tags
    in class order."""

    def __init__(self, preprocessor, model, labels: Sequence[str], **kwargs):
        super().__init__(preprocessor, model, **kwargs)
        self.labels = list(labels)
        if len(self.labels) != model.num_classes:
            raise ValueError(f"{len(self.labels)} labels for a model of {model.num_classes} "
                             "classes.")

    def _word_classes(self, words: tf.RaggedTensor):
        """Words ragged (B, None) -> label index of each word, int32 (B, W) (-1: none)."""
        batch = self.preprocessor(words)
        logits = self.forward({name: batch[name] for name in self.MODEL_INPUTS})
        width = tf.reduce_max(tf.concat([words.row_lengths(), [0]], 0))
        return word_predictions(logits, batch["word_ids"], batch["first_subword"], width)

    def serve_text(self, texts):
        text = self.clean_text(texts["text"])
        words, starts, ends = self.preprocessor.split(text)
        classes = self._word_classes(words)
        return entity_decoding.decode_entities(classes, self.labels, starts.to_tensor(-1),
                                               ends.to_tensor(-1), text)

    def tag_words(self, words):
        words = tf.strings.unicode_transcode(words, "UTF-8", "UTF-8", errors="replace")
        classes = self._word_classes(tf.RaggedTensor.from_tensor(words))
        tags = tf.gather(tf.constant(self.labels + ["O"]),
                         tf.where(classes >= 0, classes, len(self.labels)))
        return {"tags": tf.where(words == "", "", tags)}

    def _logits(self, outputs):
        return {"logits": tf.cast(outputs, tf.float32)}

    def signatures(self):
        spec = tf.TensorSpec([None, None], tf.string, name="words")
        tag_words = tf.function(self.tag_words, input_signature=[spec]).get_concrete_function()
        return {"serving_default": self.text_signature(), "tag_words": tag_words,
                "predict_token_ids": self.model_signature(self._logits)}

    def warmup_logs(self):
        logs = super().warmup_logs()  # the edge cases
        logs.append(warmup.predict_log("serving_default",
                                       {"text": tf.constant(EXAMPLE_TEXTS).numpy()}))
        logs.append(warmup.predict_log("tag_words", {"words": tf.constant(EXAMPLE_WORDS).numpy()}))
        batch = self.preprocessor(tf.constant(EXAMPLE_WORDS))
        ids = {n: tf.cast(batch[n], tf.int32).numpy() for n in self.MODEL_INPUTS}
        logs.append(warmup.predict_log("predict_token_ids", ids))
        return logs
