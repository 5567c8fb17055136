"""Translation app configs: a Transformer encoder-decoder trained from scratch on Multi30k
(German -> English) with a joint byte-level BPE trained by keras_llm on the training pairs.

    python -m apps.translate.train --config=multi30k --workdir=/tmp/translate
    python -m apps.translate.train --config=tiny --workdir=/tmp/translate_tiny

Data: `<shared data>/multi30k_de_en/` (train 29,000 pairs; `val` is the held-out part the
trainer evaluates; `test_2016_flickr` is what `apps.translate.evaluate` reports BLEU on). The
tiny config reads the 200 pairs committed in `apps/translate/sample/`.
"""
import pathlib

from keras_llm.training.config import (DataConfig, ModelConfig, OptimizerConfig, TokenizerConfig,
                                       TrainConfig)
from keras_llm.utils import paths

PRESET = "preset"  # the trained backbone + tokenizer, in the workdir
OUTPUT = "translation"  # the SavedModel's output name
SAMPLE = pathlib.Path(__file__).resolve().parent / "sample"


def multi30k_dir() -> pathlib.Path:
    return paths.shared_data_dir() / "multi30k_de_en"


def pair(folder, split: str):
    """(German file, English file) of a split: `train`, `val` or `test_2016_flickr`."""
    folder = pathlib.Path(folder)
    suffix = ".gz" if (folder / f"{split}.de.gz").exists() else ""
    return (str(folder / f"{split}.de{suffix}"), str(folder / f"{split}.en{suffix}"))


def _data(folder, sequence_length: int, **kwargs) -> DataConfig:
    return DataConfig(format="parallel", train_files=pair(folder, "train"),
                      eval_files=pair(folder, "val"), packing="lines", fixed_shapes=False,
                      sequence_length=sequence_length, **kwargs)


def multi30k() -> TrainConfig:
    """3 + 3 layers x 256 (the published anchor's size), 8,000-token joint BPE."""
    return TrainConfig(
            objective="seq2seq",
            data=_data(multi30k_dir(), 96, bucket_boundaries=(16, 24, 32, 48),
                       shuffle_buffer=30000, max_eval_batches=16),
            tokenizer=TokenizerConfig(kind="bpe", vocabulary_size=8000),
            model=ModelConfig(kind="seq2seq", num_layers=3, num_heads=4, hidden_dim=256,
                              intermediate_dim=1024, dropout=0.1, max_sequence_length=128),
            optimizer=OptimizerConfig(learning_rate=7e-4, warmup_steps=400, decay="cosine",
                                      end_learning_rate_fraction=0.05, weight_decay=0.01,
                                      beta_2=0.98),
            label_smoothing=0.1, global_batch_size=128, num_steps=4500, log_every=50,
            eval_every=500, checkpoint_every=250)


def tiny() -> TrainConfig:
    """Seconds-long runs for tests (the committed sample pairs)."""
    return TrainConfig(
            objective="seq2seq", data=_data(SAMPLE, 48, bucket_boundaries=(16, 32),
                                            max_eval_batches=2),
            tokenizer=TokenizerConfig(kind="bpe", vocabulary_size=400),
            model=ModelConfig(kind="seq2seq", num_layers=1, num_heads=2, hidden_dim=32,
                              intermediate_dim=64, max_sequence_length=64),
            optimizer=OptimizerConfig(learning_rate=3e-3, warmup_steps=5),
            label_smoothing=0.1, global_batch_size=16, num_steps=30, log_every=10,
            eval_every=30, checkpoint_every=30)


CONFIGS = {"multi30k": multi30k, "tiny": tiny}


def module(workdir, quantize: str = "", num_beams: int = 4, length_penalty: float = 0.6,
           prune_vocabulary: bool = False, greedy: bool = True):
    """The SavedModel module for a trained workdir (its preset): German `text` ->
    `translation` (keras_llm.export.seq2seq)."""
    from keras_llm.export.seq2seq import module_from_workdir  # pylint: disable=import-outside-toplevel
    return module_from_workdir(workdir, PRESET, OUTPUT, quantize=quantize,
                               prune_vocabulary=prune_vocabulary, num_beams=num_beams,
                               length_penalty=length_penalty, greedy=greedy)
