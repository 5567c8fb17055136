"""Length-bucketed batches for fine-tuning and inference, in an order fixed by (seed, epoch).

Examples are host-tokenized rows of different lengths (`features`: name -> N int lists) and
optional `targets` (an array (N, ...), an object array of N per-token arrays, or a tuple/dict of
those).
Each batch pads its rows to the bound of its longest row's bucket, so short sentences do not pay
for the longest, and only `len(bounds)` shapes are traced. The batch order of epoch e depends
only on (seed, e): a run resumed at global step s rebuilds exactly the batches it had left.
Shapes: B batch, W bucket width.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf


def bucket_bounds(boundaries: Sequence[int], max_length: int) -> List[int]:
    """Sorted bounds below `max_length`, then `max_length` (no boundaries: one fixed shape)."""
    return sorted(b for b in set(boundaries) if 0 < b < max_length) + [max_length]


def _dtype(row: np.ndarray):
    return np.int32 if row.dtype.kind in "iu" or not row.size else row.dtype


def _pad(rows: Sequence, width: int, value) -> np.ndarray:
    first = np.asarray(rows[0])
    out = np.full((len(rows), width) + first.shape[1:], value, _dtype(first))
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return out


class LengthBuckets:
    """Args:
        features: name -> N int lists (one length per example across names).
        targets: None, or per example: an array (N, ...); per token: an object array of N
            (T_i, ...) arrays, padded with `target_pad`; or a tuple/dict of those.
        pad_values: name -> padding id (default 0).
        drop_remainder: drop each bucket's last partial batch (fixed shapes for TPU/XLA).
    """

    def __init__(self, features: Dict[str, Sequence[Sequence[int]]], targets, batch_size: int,
                 max_length: int, boundaries: Sequence[int] = (), pad_values=None,
                 target_pad=-100, shuffle: bool = False, seed: int = 0,
                 drop_remainder: bool = False):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}.")
        self.features, self.targets = features, targets
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.pad_values = dict(pad_values or {})
        self.target_pad, self.drop_remainder = target_pad, drop_remainder
        lengths = np.array([len(r) for r in next(iter(features.values()))], np.int64)
        if len(lengths) and lengths.max() > max_length:
            raise ValueError(f"An example has {lengths.max()} tokens, over max_length="
                             f"{max_length}.")
        self.bounds = bucket_bounds(boundaries, max_length)
        self.bucket_of = np.searchsorted(self.bounds, lengths)
        self.num_examples = len(lengths)
        self._epoch, self._batches = None, None
        if not self.epoch_batches(0):
            raise ValueError(f"{self.num_examples} examples make no batch of {batch_size}.")

    def epoch_batches(self, epoch: int) -> List[np.ndarray]:
        """Row indices of each batch of `epoch`, in order."""
        if self._epoch != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            batches = []
            for bucket in range(len(self.bounds)):
                rows = np.flatnonzero(self.bucket_of == bucket)
                if self.shuffle:
                    rows = rng.permutation(rows)
                stop = len(rows) - len(rows) % self.batch_size if self.drop_remainder else len(rows)
                batches += [rows[i:i + self.batch_size] for i in range(0, stop, self.batch_size)]
            if self.shuffle:
                batches = [batches[i] for i in rng.permutation(len(batches))]
            self._epoch, self._batches = epoch, batches
        return self._batches

    def __len__(self):
        return len(self.epoch_batches(0))

    def batch(self, rows: np.ndarray):
        """(features, targets) of `rows`, padded to their bucket's width."""
        width = self.bounds[self.bucket_of[rows].max()]
        features = {name: _pad([values[r] for r in rows], width, self.pad_values.get(name, 0))
                    for name, values in self.features.items()}
        if self.targets is None:
            return (features,)

        def leaf(values):
            if values.dtype != object:
                return values[rows]
            return _pad([values[r] for r in rows], width, self.target_pad)
        return features, tf.nest.map_structure(leaf, self.targets)

    def signature(self):
        """TensorSpecs of a batch: batch and width vary, the rest is fixed."""
        def spec(values):
            if values.dtype != object:
                return tf.TensorSpec((None,) + values.shape[1:], tf.as_dtype(values.dtype))
            first = np.asarray(values[0])
            return tf.TensorSpec((None, None) + first.shape[1:], tf.as_dtype(_dtype(first)))
        features = {n: tf.TensorSpec((None, None), tf.int32) for n in self.features}
        if self.targets is None:
            return (features,)
        return features, tf.nest.map_structure(spec, self.targets)

    def dataset(self, start_step: int = 0, num_steps: Optional[int] = None) -> tf.data.Dataset:
        """Batches of global steps [start_step, num_steps) across epochs (default: one epoch,
        in order), as a tf.data pipeline."""
        per_epoch = len(self)
        stop = per_epoch if num_steps is None else num_steps

        def generate():
            for step in range(start_step, stop):
                yield self.batch(self.epoch_batches(step // per_epoch)[step % per_epoch])

        dataset = tf.data.Dataset.from_generator(generate, output_signature=self.signature())
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
                tf.data.experimental.AutoShardPolicy.DATA)
        dataset = dataset.with_options(options)
        cardinality = max(stop - start_step, 0)
        return dataset.apply(tf.data.experimental.assert_cardinality(cardinality)).prefetch(2)

    def order(self) -> np.ndarray:
        """Example indices in the order of an unshuffled epoch (to realign predictions)."""
        batches = self.epoch_batches(0)
        return np.concatenate(batches) if batches else np.zeros([0], np.int64)
