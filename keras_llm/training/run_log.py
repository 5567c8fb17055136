"""Run logs shared by `train()` and `finetune()`: TensorBoard scalars, history.jsonl.

TensorBoard files are written with core TF (no tensorboard package needed); history.jsonl holds
one JSON record per logged step or evaluation and is cut back to the restored step on resume.
"""
import json
import math
import os

import tensorflow as tf
from absl import logging


def writers(workdir: str, chief: bool):
    if not chief:
        return tf.summary.create_noop_writer(), tf.summary.create_noop_writer()
    root = os.path.join(workdir, "tensorboard")
    return (tf.summary.create_file_writer(os.path.join(root, "train")),
            tf.summary.create_file_writer(os.path.join(root, "eval")))


def _scalar_metadata():
    # What tensorboard's `tf.summary.scalar` writes, built from core TF so that logging does not
    # need the tensorboard package installed (TensorBoard reads these files as scalars).
    from tensorflow.core.framework import summary_pb2  # pylint: disable=import-outside-toplevel
    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    return metadata.SerializeToString()


def write_scalars(writer, step: int, values: dict) -> None:
    with writer.as_default(step=step):
        for name, value in values.items():
            tf.summary.write(name, tf.constant(value, tf.float32), metadata=_scalar_metadata())
    writer.flush()


def append_json(path: str, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def truncate_history(path: str, step: int) -> None:
    """Drops records after `step` (the restored checkpoint) so a resumed run logs no step twice."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    kept = [line for line in lines if _record_step(line) <= step]
    if len(kept) == len(lines):
        return
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(line if line.endswith("\n") else line + "\n" for line in kept)
    os.replace(tmp, path)
    logging.info("Dropped %d history records after step %d from %s.", len(lines) - len(kept),
                 step, path)


def _record_step(line: str) -> float:
    """A history line's step; a torn or unreadable line (killed mid-write) counts as after any."""
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return math.inf
