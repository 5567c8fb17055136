"""Entity F1 on CoNLL-2003 valid of a trained workdir (host words) or of an exported
SavedModel (pre-split words through `tag_words`).

    python -m apps.ner.evaluate --workdir=/tmp/ner_minilm --split=valid
    python -m apps.ner.evaluate --saved_model=saved_models/ner/1 --split=valid \
        --report=benchmarks/results/ner_entity_f1 --training_workdir=/tmp/ner_minilm
"""
from keras_llm.finetune import cli

if __name__ == "__main__":
    from apps.ner.task import NERTask
    cli.evaluate(NERTask)
