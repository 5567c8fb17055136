"""Fine-tune (or distil into) a binary sentiment classifier on SST-2 train; report dev accuracy.

    python -m apps.sentiment.train --config=minilm --workdir=/tmp/sst2_minilm
    python -m apps.sentiment.train --config=small --workdir=/tmp/sst2_small \
        --override=teacher_logits=/tmp/sst2_minilm/train_logits.npy

Writes config.json, vocab.txt, checkpoints/, history.jsonl, tensorboard/, model.weights.h5 and
metrics.json (dev accuracy) to --workdir; re-running the command resumes an interrupted run.
"""
from keras_llm.finetune import cli

if __name__ == "__main__":
    from apps.sentiment.config import CONFIGS
    from apps.sentiment.task import SentimentTask
    cli.train(SentimentTask, CONFIGS, default="small")
