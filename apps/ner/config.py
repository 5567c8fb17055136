"""NER app configs: frozen dataclasses chosen by name, overridden by `a.b=value` flags.

    python -m apps.ner.train --config=minilm --workdir=/tmp/ner_minilm
    python -m apps.ner.train --config=student --override=teacher_workdir=/tmp/ner_minilm \
        --workdir=/tmp/ner_student
    python -m apps.ner.train --config=tiny --override=finetune.epochs=2 --workdir=/tmp/ner
"""
import dataclasses

from keras_llm.finetune.bert import BertModelConfig
from keras_llm.finetune.config import FINETUNE_OPTIMIZER, FinetuneConfig

# CoNLL-2003 IOB2 tags; the class order of the model's logits.
LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


@dataclasses.dataclass(frozen=True)
class NERConfig:
    model: BertModelConfig = BertModelConfig(kind="preset")
    finetune: FinetuneConfig = FinetuneConfig()
    data_dir: str = ""  # folder with train.txt / valid.txt; "" = <shared data>/conll2003
    sequence_length: int = 192  # training tokens incl. [CLS]/[SEP]; later words get no label
    serving_sequence_length: int = 256  # tokens kept by the export (capped by positions)
    max_examples: int = 0  # 0 = every training sentence
    # Distillation (keras_llm.finetune.distill): a trained NER workdir on the same vocabulary
    # whose logits the student follows on every scored word, on the fly; "" = none.
    teacher_workdir: str = ""
    distill_kind: str = "kl"  # "kl" (softened by distill_temperature) or "mse" on logits
    distill_temperature: float = 2.0
    distill_alpha: float = 0.5  # weight of the teacher; 1 - alpha on the gold tags


def _optimizer(learning_rate: float):
    return dataclasses.replace(FINETUNE_OPTIMIZER, learning_rate=learning_rate)


CONFIGS = {
        # Fine-tune MiniLM-L6-H384 (22M parameters, 30k uncased vocabulary), as BERT on CoNLL.
        "minilm": NERConfig(finetune=FinetuneConfig(
                epochs=3, batch_size=32, optimizer=_optimizer(5e-5),
                bucket_boundaries=(32, 48, 64, 96, 128))),
        # A 3-layer student started from MiniLM's layers 0, 2, 4 (same vocabulary), to be
        # distilled from a trained `minilm` workdir: --override=teacher_workdir=DIR.
        "student": NERConfig(
                model=BertModelConfig(kind="preset", layers=(0, 2, 4)),
                finetune=FinetuneConfig(epochs=3, batch_size=32, optimizer=_optimizer(1e-4),
                                        bucket_boundaries=(32, 48, 64, 96, 128))),
        # Seconds-long runs for tests.
        "tiny": NERConfig(
                model=BertModelConfig(kind="small", vocabulary_size=1000, init_embeddings="",
                                      num_layers=1, num_heads=2, hidden_dim=32,
                                      intermediate_dim=64, max_sequence_length=64),
                finetune=FinetuneConfig(batch_size=8, optimizer=_optimizer(3e-3),
                                        bucket_boundaries=()),
                sequence_length=64, serving_sequence_length=64),
}
