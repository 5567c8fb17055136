"""Seq2SeqBackbone / Seq2SeqLM: harness, masks, cached decoder, input errors, copy task."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_llm import models
from tests import harness

V, B, S, T = 100, 2, 7, 9


def _backbone(**kwargs):
    config = dict(vocabulary_size=V, num_encoder_layers=2, num_decoder_layers=2, num_heads=4,
                  hidden_dim=64, intermediate_dim=128, max_sequence_length=32)
    config.update(kwargs)
    return models.Seq2SeqBackbone(**config)


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    enc_mask = np.ones((B, S), "int32")
    enc_mask[1, 5:] = 0
    dec_mask = np.ones((B, T), "int32")
    dec_mask[1, 6:] = 0
    return {"encoder_token_ids": rng.integers(1, V, (B, S)).astype("int32") * enc_mask,
            "encoder_padding_mask": enc_mask,
            "decoder_token_ids": rng.integers(1, V, (B, T)).astype("int32") * dec_mask,
            "decoder_padding_mask": dec_mask}


def _sparse_ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _backbone_harness(**kwargs):
    shapes = {"encoder_sequence_output": (B, S, 64), "decoder_sequence_output": (B, T, 64)}
    harness.run_model_test(_backbone, _inputs(), expected_output_shapes=shapes, **kwargs)


@pytest.mark.slow
def test_backbone_harness_full():
    # Fast tier: the Seq2SeqLM harness below runs this backbone nested (config, .keras,
    # SavedModel, XLA forward, bf16); Bert/Gpt backbone tests cover XLA training.
    _backbone_harness(xla_mixed_training=True)


def _lm_harness(num_layers=2, **kwargs):
    inputs = _inputs()
    build = lambda: models.Seq2SeqLM(_backbone(num_encoder_layers=num_layers,  # noqa: E731
                                               num_decoder_layers=num_layers))
    harness.run_model_test(build, inputs,
                           targets=inputs["decoder_token_ids"], loss=_sparse_ce(),
                           expected_output_shapes=(B, T, V), **kwargs)


def test_seq2seq_lm_harness():
    _lm_harness(num_layers=1, xla_training=False)  # 1+1 layers keep the fast tier fast


@pytest.mark.slow
def test_seq2seq_lm_harness_full():
    _lm_harness(xla_mixed_training=True)


def test_output_is_tied_to_shared_embedding():
    lm = models.Seq2SeqLM(_backbone())
    assert [w.path for w in lm.weights].count("token_embedding/embeddings") == 1
    assert not any("dense" in w.path and w.shape[-1] == V for w in lm.weights)


def test_masks_hide_padding_and_future():
    backbone = _backbone(dropout=0.0)
    inputs = _inputs()
    changed = {k: v.copy() for k, v in inputs.items()}
    changed["encoder_token_ids"][1, 5:] = 33  # padded source slots
    changed["decoder_token_ids"][:, 8] = 44  # last target position (future of 0..7)
    a = backbone(inputs)
    b = backbone(changed)
    np.testing.assert_allclose(a["encoder_sequence_output"][1, :5],
                               b["encoder_sequence_output"][1, :5], atol=1e-5)
    np.testing.assert_allclose(a["decoder_sequence_output"][:, :8],
                               b["decoder_sequence_output"][:, :8], atol=1e-5)


def _decode_cached(next_fn, ids, mask, cache, prefill):
    """Prefill `prefill` decoder tokens, then one token per step; logits (B, T, V)."""
    logits, cache = next_fn(ids[:, :prefill], cache, tf.constant(0),
                            tf.constant(mask[:, :prefill]))
    pieces = [logits.numpy()]
    for i in range(prefill, ids.shape[1]):
        logits, cache = next_fn(ids[:, i:i + 1], cache, tf.constant(i),
                                tf.constant(mask[:, i:i + 1]))
        pieces.append(logits.numpy())
    return np.concatenate(pieces, axis=1), cache


@pytest.mark.parametrize("jit_compile", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_cached_decoder_matches_full_forward(jit_compile):
    """Source row 1 and decoder row 1 are padded (left for the decoder): every real
    position of the cached decoding equals the full forward pass."""
    lm = models.Seq2SeqLM(_backbone())
    inputs = _inputs()
    dec_ids, dec_mask = inputs["decoder_token_ids"].copy(), np.ones((B, T), "int32")
    dec_ids[1] = np.roll(dec_ids[1], 3)  # row 1: 3 pads on the left, then 6 real tokens
    dec_mask[1, :3] = 0
    inputs.update(decoder_token_ids=dec_ids, decoder_padding_mask=dec_mask)
    full = lm(inputs).numpy()
    encoded = lm.encode(inputs["encoder_token_ids"], inputs["encoder_padding_mask"])
    next_fn = lm.call_with_cache  # t5x-style (tokens, cache, index) -> (logits, cache)
    if jit_compile:
        next_fn = tf.function(lm.call_with_cache, jit_compile=True)
    cache = lm.init_cache(encoded, inputs["encoder_padding_mask"], 12)
    cached, _ = _decode_cached(next_fn, dec_ids, dec_mask, cache, prefill=4)
    real = dec_mask == 1
    np.testing.assert_allclose(cached[real], full[real], atol=1e-5)
    # Row 1 alone, unpadded, gives the same logits.
    alone = dict({k: v[1:] for k, v in inputs.items()}, decoder_token_ids=dec_ids[1:, 3:],
                 decoder_padding_mask=dec_mask[1:, 3:])
    np.testing.assert_allclose(cached[1][real[1]], lm(alone).numpy()[0], atol=1e-5)


def test_cross_attention_keys_values_computed_once_per_source():
    lm = models.Seq2SeqLM(_backbone())
    inputs = _inputs()
    calls = []
    for block in lm.backbone.decoder_layers:
        for dense in (block.cross_attention.key_dense, block.cross_attention.value_dense):
            original = dense.call

            def counted(*args, _original=original, **kwargs):
                calls.append(1)
                return _original(*args, **kwargs)
            dense.call = counted
    encoded = lm.encode(inputs["encoder_token_ids"], inputs["encoder_padding_mask"])
    cache = lm.init_cache(encoded, inputs["encoder_padding_mask"], 12)
    assert len(calls) == 2 * 2  # keys and values of 2 decoder layers, once
    assert cache["cross_key_value"].shape == (B, 2, 2, S, 4, 16)  # (B, L, 2, S, H, K)
    assert cache["cross_attention_bias"].shape == (B, 1, 1, S)
    ids = inputs["decoder_token_ids"]
    for i in range(5):
        _, cache = lm.call_with_cache(ids[:, i:i + 1], cache, i)
    assert len(calls) == 4  # decoding steps reuse the projected keys/values
    without_source = {k: v for k, v in cache.items() if k != "cross_key_value"}
    with pytest.raises(ValueError, match="cross_key_value"):
        lm.call_with_cache(ids[:, :1], without_source, 0)


@pytest.mark.parametrize("key", ["encoder_padding_mask", "decoder_token_ids"])
def test_missing_key_raises(key):
    inputs = {k: v for k, v in _inputs().items() if k != key}
    with pytest.raises(ValueError, match=key):
        models.Seq2SeqLM(_backbone())(inputs)


def test_wrong_rank_raises():
    inputs = _inputs()
    inputs["encoder_token_ids"] = inputs["encoder_token_ids"][:, :, None]
    with pytest.raises(ValueError, match="encoder_token_ids"):
        _backbone()(inputs)


def test_fit_learns_copy_task():
    """Target = source; decoder input = [BOS] + source[:-1]."""
    rng = np.random.default_rng(0)
    n, length, vocab = 512, 6, 20
    src = rng.integers(3, vocab, (n, length)).astype("int32")
    dec_in = np.concatenate([np.ones((n, 1), "int32"), src[:, :-1]], 1)
    ones = np.ones_like(src)
    x = {"encoder_token_ids": src, "encoder_padding_mask": ones,
         "decoder_token_ids": dec_in, "decoder_padding_mask": ones}
    lm = models.Seq2SeqLM(_backbone(vocabulary_size=vocab, dropout=0.0,
                                    num_encoder_layers=1, num_decoder_layers=1))
    lm.compile(optimizer=keras.optimizers.Adam(3e-3), loss=_sparse_ce(), jit_compile=False)
    losses = lm.fit(x, src, batch_size=32, epochs=5, verbose=0).history["loss"]
    # Chance is ln(17) ~ 2.8. Measured (seed 1234, 2026-11-22): 2.79 -> 0.11 after 5 epochs;
    # the alignment is learned abruptly, so the bound leaves room for run-to-run noise.
    assert losses[-1] < 0.3 * losses[0], losses
