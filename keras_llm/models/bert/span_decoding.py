"""Span decoding: windows' start/end logits -> one answer span per example, host and graph.

For every window, start and end probabilities are softmaxes of the logits over its real tokens
(padding excluded; [CLS] included, so a window the model thinks lacks the answer gives its
context spans little mass). A span (i, j) is allowed when both are context tokens
(`token_starts >= 0`) and i <= j < i + max_answer_tokens (at most `max_answer_tokens` tokens,
as Hugging Face's max_answer_length); its score is p_start(i) * p_end(j). Each example takes
its best span over all its windows (ties: first window, then first start, then shortest), and
the answer's code-point offsets into the context are [token_starts[i], token_ends[j]), so the
answer is cut from the original context, never detokenized. An example without any context
token gets start = end = -1 and score 0.

`decode_spans` (TF, core ops) and `decode_spans_numpy` (host) run the same arithmetic in
float32 and pick the same spans. Shapes: W windows, T tokens, A = max_answer_tokens,
B examples.
"""
from typing import Dict

import numpy as np
import tensorflow as tf

NO_ANSWER = -1
OFFSET_KEYS = ("token_starts", "token_ends")  # -1 (NO_ANSWER) off the context


def decode_spans(start_logits, end_logits, padding_mask, token_starts, token_ends,
                 window_example, num_examples, max_answer_tokens=30) -> Dict[str, tf.Tensor]:
    """-> {"start", "end"} int32 (B,) code-point offsets and "score" float32 (B,)."""
    window_best, window_index = _window_best_spans(
            tf.cast(start_logits, tf.float32), tf.cast(end_logits, tf.float32),
            tf.cast(padding_mask, tf.bool), tf.convert_to_tensor(token_starts) >= 0,
            max_answer_tokens)
    window_example = tf.cast(window_example, tf.int32)
    best = tf.math.unsorted_segment_max(window_best, window_example, num_examples)  # (B,)
    windows = tf.range(tf.size(window_example))
    is_best = tf.equal(window_best, tf.gather(best, window_example))
    chosen = tf.math.unsorted_segment_min(tf.where(is_best, windows, tf.size(windows)),
                                          window_example, num_examples)  # (B,)
    found = tf.math.is_finite(best) & (chosen < tf.size(windows))
    chosen = tf.where(found, chosen, 0)
    span = tf.gather(window_index, chosen)  # (B, 2): start token, end token
    start = tf.gather_nd(token_starts, tf.stack([chosen, span[:, 0]], axis=1))
    end = tf.gather_nd(token_ends, tf.stack([chosen, span[:, 1]], axis=1))
    return {"start": tf.where(found, tf.cast(start, tf.int32), NO_ANSWER),
            "end": tf.where(found, tf.cast(end, tf.int32), NO_ANSWER),
            "score": tf.where(found, tf.exp(best), 0.0)}


def _window_best_spans(start_logits, end_logits, padding_mask, context_mask, max_answer_tokens):
    """(W,) best log span probability (-inf: no context token), (W, 2) its token indices."""
    neg_inf = tf.constant(-np.inf, tf.float32)
    start_lp = tf.nn.log_softmax(tf.where(padding_mask, start_logits, neg_inf), axis=-1)
    end_lp = tf.nn.log_softmax(tf.where(padding_mask, end_logits, neg_inf), axis=-1)
    start_lp = tf.where(context_mask, start_lp, neg_inf)  # (W, T)
    end_lp = tf.where(context_mask, end_lp, neg_inf)
    length = tf.shape(start_lp)[1]
    end_lp = tf.pad(end_lp, [[0, 0], [0, max_answer_tokens]], constant_values=-np.inf)
    ends = tf.range(length)[:, None] + tf.range(max_answer_tokens)[None, :]  # (T, A)
    scores = start_lp[:, :, None] + tf.gather(end_lp, ends, axis=1)  # (W, T, A)
    flat = tf.reshape(scores, [tf.shape(scores)[0], -1])  # (W, T * A)
    best = tf.argmax(flat, axis=1, output_type=tf.int32)
    first = best // max_answer_tokens
    return tf.reduce_max(flat, axis=1), tf.stack([first, first + best % max_answer_tokens], 1)


def decode_spans_numpy(start_logits, end_logits, padding_mask, token_starts, token_ends,
                       window_example, num_examples, max_answer_tokens=30) -> Dict[str, np.ndarray]:
    """Host twin of `decode_spans` on numpy arrays (W, T) (rows may be padded to any T)."""
    token_starts, token_ends = np.asarray(token_starts), np.asarray(token_ends)
    window_example = np.asarray(window_example)
    start_lp = _log_softmax(start_logits, padding_mask)
    end_lp = _log_softmax(end_logits, padding_mask)
    context = token_starts >= 0
    start_lp, end_lp = np.where(context, start_lp, -np.inf), np.where(context, end_lp, -np.inf)
    length = start_lp.shape[1]
    end_lp = np.pad(end_lp, [(0, 0), (0, max_answer_tokens)], constant_values=-np.inf)
    ends = np.arange(length)[:, None] + np.arange(max_answer_tokens)[None, :]
    flat = (start_lp[:, :, None] + end_lp[:, ends]).reshape(len(start_lp), -1)
    out = {"start": np.full([num_examples], NO_ANSWER, np.int32),
           "end": np.full([num_examples], NO_ANSWER, np.int32),
           "score": np.zeros([num_examples], np.float32)}
    for b in range(num_examples):
        rows = np.flatnonzero(window_example == b)
        if not len(rows) or not np.isfinite(flat[rows].max()):
            continue
        w = rows[np.argmax(flat[rows].max(axis=1))]
        best = int(np.argmax(flat[w]))
        first = best // max_answer_tokens
        last = first + best % max_answer_tokens
        out["start"][b], out["end"][b] = token_starts[w, first], token_ends[w, last]
        out["score"][b] = np.exp(flat[w, best])
    return out


def _log_softmax(logits, padding_mask):
    x = np.where(np.asarray(padding_mask) > 0, np.asarray(logits, np.float32), -np.inf)
    x = x - x.max(axis=-1, keepdims=True)
    return (x - np.log(np.exp(x).sum(axis=-1, keepdims=True))).astype(np.float32)


def cut_answers(contexts, start, end) -> tf.Tensor:
    """tf.string (B,): contexts[b][start[b]:end[b]] in code points; "" where start < 0."""
    answers = tf.strings.substr(contexts, tf.maximum(start, 0), tf.maximum(end - start, 0),
                                unit="UTF8_CHAR")
    return tf.where(start >= 0, answers, "")
