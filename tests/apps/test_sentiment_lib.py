"""Sentiment app pieces without training: TSV reading, length buckets, distillation loss."""
import numpy as np
import pytest
import tensorflow as tf

from apps.sentiment import data
from apps.sentiment import lib


def test_read_tsv_and_bad_rows(tmp_path):
    good = tmp_path / "good.tsv"
    good.write_text("sentence\tlabel\na fine film \t1\ndull \t0\n", encoding="utf-8")
    texts, labels = data.read_tsv(good)
    assert texts == ["a fine film", "dull"] and labels.tolist() == [1, 0]
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence\tlabel\noops\t7\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.tsv:2"):
        data.read_tsv(bad)
    with pytest.raises(ValueError, match="does not exist"):
        data.read_tsv(tmp_path / "missing.tsv")


def test_batches_pad_to_bucket_and_keep_every_row():
    packed = [[101] + [7] * n + [102] for n in (1, 30, 3, 14, 60, 2)]
    targets = np.arange(6, dtype=np.int32)
    batches = data.PaddedBatches(packed, targets, batch_size=2, sequence_length=64)
    seen = []
    for i in range(len(batches)):
        inputs, y = batches[i]
        width = inputs["token_ids"].shape[1]
        assert width in (16, 32, 64)
        assert (inputs["padding_mask"].sum(1) == [len(packed[r]) for r in y]).all()
        assert width == data.bucket_bounds(64)[np.searchsorted([16, 32, 48, 64],
                                                               inputs["padding_mask"].sum(1).max())]
        seen += y.tolist()
    assert sorted(seen) == list(range(6)) and seen == batches.order().tolist()


def test_pack_truncates():
    assert data.pack([5, 6, 7, 8], 4, cls_id=1, sep_id=2) == [1, 5, 6, 2]


def test_distillation_loss_mixes_ce_and_mse_and_skips_missing_teacher():
    loss = lib.distillation_loss(0.5)
    y_true = tf.constant([[1, 2.0, -1.0], [0, np.nan, np.nan]])
    y_pred = tf.constant([[1.0, 0.0], [1.0, 0.0]])
    ce = -np.log(np.exp(0.0) / (np.exp(1.0) + 1.0))  # label 1, logits (1, 0)
    ce_row2 = -np.log(np.exp(1.0) / (np.exp(1.0) + 1.0))
    np.testing.assert_allclose(loss(y_true, y_pred).numpy(), [0.5 * ce + 0.5 * 1.0, ce_row2],
                               rtol=1e-5)
    with tf.GradientTape() as tape:
        tape.watch(y_pred)
        value = tf.reduce_sum(loss(y_true, y_pred))
    assert np.isfinite(tape.gradient(value, y_pred).numpy()).all()
