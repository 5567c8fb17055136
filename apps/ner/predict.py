"""Find entities with an exported NER SavedModel: each argument (or stdin line) is a text; one
JSON line each with its entities (text, type, code-point start/end).

    python -m apps.ner.predict --saved_model=saved_models/ner "Peter Blackburn flew to Paris."
"""
from keras_llm.finetune import cli

if __name__ == "__main__":
    from apps.ner.task import NERTask
    cli.predict(NERTask, default_saved_model="saved_models/ner")
