"""Checkpoints that survive a crash: model, optimizer, step, data iterator and RNG state.

TensorFlow writes checkpoint shards under temporary names and updates the `checkpoint` index
file atomically, so a run killed with SIGKILL mid-save still resumes from the previous save.
Each multi-worker worker keeps its own directory (workdir/checkpoints for the chief,
workdir/worker_<i>/checkpoints otherwise) because the data iterator position is per worker.
"""
import dataclasses
import json
import os

import keras
import tensorflow as tf
from absl import logging

from keras_llm.training.config import RESUMABLE_FIELDS, TrainConfig


class CheckpointError(ValueError):
    """A checkpoint cannot be restored: corrupt files or a different model/config."""


def _flatten(d, prefix=""):
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return out


def check_config(workdir: str, config: TrainConfig, write: bool,
                 resumable=RESUMABLE_FIELDS) -> None:
    """The first run records workdir/config.json; later runs must agree except on the
    `resumable` fields. `config` is any dataclass (fine-tuning apps pass theirs)."""
    path = os.path.join(workdir, "config.json")
    current = _flatten(dataclasses.asdict(config))
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as f:
                saved = _flatten(json.load(f))
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{path} is corrupt ({e}); delete the workdir to start over.")
        diff = sorted(k for k in set(saved) | set(current)
                      if k not in resumable and saved.get(k) != current.get(k))
        if diff:
            details = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in diff)
            raise CheckpointError(f"workdir {workdir} holds a run with a different config "
                                  f"({details}); use a new workdir or the same config.")
    if write:
        os.makedirs(workdir, exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(dataclasses.asdict(config), f, indent=2)
        os.replace(tmp, path)


def rng_variables(model: keras.Model) -> dict:
    """State variables of every SeedGenerator (dropout) so resumed dropout masks continue.

    Keyed by traversal order (stable for a given model config, which check_config enforces).
    """
    found, seen = {}, set()
    for layer in model._flatten_layers():  # pylint: disable=protected-access
        for generator in getattr(layer, "_seed_generators", []):
            if id(generator) not in seen:
                seen.add(id(generator))
                found[f"seed_{len(found)}_{layer.name}"] = generator.state.value
    return found


def checkpoint_dir(workdir: str, chief: bool, worker: int) -> str:
    if chief:
        return os.path.join(workdir, "checkpoints")
    return os.path.join(workdir, f"worker_{worker}", "checkpoints")


def restore_latest(checkpoint: tf.train.Checkpoint, manager: tf.train.CheckpointManager) -> bool:
    """Restores the newest checkpoint if any; raises CheckpointError on corrupt/mismatched files."""
    path = manager.latest_checkpoint
    if path is None:
        if os.path.isdir(manager.directory) and any(
                f.endswith(".index") for f in os.listdir(manager.directory)):
            raise CheckpointError(f"{manager.directory} has checkpoint files but no readable "
                                  "`checkpoint` index; it is corrupt. Delete it to start over.")
        return False
    try:
        status = checkpoint.restore(path)
        status.assert_existing_objects_matched()
    except (tf.errors.OpError, ValueError, AssertionError, IndexError) as e:
        message = str(e).splitlines()[0][:300]
        raise CheckpointError(f"Cannot restore checkpoint {path}: {message}. The files are "
                              "corrupt or were written by a different model; delete them or "
                              "use another workdir.") from e
    logging.info("Restored %s", path)
    return True
