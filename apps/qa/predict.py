r"""Answer questions with an exported QA SavedModel: each argument (or stdin line) is
`question<TAB>context`; one JSON line each with the answer, its score and code-point offsets.

    python -m apps.qa.predict --saved_model=saved_models/qa $'Who won?\tThe Broncos won.'
"""
from keras_llm.finetune import cli

if __name__ == "__main__":
    from apps.qa.task import QATask
    cli.predict(QATask, default_saved_model="saved_models/qa")
