"""SST-2 reading and length-bucketed batches (dynamic padding).

Batches hold {"token_ids", "segment_ids", "padding_mask"} int32 (B, T) where T is the bucket
bound of the batch's longest row, so short sentences do not pay for `sequence_length`, and
only a few shapes are ever traced. B batch, T tokens.
"""
import pathlib
from typing import List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from keras_llm.utils import paths


def sst2_dir(data_dir: str = "") -> pathlib.Path:
    return pathlib.Path(data_dir) if data_dir else paths.shared_data_dir() / "sst2"


def read_tsv(path) -> Tuple[List[str], np.ndarray]:
    """`sentence<TAB>label` TSV with a header -> (texts, labels int32 (N,))."""
    path = pathlib.Path(path)
    if not path.exists():
        raise ValueError(f"SST-2 file {path} does not exist.")
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        if header[:2] != ["sentence", "label"]:
            raise ValueError(f"{path}: expected header 'sentence<TAB>label', got {header}.")
        for line_number, line in enumerate(f, start=2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 2 or fields[1] not in ("0", "1"):
                raise ValueError(f"{path}:{line_number}: bad row {line!r}.")
            texts.append(fields[0].strip())
            labels.append(int(fields[1]))
    return texts, np.asarray(labels, np.int32)


def pack(ids: Sequence[int], sequence_length: int, cls_id: int, sep_id: int) -> List[int]:
    """[CLS] ids [SEP], truncated to `sequence_length`."""
    return [cls_id] + list(ids[:sequence_length - 2]) + [sep_id]


def bucket_bounds(sequence_length: int) -> List[int]:
    bounds = [b for b in (16, 32, 48) if b < sequence_length]
    return bounds + [sequence_length]


class PaddedBatches:
    """Batches of packed rows padded to their length bucket; reshuffled every epoch.

    `targets`: None (inference), labels (N,) or labels + teacher logits (N, 1 + C) float32.
    """

    def __init__(self, packed: Sequence[Sequence[int]], targets: Optional[np.ndarray],
                 batch_size: int, sequence_length: int, pad_id: int = 0, shuffle: bool = False,
                 seed: int = 0):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}.")
        self.packed = packed
        self.targets = targets
        self.batch_size = batch_size
        self.pad_id = pad_id
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)
        lengths = np.array([len(p) for p in packed])
        self.bounds = bucket_bounds(sequence_length)
        self.bucket_of = np.searchsorted(self.bounds, lengths)
        self.batches = self._make_batches()

    def _make_batches(self) -> List[np.ndarray]:
        batches = []
        for bucket in range(len(self.bounds)):
            rows = np.flatnonzero(self.bucket_of == bucket)
            if self.shuffle:
                rows = self.rng.permutation(rows)
            batches += [rows[i:i + self.batch_size] for i in range(0, len(rows), self.batch_size)]
        if self.shuffle:
            batches = [batches[i] for i in self.rng.permutation(len(batches))]
        return batches

    def __len__(self):
        return len(self.batches)

    def dataset(self) -> tf.data.Dataset:
        """A tf.data pipeline over all batches (reshuffled on every pass), (B, None) shapes."""
        def generate():
            if self.shuffle:
                self.batches = self._make_batches()
            for index in range(len(self)):
                yield self[index]

        ids = tf.TensorSpec([None, None], tf.int32)
        inputs = {"token_ids": ids, "segment_ids": ids, "padding_mask": ids}
        if self.targets is None:
            signature = (inputs,)
        else:
            signature = (inputs, tf.TensorSpec([None] + list(self.targets.shape[1:]),
                                               tf.as_dtype(self.targets.dtype)))
        dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
        return dataset.apply(tf.data.experimental.assert_cardinality(len(self))).prefetch(2)

    def order(self) -> np.ndarray:
        """Row indices in the order batches yield them (to realign predictions; no shuffle)."""
        return np.concatenate(self.batches) if self.batches else np.zeros([0], np.int64)

    def __getitem__(self, index):
        rows = self.batches[index]
        width = self.bounds[self.bucket_of[rows].max()]
        token_ids = np.full((len(rows), width), self.pad_id, np.int32)  # (B, T)
        padding_mask = np.zeros((len(rows), width), np.int32)  # (B, T), 1 = real token
        for i, row in enumerate(rows):
            token_ids[i, :len(self.packed[row])] = self.packed[row]
            padding_mask[i, :len(self.packed[row])] = 1
        inputs = {"token_ids": token_ids,
                  "segment_ids": np.zeros_like(token_ids),
                  "padding_mask": padding_mask}
        if self.targets is None:
            return (inputs,)
        return inputs, self.targets[rows]
