"""A toy fine-tuning task for the library's tests: does a token sequence contain token 3?

Run as a script (fresh process, e.g. to split the CPU into 2 devices or to be killed):
    python -m tests.finetune.toy_task --workdir=W [--strategy=mirrored] [--cpu_devices=2]
    TOY_SLOW=S (seconds per training batch), TOY_KILL_AFTER=FILE (kill -9 itself 0.6 s after
    FILE appears, e.g. a checkpoint's index)
"""
import dataclasses
import os
import signal
import threading
import time

import keras
import numpy as np

from keras_llm import models
from keras_llm.finetune import FinetuneConfig, FinetuneTask, LengthBuckets, inference
from keras_llm.finetune.config import FINETUNE_OPTIMIZER


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    finetune: FinetuneConfig = FinetuneConfig(
            epochs=3, batch_size=8, checkpoint_every=4, log_every=1, bucket_boundaries=(8,),
            optimizer=dataclasses.replace(FINETUNE_OPTIMIZER, learning_rate=3e-3,
                                          clip_norm=0.05))  # small: clipping is active
    examples: int = 64
    dev_examples: int = 32


def toy_examples(count: int, seed: int):
    rng = np.random.default_rng(seed)
    rows = [list(rng.integers(4, 20, size=rng.integers(2, 15))) for _ in range(count)]
    labels = rng.integers(0, 2, size=count).astype(np.int32)
    for row, label in zip(rows, labels):
        if label:
            row[rng.integers(0, len(row))] = 3
    features = {"token_ids": rows, "segment_ids": [[0] * len(r) for r in rows],
                "padding_mask": [[1] * len(r) for r in rows]}
    return features, labels


class _SlowBuckets(LengthBuckets):
    """Training batches made no faster than one per `TOY_SLOW` seconds."""

    def batch(self, rows):
        time.sleep(float(os.environ.get("TOY_SLOW", 0)))
        return super().batch(rows)


def _kill_after(path: str, delay: float) -> None:
    """A thread that SIGKILLs this process `delay` seconds after `path` appears."""
    def watch():
        while not os.path.exists(path):
            time.sleep(0.02)
        time.sleep(delay)
        os.kill(os.getpid(), signal.SIGKILL)
    threading.Thread(target=watch, daemon=True).start()


class ToyTask(FinetuneTask):
    CONFIG_CLASS = ToyConfig

    def build_model(self, workdir, for_training=True):
        backbone = models.BertBackbone(20, 1, 2, 16, 32, max_sequence_length=16, dropout=0.0)
        return models.BertClassifier(backbone, 2, dropout=0.0)

    def _buckets(self, split, shuffle, targets=True):
        count = self.config.examples if split == "train" else self.config.dev_examples
        features, labels = toy_examples(count, seed=0 if split == "train" else 1)
        buckets = (_SlowBuckets if shuffle else LengthBuckets)(features, labels if targets else None,
                               self.finetune_config.batch_size, 16,
                               self.finetune_config.bucket_boundaries, shuffle=shuffle,
                               seed=self.finetune_config.seed)
        return buckets, labels

    def train_batches(self, workdir):
        return self._buckets("train", shuffle=True)[0]

    def loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def evaluate(self, model, workdir, split="dev"):
        if not self.config.dev_examples:
            return {}
        buckets, labels = self._buckets(split, shuffle=False, targets=False)
        logits = inference.predict_in_order(model, buckets)
        return {"dev_accuracy": float(np.mean(logits.argmax(-1) == labels))}


def main():
    import argparse  # pylint: disable=import-outside-toplevel
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--strategy", default="one_device")
    parser.add_argument("--cpu_devices", type=int, default=0)
    args = parser.parse_args()
    from keras_llm.finetune import finetune  # pylint: disable=import-outside-toplevel
    from keras_llm.training import strategy  # pylint: disable=import-outside-toplevel
    if args.cpu_devices:
        strategy.set_cpu_devices(args.cpu_devices)
    if os.environ.get("TOY_KILL_AFTER"):
        _kill_after(os.environ["TOY_KILL_AFTER"], delay=0.6)
    config = ToyConfig()
    config = dataclasses.replace(config, finetune=dataclasses.replace(
            config.finetune, strategy=args.strategy))
    result = finetune(ToyTask(config), args.workdir)
    np.save(f"{args.workdir}/final_weights.npy",
            np.concatenate([w.numpy().ravel() for w in result.model.weights]))


if __name__ == "__main__":
    main()
