"""Extractive question answering SavedModel (SQuAD-style): two signatures.

- `serving_default`: `question`, `context` tf.string (B,) -> `answer` tf.string (B,), `score`
  float32 (B,) (the span's probability), `start`, `end` int32 (B,): code-point offsets into the
  context as sent (after invalid UTF-8 bytes become U+FFFD), so `context[start:end] == answer`.
  No context token (empty context) -> "" with start = end = -1 and score 0, never an error.
- `predict_token_ids`: `token_ids`, `segment_ids`, `padding_mask` int32 (W, T) ->
  `start_logits`, `end_logits` float32 (W, T).

Contexts are never truncated: `BertSpanPreprocessor` splits each into overlapping windows
(their number is bounded by `max_input_chars`), the model runs on all windows of the batch as
one (W, T) batch, and `span_decoding.decode_spans` regroups them per example.
Shapes: B examples, W windows, T tokens.
"""
import tensorflow as tf

from keras_llm.export import module as module_lib
from keras_llm.export import warmup
from keras_llm.models.bert import span_decoding

EXAMPLE_QUESTIONS = ("Which team won Super Bowl 50?",)
EXAMPLE_CONTEXTS = ("The Denver Broncos defeated the Carolina Panthers 24–10 to win Super "
                    "Bowl 50 at Levi's Stadium in Santa Clara, California.",)


class SpanQuestionAnsweringModule(module_lib.TextTaskModule):
    """`preprocessor`: a BertSpanPreprocessor; `model` maps {token_ids, segment_ids,
    padding_mask} (W, T) to {"start_logits", "end_logits"} (W, T) (BertQuestionAnswerer)."""

    TEXT_INPUTS = ("question", "context")

    def __init__(self, preprocessor, model, max_answer_tokens: int = 30, **kwargs):
        super().__init__(preprocessor, model, **kwargs)
        if max_answer_tokens < 1:
            raise ValueError(f"max_answer_tokens must be >= 1, got {max_answer_tokens}.")
        self.max_answer_tokens = max_answer_tokens

    def preprocess(self, texts):
        windows = self.preprocessor((texts["question"], texts["context"]))
        model_inputs = {name: windows[name] for name in self.MODEL_INPUTS}
        return model_inputs, {"windows": windows, "context": texts["context"]}

    def postprocess(self, outputs, context):
        windows, contexts = context["windows"], context["context"]
        spans = span_decoding.decode_spans(
                outputs["start_logits"], outputs["end_logits"], windows["padding_mask"],
                windows["token_starts"], windows["token_ends"], windows["window_example"],
                tf.size(contexts), self.max_answer_tokens)
        answer = span_decoding.cut_answers(contexts, spans["start"], spans["end"])
        return {"answer": answer, "score": spans["score"], "start": spans["start"],
                "end": spans["end"]}

    @staticmethod
    def _logits(outputs):
        return {k: tf.cast(outputs[k], tf.float32) for k in ("start_logits", "end_logits")}

    def signatures(self):
        return {"serving_default": self.text_signature(),
                "predict_token_ids": self.model_signature(self._logits)}

    def warmup_logs(self):
        logs = super().warmup_logs()  # the edge cases, as both question and context
        logs.append(warmup.predict_log("serving_default", {
                "question": tf.constant(EXAMPLE_QUESTIONS).numpy(),
                "context": tf.constant(EXAMPLE_CONTEXTS).numpy()}))
        texts = {name: self.clean_text(tf.constant(values)) for name, values in
                 (("question", EXAMPLE_QUESTIONS), ("context", EXAMPLE_CONTEXTS))}
        model_inputs, _ = self.preprocess(texts)
        ids = {n: tf.cast(model_inputs[n], tf.int32).numpy() for n in self.MODEL_INPUTS}
        logs.append(warmup.predict_log("predict_token_ids", ids))
        return logs
