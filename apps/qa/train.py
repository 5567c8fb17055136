"""Fine-tune extractive QA on SQuAD v1.1 articles 0-31; report EM/F1 on articles 32-39.

    python -m apps.qa.train --config=minilm --workdir=/tmp/qa_minilm

Writes config.json, vocab.txt, checkpoints/, history.jsonl, tensorboard/, model.weights.h5 and
metrics.json (dev EM/F1) to --workdir; re-running the command resumes an interrupted run.
"""
from keras_llm.finetune import cli

if __name__ == "__main__":
    from apps.qa.config import CONFIGS
    from apps.qa.task import QATask
    cli.train(QATask, CONFIGS, default="minilm")
