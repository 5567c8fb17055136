"""Text classification SavedModel (sentiment, topic, ...): three signatures.

- `serving_default`: `text` tf.string (B,) -> `label` tf.string (B,), `probabilities` (B, C).
- `classify` (TF Serving Classify API): `inputs` serialized tf.Examples with a `text` bytes
  feature -> `classes` tf.string (B, C), `scores` float32 (B, C).
- `predict_token_ids`: `token_ids`, `segment_ids`, `padding_mask` int32 (B, T) -> `logits` (B, C).
Shapes: B batch, T tokens, C classes.
"""
from typing import Sequence

import tensorflow as tf

from keras_llm.export import module as module_lib
from keras_llm.export import warmup


class TextClassifierModule(module_lib.TextTaskModule):
    """`model` maps {token_ids, segment_ids, padding_mask} to logits (B, C)."""

    def __init__(self, preprocessor, model, labels: Sequence[str], **kwargs):
        super().__init__(preprocessor, model, **kwargs)
        labels = tuple(labels)
        if len(labels) < 2 or not all(isinstance(l, str) and l for l in labels):
            raise ValueError(f"labels must be >= 2 non-empty strings, got {labels!r}.")
        self.labels = labels

    def postprocess(self, outputs, context):
        probabilities = tf.nn.softmax(tf.cast(outputs, tf.float32), axis=-1)  # (B, C)
        label = tf.gather(tf.constant(self.labels), tf.argmax(probabilities, axis=-1))
        return {"label": label, "probabilities": probabilities}

    def _classify_outputs(self, outputs):
        scores = outputs["probabilities"]
        batch = tf.shape(scores)[0]
        classes = tf.tile(tf.constant(self.labels)[tf.newaxis, :], [batch, 1])  # (B, C)
        return {"classes": classes, "scores": scores}

    def signatures(self):
        return {
                "serving_default": self.text_signature(),
                "classify": self.example_signature(self._classify_outputs),
                "predict_token_ids": self.model_signature(
                        lambda logits: {"logits": tf.cast(logits, tf.float32)}),
        }

    def method_names(self):
        return {"classify": module_lib.CLASSIFY_METHOD}

    def warmup_logs(self):
        logs = super().warmup_logs()
        examples = [warmup.text_example({"text": t}) for t in module_lib.EXAMPLE_TEXTS]
        logs.append(warmup.classify_log("classify", examples))
        texts = {"text": self.clean_text(module_lib.example_inputs())}
        model_inputs, _ = self.preprocess(texts)
        ids = {n: tf.cast(model_inputs[n], tf.int32).numpy() for n in self.MODEL_INPUTS}
        logs.append(warmup.predict_log("predict_token_ids", ids))
        return logs
