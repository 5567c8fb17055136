"""Fine-tune (or distil into) a binary sentiment classifier on SST-2 train; report dev accuracy.

    python -m apps.sentiment.train --config=minilm --workdir=/tmp/sst2_minilm
    python -m apps.sentiment.train --config=small --workdir=/tmp/sst2_small \
        --override=train.teacher_logits=/tmp/sst2_minilm/train_logits.npy

Writes config.json, vocab.txt, model.weights.h5 and metrics.json (dev accuracy) to --workdir.
"""
import json
import pathlib
import sys

from absl import app
from absl import flags

import keras_llm  # noqa: F401  (TensorFlow backend before keras)
from apps.sentiment import config as config_lib
from apps.sentiment import flags as sentiment_flags
from apps.sentiment import lib
from keras_llm.utils.config import override

FLAGS = flags.FLAGS
sentiment_flags.define_config_flags()
flags.adopt_module_key_flags(sentiment_flags)
flags.DEFINE_string("workdir", None, "Output folder (created).", required=True)


def main(argv):
    del argv
    config = override(config_lib.get_config(FLAGS.config), FLAGS.override)
    metrics = lib.train(config, FLAGS.workdir, FLAGS.host_tokenizer)
    metrics["command"] = "python -m apps.sentiment.train " + " ".join(sys.argv[1:])
    (pathlib.Path(FLAGS.workdir) / lib.METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    app.run(main)
