"""MLM masking statistics, next-token shift, teacher forcing and the padding-aware loss."""
import numpy as np
import tensorflow as tf

from keras_llm.training import objectives

SPECIAL = [0, 1, 2, 3]  # pad, cls, sep, mask


def _batch(batch=256, length=64, vocab=100, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, vocab, size=(batch, length)).astype(np.int32)
    lengths = rng.integers(10, length, size=batch)
    mask = np.arange(length)[None, :] < lengths[:, None]
    ids[:, 0] = 1
    ids[np.arange(batch), lengths - 1] = 2
    ids[~mask] = 0
    return ids, mask.astype(np.int32)


def _mask(ids, mask, seed=(7, 0), max_predictions=20):
    return [t.numpy() for t in objectives.mask_tokens(
            ids, mask, tf.constant(seed, tf.int64), vocabulary_size=100, mask_id=3,
            special_ids=SPECIAL, mask_rate=0.15, max_predictions=max_predictions)]


def test_masks_15_percent_of_real_non_special_tokens():
    ids, mask = _batch()
    masked, positions, labels, weights = _mask(ids, mask)
    candidates = mask.sum(1) - 2  # minus [CLS] and [SEP]
    expected = np.minimum(np.maximum(np.round(candidates * 0.15), 1), 20)
    np.testing.assert_array_equal(weights.sum(1), expected)
    chosen = positions[weights > 0]
    rows = np.nonzero(weights > 0)[0]
    assert mask[rows, chosen].all(), "a padding position was masked"
    assert not np.isin(ids[rows, chosen], SPECIAL).any(), "a special token was masked"
    np.testing.assert_array_equal(labels[weights > 0], ids[rows, chosen])
    np.testing.assert_array_equal(labels[weights == 0], 0)


def test_80_10_10_split_and_untouched_rest():
    ids, mask = _batch(batch=1024)
    masked, positions, _, weights = _mask(ids, mask)
    rows = np.nonzero(weights > 0)[0]
    chosen = positions[weights > 0]
    before, after = ids[rows, chosen], masked[rows, chosen]
    frac_mask = np.mean(after == 3)
    frac_keep = np.mean(after == before)
    frac_random = 1 - frac_mask - frac_keep
    assert abs(frac_mask - 0.8) < 0.02 and abs(frac_keep - 0.1) < 0.02, (frac_mask, frac_keep)
    assert abs(frac_random - 0.1) < 0.02
    untouched = np.ones_like(ids, bool)
    untouched[rows, chosen] = False
    np.testing.assert_array_equal(masked[untouched], ids[untouched])


def test_masking_is_a_function_of_the_seed():
    ids, mask = _batch(batch=8)
    a, b, c = _mask(ids, mask, (1, 5)), _mask(ids, mask, (1, 5)), _mask(ids, mask, (1, 6))
    np.testing.assert_array_equal(a[0], b[0])
    assert (a[0] != c[0]).any()


def test_clm_targets_are_next_tokens_and_ignore_padding():
    ids = tf.constant([[1, 5, 6, 7, 2, 0]])
    mask = tf.constant([[1, 1, 1, 1, 1, 0]])
    features, labels, weights = objectives.clm_batch(ids, mask)
    np.testing.assert_array_equal(features["token_ids"], [[1, 5, 6, 7, 2]])
    np.testing.assert_array_equal(labels, [[5, 6, 7, 2, 0]])
    np.testing.assert_array_equal(weights, [[1, 1, 1, 1, 0]])


def test_seq2seq_teacher_forcing_shift():
    src = tf.constant([[1, 9, 2]])
    tgt = tf.constant([[1, 5, 6, 2, 0]])
    features, labels, weights = objectives.seq2seq_batch(src, tf.ones_like(src), tgt,
                                                         tf.constant([[1, 1, 1, 1, 0]]))
    np.testing.assert_array_equal(features["decoder_token_ids"], [[1, 5, 6, 2]])
    np.testing.assert_array_equal(labels, [[5, 6, 2, 0]])
    np.testing.assert_array_equal(weights, [[1, 1, 1, 0]])


def test_loss_ignores_padding_and_matches_label_smoothing_formula():
    logits = tf.random.stateless_normal((2, 3, 7), seed=(1, 2))
    labels = tf.constant([[1, 2, 3], [4, 5, 6]])
    weights = tf.constant([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    loss, count = objectives.weighted_cross_entropy(labels, logits, weights)
    logp = tf.nn.log_softmax(logits).numpy()
    nll = -np.take_along_axis(logp, labels.numpy()[..., None], -1)[..., 0]
    np.testing.assert_allclose(loss, (nll * weights).numpy().sum(), rtol=1e-6)
    assert float(count) == 3.0
    # Changing logits at padded targets must not change the loss.
    changed = tf.tensor_scatter_nd_update(logits, [[0, 2]], [tf.fill([7], 9.0)])
    np.testing.assert_allclose(objectives.weighted_cross_entropy(labels, changed, weights)[0], loss)
    smoothed, _ = objectives.weighted_cross_entropy(labels, logits, weights, label_smoothing=0.1)
    expected = 0.9 * nll - 0.1 * logp.mean(-1)
    np.testing.assert_allclose(smoothed, (expected * weights).numpy().sum(), rtol=1e-5)
