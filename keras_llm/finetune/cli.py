"""The train / evaluate / export / predict commands of every fine-tuning app, on absl flags.

An app's entry points are one call each (see apps/sentiment/train.py):

    if __name__ == "__main__":
        cli.train(SentimentTask, CONFIGS, default="small")

Every command has `--help` (exit 0) and reports user errors in one line (keras_llm.utils.cli).
"""
import json
import pathlib
import sys

from keras_llm.utils import cli as cli_utils

cli_utils.quiet_tensorflow()

from absl import flags  # noqa: E402  pylint: disable=wrong-import-position

FLAGS = flags.FLAGS


def load_workdir(task_class, workdir):
    """(task, model with the trained weights) of a fine-tuning workdir."""
    from keras_llm.finetune import loop  # pylint: disable=import-outside-toplevel
    from keras_llm.utils.config import from_dict  # pylint: disable=import-outside-toplevel
    workdir = pathlib.Path(workdir)
    weights = workdir / loop.WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{workdir} holds no {loop.WEIGHTS_FILE}: train into it first "
                                "(or finish the interrupted run by re-running its command).")
    config = json.loads((workdir / loop.CONFIG_FILE).read_text(encoding="utf-8"))
    task = task_class(from_dict(task_class.CONFIG_CLASS, config))
    model = task.build_model(workdir, for_training=False)
    model.load_weights(weights)
    return task, model


def train(task_class, configs: dict, default: str) -> None:
    """`--config=NAME --override=a.b=v --workdir=DIR`: fine-tune, then print the metrics."""
    flags.DEFINE_enum("config", default, sorted(configs), "Named config.")
    flags.DEFINE_multi_string("override", [], "Config override key=value, repeatable, e.g. "
                              "--override=finetune.epochs=2 --override=model.num_layers=4.")
    flags.DEFINE_string("workdir", None, "Run folder (created); re-running the same command "
                        "resumes from its newest checkpoint.", required=True)
    flags.DEFINE_integer("cpu_devices", 0, "Split the CPU into N logical devices (tries "
                         "--override=finetune.strategy=mirrored without accelerators).")

    def main(argv):
        _no_arguments(argv)
        from keras_llm.finetune import loop  # pylint: disable=import-outside-toplevel
        from keras_llm.training import strategy  # pylint: disable=import-outside-toplevel
        from keras_llm.utils.config import override  # pylint: disable=import-outside-toplevel
        if FLAGS.cpu_devices:
            strategy.set_cpu_devices(FLAGS.cpu_devices)
        config = override(configs[FLAGS.config], FLAGS.override)
        result = loop.finetune(task_class(config), FLAGS.workdir)
        from keras_llm.utils.report import command_line  # pylint: disable=import-outside-toplevel
        result.metrics["command"] = command_line()
        (pathlib.Path(FLAGS.workdir) / loop.METRICS_FILE).write_text(
                json.dumps(result.metrics, indent=2))
        print(json.dumps(result.metrics, indent=2))

    cli_utils.run(main)


