"""Classify texts with an exported sentiment SavedModel (what TF Serving would answer).

    python -m apps.sentiment.predict --saved_model=saved_models/sentiment "a joyous film" "dull"
    echo "a joyous film" | python -m apps.sentiment.predict --saved_model=saved_models/sentiment
"""
import json
import sys

import tensorflow as tf
from absl import app
from absl import flags

import keras_llm  # noqa: F401  (TensorFlow backend before keras)
# Not `from keras_llm.export import check`: the package's `check` is the function, not the module.
from keras_llm.export.check import resolve_version_dir

FLAGS = flags.FLAGS
flags.DEFINE_string("saved_model", "saved_models/sentiment",
                    "Version folder or base path (latest version).")


def main(argv):
    texts = argv[1:] or [line.rstrip("\n") for line in sys.stdin]
    path = resolve_version_dir(FLAGS.saved_model)
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    out = serve(text=tf.constant(texts))
    for text, label, probabilities in zip(texts, out["label"].numpy(),
                                          out["probabilities"].numpy()):
        print(json.dumps({"text": text, "label": label.decode(),
                          "probabilities": [round(float(p), 4) for p in probabilities]},
                         ensure_ascii=False))


if __name__ == "__main__":
    app.run(main)
