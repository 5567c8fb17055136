"""Input pipelines: every file format, held-out split, fixed shapes vs length buckets."""
import dataclasses
import json

import numpy as np
import tensorflow as tf

from keras_llm.training import config as config_lib
from keras_llm.training import data
from keras_llm.training.tokenizer import CharTokenizer, special_token_ids

LINES = [f"line number {i} says {'word ' * (i % 7)}".strip() for i in range(40)]


def _config(files, fmt="text", **data_kwargs):
    cfg = config_lib.TrainConfig(objective="clm", seed=3)
    return dataclasses.replace(cfg, data=dataclasses.replace(
            cfg.data, format=fmt, train_files=tuple(files), sequence_length=16, **data_kwargs))


def _strings(config, split):
    return [x.decode() for x in data.records(config, split).as_numpy_iterator()]


def test_all_formats_read_the_same_records_and_hold_out_the_tail(tmp_path):
    (tmp_path / "a.txt").write_text("\n".join(LINES) + "\n")
    (tmp_path / "a.tsv").write_text("label\ttext\n" + "".join(f"0\t{s}\n" for s in LINES))
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"text": s}) + "\n" for s in LINES))
    for fmt, name in [("text", "a.txt"), ("tsv", "a.tsv"), ("jsonl", "a.jsonl")]:
        cfg = _config([tmp_path / name], fmt, eval_fraction=0.25)
        assert _strings(cfg, "train") == LINES[:30], fmt
        assert _strings(cfg, "eval") == LINES[30:], fmt
    with tf.io.TFRecordWriter(str(tmp_path / "a.tfrecord")) as w:
        for s in LINES:
            feature = {"text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[s.encode()]))}
            w.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    cfg = _config([tmp_path / "a.tfrecord"], "tfrecord", eval_files=(str(tmp_path / "a.tfrecord"),))
    assert _strings(cfg, "train") == LINES


def test_fixed_shapes_vs_buckets(tmp_path):
    short = ["ab " * (i % 6 + 1) for i in range(200)]  # 3..18 characters
    (tmp_path / "a.txt").write_text("\n".join(short) + "\n")
    tok = CharTokenizer(64)
    special = special_token_ids(tok)
    fixed = _config([tmp_path / "a.txt"], packing="lines", fixed_shapes=True)
    ds = data.make_dataset(fixed, tok, special, 64, "train", 4)
    assert ds.element_spec[0]["token_ids"].shape.as_list() == [4, 16]
    shapes = {tuple(f["token_ids"].shape) for f, _, _ in ds.take(10)}
    assert shapes == {(4, 16)}
    dynamic = dataclasses.replace(fixed, data=dataclasses.replace(
            fixed.data, fixed_shapes=False, bucket_boundaries=(8, 12)))
    ds = data.make_dataset(dynamic, tok, special, 64, "train", 4)
    assert ds.element_spec[0]["token_ids"].shape.as_list() == [None, None]
    widths = {int(f["token_ids"].shape[1]) for f, _, _ in ds.take(30)}
    assert len(widths) > 1 and max(widths) <= 16, widths
    for features, labels, weights in ds.take(10):
        # Padding never counts as a target: targets are the real inputs minus the last one.
        real = features["padding_mask"].numpy() > 0
        assert not (weights.numpy() > 0)[~real].any()
        np.testing.assert_array_equal(weights.numpy().sum(1), real.sum(1) - 1 + (
                real[:, -1] & (labels.numpy()[:, -1] != 0)))


def test_concat_packing_has_no_padding_and_is_deterministic(tmp_path):
    (tmp_path / "a.txt").write_text("\n".join(LINES * 5) + "\n")
    cfg = _config([tmp_path / "a.txt"])
    tok = CharTokenizer(64)
    first = [b[1].numpy() for b in data.make_dataset(cfg, tok, special_token_ids(tok), 64,
                                                      "train", 4).take(3)]
    again = [b[1].numpy() for b in data.make_dataset(cfg, tok, special_token_ids(tok), 64,
                                                      "train", 4).take(3)]
    np.testing.assert_array_equal(first, again)
    _, _, weights = next(iter(data.make_dataset(cfg, tok, special_token_ids(tok), 64, "train", 4)))
    assert weights.numpy().min() == 1.0


def test_document_format_splits_characters_and_keeps_whole_text_tokens(tmp_path):
    """format=document: first 75% / last 25% of the characters; paragraphs joined give the part
    back exactly, and byte-level BPE tokens of the pieces == tokens of the whole part (no
    end tokens in between, so the packed stream is the whole text's)."""
    from keras_llm.tokenizers import BytePairTokenizer, save_bpe, train_bpe
    text = "".join(f"SPEAKER {i}:\nSome words, {i} times.\n\n\n" if i % 3 == 0 else
                   f"SPEAKER {i}:\nMore words here.\n\n" for i in range(30))
    (tmp_path / "doc.txt").write_text(text)
    cfg = _config([tmp_path / "doc.txt"], "document", eval_fraction=0.25)
    train, held_out = _strings(cfg, "train"), _strings(cfg, "eval")
    cut = int(len(text) * 0.75)
    assert "".join(train) == text[:cut] and "".join(held_out) == text[cut:]
    assert len(train) > 10
    vocab, merges = train_bpe(train, 400)
    tokenizer = BytePairTokenizer(*save_bpe(vocab, merges, str(tmp_path / "bpe")))
    pieces = [i for ids in tokenizer.encode(train) for i in ids]
    assert pieces == tokenizer.encode(["".join(train)])[0]
    special = special_token_ids(tokenizer)
    rows = list(data.make_dataset(cfg, tokenizer, special, tokenizer.vocabulary_size, "eval",
                                  2).as_numpy_iterator())
    stream = tokenizer.encode([text[cut:]])[0]
    first = rows[0][0]["token_ids"][0]
    assert first.tolist() == stream[:len(first)]  # no end token between paragraphs


def test_parallel_format_reads_aligned_gzip_pairs_and_rejects_misaligned(tmp_path):
    import gzip
    import pytest
    source = [f"quelle {i}" for i in range(10)]
    target = [f"target {i}" for i in range(10)]
    with gzip.open(tmp_path / "train.de.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(source) + "\n")
    (tmp_path / "train.en").write_text("\n".join(target) + "\n", encoding="utf-8")
    files = (str(tmp_path / "train.de.gz"), str(tmp_path / "train.en"))
    cfg = config_lib.TrainConfig(objective="seq2seq", data=config_lib.DataConfig(
            format="parallel", packing="lines", train_files=files, eval_fraction=0.2))
    config_lib.validate(cfg)
    pairs = [(a.decode(), b.decode()) for a, b in data.records(cfg, "train").as_numpy_iterator()]
    assert pairs == list(zip(source, target))[:8]
    held = [(a.decode(), b.decode()) for a, b in data.records(cfg, "eval").as_numpy_iterator()]
    assert held == list(zip(source, target))[8:]
    (tmp_path / "train.en").write_text("\n".join(target[:9]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="has 10 lines but .*train.en has 9"):
        data.records(cfg, "train")
    odd = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, train_files=files[:1]))
    with pytest.raises(ValueError, match="in \\(source, target\\) pairs"):
        data.records(odd, "train")
    with pytest.raises(ValueError, match="needs objective=seq2seq"):
        config_lib.validate(dataclasses.replace(cfg, objective="clm"))
