"""Samplers against fake models: a `next_fn` that looks logits up in a table.

The fake cache is a (B, 1) int32 counter of next_fn calls per row, so the tests also see
that the cache flows through the loop (and through the beam gathers).
"""
import numpy as np
import pytest
import tensorflow as tf

from keras_llm import samplers

B, V, T_MAX = 4, 10, 12


def _table_next_fn(table):
    """Logits of slot index + 1 = table[index] (T_MAX, B, V), whatever the tokens."""
    table = tf.constant(table, tf.float32)

    def next_fn(tokens, cache, index):
        return tf.gather(table, index), cache + 1
    return next_fn


def _markov_next_fn(transitions):
    """Logits = log transitions[last token] (V, V): a hand-made bigram model."""
    log_p = tf.math.log(tf.constant(transitions, tf.float32) + 1e-12)

    def next_fn(tokens, cache, index):
        return tf.gather(log_p, tokens[:, 0]), cache + 1
    return next_fn


def _run(sampler, next_fn, batch=B, index=2, **kwargs):
    tokens = tf.ones([batch, T_MAX], tf.int32)  # prompt = slots 0..index
    cache = tf.zeros([batch, 1], tf.int32)
    return sampler(next_fn, tokens, cache, index, **kwargs)


def _random_table(seed=0):
    return np.random.default_rng(seed).normal(size=(T_MAX, B, V)).astype("float32") * 3


def test_greedy_is_argmax_at_every_step():
    table = _random_table()
    out = _run(samplers.GreedySampler(), _table_next_fn(table))
    tokens = out["tokens"].numpy()
    np.testing.assert_array_equal(tokens[:, 3:], table[2:T_MAX - 1].argmax(-1).T)
    np.testing.assert_array_equal(tokens[:, :3], 1)  # the prompt is untouched
    np.testing.assert_array_equal(out["num_tokens"].numpy(), T_MAX - 3)


@pytest.mark.parametrize("temperature", [0.0, 1e-4])
def test_zero_or_tiny_temperature_is_greedy(temperature):
    table = _random_table(1)
    greedy = _run(samplers.GreedySampler(), _table_next_fn(table))["tokens"]
    for sampler in (samplers.TemperatureSampler(temperature),
                    samplers.TopKSampler(5, temperature=temperature),
                    samplers.TopPSampler(0.9, temperature=temperature)):
        out = _run(sampler, _table_next_fn(table), seed=7)["tokens"]
        np.testing.assert_array_equal(out.numpy(), greedy.numpy())


def test_per_row_temperature_zero_rows_are_greedy():
    table = _random_table(2)
    greedy = _run(samplers.GreedySampler(), _table_next_fn(table))["tokens"].numpy()
    temperature = tf.constant([0.0, 5.0, 0.0, 5.0])
    out = _run(samplers.TemperatureSampler(temperature), _table_next_fn(table),
               seed=3)["tokens"].numpy()
    np.testing.assert_array_equal(out[[0, 2]], greedy[[0, 2]])
    assert (out[[1, 3]] != greedy[[1, 3]]).any()


def _many_samples(sampler, logits, rows=256, seed=0):
    """Sample 9 tokens for each of `rows` rows (seeds seed..seed+rows-1) from fixed logits."""
    table = np.broadcast_to(logits, (T_MAX, rows, V))
    out = _run(sampler, _table_next_fn(table), batch=rows,
               seed=tf.range(seed, seed + rows))
    return out["tokens"].numpy()[:, 3:]


def test_top_k_never_picks_outside_the_k():
    logits = np.random.default_rng(3).normal(size=V).astype("float32")
    top3 = set(np.argsort(-logits)[:3])
    picked = _many_samples(samplers.TopKSampler(3, temperature=2.0), logits)
    assert set(np.unique(picked)) == top3  # only the k, and each of them


def test_top_k_per_row():
    logits = np.arange(V, dtype="float32")  # token V-1 most likely
    table = np.broadcast_to(logits, (T_MAX, 2, V))
    out = _run(samplers.TopKSampler(tf.constant([1, 2]), temperature=10.0),
               _table_next_fn(table), batch=2, seed=tf.constant([0, 1]))
    picked = out["tokens"].numpy()[:, 3:]
    np.testing.assert_array_equal(picked[0], V - 1)
    assert set(np.unique(picked[1])) <= {V - 1, V - 2}


