"""benchmarks/tokenize_stages.py times cuts of the ids-only graph path; its cuts must run and
its last cut must be the tokenizer itself, or the committed breakdown would describe
something else."""
import pathlib

import tensorflow as tf

from benchmarks import tokenize_stages
from keras_llm import tokenizers

VOCAB = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "wordpiece_vocab_uncased.txt"
TEXTS = ["A wonderful, unflinching film.", "Clichés  galore", "", "naïve\tcafé 東京 ok",
         "the the the"]


def test_every_stage_runs_in_a_graph_and_the_last_is_the_tokenizer():
    tok = tokenizers.WordPieceTokenizer(str(VOCAB))
    stages = tokenize_stages.make_stages(tok)
    assert len(stages) == 6 and list(stages)[-1] == tokenize_stages.FULL
    x = tf.constant(TEXTS)
    spec = [tf.TensorSpec([None], tf.string)]
    outputs = [tf.function(fn, input_signature=spec)(x) for fn in stages.values()]
    assert outputs[0].shape[0] > len(TEXTS)                      # chunks
    assert outputs[1].shape[0] < outputs[0].shape[0]              # distinct chunks
    assert outputs[3].shape == outputs[2].shape                   # one lookup per word
    assert outputs[-1].numpy().tolist() == sum(tok.encode(TEXTS), [])


def test_batch_counts_and_ratios():
    tok = tokenizers.WordPieceTokenizer(str(VOCAB))
    counts = tokenize_stages.batch_counts(tok, [tf.constant(TEXTS)])
    assert counts["pieces"] == len(sum(tok.encode(TEXTS), []))
    assert counts["distinct chunks"] < counts["chunks"]
    times = {tokenize_stages.FAST: [1.0, 2.0, 3.0], "x": [2.0, 2.0, 2.0]}
    assert tokenize_stages.ratios(times, "x") == (1.0, 1.0)
