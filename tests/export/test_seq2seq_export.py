"""Seq2SeqGenerationModule on a tiny random encoder-decoder and the committed byte-level BPE:
greedy through the cached decoder (encoder once, cross-attention keys/values projected once)
== greedy by full uncached forward passes; beam search with one beam and no length penalty ==
greedy; empty sources -> empty outputs; over-long sources truncated and still answered; the
SavedModel answers as the module does and passes keras-llm-check."""
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from keras_llm import export
from keras_llm.export.seq2seq import Seq2SeqGenerationModule
from keras_llm.models.seq2seq import Seq2SeqBackbone, Seq2SeqLM
from keras_llm.tokenizers.byte_pair import BytePairTokenizer

FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures"
SOURCES = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee, und ein Kind schaut zu.",
           "", "Kurz"]
MAX_TARGET = 12


@pytest.fixture(scope="module")
def parts():
    tokenizer = BytePairTokenizer(str(FIXTURES / "bpe_vocab.json"),
                                  str(FIXTURES / "bpe_merges.txt"))
    end = tokenizer.token_to_id("<|endoftext|>")
    tf.keras.utils.set_random_seed(5)
    lm = Seq2SeqLM(Seq2SeqBackbone(tokenizer.vocabulary_size, 2, 2, 2, 32, 64,
                                   max_sequence_length=24, dropout=0.0))
    return tokenizer, lm, end


def _module(parts, **kwargs):
    tokenizer, lm, end = parts
    kwargs.setdefault("max_target_tokens", MAX_TARGET)
    return Seq2SeqGenerationModule(tokenizer, lm, end, end, output_name="translation", **kwargs)


def _uncached_greedy(parts, module, source):
    """Greedy decoding by full forward passes of Seq2SeqLM (no cache at all)."""
    tokenizer, lm, end = parts
    ids = [end] + tokenizer.encode([source])[0][:module.max_source_tokens - 2] + [end]
    max_new = min(MAX_TARGET, 2 * len(ids) + 10)
    target = [end]
    for _ in range(max_new):
        logits = lm({"encoder_token_ids": tf.constant([ids]),
                     "encoder_padding_mask": tf.ones([1, len(ids)], tf.int32),
                     "decoder_token_ids": tf.constant([target]),
                     "decoder_padding_mask": tf.ones([1, len(target)], tf.int32)})
        token = int(np.argmax(logits[0, -1]))
        if token == end:
            break
        target.append(token)
    return tokenizer.detokenize(tf.constant(target[1:], tf.int32)).numpy().decode() \
        if len(target) > 1 else ""


def test_cached_greedy_equals_uncached_forward_passes(parts):
    module = _module(parts)
    out = tf.function(module.serve_greedy)({"text": tf.constant(SOURCES)})["translation"]
    for source, text in zip(SOURCES, out.numpy()):
        expected = "" if not source.strip() else _uncached_greedy(parts, module, source)
        assert text.decode() == expected, source


def test_one_beam_without_length_penalty_is_greedy(parts):
    module = _module(parts, num_beams=1, length_penalty=0.0)
    texts = {"text": tf.constant(SOURCES)}
    beam = tf.function(module.serve)(texts)["translation"].numpy()
    greedy = tf.function(module.serve_greedy)(texts)["translation"].numpy()
    assert beam.tolist() == greedy.tolist()


def test_empty_sources_give_empty_outputs_and_long_ones_an_answer(parts):
    module = _module(parts, max_source_tokens=10)
    out = tf.function(module.serve)({"text": tf.constant(["", "   ", "Hund " * 5000,
                                                          "Hund " * 8])})["translation"]
    assert out.numpy()[:2].tolist() == [b"", b""]
    # The long source is cut to its first tokens: the same answer as its first 8 words.
    assert out.numpy()[2] == out.numpy()[3]


def test_bad_settings_raise(parts):
    with pytest.raises(ValueError, match="max_target_tokens must be in"):
        _module(parts, max_target_tokens=0)
    tokenizer, lm, end = parts
    with pytest.raises(ValueError, match="max_source_tokens must be in"):
        Seq2SeqGenerationModule(tokenizer, lm, end, end, max_source_tokens=99)


