"""Export a trained sentiment workdir as a raw-text SavedModel for stock TF Serving.

    python -m apps.sentiment.export --workdir=/tmp/sst2_small --base_dir=saved_models/sentiment

Writes `<base_dir>/<N>/` atomically (next free version unless --version), with warmup
requests, then runs keras_llm.export.check on it (ops, TF Serving releases, signatures).
"""
from absl import app
from absl import flags

import keras_llm  # noqa: F401  (TensorFlow backend before keras)
from apps.sentiment import lib
from keras_llm import export

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Training workdir (from apps.sentiment.train).",
                    required=True)
flags.DEFINE_string("base_dir", "saved_models/sentiment", "Model base path (version folders).")
flags.DEFINE_integer("version", None, "Version number; default: next free one.")
flags.DEFINE_bool("overwrite", False, "Replace an existing --version folder.")
flags.DEFINE_integer("serving_sequence_length", 128, "Tokens kept per request at serving.")


def main(argv):
    del argv
    path = lib.export_workdir(FLAGS.workdir, FLAGS.base_dir, FLAGS.version, FLAGS.overwrite,
                              FLAGS.serving_sequence_length)
    report = export.check(path)
    print(report.summary())
    if not report.ok:
        raise SystemExit(1)


if __name__ == "__main__":
    app.run(main)
