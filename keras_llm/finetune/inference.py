"""Batched inference helpers shared by the fine-tuning apps' evaluation."""
from typing import Dict, Sequence

import numpy as np
import tensorflow as tf

from keras_llm.utils import cli


def predict_in_order(model, buckets) -> np.ndarray:
    """`model.predict` over LengthBuckets (no shuffle), rows back in example order."""
    outputs = model.predict(buckets.dataset(), verbose=1 if cli.is_terminal() else 0)
    ordered = np.zeros_like(outputs)
    ordered[buckets.order()] = outputs
    return ordered


def run_signature(path, inputs: Dict[str, Sequence], batch_size: int = 64,
                  signature: str = "serving_default") -> Dict[str, np.ndarray]:
    """A SavedModel signature over raw inputs (name -> N values) in batches; outputs stacked
    along the first axis (per-row outputs only)."""
    serve = tf.saved_model.load(str(path)).signatures[signature]
    count = len(next(iter(inputs.values())))
    parts = []
    for start in range(0, count, batch_size):
        batch = {k: tf.constant(list(v[start:start + batch_size])) for k, v in inputs.items()}
        parts.append({k: v.numpy() for k, v in serve(**batch).items()})
    if not parts:
        return {}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
