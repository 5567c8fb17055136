"""Train a DialogSum summarizer; the same command resumes an interrupted run.

    python -m apps.summarize.train --config=minilm --workdir=/tmp/summarize

Writes the keras_llm.train workdir (config.json, checkpoints/, history.jsonl, tensorboard/)
and the trained backbone + tokenizer as a preset in <workdir>/preset, which
`apps.summarize.export` turns into a SavedModel. Any TrainConfig field can be overridden
(--override=num_steps=500); see --help.
"""
from keras_llm import train

if __name__ == "__main__":
    from apps.summarize.config import CONFIGS, PRESET
    train.run(CONFIGS, default_config="minilm", preset_in_workdir=PRESET)
