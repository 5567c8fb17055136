"""Translate German sentences (arguments, or lines on stdin) with a translation SavedModel: one
JSON line each.

    python -m apps.translate.predict "Ein Mann fährt Fahrrad." --greedy
"""
import json
import sys

from absl import flags

from keras_llm.utils import cli as cli_utils

FLAGS = flags.FLAGS


def main(argv):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from keras_llm.export.check import resolve_version_dir  # pylint: disable=import-outside-toplevel
    texts = argv[1:] or [line.rstrip("\n") for line in sys.stdin]
    from keras_llm.finetune import inference  # pylint: disable=import-outside-toplevel
    path = resolve_version_dir(FLAGS.saved_model)
    signature = inference.signature(tf.saved_model.load(str(path)),
                                    "greedy" if FLAGS.greedy else "serving_default", path)
    out = signature(text=tf.constant(texts, tf.string))["translation"].numpy()
    for text, translation in zip(texts, out):
        print(json.dumps({"text": text, "translation": translation.decode("utf-8")},
                         ensure_ascii=False))


if __name__ == "__main__":
    flags.DEFINE_string("saved_model", "saved_models/translation",
                        "Version folder, or base path (its latest version).")
    flags.DEFINE_bool("greedy", False, "Greedy decoding (the `greedy` signature) instead of "
                      "beam search.")
    cli_utils.run(main)
