"""Continue prompts (arguments, or lines on stdin) with a generation SavedModel: one JSON line
each. Greedy by default; --temperature/--top_k/--top_p/--seed sample through `generate`.

    python -m apps.generate.predict "ROMEO:" --temperature=0.8 --seed=1
"""
import json
import sys

from absl import flags

from keras_llm.utils import cli as cli_utils

FLAGS = flags.FLAGS


def main(argv):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from keras_llm.export.check import resolve_version_dir  # pylint: disable=import-outside-toplevel
    from keras_llm.export.generation import generate_inputs  # pylint: disable=import-outside-toplevel
    prompts = argv[1:] or [line.rstrip("\n") for line in sys.stdin]
    loaded = tf.saved_model.load(str(resolve_version_dir(FLAGS.saved_model)))
    out = loaded.signatures["generate"](**generate_inputs(
            prompts, FLAGS.max_new_tokens, FLAGS.temperature, FLAGS.top_k, FLAGS.top_p,
            FLAGS.seed))
    for prompt, text, n in zip(prompts, out["text"].numpy(), out["num_tokens"].numpy()):
        print(json.dumps({"prompt": prompt, "text": text.decode("utf-8"), "num_tokens": int(n)},
                         ensure_ascii=False))


if __name__ == "__main__":
    flags.DEFINE_string("saved_model", "saved_models/generation",
                        "Version folder, or base path (its latest version).")
    flags.DEFINE_integer("max_new_tokens", 64, "New tokens per prompt.")
    flags.DEFINE_float("temperature", 0.0, "0 = greedy.")
    flags.DEFINE_integer("top_k", 0, "0 = no top-k filter.")
    flags.DEFINE_float("top_p", 1.0, "1 = no nucleus filter.")
    flags.DEFINE_integer("seed", 0, "Sampling seed (the same seed gives the same text).")
    cli_utils.run(main)
