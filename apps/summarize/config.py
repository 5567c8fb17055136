"""Summarization app configs: DialogSum dialogues -> one-paragraph summaries.

    python -m apps.summarize.train --config=minilm --workdir=/tmp/summarize      # warm start
    python -m apps.summarize.train --config=scratch --workdir=/tmp/summarize_0   # baseline
    python -m apps.summarize.train --config=tiny --workdir=/tmp/summarize_tiny

`minilm` is BERT2BERT (Rothe et al., 2020) on keras_llm.train: encoder and decoder warm-started
from MiniLM-L6 (`model.kind=seq2seq_bert`: the decoder's self-attention made causal,
cross-attention new, output tied to the embeddings), MiniLM's uncased WordPiece vocabulary.
`scratch` is the same-sized encoder-decoder from random weights on the same budget (steps,
batch, tokenizer). Data: `<shared data>/dialogsum/` (train 12,460, pre-release; its last 3%
is the trainer's held-out part; `dev` (500) is what `apps.summarize.evaluate` reports ROUGE
on). DialogSum is CC BY-NC-SA: never commit any of it; `tiny` reads the invented dialogues in
`apps/summarize/sample/`.
"""
import pathlib

from keras_llm.training.config import (DataConfig, ModelConfig, OptimizerConfig, TokenizerConfig,
                                       TrainConfig)
from keras_llm.utils import paths

PRESET = "preset"  # the trained backbone + tokenizer, in the workdir
OUTPUT = "summary"  # the SavedModel's output name
SAMPLE = pathlib.Path(__file__).resolve().parent / "sample"
TRAIN_FILE = "dialogsum.train.prerelease-2021-05.jsonl.gz"
DEV_FILE = "dialogsum.dev.jsonl"
MAX_SUMMARY_TOKENS = 64


def dialogsum_dir() -> pathlib.Path:
    return paths.shared_data_dir() / "dialogsum"


def _data(train_file, sequence_length: int, eval_fraction=0.03, **kwargs) -> DataConfig:
    return DataConfig(format="jsonl", train_files=(str(train_file),), eval_fraction=eval_fraction,
                      text_field="dialogue", target_field="summary", packing="lines",
                      fixed_shapes=False, sequence_length=sequence_length, **kwargs)


def _minilm_vocabulary() -> TokenizerConfig:
    return TokenizerConfig(kind="wordpiece", vocabulary=str(paths.minilm_dir() / "vocab.txt"),
                           lowercase=True)


def _run(model: ModelConfig) -> TrainConfig:
    return TrainConfig(
            objective="seq2seq",
            data=_data(dialogsum_dir() / TRAIN_FILE, 256, bucket_boundaries=(64, 128, 192),
                       shuffle_buffer=13000, max_eval_batches=12),
            tokenizer=_minilm_vocabulary(), model=model,
            optimizer=OptimizerConfig(learning_rate=1e-4, warmup_steps=150, decay="linear",
                                      weight_decay=0.01, beta_2=0.999),
            label_smoothing=0.1, global_batch_size=16, num_steps=1500, log_every=25,
            eval_every=250, checkpoint_every=100)


def minilm() -> TrainConfig:
    """MiniLM-L6 encoder (6 layers) + a 3-layer decoder from its first 3 layers."""
    return _run(ModelConfig(kind="seq2seq_bert", num_layers=3, dropout=0.1))


def scratch() -> TrainConfig:
    """The baseline: an encoder-decoder of the same width (384, 6 heads, 1,536 feed-forward;
    3 + 3 pre-LN layers) from random weights, same tokenizer, batch and steps."""
    return _run(ModelConfig(kind="seq2seq", num_layers=3, num_heads=6, hidden_dim=384,
                            intermediate_dim=1536, dropout=0.1, max_sequence_length=512))


def tiny() -> TrainConfig:
    """Seconds-long runs for tests: a 1-layer, 32-wide encoder-decoder from scratch on the
    invented sample, MiniLM's vocabulary (`--override=model.kind=seq2seq_bert
    --override=model.preset=DIR` warm-starts it from a BERT preset instead)."""
    return TrainConfig(
            objective="seq2seq",
            data=_data(SAMPLE / "train.jsonl", 64, eval_fraction=0.2, bucket_boundaries=(32,),
                       max_eval_batches=1),
            tokenizer=_minilm_vocabulary(),
            model=ModelConfig(kind="seq2seq", num_layers=1, num_heads=2, hidden_dim=32,
                              intermediate_dim=64, max_sequence_length=96),
            optimizer=OptimizerConfig(learning_rate=3e-3, warmup_steps=5),
            label_smoothing=0.1, global_batch_size=8, num_steps=20, log_every=10,
            eval_every=20, checkpoint_every=20)


CONFIGS = {"minilm": minilm, "scratch": scratch, "tiny": tiny}


# WordPiece detokenizes "#Person1#'s turn." as "# person1 # ' s turn ."; ROUGE's tokenizer
# reads both the same, users should not have to.
OUTPUT_REWRITES = ((r"# ?person ?(\d+) ?#", r"#Person\1#"), (r" ' (s|t|re|ve|ll|d|m)\b", r"'\1"),
                   (r" ([.,!?;:%)])", r"\1"), (r"\( ", "("), (r"^\s+|\s+$", ""))


def module(workdir, quantize: str = "", num_beams: int = 4, length_penalty: float = 0.6,
           prune_vocabulary: bool = False, greedy: bool = True):
    """The SavedModel module for a trained workdir (its preset): dialogue `text` -> `summary`
    (keras_llm.export.seq2seq), sources cut at the training length, the detokenized text
    tidied (`OUTPUT_REWRITES`). The shipped export leaves out the `greedy` signature
    (`--nogreedy_signature`): with it the export is 26.9 MB, over the 25 MB budget."""
    from keras_llm.export.seq2seq import TRAINING_LENGTH, module_from_workdir  # pylint: disable=import-outside-toplevel
    return module_from_workdir(workdir, PRESET, OUTPUT, quantize=quantize,
                               prune_vocabulary=prune_vocabulary, num_beams=num_beams,
                               length_penalty=length_penalty, greedy=greedy,
                               output_rewrites=OUTPUT_REWRITES,
                               max_source_tokens=TRAINING_LENGTH,
                               max_target_tokens=MAX_SUMMARY_TOKENS)
