"""Export a trained NER workdir as a raw-text SavedModel for stock TF Serving.

    python -m apps.ner.export --workdir=/tmp/ner_minilm --base_dir=saved_models/ner

Writes `<base_dir>/<N>/` atomically (next free version unless --version), with warmup
requests, then runs keras_llm.export.check on it.
"""
from keras_llm.finetune import cli

if __name__ == "__main__":
    from apps.ner.task import NERTask
    cli.export(NERTask, default_base_dir="saved_models/ner")
