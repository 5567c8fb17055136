"""tf.data input pipelines: records from text/TSV/JSONL/TFRecord files, tokenized in `map`.

Shapes: B batch, T sequence length, S source length. Two batching modes:
- fixed shapes (`data.fixed_shapes`): pad to T and `drop_remainder=True`, one compiled shape for
  TPUs/XLA;
- dynamic padding: examples grouped into length buckets, each batch padded to its longest row
  (less wasted compute on GPUs/CPUs).
`packing=concat` joins the token stream and cuts fixed chunks (LM pretraining, no padding at all).
`format=document` reads each file as one text (newlines and blank lines kept, no end token
between its paragraphs), the held-out part being its last `eval_fraction` of characters, as
nanoGPT splits Tiny Shakespeare. `format=parallel` (seq2seq) reads line-aligned source and
target files as translation corpora ship them (`train.de.gz`, `train.en.gz`; gzip by suffix):
the file lists name the source file, then its target file, for each pair.
Every random choice (shuffle, masking) is seeded from the config and the batch index, and the
iterator is checkpointed, so a resumed run sees exactly the batches it would have seen.
"""
import gzip
import json
import re
from typing import List, Tuple

import tensorflow as tf

from keras_llm.training import objectives
from keras_llm.training.config import TrainConfig

AUTOTUNE = tf.data.AUTOTUNE