def test_saved_model_answers_as_the_module_and_passes_check(parts, tmp_path):
    module = _module(parts)
    path = export.export(module, tmp_path / "models")
    loaded = tf.saved_model.load(str(path))
    texts = tf.constant(SOURCES)
    for name, fn in (("serving_default", module.serve), ("greedy", module.serve_greedy)):
        got = loaded.signatures[name](text=texts)["translation"].numpy()
        assert got.tolist() == tf.function(fn)({"text": texts})["translation"].numpy().tolist()
    report = export.check(path)
    assert report.ok, report.summary()
    assert "core TensorFlow ops only" in report.summary()


def test_bert2bert_run_with_wordpiece_trains_exports_and_summarizes(tmp_path):
    """keras_llm.train with model.kind=seq2seq_bert (warm start from a BERT preset), its
    WordPiece vocabulary and gzipped JSONL pairs; the preset exports with a WordPiece
    tokenizer in the graph."""
    import gzip
    import json
    from keras_llm import models, training
    from keras_llm.export.seq2seq import module_from_preset
    from keras_llm.training import trainer
    from keras_llm.training.config import (DataConfig, ModelConfig, OptimizerConfig,
                                           TokenizerConfig, TrainConfig)
    vocab = FIXTURES / "wordpiece_vocab_uncased.txt"
    size = sum(1 for _ in open(vocab, encoding="utf-8"))
    tf.keras.utils.set_random_seed(0)
    bert = models.BertBackbone(size, 1, 2, 32, 64, max_sequence_length=48)
    bert.save_to_preset(tmp_path / "bert", tokenizer_files=[vocab])
    rows = [{"dialogue": f"#Person1#: the film was good number {i}.\n#Person2#: yes it was.",
             "summary": f"they liked film {i}."} for i in range(24)]
    with gzip.open(tmp_path / "pairs.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    config = TrainConfig(
            objective="seq2seq",
            data=DataConfig(format="jsonl", train_files=(str(tmp_path / "pairs.jsonl.gz"),),
                            eval_fraction=0.25, text_field="dialogue", target_field="summary",
                            packing="lines", fixed_shapes=False, sequence_length=40,
                            bucket_boundaries=(16,), max_eval_batches=1),
            tokenizer=TokenizerConfig(kind="wordpiece", vocabulary=str(vocab)),
            model=ModelConfig(kind="seq2seq_bert", num_layers=1, preset=str(tmp_path / "bert")),
            optimizer=OptimizerConfig(learning_rate=1e-3, warmup_steps=1),
            global_batch_size=4, num_steps=4, log_every=2, eval_every=4, checkpoint_every=4,
            verbose=False)
    result = training.train(config, str(tmp_path / "work"))
    assert not result.backbone.normalize_first  # the BERT layout
    trainer.save_preset(result, str(tmp_path / "work"), str(tmp_path / "preset"))
    module = module_from_preset(tmp_path / "preset", "summary", max_target_tokens=8)
    out = tf.function(module.serve_greedy)({"text": tf.constant([rows[0]["dialogue"], ""])})
    summaries = out["summary"].numpy()
    assert summaries[1] == b"" and isinstance(summaries[0], bytes)
    path = export.export(module, tmp_path / "models")
    assert export.check(path).ok


