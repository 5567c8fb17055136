"""keras_llm.finetune: one fine-tuning stack under every task app.

- `FinetuneTask` (task.py): what an app describes once (data, preprocessor, model, loss,
  metric, export module); `finetune(task, workdir)` (loop.py): Keras `model.fit` under any
  strategy, resumable after `kill -9`; `FinetuneConfig` (config.py).
- `LengthBuckets` (batching.py): length-bucketed batches in an order fixed by (seed, epoch).
- `Distiller`, `soft_target_loss` (distill.py): sequence-, token- and span-level distillation.
- `cli` (cli.py): the apps' train / evaluate / export / predict commands.

Attributes load lazily, so `keras_llm.finetune.cli` can quiet TensorFlow before importing it.
"""
import importlib

_EXPORTS = {
        "FinetuneConfig": "config", "FinetuneTask": "task", "FinetuneResult": "loop",
        "finetune": "loop", "LengthBuckets": "batching", "Distiller": "distill",
        "soft_target_loss": "distill",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'keras_llm.finetune' has no attribute {name!r}")
    return getattr(importlib.import_module(f"keras_llm.finetune.{_EXPORTS[name]}"), name)
