"""SST-2 accuracy of a trained workdir (host tokenization) or of an exported SavedModel (raw text
through its `serving_default` signature, i.e. the in-graph tokenizer).

    python -m apps.sentiment.evaluate --workdir=/tmp/sst2_small
    python -m apps.sentiment.evaluate --saved_model=saved_models/sentiment/2
    python -m apps.sentiment.evaluate --workdir=/tmp/sst2_minilm --split=train \
        --save_logits=/tmp/sst2_minilm/train_logits.npy   # teacher logits for distillation
"""
from keras_llm.finetune import cli

if __name__ == "__main__":
    from apps.sentiment.task import SentimentTask
    cli.evaluate(SentimentTask)
