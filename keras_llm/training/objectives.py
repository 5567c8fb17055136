"""Pretraining objectives: batch builders (run inside tf.data) and the shared weighted loss.

Shapes: B batch, T sequence length, P masked positions per sequence, V vocabulary.
Every builder returns `(features, labels, weights)`; weights are 0 on padding, so losses and
perplexities count real target tokens only.
"""
import tensorflow as tf


def mask_tokens(token_ids, padding_mask, seed, *, vocabulary_size, mask_id, special_ids,
                mask_rate=0.15, max_predictions=20):
    """BERT masking: choose `mask_rate` of the real non-special tokens (at most P per row);
    replace 80% of them by [MASK], 10% by a random token, keep 10%.

    token_ids, padding_mask: (B, T). seed: int64 (2,) for stateless ops, so a batch's masks
    depend only on (run seed, batch index) and a resumed run masks exactly as before.
    Returns (masked_ids (B,T), positions (B,P), labels (B,P), weights (B,P) float32).
    """
    token_ids = tf.convert_to_tensor(token_ids, tf.int32)
    seeds = tf.random.experimental.stateless_split(seed, 3)
    is_special = tf.reduce_any(token_ids[..., None] == tf.constant(special_ids, tf.int32), -1)
    candidate = tf.logical_and(tf.cast(padding_mask, tf.bool), tf.logical_not(is_special))
    num_candidates = tf.reduce_sum(tf.cast(candidate, tf.float32), axis=1)          # (B,)
    num_predict = tf.minimum(tf.round(num_candidates * mask_rate), float(max_predictions))
    num_predict = tf.where(num_candidates > 0, tf.maximum(num_predict, 1.0), 0.0)
    scores = tf.where(candidate, tf.random.stateless_uniform(tf.shape(token_ids), seeds[0]), -1.0)
    k = tf.minimum(max_predictions, tf.shape(token_ids)[1])
    _, positions = tf.math.top_k(scores, k=k)                                      # (B,P) distinct
    rank = tf.range(k, dtype=tf.float32)[None, :]
    weights = tf.cast(rank < num_predict[:, None], tf.float32)
    originals = tf.gather(token_ids, positions, batch_dims=1)
    labels = originals * tf.cast(weights, tf.int32)
    roll = tf.random.stateless_uniform(tf.shape(positions), seeds[1])
    random_ids = tf.random.stateless_uniform(tf.shape(positions), seeds[2], minval=0,
                                             maxval=vocabulary_size, dtype=tf.int32)
    random_special = tf.reduce_any(random_ids[..., None] == tf.constant(special_ids, tf.int32), -1)
    random_ids = tf.where(random_special, mask_id, random_ids)
    replacement = tf.where(roll < 0.8, mask_id, tf.where(roll < 0.9, random_ids, originals))
    replacement = tf.where(weights > 0, replacement, originals)
    # Positions are distinct within a row (top_k), so the scatter has no collisions.
    batch_index = tf.broadcast_to(tf.range(tf.shape(positions)[0])[:, None], tf.shape(positions))
    indices = tf.stack([batch_index, positions], axis=-1)
    masked = tf.tensor_scatter_nd_update(token_ids, indices, replacement)
    return masked, positions, labels, weights


def mlm_batch(token_ids, padding_mask, seed, *, vocabulary_size, special, mask_rate,
              max_predictions):
    special_ids = sorted({v for v in special.values() if v is not None})
    masked, positions, labels, weights = mask_tokens(
            token_ids, padding_mask, seed, vocabulary_size=vocabulary_size,
            mask_id=special["mask"], special_ids=special_ids, mask_rate=mask_rate,
            max_predictions=max_predictions)
    features = {"token_ids": masked, "segment_ids": tf.zeros_like(masked),
                "padding_mask": tf.cast(padding_mask, tf.int32), "mask_positions": positions}
    return features, labels, weights


def clm_batch(token_ids, padding_mask):
    """token_ids (B, T+1) -> inputs (B,T) predicting labels (B,T) = the next token."""
    padding_mask = tf.cast(padding_mask, tf.int32)
    features = {"token_ids": token_ids[:, :-1], "padding_mask": padding_mask[:, :-1]}
    return features, token_ids[:, 1:], tf.cast(padding_mask[:, 1:], tf.float32)


def seq2seq_batch(source_ids, source_mask, target_ids, target_mask):
    """Teacher forcing: target_ids (B, T+1) = [start] y [end]; decoder reads [:-1], predicts [1:]."""
    target_mask = tf.cast(target_mask, tf.int32)
    features = {"encoder_token_ids": source_ids,
                "encoder_padding_mask": tf.cast(source_mask, tf.int32),
                "decoder_token_ids": target_ids[:, :-1],
                "decoder_padding_mask": target_mask[:, :-1]}
    return features, target_ids[:, 1:], tf.cast(target_mask[:, 1:], tf.float32)


def weighted_cross_entropy(labels, logits, weights, label_smoothing=0.0):
    """Sum over targets of the (smoothed) cross entropy times weights; float32 for stability.

    logits (B,*,V), labels (B,*), weights (B,*). Returns (loss_sum, weight_sum) scalars so that
    callers can divide by a count reduced across replicas and micro-batches.
    """
    logits = tf.cast(logits, tf.float32)
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    nll = -tf.gather(log_probs, labels, batch_dims=len(labels.shape))
    if label_smoothing:
        smooth = -tf.reduce_mean(log_probs, axis=-1)
        nll = (1.0 - label_smoothing) * nll + label_smoothing * smooth
    weights = tf.cast(weights, tf.float32)
    return tf.reduce_sum(nll * weights), tf.reduce_sum(weights)
