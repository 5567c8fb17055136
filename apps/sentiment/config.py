"""Sentiment app configs: frozen dataclasses chosen by name, overridden by `a.b=value` flags.

    config = override(CONFIGS["small"], ["train.epochs=2", "model.num_layers=4"])
"""
import dataclasses

LABELS = ("negative", "positive")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    kind: str = "small"  # "minilm": BertBackbone.from_huggingface(minilm_dir()); "small": new BERT
    init_checkpoint: str = ""  # small only: a `.keras`/weights-bearing BertBackbone to start from
    vocabulary: str = ""  # vocab.txt; "" = MiniLM's (minilm) or built from SST-2 train (small)
    # small, without `vocabulary`: "train" = train_wordpiece_vocabulary on SST-2 train;
    # "minilm_subset" = the most frequent MiniLM WordPieces on SST-2 train (+ specials, chars).
    vocabulary_source: str = "train"
    vocabulary_size: int = 8000
    # small: "minilm_pca" = token/position/segment embeddings from MiniLM's, PCA-projected to
    # hidden_dim (needs vocabulary_source="minilm_subset"); "" = random init.
    init_embeddings: str = ""
    num_layers: int = 2
    num_heads: int = 4
    hidden_dim: int = 256
    intermediate_dim: int = 1024
    max_sequence_length: int = 128
    dropout: float = 0.1


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup_fraction: float = 0.1
    # "cosine": linear warmup then cosine decay; "linear": linear warmup then linear decay to 0.
    lr_schedule: str = "cosine"
    weight_decay: float = 0.01
    max_examples: int = 0  # 0 = the whole train split (65,349 rows)
    # Skip the first rows of the seed's shuffled order (e.g. the rows an earlier run with the
    # same seed and max_examples used), then take max_examples.
    skip_examples: int = 0
    max_steps: int = 0  # 0 = epochs * batches; else stop after this many steps
    freeze_token_embedding: bool = False  # speeds up CPU fine-tuning of large vocabularies
    # Distillation: per-example teacher logits (.npy, (N, 2), aligned with train.tsv rows).
    teacher_logits: str = ""
    distill_weight: float = 1.0  # loss = (1-w) * CE(labels) + w * MSE(logits, teacher logits)
    # Start from another run's classifier weights (`model.weights.h5`, same model and vocabulary).
    init_weights: str = ""
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class SentimentConfig:
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    data_dir: str = ""  # folder with train.tsv/dev.tsv; "" = <shared data>/sst2
    sequence_length: int = 64  # tokens incl. [CLS]/[SEP]; longer texts are truncated


CONFIGS = {
        # Fine-tune MiniLM-L6-H384 (22M parameters, 30k vocabulary).
        "minilm": SentimentConfig(
                model=ModelConfig(kind="minilm", dropout=0.1),
                train=TrainConfig(learning_rate=5e-5, epochs=1)),
        # Small BERT shipped in saved_models/sentiment: 8k MiniLM-subset vocabulary, 2 layers
        # x 256, embeddings initialized from MiniLM's by PCA, trained on SST-2 train (shipped:
        # with train.teacher_logits = MiniLM's train logits, see scripts/sentiment_sst2.sh).
        "small": SentimentConfig(
                model=ModelConfig(kind="small", vocabulary_source="minilm_subset",
                                  init_embeddings="minilm_pca"),
                train=TrainConfig(learning_rate=5e-4, epochs=3, batch_size=32, weight_decay=0.01)),
        # Seconds-long runs for tests.
        "tiny": SentimentConfig(
                model=ModelConfig(kind="small", vocabulary_source="minilm_subset",
                                  vocabulary_size=1000, num_layers=1, num_heads=2,
                                  hidden_dim=32, intermediate_dim=64, max_sequence_length=64),
                train=TrainConfig(learning_rate=1e-3, epochs=1, batch_size=16),
                sequence_length=32),
}


def get_config(name: str) -> SentimentConfig:
    if name not in CONFIGS:
        raise ValueError(f"Unknown config {name!r}; choose one of {sorted(CONFIGS)}.")
    return CONFIGS[name]
