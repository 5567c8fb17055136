"""Text generation app configs: a GPT trained from scratch on Tiny Shakespeare (byte-level BPE).

    python -m apps.generate.train --config=shakespeare --workdir=/tmp/gen
    python -m apps.generate.train --config=tiny --workdir=/tmp/gen_tiny

The text is split as nanoGPT splits it: the first 90% of the characters train, the last 10%
is the validation part that `apps.generate.evaluate` scores in nats per character.
"""
import dataclasses
import pathlib

from keras_llm.training.config import (DataConfig, ModelConfig, OptimizerConfig, TokenizerConfig,
                                       TrainConfig)
from keras_llm.utils import paths

DEFAULT_MAX_NEW_TOKENS = 64  # serving_default's continuation length (tokens)
VALIDATION_FRACTION = 0.1
PRESET = "preset"  # the trained backbone + tokenizer, in the workdir


def corpus() -> str:
    """Tiny Shakespeare: the shared data folder's copy, else the one shipped in keras_llm."""
    shared = paths.shared_data_dir() / "tiny_shakespeare" / "input.txt"
    if shared.is_file():
        return str(shared)
    from keras_llm.training.config import PACKAGED_CORPUS  # pylint: disable=import-outside-toplevel
    return str(PACKAGED_CORPUS)


def _data(sequence_length: int) -> DataConfig:
    return DataConfig(format="document", train_files=(corpus(),),
                      eval_fraction=VALIDATION_FRACTION, sequence_length=sequence_length,
                      packing="concat", max_eval_batches=20)


def shakespeare() -> TrainConfig:
    """4 layers x 256, 256-token context, 2048-token BPE."""
    return TrainConfig(
            objective="clm", data=_data(256),
            tokenizer=TokenizerConfig(kind="bpe", vocabulary_size=2048),
            model=ModelConfig(kind="gpt_clm", num_layers=4, num_heads=4, hidden_dim=256,
                              intermediate_dim=1024, dropout=0.1, max_sequence_length=256),
            optimizer=OptimizerConfig(learning_rate=1e-3, warmup_steps=100, decay="cosine",
                                      end_learning_rate_fraction=0.1, weight_decay=0.1,
                                      beta_2=0.99),
            global_batch_size=32, num_steps=2000, log_every=25, eval_every=250,
            checkpoint_every=100)


def tiny() -> TrainConfig:
    """Seconds-long runs for tests."""
    return TrainConfig(
            objective="clm", data=dataclasses.replace(_data(32), max_eval_batches=2),
            tokenizer=TokenizerConfig(kind="bpe", vocabulary_size=300),
            model=ModelConfig(kind="gpt_clm", num_layers=1, num_heads=2, hidden_dim=32,
                              intermediate_dim=64, max_sequence_length=48),
            optimizer=OptimizerConfig(learning_rate=3e-3, warmup_steps=5),
            global_batch_size=8, num_steps=30, log_every=10, eval_every=30,
            checkpoint_every=30)


CONFIGS = {"shakespeare": shakespeare, "tiny": tiny}


def preset_dir(workdir) -> pathlib.Path:
    return pathlib.Path(workdir) / PRESET
