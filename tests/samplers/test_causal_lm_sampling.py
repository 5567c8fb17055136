"""Samplers driving a real (tiny) GptCausalLM through `call_with_cache`: mixed-length
prompts in one batch, under tf.function and XLA; each row equals decoding it alone."""
import numpy as np
import pytest
import tensorflow as tf

from keras_llm import models, samplers

V, MAX_LENGTH = 50, 16
PROMPTS = [[5, 7, 9, 11], [3], [1, 2, 3, 4, 5, 6]]


def _lm():
    return models.GptCausalLM(models.GptBackbone(
        vocabulary_size=V, num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64,
        max_sequence_length=32))


def _left_padded(prompts=PROMPTS):
    return samplers.left_pad(tf.ragged.constant(prompts, dtype=tf.int32))


def _greedy_alone(lm, prompt, num_new):
    """Greedy continuation of one unpadded prompt by full forward passes, no cache."""
    tokens = np.array([prompt], "int32")
    for _ in range(num_new):
        logits = lm({"token_ids": tokens, "padding_mask": np.ones_like(tokens)}).numpy()
        tokens = np.concatenate([tokens, logits[:, -1:].argmax(-1).astype("int32")], 1)
    return tokens[0, len(prompt):]


def test_left_pad():
    ids, mask = _left_padded([[5, 7], [3], [1, 2, 3]])
    np.testing.assert_array_equal(ids.numpy(), [[0, 5, 7], [0, 0, 3], [1, 2, 3]])
    np.testing.assert_array_equal(mask.numpy(), [[0, 1, 1], [0, 0, 1], [1, 1, 1]])


@pytest.mark.parametrize("jit_compile", [False, True])
def test_greedy_mixed_length_batch_matches_each_prompt_alone(jit_compile):
    lm = _lm()
    ids, mask = _left_padded()

    @tf.function(jit_compile=jit_compile)
    def generate(ids, mask):
        return samplers.generate(lm, samplers.GreedySampler(), ids, mask, MAX_LENGTH)
    out = generate(ids, mask)
    num_new = MAX_LENGTH - ids.shape[1]
    np.testing.assert_array_equal(out["num_tokens"].numpy(), [num_new] * len(PROMPTS))
    for row, prompt in enumerate(PROMPTS):
        np.testing.assert_array_equal(out["tokens"].numpy()[row],
                                      _greedy_alone(lm, prompt, num_new))


def test_one_beam_without_end_token_is_greedy():
    lm = _lm()
    ids, mask = _left_padded()
    greedy = samplers.generate(lm, samplers.GreedySampler(), ids, mask, 10)
    beam = tf.function(lambda i, m: samplers.generate(lm, samplers.BeamSampler(1), i, m, 10))
    np.testing.assert_array_equal(beam(ids, mask)["tokens"].numpy(),
                                  greedy["tokens"].numpy())
    wide = samplers.generate(lm, samplers.BeamSampler(3), ids, mask, 10)
    assert wide["beams"].shape == (3, 3, 4)
    # Finished beams come best first.
    scores = wide["beam_scores"].numpy()
    assert (np.diff(scores, axis=1) <= 1e-6).all()


def test_seeded_top_p_same_eagerly_in_tf_function_and_xla_repeats():
    lm = _lm()
    ids, mask = _left_padded()
    sampler = samplers.TopPSampler(tf.constant([0.9, 0.5, 1.0]), k=tf.constant([0, 5, 10]),
                                   temperature=tf.constant([1.0, 0.7, 1.3]))

    def run(ids, mask, seed):
        return samplers.generate(lm, sampler, ids, mask, MAX_LENGTH, seed=seed,
                                 end_token_id=0)["tokens"]
    seed = tf.constant([11, 12, 13])
    eager = run(ids, mask, seed).numpy()
    np.testing.assert_array_equal(tf.function(run)(ids, mask, seed).numpy(), eager)
    assert (run(ids, mask, seed + 1).numpy() != eager).any()
    xla = tf.function(run, jit_compile=True)
    np.testing.assert_array_equal(xla(ids, mask, seed).numpy(), xla(ids, mask, seed).numpy())
