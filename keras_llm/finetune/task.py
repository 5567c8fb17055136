"""What a fine-tuning app describes once: data -> preprocessor -> model -> loss -> metric -> export.

An app subclasses `FinetuneTask` and fills in the hooks; `keras_llm.finetune.finetune(task,
workdir)` then trains it under any strategy with checkpoints, evaluation and logs, and the
shared CLI (`keras_llm.finetune.cli`) gives it train / evaluate / export / predict commands.

    class SentimentTask(FinetuneTask):
        def prepare(self, workdir): ...            # write vocab.txt (and anything else) once
        def build_model(self, workdir): ...        # a keras Model (called under the strategy)
        def train_batches(self, workdir): ...      # LengthBuckets of host-tokenized examples
        def loss(self): ...
        def evaluate(self, model, workdir, split): ...   # {"dev_accuracy": ...}
        def export_module(self, model, workdir): ...     # a keras_llm.export.TextTaskModule

`self.config` is the app's frozen dataclass; its `finetune` field is a FinetuneConfig.
"""
from typing import Optional

from keras_llm.finetune.config import FinetuneConfig


class FinetuneTask:
    """Base of the task descriptions; see the module docstring."""

    # How `evaluate_saved_model` reaches the model (quoted by `evaluate --report`).
    SAVED_MODEL_EVALUATION = "SavedModel serving_default on raw text"

    def __init__(self, config):
        self.config = config

    @property
    def finetune_config(self) -> FinetuneConfig:
        return self.config.finetune

    def prepare(self, workdir) -> None:
        """Writes files the model and preprocessor need (e.g. vocab.txt) into `workdir`.
        Called once per run, before `build_model`, on the chief only."""

    def vocabulary_texts(self):
        """The training texts whose tokens the model must keep (export --prune_vocabulary;
        BERT apps also build a small model's vocabulary from them)."""
        raise NotImplementedError(f"{type(self).__name__} does not list its training texts.")

    def build_model(self, workdir, for_training: bool = True):
        """A keras Model mapping batches' features to outputs. `for_training=False` when
        loading a trained workdir (no pretrained-weight loading needed)."""
        raise NotImplementedError

    def train_batches(self, workdir):
        """`keras_llm.finetune.LengthBuckets` over the training examples (shuffle=True)."""
        raise NotImplementedError

    def loss(self):
        raise NotImplementedError

    def metrics(self) -> list:
        return []

    def distiller(self, model, workdir):
        """A `Distiller` wrapping `model` (trained in `workdir`, prepared) when the config asks
        for distillation, else None."""
        del model, workdir
        return None

    def evaluate(self, model, workdir, split: str = "dev") -> dict:
        """The task's standard metric(s) on `split`; {} when nothing was measured.
        Default: `score(predict_logits(...))`; tasks whose metric needs more override it."""
        return self.score(self.predict_logits(model, workdir, split), workdir, split)

    def predict_logits(self, model, workdir, split: str):
        """The model's outputs for every example of `split`, in the split's order."""
        raise NotImplementedError

    def score(self, logits, workdir, split: str) -> dict:
        """The metric(s) of `predict_logits`' outputs on `split`; {} for no examples."""
        raise NotImplementedError

    def export_module(self, model, workdir):
        raise NotImplementedError

    def predict_outputs(self, outputs: dict, text: str) -> Optional[dict]:
        """One JSON-ready record of a SavedModel's outputs for `predict` (default: all)."""
        del text
        return {k: _jsonable(v) for k, v in outputs.items()}


def _jsonable(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value
