"""Train the Shakespeare GPT; the same command resumes an interrupted run.

    python -m apps.generate.train --config=shakespeare --workdir=/tmp/gen

Writes the keras_llm.train workdir (config.json, vocab/, checkpoints/, history.jsonl,
tensorboard/) and the trained backbone + tokenizer as a preset in <workdir>/preset, which
`apps.generate.export` turns into a SavedModel. Any TrainConfig field can be overridden
(--override=num_steps=500); see --help.
"""
from keras_llm import train

if __name__ == "__main__":
    from apps.generate.config import CONFIGS, PRESET
    train.run(CONFIGS, default_config="shakespeare", preset_in_workdir=PRESET)
