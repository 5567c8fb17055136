"""Train a keras_llm model: `python -m keras_llm.train --config=NAME --workdir=DIR`.

    python -m keras_llm.train --config=gpt_clm_small --workdir=/tmp/gpt \\
        --strategy=mirrored --override=optimizer.learning_rate=3e-4 --override=num_steps=2000

Re-running the same command after a crash resumes from the newest checkpoint in --workdir.
Every config field listed below can be overridden with --override=a.b=value (repeatable);
train on your own text with --override=data.train_files=a.txt,b.txt. Multi-worker: set
TF_CONFIG on each worker and pass --strategy=multi_worker_mirrored. TPU: --strategy=tpu --tpu=NAME.
"""
import json
import os

from keras_llm.utils import cli

cli.quiet_tensorflow()  # before absl/TensorFlow imports below print start-up lines

from absl import app, flags, logging  # noqa: E402  pylint: disable=wrong-import-position

FLAGS = flags.FLAGS
# Named configs: keras_llm.training's, or an app's (`run(configs=...)`).
_CONFIGS = {}
flags.DEFINE_string("config", None, "Named config, e.g. bert_mlm_small, gpt_clm_small, "
                    "bert_mlm_tiny, gpt_clm_tiny.")
flags.DEFINE_string("workdir", None, "Checkpoints, TensorBoard logs, vocabulary, history.")
flags.DEFINE_string("strategy", None, "one_device | mirrored | multi_worker_mirrored | tpu "
                    "(default: the config's).")
flags.DEFINE_string("tpu", None, "TPU name or grpc:// address for --strategy=tpu.")
flags.DEFINE_multi_string("override", [], "key=value config override, repeatable, e.g. "
                          "--override=model.num_layers=4.")
flags.DEFINE_integer("cpu_devices", 0, "Split the CPU into N logical devices (test "
                     "--strategy=mirrored without accelerators).")
flags.DEFINE_string("export_preset", None, "After training, save the backbone and its "
                    "vocabulary here as a preset (BertBackbone.from_preset(DIR) loads it, e.g. "
                    "as a fine-tuning app's --override=model.preset=DIR).")
flags.DEFINE_string("result_json", None, "Write final step/loss/eval/tokens-per-second here.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    import keras_llm  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    from keras_llm import training  # pylint: disable=import-outside-toplevel
    from keras_llm.training import strategy as strategy_lib  # pylint: disable=import-outside-toplevel
    if FLAGS.cpu_devices:
        strategy_lib.set_cpu_devices(FLAGS.cpu_devices)
    overrides = list(FLAGS.override)
    if FLAGS.strategy:
        overrides.append(f"strategy={FLAGS.strategy}")
    if FLAGS.tpu:
        overrides.append(f"tpu={FLAGS.tpu}")
    if _CONFIGS:
        if FLAGS.config not in _CONFIGS:
            raise ValueError(f"Unknown config {FLAGS.config!r}; known: "
                             f"{', '.join(sorted(_CONFIGS))}.")
        config = _CONFIGS[FLAGS.config]()
    else:
        config = training.get_config(FLAGS.config)
    config = training.override(config, overrides)
    result = training.train(config, FLAGS.workdir)
    summary = {"step": result.step, "resumed_from": result.resumed_from,
               "final_loss": result.losses[-1]["loss"] if result.losses else None,
               "losses": [r["loss"] for r in result.losses], "eval": result.eval_metrics,
               "tokens_per_second": result.tokens_per_second}
    logging.info("Finished: %s", {k: v for k, v in summary.items() if k != "losses"})
    if FLAGS.export_preset:
        from keras_llm.training import trainer  # pylint: disable=import-outside-toplevel
        trainer.save_preset(result, FLAGS.workdir, FLAGS.export_preset)
        logging.info("Preset written to %s.", FLAGS.export_preset)
    if FLAGS.result_json:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.result_json)), exist_ok=True)
        with open(FLAGS.result_json, "w", encoding="utf-8") as f:
            json.dump(summary, f)


def config_fields_help() -> str:
    """The --override keys TrainConfig accepts, with TrainConfig()'s defaults."""
    from keras_llm.training import config as config_lib  # pylint: disable=import-outside-toplevel
    from keras_llm.utils import config as fields_lib  # pylint: disable=import-outside-toplevel
    lines = [f"Named configs (--config): {', '.join(sorted(_CONFIGS or config_lib.CONFIGS))}.",
             "Config fields (--override=KEY=VALUE; defaults of TrainConfig, which a named "
             "config may change):"]
    lines += ["  " + line for line in fields_lib.describe_fields(config_lib.TrainConfig())]
    return "\n".join(lines)


def run(configs=None, default_config=None, preset_in_workdir=None):
    """The CLI; an app passes its own named configs (name -> () -> TrainConfig), a default
    one, and `preset_in_workdir` (a subfolder name: the preset is always written there)."""
    _CONFIGS.update(configs or {})
    if default_config:
        FLAGS.set_default("config", default_config)
    main_fn = main
    if preset_in_workdir:
        def main_fn(argv):
            if not FLAGS.export_preset:
                FLAGS.export_preset = os.path.join(FLAGS.workdir, preset_in_workdir)
            main(argv)
    cli.run(main_fn, help_text=config_fields_help)


if __name__ == "__main__":
    run()
