"""Sentiment app configs: frozen dataclasses chosen by name, overridden by `a.b=value` flags.

    python -m apps.sentiment.train --config=small --override=finetune.epochs=2
"""
import dataclasses

from keras_llm.finetune.bert import BertModelConfig
from keras_llm.finetune.config import FINETUNE_OPTIMIZER, FinetuneConfig

LABELS = ("negative", "positive")


@dataclasses.dataclass(frozen=True)
class SentimentConfig:
    model: BertModelConfig = BertModelConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    data_dir: str = ""  # folder with train.tsv / dev.tsv; "" = <shared data>/sst2
    sequence_length: int = 64  # training tokens incl. [CLS]/[SEP]; longer texts are cut
    serving_sequence_length: int = 128  # tokens kept by the export (capped by positions)
    max_examples: int = 0  # 0 = every training row
    # Distillation: teacher logits (.npy, (N, 2), rows of train.tsv; `evaluate --save_logits`).
    teacher_logits: str = ""
    distill_kind: str = "mse"  # "mse" on logits or "kl" (keras_llm.finetune.distill)
    distill_alpha: float = 1.0  # weight of the teacher; 1 - alpha on the labels


def _optimizer(learning_rate: float):
    return dataclasses.replace(FINETUNE_OPTIMIZER, learning_rate=learning_rate)


CONFIGS = {
        # Fine-tune MiniLM-L6-H384 (22M parameters, 30k vocabulary).
        "minilm": SentimentConfig(
                model=BertModelConfig(kind="preset"),
                finetune=FinetuneConfig(epochs=2, optimizer=_optimizer(3e-5))),
        # The shipped small BERT (2 x 256, 8k vocabulary); shipped with teacher_logits set
        # (scripts/sentiment_sst2.sh).
        "small": SentimentConfig(
                finetune=FinetuneConfig(epochs=3, optimizer=dataclasses.replace(
                        _optimizer(5e-4), decay="cosine"))),
        # Seconds-long runs for tests.
        "tiny": SentimentConfig(
                model=BertModelConfig(vocabulary_size=1000, init_embeddings="", num_layers=1,
                                      num_heads=2, hidden_dim=32, intermediate_dim=64,
                                      max_sequence_length=64),
                finetune=FinetuneConfig(batch_size=16, optimizer=_optimizer(1e-3)),
                sequence_length=32),
}
