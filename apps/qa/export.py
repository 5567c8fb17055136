"""Export a trained QA workdir as a raw-text SavedModel for stock TF Serving.

    python -m apps.qa.export --workdir=/tmp/qa_minilm --base_dir=saved_models/qa

Writes `<base_dir>/<N>/` atomically (next free version unless --version), with warmup
requests, then runs keras_llm.export.check on it.
"""
from keras_llm.finetune import cli

if __name__ == "__main__":
    from apps.qa.task import QATask
    cli.export(QATask, default_base_dir="saved_models/qa")