def evaluate(task_class) -> None:
    """The task's metric for a workdir (host tokenization) or a SavedModel (raw text)."""
    flags.DEFINE_string("workdir", None, "Fine-tuning workdir.")
    flags.DEFINE_string("saved_model", None, "SavedModel version folder (from export).")
    flags.DEFINE_string("split", "dev", "Data split to score.")
    flags.DEFINE_string("save_logits", None, "With --workdir: save the model's outputs on the "
                        "split as .npy (rows in the split's order), e.g. teacher logits for "
                        "distillation.")
    flags.DEFINE_string("report", None, "Also write REPORT.json and REPORT.md (e.g. "
                        "benchmarks/results/NAME): the metrics with this command, the date, the "
                        "machine, the model's size and the training run's metrics.json.")
    flags.DEFINE_string("training_workdir", None, "With --saved_model --report: the workdir "
                        "it was exported from, whose metrics.json (train command, time) the "
                        "report quotes.")

    def main(argv):
        _no_arguments(argv)
        if bool(FLAGS.workdir) == bool(FLAGS.saved_model):
            raise ValueError("Give exactly one of --workdir and --saved_model.")
        if FLAGS.saved_model:
            from keras_llm.export.check import resolve_version_dir  # pylint: disable=import-outside-toplevel
            task = task_class(task_class.CONFIG_CLASS())
            metrics = task.evaluate_saved_model(resolve_version_dir(FLAGS.saved_model),
                                                FLAGS.split)
        else:
            task, model = load_workdir(task_class, FLAGS.workdir)
            if FLAGS.save_logits:  # one pass: the saved outputs are the ones scored
                import numpy as np  # pylint: disable=import-outside-toplevel
                logits = task.predict_logits(model, FLAGS.workdir, FLAGS.split)
                np.save(FLAGS.save_logits, logits)
                metrics = task.score(logits, FLAGS.workdir, FLAGS.split)
            else:
                metrics = task.evaluate(model, FLAGS.workdir, FLAGS.split)
        print(json.dumps({"split": FLAGS.split, **metrics}, indent=2))
        if FLAGS.report:
            _write_report(FLAGS.report, metrics, task_class)

    cli_utils.run(main)


def export(task_class, default_base_dir: str) -> None:
    """A trained workdir -> `<base_dir>/<N>/` (atomic, warmup records), then keras-llm-check."""
    define_export_flags(default_base_dir)
    flags.DEFINE_bool("prune_vocabulary", False, "BERT apps: keep only the vocabulary pieces "
                      "the task's training texts use (plus specials and single characters); "
                      "training text tokenizes as before, the embedding table shrinks.")

    def main(argv):
        _no_arguments(argv)
        import tempfile  # pylint: disable=import-outside-toplevel
        task, model = load_workdir(task_class, FLAGS.workdir)
        with tempfile.TemporaryDirectory() as pruned_workdir:
            workdir = FLAGS.workdir
            if FLAGS.prune_vocabulary:
                from keras_llm.finetune import bert  # pylint: disable=import-outside-toplevel
                bert.prune_vocabulary(model.backbone, workdir, task.vocabulary_texts(),
                                      pruned_workdir)
                workdir = pruned_workdir
            if FLAGS.quantize:
                from keras_llm.models import quantization  # pylint: disable=import-outside-toplevel
                quantization.quantize(model, FLAGS.quantize)
            export_and_check(task.export_module(model, workdir))

    cli_utils.run(main)


def define_export_flags(default_base_dir: str) -> None:
    """--workdir, --base_dir, --version, --overwrite, --quantize: every export command's flags
    (read by `export_and_check`)."""
    flags.DEFINE_string("workdir", None, "Training workdir.", required=True)
    flags.DEFINE_string("base_dir", default_base_dir, "Model base path (version folders).")
    flags.DEFINE_integer("version", None, "Version number; default: the next free one.")
    flags.DEFINE_bool("overwrite", False, "Replace an existing --version folder.")
    flags.DEFINE_enum("quantize", "", ["", "int8", "int8_dynamic", "int8_int4_embeddings"],
                      "Post-training quantization (keras_llm.models.quantization): int8 = "
                      "int8 weights, float matmuls (about 1/4 of the size); int8_dynamic = "
                      "also int8 activations; int8_int4_embeddings = int8 with 4-bit token "
                      "embeddings. Default: float32.")


def seq2seq_export(module_fn, default_base_dir: str) -> None:
    """The export command of a sequence-to-sequence app (translation, summarization):
    `module_fn(workdir, quantize, num_beams, length_penalty, prune_vocabulary=, greedy=)` builds its
    SavedModel module."""
    define_export_flags(default_base_dir)
    flags.DEFINE_integer("num_beams", 4, "Beams of serving_default's beam search.")
    flags.DEFINE_float("length_penalty", 0.6, "GNMT length penalty exponent (0 = plain log p).")
    flags.DEFINE_bool("prune_vocabulary", False, "WordPiece models: keep only the vocabulary "
                      "pieces the training texts (sources and targets) use, plus specials and "
                      "single characters; training text tokenizes as before, the tied "
                      "embedding table shrinks.")
    flags.DEFINE_bool("greedy_signature", True, "Also export the `greedy` signature (one "
                      "hypothesis, token by token); --nogreedy_signature saves a second copy "
                      "of the tokenizer and decoding loop in the graph (2.1 MB of the DialogSum "
                      "model's 26.9 MB).")

    def main(argv):
        _no_arguments(argv)
        export_and_check(module_fn(FLAGS.workdir, FLAGS.quantize, FLAGS.num_beams,
                                   FLAGS.length_penalty, prune_vocabulary=FLAGS.prune_vocabulary,
                                   greedy=FLAGS.greedy_signature))

    cli_utils.run(main)


