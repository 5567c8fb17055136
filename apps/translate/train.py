"""Train the Multi30k German -> English Transformer; the same command resumes an interrupted run.

    python -m apps.translate.train --config=multi30k --workdir=/tmp/translate

Writes the keras_llm.train workdir (config.json, vocab/, checkpoints/, history.jsonl,
tensorboard/) and the trained backbone + tokenizer as a preset in <workdir>/preset, which
`apps.translate.export` turns into a SavedModel. Any TrainConfig field can be overridden
(--override=num_steps=500); see --help.
"""
from keras_llm import train

if __name__ == "__main__":
    from apps.translate.config import CONFIGS, PRESET
    train.run(CONFIGS, default_config="multi30k", preset_in_workdir=PRESET)