def test_top_p_picks_only_inside_the_nucleus():
    probs = np.array([0.05, 0.5, 0.02, 0.3, 0.1, 0.01, 0.01, 0.005, 0.003, 0.002])
    logits = np.log(probs).astype("float32")
    # p = 0.75: tokens 1 (0.5) and 3 (0.3) hold 0.8 >= 0.75; token 4 is outside.
    picked = _many_samples(samplers.TopPSampler(0.75), logits)
    assert set(np.unique(picked)) == {1, 3}
    share = (picked == 1).mean()  # renormalized nucleus: 0.5 / 0.8 = 0.625
    assert abs(share - 0.625) < 0.05, share
    # p = 0.85 adds token 4 (mass before it 0.8 < 0.85); p = 0.4 keeps token 1 alone.
    assert set(np.unique(_many_samples(samplers.TopPSampler(0.85), logits))) == {1, 3, 4}
    assert set(np.unique(_many_samples(samplers.TopPSampler(0.4), logits))) == {1}


def test_top_p_filter_values():
    logits = np.log(np.array([[0.1, 0.6, 0.3], [0.1, 0.6, 0.3]], "float32"))
    kept = samplers.top_p_logits(logits, tf.constant([0.7, 1.0])).numpy() > -np.inf
    np.testing.assert_array_equal(kept, [[False, True, True], [True, True, True]])
    kept = samplers.top_k_logits(logits, tf.constant([1, 0])).numpy() > -np.inf
    np.testing.assert_array_equal(kept, [[False, True, False], [True, True, True]])


def test_same_seed_same_tokens_different_seed_different():
    logits = np.zeros(V, "float32")  # uniform: every token equally likely
    sampler = samplers.TopPSampler(0.95, k=8)
    a = _many_samples(sampler, logits, rows=8, seed=0)
    b = _many_samples(sampler, logits, rows=8, seed=0)
    c = _many_samples(sampler, logits, rows=8, seed=100)
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.5
    # A row depends on its own seed only: row 3 of seeds 0..7 == a batch of seed 3 alone.
    alone = _many_samples(sampler, logits, rows=1, seed=3)
    np.testing.assert_array_equal(alone[0], a[3])


def test_seeded_sampling_same_in_tf_function():
    table = _random_table(4)
    sampler = samplers.TopKSampler(4)
    eager = _run(sampler, _table_next_fn(table), seed=tf.constant([5, 6, 7, 8]))["tokens"]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)])
    def graph(seed):
        return _run(sampler, _table_next_fn(table), seed=seed)["tokens"]
    np.testing.assert_array_equal(graph(tf.constant([5, 6, 7, 8])).numpy(), eager.numpy())


def _end_at(steps, end=9):
    """Table whose argmax is token 2 except `end` at the given step of each row."""
    table = np.zeros((T_MAX, B, V), "float32")
    table[:, :, 2] = 1.0
    for row, step in enumerate(steps):
        if step is not None:
            table[2 + step, row, end] = 5.0
    return table


def test_end_token_stops_rows_independently():
    out = _run(samplers.GreedySampler(), _table_next_fn(_end_at([1, 4, None, 0])),
               end_token_id=9, max_new_tokens=6)
    tokens, num = out["tokens"].numpy()[:, 3:], out["num_tokens"].numpy()
    np.testing.assert_array_equal(num, [1, 4, 6, 0])
    np.testing.assert_array_equal(tokens[0, :3], [2, 9, 0])  # end token, then padding
    np.testing.assert_array_equal(tokens[1, :6], [2, 2, 2, 2, 9, 0])
    np.testing.assert_array_equal(tokens[2, :7], [2, 2, 2, 2, 2, 2, 0])  # max_new_tokens
    np.testing.assert_array_equal(tokens[3, :2], [9, 0])


def test_loop_stops_when_every_row_is_done():
    calls = []

    def next_fn(tokens, cache, index):
        calls.append(1)
        return tf.constant(_end_at([1, 2, 0, 1]))[index], cache
    _run(samplers.GreedySampler(), next_fn, end_token_id=9)
    assert len(calls) == 3  # the longest row ends at its 3rd token


def test_per_row_max_new_tokens():
    out = _run(samplers.GreedySampler(), _table_next_fn(_random_table(5)),
               max_new_tokens=tf.constant([0, 1, 3, 100]))
    np.testing.assert_array_equal(out["num_tokens"].numpy(), [0, 1, 3, T_MAX - 3])
    tokens = out["tokens"].numpy()
    assert (tokens[0, 3:] == 0).all() and (tokens[1, 4:] == 0).all()


