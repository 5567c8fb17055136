"""BERT extractive question answering: a span head (start/end logits) over every token.

Shapes: B batch (windows, see span_preprocessor.py), T tokens, D hidden width.
Head variables: `qa_outputs.{kernel,bias}` (D, 2), (2,) = Hugging Face
`BertForQuestionAnswering.qa_outputs.{weight.T,bias}`; column 0 scores starts, column 1 ends.

Padding positions get a logit of -1e9, so softmaxes over T (the training loss, the span
probability of span_decoding.py, distillation) never give them mass however long the padding.
"""
from typing import Dict, List, Sequence

import keras
import numpy as np
from keras import ops

from keras_llm.models.bert import span_decoding
from keras_llm.models.bert.backbone import INPUT_KEYS
from keras_llm.models.task_base import Task

MASKED_LOGIT = -1e9


@keras.saving.register_keras_serializable(package="keras_llm")
class BertQuestionAnswerer(Task):
    """Inputs: the backbone inputs. Outputs {"start_logits", "end_logits"} float32 (B, T)."""

    _config_keys = ("dropout",)

    def __init__(self, backbone, dropout=0.1, **kwargs):
        inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key)
                  for key in INPUT_KEYS}
        sequence = backbone(inputs)["sequence_output"]  # (B, T, D)
        x = keras.layers.Dropout(dropout, name="qa_dropout")(sequence)
        qa_outputs = keras.layers.Dense(
            2, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            dtype="float32", name="qa_outputs")
        logits = qa_outputs(x)  # (B, T, 2)
        padding = 1.0 - ops.cast(inputs["padding_mask"], "float32")  # (B, T)
        start_logits = logits[:, :, 0] + padding * MASKED_LOGIT
        end_logits = logits[:, :, 1] + padding * MASKED_LOGIT
        super().__init__(inputs=inputs,
                         outputs={"start_logits": start_logits, "end_logits": end_logits},
                         **kwargs)
        self.backbone = backbone
        self.dropout = dropout
        self.qa_outputs = qa_outputs

    @classmethod
    def from_huggingface(cls, path, dropout=0.1, **kwargs):
        """A Hugging Face BERT checkpoint directory; its `qa_outputs` head is kept when present
        (a `BertForQuestionAnswering`), else the head starts at random."""
        from keras_llm.models.bert.huggingface import load_bert_question_answerer
        return load_bert_question_answerer(path, dropout=dropout, **kwargs)


def answer_questions(model, preprocessor, questions: Sequence[str], contexts: Sequence[str],
                     max_answer_tokens: int = 30, batch_size: int = 64) -> Dict[str, List]:
    """Host inference: `preprocessor.encode` windows (padded to its sequence_length), `model`
    on batches of windows, `span_decoding.decode_spans_numpy`, answers cut from the contexts.
    -> {"answer": [str], "score", "start", "end": numpy (N,)}, as the SavedModel returns."""
    if not len(contexts):
        return {"answer": [], "score": np.zeros([0], np.float32),
                "start": np.zeros([0], np.int32), "end": np.zeros([0], np.int32)}
    windows = preprocessor.encode(questions, contexts)
    length, count = preprocessor.sequence_length, len(windows["token_ids"])
    padded = {}
    for key in INPUT_KEYS + span_decoding.OFFSET_KEYS:
        pad = {"token_ids": preprocessor.pad_token_id, "segment_ids": 0,
               "padding_mask": 0}.get(key, span_decoding.NO_ANSWER)
        padded[key] = np.full((count, length), pad, np.int32)
        for row, values in enumerate(windows[key]):
            padded[key][row, :len(values)] = values
    logits = {"start_logits": [], "end_logits": []}
    for first in range(0, count, batch_size):
        outputs = model({k: padded[k][first:first + batch_size] for k in INPUT_KEYS},
                        training=False)
        for key, values in logits.items():
            values.append(keras.ops.convert_to_numpy(outputs[key]))
    spans = span_decoding.decode_spans_numpy(
            np.concatenate(logits["start_logits"]), np.concatenate(logits["end_logits"]),
            padded["padding_mask"], padded["token_starts"], padded["token_ends"],
            windows["window_example"], len(contexts), max_answer_tokens)
    spans["answer"] = [c[s:e] if s >= 0 else "" for c, s, e in
                       zip(contexts, spans["start"], spans["end"])]
    return spans