def test_pruned_vocabulary_keeps_the_texts_tokens_and_their_logits(tmp_path):
    """prune_texts keeps the pieces the texts use: they tokenize to the same pieces, and the
    pruned model's logits are the full model's at the kept rows (tied input/output table)."""
    from keras_llm.export.seq2seq import module_from_preset
    from keras_llm.tokenizers.wordpiece import WordPieceTokenizer, load_vocabulary
    import shutil
    for source, name in (("wordpiece_vocab_uncased.txt", "vocab.txt"),
                         ("bpe_vocab.json", "vocab.json"), ("bpe_merges.txt", "merges.txt")):
        shutil.copy(FIXTURES / source, tmp_path / name)
    vocab_file = tmp_path / "vocab.txt"
    vocabulary = load_vocabulary(str(vocab_file))
    tf.keras.utils.set_random_seed(3)
    backbone = Seq2SeqBackbone(len(vocabulary), 1, 1, 2, 32, 64, max_sequence_length=32,
                               dropout=0.0)
    backbone.save_to_preset(tmp_path / "preset", tokenizer_files=[vocab_file])
    texts = ["the film was good.", "they liked it a lot"]
    full = module_from_preset(tmp_path / "preset", "summary")
    pruned = module_from_preset(tmp_path / "preset", "summary", prune_texts=texts)
    kept = pruned.preprocessor.vocabulary
    assert len(kept) < len(vocabulary)
    assert pruned.model.backbone.vocabulary_size == len(kept)
    full_pieces = [[vocabulary[i] for i in row] for row in
                   WordPieceTokenizer(vocabulary, lowercase=True).encode(texts)]
    assert [[kept[i] for i in row] for row in pruned.preprocessor.encode(texts)] == full_pieces
    rows = [vocabulary.index(t) for t in kept]
    source = [vocabulary.index(p) for p in full_pieces[0]]
    target = [vocabulary.index(p) for p in full_pieces[1]]

    def logits(lm, mapping):
        return lm({"encoder_token_ids": tf.constant([[mapping(i) for i in source]]),
                   "encoder_padding_mask": tf.ones([1, len(source)], tf.int32),
                   "decoder_token_ids": tf.constant([[mapping(i) for i in target]]),
                   "decoder_padding_mask": tf.ones([1, len(target)], tf.int32)}).numpy()

    np.testing.assert_allclose(logits(pruned.model, rows.index),
                               logits(full.model, lambda i: i)[..., rows], atol=1e-5)
    with pytest.raises(ValueError, match="WordPiece"):
        bpe = tmp_path / "bpe"
        backbone.save_to_preset(bpe, tokenizer_files=[tmp_path / "vocab.json",
                                                       tmp_path / "merges.txt"])
        module_from_preset(bpe, "summary", prune_texts=texts)


def test_preset_module_ships_only_the_served_positions_and_answers_the_same(tmp_path):
    """module_from_preset keeps the encoder's first max_source_tokens and the decoder's first
    max_target_tokens + 1 position rows (nothing else is ever read): same outputs as the full
    tables, smaller variables; greedy=False leaves out the `greedy` signature and its warmup."""
    import shutil
    from keras_llm.export.seq2seq import module_from_preset
    for source, name in (("bpe_vocab.json", "vocab.json"), ("bpe_merges.txt", "merges.txt")):
        shutil.copy(FIXTURES / source, tmp_path / name)
    tokenizer = BytePairTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    tf.keras.utils.set_random_seed(4)
    backbone = Seq2SeqBackbone(tokenizer.vocabulary_size, 1, 1, 2, 32, 64,
                               max_sequence_length=40, dropout=0.0)
    backbone.save_to_preset(tmp_path / "preset",
                            tokenizer_files=[tmp_path / "vocab.json", tmp_path / "merges.txt"])
    end = tokenizer.token_to_id("<|endoftext|>")
    full = Seq2SeqGenerationModule(tokenizer, Seq2SeqLM(backbone), end, end, num_beams=2,
                                   max_source_tokens=16, max_target_tokens=6)
    kept = module_from_preset(tmp_path / "preset", "output", num_beams=2, max_source_tokens=16,
                              max_target_tokens=6, greedy=False)
    kept_backbone = kept.model.backbone
    assert kept_backbone.encoder_position_embedding.position_embeddings.shape == (16, 32)
    assert kept_backbone.decoder_position_embedding.position_embeddings.shape == (7, 32)
    texts = {"text": tf.constant(SOURCES)}
    assert (tf.function(kept.serve)(texts)["output"].numpy().tolist()
            == tf.function(full.serve)(texts)["output"].numpy().tolist())
    assert sorted(kept.signatures()) == ["serving_default"]
    assert [log.predict_log.request.model_spec.signature_name for log in kept.warmup_logs()] \
        == ["serving_default"]
    with pytest.raises(ValueError, match="exceeds the decoder's 7 positions"):
        kept_backbone.init_cache(tf.zeros([1, 3, 32]), tf.ones([1, 3], tf.int32), 8)
    path = export.export(kept, tmp_path / "models")
    assert sorted(tf.saved_model.load(str(path)).signatures) == ["serving_default"]
    assert export.check(path).ok


def test_output_rewrites_apply_in_order(parts):
    module = _module(parts, output_rewrites=((r"a", "b"), (r"b+", "c")))
    texts = {"text": tf.constant(SOURCES)}
    plain = tf.function(_module(parts).serve)(texts)["translation"].numpy()
    rewritten = tf.function(module.serve)(texts)["translation"].numpy()
    import re
    assert [re.sub("b+", "c", t.decode().replace("a", "b")) for t in plain] == \
        [t.decode() for t in rewritten]