@pytest.mark.parametrize("bad", [dict(p=0.0), dict(p=1.5), dict(p=0.5, temperature=-1.0)])
def test_bad_parameters_raise(bad):
    with pytest.raises(ValueError, match="p|temperature"):
        samplers.TopPSampler(**bad)


# Bigram model: start token 1 -> A=2 (0.6) or B=3 (0.4); A -> 5 tokens of 0.2 each;
# B -> C=4 (0.9); A's and C's continuations -> end token 9. Greedy takes A (0.6 * 0.2 =
# 0.12); the best sequence is B C (0.4 * 0.9 = 0.36).
def _bigram():
    p = np.zeros((V, V), "float32")
    p[1, 2], p[1, 3] = 0.6, 0.4
    p[2, 4:9] = 0.2
    p[3, 4], p[3, 5] = 0.9, 0.1
    p[4:9, 9] = 1.0
    p[9, 9] = 1.0
    return p


def test_beam_search_finds_the_best_sequence_where_greedy_fails():
    next_fn = _markov_next_fn(_bigram())
    greedy = _run(samplers.GreedySampler(), next_fn, batch=2, end_token_id=9)
    np.testing.assert_array_equal(greedy["tokens"].numpy()[0, 3:6], [2, 4, 9])
    for num_beams in (2, 3):
        beam = _run(samplers.BeamSampler(num_beams), next_fn, batch=2, end_token_id=9)
        np.testing.assert_array_equal(beam["tokens"].numpy()[:, 3:6], [[3, 4, 9]] * 2)
        np.testing.assert_array_equal(beam["num_tokens"].numpy(), [2, 2])
        np.testing.assert_allclose(beam["scores"].numpy(), np.log(0.36), atol=1e-4)
    # One beam is greedy.
    one = _run(samplers.BeamSampler(1), next_fn, batch=2, end_token_id=9)
    np.testing.assert_array_equal(one["tokens"].numpy()[:, 3:6], [[2, 4, 9]] * 2)


def test_beam_search_length_penalty_prefers_longer():
    # From 1: end now (0.55), or 2 3 4 and then the end (0.45 in all).
    # Plain log p keeps the immediate end; the GNMT penalty (alpha = 1) divides the long
    # one's log p by (5 + 4) / 6 and the short one's by 1, so the long one wins.
    p = np.zeros((V, V), "float32")
    p[1, 9], p[1, 2] = 0.55, 0.45
    p[2, 3], p[3, 4], p[4, 9], p[9, 9] = 1.0, 1.0, 1.0, 1.0
    next_fn = _markov_next_fn(p)
    plain = _run(samplers.BeamSampler(2), next_fn, batch=1, end_token_id=9)
    assert plain["num_tokens"].numpy()[0] == 0  # the immediate end wins on log p
    long = _run(samplers.BeamSampler(2, length_penalty=1.0), next_fn, batch=1,
                end_token_id=9)
    np.testing.assert_array_equal(long["tokens"].numpy()[0, 3:7], [2, 3, 4, 9])
    np.testing.assert_allclose(long["scores"].numpy()[0], np.log(0.45) / (9 / 6), atol=1e-5)


def test_beam_search_reorders_the_cache_and_runs_under_xla():
    next_fn = _markov_next_fn(_bigram())

    @tf.function(jit_compile=True)
    def search(tokens, cache):
        return samplers.BeamSampler(3)(next_fn, tokens, cache, 2, end_token_id=9)
    out = search(tf.ones([2, T_MAX], tf.int32), tf.zeros([2, 1], tf.int32))
    np.testing.assert_array_equal(out["tokens"].numpy()[:, 3:6], [[3, 4, 9]] * 2)


@pytest.mark.parametrize("sampler", [
    samplers.GreedySampler(), samplers.TopKSampler(3), samplers.TopPSampler(0.9, k=5)],
    ids=["greedy", "top_k", "top_p"])
def test_samplers_run_under_xla(sampler):
    table = _random_table(6)

    @tf.function(jit_compile=True)
    def run(seed):
        return _run(sampler, _table_next_fn(table), seed=seed)
    out = run(tf.constant([1, 2, 3, 4]))
    assert out["tokens"].shape == (B, T_MAX)
    np.testing.assert_array_equal(out["num_tokens"].numpy(), T_MAX - 3)
    np.testing.assert_array_equal(run(tf.constant([1, 2, 3, 4]))["tokens"].numpy(),
                                  out["tokens"].numpy())
