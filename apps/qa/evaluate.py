"""SQuAD v1.1 EM/F1 (official normalisation) of a trained workdir (host windows) or of an
exported SavedModel (raw question/context through `serving_default`).

    python -m apps.qa.evaluate --workdir=/tmp/qa_minilm
    python -m apps.qa.evaluate --saved_model=saved_models/qa/1
"""
from keras_llm.finetune import cli

if __name__ == "__main__":
    from apps.qa.task import QATask
    cli.evaluate(QATask)
