"""QA app configs: frozen dataclasses chosen by name, overridden by `a.b=value` flags.

    python -m apps.qa.train --config=minilm --workdir=/tmp/qa_minilm
    python -m apps.qa.train --config=tiny --override=finetune.max_steps=20 --workdir=/tmp/qa
"""
import dataclasses

from keras_llm.finetune.bert import BertModelConfig
from keras_llm.finetune.config import FINETUNE_OPTIMIZER, FinetuneConfig


@dataclasses.dataclass(frozen=True)
class QAConfig:
    # "preset": BertQuestionAnswerer on the preset's backbone (a checkpoint's qa_outputs head is
    # kept); "small": a new BERT started from the preset (keras_llm.finetune.bert).
    model: BertModelConfig = BertModelConfig(kind="preset", max_sequence_length=384)
    finetune: FinetuneConfig = FinetuneConfig(bucket_boundaries=(128, 192, 256))
    # SQuAD v1.1 JSON; "" = <shared data>/squad_v1.1/dev-v1.1.articles-00-39.json
    data_file: str = ""
    train_articles: int = 32  # "train" = articles [0, train_articles)
    dev_articles: int = 8  # "dev" = the next dev_articles articles (the reported split)
    sequence_length: int = 384  # window tokens incl. [CLS]/[SEP] (training and export)
    doc_stride: int = 128  # tokens between window starts
    max_question_tokens: int = 64
    max_answer_tokens: int = 30
    max_examples: int = 0  # 0 = every training question


def _optimizer(learning_rate: float):
    return dataclasses.replace(FINETUNE_OPTIMIZER, learning_rate=learning_rate)


CONFIGS = {
        # Fine-tune MiniLM-L6-H384 (22M parameters, 30k vocabulary), as BERT's run_squad.
        "minilm": QAConfig(finetune=FinetuneConfig(
                epochs=3, batch_size=32, optimizer=_optimizer(5e-5),
                bucket_boundaries=(128, 192, 256))),
        # Seconds-long runs for tests.
        "tiny": QAConfig(
                model=BertModelConfig(kind="small", vocabulary_size=1000, num_layers=1, num_heads=2,
                                  hidden_dim=32, intermediate_dim=64, max_sequence_length=64),
                finetune=FinetuneConfig(batch_size=16, optimizer=_optimizer(1e-3),
                                        bucket_boundaries=()),
                sequence_length=64, doc_stride=24, max_question_tokens=16,
                max_answer_tokens=10),
}
