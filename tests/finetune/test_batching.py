"""LengthBuckets: bucket widths, every row once, epoch order fixed by (seed, epoch), resumable
streams, per-token targets."""
import numpy as np
import pytest

from keras_llm.finetune.batching import LengthBuckets, bucket_bounds

LENGTHS = (3, 30, 5, 16, 60, 2, 17, 9)


def _features(lengths=LENGTHS):
    rows = [[101] + [7] * (n - 2) + [102] for n in lengths]
    return {"token_ids": rows, "padding_mask": [[1] * len(r) for r in rows]}


def test_bounds():
    assert bucket_bounds((16, 32, 48, 96), 64) == [16, 32, 48, 64]
    assert bucket_bounds((), 64) == [64]


def test_batches_pad_to_their_bucket_and_keep_every_row():
    buckets = LengthBuckets(_features(), np.arange(8, dtype=np.int32), 2, 64, (16, 32),
                            pad_values={"token_ids": 0})
    seen = []
    for rows in buckets.epoch_batches(0):
        features, labels = buckets.batch(rows)
        lengths = features["padding_mask"].sum(1)
        assert lengths.tolist() == [LENGTHS[r] for r in labels]
        assert features["token_ids"].shape[1] == min(b for b in (16, 32, 64) if b >= lengths.max())
        seen += labels.tolist()
    assert sorted(seen) == list(range(8)) and seen == buckets.order().tolist()


def test_epoch_order_depends_only_on_seed_and_epoch_and_streams_resume():
    make = lambda: LengthBuckets(_features(), np.arange(8), 2, 64, (16, 32), shuffle=True,
                                 seed=3)
    a, b = make(), make()
    assert [r.tolist() for r in a.epoch_batches(1)] == [r.tolist() for r in b.epoch_batches(1)]
    assert [r.tolist() for r in a.epoch_batches(0)] != [r.tolist() for r in a.epoch_batches(1)]
    whole = [y.numpy().tolist() for _, y in a.dataset(0, 3 * len(a))]
    tail = [y.numpy().tolist() for _, y in b.dataset(5, 3 * len(b))]
    assert len(whole) == 3 * len(a) and tail == whole[5:]


def test_per_token_and_nested_targets_are_padded():
    tags = np.empty(len(LENGTHS), dtype=object)
    tags[:] = [np.arange(n, dtype=np.int32) for n in LENGTHS]
    teacher = np.ones((len(LENGTHS), 3), np.float32)
    buckets = LengthBuckets(_features(), (tags, teacher), 4, 64, (16,), target_pad=-100)
    signature = buckets.signature()
    assert signature[1][0].shape.as_list() == [None, None]
    assert signature[1][1].shape.as_list() == [None, 3]
    for features, (tag_batch, teacher_batch) in buckets.dataset():
        assert tag_batch.shape == features["token_ids"].shape
        assert ((tag_batch.numpy() == -100) == (features["padding_mask"].numpy() == 0)).all()
        assert teacher_batch.shape[1] == 3


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="over max_length=8"):
        LengthBuckets(_features(), None, 2, 8)
    with pytest.raises(ValueError, match="batch_size must be positive"):
        LengthBuckets(_features(), None, 0, 64)
    with pytest.raises(ValueError, match="make no batch"):
        LengthBuckets(_features((3,)), None, 2, 64, drop_remainder=True)


def test_predict_in_order_realigns_rows_and_pads_per_token_outputs():
    import keras
    from keras_llm.finetune import inference

    class Echo(keras.Model):
        def call(self, inputs):
            ids = keras.ops.cast(inputs["token_ids"], "float32")
            return {"length": keras.ops.sum(keras.ops.cast(inputs["padding_mask"], "float32"),
                                            axis=1),
                    "per_token": ids}

    buckets = LengthBuckets(_features(), None, 3, 64, (16, 32))
    out = inference.predict_in_order(Echo(), buckets, pad_value=-1.0)
    assert out["length"].tolist() == list(LENGTHS)
    assert out["per_token"].shape == (len(LENGTHS), 64)
    assert out["per_token"][4, :LENGTHS[4]].tolist() == [101] + [7] * 58 + [102]
    assert (out["per_token"][0, 16:] == -1).all() and (out["per_token"][0, 3:16] == 0).all()
