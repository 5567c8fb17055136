"""Batched inference helpers shared by the fine-tuning apps' evaluation."""
from typing import Dict, Sequence

import numpy as np
import tensorflow as tf



def predict_in_order(model, buckets, pad_value: float = 0.0):
    """Model outputs over LengthBuckets (no shuffle), rows in example order.

    Outputs may be an array or a dict of arrays; per-token outputs (B, W, ...) are padded to
    the buckets' longest width with `pad_value` (e.g. -1e9 for span logits)."""
    width = buckets.bounds[-1]
    parts, order = [], []
    for rows in buckets.epoch_batches(0):
        features = buckets.batch(rows)[0]
        batch_width = next(iter(features.values())).shape[1]
        outputs = tf.nest.map_structure(np.asarray, model(features, training=False))
        parts.append(tf.nest.map_structure(
                lambda x, w=batch_width: _pad_tokens(x, w, width, pad_value), outputs))
        order.append(rows)
    order = np.concatenate(order)

    def gather(*leaves):
        stacked = np.concatenate(leaves)
        ordered = np.empty_like(stacked)
        ordered[order] = stacked
        return ordered
    return tf.nest.map_structure(gather, *parts)


def _pad_tokens(x: np.ndarray, batch_width: int, width: int, value: float) -> np.ndarray:
    if x.ndim < 2 or x.shape[1] != batch_width or batch_width == width:
        return x
    pad = [(0, 0), (0, width - batch_width)] + [(0, 0)] * (x.ndim - 2)
    return np.pad(x, pad, constant_values=value)


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


def generate_texts(signature, texts: Sequence[str], output_name: str,
                   batch_size: int = 50) -> list:
    """A text -> text signature (translation, summarization) over `texts`: batches of similar
    length (less padding, and a decoding loop ends with its batch's longest output), answers
    decoded and in input order."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = [None] * len(texts)
    for begin in range(0, len(order), batch_size):
        chunk = order[begin:begin + batch_size]
        values = signature(text=tf.constant([texts[i] for i in chunk]))[output_name]
        for i, value in zip(chunk, values.numpy()):
            out[i] = value.decode("utf-8")
    return out


def signature(loaded, name: str, where):
    """`loaded.signatures[name]`, or an error naming the signatures `where` does have."""
    if name not in loaded.signatures:
        raise ValueError(f"{where} has no {name!r} signature; it has {sorted(loaded.signatures)}"
                         f" (exports made with --nogreedy_signature leave out `greedy`).")
    return loaded.signatures[name]


def _named(signatures, names, where) -> dict:
    if "serving_default" not in signatures:
        raise ValueError(f"{where} has no serving_default signature (it has "
                         f"{sorted(signatures)}).")
    return {n: signatures[n] for n in names if n in signatures}


def text_to_text_signatures(saved_model=None, module=None,
                            names=("serving_default", "greedy")) -> Dict[str, dict]:
    """{"SavedModel <path>" / "in process": {signature name: callable}} for a SavedModel
    and/or an export module (the same graph in this process), to compare the two. Each holds
    those of `names` the model has (`serving_default` at least)."""
    found = {}
    if saved_model:
        from keras_llm.export.check import resolve_version_dir  # pylint: disable=import-outside-toplevel
        path = resolve_version_dir(saved_model)
        loaded = tf.saved_model.load(str(path))
        found[f"SavedModel {path}"] = _named(loaded.signatures, names, path)
    if module is not None:
        found["in process"] = _named(module.signatures(), names, "the in-process module")
    if not found:
        raise ValueError("Give a SavedModel, a training workdir, or both.")
    return found
