"""Fine-tune NER on CoNLL-2003 train; report entity F1 on valid.

    python -m apps.ner.train --config=minilm --workdir=/tmp/ner_minilm

Writes config.json, vocab.txt, checkpoints/, history.jsonl, tensorboard/, model.weights.h5 and
metrics.json (valid entity F1, overall and per type) to --workdir; re-running the command
resumes an interrupted run.
"""
from keras_llm.finetune import cli

if __name__ == "__main__":
    from apps.ner.config import CONFIGS
    from apps.ner.task import NERTask
    cli.train(NERTask, CONFIGS, default="minilm")
