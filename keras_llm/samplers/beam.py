"""Beam search with a length penalty and an end token.

Shapes: B batch, K beams, V vocabulary, T_max buffer (= cache) length.

Each row keeps K alive beams (no end token yet) and K finished ones. At every step the
2K best continuations of the alive beams are scored; those that end (the end token, or
the row's last allowed token) join the finished set with the score
log p / ((5 + n) / 6) ** length_penalty (GNMT; n new tokens, 0 = plain log p), the others
become the new alive beams, and the model cache is reordered with one gather on the batch
axis (the cache is a nest of fixed-shape tensors, batch first). The loop ends when no
alive beam of any row can still beat that row's worst finished beam (with a
length_penalty >= 0 a beam's best future score is its log p / penalty(max_new_tokens)).
"""
import tensorflow as tf

from keras_llm.samplers.base import last_logits

_HIDDEN = float("-inf")


def _repeat_beams(tensor, num_beams):
    """(B, ...) -> (B * K, ...): each row repeated K times, beams of a row adjacent."""
    return tf.repeat(tensor, num_beams, axis=0)


def _gather_beams(tensor, beam_indices, num_beams):
    """(B * K', ...) rows -> (B * K, ...) rows; beam_indices (B, K) pick among the K'."""
    batch_size = tf.shape(beam_indices)[0]
    old_beams = tf.shape(tensor)[0] // batch_size
    flat = beam_indices + tf.range(batch_size)[:, None] * old_beams  # (B, K)
    return tf.gather(tensor, tf.reshape(flat, [-1]), axis=0)


class BeamSampler:
    """Call: `sampler(next_fn, tokens, cache, index, max_new_tokens=None,
    end_token_id=None)`, arguments as for `Sampler` (max_new_tokens: one scalar for the
    batch). Returns {"tokens": (B, T_max) the best finished beam of each row,
    "num_tokens": (B,) its new tokens (end token not counted), "scores": (B,) its
    length-penalized log probability, "beams": (B, K, T_max) and "beam_scores": (B, K)
    all finished beams, best first}."""

    def __init__(self, num_beams=4, length_penalty=0.0, pad_token_id=0):
        if num_beams < 1:
            raise ValueError(f"num_beams must be >= 1, got {num_beams}.")
        if length_penalty < 0:
            raise ValueError(f"length_penalty must be >= 0, got {length_penalty}.")
        self.num_beams = num_beams
        self.length_penalty = length_penalty
        self.pad_token_id = pad_token_id

    def _penalty(self, length):
        return ((5.0 + tf.cast(length, tf.float32)) / 6.0) ** self.length_penalty

    def __call__(self, next_fn, tokens, cache, index, max_new_tokens=None,
                 end_token_id=None):
        k = self.num_beams
        tokens = tf.convert_to_tensor(tokens, tf.int32)
        batch_size, max_length = tf.shape(tokens)[0], tf.shape(tokens)[1]
        index = tf.convert_to_tensor(index, tf.int32)
        max_new = max_length - 1 - index
        if max_new_tokens is not None:
            max_new = tf.minimum(tf.cast(max_new_tokens, tf.int32), max_new)
        alive_log_p = tf.tile(tf.constant([[0.0] + [_HIDDEN] * (k - 1)]), [batch_size, 1])
        state = {
            "alive_tokens": _repeat_beams(tokens, k),  # (B * K, T_max)
            "alive_log_p": alive_log_p,  # (B, K); only beam 0 starts alive
            "cache": tf.nest.map_structure(lambda x: _repeat_beams(x, k), cache),
            "finished_tokens": tf.reshape(_repeat_beams(tokens, k), [batch_size, k, -1]),
            "finished_scores": tf.fill([batch_size, k], _HIDDEN),
            "finished_lengths": tf.zeros([batch_size, k], tf.int32),
        }

        def cond(i, state):
            best_alive = state["alive_log_p"][:, 0] / self._penalty(max_new)
            worst_finished = state["finished_scores"][:, -1]
            can_improve = tf.reduce_any(best_alive > worst_finished)
            return (i - index < max_new) & can_improve

        def body(i, state):
            return i + 1, self._step(next_fn, i, i + 1 - index, max_new, state,
                                     end_token_id)

        _, state = tf.while_loop(cond, body, (index, state))
        beams = state["finished_tokens"]
        return {"tokens": beams[:, 0], "num_tokens": state["finished_lengths"][:, 0],
                "scores": state["finished_scores"][:, 0], "beams": beams,
                "beam_scores": state["finished_scores"]}

    def _step(self, next_fn, i, length, max_new, state, end_token_id):
        """One token for every alive beam; length = new tokens after this step."""
        k = self.num_beams
        batch_size = tf.shape(state["alive_log_p"])[0]
        logits, cache = next_fn(tf.gather(state["alive_tokens"], [i], axis=1),
                                state["cache"], i)
        log_p = tf.nn.log_softmax(last_logits(logits))  # (B * K, V)
        vocab = tf.shape(log_p)[-1]
        log_p = state["alive_log_p"][:, :, None] + tf.reshape(log_p, [batch_size, k, vocab])
        top_log_p, top = tf.math.top_k(tf.reshape(log_p, [batch_size, k * vocab]), 2 * k)
        beam, token = top // vocab, top % vocab  # (B, 2K)
        candidates = _gather_beams(state["alive_tokens"], beam, 2 * k)  # (B * 2K, T_max)
        candidates = tf.reshape(candidates, [batch_size * 2 * k, -1])
        candidates = tf.where(tf.range(tf.shape(candidates)[1])[None] == i + 1,
                              tf.reshape(token, [-1, 1]), candidates)
        ended = tf.zeros_like(token, tf.bool) if end_token_id is None else tf.equal(
            token, end_token_id)
        finishing = ended | (length >= max_new)
        new_state = self._merge_finished(state, candidates, top_log_p, finishing, ended,
                                         length)
        # Alive: the K best continuations that did not finish (at most K of the 2K can).
        alive_scores = tf.where(finishing, _HIDDEN, top_log_p)
        alive_log_p, alive = tf.math.top_k(alive_scores, k)  # (B, K)
        new_state["alive_log_p"] = alive_log_p
        new_state["alive_tokens"] = _gather_beams(candidates, alive, k)
        new_state["cache"] = tf.nest.map_structure(
            lambda x: _gather_beams(x, tf.gather(beam, alive, batch_dims=1), k), cache)
        return new_state

    def _merge_finished(self, state, candidates, log_p, finishing, ended, length):
        """Keeps the K best of the old finished beams and the newly finished ones."""
        k = self.num_beams
        batch_size = tf.shape(log_p)[0]
        scores = tf.where(finishing, log_p / self._penalty(length), _HIDDEN)  # (B, 2K)
        all_scores = tf.concat([state["finished_scores"], scores], axis=1)  # (B, 3K)
        all_tokens = tf.concat([state["finished_tokens"],
                                tf.reshape(candidates, [batch_size, 2 * k, -1])], axis=1)
        lengths = length - tf.cast(ended, tf.int32)  # the end token is not counted
        all_lengths = tf.concat([state["finished_lengths"], lengths], axis=1)
        best_scores, best = tf.math.top_k(all_scores, k)
        return dict(state, finished_scores=best_scores,
                    finished_tokens=tf.gather(all_tokens, best, batch_dims=1),
                    finished_lengths=tf.gather(all_lengths, best, batch_dims=1))
