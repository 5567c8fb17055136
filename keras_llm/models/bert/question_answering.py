"""BERT extractive question answering: a span head (start/end logits) over every token.

Shapes: B batch (windows, see span_preprocessor.py), T tokens, D hidden width.
Head variables: `qa_outputs.{kernel,bias}` (D, 2), (2,) = Hugging Face
`BertForQuestionAnswering.qa_outputs.{weight.T,bias}`; column 0 scores starts, column 1 ends.

Padding positions get a logit of -1e9, so softmaxes over T (the training loss, the span
probability of span_decoding.py, distillation) never give them mass however long the padding.
"""
import keras
from keras import ops

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
