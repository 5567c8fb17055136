"""Summarize dialogues with a summarization SavedModel: one JSON line each. Dialogues come as
arguments (use real newlines or `\\n` between turns) or as JSON lines on stdin
({"dialogue": ...}).

    python -m apps.summarize.predict "#Person1#: Hi, is the shop open?\\n#Person2#: Yes, until six."
"""
import json
import sys

from absl import flags

from keras_llm.utils import cli as cli_utils

FLAGS = flags.FLAGS


def main(argv):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from keras_llm.export.check import resolve_version_dir  # pylint: disable=import-outside-toplevel
    if argv[1:]:
        dialogues = [a.replace("\\n", "\n") for a in argv[1:]]
    else:
        dialogues = [json.loads(line)["dialogue"] for line in sys.stdin if line.strip()]
    from keras_llm.finetune import inference  # pylint: disable=import-outside-toplevel
    path = resolve_version_dir(FLAGS.saved_model)
    signature = inference.signature(tf.saved_model.load(str(path)),
                                    "greedy" if FLAGS.greedy else "serving_default", path)
    out = signature(text=tf.constant(dialogues, tf.string))["summary"].numpy()
    for dialogue, summary in zip(dialogues, out):
        print(json.dumps({"dialogue": dialogue, "summary": summary.decode("utf-8")},
                         ensure_ascii=False))


if __name__ == "__main__":
    flags.DEFINE_string("saved_model", "saved_models/summarization",
                        "Version folder, or base path (its latest version).")
    flags.DEFINE_bool("greedy", False, "Greedy decoding (the `greedy` signature) instead of "
                      "beam search.")
    cli_utils.run(main)
