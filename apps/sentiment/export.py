"""Export a trained sentiment workdir as a raw-text SavedModel for stock TF Serving.

    python -m apps.sentiment.export --workdir=/tmp/sst2_small --base_dir=saved_models/sentiment

Writes `<base_dir>/<N>/` atomically (next free version unless --version), with warmup
requests, then runs keras_llm.export.check on it (ops, TF Serving releases, signatures).
"""
from keras_llm.finetune import cli

if __name__ == "__main__":
    from apps.sentiment.task import SentimentTask
    cli.export(SentimentTask, default_base_dir="saved_models/sentiment")