def _count_lines(path: str) -> int:
    with (gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")) as f:
        return sum(1 for _ in f)


def _split_range(num: int, split: str, config) -> Tuple[int, int]:
    """Held-out part = the last `eval_fraction` of each file (contiguous, so no leakage by line)."""
    if config.eval_files:
        return 0, num
    cut = int(round(num * (1.0 - config.eval_fraction)))
    return (0, cut) if split == "train" else (cut, num)


def _files(config, split: str) -> List[str]:
    field = "eval_files" if (split == "eval" and config.eval_files) else "train_files"
    files = getattr(config, field)
    for path in files:
        if not tf.io.gfile.exists(path):
            raise ValueError(f"data file {path!r} does not exist; point data.{field} at your "
                             f"files, e.g. --override=data.{field}=a.txt,b.txt.")
    return list(files)


def check_files(config: TrainConfig) -> None:
    """Raises ValueError naming the first missing data file and the field to set."""
    _files(config.data, "train")
    _files(config.data, "eval")


def _tsv_column(path: str, field: str, header: bool) -> int:
    if field.isdigit():
        return int(field)
    if not header:
        raise ValueError(f"TSV field {field!r} is a name but data.tsv_header=false; use an index.")
    with open(path, encoding="utf-8") as f:
        names = f.readline().rstrip("\n").split("\t")
    if field not in names:
        raise ValueError(f"TSV column {field!r} not in the header of {path}: {names}.")
    return names.index(field)


def _file_records(path: str, config, fields: List[str], split: str) -> tf.data.Dataset:
    """One file -> dataset of tf.string scalars (one field) or tuples (several fields)."""
    fmt = config.format
    if fmt == "document":
        return tf.data.Dataset.from_tensor_slices(document_part(path, config, split))
    if fmt == "tfrecord":
        if not config.eval_files:
            raise ValueError("format=tfrecord needs explicit data.eval_files (no line split).")
        spec = {f: tf.io.FixedLenFeature([], tf.string) for f in fields}
        ds = tf.data.TFRecordDataset(path).map(lambda r: tf.io.parse_single_example(r, spec))
        return ds.map(lambda ex: tuple(ex[f] for f in fields) if len(fields) > 1 else ex[fields[0]])
    if fmt == "jsonl":
        # Host-side parse (no JSON op in core TF); convert big corpora to TFRecord shards.
        with (gzip.open(path, "rt", encoding="utf-8") if str(path).endswith(".gz")
              else open(path, encoding="utf-8")) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        start, stop = _split_range(len(rows), split, config)
        columns = tuple([str(r[f]) for r in rows[start:stop]] for f in fields)
        return tf.data.Dataset.from_tensor_slices(columns if len(fields) > 1 else columns[0])
    skip = 1 if (fmt == "tsv" and config.tsv_header) else 0
    start, stop = _split_range(_count_lines(path) - skip, split, config)
    ds = tf.data.TextLineDataset(path).skip(skip + start).take(stop - start)
    if fmt == "text":
        return ds.filter(lambda line: tf.strings.length(tf.strings.strip(line)) > 0)
    cols = [_tsv_column(path, f, config.tsv_header) for f in fields]
    ds = ds.map(lambda line: tf.strings.split(line, "\t"))
    return ds.map(lambda parts: tuple(parts[c] for c in cols) if len(cols) > 1 else parts[cols[0]])


def document_part(path: str, config, split: str) -> List[str]:
    """format=document: the file's first (train) or last (eval) characters, as paragraphs
    (joined, they are exactly that part of the file).

    Paragraphs are cut before the last newline of a blank-line run ("A\n" + "\nB"), where
    byte-level BPE pre-tokenization of the whole text already has a boundary: the pieces
    tokenize to exactly the whole text's tokens (cut after the run, "A\n\n" would end in a
    "\n\n" token that the whole text, tokenized at once, never has)."""
    with tf.io.gfile.GFile(path, "r") as f:
        text = f.read()
    if not config.eval_files:
        cut = int(len(text) * (1.0 - config.eval_fraction))
        text = text[:cut] if split == "train" else text[cut:]
    return [p for p in re.split(r"(?<=\n)(?=\n[^\n])", text) if p] or [""]


def _line_dataset(path: str) -> tf.data.Dataset:
    return tf.data.TextLineDataset(str(path), compression_type="GZIP" if str(path).endswith(".gz")
                                   else "")


def _parallel_records(files: List[str], config, split: str) -> List[tf.data.Dataset]:
    """format=parallel: (source, target) line pairs from files named source, target, ..."""
    if len(files) % 2:
        raise ValueError(f"format=parallel needs the files in (source, target) pairs, got "
                         f"{len(files)} files: {files}.")
    datasets = []
    for source, target in zip(files[::2], files[1::2]):
        counts = {path: _count_lines(path) for path in (source, target)}
        if counts[source] != counts[target]:
            raise ValueError(f"format=parallel: {source} has {counts[source]} lines but "
                             f"{target} has {counts[target]}; the files must be line-aligned.")
        start, stop = _split_range(counts[source], split, config)
        ds = tf.data.Dataset.zip((_line_dataset(source), _line_dataset(target)))
        datasets.append(ds.skip(start).take(stop - start))
    return datasets


def records(config: TrainConfig, split: str) -> tf.data.Dataset:
    fields = [config.data.text_field]
    if config.objective == "seq2seq":
        fields.append(config.data.target_field)
    if config.data.format == "parallel":
        datasets = _parallel_records(_files(config.data, split), config.data, split)
    else:
        datasets = [_file_records(p, config.data, fields, split)
                    for p in _files(config.data, split)]
    ds = datasets[0]
    for other in datasets[1:]:
        ds = ds.concatenate(other)
    return ds


def texts_for_vocabulary(config: TrainConfig):
    """Training-split texts as Python strings (for vocabulary training; never the held-out part)."""
    for item in records(config, "train").as_numpy_iterator():
        for value in (item if isinstance(item, tuple) else (item,)):
            yield value.decode("utf-8")


def _concat_rows(ds, tokenizer, special, length: int, end_token=True) -> tf.data.Dataset:
    """Token stream (each line ends with [end] if `end_token`) cut into rows of `length`
    tokens, mask all ones."""
    def tokens(strings):
        ids = tf.cast(tokenizer(strings), tf.int32)
        if not end_token:
            return ids.flat_values
        end = tf.fill([ids.nrows(), 1], special["end"])
        return tf.concat([ids, end], axis=1).flat_values
    ds = ds.batch(256).map(tokens, num_parallel_calls=AUTOTUNE).unbatch()
    ds = ds.batch(length, drop_remainder=True)
    return ds.map(lambda x: (x, tf.ones_like(x)))


def _line_rows(ds, tokenizer, special, length: int) -> tf.data.Dataset:
    """Each line -> ([start] tokens [end] truncated to `length`, ones mask); variable length."""
    def pack(strings):
        ids = tf.cast(tokenizer(strings), tf.int32)[:, : length - 2]
        start = tf.fill([ids.nrows(), 1], special["start"])
        end = tf.fill([ids.nrows(), 1], special["end"])
        return tf.concat([start, ids, end], axis=1)
    ds = ds.batch(256).map(pack, num_parallel_calls=AUTOTUNE).unbatch()
    return ds.map(lambda x: (x, tf.ones_like(x)))


def _batch_rows(ds, config: TrainConfig, pad_id: int, length: int, batch_size: int):
    """(ids (T',), mask (T',)) rows -> padded (B, T) batches, fixed or bucketed by length."""
    if config.data.fixed_shapes:
        return ds.padded_batch(batch_size, padded_shapes=([length], [length]),
                               padding_values=(pad_id, 0), drop_remainder=True)
    boundaries = sorted({b for b in config.data.bucket_boundaries if b < length} | {length + 1})
    return ds.bucket_by_sequence_length(
            lambda ids, mask: tf.shape(ids)[0], bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            padding_values=(pad_id, 0), drop_remainder=True)


def _seq2seq_rows(ds, tokenizer, special, length: int):
    def pack(ids):
        ids = tf.cast(ids, tf.int32)[: length - 2]
        return tf.concat([[special["start"]], ids, [special["end"]]], axis=0)

    def rows(source, target):
        src, tgt = pack(tokenizer(source[None])[0]), pack(tokenizer(target[None])[0])
        return src, tf.ones_like(src), tgt, tf.ones_like(tgt)
    return ds.map(rows, num_parallel_calls=AUTOTUNE)


def _batch_pairs(ds, config: TrainConfig, pad_id: int, batch_size: int):
    length = config.data.sequence_length
    shapes = ([length], [length], [length + 1], [length + 1])
    values = (pad_id, 0, pad_id, 0)
    if config.data.fixed_shapes:
        return ds.padded_batch(batch_size, padded_shapes=shapes, padding_values=values,
                               drop_remainder=True)
    boundaries = sorted({b for b in config.data.bucket_boundaries if b < length} | {length + 2})
    return ds.bucket_by_sequence_length(
            lambda s, sm, t, tm: tf.maximum(tf.shape(s)[0], tf.shape(t)[0]),
            bucket_boundaries=boundaries, bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            padding_values=values, drop_remainder=True)


def make_dataset(config: TrainConfig, tokenizer, special: dict, vocab_size: int, split: str,
                 batch_size: int, shard=(1, 0)) -> tf.data.Dataset:
    """Batches of (features, labels, weights) for `config.objective`; infinite for training.

    shard = (number of workers, this worker): each worker reads every n-th record.
    """
    training = split == "train"
    ds = records(config, split)
    if shard[0] > 1:
        ds = ds.shard(*shard)
    if training:
        ds = ds.repeat().shuffle(config.data.shuffle_buffer, seed=config.seed)
    length = config.data.sequence_length
    if config.objective == "seq2seq":
        ds = _batch_pairs(_seq2seq_rows(ds, tokenizer, special, length + 1), config,
                          special["pad"], batch_size)
        return _finish(ds.map(objectives.seq2seq_batch), training)
    row_length = length if config.objective == "mlm" else length + 1
    if config.data.packing == "concat":
        # Leave room for [start] and [end] around each MLM chunk.
        body = row_length - 2 if config.objective == "mlm" else row_length
        ds = _concat_rows(ds, tokenizer, special, body,
                          end_token=config.data.format != "document")
        if config.objective == "mlm":
            ds = ds.map(lambda x, m: (tf.concat([[special["start"]], x, [special["end"]]], 0),
                                      tf.ones([row_length], tf.int32)))
    else:
        ds = _line_rows(ds, tokenizer, special, row_length)
    if training:
        ds = ds.shuffle(config.data.shuffle_buffer, seed=config.seed + 1)
    ds = _batch_rows(ds, config, special["pad"], row_length, batch_size)
    if config.objective == "clm":
        return _finish(ds.map(objectives.clm_batch), training)
    seed_base = 1 if training else 2  # eval masks are fixed across evaluations

    def mlm(index, batch):
        seed = tf.stack([tf.cast(config.seed * 4 + seed_base, tf.int64), index])
        return objectives.mlm_batch(batch[0], batch[1], seed, vocabulary_size=vocab_size,
                                    special=special, mask_rate=config.mask_rate,
                                    max_predictions=config.max_predictions)
    return _finish(ds.enumerate().map(mlm, num_parallel_calls=AUTOTUNE), training)


def _finish(ds, training: bool):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    options.deterministic = True
    return ds.prefetch(AUTOTUNE if training else 1).with_options(options)
