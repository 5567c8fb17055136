"""Export a trained Multi30k translator (its workdir's preset) as a SavedModel for stock TF
Serving: German `text` in, English `translation` out, beam search inside the graph.

    python -m apps.translate.export --workdir=/tmp/translate --base_dir=saved_models/translation

Signatures `serving_default` (beam search) and `greedy`; see keras_llm.export.seq2seq. Writes
`<base_dir>/<N>/` atomically with warmup requests, then runs keras_llm.export.check on it.
"""
from keras_llm.finetune import cli
from keras_llm.utils import cli as cli_utils
from absl import flags  # pylint: disable=wrong-import-order

FLAGS = flags.FLAGS


def main(argv):
    cli._no_arguments(argv)  # pylint: disable=protected-access
    from apps.translate import config  # pylint: disable=import-outside-toplevel
    cli.export_and_check(config.module(FLAGS.workdir, FLAGS.quantize, FLAGS.num_beams,
                                       FLAGS.length_penalty))


if __name__ == "__main__":
    cli.define_export_flags("saved_models/translation")
    flags.adopt_module_key_flags(cli)  # --help lists them with this command's own
    flags.DEFINE_integer("num_beams", 4, "Beams of serving_default's beam search.")
    flags.DEFINE_float("length_penalty", 0.6, "GNMT length penalty exponent (0 = plain log p).")
    cli_utils.run(main)
