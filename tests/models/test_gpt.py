"""GptBackbone / GptCausalLM: harness, causal masking, KV cache (eager, XLA, exported
while_loop generation reloaded in a fresh process), input errors, learning a copy task."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_llm import models
from tests import harness

V, B, T = 100, 2, 10


def _backbone(**kwargs):
    config = dict(vocabulary_size=V, num_layers=2, num_heads=4, hidden_dim=64,
                  intermediate_dim=128, max_sequence_length=32)
    config.update(kwargs)
    return models.GptBackbone(**config)


def _inputs(seed=0):
    ids = np.random.default_rng(seed).integers(1, V, (B, T)).astype("int32")
    return {"token_ids": ids, "padding_mask": np.ones_like(ids)}


def _sparse_ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def test_backbone_harness():
    harness.run_model_test(_backbone, _inputs(), expected_output_shapes=(B, T, 64))


@pytest.mark.slow
def test_backbone_harness_full():
    harness.run_model_test(_backbone, _inputs(), expected_output_shapes=(B, T, 64),
                           xla_mixed_training=True)


def _causal_lm_harness(num_layers=2, **kwargs):
    inputs = _inputs()
    harness.run_model_test(lambda: models.GptCausalLM(_backbone(num_layers=num_layers)), inputs,
                           targets=inputs["token_ids"], loss=_sparse_ce(),
                           expected_output_shapes=(B, T, V), **kwargs)


def test_causal_lm_harness():
    _causal_lm_harness(num_layers=1, xla_training=False)  # slow tier: 2 layers, all checks


@pytest.mark.slow
def test_causal_lm_harness_full():
    _causal_lm_harness(xla_mixed_training=True)


def test_causal_lm_does_not_look_ahead():
    lm = models.GptCausalLM(_backbone())
    inputs = _inputs()
    changed = dict(inputs, token_ids=inputs["token_ids"].copy())
    changed["token_ids"][:, 6:] = (changed["token_ids"][:, 6:] + 7) % V
    a, b = lm(inputs).numpy(), lm(changed).numpy()
    np.testing.assert_allclose(a[:, :6], b[:, :6], atol=1e-5)
    assert np.abs(a[:, 6:] - b[:, 6:]).max() > 1e-4


def _incremental_logits(step_fn, lm, ids, prefill, max_length=16):
    cache = lm.init_cache(ids.shape[0], max_length)
    logits, cache = step_fn(ids[:, :prefill], cache, tf.constant(0))
    pieces = [logits.numpy()]
    for i in range(prefill, ids.shape[1]):
        logits, cache = step_fn(ids[:, i:i + 1], cache, tf.constant(i))
        pieces.append(logits.numpy())
    return np.concatenate(pieces, axis=1)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_kv_cache_matches_full_forward(jit_compile):
    lm = models.GptCausalLM(_backbone())
    inputs = _inputs()
    full = lm(inputs).numpy()
    step = lm.call_with_cache
    if jit_compile:
        step = tf.function(lm.call_with_cache, jit_compile=True)
    np.testing.assert_allclose(_incremental_logits(step, lm, inputs["token_ids"], 4), full,
                               atol=1e-5)


def _greedy_module(lm, prompt_length, max_length, jit_compile):
    """tf.Module whose `generate` runs prefill + a tf.while_loop over call_with_cache."""
    module = tf.Module()
    module.lm = lm

    @tf.function(input_signature=[tf.TensorSpec([None, prompt_length], tf.int32)],
                 jit_compile=jit_compile)
    def generate(prompt):
        batch = tf.shape(prompt)[0]
        cache = lm.init_cache(batch, max_length)
        logits, cache = lm.call_with_cache(prompt, cache, 0)
        tokens = tf.concat([prompt, tf.zeros([batch, max_length - prompt_length], tf.int32)], 1)

        def body(index, tokens, cache, last_logits):  # last_logits (B, V)
            next_token = tf.argmax(last_logits, axis=-1, output_type=tf.int32)[:, None]
            tokens = tf.tensor_scatter_nd_update(
                tf.transpose(tokens), [[index]], tf.transpose(next_token))
            tokens = tf.transpose(tokens)
            logits, cache = lm.call_with_cache(next_token, cache, index)
            return index + 1, tokens, cache, logits[:, -1]
        _, tokens, _, _ = tf.while_loop(lambda i, *_: i < max_length, body,
                                        (tf.constant(prompt_length), tokens, cache,
                                         logits[:, -1]))
        return {"tokens": tokens}
    module.generate = generate
    return module


def _greedy_reference(lm, prompt, max_length):
    tokens = prompt
    while tokens.shape[1] < max_length:
        logits = lm({"token_ids": tokens, "padding_mask": np.ones_like(tokens)}).numpy()
        tokens = np.concatenate([tokens, logits[:, -1].argmax(-1)[:, None].astype("int32")], 1)
    return tokens


@pytest.mark.parametrize("jit_compile", [
    False, pytest.param(True, marks=pytest.mark.slow)])
def test_exported_greedy_generation_reloads_in_fresh_process(tmp_path, jit_compile):
    lm = models.GptCausalLM(_backbone())
    prompt = _inputs()["token_ids"][:, :3]
    expected = _greedy_reference(lm, prompt, 8)
    module = _greedy_module(lm, prompt_length=3, max_length=8, jit_compile=jit_compile)
    np.testing.assert_array_equal(module.generate(prompt)["tokens"].numpy(), expected)
    path = os.fspath(tmp_path / "gpt_generate")
    tf.saved_model.save(module, path, signatures={"serving_default": module.generate})
    harness.reload_saved_model_in_subprocess(path, {"prompt": prompt},
                                             {"tokens": expected}, atol=0)


def test_init_cache_checks_length():
    with pytest.raises(ValueError, match="max_length=64"):
        models.GptCausalLM(_backbone()).init_cache(1, 64)


def test_cache_bad_token_rank():
    lm = models.GptCausalLM(_backbone())
    with pytest.raises(ValueError, match="token_ids"):
        lm.call_with_cache(np.zeros((3,), "int32"), lm.init_cache(1, 8), 0)


@pytest.mark.parametrize("bad,message", [
    (lambda x: {"token_ids": x["token_ids"]}, "padding_mask"),
    (lambda x: dict(x, token_ids=x["token_ids"][..., None]), "token_ids"),
])
def test_bad_inputs_raise_clear_errors(bad, message):
    lm = models.GptCausalLM(_backbone())
    with pytest.raises(ValueError, match=message):
        lm(bad(_inputs()))
    with pytest.raises(ValueError, match=message):
        lm.backbone(bad(_inputs()))


def _copy_task(n, half, vocab, seed):
    """[BOS] a_1..a_k [SEP] a_1..a_k; only the copied half is scored."""
    rng = np.random.default_rng(seed)
    body = rng.integers(3, vocab, (n, half)).astype("int32")
    ids = np.concatenate([np.ones((n, 1), "int32"), body, np.full((n, 1), 2, "int32"), body], 1)
    x = {"token_ids": ids[:, :-1], "padding_mask": np.ones_like(ids[:, :-1])}
    weights = np.zeros_like(ids[:, 1:], dtype="float32")
    weights[:, half + 1:] = 1.0  # targets after [SEP]
    return x, ids[:, 1:], weights


def test_fit_learns_copy_task():
    x, y, w = _copy_task(512, 4, 20, seed=0)
    lm = models.GptCausalLM(_backbone(vocabulary_size=20))
    lm.compile(optimizer=keras.optimizers.Adam(3e-3), loss=_sparse_ce(), jit_compile=False)
    history = lm.fit(x, y, sample_weight=w, batch_size=32, epochs=10, verbose=0)
    losses = history.history["loss"]
    # Chance on the copied half is ln(17) ~ 2.8 per token (x 5/10 weight share).
    assert losses[-1] < 0.3 * losses[0], losses


# Mixed-length batches: rows of lengths 5, 2 and 7 padded to 7 on the left or the right.
LENGTHS = (5, 2, 7)


def _padded(rows, side):
    width = max(len(row) for row in rows)
    ids, mask = np.zeros((len(rows), width), "int32"), np.zeros((len(rows), width), "int32")
    for i, row in enumerate(rows):
        span = slice(width - len(row), width) if side == "left" else slice(0, len(row))
        ids[i, span], mask[i, span] = row, 1
    return ids, mask


def _rows(seed=3):
    rng = np.random.default_rng(seed)
    return [rng.integers(1, V, n).astype("int32") for n in LENGTHS]


def _alone(lm, row):
    """Logits (T, V) of one unpadded row run by itself, full forward without cache."""
    return lm({"token_ids": row[None], "padding_mask": np.ones((1, len(row)), "int32")})[0]


@pytest.mark.parametrize("side", ["left", "right"])
def test_full_forward_padded_rows_match_rows_alone(side):
    lm = models.GptCausalLM(_backbone())
    rows = _rows()
    ids, mask = _padded(rows, side)
    logits = lm({"token_ids": ids, "padding_mask": mask}).numpy()
    for i, row in enumerate(rows):
        np.testing.assert_allclose(logits[i][mask[i] == 1], _alone(lm, row), atol=1e-5)


@pytest.mark.parametrize("side,jit_compile", [
    ("left", False), ("right", False), ("left", True)])
def test_cached_mixed_length_batch_matches_rows_alone(side, jit_compile):
    """Prefill a padded batch, then feed 3 new tokens one at a time: every row's logits
    equal its own uncached forward pass over prompt + new tokens."""
    lm = models.GptCausalLM(_backbone())
    rows = _rows()
    ids, mask = _padded(rows, side)
    new = np.random.default_rng(4).integers(1, V, (len(rows), 3)).astype("int32")
    step = lm.call_with_cache
    if jit_compile:
        step = tf.function(lm.call_with_cache, jit_compile=True)
    cache = lm.init_cache(len(rows), 16)
    logits, cache = step(ids, cache, tf.constant(0), tf.constant(mask))
    pieces = [logits.numpy()]
    width = ids.shape[1]
    for j in range(new.shape[1]):
        logits, cache = step(new[:, j:j + 1], cache, tf.constant(width + j),
                             tf.ones((len(rows), 1), tf.int32))
        pieces.append(logits.numpy())
    cached = np.concatenate(pieces, axis=1)  # (B, width + 3, V)
    real = np.concatenate([mask, np.ones_like(new)], axis=1) == 1
    np.testing.assert_array_equal(cache["padding_mask"].numpy()[:, :width + 3], real)
    for i, row in enumerate(rows):
        expected = _alone(lm, np.concatenate([row, new[i]]))
        np.testing.assert_allclose(cached[i][real[i]], expected, atol=1e-5)


def test_cache_is_fixed_shape_dict():
    lm = models.GptCausalLM(_backbone())
    cache = lm.init_cache(3, 8)
    assert cache["key_value"].shape == (3, 2, 2, 8, 4, 16)
    assert cache["padding_mask"].shape == (3, 8)
    _, new_cache = lm.call_with_cache(np.ones((3, 2), "int32"), cache, 0)
    assert {k: v.shape for k, v in new_cache.items()} == {k: v.shape for k, v in cache.items()}
    with pytest.raises(ValueError, match="init_cache"):
        lm.call_with_cache(np.ones((3, 1), "int32"), cache["key_value"], 0)
