"""Export a trained Shakespeare GPT (its workdir's preset) as a SavedModel for stock TF Serving.

    python -m apps.generate.export --workdir=/tmp/gen --base_dir=saved_models/generation

Signatures `serving_default` (greedy), `generate` (sampling parameters per row) and `score`
(log-likelihood); see keras_llm.export.generation. Writes `<base_dir>/<N>/` atomically with
warmup requests, then runs keras_llm.export.check on it.
"""
from keras_llm.finetune import cli
from keras_llm.utils import cli as cli_utils
from absl import flags  # pylint: disable=wrong-import-order

FLAGS = flags.FLAGS


def main(argv):
    cli._no_arguments(argv)  # pylint: disable=protected-access
    from apps.generate import config  # pylint: disable=import-outside-toplevel
    from keras_llm.export.generation import module_from_preset  # pylint: disable=import-outside-toplevel
    preset = config.preset_dir(FLAGS.workdir)
    if not preset.is_dir():
        raise FileNotFoundError(f"{preset} does not exist: train into {FLAGS.workdir} first "
                                "(apps.generate.train writes the preset when it finishes).")
    cli.export_and_check(module_from_preset(preset, FLAGS.max_new_tokens, FLAGS.quantize,
                                            fit_default=not FLAGS["max_new_tokens"].present))


if __name__ == "__main__":
    cli.define_export_flags("saved_models/generation")
    flags.adopt_module_key_flags(cli)  # --help lists them with this command's own
    flags.DEFINE_integer("max_new_tokens", 64, "serving_default's continuation length "
                         "(tokens; at most the model's context - 1).")
    cli_utils.run(main)