def export_and_check(module) -> None:
    """Writes `module` to --base_dir (--version, --overwrite), prints keras-llm-check's report;
    exit status 1 if the check found problems. Shared by every app's export command."""
    from keras_llm import export as export_lib  # pylint: disable=import-outside-toplevel
    path = export_lib.export(module, FLAGS.base_dir, version=FLAGS.version,
                             overwrite=FLAGS.overwrite)
    report = export_lib.check(path)
    print(report.summary())
    if not report.ok:
        sys.exit(1)


def predict(task_class, default_saved_model: str) -> None:
    """Texts (arguments, or lines on stdin) through a SavedModel: one JSON line each."""
    flags.DEFINE_string("saved_model", default_saved_model,
                        "Version folder, or base path (its latest version).")

    def main(argv):
        import tensorflow as tf  # pylint: disable=import-outside-toplevel
        from keras_llm.export.check import resolve_version_dir  # pylint: disable=import-outside-toplevel
        texts = argv[1:] or [line.rstrip("\n") for line in sys.stdin]
        task = task_class(task_class.CONFIG_CLASS())
        serve = tf.saved_model.load(str(resolve_version_dir(FLAGS.saved_model))).signatures[
                "serving_default"]
        outputs = {k: v.numpy() for k, v in serve(**task.predict_inputs(texts)).items()}
        for i, text in enumerate(texts):
            record = task.predict_outputs({k: v[i] for k, v in outputs.items()}, text)
            print(json.dumps({"text": text, **record}, ensure_ascii=False))

    cli_utils.run(main)


def _write_report(prefix: str, metrics: dict, task_class) -> None:
    """PREFIX.json + PREFIX.md: metrics, exact command, UTC date, machine, training run."""
    from keras_llm.finetune import loop  # pylint: disable=import-outside-toplevel
    from keras_llm.utils import report as report_lib  # pylint: disable=import-outside-toplevel
    source = pathlib.Path(FLAGS.saved_model or FLAGS.workdir)
    training = pathlib.Path(FLAGS.training_workdir or FLAGS.workdir or "")
    training_file = training / loop.METRICS_FILE
    report = report_lib.new_record(
            split=FLAGS.split, metrics=metrics, evaluated=str(source),
            through=task_class.SAVED_MODEL_EVALUATION if FLAGS.saved_model
            else "Keras model, host preprocessing",
            size_mb=saved_model_mb(source) if FLAGS.saved_model else None,
            training=json.loads(training_file.read_text()) if training_file.is_file() else None)
    notes = [f"Evaluated: `{report['evaluated']}` ({report['through']}"
             + (f", {report['size_mb']} MB on disk)" if report["size_mb"] is not None else ")")]
    if report["training"]:
        notes += ["", f"Trained by: `{report['training'].get('command', 'not recorded')}` "
                      f"({report['training'].get('train_steps')} steps, "
                      f"{report['training'].get('train_seconds')} s)"]
    report_lib.write(prefix, report, f"{pathlib.Path(prefix).name}: {FLAGS.split} split",
                     metrics, notes)


def saved_model_mb(path) -> float:
    """Size on disk of a SavedModel folder, in MiB."""
    path = pathlib.Path(path)
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 2)


def _no_arguments(argv):
    if len(argv) > 1:
        raise ValueError(f"Unexpected arguments {argv[1:]}; use --flags (see --help).")

